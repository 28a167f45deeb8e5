use std::process::ExitCode;

use anyhow::Context;
use steward_core::Storage;

use crate::config::Config;

/// Applies pending migrations and says which.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config).await?;
    storage.close().await.context("close the database")?;
    Ok(ExitCode::SUCCESS)
}

/// Applies pending migrations, printing what was done.
pub(crate) async fn apply(storage: &Storage) -> anyhow::Result<()> {
    let applied = storage
        .migrate()
        .await
        .with_context(|| format!("migrate the {}", storage.location()))?;
    if applied.is_empty() {
        println!("The {} is up to date.", storage.location());
    } else {
        println!(
            "Applied {} migration(s) to the {}:",
            applied.len(),
            storage.location()
        );
        for name in applied {
            println!("  {name}");
        }
    }
    Ok(())
}
