//! What each job does.

use apalis::prelude::{AbortError, Attempt, BoxDynError, Data, TaskId};
use steward_core::{
    inventory::SyncError,
    jobs::Job,
    risk,
    storage::{Deployment, IntegrationAdminError, TenantWork},
    triage,
};
use steward_domain::{
    IntegrationId, TenantId,
    audit::{ActorKind, AuditActor},
};
use tracing::Instrument;

use crate::{
    JobError, Shared, executor,
    sync::{Requester, SyncOutcome, SyncRunError},
};

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

/// `Job::Sync`: synchronizes an integration as Steward through the sync stage; the stored
/// events go to triage through the outbox. A vendor's failure is recorded as the
/// integration's health, and a transient one has the integration wait out its vendor (the
/// scheduler synchronizes it again then), so the job itself succeeds.
///
/// # Errors
/// When the database fails.
pub async fn sync_integration(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
) -> Result<(), JobError> {
    let outcome = shared
        .synchronizer()
        .synchronize(Requester::Steward, tenant_id, integration_id, async || {
            crate::tickets::sync_integration(shared, tenant_id, integration_id)
                .await
                .map_err(SyncJobError::Job)
        })
        .await;
    match outcome {
        Ok(SyncOutcome::Postponed {
            reason, retry_in, ..
        }) => {
            tracing::info!(%tenant_id, %integration_id, ?retry_in, %reason, "synchronization postponed");
            Ok(())
        }
        Ok(_) => Ok(()),
        // Removed since the job was enqueued: nothing to do.
        Err(SyncJobError::Run(
            SyncRunError::UnknownTenant(_)
            | SyncRunError::Integration(IntegrationAdminError::NotFound(_))
            | SyncRunError::Record(SyncError::UnknownIntegration(_)),
        )) => Ok(()),
        Err(SyncJobError::Run(error)) => Err(error.into()),
        Err(SyncJobError::Job(error)) => Err(error),
    }
}

/// Why a synchronization job failed: the stage's own error, or a PSA's ticket work's.
#[derive(Debug)]
enum SyncJobError {
    Run(SyncRunError),
    Job(JobError),
}

impl From<SyncRunError> for SyncJobError {
    fn from(error: SyncRunError) -> Self {
        Self::Run(error)
    }
}

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

/// The integration and its credential, as a job acting in its tenant opens them; `None` when
/// it was removed since the job was enqueued, or its credential can no longer be opened (the
/// integration's health says so at its next synchronization).
pub(crate) async fn open_integration(
    work: &TenantWork<'_>,
    secrets: &steward_core::secrets::SecretBox,
    integration_id: IntegrationId,
) -> Result<
    Option<(
        steward_domain::integrations::Integration,
        secrecy::SecretString,
    )>,
    JobError,
> {
    let integrations = work.integrations(secrets).map_err(JobError::permanent)?;
    match integrations.open(integration_id).await {
        Ok(opened) => Ok(Some(opened)),
        Err(IntegrationAdminError::Storage(error)) => Err(error.into()),
        Err(_) => Ok(None),
    }
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
            risk::refresh_risk(work, entity)
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
