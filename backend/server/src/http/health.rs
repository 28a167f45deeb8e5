//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/healthz` answers as long as the process serves requests; `/readyz` only when the database
//! answers too, so traffic is routed away from an instance that cannot do its work.

use std::time::Duration;

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};
use steward_core::Storage;

use super::ApiError;
use crate::state::AppState;

/// How long readiness waits for the database before calling it unreachable.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(storage): State<Storage>) -> Result<Json<Value>, ApiError> {
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, storage.ping()).await {
        Ok(Ok(())) => Ok(Json(json!({ "status": "ready", "database": "ok" }))),
        Ok(Err(err)) => {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "readiness: database unreachable"
            );
            Err(ApiError::unavailable("the database is unreachable"))
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_CHECK_TIMEOUT, "readiness: database did not answer in time");
            Err(ApiError::unavailable("the database did not answer in time"))
        }
    }
}
