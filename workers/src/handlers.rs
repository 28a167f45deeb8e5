//! What each job does.

use std::sync::Arc;

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data, TaskId};
use steward_core::{
    jobs::Job,
    storage::{CheckOutcome, Deployment, TenantWork, vendor_slots},
    triage,
};
use steward_domain::{
    IntegrationId, TenantId,
    audit::{ActorKind, AuditActor},
    coverage::ToolCategory,
};
use steward_integrations::{contract, registry};
use tracing::Instrument;

use crate::{JobError, Shared, executor};

/// How Steward's workers appear in the audit chain.
pub(crate) fn steward_actor(job: &str) -> AuditActor {
    AuditActor {
        kind: ActorKind::System,
        user_id: None,
        label: format!("steward worker ({job})"),
    }
}

/// Runs one job in its `job.<name>` span. A retryable failure reschedules the job after a
/// growing wait, leaving the worker's slot to other jobs; a permanent one is recorded as the
/// job's result and the job does not run again.
pub(crate) async fn handle(
    job: Job,
    shared: Data<Shared>,
    task_id: TaskId,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    let attempt = attempt.current().max(1);
    let span = job_span(&job, &task_id, attempt);
    async move {
        match run(job, &shared).await {
            Ok(()) => Ok(()),
            Err(JobError::Retryable(reason)) if attempt >= crate::queue::MAX_ATTEMPTS => {
                tracing::error!(%reason, "job failed at its last try; it will not run again");
                Err(reason.into())
            }
            Err(JobError::Retryable(reason)) => {
                let wait = shared.settings.job_retry.after(attempt);
                let pool = shared.storage.pool();
                if let Err(error) = crate::queue::run_again_after(&pool, &task_id, wait).await {
                    // The queue then runs the job again at once: sooner than planned, not lost.
                    tracing::warn!(%error, "cannot reschedule the failed job");
                }
                tracing::warn!(%reason, ?wait, "job failed; it will run again");
                Err(reason.into())
            }
            Err(JobError::Permanent(reason)) => {
                tracing::error!(%reason, "job failed for good; it will not run again");
                Err(AbortError::new(reason).into())
            }
        }
    }
    .instrument(span)
    .await
}

async fn run(job: Job, shared: &Shared) -> Result<(), JobError> {
    match job {
        Job::Sync {
            tenant_id,
            integration_id,
        } => sync_integration(shared, tenant_id, integration_id).await,
        Job::Triage {
            tenant_id,
            event_ids,
        } => triage_events(shared, tenant_id, &event_ids).await,
        Job::Advance {
            tenant_id,
            action_id,
        } => executor::advance(shared, tenant_id, action_id).await,
        Job::RequestApproval {
            tenant_id,
            action_id,
        } => crate::notify::request_approval(shared, tenant_id, action_id).await,
        Job::UpdateSlack {
            tenant_id,
            action_id,
        } => crate::notify::update_slack(shared, tenant_id, action_id).await,
        Job::SyncTickets {
            tenant_id,
            incident_id,
        } => crate::tickets::sync_incident(shared, tenant_id, incident_id).await,
        Job::DeliverWebhook {
            tenant_id,
            delivery_id,
        } => crate::outbound_webhooks::deliver(shared, tenant_id, &delivery_id).await,
        Job::RefreshRisk { tenant_id, entity } => refresh_risk(shared, tenant_id, entity).await,
    }
}

/// The span of one run of a job, named after the job, with its tenant and the ids it works on.
fn job_span(job: &Job, task_id: &TaskId, attempt: usize) -> tracing::Span {
    let task = tracing::field::display(task_id);
    match job {
        Job::Sync {
            tenant_id,
            integration_id,
        } => tracing::info_span!("job.sync", %tenant_id, %integration_id, %task, attempt),
        Job::Triage {
            tenant_id,
            event_ids,
        } => {
            tracing::info_span!("job.triage", %tenant_id, events = event_ids.len(), %task, attempt)
        }
        Job::Advance {
            tenant_id,
            action_id,
        } => tracing::info_span!("job.advance", %tenant_id, %action_id, %task, attempt),
        Job::RequestApproval {
            tenant_id,
            action_id,
        } => tracing::info_span!("job.request_approval", %tenant_id, %action_id, %task, attempt),
        Job::UpdateSlack {
            tenant_id,
            action_id,
        } => tracing::info_span!("job.update_slack", %tenant_id, %action_id, %task, attempt),
        Job::SyncTickets {
            tenant_id,
            incident_id,
        } => tracing::info_span!("job.sync_tickets", %tenant_id, %incident_id, %task, attempt),
        Job::DeliverWebhook {
            tenant_id,
            delivery_id,
        } => tracing::info_span!("job.deliver_webhook", %tenant_id, %delivery_id, %task, attempt),
        Job::RefreshRisk { tenant_id, entity } => tracing::info_span!(
            "job.refresh_risk",
            %tenant_id,
            entity = ?entity,
            %task,
            attempt
        ),
    }
}

