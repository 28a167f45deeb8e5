//! API tokens: issued by MSP admins, revocable by admins and by their owner.

use axum::{Json, http::StatusCode};
use chrono::Duration;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use steward_domain::{ApiTokenId, UserId, access::Permission, credentials::ApiToken};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body, page_in_memory};
use super::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::http::scoped::{AsMsp, needs};
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
        .routes(routes!(list_user_tokens, create_user_token))
        .routes(routes!(list_own_tokens))
        .routes(routes!(revoke_token))
}

list_body!(
    /// A page of API tokens (never their secrets).
    TokenList,
    ApiToken
);

/// Longest validity a token may be given, in days.
const MAX_EXPIRY_DAYS: u32 = 3650;

/// A new API token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for (`backup script`, `SIEM export`).
    pub name: String,
    /// Days until the token stops working, 1 to 3650; absent for no expiry.
    pub expires_in_days: Option<u32>,
}

/// A newly issued token. The secret is shown here once and stored nowhere.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedToken {
    pub token: ApiToken,
    /// Send as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// A user's API tokens (MSP admins and auditors).
#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}/tokens",
    tag = "tokens",
    params(("user_id" = UserId, Path, description = "The user's id"), PageQuery),
    responses((status = OK, body = TokenList), ReadErrors),
)]
async fn list_user_tokens(
    ctx: CallerContext,
    ApiPath(user_id): ApiPath<UserId>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let request = page.request()?;
    if ctx
        .caller
        .users(ctx.conn())?
        .lookup(user_id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no user {user_id}")));
    }
    let tokens = ctx.caller.tokens(ctx.conn())?.of_user(user_id).await?;
    Ok(Json(
        page_in_memory(tokens, request, |t| t.id.as_uuid()).into(),
    ))
}

/// Issues an API token for a user (MSP admins). The answer holds the secret, once.
#[utoipa::path(
    post,
    path = "/api/v1/users/{user_id}/tokens",
    tag = "tokens",
    params(("user_id" = UserId, Path, description = "The user's id")),
    request_body = CreateToken,
    responses((status = CREATED, body = IssuedToken), WriteErrors),
)]
async fn create_user_token(
    ctx: AsMsp<needs::ManageUsers>,
    ApiPath(user_id): ApiPath<UserId>,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    let expires_at = match body.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_EXPIRY_DAYS) => Some(ctx.clock.now() + Duration::days(days.into())),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "invalid-expiry",
                format!("expires_in_days must be between 1 and {MAX_EXPIRY_DAYS}"),
            ));
        }
    };
    let issued = ctx
        .as_admin(async |admin| {
            Ok(admin
                .users()
                .create_token(user_id, &body.name, expires_at)
                .await?)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token: issued.token,
            secret: issued.secret.expose_secret().to_owned(),
        }),
    ))
}

/// The caller's own API tokens.
#[utoipa::path(
    get,
    path = "/api/v1/me/tokens",
    tag = "tokens",
    params(PageQuery),
    responses((status = OK, body = TokenList), ListErrors),
)]
async fn list_own_tokens(
    ctx: CallerContext,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<TokenList>, ApiError> {
    let request = page.request()?;
    let tokens = ctx
        .caller
        .own_token_directory(ctx.conn())
        .of_user(ctx.caller.user().id)
        .await?;
    Ok(Json(
        page_in_memory(tokens, request, |t| t.id.as_uuid()).into(),
    ))
}

/// Revokes an API token: any of the MSP's for MSP admins, their own for everyone else. It stops
/// working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{token_id}",
    tag = "tokens",
    params(("token_id" = ApiTokenId, Path, description = "The token's id")),
    responses((status = OK, body = ApiToken), ReadErrors),
)]
async fn revoke_token(
    ctx: CallerContext,
    ApiPath(token_id): ApiPath<ApiTokenId>,
) -> Result<Json<ApiToken>, ApiError> {
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    let token = if ctx.caller.allows(Permission::ManageUsers) {
        ctx.caller
            .admin(&write)?
            .users()
            .revoke_token(token_id)
            .await?
    } else {
        ctx.caller.own_tokens(&write).revoke(token_id).await?
    };
    txn.commit().await?;
    Ok(Json(token))
}
