//! `POST /api/v1/ingest/{integration_id}`: logs for detection — Windows events (evtx JSON,
//! Winlogbeat, or flattened as NXLog and Fluent Bit send them), OCSF events — in batches.
//!
//! The sender is an integration's log source, not a user: it proves so with the integration's
//! Standard Webhooks signature, or, for shippers that cannot sign, with the integration's
//! ingest key as a bearer token. A batch is a JSON array (or one object) when sent as
//! `application/json`, and one event per line otherwise (NDJSON). Each event is normalized on
//! its own: one that cannot be read is reported by its index and the rest are kept. What is
//! stored is triaged in the background, like a synchronization's events; an event sent twice
//! is stored once.
//!
//! Limits: the body size (413), events per request (413) and events per minute per tenant
//! (429 with `Retry-After`); a refused batch stores nothing.

use std::{num::NonZeroU32, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, State, rejection::BytesRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock as _};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use steward_core::{
    inventory::InventoryWriter,
    storage::{Deployment, TenantWork, inbound_webhooks},
};
use steward_domain::{
    IntegrationId, TenantId,
    audit::{ActorKind, AuditActor},
    observations::ObservedEvent,
};
use steward_integrations::{
    standard_webhooks::{self, SignedHeaders},
    telemetry,
};

use super::ApiError;
use crate::{config::IngestConfig, state::AppState};

/// The largest batch body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The ingest endpoint's limits, shared by every request of this process.
#[derive(Debug)]
pub struct IngestLimits {
    max_batch_events: usize,
    per_tenant: DefaultKeyedRateLimiter<TenantId>,
}

impl IngestLimits {
    #[must_use]
    pub fn new(config: &IngestConfig) -> Arc<Self> {
        let per_minute = NonZeroU32::new(config.events_per_minute).unwrap_or(NonZeroU32::MIN);
        Arc::new(Self {
            max_batch_events: usize::try_from(config.max_batch_events).unwrap_or(usize::MAX),
            per_tenant: RateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }

    /// Takes `events` from the tenant's budget; `Err` with the seconds to wait when the
    /// budget cannot hold them now (or ever, for a batch larger than a minute's budget).
    fn take(&self, tenant_id: TenantId, events: usize) -> Result<(), u64> {
        let Some(n) = u32::try_from(events).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self.per_tenant.check_key_n(&tenant_id, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.per_tenant.clock().now());
                Err(wait.as_secs() + 1)
            }
            Err(_) => Err(60),
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/ingest/{integration_id}",
        post(ingest).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// What became of a batch.
#[derive(Debug, Serialize)]
struct Receipt {
    /// Events in the batch.
    received: usize,
    /// Events stored for the first time.
    stored: usize,
    /// Events stored before whose record changed.
    updated: usize,
    /// Events stored before, unchanged: sent again.
    duplicates: usize,
    /// Events that could not be read, by their index in the batch (from 0).
    rejected: Vec<RejectedEvent>,
}

#[derive(Debug, Serialize)]
struct RejectedEvent {
    index: usize,
    error: String,
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn ingest(
    State(state): State<AppState>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match receive(&state, &integration_id, &headers, body).await {
        Ok(receipt) => (StatusCode::ACCEPTED, Json(receipt)).into_response(),
        Err(refusal) => refusal,
    }
}

async fn receive(
    state: &AppState,
    integration_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Receipt, Response> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!("a batch is at most {MAX_BODY_BYTES} bytes; send smaller batches"),
            )
            .into_response()
        } else {
            rejection.into_response()
        }
    })?;
    let no_endpoint = || ApiError::not_found("no log ingest endpoint here").into_response();
    let integration_id = integration_id
        .parse::<IntegrationId>()
        .map_err(|_| no_endpoint())?;
    let endpoint = match inbound_webhooks::endpoint(
        state.storage.conn(),
        &state.secrets,
        integration_id,
    )
    .await
    {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => return Err(no_endpoint()),
        Err(error) => {
            tracing::error!(%integration_id, %error, "cannot read a log ingest endpoint");
            return Err(ApiError::internal(&error).into_response());
        }
    };
    authenticate(state, &endpoint, headers, &body).map_err(IntoResponse::into_response)?;
    let events = batch(headers, &body).map_err(IntoResponse::into_response)?;
    if events.len() > state.ingest.max_batch_events {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!(
                "a batch holds at most {} events; this one has {}",
                state.ingest.max_batch_events,
                events.len()
            ),
        )
        .into_response());
    }
    if let Err(wait) = state.ingest.take(endpoint.tenant_id, events.len()) {
        let mut refused = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            format!(
                "this customer's events per minute are used up; nothing of this batch was \
                 stored: send it again in {wait} s"
            ),
        )
        .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Err(refused);
    }
    let mut rejected = Vec::new();
    let mut normalized: Vec<ObservedEvent> = Vec::with_capacity(events.len());
    let now = state.clock.now();
    for (index, event) in events.iter().enumerate() {
        match event {
            Ok(raw) => match telemetry::ingested(raw, now) {
                Ok(event) => normalized.push(event),
                Err(error) => rejected.push(RejectedEvent { index, error }),
            },
            Err(error) => rejected.push(RejectedEvent {
                index,
                error: error.clone(),
            }),
        }
    }
    let counts = store(state, &endpoint, &normalized)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Receipt {
        received: events.len(),
        stored: counts.events_new,
        updated: counts.events_updated,
        duplicates: normalized.len() - counts.events_new - counts.events_updated,
        rejected,
    })
}

