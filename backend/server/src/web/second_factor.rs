//! The second factor in the browser: finishing a sign-in with a code, setting one up (with a
//! QR code for the authenticator app and recovery codes shown once), and turning it off.

use axum::{
    extract::{Query, Request, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use secrecy::ExposeSecret;
use serde::Deserialize;
use steward_core::{
    auth::{self, SecondFactorSignInError, SignInError},
    second_factor::{self, SecondFactorError},
};
use steward_frontend::{
    Flash, FlashKind,
    pages::second_factor::{self as pages, CodePage, EnrollPage},
};

use super::{
    UiError,
    error::is_local_path,
    pages::{back, chrome},
    session::{SESSION_COOKIE, WebForm, client_info, cookie},
};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn local_or_root(next: Option<String>) -> String {
    next.filter(|next| is_local_path(next))
        .unwrap_or_else(|| "/".to_owned())
}

/// The page asking for the code, for a browser whose password was right.
pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<NextQuery>,
) -> Result<Response, UiError> {
    let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Some((_, waiting)) =
        auth::awaiting_second_factor(&state.storage, state.clock.as_ref(), &secret).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    Ok(Html(pages::render_code(CodePage {
        csrf_token: waiting.csrf_token,
        next: local_or_root(query.next),
        flash: None,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    code: String,
    #[serde(default)]
    next: Option<String>,
}

/// Checks the code; a right one replaces the waiting session with a complete one.
pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    request: Request,
) -> Result<Response, UiError> {
    let (parts, body) = request.into_parts();
    let client = client_info(&parts);
    let form: CodeForm = super::session::read_form(body, 16 * 1024).await?;
    let Some(secret) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(Redirect::to("/login").into_response());
    };
    let Some((_, waiting)) =
        auth::awaiting_second_factor(&state.storage, state.clock.as_ref(), &secret).await?
    else {
        return Ok(Redirect::to("/login").into_response());
    };
    if !auth::csrf_matches(&waiting.csrf_token, &form.csrf_token) {
        return Err(UiError::BadCsrf);
    }
    let next = local_or_root(form.next);
    let outcome = auth::complete_second_factor(
        &state.storage,
        state.clock.as_ref(),
        &state.keys,
        &state.web.auth,
        &state.secrets,
        &secret,
        &form.code,
        &client,
    )
    .await;
    let (status, message) = match outcome {
        Ok(session) => {
            let jar = jar.add(cookie(
                &state.web,
                SESSION_COOKIE,
                session.cookie_value().to_owned(),
            ));
            return Ok((jar, Redirect::to(&next)).into_response());
        }
        Err(SecondFactorSignInError::NoSignIn) => {
            return Ok(Redirect::to("/login").into_response());
        }
        Err(err @ SecondFactorSignInError::Throttled(SignInError::Throttled { .. })) => {
            (StatusCode::TOO_MANY_REQUESTS, err.to_string())
        }
        Err(SecondFactorSignInError::WrongCode) => (
            StatusCode::UNAUTHORIZED,
            "That code is not right. Use the code the app shows now, or a recovery code".to_owned(),
        ),
        Err(SecondFactorSignInError::Storage(err)) => return Err(err.into()),
        Err(other) => return Err(UiError::internal(&other)),
    };
    Ok((
        status,
        Html(pages::render_code(CodePage {
            csrf_token: waiting.csrf_token,
            next,
            flash: Some(Flash {
                kind: FlashKind::Error,
                message: format!("{message}."),
            }),
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// Starts setting up a second factor: a new secret, shown with its QR code.
pub async fn start(
    State(state): State<AppState>,
    WebForm { session: s, .. }: WebForm<Empty>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let enrollment =
        match second_factor::begin_enrollment(&write, s.caller.user(), &state.secrets).await {
            Ok(enrollment) => enrollment,
            Err(SecondFactorError::AlreadyEnrolled) => {
                return Ok(back("/account", Err("second-factor-already-on")));
            }
            Err(err) => return Err(UiError::internal(&err)),
        };
    drop(write);
    txn.commit().await?;
    let chrome = chrome(&s, "/account", None).await?;
    Ok(Html(pages::render_enroll(
        chrome,
        EnrollPage {
            secret: enrollment.secret.expose_secret().to_owned(),
            qr_image: qr_image(enrollment.uri.expose_secret())?,
            csrf_token: s.session.csrf_token.clone(),
            flash: None,
        },
    ))
    .into_response())
}

/// The `otpauth://` URI as a QR code, in a `data:` URI for an `<img>` (pages allow no inline
/// styles, and an image needs none).
fn qr_image(uri: &str) -> Result<String, UiError> {
    let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|err| UiError::internal(&err))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    code: String,
}

/// Turns the second factor on once the user shows a code from it; shows the recovery codes.
pub async fn confirm(
    State(state): State<AppState>,
    WebForm {
        session: s, form, ..
    }: WebForm<ConfirmForm>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let confirmed =
        second_factor::confirm_enrollment(&write, s.caller.user(), &state.secrets, &form.code)
            .await;
    drop(write);
    let codes = match confirmed {
        Ok(codes) => codes,
        Err(SecondFactorError::WrongCode) => {
            // Nothing changed: the set-up stays pending, and starting it again shows a new key.
            return Ok(back("/account", Err("second-factor-wrong-code")));
        }
        Err(SecondFactorError::NotStarted | SecondFactorError::AlreadyEnrolled) => {
            return Ok(back("/account", Err("second-factor-not-started")));
        }
        Err(err) => return Err(UiError::internal(&err)),
    };
    txn.commit().await?;
    let chrome = chrome(&s, "/account", None).await?;
    Ok(Html(pages::render_recovery_codes(
        chrome,
        codes
            .iter()
            .map(|code| code.expose_secret().to_owned())
            .collect(),
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    confirm: String,
}

/// Turns the second factor off, with a code from it, where the MSP does not require one.
pub async fn remove(
    State(state): State<AppState>,
    WebForm {
        session: s, form, ..
    }: WebForm<RemoveForm>,
) -> Result<Response, UiError> {
    let required = s
        .caller
        .msp(s.storage.conn())
        .await?
        .is_some_and(|msp| msp.second_factor_policy.requires(s.caller.user().role));
    if required {
        return Ok(back("/account", Err("second-factor-required")));
    }
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let right =
        match second_factor::verify(&write, s.caller.user(), &state.secrets, &form.confirm).await {
            Ok(right) => right,
            Err(err) => return Err(UiError::internal(&err)),
        };
    if !right {
        return Ok(back("/account", Err("second-factor-wrong-code")));
    }
    second_factor::remove(&write, s.caller.user()).await?;
    drop(write);
    txn.commit().await?;
    Ok(back("/account", Ok("second-factor-off")))
}

/// Whether a sensitive change may go ahead: the session's user proved who they are within the
/// last minutes, or does now with `confirm` (their password, or their authenticator's code if
/// they have one in force). `Err` with the flash code that asks for it.
pub async fn step_up(
    s: &super::session::WebSession,
    secrets: &steward_core::secrets::SecretBox,
    confirm: &str,
) -> Result<Result<(), &'static str>, UiError> {
    if s.session.confirmed_recently(s.clock.now()) {
        return Ok(Ok(()));
    }
    if confirm.trim().is_empty() {
        return Ok(Err(if s.session.method == "oidc" {
            "sign-in-again"
        } else {
            "confirm-identity"
        }));
    }
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let confirmed =
        auth::confirm_identity(&write, &s.caller, secrets, s.session.id, confirm.trim()).await;
    drop(write);
    match confirmed {
        Ok(()) => {
            txn.commit().await?;
            Ok(Ok(()))
        }
        Err(auth::ConfirmError::Wrong) => Ok(Err("confirm-identity")),
        Err(auth::ConfirmError::SignInAgain) => Ok(Err("sign-in-again")),
        Err(auth::ConfirmError::Storage(err)) => Err(err.into()),
        Err(other) => Err(UiError::internal(&other)),
    }
}
