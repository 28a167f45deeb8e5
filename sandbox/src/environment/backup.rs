//! Backups of the simulated customer's devices, as its backup tools (Veeam, Datto) report them.

use super::*;

/// A Veeam Agent on a machine, managed by the MSP's Veeam Service Provider Console, and its job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimBackup {
    pub agent_uid: Uuid,
    pub job_uid: Uuid,
    pub job_name: String,
    /// Since when every run fails; `None` while the nightly runs succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// When someone last started the job by hand.
    #[serde(default)]
    pub manual_run: Option<DateTime<Utc>>,
    /// Job reads a started run still shows as running for.
    #[serde(default)]
    pub running_reads: u32,
}

impl SimBackup {
    /// The newest restore point as of `now`: the latest successful run (last night's or one
    /// started by hand), or the last run before the failures began.
    #[must_use]
    pub fn latest_restore_point(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        if let Some(since) = self.failing_since {
            return since;
        }
        let nightly = now - Duration::hours(9);
        self.manual_run
            .filter(|_| self.running_reads == 0)
            .map_or(nightly, |manual| manual.max(nightly))
    }

    /// The latest run as of `now`: last night's at 1 a.m., or one started by hand since.
    #[must_use]
    pub fn last_run(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let nightly = now - Duration::hours(9);
        self.manual_run
            .map_or(nightly, |manual| manual.max(nightly))
    }
}
