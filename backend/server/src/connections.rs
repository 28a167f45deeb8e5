//! Testing an integration's connection and synchronizing it: shared by the API and the web UI.

use std::sync::Arc;

use steward_core::{
    access::Caller,
    inventory::{InventoryWriter, SyncError},
    jobs::{self, Job},
    storage::{CheckOutcome, IntegrationAdminError},
};
use steward_domain::{
    IntegrationId, TenantId, coverage::ToolCategory, integrations::Integration,
    inventory::SyncCounts,
};
use steward_integrations::{
    Connector, contract,
    http::{RetryPolicy, VendorHttp},
    registry,
};

use crate::state::AppState;

/// Retries for work someone is waiting on: a few seconds at most, then the vendor's state is
/// reported instead of waited out.
fn interactive_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        max_delay: std::time::Duration::from_secs(2),
        max_retry_after: std::time::Duration::from_secs(5),
        request_timeout: std::time::Duration::from_secs(15),
        ..RetryPolicy::default()
    }
}

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
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("no tenant {0}")]
    UnknownTenant(TenantId),
}

/// What a synchronization did.
#[derive(Debug)]
pub struct SyncOutcome {
    /// What changed in the inventory and events; zero when the vendor failed.
    pub counts: SyncCounts,
    /// Why the vendor could not be read.
    pub error: Option<String>,
    pub integration: Integration,
}

/// Reads the vendor's inventory and new events through the integration, merges them into the
/// tenant's, and records the outcome as the integration's health. A failing vendor is an
/// outcome (the integration turns `failing`), not an error.
///
/// # Errors
/// [`TestError`] when the synchronization cannot run.
pub async fn sync(
    state: &AppState,
    caller: &Caller,
    request_id: Option<String>,
    tenant_id: TenantId,
    integration_id: IntegrationId,
) -> Result<SyncOutcome, TestError> {
    let connector = {
        let txn = state.storage.begin().await?;
        let write =
            caller.write_context(&txn, state.clock.as_ref(), &state.keys, request_id.clone());
        let (integration, credential) = caller
            .admin(&write)?
            .integrations(tenant_id, &state.secrets)
            .open(integration_id)
            .await?;
        let tenant = caller
            .tenant(&txn, tenant_id)
            .await?
            .ok_or(TestError::UnknownTenant(tenant_id))?;
        let inventory = tenant.inventory()?;
        let since = inventory.latest_event_time(integration_id).await?;
        let sync_state = inventory.sync_state(integration_id).await?;
        drop(tenant);
        txn.rollback().await?;
        let connector = registry::connect(
            integration.vendor,
            &integration.settings,
            credential,
            VendorHttp::new(interactive_retries())?.with_egress(state.egress.clone()),
            Arc::clone(&state.clock),
        );
        (connector, since, sync_state)
    };
    let (connector, since, sync_state) = connector;
    let pulled = match connector {
        Ok(connector) => contract::pull(&connector, since, sync_state).await,
        Err(error) => Err(error),
    };
    let txn = state.storage.begin().await?;
    let write = caller.write_context(&txn, state.clock.as_ref(), &state.keys, request_id);
    let admin = caller.admin(&write)?;
    let (counts, error) = match &pulled {
        Ok(pulled) => (
            InventoryWriter::new(&admin, tenant_id)
                .record_sync(
                    integration_id,
                    &pulled.inventory,
                    &pulled.events,
                    pulled.state.as_ref(),
                )
                .await?,
            None,
        ),
        Err(error) => (SyncCounts::default(), Some(error.to_string())),
    };
    let integration = admin
        .integrations(tenant_id, &state.secrets)
        .record_check(
            integration_id,
            match &error {
                None => CheckOutcome::Succeeded,
                Some(error) => CheckOutcome::Failed(error.clone()),
            },
        )
        .await?;
    // A PSA's synchronization is its tickets, which the workers keep in step with incidents.
    if error.is_none() && integration.vendor.category() == ToolCategory::Psa {
        jobs::enqueue(
            &write,
            integration.msp_id,
            &Job::Sync {
                tenant_id,
                integration_id,
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(SyncOutcome {
        counts,
        error,
        integration,
    })
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
    let http = VendorHttp::new(interactive_retries())?.with_egress(state.egress.clone());
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