/// Pulls an integration's inventory and events and records them as Steward; the stored events
/// go to triage through the outbox. A failure is recorded as the integration's health; a
/// transient one (throttling, an outage) also fails the job so the queue runs it again.
///
/// # Errors
/// When the database fails.
pub async fn sync_integration(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
) -> Result<(), JobError> {
    let opened = as_steward(shared, "sync", tenant_id, Finish::Discard, async |work| {
        let admin = work.context().operate_msp(work.tenant().msp_id);
        let Ok(opened) = admin
            .integrations(tenant_id, &shared.secrets)
            .open(integration_id)
            .await
        else {
            // Removed since the job was enqueued: nothing to do.
            return Ok(None);
        };
        let inventory = work.inventory();
        let since = inventory
            .latest_event_time(integration_id)
            .await
            .map_err(JobError::from)?;
        let state = inventory
            .sync_state(integration_id)
            .await
            .map_err(JobError::from)?;
        Ok(Some((opened, since, state)))
    })
    .await?;
    let Some(Some(((integration, credential), since, state))) = opened else {
        return Ok(());
    };
    if let Some(until) = shared
        .backoff
        .defer(integration_id, tokio::time::Instant::now())
    {
        let wait = until.saturating_duration_since(tokio::time::Instant::now());
        tracing::info!(%tenant_id, %integration_id, ?wait, "the vendor asked to wait; synchronizing then");
        return Ok(());
    }
    // The vendor's budget is shared by every worker process: without a slot, wait a moment
    // (the scheduler queues the synchronization again) while other tenants use it.
    let Some(held) = take_vendor_slot(shared, tenant_id, integration.vendor).await? else {
        shared.backoff.busy(
            integration_id,
            tenant_id,
            tokio::time::Instant::now(),
            VENDOR_BUSY_WAIT,
        );
        tracing::info!(%tenant_id, %integration_id, vendor = %integration.vendor, "the vendor's synchronization budget is in use; synchronizing shortly");
        return Ok(());
    };
    let pulled = pull_holding_slot(
        shared,
        tenant_id,
        integration_id,
        &integration,
        credential,
        since,
        state,
    )
    .await;
    give_back_vendor_slot(shared, &held).await;
    let pulled = pulled?;
    record_pulled(shared, tenant_id, integration_id, pulled).await
}

/// How long a synchronization waits when its vendor's budget is in use.
const VENDOR_BUSY_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a slot is held at most if its worker never gives it back.
const VENDOR_SLOT_LEASE: chrono::Duration = chrono::Duration::minutes(15);

/// Takes one of `vendor`'s slots for the tenant, in a transaction of its own.
async fn take_vendor_slot(
    shared: &Shared,
    tenant_id: TenantId,
    vendor: steward_domain::observations::Vendor,
) -> Result<Option<vendor_slots::Held>, JobError> {
    let txn = shared.storage.begin().await.map_err(JobError::from)?;
    let now = shared.clock.now();
    let held = vendor_slots::acquire(
        &txn,
        vendor.as_str(),
        shared.settings.vendor_concurrency,
        tenant_id,
        steward_core::storage::new_id(shared.clock.as_ref()),
        (now, now + VENDOR_SLOT_LEASE),
    )
    .await
    .map_err(JobError::from)?;
    txn.commit().await.map_err(JobError::from)?;
    Ok(held)
}

/// Gives a slot back; a failure only logs, as the lease frees the slot in the end.
async fn give_back_vendor_slot(shared: &Shared, held: &vendor_slots::Held) {
    let released = async {
        let txn = shared.storage.begin().await?;
        vendor_slots::release(&txn, held).await?;
        txn.commit().await?;
        Ok::<(), steward_core::storage::StorageError>(())
    };
    if let Err(error) = released.await {
        tracing::warn!(%error, vendor = %held.vendor, "cannot give a vendor slot back; its lease will free it");
    }
}

/// Reads the vendor (and, for a PSA, brings tickets in step): the part that holds a slot.
async fn pull_holding_slot(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
    integration: &steward_domain::integrations::Integration,
    credential: secrecy::SecretString,
    since: Option<chrono::DateTime<chrono::Utc>>,
    state: Option<serde_json::Value>,
) -> Result<Result<contract::Pulled, steward_integrations::ConnectorError>, JobError> {
    // A vendor asking to wait longer than this is retried later, not waited for in a worker;
    // one that does not answer fails the synchronization within seconds, so its health says
    // so and the scheduler tries again after a backoff.
    let mut policy = shared.vendor_retries.clone();
    policy.max_retry_after = policy.max_retry_after.min(SYNC_MAX_WAIT);
    policy.max_delay = policy.max_delay.min(SYNC_MAX_BACKOFF);
    let http = shared.vendor_http(policy).map_err(JobError::from)?;
    let pulled = match registry::connect(
        integration.vendor,
        &integration.settings,
        credential,
        http,
        Arc::clone(&shared.clock),
    ) {
        Ok(connector) => contract::pull(&connector, since, state).await,
        Err(error) => Err(error),
    };
    // A PSA's synchronization is its tickets: open incidents get one, and tickets closed or
    // reopened at the PSA move their incidents.
    Ok(match pulled {
        Ok(pulled) if integration.vendor.category() == ToolCategory::Psa => {
            crate::tickets::sync_integration(shared, tenant_id, integration_id)
                .await?
                .map(|()| pulled)
        }
        other => other,
    })
}

