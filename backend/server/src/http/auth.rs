//! Resolving the caller of an API request.

use std::sync::Arc;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use steward_core::{
    Clock, Storage,
    access::{self, Caller},
    audit::AuditKeys,
    storage::{DatabaseConnection, DatabaseTransaction, TenantScope, WriteContext},
};
use steward_domain::TenantId;

use super::{ApiError, extract::RequestId};
use crate::state::AppState;

/// The authenticated caller of a request, with what handlers need to act for them.
///
/// Resolved once per request from `Authorization: Bearer <API token>`. A request without a
/// credential and a request with a bad one get different answers (`unauthenticated` and
/// `invalid-token`), both 401.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub caller: Caller,
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub request_id: Option<String>,
}

impl CallerContext {
    /// The pooled connection, for reads.
    pub fn conn(&self) -> &DatabaseConnection {
        self.storage.conn()
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

    /// The tenant if the caller can see it, else 404: a tenant of another MSP, or another
    /// customer's, is indistinguishable from one that does not exist.
    pub async fn tenant(
        &self,
        id: TenantId,
    ) -> Result<TenantScope<'_, DatabaseConnection>, ApiError> {
        self.caller
            .tenant(self.conn(), id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no tenant {id}")))
    }
}

impl<S> FromRequestParts<S> for CallerContext
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(authorization) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "unauthenticated",
                "send an API token: Authorization: Bearer stw_…",
            ));
        };
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
        let caller =
            access::authenticate_token(&state.storage, state.clock.as_ref(), token).await??;
        let RequestId(request_id) = RequestId::from_request_parts(parts, &state)
            .await
            .unwrap_or_default();
        Ok(CallerContext {
            caller,
            storage: state.storage,
            clock: state.clock,
            keys: state.keys,
            request_id,
        })
    }
}
