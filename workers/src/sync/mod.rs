//! The sync stage: reading an integration's vendor and recording what it found.
//!
//! One flow serves every synchronization — the scheduler's, an inbound webhook's, a scenario's
//! (all through the job queue) and a person's "sync now" in the API or the web UI (run at once,
//! skipping the queue). Every one of them:
//!
//! 1. opens the integration's credential and the incremental-read state, in a short
//!    transaction, as whoever asked (a person needs `manage_integrations` in the tenant);
//! 2. leaves the vendor alone while it waits out an earlier throttling or outage
//!    ([`VendorBackoff`]) or while the vendor's budget of concurrent synchronizations is taken
//!    by other tenants (the vendor slots every process shares); the synchronization is then *postponed*, and the
//!    scheduler runs it when the wait is over;
//! 3. reads the vendor outside any transaction, holding one of the vendor's slots;
//! 4. records the inventory and events ([`InventoryWriter`]) and the outcome as the
//!    integration's health, in one transaction;
//! 5. has a throttled or unavailable vendor wait (so nothing retries it at once), and forgets
//!    the wait once the vendor answers.
//!
//! What differs between the two kinds of requester is said by [`Requester`]: how patient the
//! vendor calls are, whether every run is audited or only changes of health, and how a PSA's
//! tickets are brought in step (in the slot by a worker; queued after a person's).

mod backoff;
mod vendor_slots;

use std::{sync::Arc, time::Duration};

use steward_core::{
    Clock, Storage,
    access::Caller,
    audit::AuditKeys,
    inventory::{InventoryWriter, SyncError},
    jobs::{self, Job},
    secrets::SecretBox,
    storage::{
        CheckOutcome, DatabaseTransaction, Deployment, IntegrationAdminError, StorageError,
        TenantWork,
    },
};
use steward_domain::{
    IntegrationId, TenantId, coverage::ToolCategory, integrations::Integration,
    inventory::SyncCounts,
};
use steward_integrations::{
    Connector, ConnectorError,
    contract::{self, EventCursors, Pulled},
    egress::EgressPolicy,
    http::{HttpError, RetryPolicy, VendorHttp},
    registry,
};
use tokio::sync::watch;

pub use self::backoff::VendorBackoff;

/// Who asked for a synchronization.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    /// Steward itself: the schedule, an inbound webhook, a sandbox scenario (a queued job).
    Steward,
    /// A person's "sync now", through the API or the web UI, waiting for the answer.
    Person {
        caller: &'a Caller,
        request_id: Option<&'a str>,
    },
}

/// What a synchronization needs from its process. Workers build it from their
/// [`crate::Shared`]; the server from its own state, sharing the embedded workers' backoff.
#[derive(Debug, Clone)]
pub struct Synchronizer {
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub secrets: Arc<SecretBox>,
    /// Where requests to vendors may go.
    pub egress: EgressPolicy,
    /// Integrations waiting out their vendor, shared with the process's scheduler.
    pub backoff: VendorBackoff,
    /// Synchronizations of one vendor that may call it at once, across every process.
    pub vendor_concurrency: u32,
    /// Retries of vendor calls: the workers' (bounded further for a scheduled synchronization),
    /// or [`interactive_retries`] where a person waits for the answer.
    pub retries: RetryPolicy,
    /// Turns true when the process shuts down: vendor retries stop waiting.
    pub shutdown: Option<watch::Receiver<bool>>,
}

/// What a synchronization did.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The vendor answered; its inventory and events are recorded.
    Synchronized {
        counts: SyncCounts,
        integration: Integration,
    },
    /// The vendor failed; recorded as the integration's health. When the failure is
    /// transient (throttling, an outage), `retry_in` says when Steward tries again by itself.
    Failed {
        error: String,
        retry_in: Option<Duration>,
        integration: Integration,
    },
    /// The vendor was not called: it asked Steward to wait, or its budget of concurrent
    /// synchronizations is in use. The scheduler synchronizes the integration in `retry_in`.
    Postponed {
        reason: Postponed,
        retry_in: Duration,
        integration: Integration,
    },
}

/// What a connection test found, with the integration's recorded health.
#[derive(Debug)]
pub struct ConnectionTest {
    /// What was checked, in order, when it worked.
    pub checks: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    pub integration: Integration,
}

/// Why a synchronization was postponed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Postponed {
    /// The vendor throttled or failed a moment ago and is being waited out.
    VendorWait,
    /// Other tenants' synchronizations hold every one of the vendor's slots.
    VendorBusy,
}

