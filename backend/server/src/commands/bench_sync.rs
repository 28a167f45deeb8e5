//! `steward bench sync`: how long synchronizing takes, and how much memory, for large tenants
//! or many of them — each vendor's connector pulling from the sandbox over HTTP on loopback,
//! and the reconciled inventory and events recorded in the database.

use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use steward_core::{
    Clock, SystemClock,
    audit::AuditKeys,
    storage::{Deployment, NewIntegration, NewTenant, Storage},
};
use steward_domain::{
    audit::{ActorKind, AuditActor},
    observations::Vendor,
    tenancy::Tenant,
};
use steward_integrations::{
    contract,
    http::{RetryPolicy, VendorHttp},
    registry,
};
use steward_sandbox::{MemoryStore, Sandbox, SandboxCredentials, SandboxSettings, ThrottleLimits};
use tokio::net::TcpListener;

use super::migrate::Report;
use crate::config::Config;

/// The vendors measured: those that report devices or identities.
const VENDORS: [Vendor; 6] = [
    Vendor::MicrosoftDefender,
    Vendor::MicrosoftGraph,
    Vendor::Okta,
    Vendor::CrowdStrikeFalcon,
    Vendor::NinjaOne,
    Vendor::VeeamSpc,
];

fn bench_actor() -> AuditActor {
    AuditActor {
        kind: ActorKind::System,
        user_id: None,
        label: "steward bench".to_owned(),
    }
}

/// Measures synchronizing `tenants` tenants of `devices` devices and `users` people each.
/// Works in a scratch data folder (SQLite) unless the configuration names a PostgreSQL
/// database.
pub async fn sync(
    mut config: Config,
    tenants: usize,
    devices: usize,
    users: usize,
    vendors: &[String],
) -> anyhow::Result<ExitCode> {
    if tenants == 0 || devices == 0 || users == 0 {
        bail!("--tenants, --devices and --users must be at least 1");
    }
    let mut chosen = Vec::new();
    for name in vendors {
        match Vendor::parse(name.trim()).filter(|v| VENDORS.contains(v)) {
            Some(vendor) => chosen.push(vendor),
            None => bail!(
                "--vendors: {name} is not one of {}",
                VENDORS.map(Vendor::as_str).join(", ")
            ),
        }
    }
    if chosen.is_empty() {
        chosen = VENDORS.to_vec();
    }
    let scratch = std::env::temp_dir().join(format!("steward-bench-sync-{}", std::process::id()));
    config.data_dir = scratch.clone();
    let outcome = measure(config, tenants, devices, users, &chosen).await;
    let _ = std::fs::remove_dir_all(&scratch);
    outcome
}

/// Peak and current resident memory of this process, in MiB, from `/proc/self/status`.
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn create_tenants(
    storage: &Storage,
    clock: &dyn Clock,
    keys: &AuditKeys,
    count: usize,
) -> anyhow::Result<Vec<Tenant>> {
    let msp = steward_core::demo::seed(storage, clock, keys).await?.msp;
    let txn = storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(clock, keys, bench_actor());
    let mut tenants = Vec::with_capacity(count);
    for n in 0..count {
        let tenant = ctx
            .operate_msp(msp.id)
            .tenants()
            .create(NewTenant {
                name: format!("Bench Customer {n:04}"),
                slug: format!("bench-{n:04}").parse()?,
            })
            .await?;
        tenants.push(tenant);
    }
    drop(ctx);
    txn.commit().await?;
    Ok(tenants)
}

/// The settings and credential of a `vendor` integration with the sandbox at `base`.
fn connection(vendor: Vendor, base: &str, c: &SandboxCredentials) -> (serde_json::Value, String) {
    match vendor {
        Vendor::MicrosoftDefender | Vendor::MicrosoftGraph => (
            serde_json::json!({
                "directory_id": c.directory_id,
                "client_id": c.client_id,
                "api_base_url": format!(
                    "{base}{}/",
                    if vendor == Vendor::MicrosoftDefender { "defender" } else { "graph" }
                ),
                "login_base_url": format!("{base}login/"),
            }),
            c.client_secret.clone(),
        ),
        Vendor::Okta => (
            serde_json::json!({"org_url": format!("{base}okta/{}", c.okta_org)}),
            c.okta_api_token.clone(),
        ),
        Vendor::CrowdStrikeFalcon => (
            serde_json::json!({
                "client_id": c.falcon_client_id,
                "api_base_url": format!("{base}falcon/"),
                "member_cid": c.falcon_cid,
            }),
            c.falcon_client_secret.clone(),
        ),
        Vendor::NinjaOne => (
            serde_json::json!({
                "client_id": c.ninja_client_id,
                "organization_id": c.ninja_organization_id,
                "instance_url": format!("{base}ninjaone/"),
            }),
            c.ninja_client_secret.clone(),
        ),
        _ => (
            serde_json::json!({
                "api_url": format!("{base}veeam/api/v3/"),
                "company_uid": c.veeam_company_uid,
            }),
            c.veeam_api_key.clone(),
        ),
    }
}

/// Time spent and what was recorded, per vendor.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    pull_ms: f64,
    record_ms: f64,
    devices: usize,
    identities: usize,
    events: usize,
}

