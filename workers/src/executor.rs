//! Moves an action through execution, verification and rollback at its vendor.
//!
//! Each step reads the action, talks to the vendor outside any transaction, then records the
//! outcome with a compare-and-set on the status. A job that dies between the vendor call and
//! the record runs the step again with the same idempotency key, and the connector finds its
//! earlier request instead of making a second one.

use std::{sync::Arc, time::Instant};

use steward_core::{
    actions,
    decisions::policy::{self, Decided, input::GuardrailsInput},
    risk,
    storage::{ActionUpdate, Deadlines},
};
use steward_domain::{
    ActionId, TenantId,
    actions::{
        Action, ActionStatus, PolicyDecision, PolicyOutcome, ProposerKind, canary, canary_stopped,
    },
    guardrails::Pause,
    incidents::EntityKey,
};
use steward_integrations::{
    ActionRequest, Connector, ConnectorError, Execution, Snapshot, Verification,
    registry::{self, AnyConnector},
};

use crate::{
    JobError, Shared,
    handlers::{Finish, as_steward, open_integration},
};

/// What a step decided, to record.
#[derive(Debug, PartialEq)]
enum Step {
    /// Record this transition and continue with the next step.
    Move(ActionStatus, Record),
    /// Record a failed verification and start the automatic rollback, in one transaction.
    FailAndRollBack(String),
    /// A guardrail tripped after the action was queued automatically: it now waits for a
    /// technician under this decision.
    Hold(PolicyDecision, String),
    /// Nothing more to do.
    Done,
}

/// Where the snapshot records when it was taken: the start of the attempt it belongs to.
const SNAPSHOT_TAKEN_AT: &str = "taken_at";

#[derive(Debug, Default, PartialEq)]
struct Record {
    /// When the vendor was asked, as the connector tells it: verification looks for effects
    /// from then on.
    requested_at: Option<chrono::DateTime<chrono::Utc>>,
    snapshot: Option<serde_json::Value>,
    vendor_reference: Option<String>,
    detail: Option<String>,
    next_attempt: bool,
}

