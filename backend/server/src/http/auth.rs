//! Resolving the caller of an API request.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{HeaderValue, header, request::Parts},
};
use axum_extra::extract::cookie::CookieJar;
use steward_core::{
    Clock, Storage,
    access::{self, Caller},
    audit::AuditKeys,
    auth,
    storage::{DatabaseConnection, DatabaseTransaction, MspAdmin, WriteContext},
};

use super::{ApiError, extract::RequestId};
use crate::{state::AppState, web::SESSION_COOKIE};

/// The authenticated caller of a request, with what handlers need to act for them.
///
/// Resolved once per request from `Authorization: Bearer <API token>` or, for the web UI's own
/// scripts, the session cookie (then requests that change something must also send the
/// session's CSRF token in `X-CSRF-Token`). A request without a credential and a request with a
/// bad one get different answers (`unauthenticated` and `invalid-token` or `invalid-session`),
/// all 401.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub caller: Caller,
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub request_id: Option<String>,
    /// The browser session, when the request came with the session cookie (the web UI's own
    /// calls) rather than an API token.
    pub session: Option<auth::SessionInfo>,
}

impl CallerContext {
    /// For a sensitive change made with a browser session: its user must have proved who they
    /// are within the last minutes (signing in, or `POST /api/v1/me/confirm`). API tokens are
    /// credentials of their own and pass.
    ///
    /// # Errors
    /// 403 `step-up-required`.
    pub fn require_confirmed(&self) -> Result<(), ApiError> {
        match &self.session {
            Some(session) if !session.confirmed_recently(self.clock.now()) => Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "step-up-required",
                "confirm it is you first: POST /api/v1/me/confirm with your password or \
                 authenticator code (or sign in again through single sign-on)",
            )),
            _ => Ok(()),
        }
    }

    /// The pooled connection, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        self.storage.conn()
    }

    /// Runs `change` as the caller acting as their MSP's administrator, in a transaction
    /// that commits when `change` succeeds; nothing is kept when it fails.
    ///
    /// # Errors
    /// 403 when the caller is not an administrator; what `change` answers.
    pub async fn as_admin<T>(
        &self,
        change: impl AsyncFnOnce(MspAdmin<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let txn = self.storage.begin().await?;
        let write = self.write(&txn);
        let value = change(self.caller.admin(&write)?).await?;
        drop(write);
        txn.commit().await?;
        Ok(value)
    }

    /// A write context acting as the caller inside `txn`.
    pub fn write<'a>(&'a self, txn: &'a DatabaseTransaction) -> WriteContext<'a> {
        self.caller.write_context(
            txn,
            self.clock.as_ref(),
            &self.keys,
            self.request_id.clone(),
        )
    }
}

/// The caller of a request that carries the session cookie instead of a token.
async fn caller_from_session(
    parts: &Parts,
    state: &AppState,
) -> Result<(Caller, auth::SessionInfo), ApiError> {
    let jar = CookieJar::from_headers(&parts.headers);
    let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(ApiError::unauthorized(
            "unauthenticated",
            "send an API token: Authorization: Bearer stw_…",
        ));
    };
    let (caller, session) =
        auth::authenticate_session(&state.storage, state.clock.as_ref(), &secret)
            .await?
            .map_err(|_| {
                ApiError::unauthorized("invalid-session", "the session has ended; sign in again")
            })?;
    if !parts.method.is_safe() {
        let presented = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if !auth::csrf_matches(&session.csrf_token, presented) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "csrf-token-required",
                "requests that change something with a session cookie must send X-CSRF-Token",
            ));
        }
    }
    // A session held at a gate may only say who it is until it is through.
    if let Some(gate) = session.gate
        && parts.uri.path() != "/api/v1/me"
    {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            gate.code(),
            match gate {
                auth::Gate::ChangePassword => "choose your own password first, on the Account page",
                auth::Gate::EnrollSecondFactor => {
                    "set up a second factor first, on the Account page: your MSP requires one"
                }
            },
        ));
    }
    Ok((caller, session))
}

/// The caller of a request that carries `Authorization: Bearer <API token>`.
async fn caller_from_token(
    authorization: &HeaderValue,
    state: &AppState,
) -> Result<Caller, ApiError> {
    let token = authorization
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid-credentials",
                "the Authorization header must be: Bearer <API token>",
            )
        })?;
    Ok(access::authenticate_token(&state.storage, state.clock.as_ref(), token).await??)
}

/// The header carrying the session's CSRF token on cookie-authenticated API requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

impl<S> FromRequestParts<S> for CallerContext
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let (caller, session) = match parts.headers.get(header::AUTHORIZATION) {
            Some(authorization) => (caller_from_token(authorization, &state).await?, None),
            None => {
                let (caller, session) = caller_from_session(parts, &state).await?;
                (caller, Some(session))
            }
        };
        let RequestId(request_id) = RequestId::from_request_parts(parts, &state)
            .await
            .unwrap_or_default();
        Ok(CallerContext {
            caller,
            storage: state.storage,
            clock: state.clock,
            keys: state.keys,
            request_id,
            session,
        })
    }
}
