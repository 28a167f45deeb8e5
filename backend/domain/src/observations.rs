//! What connectors report about a tenant's environment: devices, identities and events.
//!
//! Connectors translate each vendor's objects into these shapes, so the inventory, the detections
//! and the risk engine never see a vendor's JSON. Events arrive already normalized to an OCSF 1.x
//! class; the vendor's own record travels beside it for evidence.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::actions::ActionType;

/// The kind of vendor a connector speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// Microsoft Defender for Endpoint (EDR).
    MicrosoftDefender,
    /// Microsoft Graph for Microsoft Entra ID (identity provider).
    MicrosoftGraph,
    /// Okta Workforce Identity (identity provider).
    Okta,
    /// CrowdStrike Falcon Insight XDR (EDR).
    #[serde(rename = "crowdstrike_falcon")]
    CrowdStrikeFalcon,
    /// NinjaOne (RMM).
    #[serde(rename = "ninjaone")]
    NinjaOne,
    /// Tactical RMM (RMM).
    TacticalRmm,
    /// Veeam Service Provider Console (backup).
    VeeamSpc,
    /// Datto BCDR: SIRIS and ALTO appliances (backup).
    DattoBcdr,
    /// HaloPSA (PSA).
    #[serde(rename = "halopsa")]
    HaloPsa,
    /// ConnectWise Manage, also sold as ConnectWise PSA (PSA).
    #[serde(rename = "connectwise_manage")]
    ConnectWiseManage,
}

impl Vendor {
    pub const ALL: [Vendor; 10] = [
        Vendor::MicrosoftDefender,
        Vendor::MicrosoftGraph,
        Vendor::Okta,
        Vendor::CrowdStrikeFalcon,
        Vendor::NinjaOne,
        Vendor::TacticalRmm,
        Vendor::VeeamSpc,
        Vendor::DattoBcdr,
        Vendor::HaloPsa,
        Vendor::ConnectWiseManage,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Vendor::MicrosoftDefender => "microsoft_defender",
            Vendor::MicrosoftGraph => "microsoft_graph",
            Vendor::Okta => "okta",
            Vendor::CrowdStrikeFalcon => "crowdstrike_falcon",
            Vendor::NinjaOne => "ninjaone",
            Vendor::TacticalRmm => "tactical_rmm",
            Vendor::VeeamSpc => "veeam_spc",
            Vendor::DattoBcdr => "datto_bcdr",
            Vendor::HaloPsa => "halopsa",
            Vendor::ConnectWiseManage => "connectwise_manage",
        }
    }

    /// The product name shown to users.
    #[must_use]
    pub const fn display_name(self) -> &'static str {
        match self {
            Vendor::MicrosoftDefender => "Microsoft Defender for Endpoint",
            Vendor::MicrosoftGraph => "Microsoft Entra ID (Microsoft Graph)",
            Vendor::Okta => "Okta",
            Vendor::CrowdStrikeFalcon => "CrowdStrike Falcon",
            Vendor::NinjaOne => "NinjaOne",
            Vendor::TacticalRmm => "Tactical RMM",
            Vendor::VeeamSpc => "Veeam Service Provider Console",
            Vendor::DattoBcdr => "Datto BCDR",
            Vendor::HaloPsa => "HaloPSA",
            Vendor::ConnectWiseManage => "ConnectWise Manage",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Vendor> {
        Vendor::ALL.into_iter().find(|v| v.as_str() == value)
    }

    /// The actions Steward performs through this vendor.
    #[must_use]
    pub const fn actions(self) -> &'static [ActionType] {
        match self {
            Vendor::MicrosoftDefender | Vendor::CrowdStrikeFalcon => {
                &[ActionType::IsolateDevice, ActionType::ReleaseDevice]
            }
            Vendor::MicrosoftGraph => &[
                ActionType::DisableUser,
                ActionType::EnableUser,
                ActionType::RevokeSessions,
                ActionType::ResetMfa,
                ActionType::RemoveFromGroup,
                ActionType::AddToGroup,
            ],
            Vendor::Okta => &[
                ActionType::SuspendUser,
                ActionType::UnsuspendUser,
                ActionType::RevokeSessions,
            ],
            Vendor::NinjaOne | Vendor::TacticalRmm => {
                &[ActionType::RunScript, ActionType::RunUndoScript]
            }
            Vendor::HaloPsa | Vendor::ConnectWiseManage => {
                &[ActionType::OpenTicket, ActionType::CloseTicket]
            }
            Vendor::DattoBcdr => &[],
            Vendor::VeeamSpc => &[ActionType::TriggerBackup],
        }
    }

    /// Whether Steward performs this action through this vendor.
    #[must_use]
    pub fn performs(self, action: ActionType) -> bool {
        self.actions().contains(&action)
    }

    /// The event streams Steward reads from this vendor, each from its own cursor.
    #[must_use]
    pub const fn event_streams(self) -> &'static [EventStream] {
        match self {
            Vendor::MicrosoftDefender => &[EventStream::DefenderAlerts],
            Vendor::MicrosoftGraph => &[
                EventStream::EntraSignIns,
                EventStream::GraphSecurityAlerts,
                EventStream::EntraDirectoryAudits,
                EventStream::HuntingProcessEvents,
                EventStream::HuntingFileEvents,
                EventStream::HuntingRegistryEvents,
            ],
            Vendor::Okta => &[EventStream::OktaSystemLog],
            Vendor::CrowdStrikeFalcon => &[EventStream::FalconAlerts],
            Vendor::NinjaOne
            | Vendor::TacticalRmm
            | Vendor::HaloPsa
            | Vendor::ConnectWiseManage
            | Vendor::DattoBcdr
            | Vendor::VeeamSpc => &[],
        }
    }
}

