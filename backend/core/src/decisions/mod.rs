//! The decisions stage: what the authority policy sees about an action (its input), asking it
//! (for real, or as a what-if that keeps nothing), and proposing actions — Steward's own, from
//! its playbook for each finding ([`playbook`]), and people's ([`proposals`]).
//!
//! The Rego policies themselves, their loading, limits and tests, are in [`policy`].

mod playbook;
pub mod policy;
pub mod proposals;

use steward_domain::{
    ActionId,
    actions::{ActionParameters, ActionTarget, ActionType, Proposer, ProposerKind},
    guardrails::AutomationLimits,
    incidents::EntityKey,
};

pub use self::playbook::propose_for_finding;
use self::policy::{
    AuthorityPolicy, Policies, constrain,
    input::{
        ActionInput, AuthorityInput, ProposerInput, RiskFactorInput, RiskInput, TargetInput,
        TenantInput,
    },
};
use crate::{
    incidents::Recorded,
    inventory::profile::{Profile, profile},
    storage::{IntegrationDirectory, Proposal, StorageError, TenantWork, WorkError},
};

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
    pub decided: policy::Decided,
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
pub(crate) async fn propose(
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
