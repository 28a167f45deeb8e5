//! What a route may touch, resolved before its handler runs: the tenant named by `{tenant_id}`
//! (404 when the caller cannot see it) and the permission the route needs (403 without it).
//!
//! Handlers take [`InTenant`] or [`AsMsp`] instead of looking the tenant up or checking a
//! permission themselves; the route's permission is in its signature
//! (`InTenant<needs::ManageIntegrations>`). Both dereference to the [`CallerContext`].

use std::{collections::HashMap, marker::PhantomData, ops::Deref};

use axum::{
    extract::{FromRef, FromRequestParts, Path},
    http::request::Parts,
};
use steward_core::{
    access::{Caller, Forbidden, SeenTenant},
    storage::{DatabaseConnection, DatabaseTransaction, TenantScope, TenantWork},
};
use steward_domain::TenantId;

use super::{ApiError, auth::CallerContext};
use crate::state::AppState;

/// A permission a route needs, checked against the caller before the handler runs.
pub trait Needs: Send + Sync + 'static {
    /// # Errors
    /// [`Forbidden`] when the caller lacks it.
    fn check(caller: &Caller) -> Result<(), Forbidden>;
}

/// The permissions routes name in their signatures: types only, never values.
pub mod needs {
    use steward_core::access::{Caller, Forbidden};
    use steward_domain::access::Permission;

    use super::Needs;

    /// Nothing beyond seeing the tenant: what the route reads or writes checks its own
    /// permission in storage (the tenant's scoped handles do).
    #[derive(Debug)]
    pub enum Visible {}

    impl Needs for Visible {
        fn check(_: &Caller) -> Result<(), Forbidden> {
            Ok(())
        }
    }

    /// An MSP admin's: managing both tenants and users.
    #[derive(Debug)]
    pub enum Admin {}

    impl Needs for Admin {
        fn check(caller: &Caller) -> Result<(), Forbidden> {
            caller.require_admin()
        }
    }

    macro_rules! permissions {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("[`Permission::", stringify!($name), "`].")]
            #[derive(Debug)]
            pub enum $name {}

            impl Needs for $name {
                fn check(caller: &Caller) -> Result<(), Forbidden> {
                    caller.require(Permission::$name)
                }
            }
        )*};
    }

    permissions!(
        ManageDetections,
        ManageIntegrations,
        ManageTenants,
        ManageUsers,
        ProposeActions,
        ReadDetections,
        ReadIntegrations,
    );

    #[cfg(feature = "sandbox")]
    permissions!(ReadSandbox, RunSandboxScenarios);
}

/// The tenant of the route's `{tenant_id}`, seen by the caller, who holds `N`.
#[derive(Debug)]
pub struct InTenant<N: Needs = needs::Visible> {
    ctx: CallerContext,
    tenant: SeenTenant,
    needs: PhantomData<N>,
}

impl<N: Needs> InTenant<N> {
    /// The tenant's scoped reads, each checking its own permission; no second lookup.
    pub fn scope(&self) -> TenantScope<'_, DatabaseConnection> {
        self.tenant.scope(self.ctx.conn())
    }

    /// Runs `write` on the caller's work in the tenant and commits; nothing is kept when it
    /// fails.
    ///
    /// # Errors
    /// 404 when the tenant went away since the request began; what `write` answers.
    pub async fn work<T>(
        &self,
        write: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let txn = self.ctx.storage.begin().await?;
        let value = self.on_work(&txn, write).await?;
        txn.commit().await?;
        Ok(value)
    }

    /// Runs `read` on the caller's work in the tenant inside a transaction that is rolled
    /// back: for what-if simulations, which must keep nothing.
    ///
    /// # Errors
    /// 404 when the tenant went away since the request began; what `read` answers.
    pub async fn without_keeping<T>(
        &self,
        read: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let txn = self.ctx.storage.begin_read().await?;
        let value = self.on_work(&txn, read).await;
        txn.rollback().await?;
        value
    }

    async fn on_work<T>(
        &self,
        txn: &DatabaseTransaction,
        run: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let context = self.ctx.write(txn);
        let work = self
            .ctx
            .caller
            .work(&context, self.tenant.id())
            .await?
            .ok_or_else(|| not_found(self.tenant.id()))?;
        run(&work).await
    }
}

