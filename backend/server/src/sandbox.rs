//! The sandbox's place in the server: its environments persisted in Steward's database.

use std::sync::Arc;

use steward_core::{Clock, Storage, storage::Deployment};
use steward_domain::TenantId;
use steward_integrations::sandbox::{
    EnvironmentStore, Sandbox, SandboxError, SandboxSettings, StoreFuture,
};
use uuid::Uuid;

/// Sandbox environments in the `sandbox_environments` table.
#[derive(Debug)]
struct DatabaseStore {
    storage: Storage,
    clock: Arc<dyn Clock>,
}

impl EnvironmentStore for DatabaseStore {
    fn load_all(&self) -> StoreFuture<'_, Result<Vec<serde_json::Value>, String>> {
        Box::pin(async move {
            Deployment::new(self.storage.conn())
                .sandbox_environments()
                .load_all()
                .await
                .map_err(|e| crate::error_chain(&e))
        })
    }

    fn save(
        &self,
        tenant_id: Uuid,
        document: serde_json::Value,
    ) -> StoreFuture<'_, Result<(), String>> {
        Box::pin(async move {
            Deployment::new(self.storage.conn())
                .sandbox_environments()
                .save(TenantId::from_uuid(tenant_id), document, self.clock.now())
                .await
                .map_err(|e| crate::error_chain(&e))
        })
    }
}

/// Opens the sandbox over the database.
///
/// # Errors
/// When the stored environments cannot be read.
pub async fn open(storage: Storage, clock: Arc<dyn Clock>) -> Result<Sandbox, SandboxError> {
    open_with(storage, clock, SandboxSettings::default()).await
}

/// As [`open`], with these settings (the benchmark lifts the vendors' rate limits).
///
/// # Errors
/// As [`open`].
pub async fn open_with(
    storage: Storage,
    clock: Arc<dyn Clock>,
    settings: SandboxSettings,
) -> Result<Sandbox, SandboxError> {
    let store = Arc::new(DatabaseStore {
        storage,
        clock: Arc::clone(&clock),
    });
    Sandbox::open(store, clock, settings).await
}
