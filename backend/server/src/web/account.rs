//! The signed-in person's own account: what it is, and changing its password.

use axum::{
    extract::Query,
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_core::auth::{self, PasswordChangeError};
use steward_frontend::pages::account::{self, AccountPage};

use super::pages::{PageQuery, back, chrome};
use super::{
    UiError,
    session::{WebForm, WebSession},
};

pub async fn account(s: WebSession, Query(query): Query<PageQuery>) -> Result<Response, UiError> {
    let conn = s.storage.conn();
    let user_id = s.caller.user().id;
    let tokens = s.caller.own_token_directory(conn).of_user(user_id).await?;
    let has_password = auth::has_password(conn, user_id).await?;
    let second_factor = steward_core::second_factor::enrolled(conn, s.caller.user()).await?;
    let second_factor_required = s
        .caller
        .msp(conn)
        .await?
        .is_some_and(|msp| msp.second_factor_policy.requires(s.caller.user().role));
    let chrome = chrome(&s, "/account", query.flash()).await?;
    Ok(Html(account::render(
        chrome,
        AccountPage {
            user: s.caller.user().clone(),
            tokens,
            now: s.clock.now(),
            has_password,
            second_factor,
            second_factor_required,
            gate: s.session.gate.map(auth::Gate::code),
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

pub async fn change_password(
    WebForm {
        session: s, form, ..
    }: WebForm<PasswordForm>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let changed = auth::change_own_password(
        &write,
        &s.caller,
        &form.current_password,
        &form.new_password,
        &form.confirm_password,
    )
    .await;
    let code = match changed {
        Ok(()) => {
            txn.commit().await?;
            return Ok(back("/account", Ok("password-changed")));
        }
        Err(PasswordChangeError::WrongCurrentPassword) => "wrong-password",
        Err(PasswordChangeError::Mismatch) => "password-mismatch",
        Err(PasswordChangeError::Unchanged) => "password-unchanged",
        Err(PasswordChangeError::Weak(_)) => "weak-password",
        Err(PasswordChangeError::Storage(err)) => return Err(err.into()),
    };
    Ok(back("/account", Err(code)))
}