/// One feed of events a vendor keeps apart from its others: Steward reads each from shortly
/// before the newest event it stored *of that feed*, so a feed the vendor fills late (Entra
/// sign-ins are recorded minutes to hours after they happen) loses nothing to a busier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStream {
    /// Microsoft Defender for Endpoint's alerts (`api/alerts`).
    DefenderAlerts,
    /// Microsoft Entra ID's sign-in log (Microsoft Graph `auditLogs/signIns`).
    EntraSignIns,
    /// Microsoft Graph security alerts (`security/alerts_v2`).
    GraphSecurityAlerts,
    /// Microsoft Entra ID's audit log (Microsoft Graph `auditLogs/directoryAudits`).
    EntraDirectoryAudits,
    /// Defender advanced hunting's `DeviceProcessEvents`.
    HuntingProcessEvents,
    /// Defender advanced hunting's `DeviceFileEvents`.
    HuntingFileEvents,
    /// Defender advanced hunting's `DeviceRegistryEvents`.
    HuntingRegistryEvents,
    /// Okta's System Log (`/api/v1/logs`).
    OktaSystemLog,
    /// CrowdStrike Falcon's alerts.
    FalconAlerts,
    /// Events a log shipper or a tool sent to the log ingest endpoint: no cursor reads them.
    Ingested,
}

impl EventStream {
    pub const ALL: [EventStream; 10] = [
        EventStream::DefenderAlerts,
        EventStream::EntraSignIns,
        EventStream::GraphSecurityAlerts,
        EventStream::EntraDirectoryAudits,
        EventStream::HuntingProcessEvents,
        EventStream::HuntingFileEvents,
        EventStream::HuntingRegistryEvents,
        EventStream::OktaSystemLog,
        EventStream::FalconAlerts,
        EventStream::Ingested,
    ];

    /// The stream's name in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventStream::DefenderAlerts => "defender_alerts",
            EventStream::EntraSignIns => "entra_sign_ins",
            EventStream::GraphSecurityAlerts => "graph_security_alerts",
            EventStream::EntraDirectoryAudits => "entra_directory_audits",
            EventStream::HuntingProcessEvents => "hunting_process_events",
            EventStream::HuntingFileEvents => "hunting_file_events",
            EventStream::HuntingRegistryEvents => "hunting_registry_events",
            EventStream::OktaSystemLog => "okta_system_log",
            EventStream::FalconAlerts => "falcon_alerts",
            EventStream::Ingested => "ingested",
        }
    }

    #[must_use]
    pub fn parse(name: &str) -> Option<EventStream> {
        EventStream::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device as one vendor sees it. (`Default` is for building one field by field: a device
/// always has a vendor id and a name.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedDevice {
    /// The vendor's identifier (the Defender machine id).
    pub external_id: String,
    pub hostname: String,
    pub os_platform: Option<String>,
    /// The vendor's sensor health, verbatim (`Active`, `Inactive`, …).
    pub health: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
    pub last_ip: Option<String>,
    /// The Microsoft Entra device id, the key that joins EDR and identity records.
    pub entra_device_id: Option<String>,
    /// Tags set at the vendor (Defender machine tags), e.g. `Finance`, `Server`.
    pub tags: Vec<String>,
    /// The vendor's own value rating (`Low`, `Normal`, `High`), if any.
    pub vendor_value: Option<String>,
    /// The hardware serial number (BIOS), a key that joins the records of different tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The network adapters' MAC addresses, lower case and colon-separated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac_addresses: Vec<String>,
    /// Operating-system patch state, from tools that patch (RMM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<PatchStatus>,
    /// Backup state, from backup tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupStatus>,
}

/// How a device is backed up, as its backup tool reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupStatus {
    /// The job that protects it, by the vendor's name.
    pub job: Option<String>,
    /// The latest run's result as the vendor words it (`Success`, `Warning`, `Failed`, …).
    pub last_result: Option<String>,
    pub last_run: Option<DateTime<Utc>>,
    /// The latest restore point: the newest state a restore brings back.
    pub last_restore_point: Option<DateTime<Utc>>,
}

