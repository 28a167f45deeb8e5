//! The actions stage: an action's life after its decision. Executing at the vendor, verifying
//! that it took effect and rolling it back are the workers' (`workers/src/executor.rs`, which
//! calls the vendors); here are the rules every move follows, whoever makes it: a verified
//! containment contains its incident, a canary settles its batch ([`batches`]), and only a
//! verified, reversible action can be rolled back.

pub(crate) mod batches;

use steward_domain::{
    ActionId,
    access::Permission,
    actions::{Action, ActionStatus, ActionType},
};

use crate::storage::{
    ActionRequestError, StorageError, TenantWork, WorkError,
    actions::{FollowUp, Update, enqueue, lock_batch_of, record_transition},
    incidents::mark_contained,
};

/// Moves an action from `from` to the update's status if it is still in `from` (Steward's
/// workers only), with what the move means for its incident and its batch; returns whether it
/// moved.
///
/// # Errors
/// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
pub async fn transition(
    work: &TenantWork<'_>,
    id: ActionId,
    from: ActionStatus,
    update: Update<'_>,
) -> Result<bool, WorkError> {
    work.require_steward()?;
    Ok(moved(work, id, from, update).await?)
}

/// Whether a verified action of this kind contains the incident it answers.
fn contains(kind: ActionType) -> bool {
    matches!(
        kind,
        ActionType::IsolateDevice | ActionType::DisableUser | ActionType::SuspendUser
    )
}

/// The move of [`transition`], for whoever may make it.
async fn moved(
    work: &TenantWork<'_>,
    id: ActionId,
    from: ActionStatus,
    update: Update<'_>,
) -> Result<bool, StorageError> {
    let (ctx, msp_id, tenant_id) = (work.context(), work.tenant().msp_id, work.tenant().id);
    let to = update.status;
    // Before the audit entry: the batch lock is always taken before the chain's lock.
    let batch = if batches::may_settle(to) {
        lock_batch_of(ctx, msp_id, tenant_id, id).await?
    } else {
        None
    };
    if !record_transition(ctx, msp_id, tenant_id, id, from, update).await? {
        return Ok(false);
    }
    if to == ActionStatus::Verified
        && let Some(action) = work.actions().get(id).await?
        && let Some(incident_id) = action.incident_id
        && contains(action.kind)
    {
        mark_contained(ctx, msp_id, tenant_id, incident_id).await?;
    }
    batches::settle(ctx, msp_id, tenant_id, id, to, batch).await?;
    Ok(true)
}

/// Asks for a verified, reversible action to be rolled back.
///
/// # Errors
/// [`WorkError::Forbidden`] without [`Permission::ProposeActions`]; [`WorkError::Action`]
/// for an irreversible action or one that is not verified.
pub async fn request_rollback(work: &TenantWork<'_>, id: ActionId) -> Result<Action, WorkError> {
    work.require(Permission::ProposeActions)?;
    let before = work
        .actions()
        .get(id)
        .await?
        .ok_or(ActionRequestError::NotFound(id))?;
    if !before.reversible {
        return Err(
            ActionRequestError::Irreversible(before.kind, before.kind.rollback_plan()).into(),
        );
    }
    let asked = Update {
        detail: Some("rollback requested"),
        ..Update::to(ActionStatus::RollingBack)
    };
    if before.status != ActionStatus::Verified
        || !moved(work, id, ActionStatus::Verified, asked).await?
    {
        return Err(ActionRequestError::NotRollbackable(before.status).into());
    }
    let after = work
        .actions()
        .get(id)
        .await?
        .ok_or(ActionRequestError::NotFound(id))?;
    enqueue(
        work.context(),
        work.tenant().msp_id,
        &after,
        FollowUp::Advance,
    )
    .await?;
    Ok(after)
}
