//! Synchronizes every integration of every active tenant at the configured interval.

use steward_core::{jobs::Job, storage::Deployment};
use tokio::sync::watch;

use crate::{JobQueue, Shared};

pub(crate) async fn run(shared: Shared, mut queue: JobQueue, mut stop: watch::Receiver<bool>) {
    let interval = shared.settings.sync_interval;
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
        let integrations = match Deployment::new(shared.storage.conn()).integrations().await {
            Ok(integrations) => integrations,
            Err(error) => {
                tracing::warn!(%error, "cannot list integrations to synchronize");
                continue;
            }
        };
        for integration in integrations {
            let job = Job::Sync {
                tenant_id: integration.tenant_id,
                integration_id: integration.id,
            };
            if let Err(error) = queue.push(job).await {
                tracing::warn!(%error, "cannot schedule a synchronization");
            }
        }
    }
}
