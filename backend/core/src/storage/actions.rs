//! A tenant's actions: proposed with the authority policy's decision, approved or rejected,
//! then moved through execution, verification and rollback by the workers.
//!
//! Every transition is a compare-and-set on the action's status, so two workers running the
//! same job (delivery is at least once) cannot both move it, and every transition is in the
//! tenant's audit chain.
//!
//! (Over 800 lines on purpose: every write to the actions table — proposing, answering,
//! transitions, the reads they compare against — is here, so the compare-and-set on the status
//! is written once and every path to it can be read together.)

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::ExprTrait,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use steward_domain::{
    ActionId, IncidentId, IntegrationId, MspId, TenantId, UserId,
    actions::{
        Action, ActionBatch, ActionParameters, ActionStatus, ActionTarget, ActionType, Approval,
        ApprovalTiming, BatchMembership, PolicyDecision, PolicyOutcome, Proposer, ProposerKind,
    },
    tenancy::Role,
};

use super::{
    Page, PageRequest, StorageError, WriteContext,
    entities::action,
    new_id,
    risk_scores::{kind_str, parse_kind},
    scoping::InTenant,
};
use steward_domain::authority::{AuthorityInput, Decided};

use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
};

/// Reads one tenant's actions.
#[derive(Debug, Clone, Copy)]
pub struct ActionReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> ActionReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    fn scoped(&self) -> sea_orm::Select<action::Entity> {
        action::Entity::find().in_tenant(self.msp_id, self.tenant_id)
    }

    /// One page of actions, newest first, optionally of one status.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(
        &self,
        status: Option<ActionStatus>,
        page: PageRequest,
    ) -> Result<Page<Action>, StorageError> {
        let mut select = self
            .scoped()
            .order_by_desc(action::Column::Id)
            .limit(page.limit.saturating_add(1));
        if let Some(status) = status {
            select = select.filter(action::Column::Status.eq(status.as_str()));
        }
        if let Some(after) = page.after {
            select = select.filter(action::Column::Id.lt(after));
        }
        let actions = select
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_action)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(actions, page.limit, |a| {
            a.id.as_uuid()
        }))
    }

    /// Every action created in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn created_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Action>, StorageError> {
        self.scoped()
            .filter(action::Column::CreatedAt.gte(from))
            .filter(action::Column::CreatedAt.lt(to))
            .order_by_asc(action::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_action)
            .collect()
    }

    /// The actions taken in an incident, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn of_incident(&self, incident_id: IncidentId) -> Result<Vec<Action>, StorageError> {
        self.scoped()
            .filter(action::Column::IncidentId.eq(incident_id.as_uuid()))
            .order_by_asc(action::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_action)
            .collect()
    }

    /// One action.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn get(&self, id: ActionId) -> Result<Option<Action>, StorageError> {
        self.scoped()
            .filter(action::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?
            .map(to_action)
            .transpose()
    }

    /// The members of a batch, in the order its targets were given.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn members(&self, batch_id: uuid::Uuid) -> Result<Vec<Action>, StorageError> {
        self.scoped()
            .filter(action::Column::BatchId.eq(batch_id))
            .order_by_asc(action::Column::BatchPosition)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_action)
            .collect()
    }

    /// A batch with its members; `None` when the tenant has no such batch.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn batch(&self, batch_id: uuid::Uuid) -> Result<Option<ActionBatch>, StorageError> {
        let members = self.members(batch_id).await?;
        Ok(members
            .first()
            .map(|first| (first.tenant_id, first.kind))
            .map(|(tenant_id, kind)| ActionBatch::of(batch_id, tenant_id, kind, members)))
    }

    /// The action recorded under this deduplication key, if any.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn by_dedup_key(&self, key: &str) -> Result<Option<Action>, StorageError> {
        self.scoped()
            .filter(action::Column::DedupKey.eq(key))
            .one(self.conn)
            .await?
            .map(to_action)
            .transpose()
    }

    /// The idempotency attempt counter of an action: each execution attempt at the vendor has
    /// its own key, and a retried job reuses the key of the attempt it retries.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn attempt(&self, id: ActionId) -> Result<Option<i32>, StorageError> {
        Ok(self
            .scoped()
            .filter(action::Column::Id.eq(id.as_uuid()))
            .one(self.conn)
            .await?
            .map(|row| row.attempt))
    }
}

