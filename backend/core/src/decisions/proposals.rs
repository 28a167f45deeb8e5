//! Actions people ask for: one action type for one or more targets of a tenant's inventory.
//!
//! Each target becomes an action decided by the authority policy on its own, with the number of
//! targets as the blast radius the policy sees (`input.action.target_count`), so the policy can
//! ask for approval or refuse above a size. Several targets form a batch: the first target the
//! policy does not deny is the canary, and the others run only once the canary is verified (see
//! [`crate::storage`]'s batch settlement and the executor's gate).

use steward_domain::{
    IncidentId,
    access::Permission,
    actions::{
        ActionBatch, ActionParameters, ActionTarget, ActionType, BatchMembership,
        MAX_BATCH_TARGETS, Proposer, ProposerKind,
    },
    incidents::EntityKey,
};

use super::{
    authority_input, performer,
    policy::{Policies, constrain},
    unperformed,
};
use crate::storage::{Proposal, StorageError, TenantWork, WorkError, new_id};

/// The longest reason a proposer may give.
pub const MAX_REASON_CHARS: usize = 2_000;

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;

/// What someone asks Steward to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub kind: ActionType,
    /// What the type needs besides its targets (the group of a group action).
    pub parameters: ActionParameters,
    /// Devices or identities (as the action type needs) of the tenant's inventory, in the order
    /// to run them: the first the policy does not deny is the canary.
    pub targets: Vec<uuid::Uuid>,
    /// Why, for the approvers and the audit chain.
    pub reason: String,
    /// The incident the action responds to.
    pub incident_id: Option<IncidentId>,
    /// The same key from the same person returns the batch recorded the first time instead of
    /// proposing again.
    pub idempotency_key: Option<String>,
    pub proposer: ProposerKind,
}

/// Why a request was refused; nothing was recorded.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("name between 1 and {MAX_BATCH_TARGETS} targets; {0} were given")]
    TargetCount(usize),
    #[error("target {0} is named more than once")]
    DuplicateTarget(uuid::Uuid),
    #[error("no {kinds} {id} in this tenant's inventory ({action} acts on a {kinds})", kinds = kinds_named(*.action))]
    UnknownTarget { action: ActionType, id: uuid::Uuid },
    #[error("no incident {0} in this tenant")]
    UnknownIncident(IncidentId),
    #[error(
        "give a reason of 1 to {MAX_REASON_CHARS} characters, without control or bidirectional \
         control characters"
    )]
    Reason,
    #[error("invalid parameters: {0}")]
    Parameters(String),
    #[error("an idempotency key has 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters")]
    InvalidKey,
    #[error(
        "idempotency key {0:?} was already used for a different request (another action type or other targets)"
    )]
    KeyReused(String),
    #[error(transparent)]
    Work(#[from] WorkError),
}

/// "device", "identity" or "device or identity": what `action` is done to.
fn kinds_named(action: ActionType) -> String {
    action
        .target_kinds()
        .iter()
        .map(|k| match k {
            steward_domain::actions::TargetKind::Device => "device",
            steward_domain::actions::TargetKind::Identity => "identity",
        })
        .collect::<Vec<_>>()
        .join(" or ")
}

impl From<StorageError> for RequestError {
    fn from(err: StorageError) -> Self {
        Self::Work(WorkError::Storage(err))
    }
}

