//! A tenant's inventory and events, for anyone who can see the tenant; its coverage (blind
//! spots) and context graph, for MSP staff.

use axum::Json;
use serde::Deserialize;
use steward_domain::{
    TenantId,
    actions::TargetKind,
    baselines::{BaselineState, BaselineView, SignInBaseline},
    coverage::Coverage,
    graph::ContextGraph,
    incidents::EntityKey,
    inventory::BusinessContext,
    inventory::{Device, Identity, StoredEvent},
    observations::OcsfClass,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body, page_in_memory, page_request};
use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::InTenant;
use crate::{
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    state::AppState,
};
use steward_core::storage::contexts::ContextError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(list_identities))
        .routes(routes!(get_sign_in_baseline))
        .routes(routes!(list_events))
        .routes(routes!(get_coverage))
        .routes(routes!(get_context_graph))
        .routes(routes!(set_context))
}

/// Blind spots (MSP staff): which devices each kind of tool reports (EDR, RMM, backup), which
/// identities lack a second factor, which tool categories have no integration, and a score.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/coverage",
    tag = "inventory",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = Coverage), ReadErrors),
)]
async fn get_coverage(
    ctx: InTenant,
    ApiPath(tenant_id): ApiPath<TenantId>,
) -> Result<Json<Coverage>, ApiError> {
    let scope = ctx.scope();
    let now = ctx.clock.now();
    Ok(Json(scope.context(now).await?.coverage(tenant_id, now)))
}

/// Sets what the MSP knows about a device or identity (MSP admins and technicians): its
/// `criticality` (`low`, `medium`, `high`, `critical`, overriding what Steward infers), its
/// `owner` and its `business_process` (at most 200 characters; `null` clears). Its risk is
/// recomputed, the authority policy sees the criticality, and the context graph shows the rest.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant_id}/context/{kind}/{entity_id}",
    tag = "inventory",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("kind" = String, Path, description = "`device` or `identity`"),
        ("entity_id" = uuid::Uuid, Path, description = "The device's or identity's id"),
    ),
    request_body = BusinessContext,
    responses((status = OK, body = BusinessContext), WriteErrors),
)]
async fn set_context(
    ctx: InTenant,
    ApiPath((_, kind, entity_id)): ApiPath<(TenantId, String, uuid::Uuid)>,
    ApiJson(body): ApiJson<BusinessContext>,
) -> Result<Json<BusinessContext>, ApiError> {
    let kind = match kind.as_str() {
        "device" => TargetKind::Device,
        "identity" => TargetKind::Identity,
        other => {
            return Err(ApiError::not_found(format!(
                "{other} is not a kind of entity: device or identity"
            )));
        }
    };
    let entity = EntityKey {
        kind,
        id: entity_id,
    };
    ctx.work(async |work| {
        work.set_context(entity, &body)
            .await?
            .map_err(|err| match err {
                ContextError::NotFound(..) => ApiError::not_found(err.to_string()),
                ContextError::Invalid(..) => {
                    ApiError::unprocessable("invalid-context", err.to_string())
                }
                ContextError::Storage(storage) => storage.into(),
            })
    })
    .await
    .map(Json)
}

/// Which part of the graph to read.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    /// A node (`device:{id}`, `identity:{id}`, `role:{name}`, …): only what is within
    /// `depth` edges of it. The whole graph when absent.
    pub center: Option<String>,
    /// 1–3, default 1.
    pub depth: Option<usize>,
}

/// The tenant's context graph (MSP staff): devices, identities, roles, tools and backup jobs,
/// and how they connect — a device's primary user (who signs in from it most), who administers
/// what, which tools manage, watch and back up each device, and the unmanaged devices people
/// sign in from — each edge with its evidence. With `center`, that node's neighbourhood.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/graph",
    tag = "inventory",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), GraphQuery),
    responses((status = OK, body = ContextGraph), ReadErrors),
)]
async fn get_context_graph(
    ctx: InTenant,
    ApiPath(tenant_id): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<GraphQuery>,
) -> Result<Json<ContextGraph>, ApiError> {
    let depth = query.depth.unwrap_or(1);
    if !(1..=3).contains(&depth) {
        return Err(ApiError::bad_request(
            "invalid-depth",
            "depth must be between 1 and 3",
        ));
    }
    let scope = ctx.scope();
    let graph = scope.context(ctx.clock.now()).await?.graph(tenant_id);
    match query.center {
        None => Ok(Json(graph)),
        Some(center) => graph
            .neighbourhood(&center, depth)
            .map(Json)
            .ok_or_else(|| ApiError::not_found(format!("no node {center} in the graph"))),
    }
}

