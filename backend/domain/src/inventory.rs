//! A tenant's inventory: the devices and identities its tools report, merged into one record
//! per real thing, with where each record came from; and the events those tools reported.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    IntegrationId, TenantId,
    observations::{EntityRef, OcsfClass},
};

/// A device of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub hostname: String,
    pub os_platform: Option<String>,
    /// The EDR sensor's health, as the vendor words it.
    pub health: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
    pub entra_device_id: Option<String>,
    /// The hardware serial number any source reports.
    pub serial_number: Option<String>,
    /// Every MAC address any source reports (lower case, colon-separated).
    pub mac_addresses: Vec<String>,
    pub tags: Vec<String>,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Which integrations report it, under which id, and when they last did.
    pub sources: Vec<Source>,
    /// Attributes the sources disagree about (a different host name or Microsoft Entra device
    /// id), with what each said.
    pub conflicts: Vec<AttributeConflict>,
    /// What the MSP says the business uses it for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<BusinessContext>,
}

/// What the MSP knows about an entity that no tool reports: how much the business depends on
/// it, who owns it, and what it is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BusinessContext {
    /// Overrides the criticality Steward infers (servers high, administrators high).
    pub criticality: Option<crate::actions::Criticality>,
    /// Who answers for it at the customer (a name or email).
    pub owner: Option<String>,
    /// What it serves: `payroll`, `production server`, `front desk`.
    pub business_process: Option<String>,
}

/// An identity (user account) of a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Identity {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub enabled: Option<bool>,
    /// Administrative roles held at the identity provider; any makes the identity privileged.
    pub admin_roles: Vec<String>,
    /// Names of the groups it is a member of, as its identity providers report them.
    #[serde(default)]
    pub groups: Vec<String>,
    pub first_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether a second factor (MFA) is registered, as the identity provider reports it.
    pub mfa_registered: Option<bool>,
    pub sources: Vec<Source>,
    /// Attributes the sources disagree about, with what each said; the merged value above
    /// follows the attribute's rule (see `docs/reconciliation.md`).
    pub conflicts: Vec<AttributeConflict>,
    /// What the MSP says the business uses it for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<BusinessContext>,
}

/// Sources that report different values of one attribute of the same entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttributeConflict {
    /// The attribute, as the entity names it (`enabled`, `display_name`, …).
    pub attribute: String,
    /// Each source's value, in the order the sources were first seen.
    pub values: Vec<SourcedValue>,
}

/// What one integration says an attribute is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourcedValue {
    pub integration_id: IntegrationId,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub value: serde_json::Value,
}

impl Identity {
    #[must_use]
    pub fn is_privileged(&self) -> bool {
        !self.admin_roles.is_empty()
    }
}

/// One integration's report of an entity: provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Source {
    pub integration_id: IntegrationId,
    /// The vendor's id of the entity.
    pub external_id: String,
    /// What the integration last said, verbatim from its connector.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub attributes: serde_json::Value,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// An event stored as its OCSF class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredEvent {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    pub integration_id: IntegrationId,
    pub external_id: String,
    pub class: OcsfClass,
    pub time: DateTime<Utc>,
    pub severity_id: u8,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub entities: Vec<EntityRef>,
    /// The OCSF object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub ocsf: serde_json::Value,
    pub received_at: DateTime<Utc>,
}

/// What one synchronization changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncCounts {
    pub devices_created: usize,
    pub devices_updated: usize,
    pub identities_created: usize,
    pub identities_updated: usize,
    /// Events not stored before.
    pub events_new: usize,
    /// Events stored before whose vendor record changed (an alert's status, say).
    pub events_updated: usize,
}
