//! Steward's shared vocabulary.
//!
//! Identifiers, roles and the shapes of resources, shared by the server, the workers and the
//! browser build of the UI. This crate must stay free of anything that cannot compile to
//! WebAssembly: no database, no async runtime, no file system.

pub mod access;
pub mod actions;
pub mod audit;
pub mod authority;
pub mod baselines;
pub mod clock;
pub mod coverage;
pub mod credentials;
pub mod detections;
pub mod graph;
pub mod guardrails;
pub mod ids;
pub mod incidents;
pub mod integrations;
pub mod inventory;
pub mod observations;
pub mod outbound_webhooks;
pub mod reports;
pub mod risk;
pub mod slug;
pub mod tenancy;
pub mod text;

pub use ids::{
    ActionId, ApiTokenId, AuditEntryId, IncidentId, IntegrationId, MspId, SessionId, TenantId,
    UserId,
};
pub use slug::Slug;
