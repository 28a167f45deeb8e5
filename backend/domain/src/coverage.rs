//! Blind spots: which of a tenant's devices and identities the MSP's tools cover, and a coverage
//! score. Automation is only as safe as what Steward can see; a laptop no EDR watches or an
//! administrator without a second factor is where an incident goes unnoticed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    IntegrationId, TenantId,
    inventory::{Device, Identity},
    observations::{BackupStatus, ObservedDevice, PatchStatus, Vendor},
};

/// An RMM agent that has not reported for longer is stale: the device may be gone, or the agent
/// broken, and either way nothing patches or scripts it.
pub const STALE_AGENT_AFTER: Duration = Duration::days(7);
/// A device missing an operating-system patch for longer is not patched.
pub const PATCH_AGE_LIMIT: Duration = Duration::days(30);
/// A device whose newest restore point is older is not backed up: daily jobs missed a day and
/// a retry.
pub const BACKUP_AGE_LIMIT: Duration = Duration::days(2);

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
            Vendor::NinjaOne | Vendor::TacticalRmm => ToolCategory::Rmm,
            Vendor::VeeamSpc | Vendor::DattoBcdr => ToolCategory::Backup,
            Vendor::HaloPsa | Vendor::ConnectWiseManage => ToolCategory::Psa,
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
    /// The latest contact of the device's RMM agent, when an RMM reports it.
    pub agent_last_contact: Option<DateTime<Utc>>,
    /// Its operating-system patches, as its RMM reports them.
    pub patches: Option<PatchStatus>,
    /// Its backup, as its backup tool reports it (the newest restore point of any).
    pub backup: Option<BackupStatus>,
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
    /// Checks passed out of all checks, 0–100: each device against EDR, RMM and backup (and,
    /// where an RMM reports it, a live agent and current patches), each identity against MFA.
    /// 100 for a tenant with nothing to check.
    pub score: u8,
    /// Tool categories with at least one integration connected.
    pub connected: Vec<ToolCategory>,
    /// Tool categories with none: everything they would see is a blind spot.
    pub missing: Vec<ToolCategory>,
    pub devices: Vec<DeviceCoverage>,
    pub identities: Vec<IdentityCoverage>,
    /// Devices people signed in from (as the identity providers report) that no tool of the
    /// tenant reports: each is a failed check.
    pub unmanaged_devices: Vec<crate::graph::UnmanagedDevice>,
    /// Integrations whose last test or synchronization failed: what they would see no longer
    /// reaches Steward. Each is a failed check.
    pub failing_sources: Vec<FailingSource>,
    /// Telemetry the vendors of working integrations withhold (a licence without advanced
    /// hunting): what the detections that read it cannot see. Each is a failed check.
    pub telemetry_gaps: Vec<TelemetryGap>,
}

/// An integration that cannot be read: a blind spot until it works again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailingSource {
    pub integration_id: IntegrationId,
    pub name: String,
    pub vendor: Vendor,
    pub category: ToolCategory,
    /// Why, as the vendor or the network answered.
    pub last_error: Option<String>,
    /// Its last successful test or synchronization; `None` when it never worked.
    pub last_success_at: Option<DateTime<Utc>>,
}

/// An integration that works but whose vendor withholds some telemetry: a blind spot until the
/// licence or permission it names is in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TelemetryGap {
    pub integration_id: IntegrationId,
    pub name: String,
    pub vendor: Vendor,
    pub missing: crate::integrations::MissingTelemetry,
}

/// What the vendors of the tenant's working integrations withhold (a failing one is a
/// failing source instead: what it last said it lacked may no longer hold).
#[must_use]
pub fn telemetry_gaps(integrations: &[crate::integrations::Integration]) -> Vec<TelemetryGap> {
    integrations
        .iter()
        .filter(|i| i.health != crate::integrations::IntegrationHealth::Failing)
        .flat_map(|i| {
            i.missing_telemetry.iter().map(|missing| TelemetryGap {
                integration_id: i.id,
                name: i.name.clone(),
                vendor: i.vendor,
                missing: missing.clone(),
            })
        })
        .collect()
}

