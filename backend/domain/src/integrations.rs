//! Integrations: a tenant's connection to one vendor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IntegrationId, MspId, TenantId, observations::Vendor};

/// Whether Steward can currently work with the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum IntegrationHealth {
    /// Never tested or synchronized.
    Unknown,
    /// The last test or synchronization succeeded.
    Healthy,
    /// The last test or synchronization failed; `last_error` says why.
    Failing,
}

impl IntegrationHealth {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            IntegrationHealth::Unknown => "unknown",
            IntegrationHealth::Healthy => "healthy",
            IntegrationHealth::Failing => "failing",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "unknown" => Some(IntegrationHealth::Unknown),
            "healthy" => Some(IntegrationHealth::Healthy),
            "failing" => Some(IntegrationHealth::Failing),
            _ => None,
        }
    }
}

/// Telemetry an integration's vendor withholds although the integration works: the customer's
/// licence does not include it, or the app was not granted its permission. A blind spot while
/// it lasts; each synchronization says again what is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingTelemetry {
    /// Which telemetry: `advanced_hunting` (Microsoft Defender's process, file and registry
    /// events).
    pub stream: String,
    /// What Steward does not see without it.
    pub consequence: String,
    /// What would bring it: the licence or permission it needs.
    pub remedy: String,
    /// The vendor's answer.
    pub reason: String,
}

/// A tenant's connection to one vendor. The credential is never part of it: it is stored
/// sealed and only connectors open it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Integration {
    pub id: IntegrationId,
    pub msp_id: MspId,
    pub tenant_id: TenantId,
    pub vendor: Vendor,
    /// A name unique within the tenant, e.g. "Defender for Endpoint".
    pub name: String,
    /// The vendor's non-secret settings (directory id, client id, base URLs).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub settings: serde_json::Value,
    pub health: IntegrationHealth,
    /// Why the last test or synchronization failed.
    pub last_error: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// The last successful test or synchronization.
    pub last_success_at: Option<DateTime<Utc>>,
    /// What the vendor withheld at the last synchronization; empty when it delivered all.
    #[serde(default)]
    pub missing_telemetry: Vec<MissingTelemetry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An MSP's Slack connection for approvals, as MSP staff see it (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlackConnection {
    /// The Slack Web API's base URL (`https://slack.com/api/`).
    pub api_base_url: String,
    /// The channel the requests for MSP technicians go to.
    pub channel: String,
    /// Tenant → a channel shared with that customer (Slack Connect), where the requests that
    /// need the customer's approval go; a tenant without one gets those by email only.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub tenant_channels: std::collections::BTreeMap<TenantId, String>,
    /// Slack user id → the Steward user whose answers they are.
    #[cfg_attr(feature = "openapi", schema(value_type = std::collections::BTreeMap<String, String>))]
    pub users: std::collections::BTreeMap<String, crate::UserId>,
    pub updated_at: DateTime<Utc>,
}
