//! sea-orm entities: one module per table, mirroring the migrations.
//!
//! Entities are storage details. Repositories convert them into the domain types of
//! `steward-domain`, which are what the rest of Steward sees.

pub mod action;
pub mod api_token;
pub mod approval_link;
pub mod audit_checkpoint;
pub mod audit_entry;
pub mod automation_halt;
pub mod correlation_window;
pub mod detection_rule;
pub mod detection_rule_state;
pub mod detection_rule_version;
pub mod detection_suppression;
pub mod device;
pub mod entity_context;
pub mod entity_source;
pub mod event;
pub mod finding;
pub mod identity;
pub mod incident;
pub mod incident_ticket;
pub mod integration;
pub mod maintenance_schedule;
pub mod membership;
pub mod msp;
pub mod msp_domain;
pub mod notification;
pub mod oidc_login;
pub mod outbox;
pub mod recovery_code;
pub mod risk_score;
pub mod sandbox_environment;
pub mod session;
pub mod sign_in_attempt;
pub mod sign_in_baseline;
pub mod slack_connection;
pub mod tenant;
pub mod tenant_policy;
pub mod user;
pub mod user_identity;
pub mod user_second_factor;
pub mod vendor_slot;
pub mod webhook_delivery;
pub mod webhook_receipt;
pub mod webhook_subscription;