/// The tenant's integrations that are failing.
#[must_use]
pub fn failing_sources(integrations: &[crate::integrations::Integration]) -> Vec<FailingSource> {
    integrations
        .iter()
        .filter(|i| i.health == crate::integrations::IntegrationHealth::Failing)
        .map(|i| FailingSource {
            integration_id: i.id,
            name: i.name.clone(),
            vendor: i.vendor,
            category: i.vendor.category(),
            last_error: i.last_error.clone(),
            last_success_at: i.last_success_at,
        })
        .collect()
}

/// Computes the coverage of a tenant at `now` from its inventory and its integrations' vendors.
#[must_use]
pub fn coverage(
    tenant_id: TenantId,
    integrations: &[(IntegrationId, Vendor)],
    devices: &[Device],
    identities: &[Identity],
    sightings: &[crate::graph::SignInSighting],
    (failing, telemetry_gaps): (Vec<FailingSource>, Vec<TelemetryGap>),
    now: DateTime<Utc>,
) -> Coverage {
    let unmanaged_devices = crate::graph::unmanaged_devices(devices, sightings);
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
            let mut gaps: Vec<String> = ToolCategory::DEVICE_TOOLS
                .into_iter()
                .filter(|c| !covered_by.contains(c))
                .map(|c| format!("no {} reports it", c.label()))
                .collect();
            checks += ToolCategory::DEVICE_TOOLS.len();
            passed += covered_by.len();
            // Each source's report is read once, then looked at by the kind of tool it is.
            let reports = reports_by_category(device, category_of);
            let of_kind = |kind: ToolCategory| {
                reports
                    .iter()
                    .filter(move |(c, _)| *c == kind)
                    .map(|(_, r)| r)
            };
            let rmm: Vec<&ObservedDevice> = of_kind(ToolCategory::Rmm).collect();
            let agent_last_contact = rmm.iter().filter_map(|r| r.last_seen).max();
            let patches = rmm.iter().find_map(|r| r.patches.clone());
            if !rmm.is_empty() {
                checks += 2;
                match agent_last_contact {
                    Some(contact) if now - contact <= STALE_AGENT_AFTER => passed += 1,
                    Some(contact) => gaps.push(format!(
                        "its RMM agent has been silent for {} days",
                        (now - contact).num_days()
                    )),
                    None => gaps.push("its RMM agent never reported".to_owned()),
                }
                match patch_gap(patches.as_ref(), now) {
                    None => passed += 1,
                    Some(gap) => gaps.push(gap),
                }
            }
            let backups: Vec<&ObservedDevice> = of_kind(ToolCategory::Backup).collect();
            let backup = backups
                .iter()
                .filter_map(|r| r.backup.clone())
                .max_by_key(|b| b.last_restore_point);
            if !backups.is_empty() {
                checks += 1;
                match backup_gap(backup.as_ref(), now) {
                    None => passed += 1,
                    Some(gap) => gaps.push(gap),
                }
            }
            DeviceCoverage {
                device_id: device.id,
                hostname: device.hostname.clone(),
                covered_by,
                agent_last_contact,
                patches,
                backup,
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
    checks += unmanaged_devices.len() + failing.len() + telemetry_gaps.len();
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
        unmanaged_devices,
        failing_sources: failing,
        telemetry_gaps,
    }
}

/// What each integration of a known category last reported about `device`.
fn reports_by_category(
    device: &Device,
    category_of: impl Fn(IntegrationId) -> Option<ToolCategory>,
) -> Vec<(ToolCategory, ObservedDevice)> {
    device
        .sources
        .iter()
        .filter_map(|s| {
            let category = category_of(s.integration_id)?;
            let report = serde_json::from_value(s.attributes.clone()).ok()?;
            Some((category, report))
        })
        .collect()
}

