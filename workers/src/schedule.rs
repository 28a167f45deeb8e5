//! At every sync interval: synchronizes every integration of every active tenant, and hands
//! stalled actions to a worker again. More often: escalates and expires approval requests.

use steward_core::{
    approvals::{self, Settled},
    detection,
    jobs::Job,
    storage::{Deployment, outbound_webhooks},
};
use tokio::sync::watch;

use crate::{
    JobError, JobQueue, Shared,
    handlers::{Finish, as_steward},
};

pub(crate) async fn run(shared: Shared, mut queue: JobQueue, mut stop: watch::Receiver<bool>) {
    let sync_interval = shared.settings.sync_interval;
    // Stalled actions are looked for at least as often as they can stall.
    let sweep_interval = sync_interval.min(shared.settings.stall_after);
    let tick = sweep_interval.min(shared.settings.approval_check);
    let mut last_sync = std::time::Instant::now();
    let mut last_sweep = std::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => return,
        }
        shared.rounds.begin();
        let synced = last_sync.elapsed() >= sync_interval;
        if synced {
            last_sync = std::time::Instant::now();
            schedule_syncs(&shared, &mut queue).await;
            check_silent_sources(&shared).await;
        }
        let swept = last_sweep.elapsed() >= sweep_interval;
        if swept {
            last_sweep = std::time::Instant::now();
            sweep(&shared, &mut queue).await;
        }
        settle_approvals(&shared).await;
        hand_out_due_deliveries(&shared, &mut queue).await;
        for (tenant_id, integration_id) in shared.backoff.due(tokio::time::Instant::now()) {
            if let Err(error) = queue
                .push(Job::Sync {
                    tenant_id,
                    integration_id,
                })
                .await
            {
                tracing::warn!(%error, "cannot queue a synchronization after its vendor's wait");
            }
        }
        shared.rounds.complete(synced, swept);
    }
}

/// Hands webhook deliveries due for another attempt to the workers.
async fn hand_out_due_deliveries(shared: &Shared, queue: &mut JobQueue) {
    let claimed = async {
        let txn = shared.storage.begin().await?;
        let claimed =
            outbound_webhooks::claim_due(&txn, shared.clock.now(), DUE_DELIVERIES_PER_ROUND)
                .await?;
        txn.commit().await?;
        Ok::<_, steward_core::StorageError>(claimed)
    }
    .await;
    let claimed = match claimed {
        Ok(claimed) => claimed,
        Err(error) => {
            tracing::warn!(%error, "cannot look for webhook deliveries to retry");
            return;
        }
    };
    for (tenant_id, delivery_id) in claimed {
        if let Err(error) = queue
            .push(Job::DeliverWebhook {
                tenant_id,
                delivery_id,
            })
            .await
        {
            tracing::warn!(%error, "cannot hand a webhook delivery to a worker");
        }
    }
}

/// Deliveries handed out per scheduler round; the rest wait for the next.
const DUE_DELIVERIES_PER_ROUND: u64 = 200;

/// Escalates approval requests unanswered past their escalation time and expires those past
/// their expiry (rejecting the action). Each is a compare-and-set, so several workers doing
/// this at once settle each request once.
async fn settle_approvals(shared: &Shared) {
    let due = match Deployment::new(shared.storage.conn())
        .due_approvals(shared.clock.now(), shared.policies.approval_timing())
        .await
    {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "cannot look for approval requests to settle");
            return;
        }
    };
    for (tenant_id, action_id) in due {
        let settled = as_steward(
            shared,
            "approvals",
            tenant_id,
            Finish::Commit,
            async |work| {
                approvals::settle_due(work, action_id, shared.policies.approval_timing())
                    .await
                    .map_err(JobError::from)
            },
        )
        .await;
        match settled {
            Ok(Some(Some(Settled::Expired))) => {
                tracing::info!(%tenant_id, %action_id, "an approval request expired; the action is rejected");
            }
            Ok(Some(Some(Settled::Escalated))) => {
                tracing::info!(%tenant_id, %action_id, "an approval request went to the next approvers");
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, %action_id, "cannot settle an approval request"),
        }
    }
}

/// How long an integration may go without a successful synchronization before it is a
/// finding: three sync intervals, and never less than half an hour.
fn silence_allowed(shared: &Shared) -> chrono::Duration {
    chrono::Duration::from_std(shared.settings.sync_interval * 3)
        .unwrap_or(chrono::Duration::MAX)
        .max(chrono::Duration::minutes(30))
}

/// Records a `source-silent` finding (and so an incident) for every integration that has not
/// synchronized successfully for longer than its cadence allows; once per silence.
pub async fn check_silent_sources(shared: &Shared) {
    let integrations = match Deployment::new(shared.storage.conn()).integrations().await {
        Ok(integrations) => integrations,
        Err(error) => {
            tracing::warn!(%error, "cannot list integrations to check for silence");
            return;
        }
    };
    let now = shared.clock.now();
    for integration in integrations {
        let Some(detected) = detection::source_silent(&integration, now, silence_allowed(shared))
        else {
            continue;
        };
        let recorded = as_steward(
            shared,
            "source_silence",
            integration.tenant_id,
            Finish::Commit,
            async |work| {
                steward_core::incidents::record_finding(work, &detected, &[])
                    .await
                    .map_err(JobError::from)
            },
        )
        .await;
        match recorded {
            Ok(Some(Some(recorded))) => tracing::warn!(
                tenant_id = %integration.tenant_id,
                integration_id = %integration.id,
                incident = %recorded.incident_id,
                "an integration went silent"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "cannot record a silent integration"),
        }
    }
}

async fn schedule_syncs(shared: &Shared, queue: &mut JobQueue) {
    let integrations = match Deployment::new(shared.storage.conn()).integrations().await {
        Ok(integrations) => integrations,
        Err(error) => {
            tracing::warn!(%error, "cannot list integrations to synchronize");
            return;
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

/// Hands actions that stopped moving to a worker again. Advancing is safe to repeat, so an
/// action whose job is merely slow is not harmed.
async fn sweep(shared: &Shared, queue: &mut JobQueue) {
    let stall =
        chrono::Duration::from_std(shared.settings.stall_after).unwrap_or(chrono::Duration::MAX);
    let before = shared.clock.now() - stall;
    let stalled = match Deployment::new(shared.storage.conn())
        .stalled_actions(before)
        .await
    {
        Ok(stalled) => stalled,
        Err(error) => {
            tracing::warn!(%error, "cannot look for stalled actions");
            return;
        }
    };
    for (tenant_id, action_id) in stalled {
        tracing::warn!(%tenant_id, %action_id, "an action stopped moving; advancing it again");
        if let Err(error) = queue
            .push(Job::Advance {
                tenant_id,
                action_id,
            })
            .await
        {
            tracing::warn!(%error, "cannot hand a stalled action to a worker");
        }
    }
}
