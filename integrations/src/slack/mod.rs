//! Slack, for approvals: messages with Block Kit Approve/Reject buttons (`chat.postMessage`),
//! updated with the outcome (`chat.update`), and the verification of the signed requests
//! Slack sends when someone clicks a button.
//!
//! Built to the Slack Web API (OpenAPI v2 in `docs/vendors/slack.md`): bot-token bearer auth,
//! HTTP 200 with `{"ok": false, "error": …}` for refusals, 429 with `Retry-After` when rate
//! limited.

pub mod signature;

use reqwest::{Method, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::{
    contract::ConnectorError,
    http::{Idempotency, VendorHttp},
};

/// A message Slack accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedMessage {
    pub channel: String,
    /// The message's id within the channel.
    pub ts: String,
}

/// Calls the Slack Web API with a bot token.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: VendorHttp,
    base: Url,
    token: SecretString,
}

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    error: Option<String>,
    channel: Option<String>,
    ts: Option<String>,
}

impl SlackClient {
    /// A client for the API at `base` (`https://slack.com/api/` for Slack itself).
    #[must_use]
    pub fn new(http: VendorHttp, base: &Url, token: SecretString) -> Self {
        let mut base = base.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Self { http, base, token }
    }

    async fn call(
        &self,
        method: &str,
        body: &Value,
        idempotency: Idempotency,
    ) -> Result<Answer, ConnectorError> {
        let url = self
            .base
            .join(method)
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let request = self
            .http
            .client()
            .request(Method::POST, url)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose_secret()),
            )
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self
            .http
            .send(request, idempotency)
            .await
            .map_err(ConnectorError::from)?;
        let status = response.status();
        let answer: Answer = response.json().await.map_err(|e| {
            ConnectorError::Protocol(format!("{method} answered HTTP {status}: {e}"))
        })?;
        if answer.ok {
            return Ok(answer);
        }
        let code = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
        Err(match code.as_str() {
            "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" => {
                ConnectorError::Authentication(code)
            }
            "channel_not_found" | "message_not_found" => ConnectorError::NotFound(code),
            "missing_scope" | "not_in_channel" => ConnectorError::Forbidden(code),
            _ => ConnectorError::Rejected {
                message: format!("{method} failed"),
                code,
            },
        })
    }

    /// Posts a message (`chat.postMessage`) with its `metadata` (`event_type` and
    /// `event_payload`, which Slack keeps with the message). Not retried when its answer is
    /// lost: a second message would ask twice.
    ///
    /// # Errors
    /// [`ConnectorError`] for Slack's refusal (`invalid_auth`, `channel_not_found`, …) or an
    /// unreachable or throttling API.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
        metadata: &Value,
    ) -> Result<PostedMessage, ConnectorError> {
        let answer = self
            .call(
                "chat.postMessage",
                &json!({"channel": channel, "text": text, "blocks": blocks, "metadata": metadata}),
                Idempotency::NonIdempotent,
            )
            .await?;
        Ok(PostedMessage {
            channel: answer.channel.unwrap_or_else(|| channel.to_owned()),
            ts: answer
                .ts
                .ok_or_else(|| ConnectorError::Protocol("chat.postMessage without ts".into()))?,
        })
    }

    /// Replaces a message's text and blocks (`chat.update`); repeating it changes nothing.
    ///
    /// # Errors
    /// As [`SlackClient::post_message`].
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), ConnectorError> {
        self.call(
            "chat.update",
            &json!({"channel": channel, "ts": ts, "text": text, "blocks": blocks}),
            Idempotency::Idempotent,
        )
        .await
        .map(|_| ())
    }
}
