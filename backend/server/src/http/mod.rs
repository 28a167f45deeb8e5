//! The HTTP surface: routes, middleware and the error format.

pub mod api;
mod auth;
mod error;
mod extract;
mod health;
pub mod metrics;
mod sandbox;
pub(crate) mod slack;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::{HeaderName, StatusCode},
    middleware,
    routing::get,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::openapi::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use self::error::{ApiError, ErrorBody, ErrorDetail};
use crate::{config::HttpConfig, state::AppState};

/// The header carrying each request's id, set when the client sends none and echoed back.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Every route with its OpenAPI description, before middleware.
pub fn routes() -> (Router<AppState>, OpenApi) {
    OpenApiRouter::new()
        .merge(health::routes())
        .routes(routes!(metrics::serve_metrics))
        .merge(api::routes())
        .split_for_parts()
}

/// Unknown paths: JSON under the API, a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        ApiError::not_found("no such route").into_response()
    } else {
        crate::web::UiError::NotFound.into_response()
    }
}

/// Every route Steward serves, with its middleware.
pub fn router(state: AppState, config: &HttpConfig) -> Router {
    let (routes, mut openapi) = routes();
    openapi.paths.add_path_operation(
        "/api/v1/openapi.json",
        vec![utoipa::openapi::HttpMethod::Get],
        utoipa::openapi::path::OperationBuilder::new()
            .tag("operations")
            .summary(Some("This OpenAPI 3 description"))
            .operation_id(Some("openapi"))
            .response(
                "200",
                utoipa::openapi::Response::new("The OpenAPI document"),
            )
            .build(),
    );
    let openapi = Arc::new(openapi);
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let metrics = Arc::clone(&state.metrics);
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = Arc::clone(&openapi);
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(crate::web::routes())
        .merge(sandbox::routes(&state))
        .merge(slack::routes())
        .route_layer(middleware::from_fn_with_state(metrics, metrics::track))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_seconds),
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
