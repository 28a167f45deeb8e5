//! The sandbox's place in the server: its environments persisted in Steward's database.

use std::sync::Arc;

use steward_core::{Clock, Storage, storage::Deployment};
use steward_domain::TenantId;
use steward_sandbox::{
    EnvironmentStore, Sandbox, SandboxError, SandboxSettings, StoreFuture,
    slack::SlackWorkspaceSecrets,
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

/// The sandbox's mailbox as the workers' mail drop, for a demo without SMTP.
#[derive(Debug)]
pub struct SandboxMailbox(pub Sandbox);

impl steward_workers::MailDrop for SandboxMailbox {
    fn deliver<'a>(
        &'a self,
        msp_id: steward_domain::MspId,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(self.0.deliver_mail(msp_id.as_uuid(), to, subject, body))
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

/// The simulated Slack workspace's credentials of this data directory: generated once into
/// `sandbox-slack.key` (owner-only), so a demo's Slack connection survives restarts and no two
/// demos share a signing secret.
///
/// # Errors
/// When the key file cannot be read or written.
pub fn slack_secrets(config: &crate::config::Config) -> anyhow::Result<SlackWorkspaceSecrets> {
    let key = steward_core::keyfile::load_or_generate(
        &config.data_dir.join("sandbox-slack.key"),
        "sandbox Slack workspace key",
    )?;
    Ok(SlackWorkspaceSecrets::from_key(&key))
}

/// Opens the sandbox of a deployment: its environments in the database, its Slack workspace's
/// credentials from the data directory.
///
/// # Errors
/// When the stored environments or the key file cannot be read.
pub async fn open_for(
    config: &crate::config::Config,
    storage: Storage,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Sandbox> {
    let settings = SandboxSettings {
        slack: slack_secrets(config)?,
        ..SandboxSettings::default()
    };
    Ok(open_with(storage, clock, settings).await?)
}
