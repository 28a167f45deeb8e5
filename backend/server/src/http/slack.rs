//! `POST /slack/interactions/{msp_id}`: Slack's request when someone clicks Approve or Reject
//! on an approval message. Authenticated by Slack's signature (HMAC-SHA256 with the MSP's
//! signing secret over `v0:{timestamp}:{body}`, at most five minutes old), not by a user; the
//! clicking Slack user must be linked to a Steward user, whose role is checked as for any
//! answer. A refused request changes nothing.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use serde_json::{Value, json};
use steward_core::{
    approvals::{SlackAnswerError, answer_in_slack},
    storage::{Deployment, slack},
};
use steward_domain::{ActionId, MspId, TenantId, audit::AuditActor};
use steward_integrations::slack::signature;

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/slack/interactions/{msp_id}", post(interaction))
}

/// What Slack sends for a button click (`block_actions`); other fields are ignored.
#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    actions: Vec<ButtonAction>,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    id: String,
}

#[derive(Debug, Deserialize)]
struct ButtonAction {
    action_id: String,
    value: String,
}

/// A reply shown only to the person who clicked.
fn ephemeral(text: &str) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({"response_type": "ephemeral", "replace_original": false, "text": text}),
    )
}

fn refused(status: StatusCode, text: &str) -> (StatusCode, Value) {
    (status, json!({"error": text}))
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `tenant:action:version` as the approval message's buttons carry it.
fn button_target(value: &str) -> Option<(TenantId, ActionId, String)> {
    let mut parts = value.splitn(3, ':');
    let tenant = parts.next()?.parse().ok()?;
    let action = parts.next()?.parse().ok()?;
    Some((tenant, action, parts.next()?.to_owned()))
}

async fn interaction(
    State(state): State<AppState>,
    Path(msp_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (status, answer) = match msp_id.parse::<MspId>() {
        Ok(msp_id) => {
            deliver(
                &state,
                msp_id,
                header(&headers, "x-slack-request-timestamp"),
                header(&headers, "x-slack-signature"),
                &body,
            )
            .await
        }
        Err(_) => refused(StatusCode::NOT_FOUND, "no such Slack connection"),
    };
    (status, Json(answer)).into_response()
}

/// Takes one interactivity request as Slack sent it (its signature headers and raw body) and
/// returns what Slack gets back. The sandbox's inbox hands its signed clicks to this too.
pub(crate) async fn deliver(
    state: &AppState,
    msp_id: MspId,
    timestamp: Option<&str>,
    signed: Option<&str>,
    body: &[u8],
) -> (StatusCode, Value) {
    let credentials = match slack::credentials(state.storage.conn(), &state.secrets, msp_id).await {
        Ok(Some(credentials)) => credentials,
        Ok(None) => return refused(StatusCode::NOT_FOUND, "no such Slack connection"),
        Err(error) => {
            tracing::error!(%error, "cannot read the Slack connection");
            return refused(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let (connection, _, signing_secret) = credentials;
    if let Err(error) = signature::verify(
        secrecy::ExposeSecret::expose_secret(&signing_secret),
        timestamp,
        signed,
        body,
        state.clock.now(),
    ) {
        tracing::warn!(%msp_id, %error, "refused a Slack request");
        return refused(StatusCode::UNAUTHORIZED, &error.to_string());
    }
    let payload = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == "payload"))
        .and_then(|(_, json)| serde_json::from_str::<Payload>(&json).ok());
    let Some(payload) = payload.filter(|p| p.kind == "block_actions") else {
        return refused(StatusCode::BAD_REQUEST, "not a block_actions payload");
    };
    let Some(button) = payload.actions.first() else {
        return refused(StatusCode::BAD_REQUEST, "no action in the payload");
    };
    let approve = match button.action_id.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return ephemeral("Steward does not know this button."),
    };
    let Some((tenant_id, action_id, version)) = button_target(&button.value) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "the button's value is not Steward's",
        );
    };
    match answer(
        state,
        msp_id,
        &connection,
        &payload.user.id,
        (tenant_id, action_id, version),
        approve,
    )
    .await
    {
        Ok(()) => ephemeral(if approve {
            "Approved in Steward."
        } else {
            "Rejected in Steward."
        }),
        Err(text) => ephemeral(&text),
    }
}

async fn answer(
    state: &AppState,
    msp_id: MspId,
    connection: &steward_domain::integrations::SlackConnection,
    slack_user: &str,
    (tenant_id, action_id, version): (TenantId, ActionId, String),
    approve: bool,
) -> Result<(), String> {
    let internal = |error: &dyn std::fmt::Display| {
        tracing::error!(%error, "a Slack answer failed");
        "Steward could not record the answer; try again in Steward.".to_owned()
    };
    let txn = state.storage.begin().await.map_err(|e| internal(&e))?;
    let deployment = Deployment::new(&txn);
    let actor = AuditActor {
        kind: steward_domain::audit::ActorKind::User,
        user_id: connection.users.get(slack_user).copied(),
        label: format!("Slack user {slack_user}"),
    };
    let ctx = deployment.write_context(state.clock.as_ref(), &state.keys, actor);
    let answered = answer_in_slack(
        &ctx, msp_id, connection, slack_user, tenant_id, action_id, approve, version,
    )
    .await;
    drop(ctx);
    match answered {
        Ok(_) => txn.commit().await.map_err(|e| internal(&e)),
        Err(SlackAnswerError::Storage(error)) => Err(internal(&error)),
        Err(error) => Err(format!("Not recorded: {error}.")),
    }
}
