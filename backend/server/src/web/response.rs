//! The response page (approvals, actions, incidents, risk) and its forms.

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use std::collections::HashMap;
use steward_core::{
    proposals::{self, ActionRequest, RequestError},
    storage::{
        ActionRequestError, GuardrailError, IncidentUpdateError, PageRequest, TenantWork, WorkError,
    },
};

use steward_domain::{
    ActionId, IncidentId, TenantId,
    access::Permission,
    actions::{
        ActionParameters, ActionStatus, ActionType, ApproverSide, PolicyDecision, ProposerKind,
        TargetKind,
    },
    incidents::{EntityKey, IncidentStatus, IncidentUpdate, Verdict},
};
use steward_frontend::pages::response::{self, ResponsePage};

use crate::state::AppState;

use super::{
    UiError,
    pages::{PageQuery, back, chrome},
    session::{WebForm, WebSession},
};

fn page_path(tenant_id: TenantId) -> String {
    format!("/tenants/{tenant_id}/response")
}

/// How many incidents and actions the page lists (the newest).
const SHOWN: u64 = 100;

pub async fn page(
    State(state): State<AppState>,
    s: WebSession,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let scope = s
        .caller
        .tenant(s.storage.conn(), tenant_id)
        .await?
        .ok_or(UiError::NotFound)?;
    let first = || PageRequest {
        limit: SHOWN,
        after: None,
    };
    let actions = scope.actions()?.list(None, first()).await?.items;
    let (incidents, risk) = if scope.allows(Permission::ReadIncidents) {
        (
            scope.incidents()?.list(None, first()).await?.items,
            scope.risk()?.current().await?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let approver_side = if s.caller.allows(Permission::ApproveAsCustomer) {
        Some(ApproverSide::Customer)
    } else if s.caller.allows(Permission::ApproveAsTechnician) {
        Some(ApproverSide::Technician)
    } else {
        None
    };
    let guardrails = scope
        .guardrails()?
        .status(
            s.clock.now(),
            scope.tenant().automation_level,
            state.policies.limits(),
        )
        .await?;
    let what_if = what_if(&state, &s, tenant_id, &actions).await?;
    let mut proposable = Vec::new();
    if s.caller.allows(Permission::ProposeActions) {
        let inventory = scope.inventory()?;
        proposable.extend(inventory.devices().await?.into_iter().map(|d| {
            (
                EntityKey {
                    kind: TargetKind::Device,
                    id: d.id,
                },
                d.hostname,
            )
        }));
        proposable.extend(inventory.identities().await?.into_iter().map(|i| {
            (
                EntityKey {
                    kind: TargetKind::Identity,
                    id: i.id,
                },
                i.user_principal_name,
            )
        }));
    }
    let chrome = chrome(&s, &format!("/tenants/{tenant_id}"), query.flash()).await?;
    Ok(Html(response::render(
        chrome,
        ResponsePage {
            tenant: scope.tenant().clone(),
            incidents,
            actions,
            risk,
            approver_side,
            viewer_id: s.caller.user().id,
            viewer_role: s.caller.role(),
            can_work_incidents: s.caller.allows(Permission::WorkIncidents),
            can_roll_back: s.caller.allows(Permission::ProposeActions),
            can_read_incidents: s.caller.allows(Permission::ReadIncidents),
            can_read_reports: s.caller.allows(Permission::ReadReports),
            guardrails,
            what_if,
            can_halt: s.caller.allows(Permission::HaltAutomation),
            can_release: s.caller.allows(Permission::ManageAutomation),
            proposable,
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

/// The flash code for a refused request, or the error page for what is not the user's doing.
fn refusal(err: WorkError) -> Result<&'static str, UiError> {
    Ok(match err {
        WorkError::Forbidden(forbidden) => return Err(UiError::Forbidden(forbidden)),
        WorkError::Storage(storage) => return Err(storage.into()),
        WorkError::Action(action) => match action {
            ActionRequestError::NotFound(_) => return Err(UiError::NotFound),
            ActionRequestError::NotAwaitingApproval(_) => "not-awaiting-approval",
            ActionRequestError::StaleVersion { .. } => "stale-version",
            ActionRequestError::NeedsCustomer => "customer-approval-required",
            ActionRequestError::NeedsTechnician => "technician-approval-required",
            ActionRequestError::OwnProposal => "own-proposal",
            ActionRequestError::NeedsRole(_) => "approver-role-required",
            ActionRequestError::AlreadyAnswered => "already-answered",
            ActionRequestError::Contended => "answer-conflict",
            ActionRequestError::Expired => "request-expired",
            ActionRequestError::Irreversible(..) => "irreversible",
            ActionRequestError::NotRollbackable(_) => "not-rollbackable",
            ActionRequestError::InvalidComment(_) => "invalid-comment",
            ActionRequestError::Storage(storage) => return Err(storage.into()),
        },
        WorkError::Guardrail(guardrail) => match guardrail {
            GuardrailError::NotEngaged => "kill-switch-not-pulled",
            GuardrailError::InvalidReason(_) => "reason-too-long",
            GuardrailError::Schedule(_) => "invalid-maintenance-schedule",
            GuardrailError::Storage(storage) => return Err(storage.into()),
        },
        WorkError::Incident(incident) => match incident {
            IncidentUpdateError::NotFound(_) => return Err(UiError::NotFound),
            IncidentUpdateError::VerdictRequired => "verdict-required",
            IncidentUpdateError::VerdictWithoutResolution => "verdict-without-resolution",
            IncidentUpdateError::InvalidAssignee(_) => "invalid-assignee",
            IncidentUpdateError::Storage(storage) => return Err(storage.into()),
        },
    })
}

/// What the governing policy would decide now for each action waiting for approval, as its
/// proposer would propose it (for those who may ask the policy), recording nothing.
async fn what_if(
    state: &AppState,
    s: &WebSession,
    tenant_id: TenantId,
    actions: &[steward_domain::actions::Action],
) -> Result<HashMap<ActionId, PolicyDecision>, UiError> {
    let mut decisions = HashMap::new();
    if !s.caller.allows(Permission::ProposeActions) {
        return Ok(decisions);
    }
    let txn = s.storage.begin_read().await?;
    let context = s.write(&txn);
    let Some(work) = s.caller.work(&context, tenant_id).await? else {
        return Ok(decisions);
    };
    for action in actions
        .iter()
        .filter(|a| a.status == ActionStatus::AwaitingApproval)
    {
        let target = EntityKey {
            kind: action.target.kind,
            id: action.target.id,
        };
        let simulated = steward_core::triage::simulate(
            &work,
            &state.policies,
            action.kind,
            target,
            action.proposed_by.kind,
            action.batch.map_or(1, |b| b.size),
            &action.parameters,
        )
        .await
        .map_err(|err| UiError::internal(&err))?;
        if let Some(simulation) = simulated {
            decisions.insert(action.id, simulation.decided.decision);
        }
    }
    drop(work);
    drop(context);
    // Nothing to keep: a simulation writes nothing.
    txn.rollback().await?;
    Ok(decisions)
}

/// Runs a form's write on the signed-in user's work in the tenant and goes back to the page,
/// saying what was done (the write's answer) or why it was refused (then nothing is kept).
async fn in_work(
    s: &WebSession,
    tenant_id: TenantId,
    write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<&'static str, WorkError>,
) -> Result<Response, UiError> {
    in_work_refusing(s, tenant_id, write, refusal).await
}

/// As [`in_work`], for a write with its own errors, each turned into a flash code (or an error
/// page) by `refused`.
async fn in_work_refusing<E>(
    s: &WebSession,
    tenant_id: TenantId,
    write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<&'static str, E>,
    refused: impl FnOnce(E) -> Result<&'static str, UiError>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let context = s.write(&txn);
    let work = s
        .caller
        .work(&context, tenant_id)
        .await?
        .ok_or(UiError::NotFound)?;
    let outcome = write(&work).await;
    drop(work);
    drop(context);
    match outcome {
        Ok(done) => {
            txn.commit().await?;
            Ok(back(&page_path(tenant_id), Ok(done)))
        }
        Err(err) => Ok(back(&page_path(tenant_id), Err(refused(err)?))),
    }
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    version: String,
    #[serde(default)]
    comment: String,
    /// The approver's password or second-factor code, for an irreversible action when they
    /// have not confirmed who they are in the last minutes.
    #[serde(default)]
    confirm: String,
}

async fn answer(
    s: WebSession,
    tenant_id: TenantId,
    action_id: ActionId,
    approve: bool,
    form: AnswerForm,
) -> Result<Response, UiError> {
    let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
    in_work(&s, tenant_id, async |work| {
        let action =
            steward_core::approvals::answer(work, action_id, approve, form.version, comment)
                .await?;
        Ok(match action.status {
            ActionStatus::Rejected => "action-rejected",
            ActionStatus::AwaitingApproval => "approval-recorded",
            _ => "action-approved",
        })
    })
    .await
}

pub async fn approve(
    State(state): State<AppState>,
    Path((tenant_id, action_id)): Path<(TenantId, ActionId)>,
    WebForm { session, form }: WebForm<AnswerForm>,
) -> Result<Response, UiError> {
    // What cannot be undone is approved only by someone who just proved who they are.
    let irreversible = match session
        .caller
        .tenant(session.storage.conn(), tenant_id)
        .await?
    {
        Some(scope) => scope
            .actions()?
            .get(action_id)
            .await?
            .is_some_and(|action| !action.reversible),
        None => false,
    };
    if irreversible
        && let Err(code) =
            super::second_factor::step_up(&session, &state.secrets, &form.confirm).await?
    {
        return Ok(back(&format!("/tenants/{tenant_id}/response"), Err(code)));
    }
    answer(session, tenant_id, action_id, true, form).await
}

pub async fn reject(
    Path((tenant_id, action_id)): Path<(TenantId, ActionId)>,
    WebForm { session, form }: WebForm<AnswerForm>,
) -> Result<Response, UiError> {
    answer(session, tenant_id, action_id, false, form).await
}

/// Proposes one action type for the checked targets (a form with repeated `target` fields).
pub async fn propose(
    State(state): State<AppState>,
    Path(tenant_id): Path<TenantId>,
    WebForm { session: s, form }: WebForm<Vec<(String, String)>>,
) -> Result<Response, UiError> {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    };
    let kind: ActionType = field("type")
        .parse()
        .map_err(|err: String| UiError::BadForm(err))?;
    let mut targets = Vec::new();
    for (_, value) in form.iter().filter(|(key, _)| key == "target") {
        targets.push(
            value
                .parse::<uuid::Uuid>()
                .map_err(|_| UiError::BadForm(format!("{value:?} is not a target id")))?,
        );
    }
    let optional = |name: &str| Some(field(name).trim().to_owned()).filter(|v| !v.is_empty());
    let vendor = optional("vendor")
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.clone()))
                .map_err(|_| UiError::BadForm(format!("{v:?} is not a vendor")))
        })
        .transpose()?;
    let request = ActionRequest {
        kind,
        parameters: ActionParameters {
            group_id: optional("group_id"),
            script_id: optional("script_id"),
            undo_script_id: optional("undo_script_id"),
            vendor,
        },
        targets,
        reason: field("reason"),
        incident_id: None,
        idempotency_key: None,
        proposer: ProposerKind::Technician,
    };
    in_work_refusing(
        &s,
        tenant_id,
        async |work| {
            proposals::request(work, &state.policies, &request).await?;
            Ok("actions-proposed")
        },
        |err| {
            Ok(match err {
                RequestError::Work(err) => refusal(err)?,
                RequestError::TargetCount(_) => "invalid-targets",
                RequestError::DuplicateTarget(_) => "duplicate-target",
                RequestError::UnknownTarget { .. } => "unknown-target",
                RequestError::Reason => "invalid-reason",
                RequestError::Parameters(_) => "invalid-parameters",
                RequestError::UnknownIncident(_)
                | RequestError::InvalidKey
                | RequestError::KeyReused(_) => {
                    return Err(UiError::BadForm(err.to_string()));
                }
            })
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct EmptyForm {}

pub async fn roll_back(
    Path((tenant_id, action_id)): Path<(TenantId, ActionId)>,
    WebForm { session: s, .. }: WebForm<EmptyForm>,
) -> Result<Response, UiError> {
    in_work(&s, tenant_id, async |work| {
        work.request_rollback(action_id).await?;
        Ok("rollback-requested")
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct HaltForm {
    #[serde(default)]
    reason: String,
}

/// Pulls the tenant's kill switch.
pub async fn pull_kill_switch(
    Path(tenant_id): Path<TenantId>,
    WebForm { session: s, form }: WebForm<HaltForm>,
) -> Result<Response, UiError> {
    in_work(&s, tenant_id, async |work| {
        work.halt_automation(&form.reason).await?;
        Ok("kill-switch-pulled")
    })
    .await
}

/// Releases the tenant's kill switch (MSP admins).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    /// The password or second-factor code, when not confirmed in the last minutes.
    #[serde(default)]
    confirm: String,
}

pub async fn release_kill_switch(
    State(state): State<AppState>,
    Path(tenant_id): Path<TenantId>,
    WebForm { session: s, form }: WebForm<ConfirmForm>,
) -> Result<Response, UiError> {
    if let Err(code) = super::second_factor::step_up(&s, &state.secrets, &form.confirm).await? {
        return Ok(back(&format!("/tenants/{tenant_id}/response"), Err(code)));
    }
    in_work(&s, tenant_id, async |work| {
        work.release_automation().await?;
        Ok("kill-switch-released")
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct IncidentForm {
    status: String,
    #[serde(default)]
    verdict: String,
}

pub async fn update_incident(
    Path((tenant_id, incident_id)): Path<(TenantId, IncidentId)>,
    WebForm { session: s, form }: WebForm<IncidentForm>,
) -> Result<Response, UiError> {
    let status = IncidentStatus::parse(&form.status)
        .ok_or_else(|| UiError::BadForm(format!("unknown status {:?}", form.status)))?;
    let verdict = match form.verdict.as_str() {
        "" => None,
        other => Some(
            Verdict::parse(other)
                .ok_or_else(|| UiError::BadForm(format!("unknown verdict {other:?}")))?,
        ),
    };
    in_work(&s, tenant_id, async |work| {
        steward_core::incidents::update_incident(
            work,
            incident_id,
            &IncidentUpdate {
                status: Some(status),
                verdict,
                ..IncidentUpdate::default()
            },
        )
        .await?;
        Ok("incident-updated")
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default, deserialize_with = "crate::http::api::reports::rfc3339")]
    from: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, deserialize_with = "crate::http::api::reports::rfc3339")]
    to: Option<chrono::DateTime<chrono::Utc>>,
}

async fn build_report(
    s: &WebSession,
    tenant_id: TenantId,
    query: &ReportQuery,
) -> Result<steward_domain::reports::OutcomeReport, UiError> {
    let now = s.clock.now();
    let to = query.to.unwrap_or(now);
    let from = query.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to || to - from > steward_core::reports::MAX_PERIOD {
        return Err(UiError::BadForm(
            "the report's period must start before it ends and span at most 366 days".into(),
        ));
    }
    let scope = s
        .caller
        .tenant(s.storage.conn(), tenant_id)
        .await?
        .ok_or(UiError::NotFound)?;
    steward_core::reports::outcome_report(&scope, from, to, now)
        .await
        .map_err(|err| match err {
            steward_core::storage::TenantScopeError::Forbidden(forbidden) => {
                UiError::Forbidden(forbidden)
            }
            steward_core::storage::TenantScopeError::Storage(storage) => storage.into(),
        })
}

/// The outcome report as a page.
pub async fn report(
    s: WebSession,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, UiError> {
    let report = build_report(&s, tenant_id, &query).await?;
    let pdf = format!(
        "/tenants/{tenant_id}/report.pdf?from={}&to={}",
        report
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let chrome = chrome(&s, &format!("/tenants/{tenant_id}"), None).await?;
    Ok(Html(steward_frontend::pages::report::render(
        chrome,
        report,
        pdf,
        format!("/tenants/{tenant_id}"),
    ))
    .into_response())
}

/// The outcome report as a PDF download.
pub async fn report_pdf(
    s: WebSession,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, UiError> {
    let report = build_report(&s, tenant_id, &query).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"outcome-{}.pdf\"",
                    report.to.format("%Y-%m-%d")
                ),
            ),
        ],
        crate::reports_pdf::render(&report),
    )
        .into_response())
}
