//! `POST /api/v1/webhooks/{integration_id}`: a message from a vendor or any tool that something
//! changed at an integration. Authenticated by its Standard Webhooks signature (the secret an MSP
//! admin created for the integration), not by a user. A verified message is recorded (its id
//! refused if it comes again) and the integration's synchronization queued, in one transaction;
//! the answer is `202` at once and the work runs in the background. A refused message changes
//! nothing and is counted in `steward_webhook_rejections_total`.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use secrecy::ExposeSecret;
use serde_json::json;
use steward_core::storage::{
    Deployment,
    inbound_webhooks::{self, Receipt},
};
use steward_domain::{
    IntegrationId,
    audit::{ActorKind, AuditActor},
};
use steward_integrations::standard_webhooks::{self, SignedHeaders};

use super::ApiError;
use crate::state::AppState;

/// The largest message accepted: vendors' change notifications are small.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/webhooks/{integration_id}",
        post(receive).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn refused(state: &AppState, reason: &'static str, error: ApiError) -> Response {
    state.metrics.webhook_rejected(reason);
    error.into_response()
}

async fn receive(
    State(state): State<AppState>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refused(
                &state,
                "too_large",
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    format!("webhook messages are at most {MAX_BODY_BYTES} bytes"),
                ),
            );
        }
        Err(rejection) => return rejection.into_response(),
    };
    let no_endpoint = || ApiError::not_found("no webhook endpoint here");
    let Ok(integration_id) = integration_id.parse::<IntegrationId>() else {
        return refused(&state, "unknown_endpoint", no_endpoint());
    };
    let (endpoint, secret) = match inbound_webhooks::endpoint(
        state.storage.conn(),
        &state.secrets,
        integration_id,
    )
    .await
    {
        Ok(Some(endpoint)) => match endpoint.secret.clone() {
            Some(secret) => (endpoint, secret),
            None => return refused(&state, "unknown_endpoint", no_endpoint()),
        },
        Ok(None) => return refused(&state, "unknown_endpoint", no_endpoint()),
        Err(error) => {
            tracing::error!(%integration_id, %error, "cannot read a webhook endpoint");
            return ApiError::internal(&error).into_response();
        }
    };
    let signed = SignedHeaders {
        id: header(&headers, "webhook-id"),
        timestamp: header(&headers, "webhook-timestamp"),
        signature: header(&headers, "webhook-signature"),
    };
    if let Err(rejection) =
        standard_webhooks::verify(secret.expose_secret(), signed, &body, state.clock.now())
    {
        tracing::warn!(%integration_id, %rejection, "refused a webhook message");
        return refused(
            &state,
            rejection.as_str(),
            ApiError::unauthorized("invalid-signature", rejection.to_string()),
        );
    }
    let message_id = signed.id.unwrap_or_default();
    if message_id.is_empty() || message_id.len() > 200 {
        return refused(
            &state,
            "bad_message_id",
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-message-id",
                "webhook-id must have 1 to 200 characters",
            ),
        );
    }
    match record(&state, &endpoint, message_id).await {
        Ok(Receipt::Accepted) => (
            StatusCode::ACCEPTED,
            Json(json!({"accepted": true, "message_id": message_id})),
        )
            .into_response(),
        Ok(Receipt::Replayed) => refused(
            &state,
            "replayed",
            ApiError::conflict(
                "replayed",
                format!("message {message_id} was received before; it is not processed again"),
            ),
        ),
        Err(error) => error.into_response(),
    }
}

async fn record(
    state: &AppState,
    endpoint: &inbound_webhooks::WebhookEndpoint,
    message_id: &str,
) -> Result<Receipt, ApiError> {
    let txn = state.storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(
        state.clock.as_ref(),
        &state.keys,
        AuditActor {
            kind: ActorKind::System,
            user_id: None,
            label: format!("webhook of integration {}", endpoint.integration_id),
        },
    );
    let receipt = inbound_webhooks::receive(&ctx, endpoint, message_id).await?;
    txn.commit().await?;
    Ok(receipt)
}
