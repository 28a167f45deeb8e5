//! `/sandbox`: the simulated vendor APIs (authenticated as the vendors do, by their own
//! tokens), and `/sandbox/state/{tenant_id}` for MSP staff to see what actions did there.

use axum::{Json, Router, extract::State, routing::get};
use steward_domain::TenantId;
use steward_sandbox::SandboxState;

use super::{ApiError, api::sandbox::enabled, extract::ApiPath};
use crate::http::scoped::{InTenant, needs};
use crate::state::AppState;

/// The sandbox's routes, when it is enabled.
pub fn routes(state: &AppState) -> Router<AppState> {
    let state_route = Router::new().route("/sandbox/state/{tenant_id}", get(sandbox_state));
    match &state.sandbox {
        Some(sandbox) => state_route.nest("/sandbox", sandbox.router()),
        None => state_route,
    }
}

/// The simulated vendor-side state of a tenant's customer: each device's isolation, each
/// user's `accountEnabled`, the machine actions taken.
async fn sandbox_state(
    State(state): State<AppState>,
    ctx: InTenant<needs::ReadSandbox>,
    ApiPath(tenant_id): ApiPath<TenantId>,
) -> Result<Json<SandboxState>, ApiError> {
    let scope = ctx.scope();
    let sandbox = enabled(&state)?;
    let tenant = scope.tenant();
    sandbox
        .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
        .await?;
    sandbox
        .state(tenant.id.as_uuid())
        .await
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!("no sandbox environment for tenant {tenant_id}"))
        })
}
