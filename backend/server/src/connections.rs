//! Testing an integration's connection: shared by the API and the web UI.

use std::sync::Arc;

use steward_core::{
    access::Caller,
    storage::{CheckOutcome, IntegrationAdminError},
};
use steward_domain::{IntegrationId, TenantId, integrations::Integration};
use steward_integrations::{
    Connector,
    http::{RetryPolicy, VendorHttp},
    registry,
};

use crate::state::AppState;

/// What a connection test found, with the integration's recorded health.
#[derive(Debug)]
pub struct TestOutcome {
    /// What was checked, in order, when it worked.
    pub checks: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    pub integration: Integration,
}

/// Why a test could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error(transparent)]
    Forbidden(#[from] steward_core::access::Forbidden),
    #[error(transparent)]
    Integration(#[from] IntegrationAdminError),
    #[error(transparent)]
    Database(#[from] steward_core::storage::DbErr),
    #[error(transparent)]
    Storage(#[from] steward_core::StorageError),
    #[error("the HTTP client cannot start: {0}")]
    Client(#[from] steward_integrations::http::HttpError),
}

/// Signs in at the vendor with the stored credential, reads what Steward needs, and records
/// the outcome as the integration's health. The caller must be an MSP admin who can see the
/// tenant (the handles enforce both).
///
/// # Errors
/// [`TestError`] when the test cannot run; a failing vendor is an outcome, not an error.
pub async fn test(
    state: &AppState,
    caller: &Caller,
    request_id: Option<String>,
    tenant_id: TenantId,
    integration_id: IntegrationId,
) -> Result<TestOutcome, TestError> {
    // The credential is opened in a short transaction; the vendor is called outside any.
    let (integration, credential) = {
        let txn = state.storage.begin().await?;
        let write =
            caller.write_context(&txn, state.clock.as_ref(), &state.keys, request_id.clone());
        let opened = caller
            .admin(&write)?
            .integrations(tenant_id, &state.secrets)
            .open(integration_id)
            .await?;
        txn.rollback().await?;
        opened
    };
    let http = VendorHttp::new(RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    })?;
    let outcome = match registry::connect(
        integration.vendor,
        &integration.settings,
        credential,
        http,
        Arc::clone(&state.clock),
    ) {
        Ok(connector) => connector.test_connection().await,
        Err(error) => Err(error),
    };
    let (checks, error) = match outcome {
        Ok(report) => (report.checks, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    let txn = state.storage.begin().await?;
    let write = caller.write_context(&txn, state.clock.as_ref(), &state.keys, request_id);
    let integration = caller
        .admin(&write)?
        .integrations(tenant_id, &state.secrets)
        .record_check(
            integration_id,
            match &error {
                None => CheckOutcome::Succeeded,
                Some(error) => CheckOutcome::Failed(error.clone()),
            },
        )
        .await?;
    txn.commit().await?;
    Ok(TestOutcome {
        checks,
        error,
        integration,
    })
}
