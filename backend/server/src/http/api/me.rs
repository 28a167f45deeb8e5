//! The caller themselves.

use axum::Json;
use serde::Serialize;
use steward_domain::{
    access::Permission,
    tenancy::{Msp, User},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::ListErrors;
use crate::{
    http::{ApiError, auth::CallerContext},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me))
}

/// The caller, their MSP and what their role allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub user: User,
    pub msp: Msp,
    pub permissions: Vec<Permission>,
}

/// Who the credential belongs to.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "me",
    responses(
        (status = OK, body = Me),
        ListErrors,
    ),
    security(("api_token" = []))
)]
async fn get_me(ctx: CallerContext) -> Result<Json<Me>, ApiError> {
    let msp = ctx
        .caller
        .msp(ctx.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("your MSP no longer exists"))?;
    let permissions = Permission::ALL
        .into_iter()
        .filter(|permission| ctx.caller.allows(*permission))
        .collect();
    Ok(Json(Me {
        user: ctx.caller.user().clone(),
        msp,
        permissions,
    }))
}
