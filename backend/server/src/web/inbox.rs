//! The sandbox's inbox in the UI (demos): approval emails and the simulated Slack channel,
//! whose buttons send Steward a request signed as Slack signs it.

use axum::{
    extract::{Query, State},
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_domain::access::Permission;
use steward_frontend::pages::inbox::{self, InboxMail, InboxPage, InboxSlackMessage};
use steward_integrations::sandbox::slack::USERS;

use super::{
    UiError,
    pages::{PageQuery, back, chrome},
    session::{WebForm, WebSession},
};
use crate::state::AppState;

const PAGE: &str = "/sandbox/inbox";

pub async fn page(
    State(state): State<AppState>,
    s: WebSession,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    s.caller.require(Permission::ReadSandbox)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let mails = sandbox
        .mailbox()
        .await
        .into_iter()
        .map(|mail| InboxMail {
            to: mail.to,
            subject: mail.subject,
            body: mail.body,
            received_at: mail.received_at,
        })
        .collect();
    let slack = sandbox
        .slack_messages()
        .await
        .into_iter()
        .map(|message| InboxSlackMessage {
            buttons: message
                .buttons()
                .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
                .collect(),
            ts: message.ts,
            text: message.text,
            updates: message.updates,
        })
        .collect();
    let chrome = chrome(&s, PAGE, query.flash()).await?;
    Ok(Html(inbox::render(
        chrome,
        InboxPage {
            mails,
            slack,
            slack_users: USERS
                .iter()
                .map(|(id, who)| ((*id).to_owned(), (*who).to_owned()))
                .collect(),
            can_click: s.caller.allows(Permission::RunSandboxScenarios),
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ClickForm {
    ts: String,
    action_id: String,
    user: String,
}

/// Clicks a button of a Slack message as a workspace user: the sandbox signs the request as
/// Slack would, and it goes to Steward's interactivity endpoint over HTTP.
pub async fn click(
    State(state): State<AppState>,
    headers: HeaderMap,
    WebForm { session: s, form }: WebForm<ClickForm>,
) -> Result<Response, UiError> {
    s.caller.require(Permission::RunSandboxScenarios)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let signed = sandbox
        .slack_click(&form.ts, &form.action_id, &form.user)
        .await
        .map_err(UiError::BadForm)?;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| UiError::BadForm("no Host header".into()))?;
    let url = format!("http://{host}/slack/interactions/{}", s.caller.msp_id());
    let answer = steward_integrations::http::VendorHttp::new(Default::default())
        .map_err(|e| UiError::internal(&e))?
        .client()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &signed.timestamp)
        .header("x-slack-signature", &signed.signature)
        .body(signed.body)
        .send()
        .await
        .map_err(|e| UiError::internal(&e))?
        .json::<serde_json::Value>()
        .await
        .unwrap_or_default();
    let text = answer["text"].as_str().unwrap_or_default();
    Ok(back(
        PAGE,
        if text.starts_with("Approved") || text.starts_with("Rejected") {
            Ok("slack-answered")
        } else {
            Err("slack-refused")
        },
    ))
}
