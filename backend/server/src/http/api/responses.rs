//! The error answers endpoints share, for their OpenAPI descriptions.

use utoipa::IntoResponses;

use crate::http::ErrorBody;

/// Errors of list endpoints.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "describes answers for the OpenAPI document; never built"
)]
pub enum ListErrors {
    /// A malformed query: `invalid-query`, `invalid-limit`, `invalid-cursor`.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No credential (`unauthenticated`) or a bad one (`invalid-token`, `invalid-session`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// Errors of reads that need a permission or name a resource.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "describes answers for the OpenAPI document; never built"
)]
pub enum ReadErrors {
    /// A malformed id or query: `invalid-path`, `invalid-query`, `invalid-limit`,
    /// `invalid-cursor`.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No credential (`unauthenticated`) or a bad one (`invalid-token`, `invalid-session`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The caller's role does not allow this (`forbidden`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such resource, or not one the caller can see (`not-found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// Errors of changes.
#[derive(IntoResponses)]
#[expect(
    dead_code,
    reason = "describes answers for the OpenAPI document; never built"
)]
pub enum WriteErrors {
    /// Malformed JSON (`malformed-json`) or a malformed id (`invalid-path`).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No credential (`unauthenticated`) or a bad one (`invalid-token`, `invalid-session`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The caller's role does not allow this (`forbidden`), or a session-cookie request without
    /// its CSRF token (`csrf-token-required`).
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such resource, or not one the caller can see (`not-found`).
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The change conflicts with what exists (`slug-taken`, `email-taken`, `tenant-offboarded`,
    /// `own-account`).
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The body is larger than the server accepts (`payload-too-large`).
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// The body is not sent as JSON (`unsupported-media-type`).
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody),
    /// The body does not fit the endpoint (`invalid-body`) or a value is refused (a
    /// field-specific code such as `invalid-email`).
    #[response(status = 422)]
    Unprocessable(ErrorBody),
}
