//! The sandbox's inbox in the UI (demos): the approval emails and Slack messages Steward sent
//! for the viewer's MSP. A Slack button is clicked as the Slack user linked to the viewer, and
//! the request, signed as Slack signs it, goes through the same verification as Slack's.

use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_domain::access::Permission;
use steward_frontend::pages::inbox::{self, InboxMail, InboxPage, InboxSlackMessage};

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
    s.caller.require(Permission::RunSandboxScenarios)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let msp = s.caller.msp_id().as_uuid();
    let mails = sandbox
        .mailbox()
        .await
        .into_iter()
        .filter(|mail| mail.msp_id == msp)
        .map(|mail| InboxMail {
            to: mail.to,
            subject: mail.subject,
            body: mail.body,
            received_at: mail.received_at,
        })
        .collect();
    let mut slack = Vec::new();
    for message in sandbox.slack_messages().await {
        // The channel is the simulated workspace's; show the messages about this MSP's tenants.
        let tenant = message.metadata["event_payload"]["tenant_id"]
            .as_str()
            .and_then(|id| id.parse().ok());
        let Some(tenant) = tenant else { continue };
        if s.caller.tenant(s.storage.conn(), tenant).await?.is_none() {
            continue;
        }
        slack.push(InboxSlackMessage {
            buttons: message
                .buttons()
                .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
                .collect(),
            ts: message.ts,
            text: message.text,
            updates: message.updates,
        });
    }
    let linked_as = linked_slack_user(&state, &s).await?;
    let chrome = chrome(&s, PAGE, query.flash()).await?;
    Ok(Html(inbox::render(
        chrome,
        InboxPage {
            mails,
            slack,
            linked_as,
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

/// The Slack user of the MSP's connection linked to the signed-in user, if any.
async fn linked_slack_user(state: &AppState, s: &WebSession) -> Result<Option<String>, UiError> {
    let connection =
        steward_core::storage::slack::connection(state.storage.conn(), s.caller.msp_id()).await?;
    Ok(connection.and_then(|c| {
        c.users
            .into_iter()
            .find(|(_, user)| *user == s.caller.user().id)
            .map(|(slack_user, _)| slack_user)
    }))
}

#[derive(Debug, Deserialize)]
pub struct ClickForm {
    ts: String,
    action_id: String,
}

/// Clicks a button of a Slack message as the Slack user linked to the signed-in user: the
/// sandbox signs the request as Slack would, and Steward verifies and answers it as it does
/// Slack's.
pub async fn click(
    State(state): State<AppState>,
    WebForm { session: s, form }: WebForm<ClickForm>,
) -> Result<Response, UiError> {
    s.caller.require(Permission::RunSandboxScenarios)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let Some(slack_user) = linked_slack_user(&state, &s).await? else {
        return Ok(back(PAGE, Err("slack-not-linked")));
    };
    let signed = sandbox
        .slack_click(&form.ts, &form.action_id, &slack_user)
        .await
        .map_err(UiError::BadForm)?;
    let (_, answer) = crate::http::slack::deliver(
        &state,
        s.caller.msp_id(),
        Some(&signed.timestamp),
        Some(&signed.signature),
        signed.body.as_bytes(),
    )
    .await;
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
