//! A whole Steward started in-process for a command that measures it: the demo MSP in a scratch
//! data folder (SQLite, unless the configuration names a PostgreSQL database), its first
//! customer connected to the sandbox's vendors over loopback HTTP, and the background workers —
//! the real pipeline, which `steward bench loop` times and `steward rules coverage` checks.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use steward_core::{
    Clock, Storage, SystemClock,
    audit::AuditKeys,
    jobs::{self, Job},
    secrets::SecretBox,
    storage::{Deployment, NewTenant, TenantWork},
};
use steward_domain::{
    audit::{ActorKind, AuditActor},
    tenancy::Tenant,
};
use steward_sandbox::{Sandbox, SandboxSettings, Scenario, ScenarioRun, ThrottleLimits};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use super::migrate::Report;
use crate::{config::Config, http, state::AppState};

/// A running scratch Steward; [`Scratch::stop`] ends its workers.
pub struct Scratch {
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub sandbox: Sandbox,
    /// The demo's first customer, connected to every sandbox vendor.
    pub tenant: Tenant,
    pub shared: steward_workers::Shared,
    secrets: Arc<SecretBox>,
    /// Who the command's own writes are in the audit chain as.
    actor: AuditActor,
    config: Config,
    stop: watch::Sender<bool>,
    workers: JoinHandle<()>,
}

/// Runs `work` with `config` pointed at a scratch data folder named after `name`, removed
/// afterwards whatever `work` answers.
///
/// # Errors
/// What `work` answers.
pub async fn in_scratch_folder<T>(
    mut config: Config,
    name: &str,
    work: impl AsyncFnOnce(Config) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("steward-{name}-{}", std::process::id()));
    config.data_dir = scratch.clone();
    let outcome = work(config).await;
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Progress of the setup, which is not what the command reports.
fn quietly(line: &str) {
    tracing::debug!("{}", line.trim());
}

