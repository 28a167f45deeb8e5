//! Hands jobs from the outbox to the queue.
//!
//! A job is marked dispatched only after the queue accepted it; if the process stops between
//! the two, the job is handed over again, which jobs tolerate (delivery is at least once).

use steward_core::jobs::Outbox;
use tokio::sync::watch;

use crate::{JobQueue, Shared};

/// Jobs moved per pass.
const BATCH: u64 = 100;

pub(crate) async fn run(shared: Shared, mut queue: JobQueue, mut stop: watch::Receiver<bool>) {
    let interval = shared.settings.poll_interval;
    loop {
        match pass(&shared, &mut queue).await {
            // A full batch: more may be waiting.
            Ok(moved) if moved == BATCH => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "the outbox relay failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn pass(shared: &Shared, queue: &mut JobQueue) -> Result<u64, String> {
    let conn = shared.storage.conn();
    let outbox = Outbox::new(conn);
    let pending = outbox.pending(BATCH).await.map_err(|e| e.to_string())?;
    let mut moved = 0;
    for job in pending {
        tracing::debug!(job = job.job.name(), tenant = %job.job.tenant_id(), "enqueueing");
        queue.push(job.job).await.map_err(|e| e.to_string())?;
        outbox
            .mark_dispatched(job.id, shared.clock.now())
            .await
            .map_err(|e| e.to_string())?;
        moved += 1;
    }
    Ok(moved)
}
