//! The MSP's Slack connection for approvals (MSP admins connect it; MSP staff see it).

use std::collections::BTreeMap;

use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use steward_core::storage::slack::{self, NewSlackConnection, SlackSettingsError};
use steward_domain::{TenantId, integrations::SlackConnection};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::{AsMsp, needs};
use crate::{
    http::{ApiError, auth::CallerContext, extract::ApiJson},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_slack, connect_slack, disconnect_slack))
}

impl From<SlackSettingsError> for ApiError {
    fn from(err: SlackSettingsError) -> Self {
        let message = err.to_string();
        match err {
            SlackSettingsError::Storage(storage) => storage.into(),
            _ => ApiError::unprocessable("invalid-slack-settings", message),
        }
    }
}

/// What connects an MSP to Slack.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectSlack {
    /// The Slack Web API (default `https://slack.com/api/`).
    #[schema(value_type = Option<String>)]
    pub api_base_url: Option<url::Url>,
    /// The channel id approval requests go to (`C0123456789`).
    pub channel: String,
    /// The app's bot token (`xoxb-…`), stored encrypted.
    #[schema(value_type = String)]
    pub bot_token: SecretString,
    /// The app's signing secret, stored encrypted: Steward accepts only requests signed with it.
    #[schema(value_type = String)]
    pub signing_secret: SecretString,
    /// Slack user id → the email of the Steward user who answers as them (MSP staff, and the
    /// customers' approvers for the tenant channels).
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// Tenant id → a channel shared with that customer (Slack Connect) where the requests that
    /// need the customer's approval go, for their linked people to answer.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>)]
    pub tenant_channels: BTreeMap<TenantId, String>,
}

/// Whether the MSP connected Slack, and how.
#[derive(Debug, Serialize, ToSchema)]
pub struct MspSlack {
    pub connected: bool,
    /// Never with its secrets.
    pub connection: Option<SlackConnection>,
}

/// The MSP's Slack connection, without its secrets.
#[utoipa::path(
    get,
    path = "/api/v1/msp/slack",
    tag = "me",
    responses((status = OK, body = MspSlack), ReadErrors),
)]
async fn get_slack(ctx: AsMsp<needs::ReadIntegrations>) -> Result<Json<MspSlack>, ApiError> {
    let connection = slack::connection(ctx.conn(), ctx.caller.msp_id()).await?;
    Ok(Json(MspSlack {
        connected: connection.is_some(),
        connection,
    }))
}

/// Connects the MSP to Slack (MSP admins): approval requests for MSP technicians go to the
/// channel with Approve and Reject buttons (those for a customer to the channel shared with
/// that customer, when set), and Slack's button clicks, sent to
/// `/slack/interactions/{msp_id}` and signed with the signing secret, answer as the linked
/// Steward user.
#[utoipa::path(
    put,
    path = "/api/v1/msp/slack",
    tag = "me",
    request_body = ConnectSlack,
    responses((status = OK, body = SlackConnection), WriteErrors),
)]
async fn connect_slack(
    State(state): State<AppState>,
    ctx: CallerContext,
    ApiJson(body): ApiJson<ConnectSlack>,
) -> Result<Json<SlackConnection>, ApiError> {
    let api_base_url = match body.api_base_url {
        Some(url) => url,
        None => url::Url::parse("https://slack.com/api/").expect("a valid URL"),
    };
    let slack = NewSlackConnection {
        api_base_url,
        channel: body.channel,
        bot_token: body.bot_token,
        signing_secret: body.signing_secret,
        users: body.users,
        tenant_channels: body.tenant_channels,
    };
    let connection = ctx
        .as_admin(async |admin| Ok(admin.connect_slack(&state.secrets, slack).await?))
        .await?;
    Ok(Json(connection))
}

/// Disconnects the MSP from Slack (MSP admins).
#[utoipa::path(
    delete,
    path = "/api/v1/msp/slack",
    tag = "me",
    responses((status = NO_CONTENT, description = "Disconnected"), WriteErrors),
)]
async fn disconnect_slack(ctx: CallerContext) -> Result<StatusCode, ApiError> {
    ctx.as_admin(async |admin| {
        if admin.disconnect_slack().await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found("the MSP has not connected Slack"))
        }
    })
    .await
}