/// Actions in flight not updated since `before`, across every tenant, oldest first — except
/// batch members that are only waiting for their canary (not verified yet, nor stopped): they
/// rest by design, and the canary's settlement wakes them.
pub(crate) async fn stalled<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
) -> Result<Vec<(TenantId, ActionId)>, StorageError> {
    let backend = conn.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let status_list = |statuses: &[ActionStatus]| {
        statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let in_flight = status_list(&[
        ActionStatus::Queued,
        ActionStatus::Executing,
        ActionStatus::Verifying,
        ActionStatus::RollingBack,
    ]);
    let canary_running = status_list(&[
        ActionStatus::AwaitingApproval,
        ActionStatus::Queued,
        ActionStatus::Executing,
        ActionStatus::Verifying,
    ]);
    let (queued, denied) = (ActionStatus::Queued.as_str(), ActionStatus::Denied.as_str());
    // The canary `c` of `a`'s batch is the earliest member the policy did not deny.
    let sql = format!(
        "SELECT a.tenant_id, a.id FROM actions a \
         WHERE a.status IN ({in_flight}) AND a.updated_at < {placeholder} \
         AND NOT (a.status = '{queued}' AND a.batch_id IS NOT NULL AND EXISTS ( \
             SELECT 1 FROM actions c \
             WHERE c.tenant_id = a.tenant_id AND c.batch_id = a.batch_id \
             AND c.batch_position < a.batch_position AND c.status IN ({canary_running}) \
             AND NOT EXISTS ( \
                 SELECT 1 FROM actions d \
                 WHERE d.tenant_id = c.tenant_id AND d.batch_id = c.batch_id \
                 AND d.batch_position < c.batch_position AND d.status <> '{denied}'))) \
         ORDER BY a.updated_at LIMIT 500"
    );
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [before.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let tenant_id: uuid::Uuid = row.try_get("", "tenant_id")?;
            let id: uuid::Uuid = row.try_get("", "id")?;
            Ok((tenant_id.into(), id.into()))
        })
        .collect()
}

/// An action someone (or triage) wants taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    pub incident_id: Option<IncidentId>,
    pub kind: ActionType,
    pub target: ActionTarget,
    /// What it needs besides the target, checked against the type.
    pub parameters: ActionParameters,
    /// The integration that will run it.
    pub integration_id: Option<IntegrationId>,
    pub reasons: Vec<String>,
    pub proposer: Proposer,
    /// Same key, same action: proposing twice (a retried job) records one.
    pub dedup_key: String,
    /// Its place in a batch, when proposed for several targets at once.
    pub batch: Option<BatchMembership>,
}

/// The hash an approval is bound to: type, target, parameters and the policy's input.
#[must_use]
pub fn action_version(
    kind: ActionType,
    target: &ActionTarget,
    parameters: &ActionParameters,
    input: &serde_json::Value,
) -> String {
    let versioned = json!({
        "type": kind,
        "target": target,
        "parameters": parameters,
        "decision_input": input,
    });
    let canonical = serde_json_canonicalizer::to_vec(&versioned).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}

/// Where a decision puts a new action.
fn status_of(decision: &PolicyDecision) -> ActionStatus {
    match decision.outcome {
        PolicyOutcome::Auto => ActionStatus::Queued,
        PolicyOutcome::TechnicianApproval | PolicyOutcome::CustomerApproval => {
            ActionStatus::AwaitingApproval
        }
        PolicyOutcome::Deny => ActionStatus::Denied,
    }
}

/// When an approval request opened now escalates and expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub expires_at: DateTime<Utc>,
    /// `None` when the request expires before it would escalate.
    pub escalate_at: Option<DateTime<Utc>>,
}