impl<N: Needs> Deref for InTenant<N> {
    type Target = CallerContext;

    fn deref(&self) -> &CallerContext {
        &self.ctx
    }
}

impl<S, N> FromRequestParts<S> for InTenant<N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    N: Needs,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = CallerContext::from_request_parts(parts, state).await?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        let tenant_id: TenantId = params
            .get("tenant_id")
            .ok_or_else(|| ApiError::bad_request("invalid-path", "the path names no tenant"))?
            .parse()
            .map_err(|_| ApiError::bad_request("invalid-path", "the tenant id is not a UUID"))?;
        // Seeing the tenant comes first: a tenant the caller cannot see is a 404 whatever the
        // route needs, so its existence is not revealed by a 403.
        let tenant = ctx
            .caller
            .see_tenant(ctx.conn(), tenant_id)
            .await?
            .ok_or_else(|| not_found(tenant_id))?;
        N::check(&ctx.caller)?;
        Ok(Self {
            ctx,
            tenant,
            needs: PhantomData,
        })
    }
}

/// The caller acting on their MSP, holding `N`.
#[derive(Debug)]
pub struct AsMsp<N: Needs> {
    ctx: CallerContext,
    needs: PhantomData<N>,
}

impl<N: Needs> Deref for AsMsp<N> {
    type Target = CallerContext;

    fn deref(&self) -> &CallerContext {
        &self.ctx
    }
}

impl<S, N> FromRequestParts<S> for AsMsp<N>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    N: Needs,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = CallerContext::from_request_parts(parts, state).await?;
        N::check(&ctx.caller)?;
        Ok(Self {
            ctx,
            needs: PhantomData,
        })
    }
}

/// A tenant of another MSP, or another customer's, is indistinguishable from one that does not
/// exist.
fn not_found(id: TenantId) -> ApiError {
    ApiError::not_found(format!("no tenant {id}"))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// What only the extractors (here and in `web/scoped.rs`) may do: look a tenant up for the
    /// caller, open the caller's work in a tenant, check a permission.
    const BY_HAND: &[&str] = &[
        "caller.tenant(",
        "caller.work(",
        ".require(Permission::",
        ".require_admin()",
    ];

    /// Handlers that do one of those for a reason of their own, and the reason.
    const EXCEPTIONS: &[(&str, &str)] = &[(
        "web/inbox.rs",
        "the sandbox inbox is the MSP's or one customer's depending on who looks, and it \
         filters the messages it lists to the tenants the viewer sees",
    )];

    fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }

    #[test]
    fn no_handler_looks_up_a_tenant_or_checks_a_permission_by_hand() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src.join("http"), &mut files);
        rust_files(&src.join("web"), &mut files);
        assert!(files.len() > 30, "the handlers were not found");
        let mut by_hand = Vec::new();
        for file in files {
            let name = file
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if name.ends_with("scoped.rs") || EXCEPTIONS.iter().any(|(f, _)| *f == name) {
                continue;
            }
            // Calls split over lines (`s\n    .caller\n    .tenant(`) count too.
            let code: String = std::fs::read_to_string(&file)
                .unwrap()
                .lines()
                .filter(|line| !line.trim_start().starts_with("//"))
                .flat_map(str::chars)
                .filter(|c| !c.is_whitespace())
                .collect();
            for pattern in BY_HAND {
                if code.contains(pattern) {
                    by_hand.push(format!("{name}: {pattern}"));
                }
            }
        }
        assert!(
            by_hand.is_empty(),
            "take InTenant/AsMsp (API) or WebTenant/WebTenantForm/WebForm<_, needs::…> (web) \
             instead: {by_hand:#?}"
        );
    }
}
