//! A simulated Slack workspace for approvals: `chat.postMessage` and `chat.update` with the Web
//! API's bot-token auth and `{"ok": false, "error": …}` refusals, the messages it received, and
//! the signed interactivity request Slack sends when someone clicks a button.
//!
//! Its credentials are the deployment's own ([`SlackWorkspaceSecrets`]): whoever knows the
//! signing secret can sign a click that approves an action, so it is never a public constant;
//! `steward demo` keeps one per data directory, so the demo's Slack settings survive restarts.

use axum::{
    Json, Router,
    extract::{FromRequest, Request},
    http::HeaderMap,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::Sandbox;
use steward_integrations::slack::signature;

/// The simulated workspace's credentials: the bot token it accepts and the secret it signs
/// interactivity requests with.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackWorkspaceSecrets {
    pub bot_token: String,
    pub signing_secret: String,
}

impl std::fmt::Debug for SlackWorkspaceSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackWorkspaceSecrets(..)")
    }
}

impl SlackWorkspaceSecrets {
    /// The credentials derived from 32 secret bytes (a key kept in the data directory).
    #[must_use]
    pub fn from_key(key: &[u8; 32]) -> Self {
        let (token, signing) = key.split_at(16);
        Self {
            bot_token: format!("xoxb-sandbox-{}", hex::encode(token)),
            signing_secret: hex::encode(signing),
        }
    }

    /// Fresh random credentials.
    ///
    /// # Panics
    /// When the operating system provides no randomness.
    #[must_use]
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system provides randomness");
        Self::from_key(&key)
    }
}
/// The channel approval requests for the MSP's technicians go to.
pub const CHANNEL: &str = "C0STEWARD01";
/// A channel shared with a customer (Slack Connect), for the requests the customer approves.
pub const CUSTOMER_CHANNEL: &str = "C0CUSTOMER1";

/// The workspace's people by Slack user id: technicians of the demo MSP, and a customer's
/// approver reached through the shared channel.
pub const USERS: [(&str, &str); 4] = [
    ("U0TECH0001", "tech"),
    ("U0ADMIN001", "admin"),
    ("U0CUSTAPPR", "the customer's approver"),
    ("U0STRANGER", "someone not linked to Steward"),
];

/// A message in the simulated workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    /// What the poster attached (`event_type`, `event_payload`); Steward names the tenant and
    /// action there.
    pub metadata: Value,
    /// How many times `chat.update` changed it.
    pub updates: u32,
}

impl SlackMessage {
    /// The interactive elements (buttons) of its blocks.
    pub fn buttons(&self) -> impl Iterator<Item = &Value> {
        self.blocks
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|block| block["elements"].as_array())
            .flatten()
    }
}

#[derive(Debug, Default)]
pub(super) struct Workspace {
    messages: Vec<SlackMessage>,
    next: u64,
}

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/slack/api/chat.postMessage", post(post_message))
        .route("/slack/api/chat.update", post(update_message))
        .with_state(sandbox)
}

/// Slack answers refusals with HTTP 200 and `ok: false`.
fn refuse(error: &str) -> Response {
    Json(json!({"ok": false, "error": error})).into_response()
}

fn authorized(sandbox: &Sandbox, headers: &HeaderMap) -> bool {
    let presented = super::kit::bearer(headers).unwrap_or_default();
    let expected = &sandbox.inner.settings.slack.bot_token;
    bool::from(subtle::ConstantTimeEq::ct_eq(
        presented.as_bytes(),
        expected.as_bytes(),
    ))
}

/// A Web API call's JSON arguments, once its bot token checks out: an extractor, so every method
/// refuses alike (a body that cannot be JSON first, then the token, then a missing body).
struct Arguments(Sandbox, Value);

impl FromRequest<Sandbox> for Arguments {
    type Rejection = Response;

    async fn from_request(request: Request, sandbox: &Sandbox) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let body = Option::<Json<Value>>::from_request(request, sandbox)
            .await
            .map_err(IntoResponse::into_response)?;
        if !authorized(sandbox, &headers) {
            return Err(refuse("invalid_auth"));
        }
        let Some(Json(body)) = body else {
            return Err(refuse("invalid_json"));
        };
        Ok(Self(sandbox.clone(), body))
    }
}

