//! API tokens, as listed (their secrets are shown once, at creation, and never stored).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ApiTokenId, UserId};

/// An API token of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub user_id: UserId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// After this instant the token is refused; empty for no expiry.
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApiTokenState {
    Active,
    Expired,
    Revoked,
}

impl ApiToken {
    /// The token's state at `now`.
    #[must_use]
    pub fn state(&self, now: DateTime<Utc>) -> ApiTokenState {
        if self.revoked_at.is_some() {
            ApiTokenState::Revoked
        } else if self.expires_at.is_some_and(|expires| expires <= now) {
            ApiTokenState::Expired
        } else {
            ApiTokenState::Active
        }
    }
}
