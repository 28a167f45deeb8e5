//! `steward bench loop`: end-to-end latency from a vendor alert to the authority policy's
//! recorded decision, through the real pipeline — the sandbox's Microsoft Defender for Endpoint
//! API over HTTP, the outbox, the job queue, synchronization, triage, risk and the policy.

use std::{
    net::SocketAddr,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use steward_core::{
    Clock, SystemClock,
    jobs::{self, Job},
    storage::{Deployment, PageRequest, TenantWork},
};
use steward_domain::{
    actions::{ActionStatus, ActionType},
    audit::{ActorKind, AuditActor},
    incidents::{IncidentStatus, IncidentUpdate, Verdict},
};
use steward_sandbox::{SandboxSettings, Scenario, ThrottleLimits};
use tokio::{net::TcpListener, sync::watch};

use super::migrate::Report;
use crate::{config::Config, http, state::AppState};

fn bench_actor() -> AuditActor {
    AuditActor {
        kind: ActorKind::System,
        user_id: None,
        label: "steward bench".to_owned(),
    }
}

/// Measures `runs` alerts. Works in a scratch data folder (SQLite) unless the configuration
/// names a PostgreSQL database, which then gets the demo MSP.
pub async fn alert_to_decision(
    mut config: Config,
    runs: usize,
    poll_ms: u64,
) -> anyhow::Result<ExitCode> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let scratch = std::env::temp_dir().join(format!("steward-bench-{}", std::process::id()));
    config.data_dir = scratch.clone();
    let outcome = measure(config, runs, poll_ms).await;
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// The benchmark isolates the same laptop `runs` times within minutes, which the guardrails
/// rightly stop after a few (hourly rate limits, and the built-in policy's hourly limit per
/// action type). It measures the path to the decision, not those limits: it lifts the
/// configured limits and, when the built-in policies govern, decides with a copy of them whose
/// per-type limit for isolations is lifted too.
fn allow_a_burst_of_isolations(config: &mut Config) -> anyhow::Result<()> {
    config.guardrails = crate::config::GuardrailsConfig {
        tenant_automatic_per_hour: u32::MAX,
        msp_automatic_per_hour: u32::MAX,
        tenant_failures_to_open: u32::MAX,
        msp_failures_to_open: u32::MAX,
    };
    if config.policy.dir.is_some() {
        return Ok(());
    }
    const LIMIT: &str = "\"isolate_device\": 10,";
    let dir = config.data_dir.join("bench-policies");
    for (path, source) in steward_core::decisions::policy::PolicySet::builtin().sources() {
        let source = if path == "authority/authority.rego" {
            anyhow::ensure!(
                source.contains(LIMIT),
                "the built-in policy no longer has the per-type limit the benchmark lifts"
            );
            source.replace(LIMIT, "\"isolate_device\": 1000000,")
        } else {
            source.clone()
        };
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().context("a policy path has a folder")?)?;
        std::fs::write(&file, source)?;
    }
    config.policy.dir = Some(dir);
    Ok(())
}

