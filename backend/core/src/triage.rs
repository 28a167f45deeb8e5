//! Triage: newly stored events become findings and incidents, entity risk is recomputed, and
//! the response playbook proposes actions, each decided by the authority policy.
//!
//! Runs as Steward (a worker job) in one transaction per batch of events, so a batch is either
//! fully triaged or not at all; running it again finds what it stored and adds nothing.

use std::collections::{BTreeSet, HashMap};

use steward_domain::{
    ActionId,
    actions::{ActionParameters, ActionTarget, ActionType, Proposer, ProposerKind, TargetKind},
    graph,
    guardrails::AutomationLimits,
    incidents::{EntityKey, FindingSource},
    inventory::StoredEvent,
    observations::OcsfClass,
    risk::{RiskFactor, RiskScore},
};

use crate::{
    detection::{self, Detected, IMPOSSIBLE_TRAVEL, IMPOSSIBLE_TRAVEL_WINDOW},
    incidents::{self, Recorded},
    policy::{
        AuthorityPolicy, Policies, constrain,
        input::{
            ActionInput, AuthorityInput, ProposerInput, RiskFactorInput, RiskInput, TargetInput,
            TenantInput,
        },
    },
    risk::{self, FindingInput},
    storage::{IntegrationDirectory, Proposal, StorageError, TenantWork, WorkError},
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
    let inventory = work.inventory();
    let events = inventory.events_by_id(event_ids).await?;
    let mut detections: Vec<Detected> = events.iter().filter_map(detection::vendor_alert).collect();
    let mut known: HashMap<uuid::Uuid, StoredEvent> =
        events.iter().map(|e| (e.id, e.clone())).collect();
    let sign_ins: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.class == OcsfClass::Authentication)
        .cloned()
        .collect();
    if let (Some(first), Some(last)) = (
        sign_ins.iter().map(|e| e.time).min(),
        sign_ins.iter().map(|e| e.time).max(),
    ) {
        let history = inventory
            .events_between(
                OcsfClass::Authentication,
                first - IMPOSSIBLE_TRAVEL_WINDOW,
                last + IMPOSSIBLE_TRAVEL_WINDOW,
            )
            .await?;
        detections.extend(detection::impossible_travel(&sign_ins, &history));
        known.extend(history.into_iter().map(|e| (e.id, e)));
    }

    let mut outcome = TriageOutcome::default();
    let mut recorded: Vec<(Detected, Vec<EntityKey>, Recorded)> = Vec::new();
    for detected in detections {
        let entities = entities_of(work, &detected, &known).await?;
        if let Some(stored) = incidents::record_finding(work, &detected, &entities).await? {
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
        if refresh_risk(work, entity).await?.is_some() {
            outcome.risk_changed += 1;
        }
    }
    for (detected, entities, stored) in &recorded {
        for (kind, entity, reason) in playbook(detected, entities) {
            let kinds = if kind == ActionType::DisableUser {
                lockouts(work, entity).await?
            } else {
                vec![kind]
            };
            for kind in kinds {
                let reason = reason.clone();
                if let Some(id) =
                    propose(work, policies, policy, stored, kind, entity, reason).await?
                {
                    outcome.actions.push(id);
                }
            }
        }
    }
    Ok(outcome)
}

/// The inventory entities the detection's events name.
async fn entities_of(
    work: &TenantWork<'_>,
    detected: &Detected,
    known: &HashMap<uuid::Uuid, StoredEvent>,
) -> Result<Vec<EntityKey>, StorageError> {
    let mut entities = Vec::new();
    for event in detected.events.iter().filter_map(|id| known.get(id)) {
        for reference in &event.entities {
            if let Some(key) = work
                .inventory()
                .resolve(event.integration_id, reference)
                .await?
                && !entities.contains(&key)
            {
                entities.push(key);
            }
        }
    }
    Ok(entities)
}

