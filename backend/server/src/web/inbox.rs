//! The sandbox's inbox in the UI (demos): the approval emails and Slack messages Steward sent
//! for the viewer's MSP — to MSP admins and technicians all of them, to a customer's people
//! their own mail and the channel shared with their organisation. A Slack button is clicked as
//! the Slack user linked to the viewer, and the request, signed as Slack signs it, goes through
//! the same verification as Slack's.

use axum::{
    extract::{Query, State},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_domain::{
    TenantId, access::Permission, integrations::SlackConnection, tenancy::RoleSide,
};
use steward_frontend::pages::inbox::{self, InboxMail, InboxPage, InboxSlackMessage};

use super::{
    UiError,
    pages::{PageQuery, back, chrome},
    session::{WebForm, WebSession},
};
use crate::state::AppState;

const PAGE: &str = "/sandbox/inbox";

/// Whose inbox the viewer may see: the MSP's (its admins and technicians), or one customer's
/// (that tenant's people).
fn audience(s: &WebSession) -> Result<Option<TenantId>, UiError> {
    match (s.caller.role().side(), s.caller.user().tenant_id) {
        (RoleSide::Customer, Some(tenant)) => Ok(Some(tenant)),
        _ => {
            s.caller.require(Permission::RunSandboxScenarios)?;
            Ok(None)
        }
    }
}

/// Whether a customer's person may see a Slack message: only in the channel shared with their
/// organisation.
fn shared_with(connection: Option<&SlackConnection>, tenant: TenantId, channel: &str) -> bool {
    connection
        .and_then(|c| c.tenant_channels.get(&tenant))
        .is_some_and(|shared| shared == channel)
}

pub async fn page(
    State(state): State<AppState>,
    s: WebSession,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let customer = audience(&s)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let msp = s.caller.msp_id().as_uuid();
    let connection =
        steward_core::storage::slack::connection(state.storage.conn(), s.caller.msp_id()).await?;
    let email = s.caller.user().email.clone();
    let mails = sandbox
        .mailbox()
        .await
        .into_iter()
        .filter(|mail| mail.msp_id == msp)
        .filter(|mail| customer.is_none() || mail.to.eq_ignore_ascii_case(email.as_str()))
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
        if customer.is_some() && !shared_with(connection.as_ref(), tenant, &message.channel) {
            continue;
        }
        slack.push(InboxSlackMessage {
            buttons: message
                .buttons()
                .filter_map(|element| element["action_id"].as_str().map(str::to_owned))
                .collect(),
            channel: message.channel,
            ts: message.ts,
            text: message.text,
            updates: message.updates,
        });
    }
    let linked_as = linked_slack_user(connection.as_ref(), &s);
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
fn linked_slack_user(connection: Option<&SlackConnection>, s: &WebSession) -> Option<String> {
    connection.and_then(|c| {
        c.users
            .iter()
            .find(|(_, user)| **user == s.caller.user().id)
            .map(|(slack_user, _)| slack_user.clone())
    })
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
    WebForm {
        session: s, form, ..
    }: WebForm<ClickForm>,
) -> Result<Response, UiError> {
    let customer = audience(&s)?;
    let sandbox = state.sandbox.as_ref().ok_or(UiError::NotFound)?;
    let connection =
        steward_core::storage::slack::connection(state.storage.conn(), s.caller.msp_id()).await?;
    let Some(slack_user) = linked_slack_user(connection.as_ref(), &s) else {
        return Ok(back(PAGE, Err("slack-not-linked")));
    };
    // A customer's person clicks only what they see: a message in their shared channel.
    if let Some(tenant) = customer {
        let visible = sandbox
            .slack_messages()
            .await
            .iter()
            .any(|m| m.ts == form.ts && shared_with(connection.as_ref(), tenant, &m.channel));
        if !visible {
            return Err(UiError::NotFound);
        }
    }
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