async fn measure(mut config: Config, runs: usize, poll_ms: u64) -> anyhow::Result<ExitCode> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("bind a loopback port")?;
    config.http.listen = listener.local_addr()?;
    config.public_url = None;
    config.sandbox.enabled = true;
    config.worker.poll_interval_ms = poll_ms;
    // Verification is not part of what is measured; polling it once a second keeps its load low.
    config.worker.verify_interval_ms = 1000;
    allow_a_burst_of_isolations(&mut config)?;
    let storage = super::serve::open_storage(&config, Report::WhenApplied).await?;
    let keys = Arc::new(super::serve::audit_keys(&config)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let seed = steward_core::demo::seed(&storage, clock.as_ref(), &keys).await?;
    let tenant = seed
        .tenants
        .first()
        .context("the demo has tenants")?
        .clone();
    super::demo::connect_sandbox(&config, &storage, &keys, std::slice::from_ref(&tenant)).await?;
    let secrets = Arc::new(steward_core::secrets::SecretBox::load(
        &config.secrets,
        &config.data_dir,
    )?);
    // Each run makes several Defender for Endpoint calls (the sync, then the automatic
    // isolation's snapshot, request and verification) within a second, far beyond its 100 calls
    // a minute that the sandbox enforces; its throttling would be measured instead of Steward.
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
        secrets,
        None,
        stopped,
    )?;
    let workers = tokio::spawn(super::serve::run_workers(shared));

    println!(
        "Alert-to-decision benchmark: {runs} malware alerts, {} database, worker poll interval {poll_ms} ms.",
        storage.backend().name()
    );
    let mut latencies = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        sandbox
            .run_scenario(tenant.id.as_uuid(), Scenario::MalwareLaptop)
            .await
            .context("stage the alert")?;
        {
            // What the scenario endpoint does: synchronize the tenant's integrations now.
            let txn = storage.begin().await?;
            let deployment = Deployment::new(&txn);
            let ctx = deployment.write_context(clock.as_ref(), &keys, bench_actor());
            let integrations = storage
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
        }
        let action = wait_for(&storage, &tenant, run + 1, |_| true).await?;
        latencies.push(started.elapsed());
        // Free the laptop and close the incident so the next alert opens a new one.
        wait_for(&storage, &tenant, run + 1, |a| {
            a.status == ActionStatus::Verified
        })
        .await?;
        let txn = storage.begin().await?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(clock.as_ref(), &keys, bench_actor());
        let work = TenantWork::as_steward(&ctx, tenant.id)
            .await?
            .context("the tenant exists")?;
        steward_core::actions::request_rollback(&work, action.id).await?;
        if let Some(incident) = action.incident_id {
            steward_core::incidents::update_incident(
                &work,
                incident,
                &IncidentUpdate {
                    status: Some(IncidentStatus::Resolved),
                    verdict: Some(Verdict::TruePositive),
                    ..IncidentUpdate::default()
                },
            )
            .await?;
        }
        drop(work);
        drop(ctx);
        txn.commit().await?;
        wait_for(&storage, &tenant, run + 1, |a| {
            a.status == ActionStatus::RolledBack
        })
        .await?;
    }
    let _ = stop.send(true);
    let _ = workers.await;

    latencies.sort();
    let at = |q: f64| {
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[index]
    };
    let mean = latencies.iter().sum::<Duration>() / u32::try_from(latencies.len()).unwrap_or(1);
    println!(
        "alert to decision: p50 {:.0} ms, p99 {:.0} ms, mean {:.0} ms, max {:.0} ms",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.99).as_secs_f64() * 1000.0,
        mean.as_secs_f64() * 1000.0,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    Ok(ExitCode::SUCCESS)
}

/// Waits until the tenant has `count` isolation actions and the newest passes `ready`. Reads
/// outside any transaction, so polling takes no write lock from the workers.
async fn wait_for(
    storage: &steward_core::Storage,
    tenant: &steward_domain::tenancy::Tenant,
    count: usize,
    ready: impl Fn(&steward_domain::actions::Action) -> bool,
) -> anyhow::Result<steward_domain::actions::Action> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let actions: Vec<_> = storage
            .deployment()
            .msp(tenant.msp_id)
            .tenant_actions(tenant.id)
            .list(
                None,
                PageRequest {
                    limit: 200,
                    after: None,
                },
            )
            .await?
            .items
            .into_iter()
            .filter(|a| a.kind == ActionType::IsolateDevice)
            .collect();
        if actions.len() >= count
            && let Some(newest) = actions.first()
            && ready(newest)
        {
            return Ok(newest.clone());
        }
        if Instant::now() > deadline {
            bail!(
                "no isolation reached the expected state within a minute; the newest is {:?}",
                actions.first().map(|a| (a.status, a.detail.clone()))
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