impl std::fmt::Display for Postponed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::VendorWait => "the vendor asked Steward to wait after a recent failure",
            Self::VendorBusy => "the vendor's synchronization budget is in use by other tenants",
        })
    }
}

/// Why a synchronization could not run at all (a vendor's failure is an outcome instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncRunError {
    #[error(transparent)]
    Forbidden(#[from] steward_core::access::Forbidden),
    #[error(transparent)]
    Integration(#[from] IntegrationAdminError),
    #[error(transparent)]
    Record(#[from] SyncError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the HTTP client cannot start: {0}")]
    Client(#[from] HttpError),
    /// The tenant is gone (a queued synchronization outlived it), or the person cannot see it.
    #[error("no tenant {0}")]
    UnknownTenant(TenantId),
}

impl From<steward_core::storage::DbErr> for SyncRunError {
    fn from(error: steward_core::storage::DbErr) -> Self {
        Self::Storage(StorageError::Database(error))
    }
}

/// How long a synchronization waits when its vendor's budget is in use.
const VENDOR_BUSY_WAIT: Duration = Duration::from_secs(2);
/// The longest `Retry-After` a scheduled synchronization waits inside a worker.
const SYNC_MAX_WAIT: Duration = Duration::from_secs(10);
/// The longest pause between two tries of a scheduled synchronization's request that failed
/// without an answer (the vendor unreachable, a 5xx).
const SYNC_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Retries for a person's "sync now" or connection test: a few seconds at most, then the
/// vendor's state is reported instead of waited out.
#[must_use]
pub fn interactive_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(5),
        request_timeout: Duration::from_secs(15),
        ..RetryPolicy::default()
    }
}

impl Synchronizer {
    /// An HTTP client for vendor calls under the egress rule, retrying as `retries` says.
    ///
    /// # Errors
    /// When the TLS stack cannot be initialised.
    pub fn vendor_http(&self, retries: RetryPolicy) -> Result<VendorHttp, HttpError> {
        let http = VendorHttp::new(retries)?.with_egress(self.egress.clone());
        Ok(match &self.shutdown {
            Some(shutdown) => http.with_shutdown(shutdown.clone()),
            None => http,
        })
    }

    /// A person's "sync now": the same flow as the workers', skipping the queue. A PSA's
    /// tickets are then brought in step by a queued job.
    ///
    /// # Errors
    /// [`SyncRunError`] when the synchronization cannot run: the person cannot see the tenant
    /// or may not manage its integrations, the integration is not the tenant's, the database
    /// fails.
    pub async fn sync_now(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        tenant_id: TenantId,
        integration_id: IntegrationId,
    ) -> Result<SyncOutcome, SyncRunError> {
        let person = Requester::Person { caller, request_id };
        self.synchronize(person, tenant_id, integration_id, async || Ok(Ok(())))
            .await
    }

    /// Synchronizes one integration for `requester`: see the module's documentation.
    /// `psa_tickets` runs with the vendor's slot held after a PSA's successful read, for the
    /// tickets a worker brings in step; a person's synchronization of a PSA queues that work.
    ///
    /// # Errors
    /// [`SyncRunError`] when the synchronization cannot run: the integration is not the
    /// tenant's, the person may not manage integrations, the database fails.
    pub async fn synchronize<E>(
        &self,
        requester: Requester<'_>,
        tenant_id: TenantId,
        integration_id: IntegrationId,
        psa_tickets: impl AsyncFnOnce() -> Result<Result<(), ConnectorError>, E>,
    ) -> Result<SyncOutcome, E>
    where
        E: From<SyncRunError>,
    {
        let opened = self
            .in_tenant(requester, tenant_id, false, async |work| {
                let (integration, credential) = work
                    .integrations(&self.secrets)?
                    .open(integration_id)
                    .await?;
                let inventory = work.inventory();
                let newest = inventory
                    .newest_events(integration_id, integration.vendor.event_streams())
                    .await?;
                let cursors = EventCursors::after_stored(newest);
                let state = inventory.sync_state(integration_id).await?;
                Ok((integration, credential, cursors, state))
            })
            .await?;
        let (integration, credential, cursors, state) = opened;
        let now = tokio::time::Instant::now();
        if let Some(until) = self.backoff.defer(integration_id, now) {
            return Ok(SyncOutcome::Postponed {
                reason: Postponed::VendorWait,
                retry_in: until.saturating_duration_since(now),
                integration,
            });
        }
        // The vendor's budget is shared by every process: without a slot, the integration
        // waits a moment (the scheduler synchronizes it then) while other tenants use it.
        let Some(held) = vendor_slots::take(self, tenant_id, integration.vendor)
            .await
            .map_err(SyncRunError::from)?
        else {
            self.backoff
                .busy(integration_id, tenant_id, now, VENDOR_BUSY_WAIT);
            return Ok(SyncOutcome::Postponed {
                reason: Postponed::VendorBusy,
                retry_in: VENDOR_BUSY_WAIT,
                integration,
            });
        };
        let pulled = self
            .pull(requester, &integration, credential, &cursors, state)
            .await;
        // A PSA's synchronization is its tickets too: open incidents get one, and tickets
        // closed or reopened at the PSA move their incidents.
        let pulled = match pulled {
            Ok(Ok(pulled))
                if integration.vendor.category() == ToolCategory::Psa
                    && matches!(requester, Requester::Steward) =>
            {
                psa_tickets().await.map(|tickets| tickets.map(|()| pulled))
            }
            other => other.map_err(E::from),
        };
        vendor_slots::give_back(self, &held).await;
        self.record(requester, tenant_id, integration_id, pulled?)
            .await
            .map_err(E::from)
    }

    /// Signs in at the vendor with the stored credential and reads what Steward needs, for a
    /// person checking an integration, and records the outcome as the integration's health.
    /// A test takes no slot and honours no backoff: it makes a handful of calls, and a person
    /// asked to see what the vendor answers now.
    ///
    /// # Errors
    /// [`SyncRunError`] when the test cannot run; a failing vendor is an outcome.
    pub async fn test_connection(
        &self,
        requester: Requester<'_>,
        tenant_id: TenantId,
        integration_id: IntegrationId,
    ) -> Result<ConnectionTest, SyncRunError> {
        let (integration, credential) = self
            .in_tenant(requester, tenant_id, false, async |work| {
                Ok(work
                    .integrations(&self.secrets)?
                    .open(integration_id)
                    .await?)
            })
            .await?;
        let outcome = match registry::connect(
            integration.vendor,
            &integration.settings,
            credential,
            self.vendor_http(self.retries.clone())?,
            Arc::clone(&self.clock),
        ) {
            Ok(connector) => connector.test_connection().await,
            Err(error) => Err(error),
        };
        let (checks, error) = match outcome {
            Ok(report) => (report.checks, None),
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        let check = match &error {
            None => CheckOutcome::Succeeded,
            Some(error) => CheckOutcome::Failed(error.clone()),
        };
        let integration = self
            .in_tenant(requester, tenant_id, true, async |work| {
                Ok(work
                    .integrations(&self.secrets)?
                    .record_check(integration_id, check)
                    .await?)
            })
            .await?;
        Ok(ConnectionTest {
            checks,
            error,
            integration,
        })
    }

    /// Reads the vendor: the part that holds a slot.
    async fn pull(
        &self,
        requester: Requester<'_>,
        integration: &Integration,
        credential: secrecy::SecretString,
        cursors: &EventCursors,
        state: Option<serde_json::Value>,
    ) -> Result<Result<Pulled, ConnectorError>, SyncRunError> {
        let policy = match requester {
            Requester::Person { .. } => self.retries.clone(),
            // A vendor asking to wait longer than this is retried later, not waited for in a
            // worker; one that does not answer fails the synchronization within seconds, so
            // its health says so and the scheduler tries again after a backoff.
            Requester::Steward => {
                let mut policy = self.retries.clone();
                policy.max_retry_after = policy.max_retry_after.min(SYNC_MAX_WAIT);
                policy.max_delay = policy.max_delay.min(SYNC_MAX_BACKOFF);
                policy
            }
        };
        let connector = registry::connect(
            integration.vendor,
            &integration.settings,
            credential,
            self.vendor_http(policy)?,
            Arc::clone(&self.clock),
        );
        Ok(match connector {
            Ok(connector) => contract::pull(&connector, cursors, state).await,
            Err(error) => Err(error),
        })
    }

    /// Records what was pulled, or why it could not be, as the integration's health; a
    /// transient failure has the integration wait out its vendor.
    async fn record(
        &self,
        requester: Requester<'_>,
        tenant_id: TenantId,
        integration_id: IntegrationId,
        pulled: Result<Pulled, ConnectorError>,
    ) -> Result<SyncOutcome, SyncRunError> {
        let recorded = self
            .in_tenant(requester, tenant_id, true, async |work| {
                let integrations = work.integrations(&self.secrets)?;
                let (counts, outcome) = match &pulled {
                    Ok(pulled) => {
                        let counts = InventoryWriter::new(work)?
                            .record_sync(
                                integration_id,
                                &pulled.inventory,
                                &pulled.events,
                                pulled.state.as_ref(),
                            )
                            .await?;
                        (counts, CheckOutcome::Succeeded)
                    }
                    Err(error) => (
                        SyncCounts::default(),
                        CheckOutcome::Failed(error.to_string()),
                    ),
                };
                let integration = match requester {
                    // Someone asked: the run itself is worth its audit entry.
                    Requester::Person { .. } => {
                        integrations.record_check(integration_id, outcome).await?
                    }
                    Requester::Steward => {
                        integrations
                            .record_scheduled_check(integration_id, outcome)
                            .await?
                    }
                };
                // What the vendor withheld is known only when the synchronization worked.
                let integration = match &pulled {
                    Ok(pulled) => {
                        integrations
                            .record_missing_telemetry(integration_id, &pulled.missing_telemetry)
                            .await?
                    }
                    Err(_) => integration,
                };
                // A person's synchronization of a PSA leaves its tickets to the workers.
                if pulled.is_ok()
                    && matches!(requester, Requester::Person { .. })
                    && integration.vendor.category() == ToolCategory::Psa
                {
                    jobs::enqueue(
                        work.context(),
                        integration.msp_id,
                        &Job::Sync {
                            tenant_id,
                            integration_id,
                        },
                    )
                    .await?;
                }
                Ok((counts, integration))
            })
            .await?;
        let (counts, integration) = recorded;
        Ok(match pulled {
            Ok(_) => {
                self.backoff.succeeded(integration_id);
                tracing::info!(%tenant_id, %integration_id, ?counts, "synchronized");
                SyncOutcome::Synchronized {
                    counts,
                    integration,
                }
            }
            // Throttled or unavailable: the integration waits out its vendor and the scheduler
            // synchronizes it again then, so nothing is skipped and no worker waits meanwhile.
            Err(error) if error.is_transient() => {
                let retry_after = match &error {
                    ConnectorError::Throttled { retry_after } => *retry_after,
                    _ => None,
                };
                let now = tokio::time::Instant::now();
                let until = self
                    .backoff
                    .failed(integration_id, tenant_id, now, retry_after);
                let retry_in = until - now;
                tracing::warn!(%tenant_id, %integration_id, ?retry_in, %error, "the vendor is not answering yet; synchronizing again then");
                SyncOutcome::Failed {
                    error: error.to_string(),
                    retry_in: Some(retry_in),
                    integration,
                }
            }
            Err(error) => {
                tracing::warn!(%tenant_id, %integration_id, %error, "synchronization failed");
                SyncOutcome::Failed {
                    error: error.to_string(),
                    retry_in: None,
                    integration,
                }
            }
        })
    }

    /// Runs `work` in the tenant as `requester`, in one transaction kept when `keep` says so.
    async fn in_tenant<T>(
        &self,
        requester: Requester<'_>,
        tenant_id: TenantId,
        keep: bool,
        work: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, SyncRunError>,
    ) -> Result<T, SyncRunError> {
        let txn = if keep {
            self.storage.begin().await?
        } else {
            self.storage.begin_read().await?
        };
        let value = self.on_work(&txn, requester, tenant_id, work).await?;
        if keep {
            txn.commit().await?;
        } else {
            txn.rollback().await?;
        }
        Ok(value)
    }

    async fn on_work<T>(
        &self,
        txn: &DatabaseTransaction,
        requester: Requester<'_>,
        tenant_id: TenantId,
        work: impl AsyncFnOnce(&TenantWork<'_>) -> Result<T, SyncRunError>,
    ) -> Result<T, SyncRunError> {
        let clock = self.clock.as_ref();
        match requester {
            Requester::Steward => {
                let deployment = Deployment::new(txn);
                let ctx = deployment.write_context(
                    clock,
                    &self.keys,
                    crate::handlers::steward_actor("sync"),
                );
                match TenantWork::as_steward(&ctx, tenant_id).await? {
                    Some(tenant) => work(&tenant).await,
                    None => Err(SyncRunError::UnknownTenant(tenant_id)),
                }
            }
            Requester::Person { caller, request_id } => {
                let ctx =
                    caller.write_context(txn, clock, &self.keys, request_id.map(str::to_owned));
                match caller.work(&ctx, tenant_id).await? {
                    Some(tenant) => work(&tenant).await,
                    None => Err(SyncRunError::UnknownTenant(tenant_id)),
                }
            }
        }
    }
}
