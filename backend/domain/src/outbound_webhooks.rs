//! Outbound webhooks: MSPs subscribe URLs to Steward's events, delivered signed per Standard
//! Webhooks with retries and a delivery log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{MspId, TenantId};

/// An event an MSP can subscribe a URL to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEvent {
    /// A new incident was opened.
    #[serde(rename = "incident.created")]
    IncidentCreated,
    /// An incident was resolved (in Steward, or by its ticket in the PSA).
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// An action was proposed and decided by the authority policy.
    #[serde(rename = "action.proposed")]
    ActionProposed,
    /// An action ran and the vendor confirmed its effect.
    #[serde(rename = "action.executed")]
    ActionExecuted,
    /// An action was undone and the vendor confirmed the prior state is back.
    #[serde(rename = "action.rolled_back")]
    ActionRolledBack,
    /// An action waits for an approver.
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// The authority policy could not be loaded or could not decide, so Steward denied the
    /// action it was asked about: someone should mend the policy.
    #[serde(rename = "policy.failed")]
    PolicyFailed,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::IncidentCreated,
        WebhookEvent::IncidentResolved,
        WebhookEvent::ActionProposed,
        WebhookEvent::ActionExecuted,
        WebhookEvent::ActionRolledBack,
        WebhookEvent::ApprovalRequested,
        WebhookEvent::PolicyFailed,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::IncidentCreated => "incident.created",
            WebhookEvent::IncidentResolved => "incident.resolved",
            WebhookEvent::ActionProposed => "action.proposed",
            WebhookEvent::ActionExecuted => "action.executed",
            WebhookEvent::ActionRolledBack => "action.rolled_back",
            WebhookEvent::ApprovalRequested => "approval.requested",
            WebhookEvent::PolicyFailed => "policy.failed",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == value)
    }
}

/// A URL an MSP subscribed to some of Steward's events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSubscription {
    pub id: uuid::Uuid,
    pub msp_id: MspId,
    /// Where events are posted: `https` on the public internet, or a private address on the
    /// deployment's egress allow-list.
    pub url: String,
    pub description: String,
    pub events: Vec<WebhookEvent>,
    /// Only this tenant's events; every tenant's when `None`.
    pub tenant_id: Option<TenantId>,
    /// Paused subscriptions get no new deliveries.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; only a manual redelivery sends it again.
    Failed,
}

impl DeliveryStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One event for one subscription, and its attempts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    /// The message id (`msg_…`), sent as `webhook-id`; the same on every attempt, so the
    /// receiver can drop repeats.
    pub id: String,
    pub subscription_id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub event: WebhookEvent,
    /// The body posted: `{"type", "timestamp", "data"}`.
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's HTTP status on the last attempt, if it answered.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}
