use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use steward_core::{
    Storage, SystemClock,
    audit::AuditKeys,
    decisions::policy::{AuthorityPolicy, Policies, PolicySet},
    secrets::SecretBox,
};
use steward_integrations::http::RetryPolicy;
use tokio::{net::TcpListener, sync::watch};

use super::migrate::Report;
use crate::{
    config::Config,
    http,
    state::{AppState, WebSettings},
    web::oidc::Oidc,
};

/// Serves until interrupted (Ctrl-C or SIGTERM), finishing requests in flight.
pub async fn run(mut config: Config) -> anyhow::Result<ExitCode> {
    refuse_a_sandbox_not_built_in(&config)?;
    let _only_server = ServeLock::take(&config)?;
    let listener = bind(&config).await?;
    // Port 0 asks for any free port: from here on, the one given.
    config.http.listen = listener.local_addr().context("read the bound address")?;
    let storage = open_storage(&config, Report::Always).await?;
    serve(&config, storage, listener).await?;
    Ok(ExitCode::SUCCESS)
}

/// A configuration that enables the sandbox is refused by a build without it, rather than
/// served without the simulated vendors it asks for.
fn refuse_a_sandbox_not_built_in(config: &Config) -> anyhow::Result<()> {
    if config.sandbox.enabled && !cfg!(feature = "sandbox") {
        anyhow::bail!(
            "the configuration enables the sandbox ([sandbox] enabled), but this build of Steward \
             has none (it was built without the `sandbox` feature); turn it off, or use a build \
             with it"
        );
    }
    Ok(())
}

/// Binds the configured listen address, saying what to do when it is taken.
pub(crate) async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    let listen = config.http.listen;
    TcpListener::bind(listen).await.map_err(|err| {
        let hint = if err.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "; something else (another Steward?) listens there — choose another address \
                 with --listen {}:{} or http.listen",
                listen.ip(),
                listen.port().wrapping_add(1).max(1024)
            )
        } else {
            String::new()
        };
        anyhow::anyhow!("cannot listen on {listen}: {err}{hint}")
    })
}

/// The one `steward serve` or `steward demo` of a SQLite database, held while it runs.
///
/// That process also hosts the sandbox, whose state lives in it; a second one on the same
/// database would split that state and race the first. CLI commands and `steward worker`
/// processes may run beside it. (A PostgreSQL deployment runs several `serve` replicas.)
#[derive(Debug)]
pub(crate) struct ServeLock {
    _file: std::fs::File,
}

impl ServeLock {
    /// Takes the lock, or says which process holds it.
    pub(crate) fn take(config: &Config) -> anyhow::Result<Option<Self>> {
        use std::io::{Read, Seek, Write};

        let steward_core::storage::DatabaseTarget::Sqlite { path } =
            config.database.target(&config.data_dir)
        else {
            return Ok(None);
        };
        let lock_path = std::path::PathBuf::from(format!("{}.serve-lock", path.display()));
        if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("open {}", lock_path.display()))?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0)?;
                file.rewind()?;
                write!(file, "{}", std::process::id())?;
                Ok(Some(Self { _file: file }))
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (process {holder})")
                };
                anyhow::bail!(
                    "another `steward serve` or `steward demo`{who} is already running on the \
                     database {}; stop it first, or give this one its own --data-dir. \
                     (`steward worker` and the other commands may run beside it.)",
                    path.display()
                )
            }
            Err(std::fs::TryLockError::Error(err)) => {
                Err(err).with_context(|| format!("lock {}", lock_path.display()))
            }
        }
    }
}

/// Opens the configured database and brings its schema up to date.
pub(crate) async fn open_storage(config: &Config, report: Report) -> anyhow::Result<Storage> {
    let storage = Storage::connect(&config.database, &config.data_dir).await?;
    super::migrate::apply(&storage, report).await?;
    Ok(storage)
}

/// Loads the key that signs audit checkpoints (generating it on first start).
pub(crate) fn audit_keys(config: &Config) -> anyhow::Result<AuditKeys> {
    Ok(AuditKeys::load(&config.audit, &config.data_dir)?)
}

/// The deployment's authority policy (configured folder or built in) and the tenants' own.
pub(crate) fn policies(config: &Config) -> anyhow::Result<Policies> {
    let set =
        PolicySet::load(config.policy.dir.as_deref()).context("load the authority policies")?;
    let timeout = Duration::from_millis(config.policy.timeout_ms);
    Ok(Policies::new(AuthorityPolicy::new(&set, timeout), timeout)
        .with_limits(config.guardrails.limits())
        .with_approval_timing(config.approvals.timing()))
}

