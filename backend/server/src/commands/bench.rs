//! `steward bench loop`: end-to-end latency from a vendor alert to the authority policy's
//! recorded decision, through the real pipeline — the sandbox's Microsoft Defender for Endpoint
//! API over HTTP, the outbox, the job queue, synchronization, triage, risk and the policy.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use steward_core::storage::{Deployment, PageRequest, TenantWork};
use steward_domain::{
    actions::{ActionStatus, ActionType},
    incidents::{IncidentStatus, IncidentUpdate, Verdict},
};
use steward_sandbox::Scenario;

use super::scratch::Scratch;
use crate::config::Config;

/// Measures `runs` alerts. Works in a scratch data folder (SQLite) unless the configuration
/// names a PostgreSQL database, which then gets the demo MSP.
pub async fn alert_to_decision(
    config: Config,
    runs: usize,
    poll_ms: u64,
) -> anyhow::Result<ExitCode> {
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    super::scratch::in_scratch_folder(config, "bench", async |config| {
        measure(config, runs, poll_ms).await
    })
    .await
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
    config.worker.poll_interval_ms = poll_ms;
    // Verification is not part of what is measured; polling it once a second keeps its load low.
    config.worker.verify_interval_ms = 1000;
    allow_a_burst_of_isolations(&mut config)?;
    let scratch = Scratch::start(config, "steward bench").await?;
    let (storage, tenant) = (scratch.storage.clone(), scratch.tenant.clone());
    println!(
        "Alert-to-decision benchmark: {runs} malware alerts, {} database, worker poll interval {poll_ms} ms.",
        storage.backend().name()
    );
    let mut latencies = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        scratch
            .run_scenario(&tenant, Scenario::MalwareLaptop)
            .await?;
        let action = wait_for(&storage, &tenant, run + 1, |_| true).await?;
        latencies.push(started.elapsed());
        // Free the laptop and close the incident so the next alert opens a new one.
        wait_for(&storage, &tenant, run + 1, |a| {
            a.status == ActionStatus::Verified
        })
        .await?;
        let txn = storage.begin().await?;
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(scratch.clock.as_ref(), &scratch.keys, scratch.actor());
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
    scratch.stop().await;

    println!(
        "alert to decision: {}",
        super::latency_summary(&mut latencies)
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