/// Moves the action forward until it rests: verified, failed, rolled back, or waiting for a
/// person.
///
/// # Errors
/// When the database fails, or the vendor stays unreachable: the job then runs again.
pub async fn advance(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<(), JobError> {
    // Each pass makes one transition; a few passes take a queued action to verified.
    for _ in 0..8 {
        let Some((action, attempt)) = load(shared, tenant_id, action_id).await? else {
            return Ok(());
        };
        let step = step(shared, &action, attempt).await?;
        let from = action.status;
        match step {
            Step::Done => return Ok(()),
            Step::Move(to, record) => {
                record_step(shared, &action, from, to, record, false).await?;
            }
            Step::Hold(decision, detail) => {
                hold(shared, &action, &decision, &detail).await?;
                return Ok(());
            }
            Step::FailAndRollBack(detail) => {
                record_step(
                    shared,
                    &action,
                    from,
                    ActionStatus::Failed,
                    Record {
                        detail: Some(detail),
                        ..Record::default()
                    },
                    true,
                )
                .await?;
            }
        }
    }
    Ok(())
}

async fn load(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<Option<(Action, i32)>, JobError> {
    let found = as_steward(
        shared,
        "advance",
        tenant_id,
        Finish::Discard,
        async |work| {
            let action = work
                .actions()
                .get(action_id)
                .await
                .map_err(JobError::from)?;
            let attempt = work
                .actions()
                .attempt(action_id)
                .await
                .map_err(JobError::from)?
                .unwrap_or(0);
            Ok(action.map(|a| (a, attempt)))
        },
    )
    .await?;
    Ok(found.flatten())
}

/// Records one step in one transaction; with `then_roll_back`, the failed action also starts
/// its rollback (when it has one).
async fn record_step(
    shared: &Shared,
    action: &Action,
    from: ActionStatus,
    to: ActionStatus,
    record: Record,
    then_roll_back: bool,
) -> Result<(), JobError> {
    as_steward(
        shared,
        "advance",
        action.tenant_id,
        Finish::Commit,
        async |work| {
            let update = ActionUpdate {
                snapshot: record.snapshot.as_ref(),
                vendor_reference: record.vendor_reference.as_deref(),
                detail: record.detail.as_deref(),
                executed_at: record.requested_at,
                verified: to == ActionStatus::Verified,
                rolled_back: to == ActionStatus::RolledBack,
                next_attempt: record.next_attempt,
                ..ActionUpdate::to(to)
            };
            let moved = actions::transition(work, action.id, from, update)
                .await
                .map_err(JobError::from)?;
            if !moved {
                // Another run of this job got there first (nothing was written); it records the
                // rest.
                return Ok(());
            }
            if then_roll_back && action.reversible {
                actions::transition(
                    work,
                    action.id,
                    ActionStatus::Failed,
                    ActionUpdate {
                        detail: Some(
                            "automatic rollback: the action did not take effect as intended",
                        ),
                        ..ActionUpdate::to(ActionStatus::RollingBack)
                    },
                )
                .await
                .map_err(JobError::from)?;
            }
            if matches!(to, ActionStatus::Verified | ActionStatus::RolledBack) {
                let target = EntityKey {
                    kind: action.target.kind,
                    id: action.target.id,
                };
                risk::refresh_risk(work, target)
                    .await
                    .map_err(JobError::from)?;
            }
            Ok(())
        },
    )
    .await
    .map(|_| ())
}

/// For an automatic action not yet sent to the vendor (queued, or with its snapshot taken):
/// whether the kill switch or the circuit breaker now holds it back (both can trip between the
/// decision and the execution). The rate limits were applied when it was decided, and it counts
/// towards them itself.
async fn held_back(shared: &Shared, action: &Action) -> Result<Option<Step>, JobError> {
    if !runs_unattended(action) {
        return Ok(None);
    }
    let read = as_steward(
        shared,
        "advance",
        action.tenant_id,
        Finish::Discard,
        async |work| {
            let guardrails = work.guardrails();
            let (tenant_halt, msp_halt) = guardrails.halts().await.map_err(JobError::from)?;
            let activity = guardrails
                .activity(shared.clock.now())
                .await
                .map_err(JobError::from)?;
            Ok((tenant_halt.is_some() || msp_halt.is_some(), activity))
        },
    )
    .await?;
    let Some((halted, activity)) = read else {
        return Ok(None);
    };
    let pauses = shared.policies.limits().pauses(halted, &activity);
    Ok(hold_for(action, &pauses))
}

/// Whether the action runs because the policy decided so, with no person's approval of this
/// version: only such an action is held back by a guardrail tripped since.
fn runs_unattended(action: &Action) -> bool {
    let approved_by_a_person = action
        .approvals
        .iter()
        .any(|a| a.approved && a.version == action.version);
    action.decision.outcome == PolicyOutcome::Auto && !approved_by_a_person
}

/// Whether these pauses hold back an automatic action: it then waits for a technician, under
/// the decision the guardrails make of the policy's.
fn hold_for(action: &Action, pauses: &[Pause]) -> Option<Step> {
    if !runs_unattended(action) {
        return None;
    }
    let tripped = GuardrailsInput {
        kill_switch: pauses.contains(&Pause::KillSwitch),
        circuit_open: pauses.contains(&Pause::CircuitOpen),
        ..GuardrailsInput::default()
    };
    let held = policy::constrain(
        Decided {
            decision: action.decision.clone(),
            failure: None,
        },
        &tripped,
    );
    if held.decision.outcome == PolicyOutcome::Auto {
        return None;
    }
    let why = if tripped.kill_switch {
        "the kill switch was pulled before it ran; a technician must approve it"
    } else {
        "the circuit breaker opened before it ran; a technician must approve it"
    };
    Some(Step::Hold(held.decision, why.to_owned()))
}

/// For a batch member other than its canary, before the vendor is asked: wait (the canary's
/// verification queues it again) until the canary is verified, and cancel it if the canary did
/// not succeed. The canary's own transitions cancel waiting members too; this covers a member
/// approved after that, and one whose snapshot was being taken meanwhile.
async fn batch_gate(shared: &Shared, action: &Action) -> Result<Option<Step>, JobError> {
    let Some(batch) = action.batch else {
        return Ok(None);
    };
    let members = as_steward(
        shared,
        "advance",
        action.tenant_id,
        Finish::Discard,
        async |work| {
            work.actions()
                .members(batch.id)
                .await
                .map_err(JobError::from)
        },
    )
    .await?
    .unwrap_or_default();
    Ok(gate(action.id, &members))
}

/// What a batch member does before it is sent to the vendor, given its batch: nothing (it is
/// the canary, or the canary is verified), wait for the canary, or be cancelled with it.
fn gate(member: ActionId, members: &[Action]) -> Option<Step> {
    let canary = canary(members).filter(|c| c.id != member)?;
    match canary.status {
        ActionStatus::Verified => None,
        status if canary_stopped(status) => Some(Step::Move(
            ActionStatus::Cancelled,
            detail(format!(
                "not run: the batch's canary ({}) ended {status}",
                canary.target.name
            )),
        )),
        _ => Some(Step::Done),
    }
}

/// Records a held-back action as awaiting a technician's approval.
async fn hold(
    shared: &Shared,
    action: &Action,
    decision: &PolicyDecision,
    detail: &str,
) -> Result<(), JobError> {
    as_steward(
        shared,
        "advance",
        action.tenant_id,
        Finish::Commit,
        async |work| {
            actions::transition(
                work,
                action.id,
                action.status,
                ActionUpdate {
                    decision: Some(decision),
                    detail: Some(detail),
                    deadlines: Some(Deadlines::from(
                        shared.policies.approval_timing(),
                        shared.clock.now(),
                    )),
                    ..ActionUpdate::to(ActionStatus::AwaitingApproval)
                },
            )
            .await
            .map_err(JobError::from)
        },
    )
    .await
    .map(|_| ())
}

/// The vendor request for this attempt: its idempotency key names the action and attempt.
fn request(action: &Action, attempt: i32) -> Result<ActionRequest, String> {
    let target = action
        .snapshot
        .as_ref()
        .and_then(|s| s.get("vendor_id"))
        .and_then(|v| v.as_str())
        .ok_or("the action has no snapshot naming its vendor target")?;
    let attempt_started_at = action
        .snapshot
        .as_ref()
        .and_then(|s| s.get(SNAPSHOT_TAKEN_AT))
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    Ok(ActionRequest {
        action: action.kind,
        target: target.to_owned(),
        parameters: action.parameters.clone(),
        idempotency_key: format!("steward-{}-{attempt}", action.id),
        comment: comment(action),
        attempt_started_at,
    })
}

/// What the vendor keeps of why. A ticket's first line is its title: what it is about and the
/// reason; every other vendor records which Steward action asked, and what it does.
fn comment(action: &Action) -> String {
    if action.kind.needs_target_at_vendor() {
        return format!("Steward action {}: {}", action.id, action.kind.describe());
    }
    let reason = action.reasons.first().map_or("", String::as_str);
    let mut text = format!("{}: {reason}", action.target.name);
    for more in action.reasons.iter().skip(1) {
        text.push_str(&format!("\n- {more}"));
    }
    let by = match action.proposed_by.kind {
        ProposerKind::Worker => "Steward's triage",
        ProposerKind::Technician => "a technician",
        ProposerKind::AiAgent => "an AI agent",
    };
    text.push_str(&format!(
        "\n\nSteward action {} ({}), proposed by {by}.",
        action.id, action.kind
    ));
    text
}

/// Decides the next step for the action's status, talking to the vendor as needed.
async fn step(shared: &Shared, action: &Action, attempt: i32) -> Result<Step, JobError> {
    match action.status {
        ActionStatus::Queued => {
            if let Some(gated) = batch_gate(shared, action).await? {
                return Ok(gated);
            }
            if let Some(held) = held_back(shared, action).await? {
                return Ok(held);
            }
            let (connector, vendor_id) = match connect(shared, action).await? {
                Ok(found) => found,
                Err(why) => return Ok(fail(why)),
            };
            let probe = ActionRequest {
                action: action.kind,
                target: vendor_id.clone(),
                parameters: action.parameters.clone(),
                idempotency_key: format!("steward-{}-{}", action.id, attempt + 1),
                comment: String::new(),
                attempt_started_at: None,
            };
            match with_retries(shared, || connector.snapshot(&probe)).await {
                Ok(Snapshot(mut state)) => {
                    state["vendor_id"] = serde_json::json!(vendor_id);
                    state[SNAPSHOT_TAKEN_AT] = serde_json::json!(shared.clock.now());
                    Ok(Step::Move(
                        ActionStatus::Executing,
                        Record {
                            snapshot: Some(state),
                            next_attempt: true,
                            ..Record::default()
                        },
                    ))
                }
                Err(error) if error.is_transient() => Err(JobError::from(error)),
                Err(error) => Ok(fail(format!("taking the snapshot failed: {error}"))),
            }
        }
        ActionStatus::Executing => {
            // Checked again right before the vendor is asked: the canary may have failed, or the
            // switch been pulled, while the snapshot was taken.
            if let Some(gated) = batch_gate(shared, action).await? {
                return Ok(gated);
            }
            if let Some(held) = held_back(shared, action).await? {
                return Ok(held);
            }
            let (connector, _) = match connect(shared, action).await? {
                Ok(found) => found,
                Err(why) => return Ok(fail(why)),
            };
            let request = match request(action, attempt) {
                Ok(request) => request,
                Err(why) => return Ok(fail(why)),
            };
            match with_retries(shared, || connector.execute(&request)).await {
                Ok(execution) => Ok(Step::Move(
                    ActionStatus::Verifying,
                    Record {
                        requested_at: Some(execution.requested_at),
                        vendor_reference: execution.vendor_reference,
                        detail: Some("the vendor accepted the request".into()),
                        ..Record::default()
                    },
                )),
                Err(error) if error.is_transient() => Err(JobError::from(error)),
                Err(error) => Ok(fail(format!("the vendor refused the action: {error}"))),
            }
        }
        ActionStatus::Verifying => {
            let (connector, _) = match connect(shared, action).await? {
                Ok(found) => found,
                Err(why) => return Ok(Step::FailAndRollBack(why)),
            };
            let request = match request(action, attempt) {
                Ok(request) => request,
                Err(why) => return Ok(Step::FailAndRollBack(why)),
            };
            let execution = Execution {
                vendor_reference: action.vendor_reference.clone(),
                requested_at: action.executed_at.unwrap_or(action.updated_at),
                changed: true,
            };
            match poll(shared, &connector, &request, &execution).await? {
                Ok(detail) => Ok(Step::Move(
                    ActionStatus::Verified,
                    Record {
                        detail: Some(detail),
                        ..Record::default()
                    },
                )),
                Err(detail) => Ok(Step::FailAndRollBack(detail)),
            }
        }
        ActionStatus::RollingBack => {
            let (connector, _) = match connect(shared, action).await? {
                Ok(found) => found,
                Err(why) => return Ok(Step::Move(ActionStatus::RollbackFailed, detail(why))),
            };
            let (request, snapshot) = match (request(action, attempt), &action.snapshot) {
                (Ok(request), Some(snapshot)) => (request, Snapshot(snapshot.clone())),
                _ => {
                    return Ok(Step::Move(
                        ActionStatus::RollbackFailed,
                        detail("no snapshot of the prior state to roll back to".into()),
                    ));
                }
            };
            match with_retries(shared, || connector.rollback(&request, &snapshot)).await {
                Ok(None) => Ok(Step::Move(
                    ActionStatus::RolledBack,
                    detail("the prior state was already in place; nothing to undo".into()),
                )),
                Ok(Some((inverse, execution))) => {
                    match poll(shared, &connector, &inverse, &execution).await? {
                        Ok(confirmed) => Ok(Step::Move(
                            ActionStatus::RolledBack,
                            detail(format!("rolled back: {confirmed}")),
                        )),
                        Err(why) => Ok(Step::Move(
                            ActionStatus::RollbackFailed,
                            detail(format!("the rollback did not take effect: {why}")),
                        )),
                    }
                }
                Err(error) if error.is_transient() => Err(JobError::from(error)),
                Err(error) => Ok(Step::Move(
                    ActionStatus::RollbackFailed,
                    detail(format!("the vendor refused the rollback: {error}")),
                )),
            }
        }
        ActionStatus::AwaitingApproval
        | ActionStatus::Denied
        | ActionStatus::Rejected
        | ActionStatus::Verified
        | ActionStatus::Failed
        | ActionStatus::RolledBack
        | ActionStatus::RollbackFailed
        | ActionStatus::Cancelled => Ok(Step::Done),
    }
}

fn detail(text: String) -> Record {
    Record {
        detail: Some(text),
        ..Record::default()
    }
}

fn fail(why: String) -> Step {
    Step::Move(ActionStatus::Failed, detail(why))
}

/// Polls verification until confirmed, failed, or the verification timeout passes.
/// `Ok(Err(detail))` is a verification that failed.
async fn poll(
    shared: &Shared,
    connector: &AnyConnector,
    request: &ActionRequest,
    execution: &Execution,
) -> Result<Result<String, String>, JobError> {
    let started = Instant::now();
    let settings = &shared.settings;
    loop {
        match connector.verify(request, execution).await {
            Ok(Verification::Confirmed(detail)) => return Ok(Ok(detail)),
            Ok(Verification::Failed(detail)) => return Ok(Err(detail)),
            Ok(Verification::Pending(detail)) => {
                if started.elapsed() >= settings.verify_timeout {
                    return Ok(Err(format!(
                        "not confirmed within {:?}: {detail}",
                        settings.verify_timeout
                    )));
                }
            }
            Err(error) if error.is_transient() => {
                if started.elapsed() >= settings.verify_timeout {
                    return Err(JobError::from(error));
                }
            }
            Err(error) => return Ok(Err(format!("verification failed: {error}"))),
        }
        shared.pause(settings.verify_interval).await;
        if shared.stopping() {
            // Still verifying: the job runs again after the restart and picks up here.
            return Err(JobError::retryable(
                "Steward is shutting down; the verification goes on after the restart",
            ));
        }
    }
}

/// Calls the vendor, retrying transient failures a few times with a pause; the connector's
/// HTTP layer already honours `Retry-After` within one call.
async fn with_retries<T, F, Fut>(shared: &Shared, mut call: F) -> Result<T, ConnectorError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ConnectorError>>,
{
    let mut tries = 0;
    loop {
        match call().await {
            Err(error) if error.is_transient() && tries < 3 => {
                tries += 1;
                let pause = match &error {
                    ConnectorError::Throttled {
                        retry_after: Some(after),
                    } => *after,
                    _ => shared.settings.verify_interval,
                };
                tracing::info!(%error, tries, "vendor call failed; retrying");
                shared.pause(pause).await;
                if shared.stopping() {
                    return Err(error);
                }
            }
            other => return other,
        }
    }
}

/// The connector of the action's integration and the target's id at that vendor.
async fn connect(
    shared: &Shared,
    action: &Action,
) -> Result<Result<(AnyConnector, String), String>, JobError> {
    let Some(integration_id) = action.integration_id else {
        return Ok(Err(format!(
            "no integration of this tenant can {} for {}",
            action.kind, action.target.name
        )));
    };
    let opened = as_steward(
        shared,
        "advance",
        action.tenant_id,
        Finish::Discard,
        async |work| {
            let Some(opened) = open_integration(work, &shared.secrets, integration_id).await?
            else {
                return Ok(None);
            };
            let sources = match action.target.kind {
                steward_domain::actions::TargetKind::Device => work
                    .inventory()
                    .device(action.target.id)
                    .await
                    .map_err(JobError::from)?
                    .map(|d| d.sources),
                steward_domain::actions::TargetKind::Identity => work
                    .inventory()
                    .identity(action.target.id)
                    .await
                    .map_err(JobError::from)?
                    .map(|i| i.sources),
            };
            Ok(Some((opened, sources)))
        },
    )
    .await?;
    let Some(opened) = opened else {
        return Ok(Err("the tenant no longer exists".into()));
    };
    let Some(((integration, credential), entity)) = opened else {
        return Ok(Err(format!("integration {integration_id} was removed")));
    };
    // A ticket is the PSA's record about the entity, found by its reference; other actions
    // act on the entity as the integration knows it.
    let vendor_id = if action.kind.needs_target_at_vendor() {
        entity
            .unwrap_or_default()
            .into_iter()
            .find(|s| s.integration_id == integration_id)
            .map(|s| s.external_id)
    } else {
        entity.map(|_| steward_integrations::tickets::reference(action.target.id))
    };
    let Some(vendor_id) = vendor_id else {
        return Ok(Err(format!(
            "{} is not known to integration {}",
            action.target.name, integration.name
        )));
    };
    let http = shared
        .vendor_http(shared.vendor_retries.clone())
        .map_err(JobError::from)?;
    match registry::connect(
        integration.vendor,
        &integration.settings,
        credential,
        http,
        Arc::clone(&shared.clock),
    ) {
        Ok(connector) => Ok(Ok((connector, vendor_id))),
        Err(error) => Ok(Err(format!("cannot reach {}: {error}", integration.name))),
    }
}

#[cfg(test)]
mod tests {
    use steward_domain::{
        UserId,
        actions::{
            ActionParameters, ActionTarget, ActionType, Approval, ApproverSide, BatchMembership,
            Proposer, TargetKind,
        },
    };

    use super::*;

    fn at(minute: u32) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 12, 7, 9, minute, 0)
            .unwrap()
    }

    /// An automatic isolation of laptop `n`, queued.
    fn action(n: u128) -> Action {
        Action {
            id: ActionId::from_uuid(uuid::Uuid::from_u128(n)),
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(900)),
            incident_id: None,
            kind: ActionType::IsolateDevice,
            target: ActionTarget {
                kind: TargetKind::Device,
                id: uuid::Uuid::from_u128(n + 1000),
                name: format!("laptop-{n}"),
            },
            parameters: ActionParameters::default(),
            reversible: true,
            status: ActionStatus::Queued,
            proposed_by: Proposer {
                kind: ProposerKind::Worker,
                user_id: None,
            },
            reasons: vec!["Contain the device: malware".to_owned()],
            decision: PolicyDecision::new(PolicyOutcome::Auto, Vec::new()),
            decision_input: serde_json::Value::Null,
            version: "v1".to_owned(),
            approvals: Vec::new(),
            integration_id: None,
            snapshot: None,
            vendor_reference: None,
            detail: None,
            rollback_plan: String::new(),
            created_at: at(0),
            updated_at: at(0),
            executed_at: None,
            verified_at: None,
            rolled_back_at: None,
            expires_at: None,
            escalate_at: None,
            escalation_level: 0,
            batch: None,
        }
    }

    /// A batch of `statuses.len()` isolations, in order.
    fn batch(statuses: &[ActionStatus]) -> Vec<Action> {
        let size = u32::try_from(statuses.len()).unwrap();
        (0..size)
            .zip(statuses)
            .map(|(position, status)| Action {
                status: *status,
                batch: Some(BatchMembership {
                    id: uuid::Uuid::from_u128(77),
                    position,
                    size,
                }),
                ..action(u128::from(position) + 1)
            })
            .collect()
    }

    #[test]
    fn a_vendor_request_names_the_snapshotted_target_and_an_idempotency_key_per_attempt() {
        let mut isolation = action(1);
        assert!(request(&isolation, 1).is_err(), "no snapshot, no target");
        isolation.snapshot = Some(serde_json::json!({
            "vendor_id": "machine-42",
            SNAPSHOT_TAKEN_AT: at(3),
        }));
        let first = request(&isolation, 1).unwrap();
        assert_eq!(first.target, "machine-42");
        assert_eq!(first.attempt_started_at, Some(at(3)));
        assert_eq!(first.idempotency_key, format!("steward-{}-1", isolation.id));
        // A new attempt is a new request at the vendor; a repeat of one is the same.
        assert_ne!(
            request(&isolation, 2).unwrap().idempotency_key,
            first.idempotency_key
        );
        assert_eq!(
            request(&isolation, 1).unwrap().idempotency_key,
            first.idempotency_key
        );
    }

    #[test]
    fn what_the_vendor_keeps_says_which_action_asked_and_why() {
        let isolation = action(1);
        let kept = comment(&isolation);
        assert!(kept.contains(&isolation.id.to_string()), "{kept}");
        let ticket = Action {
            kind: ActionType::OpenTicket,
            reasons: vec![
                "Malware on laptop-1".to_owned(),
                "Seen by Defender".to_owned(),
            ],
            proposed_by: Proposer {
                kind: ProposerKind::Technician,
                user_id: Some(UserId::from_uuid(uuid::Uuid::from_u128(5))),
            },
            ..action(1)
        };
        let text = comment(&ticket);
        assert!(text.starts_with("laptop-1: Malware on laptop-1"), "{text}");
        assert!(text.contains("\n- Seen by Defender"), "{text}");
        assert!(text.contains("proposed by a technician"), "{text}");
    }

    #[test]
    fn a_batch_member_waits_for_its_canary_runs_after_it_or_is_cancelled_with_it() {
        use ActionStatus::{Executing, Failed, Queued, Verified};
        let second = ActionId::from_uuid(uuid::Uuid::from_u128(2));
        // The canary itself, and a member whose canary is verified, go on.
        assert_eq!(
            gate(batch(&[Queued, Queued])[0].id, &batch(&[Queued, Queued])),
            None
        );
        assert_eq!(gate(second, &batch(&[Verified, Queued])), None);
        // Until the canary is verified, the member rests (the canary queues it again).
        assert_eq!(gate(second, &batch(&[Executing, Queued])), Some(Step::Done));
        // A canary that failed takes the member with it, saying why.
        let Some(Step::Move(ActionStatus::Cancelled, record)) =
            gate(second, &batch(&[Failed, Queued]))
        else {
            panic!("the member is not cancelled");
        };
        assert_eq!(
            record.detail.as_deref(),
            Some("not run: the batch's canary (laptop-1) ended failed")
        );
        // A denied first target is not the canary: the next one is.
        assert_eq!(gate(second, &batch(&[ActionStatus::Denied, Queued])), None);
    }

    #[test]
    fn a_guardrail_tripped_after_the_decision_holds_back_only_an_unattended_action() {
        let queued = action(1);
        assert_eq!(hold_for(&queued, &[]), None);
        assert_eq!(
            hold_for(&queued, &[Pause::RateLimited]),
            None,
            "counted when decided"
        );
        let Some(Step::Hold(decision, why)) = hold_for(&queued, &[Pause::KillSwitch]) else {
            panic!("the kill switch does not hold the action");
        };
        assert_eq!(decision.outcome, PolicyOutcome::TechnicianApproval);
        assert!(why.starts_with("the kill switch was pulled"), "{why}");
        let Some(Step::Hold(_, why)) = hold_for(&queued, &[Pause::CircuitOpen]) else {
            panic!("the circuit breaker does not hold the action");
        };
        assert!(why.starts_with("the circuit breaker opened"), "{why}");
        // A person who approved this version already decided: the guardrail does not ask again.
        let approved = Action {
            approvals: vec![Approval {
                user_id: UserId::from_uuid(uuid::Uuid::from_u128(5)),
                side: ApproverSide::Technician,
                role: None,
                approved: true,
                version: "v1".to_owned(),
                comment: None,
                decided_at: at(1),
            }],
            ..action(1)
        };
        assert_eq!(hold_for(&approved, &[Pause::KillSwitch]), None);
        let waiting = Action {
            decision: PolicyDecision::new(PolicyOutcome::CustomerApproval, Vec::new()),
            ..action(1)
        };
        assert_eq!(hold_for(&waiting, &[Pause::KillSwitch]), None);
    }
}
