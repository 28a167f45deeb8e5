//! The server's integration tests: the real router and the real `steward` binary, each against
//! a fresh database.
//!
//! One test binary per crate: each file below was its own binary, and linking each one
//! against the whole workspace cost more than running it. Shared helpers live in the
//! modules at the top.

mod support;

mod action_catalog;
mod api_contract;
mod api_isolation;
mod api_roles;
mod api_tokens;
mod approvals;
mod audit_chain;
mod browser;
mod bulk_actions;
mod cli;
mod detection_correlations;
mod detection_coverage;
mod detection_rules_api;
mod detection_rules_cli;
mod detection_tuning;
mod detections_in_the_loop;
mod email_approvals;
mod governed_loop;
mod guardrails;
mod health;
mod hostile_requests;
mod identity_audit_logs;
mod inbound_webhooks;
mod integrations_api;
mod job_failures;
mod log_ingest;
mod outbound_webhooks;
mod psa_tickets;
mod sandbox_inbox;
mod sign_in_baselines;
mod slack_approvals;
mod sync_stage;
mod web;
mod worker_restart;
