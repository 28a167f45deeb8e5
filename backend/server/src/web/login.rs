//! Signing in with a password, and signing out.

use axum::{
    extract::{FromRequestParts, Query, Request, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use secrecy::ExposeSecret;
use serde::Deserialize;
use steward_core::auth::{self, SignInError};
use steward_frontend::{
    Flash, FlashKind,
    pages::login::{self, LoginPage},
};

use super::{
    UiError,
    error::is_local_path,
    session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, WebForm, client_info, cookie, removal},
};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    notice: Option<String>,
}

fn notice(code: Option<&str>) -> Option<Flash> {
    let message = match code? {
        "signed-out" => "You are signed out.",
        "password-changed" => "Your password is changed; sign in with the new one.",
        _ => return None,
    };
    Some(Flash {
        kind: FlashKind::Success,
        message: message.to_owned(),
    })
}

/// The sign-in form, with a fresh CSRF token in a cookie and in the form.
pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LoginQuery>,
) -> Result<Response, UiError> {
    login_page(
        &state,
        jar,
        String::new(),
        notice(query.notice.as_deref()),
        StatusCode::OK,
    )
}

fn login_page(
    state: &AppState,
    jar: CookieJar,
    email: String,
    flash: Option<Flash>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let token = auth::new_form_token()?;
    let token = token.expose_secret().to_owned();
    let jar = jar.add(cookie(&state.web, LOGIN_CSRF_COOKIE, token.clone()));
    let page = login::render(LoginPage {
        csrf_token: token,
        email,
        flash,
        sso_label: state
            .web
            .oidc
            .as_ref()
            .map(|oidc| oidc.button_label().to_owned()),
    });
    Ok((status, jar, Html(page)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
    password: String,
}

/// Checks the form's CSRF token against its cookie, then the password (throttled).
pub async fn submit(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    request: Request,
) -> Result<Response, UiError> {
    let (mut parts, body) = request.into_parts();
    let client = client_info(&parts);
    let jar = CookieJar::from_request_parts(&mut parts, &state)
        .await
        .unwrap_or_default();
    let form: LoginForm = super::session::read_form(body, 64 * 1024).await?;
    let expected = jar
        .get(LOGIN_CSRF_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !auth::csrf_matches(&expected, &form.csrf_token) {
        return Err(UiError::BadCsrf);
    }

    let outcome = auth::password_sign_in(
        &state.storage,
        state.clock.as_ref(),
        &state.keys,
        &state.web.auth,
        &form.email,
        &form.password,
        &client,
    )
    .await;
    let (status, message) = match outcome {
        Ok(session) => {
            let jar = jar
                .remove(removal(&state.web, LOGIN_CSRF_COOKIE))
                .add(cookie(
                    &state.web,
                    SESSION_COOKIE,
                    session.cookie_value().to_owned(),
                ));
            let next = query
                .next
                .filter(|next| is_local_path(next))
                .unwrap_or_else(|| "/".to_owned());
            if session.awaiting_second_factor {
                let to = format!(
                    "/login/second-factor?next={}",
                    super::error::urlencode(&next)
                );
                return Ok((jar, Redirect::to(&to)).into_response());
            }
            return Ok((jar, Redirect::to(&next)).into_response());
        }
        Err(SignInError::Storage(err)) => return Err(err.into()),
        Err(err @ SignInError::Throttled { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, err.to_string())
        }
        Err(err @ (SignInError::InvalidCredentials | SignInError::Disabled)) => {
            (StatusCode::UNAUTHORIZED, err.to_string())
        }
    };
    tracing::info!(email = %form.email, ip = %client.ip_address, %message, "sign-in refused");
    login_page(
        &state,
        jar,
        form.email,
        Some(Flash {
            kind: FlashKind::Error,
            message: format!("{}{}", capitalize(&message), "."),
        }),
        status,
    )
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// Ends the session and forgets its cookie.
pub async fn logout(
    jar: CookieJar,
    WebForm { session, .. }: WebForm<Empty>,
) -> Result<Response, UiError> {
    auth::end_session(
        &session.storage,
        session.clock.as_ref(),
        &session.keys,
        &session.caller,
        session.session.id,
    )
    .await?;
    let jar = jar.remove(removal(&session.web, SESSION_COOKIE));
    Ok((jar, Redirect::to("/login?notice=signed-out")).into_response())
}