/// A device's operating-system patches as its patching tool reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatchStatus {
    /// Patches the device is missing: awaiting approval, approved, or failed to install
    /// (patches the MSP rejected on purpose are not counted).
    pub pending: u32,
    /// How many of them the vendor rates critical or important.
    pub pending_critical: u32,
    /// When the oldest missing patch was first reported.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// Installations that failed.
    pub failed_installs: u32,
    /// The latest successful installation.
    pub last_installed_at: Option<DateTime<Utc>>,
}

/// Normalizes a MAC address to lower-case, colon-separated hex (`00:15:5d:0a:1b:2c`); `None`
/// for anything that is not six octets.
#[must_use]
pub fn normalize_mac(value: &str) -> Option<String> {
    let hex: String = value.chars().filter(char::is_ascii_hexdigit).collect();
    let separators = value
        .chars()
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.'));
    if hex.len() != 12 || !separators {
        return None;
    }
    let hex = hex.to_lowercase();
    Some(
        hex.as_bytes()
            .chunks(2)
            .map(|pair| std::str::from_utf8(pair).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// An identity as one vendor sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedIdentity {
    /// The vendor's identifier (the Entra object id).
    pub external_id: String,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    /// `accountEnabled`; `None` when the vendor did not say.
    pub enabled: Option<bool>,
    /// Names of the administrative roles the identity holds.
    pub admin_roles: Vec<String>,
    /// Whether a second factor (MFA) is registered; `None` when the vendor did not say.
    #[serde(default)]
    pub mfa_registered: Option<bool>,
    /// Names of the groups the identity is a direct member of, where the vendor reports groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// Everything a connector's inventory pull found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservedInventory {
    pub devices: Vec<ObservedDevice>,
    pub identities: Vec<ObservedIdentity>,
}

/// The OCSF 1.x event classes Steward stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OcsfClass {
    /// File System Activity, class_uid 1001.
    FileSystemActivity,
    /// Process Activity, class_uid 1007.
    ProcessActivity,
    /// Registry Key Activity, class_uid 201001 (OCSF's Windows extension).
    RegistryKeyActivity,
    /// Registry Value Activity, class_uid 201002 (OCSF's Windows extension).
    RegistryValueActivity,
    /// Detection Finding, class_uid 2004.
    DetectionFinding,
    /// Account Change, class_uid 3001.
    AccountChange,
    /// Authentication, class_uid 3002.
    Authentication,
    /// API Activity, class_uid 6003.
    ApiActivity,
}

impl OcsfClass {
    /// Every class, in class_uid order.
    pub const ALL: [OcsfClass; 8] = [
        OcsfClass::FileSystemActivity,
        OcsfClass::ProcessActivity,
        OcsfClass::DetectionFinding,
        OcsfClass::AccountChange,
        OcsfClass::Authentication,
        OcsfClass::ApiActivity,
        OcsfClass::RegistryKeyActivity,
        OcsfClass::RegistryValueActivity,
    ];

    #[must_use]
    pub const fn class_uid(self) -> u32 {
        match self {
            OcsfClass::FileSystemActivity => 1001,
            OcsfClass::ProcessActivity => 1007,
            OcsfClass::DetectionFinding => 2004,
            OcsfClass::AccountChange => 3001,
            OcsfClass::Authentication => 3002,
            OcsfClass::ApiActivity => 6003,
            OcsfClass::RegistryKeyActivity => 201_001,
            OcsfClass::RegistryValueActivity => 201_002,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            OcsfClass::FileSystemActivity => "file_system_activity",
            OcsfClass::ProcessActivity => "process_activity",
            OcsfClass::DetectionFinding => "detection_finding",
            OcsfClass::AccountChange => "account_change",
            OcsfClass::Authentication => "authentication",
            OcsfClass::ApiActivity => "api_activity",
            OcsfClass::RegistryKeyActivity => "registry_key_activity",
            OcsfClass::RegistryValueActivity => "registry_value_activity",
        }
    }

    /// The class's name as OCSF writes it (`class_name`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            OcsfClass::FileSystemActivity => "File System Activity",
            OcsfClass::ProcessActivity => "Process Activity",
            OcsfClass::DetectionFinding => "Detection Finding",
            OcsfClass::AccountChange => "Account Change",
            OcsfClass::Authentication => "Authentication",
            OcsfClass::ApiActivity => "API Activity",
            OcsfClass::RegistryKeyActivity => "Registry Key Activity",
            OcsfClass::RegistryValueActivity => "Registry Value Activity",
        }
    }

    /// The class's OCSF category (`category_uid`, `category_name`).
    #[must_use]
    pub const fn category(self) -> (u32, &'static str) {
        match self {
            OcsfClass::FileSystemActivity
            | OcsfClass::ProcessActivity
            | OcsfClass::RegistryKeyActivity
            | OcsfClass::RegistryValueActivity => (1, "System Activity"),
            OcsfClass::DetectionFinding => (2, "Findings"),
            OcsfClass::AccountChange | OcsfClass::Authentication => {
                (3, "Identity & Access Management")
            }
            OcsfClass::ApiActivity => (6, "Application Activity"),
        }
    }

    #[must_use]
    pub fn from_class_uid(uid: u32) -> Option<OcsfClass> {
        OcsfClass::ALL.into_iter().find(|c| c.class_uid() == uid)
    }
}

