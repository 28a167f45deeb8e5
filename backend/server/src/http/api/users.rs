//! The MSP's users and their roles.

use axum::{Json, http::StatusCode};
use serde::Deserialize;
use steward_core::{
    passwords,
    storage::{NewUser, UserChanges},
};
use steward_domain::{
    TenantId, UserId,
    tenancy::{Role, User, UserStatus},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body};
use super::responses::{ReadErrors, WriteErrors};
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
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reset_second_factor))
}

/// Removes a user's second factor and recovery codes (MSP admins), for someone who lost their
/// authenticator; where their MSP requires one, they set up a new one at their next sign-in.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{user_id}/second-factor",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id")),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn reset_second_factor(
    ctx: AsMsp<needs::ManageUsers>,
    ApiPath(user_id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    ctx.require_confirmed()?;
    ctx.as_admin(async |admin| {
        if admin.users().reset_second_factor(user_id).await? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found("the user has no second factor"))
        }
    })
    .await
}

list_body!(
    /// A page of users.
    UserList,
    User
);

/// A new user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Unique across the deployment; compared without regard to case.
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The tenant of a customer-side role (`customer_owner`, `customer_approver`); absent for
    /// MSP staff, who see every tenant.
    pub tenant_id: Option<TenantId>,
    /// An initial password (at least 12 characters), if the user signs in with one.
    pub password: Option<String>,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    /// `disabled` ends the user's sessions and tokens at once; `active` restores them.
    pub status: Option<UserStatus>,
    /// A new role; give `tenant_id` with customer-side roles.
    pub role: Option<Role>,
    pub tenant_id: Option<TenantId>,
}

/// The MSP's users (MSP admins and auditors).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    params(PageQuery),
    responses((status = OK, body = UserList), ReadErrors),
)]
async fn list_users(
    ctx: CallerContext,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<UserList>, ApiError> {
    let request = page.request()?;
    Ok(Json(
        ctx.caller.users(ctx.conn())?.list(request).await?.into(),
    ))
}

/// Creates a user with a role (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = CreateUser,
    responses((status = CREATED, body = User), WriteErrors),
)]
async fn create_user(
    ctx: AsMsp<needs::ManageUsers>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let password_hash = body
        .password
        .as_deref()
        .map(passwords::hash_password)
        .transpose()?;
    let user = ctx
        .as_admin(async |admin| {
            Ok(admin
                .users()
                .create(NewUser {
                    email: body.email,
                    display_name: body.display_name,
                    role: body.role,
                    tenant_id: body.tenant_id,
                    password_hash,
                    password_change_required: true,
                })
                .await?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One user (MSP admins and auditors; anyone for themselves).
#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id")),
    responses((status = OK, body = User), ReadErrors),
)]
async fn get_user(
    ctx: CallerContext,
    ApiPath(user_id): ApiPath<UserId>,
) -> Result<Json<User>, ApiError> {
    if user_id == ctx.caller.user().id {
        return Ok(Json(ctx.caller.user().clone()));
    }
    ctx.caller
        .users(ctx.conn())?
        .lookup(user_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no user {user_id}")))
}

/// Changes a user's name, status or role (MSP admins). Disabling a user stops their sessions
/// and tokens at once.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id")),
    request_body = UpdateUser,
    responses((status = OK, body = User), WriteErrors),
)]
async fn update_user(
    ctx: AsMsp<needs::ManageUsers>,
    ApiPath(user_id): ApiPath<UserId>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    if body.tenant_id.is_some() && body.role.is_none() {
        return Err(ApiError::unprocessable(
            "invalid-role",
            "tenant_id changes with a role: give role too",
        ));
    }
    let user = ctx
        .as_admin(async |admin| {
            Ok(admin
                .users()
                .update(
                    user_id,
                    UserChanges {
                        display_name: body.display_name,
                        status: body.status,
                        role: body.role.map(|role| (role, body.tenant_id)),
                    },
                )
                .await?)
        })
        .await?;
    Ok(Json(user))
}
