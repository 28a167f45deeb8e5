//! The HTTP surface: routes, middleware and the error format.

mod error;
mod health;

use std::time::Duration;

use axum::{Router, http::StatusCode};
use tower_http::{
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

pub use self::error::ApiError;
use crate::{config::HttpConfig, state::AppState};

/// The header carrying each request's id, set when the client sends none and echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Every route Steward serves, with its middleware.
pub fn router(state: AppState, config: &HttpConfig) -> Router {
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    Router::new()
        .merge(health::routes())
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_seconds),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
