//! The response page's forms about actions: approve, reject, propose, roll back.

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;
use steward_domain::{
    ActionId, TenantId,
    actions::{ActionParameters, ActionStatus, ActionType, ProposerKind},
};

use super::scoped::{WebTenant, WebTenantForm};
use crate::state::AppState;

use super::{UiError, pages::back, response::refusal};
use steward_core::decisions::proposals::{self, ActionRequest, RequestError};

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
    s: WebTenant,
    action_id: ActionId,
    approve: bool,
    form: AnswerForm,
) -> Result<Response, UiError> {
    let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
    s.in_work(async |work| {
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
    WebTenantForm { session, form }: WebTenantForm<AnswerForm>,
) -> Result<Response, UiError> {
    // What cannot be undone is approved only by someone who just proved who they are.
    let irreversible = session
        .scope()
        .actions()?
        .get(action_id)
        .await?
        .is_some_and(|action| !action.reversible);
    if irreversible
        && let Err(code) =
            super::second_factor::step_up(&session, &state.secrets, &form.confirm).await?
    {
        return Ok(back(&format!("/tenants/{tenant_id}/response"), Err(code)));
    }
    answer(session, action_id, true, form).await
}

pub async fn reject(
    Path((_, action_id)): Path<(TenantId, ActionId)>,
    WebTenantForm { session, form }: WebTenantForm<AnswerForm>,
) -> Result<Response, UiError> {
    answer(session, action_id, false, form).await
}

/// Proposes one action type for the checked targets (a form with repeated `target` fields).
pub async fn propose(
    State(state): State<AppState>,
    WebTenantForm { session: s, form }: WebTenantForm<Vec<(String, String)>>,
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
    s.in_work_refusing(
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
    Path((_, action_id)): Path<(TenantId, ActionId)>,
    WebTenantForm { session: s, .. }: WebTenantForm<EmptyForm>,
) -> Result<Response, UiError> {
    s.in_work(async |work| {
        steward_core::actions::request_rollback(work, action_id).await?;
        Ok("rollback-requested")
    })
    .await
}