/// Why `patches` at `now` fail the patch check, if they do.
fn patch_gap(patches: Option<&PatchStatus>, now: DateTime<Utc>) -> Option<String> {
    let Some(patches) = patches else {
        return Some("its RMM reports no patch status".to_owned());
    };
    if patches.pending == 0 {
        return None;
    }
    let missing = format!(
        "{} operating-system patch{} missing{}",
        patches.pending,
        if patches.pending == 1 { "" } else { "es" },
        match patches.pending_critical {
            0 => String::new(),
            n => format!(" ({n} critical or important)"),
        }
    );
    // Tools that do not say when a patch appeared are judged by the last installation.
    match (patches.oldest_pending_since, patches.last_installed_at) {
        (Some(since), _) => (now - since > PATCH_AGE_LIMIT).then(|| {
            format!(
                "{missing}, the oldest for {} days",
                (now - since).num_days()
            )
        }),
        (None, Some(installed)) => (now - installed > PATCH_AGE_LIMIT).then(|| {
            format!(
                "{missing}, and none installed for {} days",
                (now - installed).num_days()
            )
        }),
        (None, None) => Some(format!("{missing}, and none ever installed")),
    }
}

/// Why `backup` at `now` fails the backup check, if it does.
fn backup_gap(backup: Option<&BackupStatus>, now: DateTime<Utc>) -> Option<String> {
    let result = backup
        .and_then(|b| b.last_result.as_deref())
        .map(|r| format!(" (its last run: {r})"))
        .unwrap_or_default();
    match backup.and_then(|b| b.last_restore_point) {
        Some(point) if now - point <= BACKUP_AGE_LIMIT => None,
        Some(point) => Some(format!(
            "its newest backup is {} days old{result}",
            (now - point).num_days()
        )),
        None => Some(format!(
            "its backup tool has no restore point of it{result}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Source;

    fn at(days_ago: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            - Duration::days(days_ago)
    }

    fn report(last_seen_days_ago: i64, patches: Option<PatchStatus>) -> serde_json::Value {
        serde_json::to_value(ObservedDevice {
            external_id: "1".into(),
            hostname: "acme-lt01".into(),
            last_seen: Some(at(last_seen_days_ago)),
            patches,
            ..ObservedDevice::default()
        })
        .unwrap()
    }

    fn device(sources: Vec<(IntegrationId, serde_json::Value)>) -> Device {
        Device {
            id: uuid::Uuid::from_u128(9),
            tenant_id: TenantId::from(uuid::Uuid::from_u128(8)),
            hostname: "acme-lt01".into(),
            os_platform: None,
            health: None,
            last_seen: None,
            entra_device_id: None,
            serial_number: None,
            mac_addresses: Vec::new(),
            tags: Vec::new(),
            first_seen_at: at(100),
            updated_at: at(0),
            context: None,
            sources: sources
                .into_iter()
                .map(|(integration_id, attributes)| Source {
                    integration_id,
                    external_id: "1".into(),
                    attributes,
                    first_seen_at: at(100),
                    last_seen_at: at(0),
                })
                .collect(),
            conflicts: Vec::new(),
        }
    }

    #[test]
    fn a_silent_agent_and_old_missing_patches_are_gaps_and_cost_score() {
        let ninja = IntegrationId::from(uuid::Uuid::from_u128(1));
        let defender = IntegrationId::from(uuid::Uuid::from_u128(2));
        let integrations = [
            (ninja, Vendor::NinjaOne),
            (defender, Vendor::MicrosoftDefender),
        ];
        let old_patches = PatchStatus {
            pending: 3,
            pending_critical: 1,
            oldest_pending_since: Some(at(45)),
            failed_installs: 1,
            last_installed_at: Some(at(50)),
        };
        let stale = device(vec![
            (ninja, report(31, Some(old_patches))),
            (defender, report(0, None)),
        ]);
        let fresh = device(vec![(
            ninja,
            report(
                0,
                Some(PatchStatus {
                    pending: 1,
                    oldest_pending_since: Some(at(3)),
                    ..PatchStatus::default()
                }),
            ),
        )]);
        let tenant = stale.tenant_id;
        let result = coverage(
            tenant,
            &integrations,
            &[stale, fresh],
            &[],
            &[],
            (Vec::new(), Vec::new()),
            at(0),
        );
        let gaps = &result.devices[0].gaps;
        assert_eq!(
            gaps,
            &[
                "no backup reports it",
                "its RMM agent has been silent for 31 days",
                "3 operating-system patches missing (1 critical or important), the oldest for 45 days",
            ]
        );
        assert_eq!(result.devices[0].agent_last_contact, Some(at(31)));
        assert_eq!(
            result.devices[1].gaps,
            ["no EDR reports it", "no backup reports it"]
        );
        // Stale: EDR + RMM of 5 checks; fresh: RMM, live agent, patches of 5.
        assert_eq!(result.score, 50);
    }

    #[test]
    fn a_backup_older_than_two_days_is_a_gap_with_the_last_result() {
        let failing = BackupStatus {
            job: Some("Server daily".into()),
            last_result: Some("Failed".into()),
            last_run: Some(at(0)),
            last_restore_point: Some(at(9)),
        };
        assert_eq!(
            backup_gap(Some(&failing), at(0)).as_deref(),
            Some("its newest backup is 9 days old (its last run: Failed)")
        );
        let fresh = BackupStatus {
            last_restore_point: Some(at(1)),
            ..failing
        };
        assert_eq!(backup_gap(Some(&fresh), at(0)), None);
        assert_eq!(
            backup_gap(None, at(0)).as_deref(),
            Some("its backup tool has no restore point of it")
        );
    }

    #[test]
    fn without_patch_dates_the_last_installation_decides() {
        let missing = |last_installed_at| PatchStatus {
            pending: 1,
            last_installed_at,
            ..PatchStatus::default()
        };
        assert_eq!(patch_gap(Some(&missing(Some(at(3)))), at(0)), None);
        assert_eq!(
            patch_gap(Some(&missing(Some(at(40)))), at(0)).as_deref(),
            Some("1 operating-system patch missing, and none installed for 40 days")
        );
        assert_eq!(
            patch_gap(Some(&missing(None)), at(0)).as_deref(),
            Some("1 operating-system patch missing, and none ever installed")
        );
        assert_eq!(patch_gap(Some(&PatchStatus::default()), at(0)), None);
        assert_eq!(
            patch_gap(None, at(0)).as_deref(),
            Some("its RMM reports no patch status")
        );
    }

    #[test]
    fn telemetry_a_vendor_withholds_is_a_failed_check() {
        let gap = TelemetryGap {
            integration_id: IntegrationId::from(uuid::Uuid::from_u128(3)),
            name: "Microsoft 365".to_owned(),
            vendor: Vendor::MicrosoftGraph,
            missing: crate::integrations::MissingTelemetry {
                stream: "advanced_hunting".to_owned(),
                consequence: "no process events".to_owned(),
                remedy: "Defender for Endpoint Plan 2".to_owned(),
                reason: "403".to_owned(),
            },
        };
        let tenant = TenantId::from(uuid::Uuid::from_u128(9));
        let integrations = [(gap.integration_id, gap.vendor)];
        let without = coverage(
            tenant,
            &integrations,
            &[],
            &[],
            &[],
            (Vec::new(), Vec::new()),
            at(0),
        );
        assert_eq!(without.score, 100);
        let with = coverage(
            tenant,
            &integrations,
            &[],
            &[],
            &[],
            (Vec::new(), vec![gap.clone()]),
            at(0),
        );
        assert_eq!(with.score, 0, "the one check there is failed");
        assert_eq!(with.telemetry_gaps, [gap]);
    }
}