/// Records the requested action for every target, each with the policy's decision, as one
/// batch; returns the batch and whether it is new (`false` when the idempotency key replays an
/// earlier request).
///
/// # Errors
/// [`RequestError`] for a request that cannot be recorded as given, or when the caller may not
/// propose actions.
pub async fn request(
    work: &TenantWork<'_>,
    policies: &Policies,
    request: &ActionRequest,
) -> Result<(ActionBatch, bool), RequestError> {
    work.require(Permission::ProposeActions)
        .map_err(WorkError::from)?;
    validate(request)?;
    // Before the replay lookup, so a concurrent repeat of this request waits and then finds it.
    work.serialize_decisions().await?;
    let proposer = work
        .user_id()
        .map_or_else(|| "steward".to_owned(), |u| u.to_string());
    let batch_id = new_id(work.context().clock);
    // Members are keyed by the request and their place in it (the place before the key, so no
    // key can spell another's), and a replay with other targets finds the first request's
    // canary position and is refused.
    let member_key = |position: usize| match &request.idempotency_key {
        Some(key) => format!("request:{proposer}:{position}:{key}"),
        None => format!("batch:{batch_id}:{position}"),
    };
    if let Some(key) = &request.idempotency_key
        && let Some(earlier) = replay(work, request, key, &member_key(0)).await?
    {
        return Ok((earlier, false));
    }
    if let Some(incident_id) = request.incident_id
        && work.incidents().get(incident_id).await?.is_none()
    {
        return Err(RequestError::UnknownIncident(incident_id));
    }
    let policy = policies.for_tenant(work.policy_override().await?.as_ref());
    let size = u32::try_from(request.targets.len()).unwrap_or(u32::MAX);
    let kind = request.kind;
    for (position, target) in request.targets.iter().enumerate() {
        // A ticket is about a device or a person: the target is whichever the id names.
        let mut found = None;
        for entity_kind in kind.target_kinds() {
            let entity = EntityKey {
                kind: *entity_kind,
                id: *target,
            };
            if let Some(input) = authority_input(
                work,
                policies.limits(),
                kind,
                entity,
                request.proposer,
                size,
                &request.parameters,
            )
            .await?
            {
                found = Some((entity, input));
                break;
            }
        }
        let Some((entity, (input, profile))) = found else {
            return Err(RequestError::UnknownTarget {
                action: kind,
                id: *target,
            });
        };
        let integration_id = performer(work, kind, &profile, request.parameters.vendor).await?;
        let decided = constrain(policy.decide(&input), &input.guardrails);
        let mut reasons = vec![request.reason.trim().to_owned()];
        reasons.extend(unperformed(kind, &profile, integration_id));
        let proposal = Proposal {
            incident_id: request.incident_id,
            kind,
            target: ActionTarget {
                kind: entity.kind,
                id: entity.id,
                name: profile.name,
            },
            parameters: request.parameters.clone(),
            integration_id,
            reasons,
            proposer: Proposer {
                kind: request.proposer,
                user_id: work.user_id(),
            },
            dedup_key: member_key(position),
            batch: Some(BatchMembership {
                id: batch_id,
                position: u32::try_from(position).unwrap_or(u32::MAX),
                size,
            }),
        };
        let (_, created) = work
            .propose(&proposal, &input, &decided, policies.approval_timing())
            .await?;
        if !created {
            // The keys are unique per request and place, and the replay was looked up under
            // the lock: a clash means the stored actions are not what this code wrote.
            return Err(StorageError::corrupt("action batch", &"a member's key is taken").into());
        }
    }
    let batch = work
        .actions()
        .batch(batch_id)
        .await?
        .ok_or_else(|| StorageError::corrupt("action batch", &"vanished once recorded"))?;
    Ok((batch, true))
}

fn validate(request: &ActionRequest) -> Result<(), RequestError> {
    if request.targets.is_empty() || request.targets.len() > MAX_BATCH_TARGETS {
        return Err(RequestError::TargetCount(request.targets.len()));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = request.targets.iter().find(|t| !seen.insert(**t)) {
        return Err(RequestError::DuplicateTarget(*twice));
    }
    request
        .kind
        .check_parameters(&request.parameters)
        .map_err(RequestError::Parameters)?;
    steward_domain::text::free_text(&request.reason, MAX_REASON_CHARS)
        .ok()
        .filter(|reason| !reason.is_empty())
        .ok_or(RequestError::Reason)?;
    if let Some(key) = &request.idempotency_key
        && (key.is_empty()
            || key.len() > MAX_IDEMPOTENCY_KEY_CHARS
            || !key.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(RequestError::InvalidKey);
    }
    Ok(())
}

/// The batch an earlier request with the same key recorded, if there was one; an error when
/// that request asked for something else.
async fn replay(
    work: &TenantWork<'_>,
    request: &ActionRequest,
    key: &str,
    first_member_key: &str,
) -> Result<Option<ActionBatch>, RequestError> {
    let Some(batch_id) = work
        .actions()
        .by_dedup_key(first_member_key)
        .await?
        .and_then(|a| a.batch.map(|b| b.id))
    else {
        return Ok(None);
    };
    let earlier = work
        .actions()
        .batch(batch_id)
        .await?
        .ok_or_else(|| StorageError::corrupt("action batch", &"no members"))?;
    let targets: Vec<uuid::Uuid> = earlier.actions.iter().map(|a| a.target.id).collect();
    let parameters = earlier.actions.first().map(|a| &a.parameters);
    if earlier.kind != request.kind
        || targets != request.targets
        || parameters != Some(&request.parameters)
    {
        return Err(RequestError::KeyReused(key.to_owned()));
    }
    Ok(Some(earlier))
}
