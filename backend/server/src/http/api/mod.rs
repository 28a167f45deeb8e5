//! The JSON API under `/api/v1`, described by OpenAPI 3 at `/api/v1/openapi.json`.
//!
//! Tenant-scoped resources live under `/api/v1/tenants/{tenant_id}/…`; a tenant the caller
//! cannot see answers 404 on every one of them.

mod actions;
mod audit;
mod detection_tuning;
mod detections;
mod guardrails;
mod incidents;
mod integrations;
mod inventory;
mod me;
mod members;
mod msp;
pub mod pagination;
mod policies;
pub(crate) mod reports;
mod responses;
#[cfg(feature = "sandbox")]
pub(crate) mod sandbox;
mod slack;
mod tenants;
mod tokens;
mod users;
mod webhook_subscriptions;

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Steward API",
        description = "The operations control plane for managed service providers. \
            Authenticate with an API token: `Authorization: Bearer stw_…`. \
            Errors are `{\"error\": {\"code\": \"kebab-case\", \"message\": \"…\"}}`; \
            lists page with `limit` and `cursor`."
    ),
    modifiers(&BearerToken),
    tags(
        (name = "me", description = "The caller"),
        (name = "tenants", description = "The MSP's customers"),
        (name = "users", description = "The MSP's users and roles"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "Hash-chained, signed audit chains"),
        (name = "integrations", description = "A tenant's connections to its vendors"),
        (name = "inventory", description = "A tenant's devices, identities and events"),
        (name = "incidents", description = "Findings grouped into incidents, and entity risk"),
        (name = "actions", description = "Actions at vendors: policy decisions, approvals, verification and rollback"),
        (name = "guardrails", description = "Kill switches, maintenance windows and limits on automatic execution"),
        (name = "reports", description = "Outcome reports as JSON or PDF"),
        (name = "policies", description = "A tenant's own authority policy"),
        (name = "detections", description = "Detection rules: the built-in Sigma pack and the MSP's own, on or off per MSP and tenant"),
        (name = "sandbox", description = "Simulated vendors for demos and trials"),
        (name = "webhooks", description = "Outbound webhooks: URLs subscribed to Steward's events, signed per Standard Webhooks"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_default();
        components.add_security_scheme(
            "api_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token issued by an MSP admin or `steward token create`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Paths anyone may call without a token: probes and metrics for the platform that runs
/// Steward.
const OPEN_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Documents every operation outside [`OPEN_PATHS`] as requiring an API token. Secured is the
/// default so that a new route cannot be documented as open by leaving something out.
pub fn require_token_by_default(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        if OPEN_PATHS.contains(&path.as_str()) {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            operation.security = Some(vec![SecurityRequirement::new(
                "api_token",
                Vec::<String>::new(),
            )]);
        }
    }
}

/// Every API route, with the OpenAPI description they add up to.
pub fn routes() -> OpenApiRouter<AppState> {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let routes = OpenApiRouter::with_openapi(doc)
        .merge(me::routes())
        .merge(msp::routes())
        .merge(slack::routes())
        .merge(tenants::routes())
        .merge(members::routes())
        .merge(users::routes())
        .merge(tokens::routes())
        .merge(audit::routes())
        .merge(integrations::routes())
        .merge(inventory::routes())
        .merge(incidents::routes())
        .merge(actions::routes())
        .merge(guardrails::routes())
        .merge(reports::routes())
        .merge(policies::routes())
        .merge(detections::routes())
        .merge(detection_tuning::routes())
        .merge(webhook_subscriptions::routes());
    #[cfg(feature = "sandbox")]
    let routes = routes.merge(sandbox::routes());
    routes
}