list_body!(
    /// A page of devices, each with the integrations that report it.
    DeviceList,
    Device
);
list_body!(
    /// A page of identities, each with the integrations that report it.
    IdentityList,
    Identity
);
list_body!(
    /// A page of events in the order Steward received them.
    EventList,
    StoredEvent
);

/// Which events to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only events of this OCSF class: `detection_finding` (2004) or `authentication` (3002).
    pub class: Option<OcsfClass>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The tenant's devices, merged across integrations.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/devices",
    tag = "inventory",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), PageQuery),
    responses((status = OK, body = DeviceList), ReadErrors),
)]
async fn list_devices(
    ctx: InTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<DeviceList>, ApiError> {
    let request = page.request()?;
    let scope = ctx.scope();
    let mut devices = scope.inventory()?.devices().await?;
    devices.sort_by_key(|device| device.id);
    Ok(Json(
        page_in_memory(devices, request, |device| device.id).into(),
    ))
}

/// The tenant's identities, merged across integrations.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/identities",
    tag = "inventory",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), PageQuery),
    responses((status = OK, body = IdentityList), ReadErrors),
)]
async fn list_identities(
    ctx: InTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<IdentityList>, ApiError> {
    let request = page.request()?;
    let scope = ctx.scope();
    let mut identities = scope.inventory()?.identities().await?;
    identities.sort_by_key(|identity| identity.id);
    Ok(Json(
        page_in_memory(identities, request, |identity| identity.id).into(),
    ))
}

/// What Steward has learned of how an identity signs in: the countries, networks (/24, /48),
/// devices and hours (UTC) of its successful sign-ins, each with when it was first and last
/// seen. Sign-ins are compared with it once it is `established` (sign-ins on enough different
/// days); one that breaks it is an `unusual-sign-in` finding naming what it broke, and is
/// learned only when its incident is resolved as benign or a false positive.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/identities/{identity_id}/sign-in-baseline",
    tag = "inventory",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("identity_id" = uuid::Uuid, Path, description = "The identity's id"),
    ),
    responses((status = OK, body = BaselineView), ReadErrors),
)]
async fn get_sign_in_baseline(
    ctx: InTenant,
    ApiPath((_, identity_id)): ApiPath<(TenantId, uuid::Uuid)>,
) -> Result<Json<BaselineView>, ApiError> {
    use steward_core::detection::baseline::{
        BASELINE_MEMORY, BASELINE_MIN_DAYS, days_learned, is_established,
    };
    let scope = ctx.scope();
    if scope.inventory()?.identity(identity_id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "no identity {identity_id} in this tenant"
        )));
    }
    let now = ctx.clock.now();
    let (baseline, updated_at) = match scope.baselines()?.of(identity_id).await? {
        Some((baseline, updated_at)) => (baseline, Some(updated_at)),
        None => (SignInBaseline::default(), None),
    };
    Ok(Json(BaselineView {
        identity_id,
        state: if is_established(&baseline, now) {
            BaselineState::Established
        } else {
            BaselineState::Learning
        },
        days_learned: days_learned(&baseline, now),
        days_needed: BASELINE_MIN_DAYS,
        memory_days: BASELINE_MEMORY.num_days(),
        baseline,
        updated_at,
    }))
}

/// The tenant's events, normalized to OCSF, in the order Steward received them.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/events",
    tag = "inventory",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), EventQuery),
    responses((status = OK, body = EventList), ReadErrors),
)]
async fn list_events(
    ctx: InTenant,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Json<EventList>, ApiError> {
    let request = page_request(query.limit, query.cursor.as_deref())?;
    let scope = ctx.scope();
    Ok(Json(
        scope
            .inventory()?
            .events(query.class, request)
            .await?
            .into(),
    ))
}
