use std::process::ExitCode;

use anyhow::Context;
use steward_core::{SystemClock, demo};

use crate::config::Config;

/// Seeds the demo MSP where missing, then serves.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config).await?;
    let seed = demo::seed(&storage, &SystemClock)
        .await
        .context("seed the demo data")?;
    if seed.created {
        println!("Created the demo MSP \"{}\".", seed.msp.name);
    } else {
        println!(
            "Using the demo MSP \"{}\" from earlier runs.",
            seed.msp.name
        );
    }
    for tenant in &seed.tenants {
        println!("  tenant {} ({})", tenant.name, tenant.slug);
    }
    super::serve::serve(&config, storage).await?;
    Ok(ExitCode::SUCCESS)
}
