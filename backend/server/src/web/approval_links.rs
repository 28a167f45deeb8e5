//! Approval links from email: `GET /approvals/{secret}` shows the action (recording the view,
//! deciding nothing), `POST` answers it as the link's approver. No session: the link's secret,
//! single-use and bound to one person and one version of the action, is the credential.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_core::storage::{
    ActionRequestError, Deployment,
    approval_links::{self, LinkError, ResolvedLink},
};
use steward_domain::actions::ActionStatus;
use steward_frontend::pages::{
    approval_link::{self, ApprovalLinkPage},
    message,
};

use super::UiError;
use crate::state::AppState;

/// A page saying why the link cannot be used, with the fitting status.
fn refused(err: &LinkError) -> Result<Response, UiError> {
    let status = match err {
        LinkError::Unknown => StatusCode::NOT_FOUND,
        LinkError::Used | LinkError::Expired => StatusCode::GONE,
        LinkError::Changed | LinkError::Decided(_) => StatusCode::CONFLICT,
        LinkError::NotAllowed => StatusCode::FORBIDDEN,
        LinkError::Action(ActionRequestError::Storage(_)) | LinkError::Storage(_) => {
            return Err(UiError::internal(err));
        }
        LinkError::Action(ActionRequestError::InvalidComment(_)) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        LinkError::Action(_) => StatusCode::CONFLICT,
    };
    let text = format!("{}.", capitalized(&err.to_string()));
    Ok((
        status,
        Html(message::render(
            None,
            "This approval link cannot be used",
            &text,
            ("/login", "Sign in to Steward"),
        )),
    )
        .into_response())
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

async fn resolve_in(
    state: &AppState,
    txn: &steward_core::storage::DatabaseTransaction,
    secret: &str,
) -> Result<ResolvedLink, LinkError> {
    approval_links::resolve(txn, secret, state.clock.now()).await
}

pub async fn show(
    State(state): State<AppState>,
    Path(secret): Path<String>,
) -> Result<Response, UiError> {
    let txn = state.storage.begin().await?;
    let link = match resolve_in(&state, &txn, &secret).await {
        Ok(link) => link,
        Err(err) => return refused(&err),
    };
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(state.clock.as_ref(), &state.keys, link.actor());
    approval_links::record_view(&ctx, &link).await?;
    drop(ctx);
    txn.commit().await?;
    Ok(Html(approval_link::render(ApprovalLinkPage {
        tenant_name: link.tenant.name.clone(),
        approver: link.user.email.clone(),
        link_expires_at: link.expires_at,
        post_to: format!("/approvals/{secret}"),
        action: link.action,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    comment: String,
}

pub async fn decide(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    Form(form): Form<DecisionForm>,
) -> Result<Response, UiError> {
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(UiError::BadForm(format!(
                "decision must be approve or reject, not {other:?}"
            )));
        }
    };
    let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
    let txn = state.storage.begin().await?;
    let link = match resolve_in(&state, &txn, &secret).await {
        Ok(link) => link,
        Err(err) => return refused(&err),
    };
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(state.clock.as_ref(), &state.keys, link.actor());
    let answered = steward_core::approvals::answer_link(&ctx, &link, approve, comment).await;
    drop(ctx);
    let action = match answered {
        Ok(action) => action,
        Err(err) => return refused(&err),
    };
    txn.commit().await?;
    let (title, text) = match action.status {
        ActionStatus::Rejected => (
            "Rejected",
            "You rejected the action; it will not run. Thank you.",
        ),
        ActionStatus::AwaitingApproval => (
            "Approval recorded",
            "Your approval is recorded; the action waits for the other approvers the policy asks for.",
        ),
        _ => (
            "Approved",
            "You approved the action; Steward runs it now and verifies it took effect.",
        ),
    };
    Ok(Html(message::render(
        None,
        title,
        text,
        ("/login", "Sign in to Steward"),
    ))
    .into_response())
}
