//! What the simulated customer's RMM tools (NinjaOne, Tactical RMM) both see of a machine: its
//! operating-system patches, and the library scripts actions run. Each tool's own records are
//! in its module: [`crate::ninjaone`] (agents, activities, its library) and [`crate::tactical`]
//! (script runs, its library).

use super::*;

/// A script of an RMM tool's automation library, and the device setting it switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimScript {
    pub id: u32,
    pub name: &'static str,
    pub description: &'static str,
    /// The device setting it switches, and to what.
    pub effect: (&'static str, bool),
}

impl SimScript {
    /// The script's uid, as NinjaOne gives every library item one.
    #[must_use]
    pub fn uid(self) -> Uuid {
        Uuid::from_u128(0x5c51_0000_0000_4000_8000_0000_0000_0000 | u128::from(self.id))
    }
}

/// One operating-system patch of a device as NinjaOne tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimPatch {
    pub id: String,
    pub name: String,
    pub kb_number: String,
    /// `CRITICAL`, `IMPORTANT`, `MODERATE` or `OPTIONAL`.
    pub severity: String,
    /// `SECURITY_UPDATES`, `UPDATE_ROLLUPS`, …
    pub patch_type: String,
    /// `MANUAL` (awaiting approval), `APPROVED`, `REJECTED`, `FAILED` (installation failed,
    /// still missing) or `INSTALLED`.
    pub status: String,
    /// When the agent first reported it.
    pub reported: DateTime<Utc>,
    pub installed_at: Option<DateTime<Utc>>,
}

impl SimPatch {
    /// Whether the patch is still missing: not installed (a failed installation leaves it
    /// missing).
    #[must_use]
    pub fn is_missing(&self) -> bool {
        self.status != "INSTALLED"
    }

    /// Whether an installation was attempted.
    #[must_use]
    pub fn was_installed(&self) -> bool {
        matches!(self.status.as_str(), "INSTALLED" | "FAILED")
    }
}
