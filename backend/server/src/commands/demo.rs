use std::process::ExitCode;

use anyhow::Context;
use steward_core::{
    SystemClock,
    demo::{self, DEMO_ADMIN_EMAIL, DEMO_PASSWORD},
};

use crate::config::Config;

/// Seeds the demo MSP where missing, then serves.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::Always).await?;
    let keys = super::serve::audit_keys(&config)?;
    let seed = demo::seed(&storage, &SystemClock, &keys)
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
    println!("Demo users (password \"{DEMO_PASSWORD}\" unless changed since):");
    for user in &seed.users {
        println!("  {} ({})", user.email, user.role);
    }
    println!(
        "API token for the admin: steward --data-dir {} token create --email {DEMO_ADMIN_EMAIL}",
        config.data_dir.display()
    );
    super::serve::serve(&config, storage).await?;
    Ok(ExitCode::SUCCESS)
}
