//! The response page (approvals, actions, incidents, risk), and the plumbing its forms share:
//! each form's write runs on the user's work in the tenant and goes back to the page saying what
//! was done or why it was refused. The forms are in `actions`, `guardrails` and `incidents`.

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use std::collections::HashMap;
use steward_core::storage::{
    ActionRequestError, GuardrailError, IncidentUpdateError, PageRequest, WorkError,
};

use steward_domain::{
    ActionId, TenantId,
    access::Permission,
    actions::{ActionStatus, ApproverSide, PolicyDecision, TargetKind},
    incidents::EntityKey,
};
use steward_frontend::pages::response::{self, ResponsePage};

use super::scoped::WebTenant;
use crate::state::AppState;

use super::{
    UiError,
    pages::{PageQuery, chrome},
};

pub(super) fn page_path(tenant_id: TenantId) -> String {
    format!("/tenants/{tenant_id}/response")
}

/// How many incidents and actions the page lists (the newest).
const SHOWN: u64 = 100;

pub async fn page(
    State(state): State<AppState>,
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let scope = s.scope();
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
    let what_if = what_if(&state, &s, &actions).await?;
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
            can_read_detections: s.caller.allows(Permission::ReadDetections),
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
pub(super) fn refusal(err: WorkError) -> Result<&'static str, UiError> {
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
        WorkError::Suppression(suppression) => super::detections::suppression_refusal(&suppression),
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
    s: &WebTenant,
    actions: &[steward_domain::actions::Action],
) -> Result<HashMap<ActionId, PolicyDecision>, UiError> {
    let mut decisions = HashMap::new();
    if !s.caller.allows(Permission::ProposeActions) {
        return Ok(decisions);
    }
    s.without_keeping(async |work| {
        for action in actions
            .iter()
            .filter(|a| a.status == ActionStatus::AwaitingApproval)
        {
            let target = EntityKey {
                kind: action.target.kind,
                id: action.target.id,
            };
            let simulated = steward_core::decisions::simulate(
                work,
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
        Ok(())
    })
    .await?;
    Ok(decisions)
}
