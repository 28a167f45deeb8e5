//! Who has access to a tenant.

use axum::Json;
use steward_domain::{TenantId, tenancy::User};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body, page_in_memory};
use super::responses::ReadErrors;
use crate::http::scoped::InTenant;
use crate::{
    http::{ApiError, extract::ApiQuery},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_members))
}

list_body!(
    /// A page of users with access to a tenant, with their roles.
    MemberList,
    User
);

/// Everyone with access to the tenant: the MSP's staff (who see every tenant) and the tenant's
/// own customer users.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/members",
    tag = "tenants",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), PageQuery),
    responses((status = OK, body = MemberList), ReadErrors),
)]
async fn list_members(
    ctx: InTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<MemberList>, ApiError> {
    let request = page.request()?;
    let members = ctx.scope().members().await?;
    Ok(Json(
        page_in_memory(members, request, |user| user.id.as_uuid()).into(),
    ))
}
