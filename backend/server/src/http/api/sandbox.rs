//! Staging sandbox scenarios: the vendor records of an incident, added to a tenant's simulated
//! customer for the loop to find.

use axum::{Json, extract::State};
use steward_domain::TenantId;
use steward_sandbox::{Sandbox, SandboxError, Scenario, ScenarioRun};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::WriteErrors;
use crate::http::scoped::{InTenant, needs};
use crate::{
    http::{ApiError, extract::ApiPath},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_scenario))
}

/// The sandbox, or a 409 saying it is off.
pub(crate) fn enabled(state: &AppState) -> Result<&Sandbox, ApiError> {
    state.sandbox.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "sandbox-disabled",
            "the sandbox is not enabled on this deployment ([sandbox] enabled = true, or `steward demo`)",
        )
    })
}

impl From<SandboxError> for ApiError {
    fn from(err: SandboxError) -> Self {
        match err {
            SandboxError::NotApplicable(message) => {
                ApiError::conflict("scenario-not-applicable", message)
            }
            other => ApiError::internal(&other),
        }
    }
}

/// Stages a scenario for the tenant's simulated customer (MSP admins and technicians, with the
/// sandbox enabled): `malware-laptop` or `compromised-admin`.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/sandbox/scenarios/{scenario}/run",
    tag = "sandbox",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("scenario" = String, Path, description = "`malware-laptop` or `compromised-admin`"),
    ),
    responses((status = OK, description = "The vendor records the scenario added", body = Object), WriteErrors),
)]
async fn run_scenario(
    State(state): State<AppState>,
    ctx: InTenant<needs::RunSandboxScenarios>,
    ApiPath((_, scenario)): ApiPath<(TenantId, String)>,
) -> Result<Json<ScenarioRun>, ApiError> {
    let scope = ctx.scope();
    let sandbox = enabled(&state)?;
    let scenario = Scenario::parse(&scenario).ok_or_else(|| {
        let known: Vec<_> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::not_found(format!(
            "no scenario {scenario:?}; the sandbox has {}",
            known.join(", ")
        ))
    })?;
    let tenant = scope.tenant();
    sandbox
        .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
        .await?;
    let run = sandbox.run_scenario(tenant.id.as_uuid(), scenario).await?;
    let txn = ctx.storage.begin().await?;
    scope
        .record_sandbox_run(&ctx.write(&txn), scenario.as_str(), &run)
        .await?;
    txn.commit().await?;
    Ok(Json(run))
}
