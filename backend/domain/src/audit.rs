//! Entries of the audit chains, as read back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AuditEntryId, MspId, TenantId, UserId};

/// One recorded state change: who did what, when, to what, with the state before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub msp_id: MspId,
    /// The tenant whose chain holds the entry; empty for the MSP's own chain.
    pub tenant_id: Option<TenantId>,
    /// Position in the chain, from 1 without gaps.
    pub seq: u64,
    pub occurred_at: DateTime<Utc>,
    pub actor: AuditActor,
    /// What happened, as `<subject>.<verb>` (`tenant.created`, `api_token.revoked`).
    pub action: String,
    pub subject: AuditSubject,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub before: Option<serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub after: Option<serde_json::Value>,
    /// The `x-request-id` of the API request that made the change, if any.
    pub request_id: Option<String>,
    /// SHA-256 (hex) of the previous entry; 64 zeros for the first.
    pub prev_hash: String,
    /// SHA-256 (hex) over this entry's canonical encoding and `prev_hash`.
    pub hash: String,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditActor {
    pub kind: ActorKind,
    pub user_id: Option<UserId>,
    /// For people to read: an email and the credential used, or the command that ran.
    pub label: String,
}

/// The kinds of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in user or an API token's user.
    User,
    /// An operator at the command line (`steward token create`).
    Cli,
    /// Steward itself (demo seeding, scheduled work).
    System,
}

impl ActorKind {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
        }
    }
}

/// What a change was made to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditSubject {
    /// `tenant`, `user`, `api_token`, …
    pub kind: String,
    pub id: Option<String>,
}
