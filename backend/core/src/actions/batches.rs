//! Batches and their canary: an action on several targets runs on the canary first (the first
//! target the policy did not deny), and the other members wait for it. A verified canary lets
//! the queued members run; a canary that did not succeed, or was undone, cancels the members that
//! have not run, approved or not.

use serde_json::json;
use steward_domain::{
    ActionId, MspId, TenantId,
    actions::{ActionStatus, canary, canary_stopped},
};

use crate::{
    audit::{self, ChainRef, Change},
    storage::{
        ActionReader, StorageError, WriteContext,
        actions::{FollowUp, Update, enqueue, set_status},
    },
};

/// What becomes of a batch member when the canary moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Nothing changes for it (yet).
    Waits,
    /// It runs: the canary was verified and the member is queued.
    Runs,
    /// It never runs: the canary ended without success.
    Cancelled,
}

/// The fate of a member in `member` status when the canary moves to `canary`.
pub(crate) fn fate(canary: ActionStatus, member: ActionStatus) -> Fate {
    match member {
        ActionStatus::Queued if canary == ActionStatus::Verified => Fate::Runs,
        ActionStatus::Queued | ActionStatus::AwaitingApproval if canary_stopped(canary) => {
            Fate::Cancelled
        }
        _ => Fate::Waits,
    }
}

/// Whether moving a batch member to `to` may settle its batch (and so needs the batch's lock,
/// taken before anything is appended to the audit chain).
pub(crate) fn may_settle(to: ActionStatus) -> bool {
    to == ActionStatus::Verified || canary_stopped(to)
}

/// What a batch member's new status means for the rest of its batch (`batch_id`, from
/// `lock_batch_of`), when it is the canary: a verified canary lets the queued members run; a
/// canary that did not succeed (or was undone) cancels the members that have not run, approved
/// or not.
pub(crate) async fn settle(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
    to: ActionStatus,
    batch_id: Option<uuid::Uuid>,
) -> Result<(), StorageError> {
    let Some(batch_id) = batch_id.filter(|_| may_settle(to)) else {
        return Ok(());
    };
    let reader = ActionReader::new(ctx.txn, msp_id, tenant_id);
    // The caller holds the batch lock (`lock_batch_of`), which a member being queued at the same
    // moment (an approval) takes too: it is either read here as queued, or queued after this
    // commits and then finds the canary settled.
    let members = reader.members(batch_id).await?;
    let Some(canary) = canary(&members).filter(|c| c.id == id) else {
        return Ok(());
    };
    let detail = format!(
        "not run: the batch's canary ({}) ended {}",
        canary.target.name, to
    );
    for member in members.iter().filter(|m| m.id != id) {
        match fate(to, member.status) {
            Fate::Waits => {}
            Fate::Runs => enqueue(ctx, msp_id, member, FollowUp::Advance).await?,
            Fate::Cancelled => {
                let moved = set_status(
                    ctx,
                    msp_id,
                    tenant_id,
                    member.id,
                    member.status,
                    Update {
                        detail: Some(&detail),
                        ..Update::to(ActionStatus::Cancelled)
                    },
                )
                .await?;
                if !moved {
                    continue;
                }
                audit::append(
                    ctx,
                    ChainRef::Tenant { msp_id, tenant_id },
                    Change::new("action.cancelled", "action", &member.id)
                        .before(&json!({"status": member.status}))
                        .after(&json!({
                            "status": ActionStatus::Cancelled,
                            "detail": detail,
                            "canary_action_id": canary.id,
                        })),
                )
                .await?;
                if member.status == ActionStatus::AwaitingApproval {
                    enqueue(ctx, msp_id, member, FollowUp::UpdateMessages).await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verified_canary_runs_the_queued_members_and_leaves_the_others_waiting() {
        assert_eq!(
            fate(ActionStatus::Verified, ActionStatus::Queued),
            Fate::Runs
        );
        for waiting in [ActionStatus::AwaitingApproval, ActionStatus::Denied] {
            assert_eq!(fate(ActionStatus::Verified, waiting), Fate::Waits);
        }
    }

    #[test]
    fn a_canary_that_ends_without_success_cancels_what_has_not_run() {
        for ended in [
            ActionStatus::Failed,
            ActionStatus::Rejected,
            ActionStatus::RolledBack,
        ] {
            assert!(canary_stopped(ended), "{ended}");
            assert_eq!(
                fate(ended, ActionStatus::Queued),
                Fate::Cancelled,
                "{ended}"
            );
            assert_eq!(
                fate(ended, ActionStatus::AwaitingApproval),
                Fate::Cancelled,
                "{ended}"
            );
            // What already ran, or ended, stays as it is.
            for done in [
                ActionStatus::Executing,
                ActionStatus::Verified,
                ActionStatus::Denied,
            ] {
                assert_eq!(fate(ended, done), Fate::Waits, "{ended} {done}");
            }
        }
    }

    #[test]
    fn a_canary_still_on_its_way_settles_nothing() {
        for moving in [
            ActionStatus::Queued,
            ActionStatus::Executing,
            ActionStatus::Verifying,
        ] {
            assert!(!may_settle(moving), "{moving}");
            assert_eq!(fate(moving, ActionStatus::Queued), Fate::Waits);
        }
    }
}
