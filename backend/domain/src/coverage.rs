//! Blind spots: which of a tenant's devices and identities the MSP's tools cover, and a coverage
//! score. Automation is only as safe as what Steward can see; a laptop no EDR watches or an
//! administrator without a second factor is where an incident goes unnoticed.

use serde::{Deserialize, Serialize};

use crate::{
    IntegrationId, TenantId,
    inventory::{Device, Identity},
    observations::Vendor,
};

/// The kind of tool an integration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolCategory {
    /// Remote monitoring and management: the agent that patches and scripts a device.
    Rmm,
    /// Professional services automation: tickets.
    Psa,
    IdentityProvider,
    /// Endpoint detection and response: the sensor that sees an attack on a device.
    Edr,
    Backup,
}

impl ToolCategory {
    /// The categories a device is checked against.
    pub const DEVICE_TOOLS: [ToolCategory; 3] =
        [ToolCategory::Edr, ToolCategory::Rmm, ToolCategory::Backup];

    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            ToolCategory::Rmm => "RMM",
            ToolCategory::Psa => "PSA",
            ToolCategory::IdentityProvider => "identity provider",
            ToolCategory::Edr => "EDR",
            ToolCategory::Backup => "backup",
        }
    }
}

impl Vendor {
    /// The kind of tool the vendor's product is.
    #[must_use]
    pub const fn category(self) -> ToolCategory {
        match self {
            Vendor::MicrosoftDefender | Vendor::CrowdStrikeFalcon => ToolCategory::Edr,
            Vendor::MicrosoftGraph | Vendor::Okta => ToolCategory::IdentityProvider,
        }
    }
}

/// Which tools see one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceCoverage {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub device_id: uuid::Uuid,
    pub hostname: String,
    /// The device-tool categories whose integrations report it.
    pub covered_by: Vec<ToolCategory>,
    /// What is missing, in words.
    pub gaps: Vec<String>,
}

/// Whether one identity is protected as it should be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IdentityCoverage {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub identity_id: uuid::Uuid,
    pub user_principal_name: String,
    pub privileged: bool,
    /// Whether a second factor is registered; `None` when no identity provider said.
    pub mfa_registered: Option<bool>,
    pub gaps: Vec<String>,
}

/// A tenant's coverage: per device and identity, and as one score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub tenant_id: TenantId,
    /// Checks passed out of all checks, 0–100: each device against EDR, RMM and backup, each
    /// identity against MFA. 100 for a tenant with nothing to check.
    pub score: u8,
    /// Tool categories with at least one integration connected.
    pub connected: Vec<ToolCategory>,
    /// Tool categories with none: everything they would see is a blind spot.
    pub missing: Vec<ToolCategory>,
    pub devices: Vec<DeviceCoverage>,
    pub identities: Vec<IdentityCoverage>,
}

/// Computes the coverage of a tenant from its inventory and its integrations' vendors.
#[must_use]
pub fn coverage(
    tenant_id: TenantId,
    integrations: &[(IntegrationId, Vendor)],
    devices: &[Device],
    identities: &[Identity],
) -> Coverage {
    let category_of = |id: IntegrationId| {
        integrations
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, vendor)| vendor.category())
    };
    let mut connected: Vec<ToolCategory> = integrations.iter().map(|(_, v)| v.category()).collect();
    connected.sort_unstable();
    connected.dedup();
    let missing = [
        ToolCategory::Rmm,
        ToolCategory::Psa,
        ToolCategory::IdentityProvider,
        ToolCategory::Edr,
        ToolCategory::Backup,
    ]
    .into_iter()
    .filter(|c| !connected.contains(c))
    .collect();

    let mut checks = 0usize;
    let mut passed = 0usize;
    let devices = devices
        .iter()
        .map(|device| {
            let mut covered_by: Vec<ToolCategory> = device
                .sources
                .iter()
                .filter_map(|s| category_of(s.integration_id))
                .filter(|c| ToolCategory::DEVICE_TOOLS.contains(c))
                .collect();
            covered_by.sort_unstable();
            covered_by.dedup();
            let gaps: Vec<String> = ToolCategory::DEVICE_TOOLS
                .into_iter()
                .filter(|c| !covered_by.contains(c))
                .map(|c| format!("no {} reports it", c.label()))
                .collect();
            checks += ToolCategory::DEVICE_TOOLS.len();
            passed += covered_by.len();
            DeviceCoverage {
                device_id: device.id,
                hostname: device.hostname.clone(),
                covered_by,
                gaps,
            }
        })
        .collect();
    let identities = identities
        .iter()
        .map(|identity| {
            let privileged = identity.is_privileged();
            let gaps = match (identity.mfa_registered, privileged) {
                (Some(true), _) => Vec::new(),
                (Some(false), true) => vec!["an administrator without a second factor".to_owned()],
                (Some(false), false) => vec!["no second factor registered".to_owned()],
                (None, _) => vec!["no identity provider says whether MFA is registered".to_owned()],
            };
            checks += 1;
            passed += usize::from(gaps.is_empty());
            IdentityCoverage {
                identity_id: identity.id,
                user_principal_name: identity.user_principal_name.clone(),
                privileged,
                mfa_registered: identity.mfa_registered,
                gaps,
            }
        })
        .collect();
    let score = (passed * 100)
        .checked_div(checks)
        .map_or(100, |percent| u8::try_from(percent).unwrap_or(100));
    Coverage {
        tenant_id,
        score,
        connected,
        missing,
        devices,
        identities,
    }
}
