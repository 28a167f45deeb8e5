//! Steward's background work: synchronizing vendors, triage, and executing, verifying and
//! rolling back actions.
//!
//! Jobs are enqueued through the outbox (`steward_core::jobs`) in the transaction of the change
//! that causes them; the relay here hands them to an apalis queue on the same database, and
//! workers run them. Delivery is at least once, so every job is safe to run again: it re-reads
//! the state it acts on, transitions are compare-and-set, and vendor calls carry idempotency
//! keys. A worker that dies mid-job stops sending heartbeats, and the queue hands its job to
//! another worker.

mod executor;
mod handlers;
mod job_error;
mod notify;
mod outbound_webhooks;
mod queue;
mod relay;
mod schedule;
mod settle;
mod supervise;
pub mod sync;
mod tickets;

use std::{sync::Arc, time::Duration};

use apalis::prelude::{BackendExt, WorkerBuilder, WorkerBuilderExt};
use steward_core::{
    Clock, Storage, audit::AuditKeys, decisions::policy::Policies, secrets::SecretBox,
};
use steward_integrations::http::RetryPolicy;
use tokio::sync::watch;

pub use self::{
    executor::advance,
    handlers::{sync_integration, triage_events},
    job_error::{JobError, JobRetry},
    notify::{MailDrop, MailError, MailSettings, Mailer, SmtpSecurity, request_approval},
    queue::{FailedJob, JobQueue, Liveness, MAX_ATTEMPTS, QUEUE, QueueError, failed_jobs},
    schedule::check_silent_sources,
    settle::{Backlog, Rounds, SettleError, backlog, settle, unfinished},
    sync::VendorBackoff,
};

/// What every job can reach.
#[derive(Debug, Clone)]
pub struct Shared {
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub secrets: Arc<SecretBox>,
    /// The deployment's authority policy and the tenants' own.
    pub policies: Policies,
    /// Retries of vendor calls (429 with Retry-After, transient 5xx on idempotent calls).
    pub vendor_retries: RetryPolicy,
    pub settings: Arc<WorkerSettings>,
    /// Sends approval requests by email, when configured.
    pub mailer: Option<Arc<Mailer>>,
    /// Integrations waiting out a throttling or unavailable vendor.
    pub backoff: VendorBackoff,
    /// Where requests to vendors and webhook receivers may go.
    pub egress: steward_integrations::egress::EgressPolicy,
    /// Turns true when the process shuts down: the workers take no new job, and running ones
    /// stop waiting (between vendor retries, verification polls) and end, to run again after
    /// the restart.
    pub shutdown: watch::Receiver<bool>,
    /// The scheduler's completed rounds, which [`settle`] waits on.
    pub rounds: Rounds,
}

impl Shared {
    /// Whether the process is shutting down.
    #[must_use]
    pub fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Waits `wait`, or less when the process starts shutting down.
    pub async fn pause(&self, wait: Duration) {
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => {}
        }
    }

    /// The sync stage, as this process's workers run it.
    #[must_use]
    pub fn synchronizer(&self) -> sync::Synchronizer {
        sync::Synchronizer {
            storage: self.storage.clone(),
            clock: Arc::clone(&self.clock),
            keys: Arc::clone(&self.keys),
            secrets: Arc::clone(&self.secrets),
            egress: self.egress.clone(),
            backoff: self.backoff.clone(),
            vendor_concurrency: self.settings.vendor_concurrency,
            retries: self.vendor_retries.clone(),
            shutdown: Some(self.shutdown.clone()),
        }
    }

    /// An HTTP client for vendor calls under the deployment's egress rule, retrying as `retries`
    /// says until the process shuts down.
    ///
    /// # Errors
    /// When the TLS stack cannot be initialised.
    pub fn vendor_http(
        &self,
        retries: RetryPolicy,
    ) -> Result<steward_integrations::http::VendorHttp, steward_integrations::http::HttpError> {
        Ok(steward_integrations::http::VendorHttp::new(retries)?
            .with_egress(self.egress.clone())
            .with_shutdown(self.shutdown.clone()))
    }
}