impl Deadlines {
    /// The deadlines of a request opened at `now`.
    #[must_use]
    pub fn from(timing: ApprovalTiming, now: DateTime<Utc>) -> Self {
        let expire = chrono::Duration::minutes(i64::from(timing.expire_after_minutes));
        let escalate = chrono::Duration::minutes(i64::from(timing.escalate_after_minutes));
        Self {
            expires_at: now + expire,
            escalate_at: (escalate < expire).then(|| now + escalate),
        }
    }
}

/// Records a proposal with the policy's decision, or, for a proposal made before that still
/// awaits approval, records the new decision if its input changed (which voids earlier
/// approvals: they were for another version). Returns the action and whether it is new.
pub(crate) async fn propose(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    proposal: &Proposal,
    input: &AuthorityInput,
    decided: &Decided,
    timing: ApprovalTiming,
) -> Result<(Action, bool), StorageError> {
    let chain = ChainRef::Tenant { msp_id, tenant_id };
    let now = ctx.clock.now();
    let deadlines = (status_of(&decided.decision) == ActionStatus::AwaitingApproval)
        .then(|| Deadlines::from(timing, now));
    let input_json =
        serde_json::to_value(input).map_err(|e| StorageError::corrupt("policy input", &e))?;
    let version = action_version(
        proposal.kind,
        &proposal.target,
        &proposal.parameters,
        &input_json,
    );
    let status = status_of(&decided.decision);
    let decision_record = json!({
        "input": input_json,
        "decision": decided.decision,
        "policy_failure": decided.failure,
    });
    let existing = action::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(action::Column::DedupKey.eq(proposal.dedup_key.as_str()))
        .one(ctx.txn)
        .await?;
    if let Some(row) = existing {
        let action = to_action(row.clone())?;
        if action.status != ActionStatus::AwaitingApproval || action.version == version {
            return Ok((action, false));
        }
        // Compare-and-set on the revision read: an answer committed meanwhile wins, and this
        // proposal then changes nothing.
        let changes = action::ActiveModel {
            decision: Set(serde_json::to_value(&decided.decision).unwrap_or_default()),
            decision_input: Set(input_json),
            version: Set(version),
            status: Set(status.as_str().to_owned()),
            automatic: Set(status == ActionStatus::Queued),
            updated_at: Set(now),
            expires_at: Set(deadlines.map(|d| d.expires_at)),
            escalate_at: Set(deadlines.and_then(|d| d.escalate_at)),
            escalation_level: Set(0),
            ..Default::default()
        };
        let moved = action::Entity::update_many()
            .set(changes)
            .col_expr(
                action::Column::Revision,
                sea_orm::sea_query::Expr::col(action::Column::Revision)
                    .add(sea_orm::sea_query::Expr::val(1)),
            )
            .filter(action::Column::Id.eq(row.id))
            .filter(action::Column::Status.eq(ActionStatus::AwaitingApproval.as_str()))
            .filter(action::Column::Revision.eq(row.revision))
            .exec(ctx.txn)
            .await?
            .rows_affected
            == 1;
        let after = ActionReader::new(ctx.txn, msp_id, tenant_id)
            .get(action.id)
            .await?
            .ok_or_else(|| StorageError::corrupt("action", &"vanished while re-decided"))?;
        if !moved {
            return Ok((after, false));
        }
        audit::append(
            ctx,
            chain,
            Change::new("action.redecided", "action", &after.id)
                .before(&json!({"version": action.version, "decision": action.decision}))
                .after(&decision_record),
        )
        .await?;
        enqueue_follow_up(ctx, msp_id, &after).await?;
        return Ok((after, false));
    }
    let row = action::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(tenant_id.as_uuid()),
        incident_id: Set(proposal.incident_id.map(IncidentId::as_uuid)),
        action_type: Set(proposal.kind.as_str().to_owned()),
        target_kind: Set(kind_str(proposal.target.kind).to_owned()),
        target_id: Set(proposal.target.id),
        target_name: Set(proposal.target.name.clone()),
        reversible: Set(proposal.kind.is_reversible()),
        status: Set(status.as_str().to_owned()),
        proposer_kind: Set(proposer_str(proposal.proposer.kind).to_owned()),
        proposer_user_id: Set(proposal.proposer.user_id.map(UserId::as_uuid)),
        dedup_key: Set(proposal.dedup_key.clone()),
        reasons: Set(json!(proposal.reasons)),
        decision: Set(serde_json::to_value(&decided.decision).unwrap_or_default()),
        decision_input: Set(input_json),
        version: Set(version),
        approvals: Set(json!([])),
        integration_id: Set(proposal.integration_id.map(IntegrationId::as_uuid)),
        snapshot: Set(None),
        vendor_reference: Set(None),
        detail: Set(decided.failure.clone()),
        attempt: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        executed_at: Set(None),
        verified_at: Set(None),
        rolled_back_at: Set(None),
        automatic: Set(status == ActionStatus::Queued),
        failed_at: Set(None),
        revision: Set(0),
        expires_at: Set(deadlines.map(|d| d.expires_at)),
        escalate_at: Set(deadlines.and_then(|d| d.escalate_at)),
        escalation_level: Set(0),
        batch_id: Set(proposal.batch.map(|b| b.id)),
        batch_position: Set(proposal
            .batch
            .map(|b| i32::try_from(b.position).unwrap_or(i32::MAX))),
        batch_size: Set(proposal
            .batch
            .map(|b| i32::try_from(b.size).unwrap_or(i32::MAX))),
        parameters: Set((proposal.parameters != ActionParameters::default())
            .then(|| serde_json::to_value(&proposal.parameters).unwrap_or_default())),
    }
    .insert(ctx.txn)
    .await?;
    let action = to_action(row)?;
    audit::append(
        ctx,
        chain,
        Change::new("action.proposed", "action", &action.id).after(&json!({
            "type": action.kind,
            "target": action.target,
            "parameters": action.parameters,
            "incident_id": action.incident_id,
            "reasons": action.reasons,
            "proposed_by": action.proposed_by,
            "batch": action.batch,
        })),
    )
    .await?;
    audit::append(
        ctx,
        chain,
        Change::new("action.decided", "action", &action.id).after(&decision_record),
    )
    .await?;
    enqueue_follow_up(ctx, msp_id, &action).await?;
    Ok((action, true))
}

