//! `steward audit verify`: checks the audit chains against their hashes and signed checkpoints.

use std::process::ExitCode;

use steward_core::audit::{self, AuditKeys, ChainRef, ChainVerification};
use steward_domain::TenantId;

use crate::config::Config;

/// Exit status when a chain is broken: distinct from 1 (the check itself could not run).
pub const EXIT_BROKEN: u8 = 3;

/// Verifies every chain, or one tenant's, and names the first broken entry of each broken one.
pub async fn verify(config: Config, tenant: Option<TenantId>) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    let keys = super::serve::audit_keys(&config)?;
    let reports = match tenant {
        None => audit::verify_all(storage.conn(), &keys).await?,
        Some(tenant_id) => {
            let Some(chain) = tenant_chain(&storage, tenant_id).await? else {
                anyhow::bail!("no tenant {tenant_id}");
            };
            vec![audit::verify_chain(storage.conn(), &keys, chain).await?]
        }
    };
    let broken = reports.iter().filter(|report| !report.is_intact()).count();
    for report in &reports {
        print_report(report);
    }
    if broken == 0 {
        println!("All {} audit chain(s) are intact.", reports.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{broken} of {} audit chain(s) are broken.", reports.len());
        Ok(ExitCode::from(EXIT_BROKEN))
    }
}

/// Prints a new signing key for `audit.signing_key`, and its public key for
/// `audit.trusted_public_keys` after a later rotation.
pub fn keygen() -> anyhow::Result<ExitCode> {
    let secret = AuditKeys::generate_secret()?;
    let keys = AuditKeys::load(
        &audit::AuditConfig {
            signing_key: Some(secret.clone()),
            trusted_public_keys: Vec::new(),
        },
        std::path::Path::new("."),
    )?;
    eprintln!(
        "A new audit signing key (key id {}). Set it as audit.signing_key or \
         STEWARD_AUDIT__SIGNING_KEY on every process of the deployment; keep it secret.\n\
         Public key, for audit.trusted_public_keys once you rotate away from it: {}",
        keys.key_id(),
        keys.public_key_base64()
    );
    println!("{}", secrecy::ExposeSecret::expose_secret(&secret));
    Ok(ExitCode::SUCCESS)
}

fn print_report(report: &ChainVerification) {
    match &report.first_break {
        None => println!(
            "intact  {}: {} entries, {} signed checkpoints",
            report.chain, report.entries, report.checkpoints
        ),
        Some(problem) => println!("BROKEN  {}: {problem}", report.chain),
    }
}

async fn tenant_chain(
    storage: &steward_core::Storage,
    tenant_id: TenantId,
) -> anyhow::Result<Option<ChainRef>> {
    let deployment = storage.deployment();
    for msp in deployment.msps().all().await? {
        if deployment
            .msp(msp.id)
            .tenants()
            .lookup(tenant_id)
            .await?
            .is_some()
        {
            return Ok(Some(ChainRef::Tenant {
                msp_id: msp.id,
                tenant_id,
            }));
        }
    }
    Ok(None)
}
