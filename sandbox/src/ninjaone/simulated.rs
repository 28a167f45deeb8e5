//! What the simulated NinjaOne keeps about a customer: its organization id, an agent per managed
//! machine (with the machine's patches), the activity log of script runs, and the MSP's
//! automation library.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::environment::{Ids, SimMachine, SimPatch, SimScript};

/// A NinjaOne agent on a machine: the device record and its operating-system patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimNinjaAgent {
    /// The NinjaOne device id.
    pub device_id: u64,
    /// When the agent stopped reporting; `None` while it checks in every few minutes.
    pub silent_since: Option<DateTime<Utc>>,
    /// How many minutes ago a live agent last checked in, whenever one asks.
    pub check_in_minutes: i64,
    pub patches: Vec<SimPatch>,
    /// What the library's scripts switch on the device (`smb1`, `usb_storage`,
    /// `print_spooler`); a setting never switched is on.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, bool>,
}

impl SimNinjaAgent {
    /// The agent's last contact as of `now`.
    #[must_use]
    pub fn last_contact(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.silent_since
            .unwrap_or(now - Duration::minutes(self.check_in_minutes))
    }
}

/// A run of a library script on a device, as NinjaOne's activity log records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimActivity {
    pub id: u64,
    pub device_id: u64,
    pub script_id: u32,
    pub requested: DateTime<Utc>,
    /// `START_REQUESTED`, `IN_PROCESS`, then `COMPLETED`.
    pub status_code: String,
    /// `SUCCESS` or `FAILURE` once completed.
    pub result: Option<String>,
    /// Ends `FAILURE` (an injected fault).
    pub will_fail: bool,
}

/// The scripts of the sandbox's NinjaOne library: three pairs, each script undone by the other.
pub const NINJA_SCRIPTS: [SimScript; 6] = [
    SimScript {
        id: 101,
        name: "Disable SMBv1",
        description: "Turns off the SMB 1.0 protocol that worms spread through",
        effect: ("smb1", false),
    },
    SimScript {
        id: 102,
        name: "Enable SMBv1",
        description: "Turns the SMB 1.0 protocol back on for legacy devices",
        effect: ("smb1", true),
    },
    SimScript {
        id: 103,
        name: "Block USB mass storage",
        description: "Stops USB drives from mounting",
        effect: ("usb_storage", false),
    },
    SimScript {
        id: 104,
        name: "Allow USB mass storage",
        description: "Lets USB drives mount again",
        effect: ("usb_storage", true),
    },
    SimScript {
        id: 105,
        name: "Stop and disable the Print Spooler",
        description: "Stops the Print Spooler service and keeps it from starting",
        effect: ("print_spooler", false),
    },
    SimScript {
        id: 106,
        name: "Enable and start the Print Spooler",
        description: "Sets the Print Spooler service to start automatically and starts it",
        effect: ("print_spooler", true),
    },
];

/// The customer's NinjaOne organization id: a number, as NinjaOne's are.
pub(crate) fn ninja_organization_id(ids: Ids) -> u32 {
    u32::try_from(100 + ids.pick("ninja-organization", 900)).expect("below 1000")
}

/// The NinjaOne agent of the `n`th machine, with the flaws an MSP finds in real fleets: the
/// customer service lead's laptop's agent stopped reporting a month ago, and the server misses
/// a critical patch for six weeks after an installation failed.
pub(crate) fn ninja_agent(
    ids: Ids,
    organization: u32,
    n: usize,
    machine: &SimMachine,
    now: DateTime<Utc>,
) -> SimNinjaAgent {
    let server = machine.machine_tags.iter().any(|t| t == "Server");
    let patch = |label: &str, kb: &str, severity: &str, kind: &str, status: &str, days: i64| {
        let reported = now - Duration::days(days);
        SimPatch {
            id: ids.guid(&format!("patch-{n}-{label}")),
            name: format!(
                "{label} for {} (KB{kb})",
                if server {
                    "Microsoft server operating system version 21H2 for x64-based Systems"
                } else {
                    "Windows 11 for x64-based Systems"
                }
            ),
            kb_number: format!("KB{kb}"),
            severity: severity.to_owned(),
            patch_type: kind.to_owned(),
            status: status.to_owned(),
            reported,
            installed_at: (status == "INSTALLED").then(|| reported + Duration::days(2)),
        }
    };
    let mut patches = vec![patch(
        "2026-10 Cumulative Update",
        "5044284",
        "IMPORTANT",
        "UPDATE_ROLLUPS",
        "INSTALLED",
        if server { 52 } else { 24 },
    )];
    if server {
        patches.push(patch(
            "2026-10 Security Update",
            "5044281",
            "CRITICAL",
            "SECURITY_UPDATES",
            "MANUAL",
            45,
        ));
        patches.push(patch(
            "2026-10 Servicing Stack Update",
            "5044099",
            "IMPORTANT",
            "SECURITY_UPDATES",
            "FAILED",
            40,
        ));
        patches.push(patch(
            "2026-11 Cumulative Update",
            "5046616",
            "IMPORTANT",
            "UPDATE_ROLLUPS",
            "APPROVED",
            12,
        ));
        patches.push(patch(
            "Feature update to Windows Server 2025",
            "5046700",
            "OPTIONAL",
            "FEATURE_PACKS",
            "REJECTED",
            30,
        ));
    } else if n.is_multiple_of(3) {
        patches.push(patch(
            "2026-11 Cumulative Update",
            "5046617",
            "IMPORTANT",
            "UPDATE_ROLLUPS",
            "APPROVED",
            5,
        ));
    }
    SimNinjaAgent {
        device_id: u64::from(organization) * 1000 + n as u64 + 1,
        silent_since: (n == 7).then(|| now - Duration::days(31)),
        check_in_minutes: 1 + (n % 4) as i64,
        patches,
        settings: std::collections::BTreeMap::new(),
    }
}