/// The sender holds the integration's ingest key (a bearer token) or signed the batch with its
/// webhook secret.
fn authenticate(
    state: &AppState,
    endpoint: &inbound_webhooks::WebhookEndpoint,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    if let Some(authorization) = header(headers, header::AUTHORIZATION.as_str()) {
        let key = authorization
            .strip_prefix("Bearer ")
            .or_else(|| authorization.strip_prefix("bearer "))
            .unwrap_or_default();
        return if endpoint.accepts_ingest_key(key.trim()) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(
                "invalid-ingest-key",
                "the bearer token is not this integration's ingest key",
            ))
        };
    }
    let Some(secret) = &endpoint.secret else {
        return Err(ApiError::unauthorized(
            "missing-ingest-key",
            "send the integration's ingest key as a bearer token",
        ));
    };
    let signed = SignedHeaders {
        id: header(headers, "webhook-id"),
        timestamp: header(headers, "webhook-timestamp"),
        signature: header(headers, "webhook-signature"),
    };
    standard_webhooks::verify(secret.expose_secret(), signed, body, state.clock.now()).map_err(
        |rejection| {
            tracing::warn!(integration_id = %endpoint.integration_id, %rejection, "refused a log batch");
            ApiError::unauthorized(
                "invalid-signature",
                format!(
                    "{rejection}; sign the batch per Standard Webhooks or send the ingest key \
                     as a bearer token"
                ),
            )
        },
    )
}

/// The batch's events, each read or with why it cannot be: a JSON array or object for
/// `application/json`, one JSON object per line otherwise.
fn batch(headers: &HeaderMap, body: &[u8]) -> Result<Vec<Result<Value, String>>, ApiError> {
    let json = header(headers, header::CONTENT_TYPE.as_str())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if json {
        return match serde_json::from_slice::<Value>(body) {
            Ok(Value::Array(events)) => Ok(events.into_iter().map(Ok).collect()),
            Ok(event) => Ok(vec![Ok(event)]),
            Err(error) => Err(ApiError::bad_request(
                "invalid-json",
                format!(
                    "the batch is not JSON ({error}); send an array of events, or one event \
                     per line as application/x-ndjson"
                ),
            )),
        };
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("invalid-encoding", "the batch is not UTF-8"))?;
    Ok(text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<Value>(line).map_err(|error| format!("not JSON: {error}"))
        })
        .collect())
}

async fn store(
    state: &AppState,
    endpoint: &inbound_webhooks::WebhookEndpoint,
    events: &[ObservedEvent],
) -> Result<steward_domain::inventory::SyncCounts, ApiError> {
    if events.is_empty() {
        return Ok(steward_domain::inventory::SyncCounts::default());
    }
    let txn = state.storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(
        state.clock.as_ref(),
        &state.keys,
        AuditActor {
            kind: ActorKind::System,
            user_id: None,
            label: format!("log ingest of integration {}", endpoint.integration_id),
        },
    );
    let Some(work) = TenantWork::as_steward(&ctx, endpoint.tenant_id).await? else {
        return Err(ApiError::not_found("no log ingest endpoint here"));
    };
    let writer = InventoryWriter::new(&work)
        .map_err(|_| ApiError::not_found("no log ingest endpoint here"))?;
    let counts = writer
        .record_events(endpoint.integration_id, events)
        .await
        .map_err(|error| match error {
            steward_core::inventory::SyncError::UnknownIntegration(_) => {
                ApiError::not_found("no log ingest endpoint here")
            }
            steward_core::inventory::SyncError::Storage(error) => ApiError::internal(&error),
        })?;
    drop(work);
    drop(ctx);
    txn.commit().await?;
    Ok(counts)
}