/// What the background workers need, from the configuration.
pub(crate) fn worker_shared(
    config: &Config,
    storage: Storage,
    clock: Arc<dyn steward_core::Clock>,
    keys: Arc<AuditKeys>,
    secrets: Arc<SecretBox>,
    mail_drop: Option<Arc<dyn steward_workers::MailDrop>>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<steward_workers::Shared> {
    let public_base = config.public_base();
    let mailer = match (config.email.settings(&public_base), mail_drop) {
        (Some(settings), _) => Some(
            steward_workers::Mailer::new(&settings)
                .map(Arc::new)
                .context("set up email")?,
        ),
        // A demo without SMTP: approval emails go to the sandbox's mailbox.
        (None, Some(drop)) => Some(Arc::new(steward_workers::Mailer::to_drop(
            drop,
            &public_base,
            Duration::from_secs(u64::from(config.email.link_ttl_hours) * 3600),
        ))),
        (None, None) => None,
    };
    Ok(steward_workers::Shared {
        storage,
        clock,
        keys,
        secrets,
        policies: policies(config)?,
        vendor_retries: RetryPolicy::default(),
        settings: Arc::new(config.worker.settings()),
        mailer,
        backoff: steward_workers::VendorBackoff::default(),
        egress: config.egress(),
        shutdown,
        rounds: steward_workers::Rounds::default(),
    })
}

/// Runs the workers until their shutdown signal turns true, logging why they stopped if they
/// fail.
pub(crate) async fn run_workers(shared: steward_workers::Shared) {
    if let Err(error) = steward_workers::run(shared).await {
        tracing::error!(%error, "the background workers stopped");
    }
}

/// Serves the router on `listener` until a shutdown signal.
pub(crate) async fn serve(
    config: &Config,
    storage: Storage,
    listener: TcpListener,
) -> anyhow::Result<()> {
    let public_base = config.public_base();
    let oidc = Oidc::from_config(&config.oidc, &public_base).context("configure single sign-on")?;
    if oidc.is_some() && config.public_url.is_none() {
        tracing::warn!(
            redirect = %format!("{public_base}/auth/oidc/callback"),
            "single sign-on uses a redirect built from the listen address; set public_url if people reach Steward at another address"
        );
    }
    let clock: Arc<dyn steward_core::Clock> = Arc::new(SystemClock);
    let secrets = SecretBox::load(&config.secrets, &config.data_dir)
        .context("load the key that encrypts vendor credentials")?;
    #[cfg(feature = "sandbox")]
    let sandbox = if config.sandbox.enabled {
        tracing::warn!("the sandbox is enabled: simulated vendor APIs are served under /sandbox");
        Some(
            crate::sandbox::open_for(config, storage.clone(), Arc::clone(&clock))
                .await
                .context("open the sandbox")?,
        )
    } else {
        None
    };
    #[cfg(feature = "sandbox")]
    let mail_drop = sandbox.as_ref().map(|sandbox| {
        Arc::new(crate::sandbox::SandboxMailbox(sandbox.clone()))
            as Arc<dyn steward_workers::MailDrop>
    });
    #[cfg(not(feature = "sandbox"))]
    let mail_drop = None;
    let secrets = Arc::new(secrets);
    let keys = Arc::new(audit_keys(config)?);
    let (stop_workers, stop) = watch::channel(false);
    // A person's "sync now" waits out a vendor with the embedded workers (a separate
    // `steward worker` process keeps its own waits; vendor slots are shared by all).
    let (workers, backoff) = if config.worker.embedded {
        let shared = worker_shared(
            config,
            storage.clone(),
            Arc::clone(&clock),
            Arc::clone(&keys),
            Arc::clone(&secrets),
            mail_drop,
            stop,
        )?;
        let backoff = shared.backoff.clone();
        (Some(tokio::spawn(run_workers(shared))), backoff)
    } else {
        (None, steward_workers::VendorBackoff::default())
    };
    let state = AppState {
        storage,
        clock,
        secrets,
        #[cfg(feature = "sandbox")]
        sandbox,
        policies: policies(config)?,
        egress: config.egress(),
        backoff,
        vendor_concurrency: config.worker.settings().vendor_concurrency,
        ingest: http::ingest::IngestLimits::new(&config.ingest),
        keys,
        metrics: Arc::default(),
        web: Arc::new(WebSettings {
            secure_cookies: public_base.starts_with("https://"),
            auth: config.auth.clone(),
            oidc,
        }),
    };
    let address = listener.local_addr().context("read the bound address")?;
    let app = http::router(state, &config.http);
    let signal = shutdown_signal()?;
    let shutdown = async move {
        signal.await;
        let _ = stop_workers.send(true);
    };
    // Tests and scripts wait for this line; keep its shape.
    println!("Steward is serving on http://{address}");
    tracing::info!(%address, "serving");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serve HTTP")?;
    if let Some(workers) = workers {
        let _ = workers.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal that arrives right after start-up is not lost.
pub(crate) fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("listen for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listen for SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in both builds: CI also tests the server built without the sandbox.
    #[test]
    fn only_a_build_with_the_sandbox_serves_a_configuration_that_enables_it() {
        let mut config = Config::default();
        assert!(refuse_a_sandbox_not_built_in(&config).is_ok());
        config.sandbox.enabled = true;
        let checked = refuse_a_sandbox_not_built_in(&config);
        if cfg!(feature = "sandbox") {
            assert!(checked.is_ok());
        } else {
            let refused = checked.unwrap_err().to_string();
            assert!(
                refused.contains("built without the `sandbox` feature"),
                "{refused}"
            );
        }
    }
}
