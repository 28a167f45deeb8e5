//! Entity risk: a score from 0 to 100 per device and identity, with the factors that make it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{TenantId, incidents::EntityKey};

/// One reason an entity's risk is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskFactor {
    /// Stable kebab-case name (`active-alert`, `privileged-identity`).
    pub name: String,
    /// Points this factor adds to the score.
    pub contribution: u8,
    /// What it rests on, for a person.
    pub detail: String,
    /// API path of the evidence (the incident, the identity).
    pub evidence: Option<String>,
}

/// An entity's current risk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskScore {
    pub tenant_id: TenantId,
    pub entity: EntityKey,
    /// A device's host name or an identity's user principal name.
    pub entity_name: String,
    /// 0 to 100: the sum of the factors' contributions, capped.
    pub score: u8,
    pub factors: Vec<RiskFactor>,
    pub computed_at: DateTime<Utc>,
}

impl RiskScore {
    /// The score of a set of factors: their sum, at most 100.
    #[must_use]
    pub fn total(factors: &[RiskFactor]) -> u8 {
        let sum: u32 = factors.iter().map(|f| u32::from(f.contribution)).sum();
        u8::try_from(sum.min(100)).unwrap_or(100)
    }
}
