//! Answering an approval request: who may answer what, the quorum, and recording the answer.
//!
//! The rules ([`check_answer`], [`counted_approvals`], [`quorum_reached`]) are pure and tested
//! here; [`record`] applies them under the locks and compare-and-set that make concurrent
//! answers safe, and [`answer`] is the entry for a person answering through the API, the web
//! UI, an email link or Slack.

use chrono::{DateTime, Utc};
use serde_json::json;
use steward_domain::{
    ActionId, MspId, TenantId, UserId,
    access::Permission,
    actions::{Action, ActionStatus, Approval, ApproverSide, PolicyDecision},
    tenancy::Role,
};

use crate::{
    access::Forbidden,
    audit::{self, ChainRef, Change},
    storage::{
        ActionReader, ActionRequestError, TenantWork, WorkError, WriteContext,
        actions::{FollowUp, Update, enqueue, lock_batch_of, read_for_answer, set_status},
        locks,
    },
};

/// Approves or rejects an action on the side the user's role stands for.
///
/// # Errors
/// [`WorkError::Forbidden`] for a role that approves on neither side (or for Steward);
/// [`WorkError::Action`] when the action is not awaiting this answer.
pub async fn answer(
    work: &TenantWork<'_>,
    id: ActionId,
    approve: bool,
    version: String,
    comment: Option<String>,
) -> Result<Action, WorkError> {
    let Some((user_id, role)) = work.user() else {
        return Err(Forbidden(Permission::ApproveAsTechnician).into());
    };
    let side = if role.allows(Permission::ApproveAsCustomer) {
        ApproverSide::Customer
    } else if role.allows(Permission::ApproveAsTechnician) {
        ApproverSide::Technician
    } else {
        return Err(Forbidden(Permission::ApproveAsTechnician).into());
    };
    let tenant = work.tenant();
    Ok(record(
        work.context(),
        tenant.msp_id,
        tenant.id,
        id,
        ApprovalAnswer {
            user_id,
            side,
            role,
            approve,
            version,
            comment,
        },
    )
    .await?)
}

/// The longest comment an approver may give, in characters.
pub const MAX_COMMENT: usize = 2_000;

/// An approver's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAnswer {
    pub user_id: UserId,
    pub side: ApproverSide,
    pub role: Role,
    pub approve: bool,
    /// The version the approver was shown.
    pub version: String,
    pub comment: Option<String>,
}