/// How the workers run.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// How often an idle worker and the outbox relay look for work.
    pub poll_interval: Duration,
    /// How often every integration is synchronized.
    pub sync_interval: Duration,
    /// How often a worker reports it is alive, and how many reports it may miss before its
    /// running jobs go to another worker.
    pub liveness: Liveness,
    /// How long an action's verification polls the vendor before it counts as failed.
    pub verify_timeout: Duration,
    /// Pause between two verification polls.
    pub verify_interval: Duration,
    /// An action in flight that has not moved for this long is handed to a worker again (its
    /// job was lost or gave up); checked at every sync interval.
    pub stall_after: Duration,
    /// How often approval requests are checked for escalation and expiry.
    pub approval_check: Duration,
    /// Synchronizations of one vendor that may call it at once, across every worker process.
    pub vendor_concurrency: u32,
    /// When a job whose last try failed retryably runs again.
    pub job_retry: JobRetry,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            poll_interval: Duration::from_millis(500),
            sync_interval: Duration::from_secs(300),
            liveness: Liveness {
                heartbeat: Duration::from_secs(10),
                missed_heartbeats: 3,
            },
            verify_timeout: Duration::from_secs(120),
            verify_interval: Duration::from_secs(2),
            stall_after: Duration::from_secs(600),
            approval_check: Duration::from_secs(30),
            vendor_concurrency: 4,
            job_retry: JobRetry::default(),
        }
    }
}

/// Why the workers stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("the workers could not start: {0}")]
    Startup(String),
}

/// Runs the outbox relay, the sync schedule and one worker until `stop` turns true; a worker
/// that stops on a failure is started again.
///
/// # Errors
/// When the queue cannot be set up, or the Sigma pack cannot be compiled.
pub async fn run(shared: Shared) -> Result<(), RunError> {
    let stop = shared.shutdown.clone();
    let settings = Arc::clone(&shared.settings);
    // The built-in Sigma pack takes a second or two to compile, once per process: compiled
    // here, before any job runs, so no triage compiles it while holding a write transaction
    // (on SQLite, long enough for the other writers' busy timeout to run out).
    tokio::task::spawn_blocking(|| {
        steward_core::detection::sigma::pack::compiled();
    })
    .await
    .map_err(|error| RunError::Startup(format!("the Sigma pack did not compile: {error}")))?;
    let queue = JobQueue::open(&shared.storage.pool(), settings.liveness).await?;
    let relay = tokio::spawn(relay::run(shared.clone(), queue.clone(), stop.clone()));
    let schedule = tokio::spawn(schedule::run(shared.clone(), queue.clone(), stop.clone()));
    supervise::supervise(
        |run| {
            let queue = queue.clone();
            let shared = shared.clone();
            let settings = Arc::clone(&settings);
            let mut stop = stop.clone();
            async move {
                // Unique per process and run: a restarted worker must not collide with its dead
                // predecessor's registration, whose jobs the queue hands over once its
                // heartbeats stop.
                let name = format!(
                    "steward-{}-{}",
                    std::process::id(),
                    steward_core::storage::new_id(shared.clock.as_ref())
                );
                tracing::info!(worker = %name, run, "worker started");
                let until = async move {
                    while !*stop.borrow_and_update() {
                        if stop.changed().await.is_err() {
                            break;
                        }
                    }
                    Ok::<(), std::io::Error>(())
                };
                let outcome = match queue {
                    JobQueue::Sqlite(storage) => {
                        WorkerBuilder::new(name)
                            .backend(storage.poll_with_interval(settings.poll_interval))
                            .concurrency(settings.concurrency)
                            .data(shared)
                            .build(handlers::handle)
                            .run_until(until)
                            .await
                    }
                    JobQueue::Postgres(storage) => {
                        WorkerBuilder::new(name)
                            .backend(storage.poll_with_interval(settings.poll_interval))
                            .concurrency(settings.concurrency)
                            .data(shared)
                            .build(handlers::handle)
                            .run_until(until)
                            .await
                    }
                };
                outcome.map_err(|e| e.to_string())
            }
        },
        stop.clone(),
        supervise::restart_pauses(),
    )
    .await;
    relay.abort();
    schedule.abort();
    Ok(())
}
