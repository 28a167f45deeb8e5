//! Approval requests whose time is up: escalated to the next approvers, or expired (the action
//! rejected, never approved).

use serde_json::json;
use steward_domain::{
    ActionId, MspId, TenantId,
    actions::{ActionStatus, ApprovalTiming, ApproverSide},
    tenancy::Role,
};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    audit::{self, ChainRef, Change},
    storage::{
        Deadlines, StorageError, TenantWork, WorkError, WriteContext,
        actions::{FollowUp, Update, enqueue, lock_batch_of, set_status, to_action},
        entities::action,
        locks,
    },
};

/// Expires or escalates the approval request of action `id` when it is due (see [`settle`]'s
/// rules); for Steward's scheduler only.
///
/// # Errors
/// [`WorkError::Forbidden`] for anyone but Steward; [`WorkError::Storage`] when the database
/// fails.
pub async fn settle_due(
    work: &TenantWork<'_>,
    id: ActionId,
    timing: ApprovalTiming,
) -> Result<Option<Settled>, WorkError> {
    work.require_steward()?;
    let tenant = work.tenant();
    Ok(settle(work.context(), tenant.msp_id, tenant.id, id, timing).await?)
}

/// What happened to an approval request that was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It expired: the action is rejected.
    Expired,
    /// It went to the next approvers.
    Escalated,
}

/// Expires an unanswered approval request whose time is up (rejecting the action, never
/// approving it), or escalates one due to go to the next approvers. A request opened before
/// requests had deadlines expires `timing` after it was opened.
async fn settle(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
    timing: ApprovalTiming,
) -> Result<Option<Settled>, StorageError> {
    // In the decisions → batch → audit chain order triage and answers take (see `answer`).
    locks::take(ctx.txn, locks::Lock::Decisions(msp_id)).await?;
    let Some(row) = action::Entity::find()
        .filter(action::Column::MspId.eq(msp_id.as_uuid()))
        .filter(action::Column::TenantId.eq(tenant_id.as_uuid()))
        .filter(action::Column::Id.eq(id.as_uuid()))
        .one(ctx.txn)
        .await?
    else {
        return Ok(None);
    };
    let now = ctx.clock.now();
    if row.status != ActionStatus::AwaitingApproval.as_str() {
        return Ok(None);
    }
    // An expired canary settles its batch (see `crate::actions::batches`).
    let batch = match row.batch_id {
        Some(_) => lock_batch_of(ctx, msp_id, tenant_id, id).await?,
        None => None,
    };
    let chain = ChainRef::Tenant { msp_id, tenant_id };
    let expires_at = row
        .expires_at
        .unwrap_or_else(|| Deadlines::from(timing, row.created_at).expires_at);
    if expires_at <= now {
        let detail = "the approval request expired unanswered; the action did not run";
        let moved = set_status(
            ctx,
            msp_id,
            tenant_id,
            id,
            ActionStatus::AwaitingApproval,
            Update {
                expected_revision: Some(row.revision),
                detail: Some(detail),
                ..Update::to(ActionStatus::Rejected)
            },
        )
        .await?;
        if !moved {
            return Ok(None);
        }
        enqueue(
            ctx,
            msp_id,
            &to_action(row.clone())?,
            FollowUp::UpdateMessages,
        )
        .await?;
        audit::append(
            ctx,
            chain,
            Change::new("action.expired", "action", &id).after(&json!({
                "status": ActionStatus::Rejected,
                "expires_at": expires_at,
                "detail": detail,
            })),
        )
        .await?;
        crate::actions::batches::settle(ctx, msp_id, tenant_id, id, ActionStatus::Rejected, batch)
            .await?;
        return Ok(Some(Settled::Expired));
    }
    if row.escalate_at.is_some_and(|at| at <= now) {
        let level = row.escalation_level + 1;
        let moved = set_status(
            ctx,
            msp_id,
            tenant_id,
            id,
            ActionStatus::AwaitingApproval,
            Update {
                expected_revision: Some(row.revision),
                escalation: Some(level),
                ..Update::to(ActionStatus::AwaitingApproval)
            },
        )
        .await?;
        if !moved {
            return Ok(None);
        }
        let action = to_action(row)?;
        enqueue(ctx, msp_id, &action, FollowUp::RequestApproval).await?;
        let to = match action.decision.approving_side() {
            Some(ApproverSide::Customer) => Role::CustomerOwner,
            _ => Role::MspAdmin,
        };
        audit::append(
            ctx,
            chain,
            Change::new("action.escalated", "action", &id).after(&json!({
                "escalation_level": level,
                "to": to,
                "expires_at": action.expires_at,
            })),
        )
        .await?;
        return Ok(Some(Settled::Escalated));
    }
    Ok(None)
}
