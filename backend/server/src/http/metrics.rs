//! Request metrics in the Prometheus text format at `GET /metrics`.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use super::ApiError;

/// Request counts and latencies by method, route (the route's pattern, not the raw path, so
/// ids do not explode the label space) and status.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    webhook_rejections: Family<RejectionLabels, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("steward");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route",
            latency.clone(),
        );
        let webhook_rejections = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "webhook_rejections",
            "Inbound webhook messages refused, by reason (bad_signature, stale, replayed, …)",
            webhook_rejections.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            webhook_rejections,
        }
    }
}

impl Metrics {
    /// Counts an inbound webhook message refused for `reason`.
    pub fn webhook_rejected(&self, reason: &str) {
        self.webhook_rejections
            .get_or_create(&RejectionLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The registry in the text exposition format.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// Middleware recording every routed request.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    response
}

/// Serves the metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = OK, description = "Metrics in the OpenMetrics text format", content_type = "application/openmetrics-text"))
)]
pub async fn serve_metrics(State(metrics): State<Arc<Metrics>>) -> Result<Response, ApiError> {
    let text = metrics.render().map_err(|err| ApiError::internal(&err))?;
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(response)
}
