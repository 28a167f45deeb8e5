//! The error body every API answer uses: `{"error": {"code": "kebab-case", "message": "…"}}`.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use steward_core::{
    StorageError,
    access::{Forbidden, TokenRejection},
    passwords::PasswordError,
    storage::{DbErr, TenantAdminError, TenantScopeError, TokenRevokeError, UserAdminError},
};
use utoipa::ToSchema;

/// An error answer: a status, a stable machine-readable code and a sentence for people.
///
/// Internal causes are logged where they are converted and never sent to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A failure that is Steward's, not the client's: logged in full, answered in general.
    pub fn internal(err: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = err, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }

    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, kebab-case: `not-found`, `forbidden`, `malformed-json`, …
    pub code: String,
    /// A sentence for people; may change between versions.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"steward\""),
            );
        }
        response
    }
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Conflict { what, .. } => {
                ApiError::conflict("conflict", format!("{what} already exists"))
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        ApiError::from(StorageError::from(err))
    }
}

impl From<Forbidden> for ApiError {
    fn from(err: Forbidden) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", err.to_string())
    }
}

impl From<TenantScopeError> for ApiError {
    fn from(err: TenantScopeError) -> Self {
        match err {
            TenantScopeError::Forbidden(forbidden) => forbidden.into(),
            TenantScopeError::Storage(storage) => storage.into(),
        }
    }
}

impl From<TokenRejection> for ApiError {
    fn from(rejection: TokenRejection) -> Self {
        ApiError::unauthorized("invalid-token", rejection.to_string())
    }
}

impl From<TenantAdminError> for ApiError {
    fn from(err: TenantAdminError) -> Self {
        let message = err.to_string();
        match err {
            TenantAdminError::NotFound(_) => ApiError::not_found(message),
            TenantAdminError::SlugTaken(_) => ApiError::conflict("slug-taken", message),
            TenantAdminError::InvalidName(_) => ApiError::unprocessable("invalid-name", message),
            TenantAdminError::InvalidAutomationLevel(_) => {
                ApiError::unprocessable("invalid-automation-level", message)
            }
            TenantAdminError::Offboarded(_) => ApiError::conflict("tenant-offboarded", message),
            TenantAdminError::Storage(storage) => storage.into(),
        }
    }
}

impl From<UserAdminError> for ApiError {
    fn from(err: UserAdminError) -> Self {
        let message = err.to_string();
        match err {
            UserAdminError::NotFound(_) => ApiError::not_found(message),
            UserAdminError::EmailTaken(_) => ApiError::conflict("email-taken", message),
            UserAdminError::InvalidEmail(_) => ApiError::unprocessable("invalid-email", message),
            UserAdminError::InvalidDisplayName(_) | UserAdminError::InvalidTokenName(_) => {
                ApiError::unprocessable("invalid-display-name", message)
            }
            UserAdminError::TenantRequired(_) | UserAdminError::TenantNotAllowed(_) => {
                ApiError::unprocessable("invalid-role", message)
            }
            UserAdminError::UnknownTenant(_) => ApiError::unprocessable("unknown-tenant", message),
            UserAdminError::OwnAccount => ApiError::conflict("own-account", message),
            UserAdminError::Storage(storage) => storage.into(),
        }
    }
}

impl From<TokenRevokeError> for ApiError {
    fn from(err: TokenRevokeError) -> Self {
        match err {
            TokenRevokeError::NotFound(_) => ApiError::not_found(err.to_string()),
            TokenRevokeError::Storage(storage) => storage.into(),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::TooShort | PasswordError::TooLong => {
                ApiError::unprocessable("weak-password", err.to_string())
            }
            PasswordError::Hashing(_) => ApiError::internal(&err),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(err) => ApiError::bad_request(
                "malformed-json",
                format!("the body is not valid JSON: {}", err.body_text()),
            ),
            JsonRejection::JsonDataError(err) => ApiError::unprocessable(
                "invalid-body",
                format!("the body does not fit this endpoint: {}", err.body_text()),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "send the body as JSON with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "the body is larger than this server accepts",
                )
            }
            other => ApiError::bad_request("unreadable-body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request("invalid-path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request("invalid-query", rejection.body_text())
    }
}
