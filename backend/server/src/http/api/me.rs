//! The caller themselves.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use steward_core::auth;
use steward_domain::{
    access::Permission,
    tenancy::{Msp, User},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ListErrors, WriteErrors};
use crate::{
    http::{ApiError, auth::CallerContext, extract::ApiJson},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(confirm_me))
}

/// A proof of who the caller is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The password, or a code from the authenticator app when a second factor is in force.
    pub proof: String,
}

/// Confirms, for the next sensitive changes, that the browser session's user is at the
/// keyboard: changing a tenant's policy, releasing a kill switch and approving what cannot
/// be undone then work for ten minutes. For browser sessions; API tokens need no confirmation.
#[utoipa::path(
    post,
    path = "/api/v1/me/confirm",
    tag = "me",
    request_body = ConfirmBody,
    responses((status = NO_CONTENT, description = "Confirmed"), WriteErrors),
)]
async fn confirm_me(
    State(state): State<AppState>,
    ctx: CallerContext,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<StatusCode, ApiError> {
    let Some(session) = &ctx.session else {
        return Err(ApiError::unprocessable(
            "no-session",
            "API tokens need no confirmation; this is for browser sessions",
        ));
    };
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    let confirmed =
        auth::confirm_identity(&write, &ctx.caller, &state.secrets, session.id, &body.proof).await;
    drop(write);
    match confirmed {
        Ok(()) => {
            txn.commit().await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err @ auth::ConfirmError::Wrong) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "wrong-proof",
            err.to_string(),
        )),
        Err(err @ auth::ConfirmError::SignInAgain) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sign-in-again",
            err.to_string(),
        )),
        Err(auth::ConfirmError::Storage(err)) => Err(err.into()),
        Err(other) => Err(ApiError::internal(&other)),
    }
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
    responses((status = OK, body = Me), ListErrors),
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
