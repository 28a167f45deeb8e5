//! Extractors whose rejections answer in Steward's error format.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;
use steward_domain::text::is_forbidden_control;

use super::ApiError;

/// A JSON body; malformed JSON, unknown fields, a wrong content type, an oversized body and a
/// string holding a control character (NUL among them: PostgreSQL cannot store it) are each
/// refused with their own code before the handler runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if let Some(path) = control_character_at(&value, "body") {
            return Err(control_character(&path));
        }
        serde_path_to_error::deserialize(value)
            .map(ApiJson)
            .map_err(|err| {
                ApiError::unprocessable(
                    "invalid-body",
                    format!("the body does not fit this endpoint: {err}"),
                )
            })
    }
}

/// The 422 for a control character in the request.
fn control_character(path: &str) -> ApiError {
    ApiError::unprocessable(
        "invalid-text",
        format!(
            "{path} contains a control character; only line breaks and tabs are allowed, in \
             free text"
        ),
    )
}

/// Where the first string (or key) of `value` holding a forbidden control character is.
fn control_character_at(value: &serde_json::Value, path: &str) -> Option<String> {
    let bad = |text: &str| text.chars().any(is_forbidden_control);
    match value {
        serde_json::Value::String(text) => bad(text).then(|| path.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_at(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if bad(key) {
                Some(format!("a key of {path}"))
            } else {
                control_character_at(item, &format!("{path}.{key}"))
            }
        }),
        _ => None,
    }
}

/// The name of the first form (or query) field whose name or value holds a forbidden control
/// character; `None` when there is none or the text is not a form.
#[must_use]
pub fn form_control_character(encoded: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded).ok()?;
    pairs.into_iter().find_map(|(name, value)| {
        (name.chars().any(is_forbidden_control) || value.chars().any(is_forbidden_control))
            .then_some(name)
    })
}

/// Path parameters; a malformed id is a 400 naming the parameter.
#[derive(Debug, Clone, Copy, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// Query parameters; unknown or malformed ones are a 400, a control character a 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(name) = form_control_character(parts.uri.query().unwrap_or_default().as_bytes())
        {
            return Err(control_character(&format!("the query parameter {name}")));
        }
        let axum::extract::Query(query) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(query))
    }
}

/// The request's id (set by the request-id middleware), recorded in audit entries.
#[derive(Debug, Clone, Default)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get(super::REQUEST_ID_HEADER)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        ))
    }
}