/// What a newly decided action needs next: a worker to run it, or its approvers asked.
async fn enqueue_follow_up(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    action: &Action,
) -> Result<(), StorageError> {
    match action.status {
        ActionStatus::Queued => enqueue(ctx, msp_id, action, FollowUp::Advance).await,
        ActionStatus::AwaitingApproval => {
            enqueue(ctx, msp_id, action, FollowUp::RequestApproval).await
        }
        _ => Ok(()),
    }
}

/// The background work an action change can call for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FollowUp {
    /// Execute, verify or roll it back.
    Advance,
    /// Ask its approvers.
    RequestApproval,
    /// Show its outcome in the Slack messages that asked for it.
    UpdateMessages,
}

pub(crate) async fn enqueue(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    action: &Action,
    follow_up: FollowUp,
) -> Result<(), StorageError> {
    let (tenant_id, action_id) = (action.tenant_id, action.id);
    let job = match follow_up {
        FollowUp::Advance => Job::Advance {
            tenant_id,
            action_id,
        },
        FollowUp::RequestApproval => Job::RequestApproval {
            tenant_id,
            action_id,
        },
        FollowUp::UpdateMessages => Job::UpdateSlack {
            tenant_id,
            action_id,
        },
    };
    jobs::enqueue(ctx, msp_id, &job).await
}

