//! Errors in the UI answer with a page, not JSON.

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use steward_core::{StorageError, access::Forbidden};
use steward_frontend::pages::message;

/// What went wrong while serving a page.
#[derive(Debug)]
pub enum UiError {
    /// Not signed in (or the session ended): go to the sign-in page, then come back.
    SignIn {
        next: String,
    },
    NotFound,
    Forbidden(Forbidden),
    /// A form without a valid CSRF token.
    BadCsrf,
    /// A form that does not parse (fields missing or malformed).
    BadForm(String),
    /// A form field holding a control character: the field's name.
    ControlCharacter(String),
    /// The session must first go through this gate (a new password, a second factor).
    Gate(steward_core::auth::Gate),
    Internal,
}

impl UiError {
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = err, "page failed");
        UiError::Internal
    }
}

impl From<StorageError> for UiError {
    fn from(err: StorageError) -> Self {
        UiError::internal(&err)
    }
}

impl From<steward_core::storage::DbErr> for UiError {
    fn from(err: steward_core::storage::DbErr) -> Self {
        UiError::internal(&err)
    }
}

impl From<steward_core::storage::TenantScopeError> for UiError {
    fn from(err: steward_core::storage::TenantScopeError) -> Self {
        match err {
            steward_core::storage::TenantScopeError::Forbidden(forbidden) => {
                UiError::Forbidden(forbidden)
            }
            steward_core::storage::TenantScopeError::Storage(storage) => storage.into(),
        }
    }
}

impl From<Forbidden> for UiError {
    fn from(err: Forbidden) -> Self {
        UiError::Forbidden(err)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            UiError::SignIn { next } => {
                let target = if is_local_path(&next) && next != "/" {
                    format!("/login?next={}", urlencode(&next))
                } else {
                    "/login".to_owned()
                };
                return Redirect::to(&target).into_response();
            }
            UiError::Gate(gate) => {
                return Redirect::to(&format!("/account?gate={}", gate.code())).into_response();
            }
            UiError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or nothing you have access to.".to_owned(),
            ),
            UiError::Forbidden(forbidden) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!("{forbidden}."),
            ),
            UiError::BadCsrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form was not sent from a page Steward showed you in this session. \
                 Go back, reload the page and try again."
                    .to_owned(),
            ),
            UiError::BadForm(reason) => (
                StatusCode::BAD_REQUEST,
                "Could not read the form",
                format!("The form could not be read: {reason}."),
            ),
            UiError::ControlCharacter(field) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Could not use the form",
                format!(
                    "The field {field} contains a control character, which Steward does not \
                     store. Remove it and try again."
                ),
            ),
            UiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side; it has been logged. Try again in a moment."
                    .to_owned(),
            ),
        };
        let page = message::render(None, title, &text, ("/", "Back to Steward"));
        (status, Html(page)).into_response()
    }
}

/// A path on this site (never `//host` or a full URL), safe to redirect to.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\")
}

pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
