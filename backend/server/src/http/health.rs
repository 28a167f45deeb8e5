//! Liveness and readiness, for load balancers and orchestrators.
//!
//! `/healthz` answers as long as the process serves requests; `/readyz` only when the database
//! answers too, so traffic is routed away from an instance that cannot do its work.

use std::time::Duration;

use axum::{Json, extract::State};
use serde::Serialize;
use steward_core::Storage;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long readiness waits for the database before calling it unreachable.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// The process and its database are up.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// Always `ok`.
    database: &'static str,
}

/// Liveness: answers while the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = OK, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: answers 200 only while the database answers too.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = OK, body = Readiness),
        (status = SERVICE_UNAVAILABLE, description = "The database is unreachable", body = ErrorBody),
    )
)]
async fn readyz(State(storage): State<Storage>) -> Result<Json<Readiness>, ApiError> {
    match tokio::time::timeout(DATABASE_CHECK_TIMEOUT, storage.ping()).await {
        Ok(Ok(())) => Ok(Json(Readiness {
            status: "ready",
            database: "ok",
        })),
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
