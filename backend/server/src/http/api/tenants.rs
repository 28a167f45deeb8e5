//! Tenants: the MSP's customers.

use axum::{Json, http::StatusCode};
use serde::Deserialize;
use steward_core::storage::{NewTenant, TenantChanges};
use steward_domain::{Slug, TenantId, tenancy::Tenant};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body};
use super::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::http::scoped::{InTenant, needs};
use crate::{
    http::{
        ApiError,
        auth::CallerContext,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(offboard_tenant))
}

list_body!(
    /// A page of tenants.
    TenantList,
    Tenant
);

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The customer's name, as people know it.
    pub name: String,
    /// Short URL-safe name, unique within the MSP; derived from the name when absent.
    #[schema(value_type = Option<String>, example = "acme-dental")]
    pub slug: Option<Slug>,
}

/// Changes to a tenant; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
    /// 0 notify only · 1 one-click approval · 2 automatic for low-risk reversible actions ·
    /// 3 automatic with guardrails.
    #[schema(minimum = 0, maximum = 3)]
    pub automation_level: Option<u8>,
}

/// The tenants the caller can see: every tenant of the MSP for its staff, their own for
/// customer users.
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    tag = "tenants",
    params(PageQuery),
    responses((status = OK, body = TenantList), ListErrors),
)]
async fn list_tenants(
    ctx: CallerContext,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TenantList>, ApiError> {
    let page = ctx.caller.tenants(ctx.conn()).list(page.request()?).await?;
    Ok(Json(page.into()))
}

/// Creates a tenant (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    tag = "tenants",
    request_body = CreateTenant,
    responses((status = CREATED, body = Tenant), WriteErrors),
)]
async fn create_tenant(
    ctx: CallerContext,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), ApiError> {
    let slug = match body.slug {
        Some(slug) => slug,
        None => Slug::from_name(&body.name).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid-name",
                "the name has no letters or digits to make a slug from; give a slug",
            )
        })?,
    };
    let tenant = ctx
        .as_admin(async |admin| {
            Ok(admin
                .tenants()
                .create(NewTenant {
                    name: body.name,
                    slug,
                })
                .await?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// One tenant.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}",
    tag = "tenants",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = Tenant), ReadErrors),
)]
async fn get_tenant(ctx: InTenant) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(ctx.scope().tenant().clone()))
}

/// Renames a tenant or changes its automation level (MSP admins).
#[utoipa::path(
    patch,
    path = "/api/v1/tenants/{tenant_id}",
    tag = "tenants",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = UpdateTenant,
    responses((status = OK, body = Tenant), WriteErrors),
)]
async fn update_tenant(
    ctx: InTenant<needs::Admin>,
    ApiPath(_): ApiPath<TenantId>,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, ApiError> {
    let changes = TenantChanges {
        name: body.name,
        automation_level: body.automation_level,
    };
    let tenant = ctx
        .work(async |work| Ok(work.settings()?.update(changes).await?))
        .await?;
    Ok(Json(tenant))
}

/// Offboards a tenant (MSP admins): Steward stops managing it; its data and history stay
/// readable.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/offboard",
    tag = "tenants",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = Tenant), WriteErrors),
)]
async fn offboard_tenant(
    ctx: InTenant<needs::Admin>,
    ApiPath(_): ApiPath<TenantId>,
) -> Result<Json<Tenant>, ApiError> {
    let tenant = ctx
        .work(async |work| Ok(work.settings()?.offboard().await?))
        .await?;
    Ok(Json(tenant))
}
