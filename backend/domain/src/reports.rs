//! The outcome report: what happened in a tenant over a period and whether it left the
//! customer safer — incidents, how fast they were detected and contained, the actions taken
//! with their approvals and results, and risk before and after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ActionId, IncidentId, TenantId,
    actions::{ActionStatus, ActionType, Approval, PolicyDecision},
    incidents::{EntityKey, IncidentStatus, Verdict},
};

/// A tenant's outcome report for `[from, to)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeReport {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub summary: ReportSummary,
    /// Incidents opened in the period, oldest first.
    pub incidents: Vec<IncidentOutcome>,
    /// Actions proposed in the period, oldest first.
    pub actions: Vec<ActionOutcome>,
    /// Every entity with a risk score at the start or the end, highest before first.
    pub risk: Vec<RiskChange>,
}

/// The period in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportSummary {
    pub incidents: usize,
    pub incidents_contained: usize,
    pub incidents_resolved: usize,
    pub actions: usize,
    pub actions_verified: usize,
    pub actions_rolled_back: usize,
    pub actions_awaiting_approval: usize,
    /// Denied by the policy or rejected by an approver.
    pub actions_not_taken: usize,
    /// Mean time from the first malicious activity to Steward opening the incident.
    pub mean_time_to_detect_seconds: Option<i64>,
    /// Mean time from opening an incident to containing (or resolving) it.
    pub mean_time_to_respond_seconds: Option<i64>,
    /// Sum of every entity's risk score at the start and at the end.
    pub total_risk_before: u32,
    pub total_risk_after: u32,
}

/// One incident's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentOutcome {
    pub id: IncidentId,
    pub title: String,
    pub severity_id: u8,
    pub status: IncidentStatus,
    pub verdict: Option<Verdict>,
    pub first_activity_at: DateTime<Utc>,
    pub detected_at: DateTime<Utc>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub time_to_detect_seconds: i64,
    /// Until contained, else until resolved; absent while neither.
    pub time_to_respond_seconds: Option<i64>,
}

/// One action's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionOutcome {
    pub id: ActionId,
    pub incident_id: Option<IncidentId>,
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub target_name: String,
    pub status: ActionStatus,
    pub decision: PolicyDecision,
    pub approvals: Vec<Approval>,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub rolled_back_at: Option<DateTime<Utc>>,
    pub detail: Option<String>,
}

/// An entity's risk at the start and at the end of the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RiskChange {
    pub entity: EntityKey,
    pub entity_name: String,
    pub before: u8,
    pub after: u8,
}
