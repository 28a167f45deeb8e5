//! What a page or form may touch, resolved before its handler runs: the tenant named by
//! `{tenant_id}` (the not-found page when the signed-in user cannot see it) and the permission
//! the route needs (the forbidden page without it). The web UI's counterpart of
//! `crate::http::scoped`, sharing its permission markers.

use std::{collections::HashMap, marker::PhantomData, ops::Deref};

use axum::{
    extract::{FromRef, FromRequest, FromRequestParts, Path, Request},
    http::request::Parts,
    response::Response,
};
use serde::de::DeserializeOwned;
use steward_core::{
    access::SeenTenant,
    storage::{DatabaseConnection, DatabaseTransaction, TenantScope, TenantWork, WorkError},
};
use steward_domain::TenantId;

use super::{
    UiError,
    pages::back,
    response::{page_path, refusal},
    session::{WebSession, checked_form},
};
use crate::{
    http::scoped::{Needs, needs},
    state::AppState,
};

/// The tenant of the route's `{tenant_id}`, seen by the signed-in user, who holds `N`.
/// Dereferences to the [`WebSession`].
#[derive(Debug)]
pub struct WebTenant<N: Needs = needs::Visible> {
    session: WebSession,
    tenant: SeenTenant,
    needs: PhantomData<N>,
}

impl<N: Needs> WebTenant<N> {
    /// The tenant's scoped reads, each checking its own permission; no second lookup.
    pub fn scope(&self) -> TenantScope<'_, DatabaseConnection> {
        self.tenant.scope(self.session.storage.conn())
    }

    /// Runs `read` on the user's work in the tenant inside a transaction that is rolled back:
    /// for what-if simulations, which must keep nothing.
    ///
    /// # Errors
    /// Not found when the tenant went away since the request began; what `read` answers.
    pub async fn without_keeping<T>(
        &self,
        read: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, UiError>,
    ) -> Result<T, UiError> {
        let txn = self.session.storage.begin_read().await?;
        let value = self.on_work(&txn, read).await;
        txn.rollback().await?;
        value?
    }

    /// Runs a form's write on the user's work in the tenant and goes back to the tenant's
    /// response page, saying what was done (the write's answer) or why it was refused (then
    /// nothing is kept).
    ///
    /// # Errors
    /// The error page for what is not the user's doing.
    pub async fn in_work(
        &self,
        write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<&'static str, WorkError>,
    ) -> Result<Response, UiError> {
        self.in_work_refusing(write, refusal).await
    }

    /// As [`Self::in_work`], for a write with its own errors, each turned into a flash code
    /// (or an error page) by `refused`.
    ///
    /// # Errors
    /// The error page for what is not the user's doing.
    pub async fn in_work_refusing<E>(
        &self,
        write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<&'static str, E>,
        refused: impl FnOnce(E) -> Result<&'static str, UiError>,
    ) -> Result<Response, UiError> {
        self.in_work_back_to(&page_path(self.tenant.id()), write, refused)
            .await
    }

    /// As [`Self::in_work_refusing`], going back to `path` (another of the tenant's pages).
    ///
    /// # Errors
    /// The error page for what is not the user's doing.
    pub async fn in_work_back_to<E>(
        &self,
        path: &str,
        write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<&'static str, E>,
        refused: impl FnOnce(E) -> Result<&'static str, UiError>,
    ) -> Result<Response, UiError> {
        let txn = self.session.storage.begin().await?;
        let outcome = self.on_work(&txn, write).await?;
        match outcome {
            Ok(done) => {
                txn.commit().await?;
                Ok(back(path, Ok(done)))
            }
            Err(err) => Ok(back(path, Err(refused(err)?))),
        }
    }
}

impl<N: Needs> WebTenant<N> {
    /// Runs `run` on the user's work in the tenant within `txn`; `Err` only when the tenant
    /// went away since the request began.
    async fn on_work<T>(
        &self,
        txn: &DatabaseTransaction,
        run: impl AsyncFnOnce(&TenantWork<'_>) -> T,
    ) -> Result<T, UiError> {
        let context = self.session.write(txn);
        let work = self
            .session
            .caller
            .work(&context, self.tenant.id())
            .await?
            .ok_or(UiError::NotFound)?;
        Ok(run(&work).await)
    }
}

impl<N: Needs> Deref for WebTenant<N> {
    type Target = WebSession;

    fn deref(&self) -> &WebSession {
        &self.session
    }
}

impl<S, N> FromRequestParts<S> for WebTenant<N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    N: Needs,
{
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = WebSession::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| UiError::NotFound)?;
        let tenant_id: TenantId = params
            .get("tenant_id")
            .and_then(|id| id.parse().ok())
            .ok_or(UiError::NotFound)?;
        // A tenant the user cannot see is not found, whatever the route needs.
        let tenant = session
            .caller
            .see_tenant(session.storage.conn(), tenant_id)
            .await?
            .ok_or(UiError::NotFound)?;
        N::check(&session.caller)?;
        Ok(Self {
            session,
            tenant,
            needs: PhantomData,
        })
    }
}

/// A form posted in the route's tenant by a signed-in user who sees it and holds `N`; its CSRF
/// token checked before the form itself was read.
#[derive(Debug)]
pub struct WebTenantForm<T, N: Needs = needs::Visible> {
    pub session: WebTenant<N>,
    pub form: T,
}

impl<S, T, N> FromRequest<S> for WebTenantForm<T, N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
    N: Needs,
{
    type Rejection = UiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let session = WebTenant::<N>::from_request_parts(&mut parts, state).await?;
        let form = checked_form(&session, Request::from_parts(parts, body), state).await?;
        Ok(Self { session, form })
    }
}