async fn measure(
    config: Config,
    tenants: usize,
    devices: usize,
    users: usize,
    vendors: &[Vendor],
) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let secrets = steward_core::secrets::SecretBox::load(&config.secrets, &config.data_dir)?;
    // The vendors' request budgets would be measured instead of Steward.
    let unthrottled = SandboxSettings {
        limits: ThrottleLimits {
            defender: (u32::MAX, std::time::Duration::from_secs(60)),
            graph: (u32::MAX, std::time::Duration::from_secs(20)),
            hunting: (u32::MAX, std::time::Duration::from_secs(60)),
            ..ThrottleLimits::default()
        },
        ..SandboxSettings::default()
    };
    let sandbox = Sandbox::open(
        Arc::new(MemoryStore::default()),
        Arc::clone(&clock),
        unthrottled,
    )
    .await?;
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("bind a loopback port")?;
    let sandbox_address = listener.local_addr()?;
    let base = format!("http://{sandbox_address}/sandbox/");
    // The operator runs the benchmark: its own sandbox listener is the one private target.
    let egress = steward_integrations::egress::EgressPolicy::allowing([
        steward_integrations::egress::AllowedTarget::address(
            sandbox_address.ip(),
            Some(sandbox_address.port()),
        ),
    ]);
    let router = axum::Router::new().nest("/sandbox", sandbox.router());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    println!(
        "Sync benchmark: {tenants} tenant(s) of {devices} devices and {users} people, {} vendors, {} database.",
        vendors.len(),
        storage.backend().name()
    );
    let tenant_list = create_tenants(&storage, clock.as_ref(), &keys, tenants).await?;
    let mut connected = Vec::with_capacity(tenant_list.len());
    for tenant in &tenant_list {
        let credentials = sandbox
            .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
            .await?;
        sandbox.scale(tenant.id.as_uuid(), devices, users).await?;
        let mut integrations = Vec::new();
        for &vendor in vendors {
            let (settings, secret) = connection(vendor, &base, &credentials);
            let settings =
                registry::normalize_settings(vendor, settings).map_err(anyhow::Error::msg)?;
            steward_core::demo::connect_integration(
                &storage,
                clock.as_ref(),
                &keys,
                &secrets,
                tenant,
                NewIntegration {
                    vendor,
                    name: vendor.display_name().to_owned(),
                    settings: settings.clone(),
                    secret: SecretString::from(secret.clone()),
                },
            )
            .await?;
            integrations.push((vendor, settings, secret));
        }
        connected.push((tenant.clone(), integrations));
    }
    let (_, before) = memory();
    let mut tallies = vec![Tally::default(); vendors.len()];
    let started = Instant::now();
    let all = Deployment::new(storage.conn()).integrations().await?;
    for (tenant, integrations) in &connected {
        let ids: Vec<_> = all.iter().filter(|i| i.tenant_id == tenant.id).collect();
        for (slot, (vendor, settings, secret)) in integrations.iter().enumerate() {
            let integration = ids
                .iter()
                .find(|i| i.vendor == *vendor)
                .context("the integration was created")?;
            let connector = registry::connect(
                *vendor,
                settings,
                SecretString::from(secret.clone()),
                VendorHttp::new(RetryPolicy::default())?.with_egress(egress.clone()),
                Arc::clone(&clock),
            )?;
            let pulling = Instant::now();
            let contract::Pulled {
                inventory,
                events,
                state,
                ..
            } = contract::pull(&connector, &contract::EventCursors::default(), None)
                .await
                .with_context(|| format!("{} of {}", vendor.display_name(), tenant.name))?;
            let pulled = pulling.elapsed();
            let recording = Instant::now();
            let txn = storage.begin().await?;
            let deployment = Deployment::new(&txn);
            let ctx = deployment.write_context(clock.as_ref(), &keys, bench_actor());
            let work = steward_core::storage::TenantWork::as_steward(&ctx, tenant.id)
                .await?
                .context("the tenant was created")?;
            steward_core::inventory::InventoryWriter::new(&work)?
                .record_sync(integration.id, &inventory, &events, state.as_ref())
                .await?;
            drop(work);
            drop(ctx);
            txn.commit().await?;
            let tally = &mut tallies[slot];
            tally.pull_ms += pulled.as_secs_f64() * 1000.0;
            tally.record_ms += recording.elapsed().as_secs_f64() * 1000.0;
            tally.devices += inventory.devices.len();
            tally.identities += inventory.identities.len();
            tally.events += events.len();
        }
    }
    let total = started.elapsed();
    let (peak, after) = memory();
    println!();
    println!("| vendor | devices | identities | events | pull (s) | record (s) |");
    println!("|---|---|---|---|---|---|");
    for (vendor, tally) in vendors.iter().zip(tallies) {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} |",
            vendor.display_name(),
            tally.devices,
            tally.identities,
            tally.events,
            tally.pull_ms / 1000.0,
            tally.record_ms / 1000.0
        );
    }
    println!();
    println!(
        "Total {:.1} s for {} synchronizations; resident memory {before:.0} MiB before, {after:.0} MiB after, {peak:.0} MiB at the peak (the sandbox's simulated vendors run in the same process).",
        total.as_secs_f64(),
        connected.len() * vendors.len()
    );
    Ok(ExitCode::SUCCESS)
}