async fn post_message(Arguments(sandbox, body): Arguments) -> Response {
    let Some(channel) = body["channel"].as_str() else {
        return refuse("channel_not_found");
    };
    if channel != CHANNEL && channel != CUSTOMER_CHANNEL {
        return refuse("channel_not_found");
    }
    if body["text"].as_str().is_none() && body["blocks"].is_null() {
        return refuse("no_text");
    }
    let mut workspace = sandbox.inner.slack.lock().await;
    workspace.next += 1;
    let ts = format!(
        "{}.{:06}",
        sandbox.inner.clock.now().timestamp(),
        workspace.next
    );
    let message = SlackMessage {
        channel: channel.to_owned(),
        ts: ts.clone(),
        text: body["text"].as_str().unwrap_or_default().to_owned(),
        blocks: body["blocks"].clone(),
        metadata: body["metadata"].clone(),
        updates: 0,
    };
    workspace.messages.push(message.clone());
    Json(json!({
        "ok": true,
        "channel": channel,
        "ts": ts,
        "message": {"type": "message", "subtype": "bot_message", "text": message.text, "ts": ts, "blocks": message.blocks},
    }))
    .into_response()
}

async fn update_message(Arguments(sandbox, body): Arguments) -> Response {
    let (Some(channel), Some(ts)) = (body["channel"].as_str(), body["ts"].as_str()) else {
        return refuse("message_not_found");
    };
    let mut workspace = sandbox.inner.slack.lock().await;
    let Some(message) = workspace
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
    else {
        return refuse("message_not_found");
    };
    message.text = body["text"].as_str().unwrap_or_default().to_owned();
    message.blocks = body["blocks"].clone();
    message.updates += 1;
    Json(json!({"ok": true, "channel": channel, "ts": ts, "text": message.text})).into_response()
}

impl Sandbox {
    /// The messages the simulated Slack workspace received, oldest first.
    pub async fn slack_messages(&self) -> Vec<SlackMessage> {
        self.inner.slack.lock().await.messages.clone()
    }

    /// What Slack sends Steward when `slack_user` clicks the button `action_id` of the message
    /// `ts`: the form body (`payload=…`) and its `X-Slack-Request-Timestamp` and
    /// `X-Slack-Signature` headers, signed with the workspace's signing secret.
    ///
    /// # Errors
    /// When there is no such message or button.
    pub async fn slack_click(
        &self,
        ts: &str,
        action_id: &str,
        slack_user: &str,
    ) -> Result<SignedInteraction, String> {
        let message = self
            .slack_messages()
            .await
            .into_iter()
            .find(|m| m.ts == ts)
            .ok_or_else(|| format!("no message {ts}"))?;
        let button = message
            .buttons()
            .find(|element| element["action_id"] == action_id)
            .ok_or_else(|| format!("message {ts} has no button {action_id}"))?
            .clone();
        let payload = json!({
            "type": "block_actions",
            "user": {"id": slack_user, "team_id": "T0SANDBOX"},
            "team": {"id": "T0SANDBOX"},
            "channel": {"id": message.channel},
            "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
            "message": {"ts": message.ts, "text": message.text},
            "actions": [{
                "type": "button",
                "action_id": action_id,
                "block_id": button["block_id"],
                "value": button["value"],
                "action_ts": format!("{}.000100", self.inner.clock.now().timestamp()),
            }],
        });
        let body = serde_urlencoded::to_string([("payload", payload.to_string())])
            .map_err(|e| e.to_string())?;
        let timestamp = self.inner.clock.now().timestamp().to_string();
        let signature = signature::sign(
            &self.inner.settings.slack.signing_secret,
            &timestamp,
            body.as_bytes(),
        );
        Ok(SignedInteraction {
            body,
            timestamp,
            signature,
        })
    }
}

/// An interactivity request as Slack would send it.
#[derive(Debug, Clone)]
pub struct SignedInteraction {
    /// `application/x-www-form-urlencoded`: `payload=<JSON>`.
    pub body: String,
    pub timestamp: String,
    pub signature: String,
}