impl Scratch {
    /// Starts Steward as `config` says, with the sandbox on and its vendors' rate limits lifted
    /// (each run makes vendor calls far faster than a person would; their throttling would be
    /// measured instead of Steward). Its writes are audited as `actor_label`.
    ///
    /// # Errors
    /// When the database, the keys, the policies or the sandbox cannot be set up.
    pub async fn start(mut config: Config, actor_label: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("bind a loopback port")?;
        config.http.listen = listener.local_addr()?;
        config.public_url = None;
        config.sandbox.enabled = true;
        let storage = super::serve::open_storage(&config, Report::WhenApplied).await?;
        let keys = Arc::new(super::serve::audit_keys(&config)?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let seed = steward_core::demo::seed(&storage, clock.as_ref(), &keys).await?;
        let tenant = seed
            .tenants
            .first()
            .context("the demo has tenants")?
            .clone();
        super::demo::connect_sandbox(
            &config,
            &storage,
            &keys,
            std::slice::from_ref(&tenant),
            &quietly,
        )
        .await?;
        let secrets = Arc::new(SecretBox::load(&config.secrets, &config.data_dir)?);
        let unthrottled = SandboxSettings {
            limits: ThrottleLimits {
                defender: (u32::MAX, Duration::from_secs(60)),
                graph: (u32::MAX, Duration::from_secs(20)),
                hunting: (u32::MAX, Duration::from_secs(60)),
                ..ThrottleLimits::default()
            },
            ..SandboxSettings::default()
        };
        let sandbox =
            crate::sandbox::open_with(storage.clone(), Arc::clone(&clock), unthrottled).await?;
        let state = AppState {
            storage: storage.clone(),
            clock: Arc::clone(&clock),
            keys: Arc::clone(&keys),
            metrics: Arc::default(),
            web: Arc::default(),
            secrets: Arc::clone(&secrets),
            sandbox: Some(sandbox.clone()),
            policies: super::serve::policies(&config)?,
            egress: config.egress(),
            backoff: steward_workers::VendorBackoff::default(),
            vendor_concurrency: config.worker.settings().vendor_concurrency,
            ingest: http::ingest::IngestLimits::new(&config.ingest),
        };
        let app = http::router(state, &config.http);
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let (stop, stopped) = watch::channel(false);
        let shared = super::serve::worker_shared(
            &config,
            storage.clone(),
            Arc::clone(&clock),
            Arc::clone(&keys),
            Arc::clone(&secrets),
            None,
            stopped,
        )?;
        let workers = tokio::spawn(super::serve::run_workers(shared.clone()));
        Ok(Self {
            config,
            storage,
            clock,
            keys,
            sandbox,
            tenant,
            shared,
            secrets,
            actor: AuditActor {
                kind: ActorKind::System,
                user_id: None,
                label: actor_label.to_owned(),
            },
            stop,
            workers,
        })
    }

    /// Who the command's own writes are in the audit chain as.
    #[must_use]
    pub fn actor(&self) -> AuditActor {
        self.actor.clone()
    }

    /// The log ingest endpoint (its URL) of `tenant`'s first integration, and a new ingest key
    /// for it.
    ///
    /// # Errors
    /// When the customer has no integration or the key cannot be stored.
    pub async fn ingest_endpoint(&self, tenant: &Tenant) -> anyhow::Result<(String, String)> {
        let integration = self
            .storage
            .deployment()
            .integrations()
            .await?
            .into_iter()
            .find(|i| i.tenant_id == tenant.id)
            .context("the customer has integrations")?;
        let txn = self.storage.begin().await?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(self.clock.as_ref(), &self.keys, self.actor());
        let work = TenantWork::as_steward(&ctx, tenant.id)
            .await?
            .context("the customer exists")?;
        let key = work
            .integrations(&self.secrets)?
            .rotate_ingest_key(integration.id)
            .await?;
        drop(work);
        drop(ctx);
        txn.commit().await?;
        Ok((
            format!(
                "http://{}/api/v1/ingest/{}",
                self.config.http.listen, integration.id
            ),
            secrecy::ExposeSecret::expose_secret(&key).to_owned(),
        ))
    }

    /// Adds a customer of the demo MSP named `name`, connected to the sandbox's vendors as the
    /// demo's customers are, and synchronized once.
    ///
    /// # Errors
    /// When the tenant cannot be created or connected, or the slug is not one.
    pub async fn add_customer(&self, name: &str, slug: &str) -> anyhow::Result<Tenant> {
        let txn = self.storage.begin().await?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(self.clock.as_ref(), &self.keys, self.actor());
        let tenant = ctx
            .operate_msp(self.tenant.msp_id)
            .tenants()
            .create(NewTenant {
                name: name.to_owned(),
                slug: slug.parse().context("a tenant slug")?,
            })
            .await?;
        drop(ctx);
        txn.commit().await?;
        // The running sandbox makes the customer's vendors (and stores them), so that the
        // connection below finds them.
        self.sandbox
            .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
            .await?;
        super::demo::connect_sandbox(
            &self.config,
            &self.storage,
            &self.keys,
            std::slice::from_ref(&tenant),
            &quietly,
        )
        .await?;
        self.synchronize(&tenant).await?;
        Ok(tenant)
    }

    /// Stages `scenario` in `tenant`'s vendors and queues the synchronization of every one of
    /// its integrations, as the scenario endpoint does.
    ///
    /// # Errors
    /// When the sandbox refuses the scenario or the jobs cannot be queued.
    pub async fn run_scenario(
        &self,
        tenant: &Tenant,
        scenario: Scenario,
    ) -> anyhow::Result<ScenarioRun> {
        let run = self
            .sandbox
            .run_scenario(tenant.id.as_uuid(), scenario)
            .await
            .with_context(|| format!("stage {}", scenario.as_str()))?;
        self.synchronize(tenant).await?;
        Ok(run)
    }

    /// Queues the synchronization of every integration of `tenant`.
    async fn synchronize(&self, tenant: &Tenant) -> anyhow::Result<()> {
        let txn = self.storage.begin().await?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(self.clock.as_ref(), &self.keys, self.actor());
        let integrations = self
            .storage
            .deployment()
            .integrations()
            .await?
            .into_iter()
            .filter(|i| i.tenant_id == tenant.id);
        for integration in integrations {
            jobs::enqueue(
                &ctx,
                tenant.msp_id,
                &Job::Sync {
                    tenant_id: tenant.id,
                    integration_id: integration.id,
                },
            )
            .await?;
        }
        drop(ctx);
        txn.commit().await?;
        Ok(())
    }

    /// Waits until every job due within ten seconds has run (at most `within`).
    ///
    /// # Errors
    /// When the loop is still busy after `within`.
    pub async fn settle(&self, within: Duration) -> anyhow::Result<()> {
        steward_workers::settle(&self.shared, Duration::from_secs(10), within).await?;
        Ok(())
    }

    /// Stops the workers and waits for them.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.workers.await;
    }
}