/// What to do about a finding: contain the device of a serious alert; lock out the identity
/// of a serious alert or an impossible-travel sign-in.
fn playbook(detected: &Detected, entities: &[EntityKey]) -> Vec<(ActionType, EntityKey, String)> {
    let serious = detected.severity_id >= 4;
    let travel = detected.source == FindingSource::Detection && detected.rule == IMPOSSIBLE_TRAVEL;
    let mut plan = Vec::new();
    for entity in entities {
        match entity.kind {
            TargetKind::Device if serious => plan.push((
                ActionType::IsolateDevice,
                *entity,
                format!("Contain the device: {}", detected.title),
            )),
            TargetKind::Identity if serious || travel => {
                let why = format!("Lock out the account: {}", detected.title);
                plan.push((ActionType::DisableUser, *entity, why.clone()));
                plan.push((
                    ActionType::RevokeSessions,
                    *entity,
                    format!("End the attacker's existing sessions: {}", detected.title),
                ));
            }
            TargetKind::Device | TargetKind::Identity => {}
        }
    }
    plan
}

/// How to lock the account out at every identity provider that reported it: disable it in
/// Microsoft Entra ID, suspend it in Okta. Disable when none can (the action then fails, saying
/// that no integration performs it).
async fn lockouts(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Vec<ActionType>, StorageError> {
    let mut kinds = Vec::new();
    if let Some(profile) = profile(work, entity).await? {
        for kind in [ActionType::DisableUser, ActionType::SuspendUser] {
            if performer(work, kind, &profile, None).await?.is_some() {
                kinds.push(kind);
            }
        }
    }
    if kinds.is_empty() {
        kinds.push(ActionType::DisableUser);
    }
    Ok(kinds)
}

/// A user's risk at or above this carries over to the devices they are the primary user of.
pub const PRIMARY_USER_RISK: u8 = 40;
/// What a risky primary user adds to a device's risk.
const PRIMARY_USER_POINTS: u8 = 20;

/// Recomputes an entity's risk and stores it if it changed; returns the new score then. A
/// changed identity's devices (those it is the primary user of) are recomputed too, since
/// their risk follows it.
///
/// # Errors
/// When the database cannot be read or written.
pub async fn refresh_risk(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<RiskScore>, WorkError> {
    let refreshed = refresh_one(work, entity).await?;
    if refreshed.is_some() && entity.kind == TargetKind::Identity {
        for device in devices_of_primary_user(work, entity.id).await? {
            refresh_one(
                work,
                EntityKey {
                    kind: TargetKind::Device,
                    id: device,
                },
            )
            .await?;
        }
    }
    Ok(refreshed)
}

/// The devices `identity` is the primary user of (who signs in from them most).
async fn devices_of_primary_user(
    work: &TenantWork<'_>,
    identity: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, StorageError> {
    let sightings = work
        .inventory()
        .sign_in_sightings(work.context().now() - graph::SIGHTING_WINDOW)
        .await?;
    if sightings.is_empty() {
        return Ok(Vec::new());
    }
    let devices = work.inventory().devices().await?;
    let identities = work.inventory().identities().await?;
    Ok(graph::primary_users(&devices, &identities, &sightings)
        .into_iter()
        .filter(|(_, (user, _))| *user == identity)
        .map(|(device, _)| device)
        .collect())
}

/// The factor a device's risky primary user adds to it, if its primary user is at risk.
async fn primary_user_factor(
    work: &TenantWork<'_>,
    device: uuid::Uuid,
) -> Result<Option<RiskFactor>, StorageError> {
    // Usually nobody is at risk: then the sign-ins are not read at all.
    let risky: Vec<RiskScore> = work
        .risk()
        .current()
        .await?
        .into_iter()
        .filter(|r| r.entity.kind == TargetKind::Identity && r.score >= PRIMARY_USER_RISK)
        .collect();
    if risky.is_empty() {
        return Ok(None);
    }
    let Some(found) = work.inventory().device(device).await? else {
        return Ok(None);
    };
    let sightings = work
        .inventory()
        .sign_in_sightings(work.context().now() - graph::SIGHTING_WINDOW)
        .await?;
    if sightings.is_empty() {
        return Ok(None);
    }
    let identities = work.inventory().identities().await?;
    let Some((user, count)) =
        graph::primary_users(std::slice::from_ref(&found), &identities, &sightings).remove(&device)
    else {
        return Ok(None);
    };
    let Some(risk) = risky.into_iter().find(|r| r.entity.id == user) else {
        return Ok(None);
    };
    Ok(Some(RiskFactor {
        name: "primary-user-at-risk".to_owned(),
        contribution: PRIMARY_USER_POINTS,
        detail: format!(
            "Its primary user {} ({count} sign-in(s) from it) is at risk ({}/100)",
            risk.entity_name, risk.score
        ),
        evidence: Some(graph_link(
            work.tenant().id,
            EntityKey {
                kind: TargetKind::Identity,
                id: user,
            },
        )),
    }))
}

/// The entity with its neighbourhood in the tenant's context graph: what it is, what it holds,
/// what it connects to.
fn graph_link(tenant_id: steward_domain::TenantId, entity: EntityKey) -> String {
    let node = match entity.kind {
        TargetKind::Device => graph::device_node(entity.id),
        TargetKind::Identity => graph::identity_node(entity.id),
    };
    format!("/api/v1/tenants/{tenant_id}/graph?center={node}")
}

async fn refresh_one(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<RiskScore>, WorkError> {
    let tenant = work.tenant();
    let findings = work.incidents().findings_about(entity).await?;
    let inputs: Vec<FindingInput<'_>> = findings
        .iter()
        .map(|(finding, status)| FindingInput {
            source: finding.source,
            rule: &finding.rule,
            title: &finding.title,
            severity_id: finding.severity_id,
            incident_id: finding.incident_id.as_uuid(),
            incident_status: *status,
        })
        .collect();
    let Some(profile) = profile(work, entity).await? else {
        return Ok(None);
    };
    let link = graph_link(tenant.id, entity);
    let mut factors = risk::factors(
        tenant.id,
        &inputs,
        profile.criticality,
        &profile.admin_roles,
        &link,
    );
    if entity.kind == TargetKind::Device
        && let Some(factor) = primary_user_factor(work, entity.id).await?
    {
        factors.push(factor);
    }
    let score = RiskScore {
        tenant_id: tenant.id,
        entity,
        entity_name: profile.name,
        score: RiskScore::total(&factors),
        factors,
        computed_at: work.context().now(),
    };
    Ok(work.record_risk(&score).await?.then_some(score))
}

/// What the policy and the risk engine need to know about an entity.
pub(crate) struct Profile {
    pub(crate) name: String,
    criticality: steward_domain::actions::Criticality,
    admin_roles: Vec<String>,
    tags: Vec<String>,
    sources: Vec<steward_domain::IntegrationId>,
}

async fn profile(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<Profile>, StorageError> {
    Ok(match entity.kind {
        TargetKind::Device => work
            .inventory()
            .device(entity.id)
            .await?
            .map(|device| Profile {
                criticality: risk::device_criticality(&device),
                name: device.hostname,
                admin_roles: Vec::new(),
                tags: device.tags,
                sources: device.sources.iter().map(|s| s.integration_id).collect(),
            }),
        TargetKind::Identity => {
            work.inventory()
                .identity(entity.id)
                .await?
                .map(|identity| Profile {
                    criticality: risk::identity_criticality(&identity),
                    name: identity.user_principal_name,
                    tags: identity.department.into_iter().collect(),
                    sources: identity.sources.iter().map(|s| s.integration_id).collect(),
                    admin_roles: identity.admin_roles,
                })
        }
    })
}

/// What the policy sees for an action on an entity proposed for `target_count` targets at
/// once, and the entity's profile; `None` when the entity is not in the tenant's inventory.
pub(crate) async fn authority_input(
    work: &TenantWork<'_>,
    limits: AutomationLimits,
    kind: ActionType,
    entity: EntityKey,
    proposer: ProposerKind,
    target_count: u32,
    parameters: &ActionParameters,
) -> Result<Option<(AuthorityInput, Profile)>, StorageError> {
    let Some(profile) = profile(work, entity).await? else {
        return Ok(None);
    };
    let risk = work.risk().of(entity).await?;
    let (maintenance, guardrails) = work
        .guardrails()
        .policy_input(work.context().now(), limits, kind)
        .await?;
    let input = AuthorityInput {
        action: ActionInput {
            kind,
            reversible: kind.is_reversible(),
            target_count,
            parameters: parameters.clone(),
        },
        target: TargetInput {
            kind: entity.kind,
            name: profile.name.clone(),
            criticality: profile.criticality,
            privileged: !profile.admin_roles.is_empty(),
            tags: profile.tags.clone(),
        },
        risk: RiskInput {
            score: risk.as_ref().map_or(0, |r| r.score),
            factors: risk
                .as_ref()
                .map(|r| {
                    r.factors
                        .iter()
                        .map(|f| RiskFactorInput {
                            name: f.name.clone(),
                            contribution: f.contribution,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
        tenant: TenantInput {
            automation_level: work.tenant().automation_level,
            maintenance,
        },
        proposer: ProposerInput { kind: proposer },
        guardrails,
    };
    Ok(Some((input, profile)))
}

/// What the authority policy would decide for a hypothetical action.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub input: AuthorityInput,
    pub decided: crate::policy::Decided,
    /// Whether the tenant's own policy decided (else the deployment's).
    pub tenant_policy: bool,
}

/// Asks the policy that governs the tenant about an action on an entity, as `proposer` would
/// propose it in a request of `target_count` targets, without recording or executing anything.
/// `None` for an entity not in the tenant's inventory.
///
/// # Errors
/// When the database cannot be read.
pub async fn simulate(
    work: &TenantWork<'_>,
    policies: &Policies,
    kind: ActionType,
    entity: EntityKey,
    proposer: ProposerKind,
    target_count: u32,
    parameters: &ActionParameters,
) -> Result<Option<Simulation>, WorkError> {
    let own = work.policy_override().await?;
    let Some((input, _)) = authority_input(
        work,
        policies.limits(),
        kind,
        entity,
        proposer,
        target_count,
        parameters,
    )
    .await?
    else {
        return Ok(None);
    };
    let decided = constrain(
        policies.for_tenant(own.as_ref()).decide(&input),
        &input.guardrails,
    );
    Ok(Some(Simulation {
        input,
        decided,
        tenant_policy: own.is_some(),
    }))
}

/// The tenant's integration that runs `kind` on the entity: one whose vendor performs the
/// action (`vendor`'s, where the proposer named one) and that reported the entity, where the
/// action needs that (a ticket does not).
pub(crate) async fn performer(
    work: &TenantWork<'_>,
    kind: ActionType,
    profile: &Profile,
    vendor: Option<steward_domain::observations::Vendor>,
) -> Result<Option<steward_domain::IntegrationId>, StorageError> {
    let tenant = work.tenant();
    let integrations =
        IntegrationDirectory::new(work.context().connection(), tenant.msp_id, tenant.id)
            .list()
            .await?;
    Ok(integrations
        .iter()
        .find(|i| {
            i.vendor.performs(kind)
                && vendor.is_none_or(|v| v == i.vendor)
                && (!kind.needs_target_at_vendor() || profile.sources.contains(&i.id))
        })
        .map(|i| i.id))
}

/// The reason to record when no integration can run the action (it will fail, saying so).
pub(crate) fn unperformed(
    kind: ActionType,
    profile: &Profile,
    integration_id: Option<steward_domain::IntegrationId>,
) -> Option<String> {
    integration_id.is_none().then(|| {
        format!(
            "No connected integration of this tenant can {kind} for {}",
            profile.name
        )
    })
}

/// Builds the policy input for an action on an entity, asks the policy, records the action.
async fn propose(
    work: &TenantWork<'_>,
    policies: &Policies,
    policy: &AuthorityPolicy,
    recorded: &Recorded,
    kind: ActionType,
    entity: EntityKey,
    reason: String,
) -> Result<Option<ActionId>, WorkError> {
    let parameters = ActionParameters::default();
    let Some((input, profile)) = authority_input(
        work,
        policies.limits(),
        kind,
        entity,
        ProposerKind::Worker,
        1,
        &parameters,
    )
    .await?
    else {
        return Ok(None);
    };
    let integration_id = performer(work, kind, &profile, parameters.vendor).await?;
    let decided = constrain(policy.decide(&input), &input.guardrails);
    let mut reasons = vec![reason];
    reasons.extend(unperformed(kind, &profile, integration_id));
    let proposal = Proposal {
        incident_id: Some(recorded.incident_id),
        kind,
        target: ActionTarget {
            kind: entity.kind,
            id: entity.id,
            name: profile.name,
        },
        parameters,
        integration_id,
        reasons,
        proposer: Proposer {
            kind: ProposerKind::Worker,
            user_id: None,
        },
        dedup_key: format!("incident:{}:{kind}:{}", recorded.incident_id, entity.id),
        batch: None,
    };
    let (action, created) = work
        .propose(&proposal, &input, &decided, policies.approval_timing())
        .await?;
    Ok(created.then_some(action.id))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn finding(source: FindingSource, rule: &str, severity_id: u8) -> Detected {
        Detected {
            source,
            rule: rule.to_owned(),
            dedup_key: "key".to_owned(),
            title: "Suspicious activity".to_owned(),
            severity_id,
            time: chrono::Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
            events: Vec::new(),
            details: serde_json::Value::Null,
        }
    }

    fn entity(kind: TargetKind, n: u128) -> EntityKey {
        EntityKey {
            kind,
            id: uuid::Uuid::from_u128(n),
        }
    }

    fn planned(plan: &[(ActionType, EntityKey, String)]) -> Vec<(ActionType, EntityKey)> {
        plan.iter()
            .map(|(kind, target, _)| (*kind, *target))
            .collect()
    }

    #[test]
    fn a_serious_alert_contains_its_device_and_locks_out_its_identity() {
        let laptop = entity(TargetKind::Device, 1);
        let person = entity(TargetKind::Identity, 2);
        let alert = finding(FindingSource::VendorAlert, "vendor-alert:malware", 4);
        let plan = playbook(&alert, &[laptop, person]);
        assert_eq!(
            planned(&plan),
            [
                (ActionType::IsolateDevice, laptop),
                (ActionType::DisableUser, person),
                (ActionType::RevokeSessions, person),
            ]
        );
        assert!(
            plan.iter()
                .all(|(_, _, why)| why.ends_with("Suspicious activity")),
            "each proposal says which finding it answers: {plan:?}"
        );
    }

    #[test]
    fn a_minor_alert_proposes_nothing() {
        let alert = finding(FindingSource::VendorAlert, "vendor-alert:adware", 3);
        let targets = [
            entity(TargetKind::Device, 1),
            entity(TargetKind::Identity, 2),
        ];
        assert!(playbook(&alert, &targets).is_empty());
    }

    #[test]
    fn impossible_travel_locks_out_the_identity_whatever_its_severity_and_spares_devices() {
        let person = entity(TargetKind::Identity, 2);
        let laptop = entity(TargetKind::Device, 1);
        let travel = finding(FindingSource::Detection, IMPOSSIBLE_TRAVEL, 2);
        assert_eq!(
            planned(&playbook(&travel, &[laptop, person])),
            [
                (ActionType::DisableUser, person),
                (ActionType::RevokeSessions, person),
            ]
        );
        // The same rule name from a vendor is the vendor's alert, judged by its severity.
        let vendor = finding(FindingSource::VendorAlert, IMPOSSIBLE_TRAVEL, 2);
        assert!(playbook(&vendor, &[person]).is_empty());
    }
}
