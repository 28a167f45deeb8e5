//! Session cookies, and the extractors that resolve them and check CSRF tokens.

use std::{marker::PhantomData, net::SocketAddr, sync::Arc};

use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, de::DeserializeOwned};
use steward_core::{
    Clock, Storage,
    access::Caller,
    audit::AuditKeys,
    auth::{self, ClientInfo, SessionInfo},
    storage::{DatabaseTransaction, WriteContext},
};

use super::UiError;
use crate::{
    http::scoped::{Needs, needs},
    state::{AppState, WebSettings},
};

/// The session cookie: a random secret, HttpOnly, SameSite=Lax, Secure over https.
pub const SESSION_COOKIE: &str = "steward_session";
/// The CSRF token of the sign-in form, which comes before any session exists.
pub const LOGIN_CSRF_COOKIE: &str = "steward_login_csrf";

/// Builds a cookie with Steward's attributes.
pub fn cookie(web: &WebSettings, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(web.secure_cookies)
        .path("/")
        .build()
}

/// A cookie that replaces (and so deletes) one set earlier.
pub fn removal(web: &WebSettings, name: &'static str) -> Cookie<'static> {
    let mut cookie = cookie(web, name, String::new());
    cookie.make_removal();
    cookie
}

/// Where a request comes from, for throttling and the session record.
pub fn client_info(parts: &Parts) -> ClientInfo {
    ClientInfo {
        ip_address: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(|agent| agent.chars().take(300).collect()),
    }
}

/// Where a session held at a gate may go: what the gate asks for.
const GATE_OPEN_PATHS: [&str; 5] = [
    "/account",
    "/account/password",
    "/account/second-factor/start",
    "/account/second-factor/confirm",
    "/logout",
];

/// A signed-in browser user, resolved from the session cookie once per request.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub caller: Caller,
    pub session: SessionInfo,
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub web: Arc<WebSettings>,
}

impl WebSession {
    /// A write context acting as the signed-in user.
    pub fn write<'a>(&'a self, txn: &'a DatabaseTransaction) -> WriteContext<'a> {
        self.caller
            .write_context(txn, self.clock.as_ref(), &self.keys, None)
    }
}

impl<S> FromRequestParts<S> for WebSession
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let next = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Err(UiError::SignIn { next });
        };
        let Ok((caller, session)) =
            auth::authenticate_session(&state.storage, state.clock.as_ref(), &secret).await?
        else {
            return Err(UiError::SignIn { next });
        };
        // A session held at a gate reaches its account page, what the gate asks for, and
        // sign-out; nothing else until it is through.
        if let Some(gate) = session.gate
            && !GATE_OPEN_PATHS.contains(&parts.uri.path())
        {
            return Err(UiError::Gate(gate));
        }
        Ok(WebSession {
            caller,
            session,
            storage: state.storage,
            clock: state.clock,
            keys: state.keys,
            web: state.web,
        })
    }
}

/// The CSRF field every form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

/// A form posted by a signed-in user who holds `N`, whose CSRF token has been checked against
/// the session before the form itself was read.
#[derive(Debug)]
pub struct WebForm<T, N: Needs = needs::Visible> {
    pub session: WebSession,
    pub form: T,
    pub needs: PhantomData<N>,
}

impl<S, T, N> FromRequest<S> for WebForm<T, N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
    N: Needs,
{
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = WebSession::from_request_parts(&mut parts, state).await?;
        N::check(&session.caller)?;
        let form = checked_form(&session, Request::from_parts(parts, body), state).await?;
        Ok(WebForm {
            session,
            form,
            needs: PhantomData,
        })
    }
}

/// The form of `request`, once its CSRF token matched `session`'s and no field holds a control
/// character.
pub(super) async fn checked_form<S, T>(
    session: &WebSession,
    request: Request,
    state: &S,
) -> Result<T, UiError>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|rejection| UiError::BadForm(rejection.body_text()))?;
    let presented: CsrfField =
        serde_urlencoded::from_bytes(&bytes).map_err(|_| UiError::BadCsrf)?;
    if !auth::csrf_matches(&session.session.csrf_token, &presented.csrf_token) {
        tracing::warn!(user = %session.caller.user().email, "form refused: CSRF token missing or wrong");
        return Err(UiError::BadCsrf);
    }
    if let Some(field) = crate::http::extract::form_control_character(&bytes) {
        return Err(UiError::ControlCharacter(field));
    }
    serde_urlencoded::from_bytes(&bytes).map_err(|err| UiError::BadForm(err.to_string()))
}

/// A form posted before any session exists (signing in, its second step): read, with control
/// characters refused, but its CSRF token left for the caller to check.
pub async fn read_form<T: DeserializeOwned>(
    body: axum::body::Body,
    limit: usize,
) -> Result<T, UiError> {
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|err| UiError::BadForm(err.to_string()))?;
    if let Some(field) = crate::http::extract::form_control_character(&bytes) {
        return Err(UiError::ControlCharacter(field));
    }
    serde_urlencoded::from_bytes(&bytes).map_err(|err| UiError::BadForm(err.to_string()))
}