/// Why an approval, rejection or rollback request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionRequestError {
    #[error("no action {0} in this tenant")]
    NotFound(ActionId),
    #[error("the action is {0}, not awaiting approval")]
    NotAwaitingApproval(ActionStatus),
    #[error(
        "the action changed since it was shown (version {current}); review it again and approve the current version"
    )]
    StaleVersion { current: String },
    #[error("this action needs the customer's approval; the MSP can only reject it")]
    NeedsCustomer,
    #[error("this action needs an MSP technician's approval, not the customer's")]
    NeedsTechnician,
    #[error("the person who proposed an action cannot approve it")]
    OwnProposal,
    #[error("the policy asks for approval by a {} for this action", .0.as_str().replace('_', " "))]
    NeedsRole(Role),
    #[error("you already answered this version of the action; another approver must add theirs")]
    AlreadyAnswered,
    #[error("others answered this action at the same moment; look at it again")]
    Contended,
    #[error("the approval request has expired; the action will not run")]
    Expired,
    #[error("{0} cannot be rolled back: {1}")]
    Irreversible(ActionType, &'static str),
    #[error("only a verified action can be rolled back; this one is {0}")]
    NotRollbackable(ActionStatus),
    #[error("the comment {0}")]
    InvalidComment(#[source] steward_domain::text::TextError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The action with its revision, for a compare-and-set answer.
pub(crate) async fn read_for_answer(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
) -> Result<(Action, i32), ActionRequestError> {
    let row = action::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(action::Column::Id.eq(id.as_uuid()))
        .one(ctx.txn)
        .await
        .map_err(StorageError::from)?
        .ok_or(ActionRequestError::NotFound(id))?;
    let revision = row.revision;
    Ok((to_action(row)?, revision))
}

/// Approval requests due to escalate or expire at `now`, across every tenant. A request opened
/// before requests had deadlines expires `timing` after it was opened.
pub(crate) async fn due_approvals<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    timing: ApprovalTiming,
) -> Result<Vec<(TenantId, ActionId)>, StorageError> {
    let opened_before = now - chrono::Duration::minutes(i64::from(timing.expire_after_minutes));
    Ok(action::Entity::find()
        .filter(action::Column::Status.eq(ActionStatus::AwaitingApproval.as_str()))
        .filter(
            sea_orm::Condition::any()
                .add(action::Column::ExpiresAt.lte(now))
                .add(action::Column::EscalateAt.lte(now))
                .add(
                    sea_orm::Condition::all()
                        .add(action::Column::ExpiresAt.is_null())
                        .add(action::Column::CreatedAt.lte(opened_before)),
                ),
        )
        .order_by_asc(action::Column::ExpiresAt)
        .limit(500)
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.tenant_id.into(), row.id.into()))
        .collect())
}

/// What a transition changes besides the status; `None` leaves a field as it is.
#[derive(Debug)]
pub struct Update<'u> {
    pub status: ActionStatus,
    /// A new decision: a guardrail stopped an automatic action, which now needs a person.
    pub decision: Option<&'u PolicyDecision>,
    pub approvals: Option<&'u [Approval]>,
    pub snapshot: Option<&'u serde_json::Value>,
    pub vendor_reference: Option<&'u str>,
    pub detail: Option<&'u str>,
    /// The action was sent to the vendor, asked at this time.
    pub executed_at: Option<DateTime<Utc>>,
    pub verified: bool,
    pub rolled_back: bool,
    /// Start a new attempt at the vendor (a new idempotency key).
    pub next_attempt: bool,
    /// Only if the action is still at this revision (no one changed it since it was read).
    pub expected_revision: Option<i32>,
    /// Opens an approval request with these deadlines.
    pub deadlines: Option<Deadlines>,
    /// Records an escalation to this level (and that none is due any more).
    pub escalation: Option<i32>,
}

impl Update<'_> {
    /// A transition to `status` changing nothing else.
    #[must_use]
    pub fn to(status: ActionStatus) -> Self {
        Self {
            status,
            decision: None,
            approvals: None,
            snapshot: None,
            vendor_reference: None,
            detail: None,
            executed_at: None,
            verified: false,
            rolled_back: false,
            next_attempt: false,
            expected_revision: None,
            deadlines: None,
            escalation: None,
        }
    }
}

