//! The HTTP surface: routes, middleware and the error format.

pub mod api;
mod auth;
mod error;
pub(crate) mod extract;
mod health;
mod inbound_webhooks;
pub mod ingest;
pub mod metrics;
#[cfg(feature = "sandbox")]
mod sandbox;
pub(crate) mod scoped;
mod security_headers;
pub(crate) mod slack;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, MatchedPath},
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
    let (router, mut doc) = OpenApiRouter::new()
        .merge(health::routes())
        .routes(routes!(metrics::serve_metrics))
        .merge(api::routes())
        .split_for_parts();
    api::require_token_by_default(&mut doc);
    (router, doc)
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
    let https = state.web.secure_cookies;
    routes
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let openapi = Arc::clone(&openapi);
                async move { Json(openapi.as_ref().clone()) }
            }),
        )
        .merge(crate::web::routes())
        .merge(sandbox_routes(&state))
        .merge(slack::routes())
        .merge(inbound_webhooks::routes())
        .merge(ingest::routes())
        .route_layer(middleware::from_fn_with_state(metrics, metrics::track))
        .fallback(not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_seconds),
        ))
        .layer(middleware::from_fn_with_state(https, security_headers::add))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The span of one request: its method, the route it matched and its request id — never the
/// URI itself, whose path can carry a secret (an approval link) and whose query anything.
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    tracing::debug_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
    )
}

/// The sandbox's simulated vendors and its state, where this build has them.
#[cfg(feature = "sandbox")]
fn sandbox_routes(state: &AppState) -> Router<AppState> {
    sandbox::routes(state)
}

#[cfg(not(feature = "sandbox"))]
fn sandbox_routes(_: &AppState) -> Router<AppState> {
    Router::new()
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use axum::{Router, body::Body, http::Request, routing::get};
    use tower::ServiceExt;
    use tower_http::trace::TraceLayer;

    /// Everything the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn request_logs_name_the_route_and_never_the_secret_in_the_path() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let app = Router::new()
            .route("/approvals/{secret}", get(|| async { "ok" }))
            .layer(TraceLayer::new_for_http().make_span_with(super::request_span));
        let response = app
            .oneshot(
                Request::get("/approvals/stwa_top-secret-link?x=also-secret")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(response.status().is_success());
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("/approvals/{secret}"), "{logged}");
        assert!(logged.contains("finished processing request"), "{logged}");
        assert!(!logged.contains("top-secret"), "{logged}");
        assert!(!logged.contains("also-secret"), "{logged}");
    }
}