/// Records an approval or rejection. A rejection ends the request; an approval counts towards
/// the decision's quorum (different people of the approving side, of its role if the decision
/// names one, for the current version), and the one completing it queues the action.
/// Concurrent answers compare-and-set on the action's revision, so exactly one outcome wins.
async fn record(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
    answer: ApprovalAnswer,
) -> Result<Action, ActionRequestError> {
    let mut answer = answer;
    answer.comment = match answer.comment.as_deref() {
        Some(comment) => Some(
            steward_domain::text::free_text(comment, MAX_COMMENT)
                .map_err(ActionRequestError::InvalidComment)?,
        )
        .filter(|comment| !comment.is_empty()),
        None => None,
    };
    // Triage re-decides waiting actions while holding the decisions lock and then the audit
    // chain's; answering takes them in that order too, or the two deadlock on PostgreSQL (the
    // answer holding the action's row, triage the chain).
    locks::take(ctx.txn, locks::Lock::Decisions(msp_id)).await?;
    // A batch member queued by this answer must not miss its canary settling concurrently, and
    // a rejected canary settles its batch (see `crate::actions::batches`).
    let batch = lock_batch_of(ctx, msp_id, tenant_id, id).await?;
    // A lost compare-and-set means someone answered at the same moment: read again, so a
    // second approval still counts and a late answer to a closed request is refused.
    for _ in 0..5 {
        let (before, revision) = read_for_answer(ctx, msp_id, tenant_id, id).await?;
        let after_status = check_answer(&before, &answer, ctx.clock.now())?;
        let mut approvals = before.approvals.clone();
        approvals.push(Approval {
            user_id: answer.user_id,
            side: answer.side,
            role: Some(answer.role),
            approved: answer.approve,
            version: answer.version.clone(),
            comment: answer.comment.clone(),
            decided_at: ctx.clock.now(),
        });
        let status = match after_status {
            Some(status) => status,
            None if quorum_reached(&before.decision, &before.version, &approvals) => {
                ActionStatus::Queued
            }
            None => ActionStatus::AwaitingApproval,
        };
        let moved = set_status(
            ctx,
            msp_id,
            tenant_id,
            id,
            before.status,
            Update {
                approvals: Some(&approvals),
                expected_revision: Some(revision),
                ..Update::to(status)
            },
        )
        .await?;
        if !moved {
            continue;
        }
        let counted = counted_approvals(&before.decision, &before.version, &approvals);
        audit::append(
            ctx,
            ChainRef::Tenant { msp_id, tenant_id },
            Change::new(
                if answer.approve {
                    "action.approved"
                } else {
                    "action.rejected"
                },
                "action",
                &id,
            )
            .after(&json!({
                "side": answer.side,
                "role": answer.role,
                "version": answer.version,
                "comment": answer.comment,
                "approvals": counted,
                "quorum": before.decision.quorum,
                "status": status,
            })),
        )
        .await?;
        if status == ActionStatus::Queued {
            enqueue(ctx, msp_id, &before, FollowUp::Advance).await?;
        }
        crate::actions::batches::settle(ctx, msp_id, tenant_id, id, status, batch).await?;
        // Whatever channel the answer came through, the Slack messages asking for it show it.
        enqueue(ctx, msp_id, &before, FollowUp::UpdateMessages).await?;
        return ActionReader::new(ctx.txn, msp_id, tenant_id)
            .get(id)
            .await?
            .ok_or(ActionRequestError::NotFound(id));
    }
    Err(ActionRequestError::Contended)
}

/// Whether the answer may be given; `Some(status)` when it settles the request by itself (a
/// rejection), `None` when it is an approval counting towards the quorum.
fn check_answer(
    before: &Action,
    answer: &ApprovalAnswer,
    now: DateTime<Utc>,
) -> Result<Option<ActionStatus>, ActionRequestError> {
    if before.status != ActionStatus::AwaitingApproval {
        return Err(ActionRequestError::NotAwaitingApproval(before.status));
    }
    // Past its deadline a request only waits for the sweep to reject it.
    if answer.approve && before.expires_at.is_some_and(|at| at <= now) {
        return Err(ActionRequestError::Expired);
    }
    if answer.version != before.version {
        return Err(ActionRequestError::StaleVersion {
            current: before.version.clone(),
        });
    }
    let needed = before
        .decision
        .approving_side()
        .unwrap_or(ApproverSide::Technician);
    if answer.approve && answer.side != needed {
        return Err(match needed {
            ApproverSide::Customer => ActionRequestError::NeedsCustomer,
            ApproverSide::Technician => ActionRequestError::NeedsTechnician,
        });
    }
    // The MSP may always decline to act; the customer only answers what is theirs.
    if !answer.approve && answer.side == ApproverSide::Customer && needed != ApproverSide::Customer
    {
        return Err(ActionRequestError::NeedsTechnician);
    }
    if !answer.approve {
        return Ok(Some(ActionStatus::Rejected));
    }
    if before.proposed_by.user_id == Some(answer.user_id) {
        return Err(ActionRequestError::OwnProposal);
    }
    if let Some(role) = before.decision.approver_role
        && role != answer.role
    {
        return Err(ActionRequestError::NeedsRole(role));
    }
    if before
        .approvals
        .iter()
        .any(|a| a.user_id == answer.user_id && a.version == before.version)
    {
        return Err(ActionRequestError::AlreadyAnswered);
    }
    Ok(None)
}