/// The audit event of entering a status.
const fn transition_event(to: ActionStatus) -> &'static str {
    match to {
        ActionStatus::AwaitingApproval => "action.awaiting_approval",
        ActionStatus::Denied => "action.denied",
        ActionStatus::Rejected => "action.rejected",
        ActionStatus::Queued => "action.queued",
        ActionStatus::Executing => "action.executing",
        ActionStatus::Verifying => "action.verifying",
        ActionStatus::Verified => "action.verified",
        ActionStatus::Failed => "action.failed",
        ActionStatus::RollingBack => "action.rolling_back",
        ActionStatus::RolledBack => "action.rolled_back",
        ActionStatus::RollbackFailed => "action.rollback_failed",
        ActionStatus::Cancelled => "action.cancelled",
    }
}

pub(crate) async fn set_status(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
    from: ActionStatus,
    update: Update<'_>,
) -> Result<bool, StorageError> {
    let now = ctx.clock.now();
    let mut changes = action::ActiveModel {
        status: Set(update.status.as_str().to_owned()),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(approvals) = update.approvals {
        changes.approvals = Set(serde_json::to_value(approvals).unwrap_or_default());
    }
    if let Some(decision) = update.decision {
        changes.decision = Set(serde_json::to_value(decision).unwrap_or_default());
        changes.automatic = Set(decision.outcome == PolicyOutcome::Auto);
    }
    if matches!(
        update.status,
        ActionStatus::Failed | ActionStatus::RollbackFailed
    ) {
        changes.failed_at = Set(Some(now));
    }
    if let Some(deadlines) = update.deadlines {
        changes.expires_at = Set(Some(deadlines.expires_at));
        changes.escalate_at = Set(deadlines.escalate_at);
        changes.escalation_level = Set(0);
    }
    if let Some(level) = update.escalation {
        changes.escalation_level = Set(level);
        changes.escalate_at = Set(None);
    }
    if let Some(snapshot) = update.snapshot {
        changes.snapshot = Set(Some(snapshot.clone()));
    }
    if let Some(reference) = update.vendor_reference {
        changes.vendor_reference = Set(Some(reference.to_owned()));
    }
    if let Some(detail) = update.detail {
        changes.detail = Set(Some(detail.to_owned()));
    }
    if let Some(at) = update.executed_at {
        changes.executed_at = Set(Some(at));
    }
    if update.verified {
        changes.verified_at = Set(Some(now));
    }
    if update.rolled_back {
        changes.rolled_back_at = Set(Some(now));
    }
    let mut statement = action::Entity::update_many().set(changes).col_expr(
        action::Column::Revision,
        sea_orm::sea_query::Expr::col(action::Column::Revision)
            .add(sea_orm::sea_query::Expr::val(1)),
    );
    if let Some(revision) = update.expected_revision {
        statement = statement.filter(action::Column::Revision.eq(revision));
    }
    if update.next_attempt {
        statement = statement.col_expr(
            action::Column::Attempt,
            sea_orm::sea_query::Expr::col(action::Column::Attempt)
                .add(sea_orm::sea_query::Expr::val(1)),
        );
    }
    let result = statement
        .filter(action::Column::Id.eq(id.as_uuid()))
        .in_tenant(msp_id, tenant_id)
        .filter(action::Column::Status.eq(from.as_str()))
        .exec(ctx.txn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Moves an action from `from` to `update.status` if it is still in `from`, and records the
/// transition in the audit chain (opening the approval request the update asks for); returns
/// whether it moved. What the move means for the action's incident and batch is the actions
/// stage's (`crate::actions::transition`), which takes the batch's lock before calling this.
pub(crate) async fn record_transition(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
    from: ActionStatus,
    update: Update<'_>,
) -> Result<bool, StorageError> {
    let to = update.status;
    let detail = update.detail.map(str::to_owned);
    let reference = update.vendor_reference.map(str::to_owned);
    let snapshot = update.snapshot.cloned();
    let decision = update.decision.cloned();
    let opens_request = update.deadlines.is_some();
    if !set_status(ctx, msp_id, tenant_id, id, from, update).await? {
        return Ok(false);
    }
    if opens_request
        && let Some(action) = ActionReader::new(ctx.txn, msp_id, tenant_id)
            .get(id)
            .await?
    {
        enqueue(ctx, msp_id, &action, FollowUp::RequestApproval).await?;
    }
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new(transition_event(to), "action", &id)
            .before(&json!({"status": from}))
            .after(&json!({
                "status": to,
                "detail": detail,
                "vendor_reference": reference,
                "snapshot": snapshot,
                "decision": decision,
            })),
    )
    .await?;
    Ok(true)
}

/// Takes the lock of the action's batch, if it is in one, until the transaction ends, and
/// returns the batch's id. Taken before anything is appended to the tenant's audit chain, so the
/// two locks are always taken in the same order.
pub(crate) async fn lock_batch_of(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: ActionId,
) -> Result<Option<uuid::Uuid>, StorageError> {
    let batch = ActionReader::new(ctx.txn, msp_id, tenant_id)
        .get(id)
        .await?
        .and_then(|a| a.batch)
        .map(|b| b.id);
    if let Some(batch_id) = batch {
        super::locks::take(ctx.txn, super::locks::Lock::Batch(batch_id)).await?;
    }
    Ok(batch)
}

const fn proposer_str(kind: ProposerKind) -> &'static str {
    match kind {
        ProposerKind::Worker => "worker",
        ProposerKind::Technician => "technician",
        ProposerKind::AiAgent => "ai_agent",
    }
}

fn parse_proposer(value: &str) -> Result<ProposerKind, StorageError> {
    match value {
        "worker" => Ok(ProposerKind::Worker),
        "technician" => Ok(ProposerKind::Technician),
        "ai_agent" => Ok(ProposerKind::AiAgent),
        other => Err(StorageError::corrupt("action proposer", &other)),
    }
}

pub(crate) fn to_action(row: action::Model) -> Result<Action, StorageError> {
    let kind: ActionType = row
        .action_type
        .parse()
        .map_err(|e: String| StorageError::corrupt("action type", &e))?;
    Ok(Action {
        id: row.id.into(),
        tenant_id: row.tenant_id.into(),
        incident_id: row.incident_id.map(Into::into),
        kind,
        target: ActionTarget {
            kind: parse_kind(&row.target_kind)?,
            id: row.target_id,
            name: row.target_name,
        },
        parameters: row
            .parameters
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StorageError::corrupt("action parameters", &e))?
            .unwrap_or_default(),
        reversible: row.reversible,
        status: ActionStatus::parse(&row.status)
            .ok_or_else(|| StorageError::corrupt("action status", &row.status))?,
        proposed_by: Proposer {
            kind: parse_proposer(&row.proposer_kind)?,
            user_id: row.proposer_user_id.map(Into::into),
        },
        reasons: serde_json::from_value(row.reasons)
            .map_err(|e| StorageError::corrupt("action reasons", &e))?,
        decision: serde_json::from_value::<PolicyDecision>(row.decision)
            .map_err(|e| StorageError::corrupt("action decision", &e))?,
        decision_input: row.decision_input,
        version: row.version,
        approvals: serde_json::from_value(row.approvals)
            .map_err(|e| StorageError::corrupt("action approvals", &e))?,
        integration_id: row.integration_id.map(Into::into),
        snapshot: row.snapshot,
        vendor_reference: row.vendor_reference,
        detail: row.detail,
        rollback_plan: kind.rollback_plan().to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        executed_at: row.executed_at,
        verified_at: row.verified_at,
        rolled_back_at: row.rolled_back_at,
        expires_at: row.expires_at,
        escalate_at: row.escalate_at,
        escalation_level: u8::try_from(row.escalation_level).unwrap_or(u8::MAX),
        batch: match (row.batch_id, row.batch_position, row.batch_size) {
            (Some(id), Some(position), Some(size)) => Some(BatchMembership {
                id,
                position: u32::try_from(position)
                    .map_err(|e| StorageError::corrupt("batch position", &e))?,
                size: u32::try_from(size).map_err(|e| StorageError::corrupt("batch size", &e))?,
            }),
            _ => None,
        },
    })
}
