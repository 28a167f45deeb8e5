//! Guardrails on automatic execution: a tenant's maintenance windows and kill switch, the
//! MSP-wide kill switch, and what currently holds automation back.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use steward_core::storage::GuardrailError;
use steward_domain::{
    TenantId,
    guardrails::{AutomationHalt, MaintenanceSchedule, TenantGuardrails},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::InTenant;
use crate::{
    http::{ApiError, auth::CallerContext, extract::ApiJson},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_guardrails))
        .routes(routes!(set_maintenance, remove_maintenance))
        .routes(routes!(pull_tenant_kill_switch, release_tenant_kill_switch))
        .routes(routes!(
            get_msp_kill_switch,
            pull_msp_kill_switch,
            release_msp_kill_switch
        ))
}

impl From<GuardrailError> for ApiError {
    fn from(err: GuardrailError) -> Self {
        let message = err.to_string();
        match err {
            GuardrailError::NotEngaged => ApiError::conflict("kill-switch-not-pulled", message),
            GuardrailError::InvalidReason(_) => ApiError::unprocessable("reason-too-long", message),
            GuardrailError::Schedule(_) => {
                ApiError::unprocessable("invalid-maintenance-schedule", message)
            }
            GuardrailError::Storage(storage) => storage.into(),
        }
    }
}

/// Why the kill switch is pulled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HaltBody {
    /// Shown to everyone who sees the switch, and kept in the audit chain.
    #[serde(default)]
    pub reason: String,
}

/// The MSP-wide kill switch.
#[derive(Debug, Serialize, ToSchema)]
pub struct MspKillSwitch {
    /// Whether it is pulled.
    pub engaged: bool,
    pub halt: Option<AutomationHalt>,
}

/// The tenant's guardrails: automation level, maintenance windows, both kill switches, the
/// last hour's automatic actions and failures against the limits, and what pauses automatic
/// execution now.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/guardrails",
    tag = "guardrails",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = TenantGuardrails), ReadErrors),
)]
async fn get_guardrails(
    State(state): State<AppState>,
    ctx: InTenant,
) -> Result<Json<TenantGuardrails>, ApiError> {
    let scope = ctx.scope();
    let level = scope.tenant().automation_level;
    Ok(Json(
        scope
            .guardrails()?
            .status(ctx.clock.now(), level, state.policies.limits())
            .await?,
    ))
}

/// Replaces the tenant's maintenance windows (MSP admins). At automation level 3 the built-in
/// policy runs disruptive actions on high-criticality assets on their own only inside them.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant_id}/maintenance",
    tag = "guardrails",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = MaintenanceSchedule,
    responses((status = OK, body = MaintenanceSchedule), WriteErrors),
)]
async fn set_maintenance(
    ctx: InTenant,
    ApiJson(body): ApiJson<MaintenanceSchedule>,
) -> Result<Json<MaintenanceSchedule>, ApiError> {
    ctx.work(async |work| {
        work.set_maintenance(Some(&body)).await?;
        work.guardrails()
            .maintenance()
            .await?
            .ok_or_else(|| ApiError::not_found("the schedule was not stored"))
    })
    .await
    .map(Json)
}

/// Removes the tenant's maintenance windows (MSP admins).
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant_id}/maintenance",
    tag = "guardrails",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn remove_maintenance(ctx: InTenant) -> Result<axum::http::StatusCode, ApiError> {
    ctx.work(async |work| {
        if work.set_maintenance(None).await? {
            Ok(axum::http::StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found("the tenant has no maintenance windows"))
        }
    })
    .await
}

/// Pulls the tenant's kill switch (MSP admins, technicians, and the customer's owner): no
/// action runs automatically in the tenant until an MSP admin releases it; actions already
/// queued without a person's approval go back to waiting for a technician. Pulling a pulled
/// switch changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/kill-switch",
    tag = "guardrails",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = HaltBody,
    responses((status = OK, body = AutomationHalt), WriteErrors),
)]
async fn pull_tenant_kill_switch(
    ctx: InTenant,
    ApiJson(body): ApiJson<HaltBody>,
) -> Result<Json<AutomationHalt>, ApiError> {
    ctx.work(async |work| Ok(work.halt_automation(&body.reason).await?))
        .await
        .map(Json)
}

/// Releases the tenant's kill switch (MSP admins only). 409 `kill-switch-not-pulled` when it
/// is not pulled.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant_id}/kill-switch",
    tag = "guardrails",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = AutomationHalt, description = "The released switch"), WriteErrors),
)]
async fn release_tenant_kill_switch(ctx: InTenant) -> Result<Json<AutomationHalt>, ApiError> {
    ctx.require_confirmed()?;
    ctx.work(async |work| Ok(work.release_automation().await?))
        .await
        .map(Json)
}

/// The MSP-wide kill switch.
#[utoipa::path(
    get,
    path = "/api/v1/kill-switch",
    tag = "guardrails",
    responses((status = OK, body = MspKillSwitch), ReadErrors),
)]
async fn get_msp_kill_switch(ctx: CallerContext) -> Result<Json<MspKillSwitch>, ApiError> {
    let halt = ctx.caller.msp_halt(ctx.conn()).await?;
    Ok(Json(MspKillSwitch {
        engaged: halt.is_some(),
        halt,
    }))
}

/// Pulls the MSP-wide kill switch (MSP admins and technicians): no action runs automatically
/// in any tenant until an MSP admin releases it.
#[utoipa::path(
    post,
    path = "/api/v1/kill-switch",
    tag = "guardrails",
    request_body = HaltBody,
    responses((status = OK, body = AutomationHalt), WriteErrors),
)]
async fn pull_msp_kill_switch(
    ctx: CallerContext,
    ApiJson(body): ApiJson<HaltBody>,
) -> Result<Json<AutomationHalt>, ApiError> {
    let txn = ctx.storage.begin().await?;
    let halt = ctx
        .caller
        .halt_all_automation(&ctx.write(&txn), &body.reason)
        .await?;
    txn.commit().await?;
    Ok(Json(halt))
}

/// Releases the MSP-wide kill switch (MSP admins only).
#[utoipa::path(
    delete,
    path = "/api/v1/kill-switch",
    tag = "guardrails",
    responses((status = OK, body = AutomationHalt, description = "The released switch"), WriteErrors),
)]
async fn release_msp_kill_switch(ctx: CallerContext) -> Result<Json<AutomationHalt>, ApiError> {
    ctx.require_confirmed()?;
    let txn = ctx.storage.begin().await?;
    let halt = ctx.caller.release_all_automation(&ctx.write(&txn)).await?;
    txn.commit().await?;
    Ok(Json(halt))
}