/// A reference from an event to an entity, by the vendor's identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntityRef {
    Device {
        external_id: String,
    },
    Identity {
        external_id: String,
    },
    /// A device named by its computer name, as logs sent by a log shipper name it: the
    /// shipper is not the device's source, so it has no vendor id for it. Resolved to the
    /// tenant's one device of that hostname (a fully qualified name also matches its first
    /// label).
    Host {
        hostname: String,
    },
}

/// How the external ids of events sent to the log ingest endpoint begin: they never take a
/// vendor's record id (so a log sender cannot overwrite what a vendor said), and synchronization
/// reads from the newest event the *vendor* sent, not from what a log sender claimed.
pub const INGESTED_EVENT_PREFIX: &str = "ingest:";

/// One event, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedEvent {
    /// The vendor's identifier of the record; with the integration it makes the event unique, so
    /// pulling the same page twice stores it once.
    pub external_id: String,
    pub class: OcsfClass,
    /// When the event happened (OCSF `time`).
    pub time: DateTime<Utc>,
    /// OCSF severity_id: 0 unknown, 1 informational, 2 low, 3 medium, 4 high, 5 critical.
    pub severity_id: u8,
    /// The entities the event is about.
    pub entities: Vec<EntityRef>,
    /// The OCSF object for `class`.
    pub ocsf: serde_json::Value,
    /// The vendor's record, verbatim.
    pub raw: serde_json::Value,
    /// The feed it was read from.
    pub stream: EventStream,
}

#[cfg(test)]
mod tests {
    use super::{Vendor, normalize_mac};

    #[test]
    fn event_streams_are_named_alike_in_json_and_storage_and_belong_to_one_vendor() {
        for stream in super::EventStream::ALL {
            assert_eq!(
                serde_json::to_value(stream).unwrap(),
                serde_json::json!(stream.as_str())
            );
            assert_eq!(super::EventStream::parse(stream.as_str()), Some(stream));
            let owners = Vendor::ALL
                .into_iter()
                .filter(|v| v.event_streams().contains(&stream))
                .count();
            let expected = usize::from(stream != super::EventStream::Ingested);
            assert_eq!(owners, expected, "{stream:?}");
        }
    }

    #[test]
    fn vendors_are_named_alike_in_json_and_storage() {
        for vendor in Vendor::ALL {
            assert_eq!(
                serde_json::to_value(vendor).unwrap(),
                serde_json::json!(vendor.as_str())
            );
            assert_eq!(Vendor::parse(vendor.as_str()), Some(vendor));
        }
    }

    #[test]
    fn mac_addresses_compare_in_one_spelling() {
        assert_eq!(
            normalize_mac("00-15-5D-0A-1B-2C").as_deref(),
            Some("00:15:5d:0a:1b:2c")
        );
        assert_eq!(
            normalize_mac("0015.5d0a.1b2c").as_deref(),
            Some("00:15:5d:0a:1b:2c")
        );
        assert_eq!(normalize_mac("00:15:5d:0a:1b"), None, "five octets");
        assert_eq!(normalize_mac("00:15:5d:0a:1b:zz"), None);
    }
}