/// Records what was pulled, or why it could not be, as the integration's health; a transient
/// failure has the integration wait out its vendor.
async fn record_pulled(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
    pulled: Result<contract::Pulled, steward_integrations::ConnectorError>,
) -> Result<(), JobError> {
    as_steward(shared, "sync", tenant_id, Finish::Commit, async |work| {
        let admin = work.context().operate_msp(work.tenant().msp_id);
        let outcome = match &pulled {
            Ok(pulled) => {
                let counts = steward_core::inventory::InventoryWriter::new(&admin, tenant_id)
                    .record_sync(
                        integration_id,
                        &pulled.inventory,
                        &pulled.events,
                        pulled.state.as_ref(),
                    )
                    .await
                    .map_err(JobError::from)?;
                tracing::info!(%tenant_id, %integration_id, ?counts, "synchronized");
                CheckOutcome::Succeeded
            }
            Err(error) => {
                tracing::warn!(%tenant_id, %integration_id, %error, "synchronization failed");
                CheckOutcome::Failed(error.to_string())
            }
        };
        admin
            .integrations(tenant_id, &shared.secrets)
            .record_scheduled_check(integration_id, outcome)
            .await
            .map_err(JobError::from)
    })
    .await?;
    match pulled {
        // Throttled or unavailable: the integration waits out its vendor and the scheduler
        // synchronizes it again then, so nothing is skipped and no worker waits meanwhile.
        Err(error) if error.is_transient() => {
            let retry_after = match &error {
                steward_integrations::ConnectorError::Throttled { retry_after } => *retry_after,
                _ => None,
            };
            let now = tokio::time::Instant::now();
            let until = shared
                .backoff
                .failed(integration_id, tenant_id, now, retry_after);
            let wait = until - now;
            tracing::warn!(%tenant_id, %integration_id, ?wait, %error, "the vendor is not answering yet; synchronizing again then");
            Ok(())
        }
        Ok(_) => {
            shared.backoff.succeeded(integration_id);
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

/// The longest `Retry-After` a synchronization waits inside a worker.
const SYNC_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// The longest pause between two tries of a synchronization's request that failed without an
/// answer (the vendor unreachable, a 5xx).
const SYNC_MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether [`as_steward`] keeps what its work wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    Commit,
    /// A read: nothing to keep.
    Discard,
}

/// Runs `work` as Steward in the tenant, in one transaction committed or discarded as `finish`
/// says; `None` when the tenant no longer exists.
pub(crate) async fn as_steward<T>(
    shared: &Shared,
    job: &str,
    tenant_id: TenantId,
    finish: Finish,
    work: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, JobError>,
) -> Result<Option<T>, JobError> {
    let txn = shared.storage.begin().await.map_err(JobError::from)?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(shared.clock.as_ref(), &shared.keys, steward_actor(job));
    let Some(tenant) = TenantWork::as_steward(&ctx, tenant_id)
        .await
        .map_err(JobError::from)?
    else {
        return Ok(None);
    };
    let value = work(&tenant).await?;
    drop(tenant);
    drop(ctx);
    match finish {
        Finish::Commit => txn.commit().await,
        Finish::Discard => txn.rollback().await,
    }
    .map_err(JobError::from)?;
    Ok(Some(value))
}

/// Recomputes one entity's risk as Steward.
async fn refresh_risk(
    shared: &Shared,
    tenant_id: TenantId,
    entity: steward_domain::incidents::EntityKey,
) -> Result<(), JobError> {
    as_steward(
        shared,
        "refresh_risk",
        tenant_id,
        Finish::Commit,
        async |work| {
            // One risk computation at a time per MSP, as triage's: one that read the findings
            // before a concurrent triage committed would otherwise store a stale score after it.
            work.serialize_decisions().await.map_err(JobError::from)?;
            triage::refresh_risk(work, entity)
                .await
                .map(drop)
                .map_err(JobError::from)
        },
    )
    .await
    .map(drop)
}

/// Triages stored events as Steward, in one transaction.
///
/// # Errors
/// When the database fails.
pub async fn triage_events(
    shared: &Shared,
    tenant_id: TenantId,
    event_ids: &[uuid::Uuid],
) -> Result<(), JobError> {
    let Some(outcome) = as_steward(shared, "triage", tenant_id, Finish::Commit, async |work| {
        triage::triage(work, &shared.policies, event_ids)
            .await
            .map_err(JobError::from)
    })
    .await?
    else {
        return Ok(());
    };
    if outcome != triage::TriageOutcome::default() {
        tracing::info!(%tenant_id, ?outcome, "triaged");
    }
    Ok(())
}
