//! The MSP's users in the web UI: listing and creating them, their status, and their API
//! tokens.

use axum::{
    extract::{Path, Query},
    response::{Html, IntoResponse, Response},
};
use chrono::Duration;
use secrecy::ExposeSecret;
use serde::Deserialize;
use steward_core::{
    passwords,
    storage::{NewUser, PageRequest, TokenRevokeError, UserAdminError, UserChanges},
};
use steward_domain::{
    ApiTokenId, TenantId, UserId,
    access::Permission,
    tenancy::{Role, TenantStatus, UserStatus},
};
use steward_frontend::{
    Flash,
    pages::users::{self, UserPage, UsersPage},
};

use super::pages::{Empty, PageQuery, back, chrome, page};
use super::{
    UiError,
    session::{WebForm, WebSession},
};
use crate::http::scoped::needs;

pub async fn users(s: WebSession, Query(query): Query<PageQuery>) -> Result<Response, UiError> {
    let conn = s.storage.conn();
    let listed = s
        .caller
        .users(conn)?
        .list(page(query.cursor.as_deref())?)
        .await?;
    let mut tenants_page = PageRequest::first();
    tenants_page.limit = PageRequest::<uuid::Uuid>::MAX_LIMIT;
    let tenants = s
        .caller
        .tenants(conn)
        .list(tenants_page)
        .await?
        .items
        .into_iter()
        .filter(|tenant| tenant.status == TenantStatus::Active)
        .collect();
    let chrome = chrome(&s, "/users", query.flash()).await?;
    Ok(Html(users::render_list(
        chrome,
        UsersPage {
            users: listed.items,
            next_cursor: listed.next.map(|id| id.to_string()),
            tenants,
            can_manage: s.caller.allows(Permission::ManageUsers),
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct UserForm {
    email: String,
    display_name: String,
    role: Role,
    #[serde(default)]
    tenant_id: String,
    #[serde(default)]
    password: String,
}

fn user_error_code(err: UserAdminError) -> Result<&'static str, UiError> {
    Ok(match err {
        UserAdminError::EmailTaken(_) => "email-taken",
        UserAdminError::InvalidEmail(_) => "invalid-email",
        UserAdminError::InvalidDisplayName(_) | UserAdminError::InvalidTokenName(_) => {
            "invalid-name"
        }
        UserAdminError::TenantRequired(_) | UserAdminError::TenantNotAllowed(_) => "invalid-role",
        UserAdminError::UnknownTenant(_) => "unknown-tenant",
        UserAdminError::OwnAccount => "own-account",
        UserAdminError::NotFound(_) => return Err(UiError::NotFound),
        UserAdminError::Storage(err) => return Err(err.into()),
    })
}

pub async fn create_user(
    WebForm {
        session: s, form, ..
    }: WebForm<UserForm, needs::ManageUsers>,
) -> Result<Response, UiError> {
    let tenant_id = match form.tenant_id.trim() {
        "" => None,
        id => Some(
            id.parse::<TenantId>()
                .map_err(|err| UiError::BadForm(err.to_string()))?,
        ),
    };
    let password_hash = match form.password.as_str() {
        "" => None,
        password => match passwords::hash_password(password) {
            Ok(hash) => Some(hash),
            Err(_) => return Ok(back("/users", Err("weak-password"))),
        },
    };
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let created = s
        .caller
        .admin(&write)?
        .users()
        .create(NewUser {
            email: form.email,
            display_name: form.display_name,
            role: form.role,
            tenant_id,
            password_hash,
            password_change_required: true,
        })
        .await;
    match created {
        Ok(user) => {
            txn.commit().await?;
            Ok(back(&format!("/users/{}", user.id), Ok("user-created")))
        }
        Err(err) => Ok(back("/users", Err(user_error_code(err)?))),
    }
}

pub async fn user(
    s: WebSession,
    Path(user_id): Path<UserId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    render_user(&s, user_id, query.flash(), None).await
}

async fn render_user(
    s: &WebSession,
    user_id: UserId,
    flash: Option<Flash>,
    issued_secret: Option<String>,
) -> Result<Response, UiError> {
    let conn = s.storage.conn();
    let user = s
        .caller
        .users(conn)?
        .lookup(user_id)
        .await?
        .ok_or(UiError::NotFound)?;
    let tokens = s.caller.tokens(conn)?.of_user(user_id).await?;
    let chrome = chrome(s, "/users", flash).await?;
    Ok(Html(users::render_user(
        chrome,
        UserPage {
            user,
            tokens,
            now: s.clock.now(),
            can_manage: s.caller.allows(Permission::ManageUsers),
            issued_secret,
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    status: UserStatus,
}

pub async fn set_user_status(
    Path(user_id): Path<UserId>,
    WebForm {
        session: s, form, ..
    }: WebForm<StatusForm>,
) -> Result<Response, UiError> {
    let path = format!("/users/{user_id}");
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let updated = s
        .caller
        .admin(&write)?
        .users()
        .update(
            user_id,
            UserChanges {
                status: Some(form.status),
                ..UserChanges::default()
            },
        )
        .await;
    match updated {
        Ok(user) => {
            txn.commit().await?;
            let done = match user.status {
                UserStatus::Active => "user-enabled",
                UserStatus::Disabled => "user-disabled",
            };
            Ok(back(&path, Ok(done)))
        }
        Err(err) => Ok(back(&path, Err(user_error_code(err)?))),
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    name: String,
    #[serde(default)]
    expires_in_days: String,
}

/// Issues a token and shows its secret once, on the page itself (never in a URL).
pub async fn issue_token(
    Path(user_id): Path<UserId>,
    WebForm {
        session: s, form, ..
    }: WebForm<TokenForm, needs::ManageUsers>,
) -> Result<Response, UiError> {
    let expires_at = match form.expires_in_days.trim() {
        "" => None,
        days => match days.parse::<u32>() {
            Ok(days @ 1..=3650) => Some(s.clock.now() + Duration::days(days.into())),
            _ => return Ok(back(&format!("/users/{user_id}"), Err("invalid-expiry"))),
        },
    };
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let issued = s
        .caller
        .admin(&write)?
        .users()
        .create_token(user_id, &form.name, expires_at)
        .await
        .map_err(|err| match err {
            UserAdminError::NotFound(_) => UiError::NotFound,
            other => UiError::internal(&other),
        })?;
    txn.commit().await?;
    render_user(
        &s,
        user_id,
        None,
        Some(issued.secret.expose_secret().to_owned()),
    )
    .await
}

/// Revokes a token: admins any of the MSP's, everyone else their own.
pub async fn revoke_token(
    Path(token_id): Path<ApiTokenId>,
    WebForm { session: s, .. }: WebForm<Empty>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let revoked = if s.caller.allows(Permission::ManageUsers) {
        s.caller.admin(&write)?.users().revoke_token(token_id).await
    } else {
        s.caller.own_tokens(&write).revoke(token_id).await
    };
    let token = match revoked {
        Ok(token) => token,
        Err(TokenRevokeError::NotFound(_)) => return Err(UiError::NotFound),
        Err(TokenRevokeError::Storage(err)) => return Err(err.into()),
    };
    txn.commit().await?;
    let path = if token.user_id == s.caller.user().id {
        "/account".to_owned()
    } else {
        format!("/users/{}", token.user_id)
    };
    Ok(back(&path, Ok("token-revoked")))
}
