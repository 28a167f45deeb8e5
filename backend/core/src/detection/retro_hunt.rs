//! Retro-hunt: a rule — new, changed or turned on — run over the events a tenant stored in a
//! past window. The events it matches are triaged again, which records the rule's findings
//! like any others (a finding of the same rule on the same event is never stored twice, so
//! hunting again adds nothing).

use serde::Serialize;
use serde_json::json;
use steward_domain::{access::Permission, observations::OcsfClass};

use super::content;
use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
    storage::{TenantWork, WorkError},
};

/// The longest window a retro-hunt covers: what vendors keep of their telemetry (Defender's
/// advanced hunting keeps 30 days).
pub const MAX_DAYS: u32 = 30;

/// The most events one retro-hunt reads; a larger window must be hunted in parts.
pub const MAX_EVENTS: usize = 200_000;

/// Events triaged per job.
const BATCH: usize = 500;

/// What a retro-hunt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hunted {
    /// Events of the window the rule's logsources cover.
    pub scanned: usize,
    /// Events it matched, queued for triage.
    pub matched: usize,
}

/// Why a retro-hunt did not run.
#[derive(Debug, thiserror::Error)]
pub enum HuntError {
    #[error("a retro-hunt covers 1 to {MAX_DAYS} days")]
    Window,
    #[error("the rule is off in this tenant; turn it on first")]
    RuleOff,
    /// A correlation counts its rules' matches as events arrive, in order; hunting the rules
    /// it correlates finds their matches in the past.
    #[error(
        "a correlation is counted as events arrive and cannot be hunted backwards; hunt the \
         rules it correlates"
    )]
    Correlation,
    #[error("the window holds more than {MAX_EVENTS} events; hunt fewer days at a time")]
    TooManyEvents,
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl From<crate::storage::StorageError> for HuntError {
    fn from(error: crate::storage::StorageError) -> Self {
        HuntError::Work(error.into())
    }
}

/// Runs rule `rule_id` over the tenant's events of the last `days` days and queues what it
/// matched for triage, recording the hunt in the tenant's audit chain.
///
/// # Errors
/// [`HuntError`] saying why nothing ran.
pub async fn retro_hunt(
    work: &TenantWork<'_>,
    rule_id: &str,
    days: u32,
) -> Result<Hunted, HuntError> {
    work.require(Permission::ManageDetections)
        .map_err(WorkError::from)?;
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(HuntError::Window);
    }
    let rules = content::in_force(work).await?;
    if rules.is_correlation(rule_id) {
        return Err(HuntError::Correlation);
    }
    if !rules.enabled(rule_id) {
        return Err(HuntError::RuleOff);
    }
    let until = work.context().clock.now();
    let since = until - chrono::Duration::days(i64::from(days));
    let mut scanned = 0;
    let mut matched = Vec::new();
    for class in OcsfClass::ALL {
        let events = work.inventory().events_between(class, since, until).await?;
        scanned += events.len();
        if scanned > MAX_EVENTS {
            return Err(HuntError::TooManyEvents);
        }
        matched.extend(
            events
                .iter()
                .filter(|event| {
                    rules
                        .evaluate(event.class, &event.ocsf)
                        .iter()
                        .any(|found| found.rule_id == rule_id)
                })
                .map(|event| event.id),
        );
    }
    let tenant = work.tenant();
    for batch in matched.chunks(BATCH) {
        jobs::enqueue(
            work.context(),
            tenant.msp_id,
            &Job::Triage {
                tenant_id: tenant.id,
                event_ids: batch.to_vec(),
            },
        )
        .await?;
    }
    let hunted = Hunted {
        scanned,
        matched: matched.len(),
    };
    audit::append(
        work.context(),
        ChainRef::Tenant {
            msp_id: tenant.msp_id,
            tenant_id: tenant.id,
        },
        Change::new("detection_rule.retro_hunted", "detection_rule", &rule_id).after(&json!({
            "days": days,
            "since": since,
            "until": until,
            "scanned": hunted.scanned,
            "matched": hunted.matched,
        })),
    )
    .await?;
    Ok(hunted)
}
