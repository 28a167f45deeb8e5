//! What each job does.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data};
use steward_core::{
    jobs::Job,
    storage::{CheckOutcome, Deployment, TenantWork},
    triage,
};
use steward_domain::{
    IntegrationId, TenantId,
    audit::{ActorKind, AuditActor},
};
use steward_integrations::{contract, http::VendorHttp, registry};

use crate::{Shared, executor};

/// How Steward's workers appear in the audit chain.
pub(crate) fn steward_actor(job: &str) -> AuditActor {
    AuditActor {
        kind: ActorKind::System,
        user_id: None,
        label: format!("steward worker ({job})"),
    }
}

/// How long a failed job waits before it fails (and is run again by the queue).
const TRANSIENT_PAUSE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs one job. An error leaves the job for the queue to run again.
pub(crate) async fn handle(job: Job, shared: Data<Shared>) -> Result<(), BoxDynError> {
    let name = job.name();
    let tenant = job.tenant_id();
    let outcome = match job {
        Job::Sync {
            tenant_id,
            integration_id,
        } => sync_integration(&shared, tenant_id, integration_id).await,
        Job::Triage {
            tenant_id,
            event_ids,
        } => triage_events(&shared, tenant_id, &event_ids).await,
        Job::Advance {
            tenant_id,
            action_id,
        } => executor::advance(&shared, tenant_id, action_id).await,
    };
    if let Err(error) = &outcome {
        tracing::warn!(job = name, %tenant, %error, "job failed; it will run again");
        // The queue re-runs a failed job at once; the pause spaces the attempts.
        tokio::time::sleep(TRANSIENT_PAUSE).await;
    }
    outcome.map_err(Into::into)
}

/// Why a job could not finish; it runs again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl JobError {
    pub(crate) fn from(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
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
    let actor = steward_actor("sync");
    let (connector, since) = {
        let txn = shared.storage.begin().await.map_err(JobError::from)?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(shared.clock.as_ref(), &shared.keys, actor.clone());
        let Some(work) = TenantWork::as_steward(&ctx, tenant_id)
            .await
            .map_err(JobError::from)?
        else {
            return Ok(());
        };
        let msp_id = work.tenant().msp_id;
        let admin = ctx.operate_msp(msp_id);
        let opened = admin
            .integrations(tenant_id, &shared.secrets)
            .open(integration_id)
            .await;
        let Ok((integration, credential)) = opened else {
            // Removed since the job was enqueued: nothing to do.
            return Ok(());
        };
        let since = work
            .inventory()
            .latest_event_time(integration_id)
            .await
            .map_err(JobError::from)?;
        txn.rollback().await.map_err(JobError::from)?;
        let http = VendorHttp::new(shared.vendor_retries.clone()).map_err(JobError::from)?;
        (
            registry::connect(
                integration.vendor,
                &integration.settings,
                credential,
                http,
                Arc::clone(&shared.clock),
            ),
            since,
        )
    };
    let pulled = match connector {
        Ok(connector) => contract::pull(&connector, since).await,
        Err(error) => Err(error),
    };
    let txn = shared.storage.begin().await.map_err(JobError::from)?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(shared.clock.as_ref(), &shared.keys, actor);
    let Some(work) = TenantWork::as_steward(&ctx, tenant_id)
        .await
        .map_err(JobError::from)?
    else {
        return Ok(());
    };
    let admin = ctx.operate_msp(work.tenant().msp_id);
    let outcome = match &pulled {
        Ok((inventory, events)) => {
            let counts = admin
                .inventory(tenant_id)
                .record_sync(integration_id, inventory, events)
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
        .map_err(JobError::from)?;
    txn.commit().await.map_err(JobError::from)?;
    match pulled {
        // Throttled or unavailable: the queue runs the job again, so nothing the vendor
        // reported is skipped until the next scheduled run.
        Err(error) if error.is_transient() => Err(JobError(format!(
            "the vendor is not answering yet: {error}"
        ))),
        _ => Ok(()),
    }
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
    let txn = shared.storage.begin().await.map_err(JobError::from)?;
    let deployment = Deployment::new(&txn);
    let ctx =
        deployment.write_context(shared.clock.as_ref(), &shared.keys, steward_actor("triage"));
    let Some(work) = TenantWork::as_steward(&ctx, tenant_id)
        .await
        .map_err(JobError::from)?
    else {
        return Ok(());
    };
    let outcome = triage::triage(&work, &shared.policies, event_ids)
        .await
        .map_err(JobError::from)?;
    txn.commit().await.map_err(JobError::from)?;
    if outcome != triage::TriageOutcome::default() {
        tracing::info!(%tenant_id, ?outcome, "triaged");
    }
    Ok(())
}