/// The approvals that count towards the decision's quorum: of the current version, from the
/// approving side (and role), each person once.
fn counted_approvals(decision: &PolicyDecision, version: &str, approvals: &[Approval]) -> usize {
    let side = decision
        .approving_side()
        .unwrap_or(ApproverSide::Technician);
    let mut people: Vec<UserId> = approvals
        .iter()
        .filter(|a| a.approved && a.version == version && a.side == side)
        .filter(|a| {
            decision
                .approver_role
                .is_none_or(|role| a.role == Some(role))
        })
        .map(|a| a.user_id)
        .collect();
    people.sort_by_key(|u| u.as_uuid());
    people.dedup();
    people.len()
}

fn quorum_reached(decision: &PolicyDecision, version: &str, approvals: &[Approval]) -> bool {
    counted_approvals(decision, version, approvals)
        >= usize::from(std::cmp::max(decision.quorum, 1))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use steward_domain::{
        actions::{
            ActionParameters, ActionTarget, ActionType, PolicyOutcome, Proposer, ProposerKind,
            TargetKind,
        },
        tenancy::Role,
    };

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap()
    }

    fn person(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    const PROPOSER: u128 = 1;

    /// An action waiting for `outcome`'s approvers, proposed by person 1, version "v2".
    fn waiting(outcome: PolicyOutcome) -> Action {
        Action {
            id: ActionId::from_uuid(uuid::Uuid::from_u128(100)),
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(200)),
            incident_id: None,
            kind: ActionType::IsolateDevice,
            target: ActionTarget {
                kind: TargetKind::Device,
                id: uuid::Uuid::from_u128(300),
                name: "laptop-7".to_owned(),
            },
            parameters: ActionParameters::default(),
            reversible: true,
            status: ActionStatus::AwaitingApproval,
            proposed_by: Proposer {
                kind: ProposerKind::Technician,
                user_id: Some(person(PROPOSER)),
            },
            reasons: Vec::new(),
            decision: PolicyDecision::new(outcome, Vec::new()),
            decision_input: serde_json::Value::Null,
            version: "v2".to_owned(),
            approvals: Vec::new(),
            integration_id: None,
            snapshot: None,
            vendor_reference: None,
            detail: None,
            rollback_plan: String::new(),
            created_at: now(),
            updated_at: now(),
            executed_at: None,
            verified_at: None,
            rolled_back_at: None,
            expires_at: Some(now() + chrono::Duration::hours(1)),
            escalate_at: None,
            escalation_level: 0,
            batch: None,
        }
    }

    fn by(n: u128, side: ApproverSide, role: Role, approve: bool) -> ApprovalAnswer {
        ApprovalAnswer {
            user_id: person(n),
            side,
            role,
            approve,
            version: "v2".to_owned(),
            comment: None,
        }
    }

    fn approval(answer: &ApprovalAnswer) -> Approval {
        Approval {
            user_id: answer.user_id,
            side: answer.side,
            role: Some(answer.role),
            approved: answer.approve,
            version: answer.version.clone(),
            comment: None,
            decided_at: now(),
        }
    }

    const TECH: ApproverSide = ApproverSide::Technician;
    const CUSTOMER: ApproverSide = ApproverSide::Customer;

    #[test]
    fn an_approval_counts_and_a_rejection_settles_the_request() {
        let action = waiting(PolicyOutcome::TechnicianApproval);
        let approve = by(2, TECH, Role::Technician, true);
        assert_eq!(check_answer(&action, &approve, now()).unwrap(), None);
        let reject = by(2, TECH, Role::Technician, false);
        assert_eq!(
            check_answer(&action, &reject, now()).unwrap(),
            Some(ActionStatus::Rejected)
        );
    }

    #[test]
    fn only_a_waiting_current_unexpired_request_takes_an_approval() {
        let mut action = waiting(PolicyOutcome::TechnicianApproval);
        let approve = by(2, TECH, Role::Technician, true);
        let stale = ApprovalAnswer {
            version: "v1".to_owned(),
            ..approve.clone()
        };
        assert!(matches!(
            check_answer(&action, &stale, now()),
            Err(ActionRequestError::StaleVersion { current }) if current == "v2"
        ));
        let expired_at = action.expires_at.unwrap();
        assert!(matches!(
            check_answer(&action, &approve, expired_at),
            Err(ActionRequestError::Expired)
        ));
        // A rejection past the deadline still stands: it is what expiry would do.
        let reject = by(2, TECH, Role::Technician, false);
        assert!(check_answer(&action, &reject, expired_at).is_ok());
        action.status = ActionStatus::Queued;
        assert!(matches!(
            check_answer(&action, &approve, now()),
            Err(ActionRequestError::NotAwaitingApproval(
                ActionStatus::Queued
            ))
        ));
    }

    #[test]
    fn each_side_answers_only_what_is_its_own() {
        let technicians = waiting(PolicyOutcome::TechnicianApproval);
        let customers = waiting(PolicyOutcome::CustomerApproval);
        assert!(matches!(
            check_answer(
                &technicians,
                &by(3, CUSTOMER, Role::CustomerOwner, true),
                now()
            ),
            Err(ActionRequestError::NeedsTechnician)
        ));
        assert!(matches!(
            check_answer(
                &technicians,
                &by(3, CUSTOMER, Role::CustomerOwner, false),
                now()
            ),
            Err(ActionRequestError::NeedsTechnician)
        ));
        assert!(matches!(
            check_answer(&customers, &by(2, TECH, Role::Technician, true), now()),
            Err(ActionRequestError::NeedsCustomer)
        ));
        // The MSP may always decline to act, even on what the customer approves.
        assert_eq!(
            check_answer(&customers, &by(2, TECH, Role::Technician, false), now()).unwrap(),
            Some(ActionStatus::Rejected)
        );
    }

    #[test]
    fn the_proposer_a_second_answer_and_the_wrong_role_are_refused() {
        let mut action = waiting(PolicyOutcome::TechnicianApproval);
        assert!(matches!(
            check_answer(&action, &by(PROPOSER, TECH, Role::Technician, true), now()),
            Err(ActionRequestError::OwnProposal)
        ));
        let first = by(2, TECH, Role::Technician, true);
        action.approvals.push(approval(&first));
        assert!(matches!(
            check_answer(&action, &first, now()),
            Err(ActionRequestError::AlreadyAnswered)
        ));
        action.decision.approver_role = Some(Role::MspAdmin);
        assert!(matches!(
            check_answer(&action, &by(3, TECH, Role::Technician, true), now()),
            Err(ActionRequestError::NeedsRole(Role::MspAdmin))
        ));
        assert_eq!(
            check_answer(&action, &by(3, TECH, Role::MspAdmin, true), now()).unwrap(),
            None
        );
    }

    #[test]
    fn a_quorum_counts_different_people_of_the_side_and_role_for_the_current_version() {
        let mut decision = PolicyDecision::new(PolicyOutcome::TechnicianApproval, Vec::new());
        decision.quorum = 2;
        decision.approver_role = Some(Role::MspAdmin);
        let admin = |n| approval(&by(n, TECH, Role::MspAdmin, true));
        let mut approvals = vec![admin(2), admin(2)];
        assert_eq!(
            counted_approvals(&decision, "v2", &approvals),
            1,
            "one person"
        );
        assert!(!quorum_reached(&decision, "v2", &approvals));
        approvals.push(approval(&by(3, TECH, Role::Technician, true)));
        approvals.push(approval(&by(4, CUSTOMER, Role::CustomerOwner, true)));
        approvals.push(Approval {
            version: "v1".to_owned(),
            ..admin(5)
        });
        approvals.push(Approval {
            approved: false,
            ..admin(6)
        });
        assert_eq!(
            counted_approvals(&decision, "v2", &approvals),
            1,
            "other roles, sides, versions and rejections do not count"
        );
        approvals.push(admin(7));
        assert!(quorum_reached(&decision, "v2", &approvals));
    }

    #[test]
    fn a_quorum_of_zero_still_needs_one_approval() {
        let mut decision = PolicyDecision::new(PolicyOutcome::TechnicianApproval, Vec::new());
        decision.quorum = 0;
        assert!(!quorum_reached(&decision, "v2", &[]));
        assert!(quorum_reached(
            &decision,
            "v2",
            &[approval(&by(2, TECH, Role::Technician, true))]
        ));
    }
}
