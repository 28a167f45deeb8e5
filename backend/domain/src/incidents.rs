//! What Steward detected and what technicians work: findings grouped into incidents.
//!
//! A finding is one thing that matters — a vendor's alert, or one of Steward's own detections —
//! about one or more entities. Findings about the same entities close together in time form one
//! incident, which has a lifecycle (status, assignee) and, once resolved, a verdict that later
//! tunes detections.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IncidentId, TenantId, UserId, actions::TargetKind};

/// A device or identity of the tenant's inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EntityKey {
    pub kind: TargetKind,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
}

/// Where a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FindingSource {
    /// A vendor raised an alert (an OCSF Detection Finding it reported).
    VendorAlert,
    /// One of Steward's own detections, over the events it stored.
    Detection,
}

/// One thing that matters, about one or more entities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub incident_id: IncidentId,
    pub source: FindingSource,
    /// Stable name of what found it: the detection (`impossible-travel`) or the vendor's
    /// detector (`microsoft_defender:WindowsDefenderAv`).
    pub rule: String,
    pub title: String,
    /// OCSF severity: 1 informational … 5 critical.
    pub severity_id: u8,
    /// When it happened (the vendor's alert time, the later sign-in).
    pub time: DateTime<Utc>,
    pub entities: Vec<EntityKey>,
    /// The stored events it rests on.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub event_ids: Vec<uuid::Uuid>,
    /// What the detection saw, for the technician (distance and speed, the malware's name).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// Where an incident is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    New,
    Investigating,
    /// The threat can no longer spread: the device is isolated, the account disabled.
    Contained,
    Resolved,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        IncidentStatus::New,
        IncidentStatus::Investigating,
        IncidentStatus::Contained,
        IncidentStatus::Resolved,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::New => "new",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Contained => "contained",
            IncidentStatus::Resolved => "resolved",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether new findings about its entities still join it.
    #[must_use]
    pub const fn is_open(self) -> bool {
        !matches!(self, IncidentStatus::Resolved)
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resolved incident turned out to be; labels for the feedback loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A real attack or fault.
    TruePositive,
    /// Real, but expected (the admin really did fly to Lagos).
    BenignTruePositive,
    /// The detection was wrong.
    FalsePositive,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [
        Verdict::TruePositive,
        Verdict::BenignTruePositive,
        Verdict::FalsePositive,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::TruePositive => "true_positive",
            Verdict::BenignTruePositive => "benign_true_positive",
            Verdict::FalsePositive => "false_positive",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Findings about the same entities, worked as one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Incident {
    pub id: IncidentId,
    pub tenant_id: TenantId,
    pub title: String,
    /// The highest severity of its findings (OCSF 1–5).
    pub severity_id: u8,
    pub status: IncidentStatus,
    pub assignee: Option<UserId>,
    /// Set when resolved.
    pub verdict: Option<Verdict>,
    pub entities: Vec<EntityKey>,
    /// When the earliest of its findings happened.
    pub first_activity_at: DateTime<Utc>,
    /// When Steward opened it: detection time.
    pub created_at: DateTime<Utc>,
    pub contained_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub findings: Vec<Finding>,
}

/// A technician's change to an incident; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentUpdate {
    pub status: Option<IncidentStatus>,
    /// A user of the MSP; `null` leaves it, use `unassign` to clear it.
    pub assignee: Option<UserId>,
    #[serde(default)]
    pub unassign: bool,
    /// Required when the status becomes `resolved`, refused otherwise.
    pub verdict: Option<Verdict>,
}

/// An incident's ticket in one of the tenant's PSAs (HaloPSA, ConnectWise Manage). Status
/// travels both ways: Steward notes each incident status on the ticket and closes it on
/// resolution; a ticket closed in the PSA resolves the incident, a reopened one reopens it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IncidentTicket {
    pub incident_id: IncidentId,
    /// The PSA integration that holds the ticket.
    pub integration_id: crate::IntegrationId,
    /// The PSA's ticket id.
    pub ticket_id: String,
    /// The status the PSA last showed (`New`, `In Progress`, `Closed`).
    pub ticket_status: String,
    pub ticket_closed: bool,
    /// The incident status last written to the ticket, or taken from it.
    pub synced_status: IncidentStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
