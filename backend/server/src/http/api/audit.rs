//! Reading the audit chains.

use axum::Json;
use steward_domain::{TenantId, audit::AuditEntry};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body};
use super::responses::ReadErrors;
use crate::http::scoped::InTenant;
use crate::{
    http::{ApiError, auth::CallerContext, extract::ApiQuery},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenant_audit))
        .routes(routes!(list_msp_audit))
}

list_body!(
    /// A page of audit entries in chain order; the cursor is a sequence number.
    AuditEntryList,
    AuditEntry
);

/// The tenant's audit chain, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/audit",
    tag = "audit",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), PageQuery),
    responses((status = OK, body = AuditEntryList), ReadErrors),
)]
async fn list_tenant_audit(
    ctx: InTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<AuditEntryList>, ApiError> {
    let request = page.request()?;
    let scope = ctx.scope();
    Ok(Json(scope.audit()?.list(request).await?.into()))
}

/// The MSP's own audit chain (users, tokens, settings), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(PageQuery),
    responses((status = OK, body = AuditEntryList), ReadErrors),
)]
async fn list_msp_audit(
    ctx: CallerContext,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<AuditEntryList>, ApiError> {
    let request = page.request()?;
    Ok(Json(
        ctx.caller
            .msp_audit(ctx.conn())?
            .list(request)
            .await?
            .into(),
    ))
}
