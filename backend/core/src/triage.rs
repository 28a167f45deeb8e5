//! Triage: newly stored events become findings and incidents, entity risk is recomputed, and
//! the playbook proposes actions, each decided by the authority policy — the detection,
//! incidents, risk and decisions stages run in that order over one batch of events.
//!
//! Runs as Steward (a worker job) in one transaction per batch of events, so a batch is either
//! fully triaged or not at all; running it again finds what it stored and adds nothing.

use std::collections::{BTreeSet, HashMap};

use steward_domain::{ActionId, IncidentId, incidents::EntityKey};

use crate::{
    decisions::{self, policy::Policies},
    detection, incidents, risk,
    storage::{TenantWork, WorkError},
};

/// What one triage run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriageOutcome {
    pub findings: usize,
    pub incidents_opened: usize,
    pub risk_changed: usize,
    /// Actions proposed for the first time.
    pub actions: Vec<ActionId>,
}

/// Triages stored events of the work's tenant.
///
/// # Errors
/// When the database cannot be read or written.
pub async fn triage(
    work: &TenantWork<'_>,
    policies: &Policies,
    event_ids: &[uuid::Uuid],
) -> Result<TriageOutcome, WorkError> {
    // First, before any audit entry: this run may decide actions (see `serialize_decisions`).
    work.serialize_decisions().await?;
    let policy = &policies.for_tenant(work.policy_override().await?.as_ref());
    let mut outcome = TriageOutcome::default();
    let mut recorded = Vec::new();
    // Logs can name a computer no tool has reported yet: what the rules find on it in this
    // batch is one incident, not one per rule.
    let mut unknown_hosts: HashMap<String, IncidentId> = HashMap::new();
    for (detected, entities) in detection::detect(work, event_ids).await? {
        let host = entities
            .is_empty()
            .then(|| detected.details["host"].as_str())
            .flatten()
            .map(str::to_lowercase);
        let stored = match host.as_ref().and_then(|h| unknown_hosts.get(h)) {
            Some(incident) => {
                incidents::record_finding_into(work, &detected, &entities, *incident).await?
            }
            None => incidents::record_finding(work, &detected, &entities).await?,
        };
        if let Some(stored) = stored {
            if let Some(host) = host {
                unknown_hosts.entry(host).or_insert(stored.incident_id);
            }
            outcome.findings += 1;
            outcome.incidents_opened += usize::from(stored.new_incident);
            recorded.push((detected, entities, stored));
        }
    }
    let touched: BTreeSet<EntityKey> = recorded
        .iter()
        .flat_map(|(_, entities, _)| entities.iter().copied())
        .collect();
    for entity in touched {
        if risk::refresh_risk(work, entity).await?.is_some() {
            outcome.risk_changed += 1;
        }
    }
    for (detected, entities, stored) in &recorded {
        outcome.actions.extend(
            decisions::propose_for_finding(work, policies, policy, detected, entities, stored)
                .await?,
        );
    }
    Ok(outcome)
}
