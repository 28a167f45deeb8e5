use std::process::ExitCode;

use anyhow::Context;
use steward_core::Storage;

use crate::config::Config;

/// Applies pending migrations and says which.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, Report::Always).await?;
    storage.close().await.context("close the database")?;
    Ok(ExitCode::SUCCESS)
}

/// How much a command says about migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    /// On standard output, even when there was nothing to do (`migrate`, `serve`, `demo`).
    Always,
    /// On standard error, only when something was applied: the command's own output (a token
    /// secret, a verification report) stays alone on standard output.
    WhenApplied,
}

/// Applies pending migrations, saying what was done.
pub(crate) async fn apply(storage: &Storage, report: Report) -> anyhow::Result<()> {
    let applied = storage
        .migrate()
        .await
        .with_context(|| format!("migrate the {}", storage.location()))?;
    let mut text = if applied.is_empty() {
        format!("The {} is up to date.", storage.location())
    } else {
        format!(
            "Applied {} migration(s) to the {}:",
            applied.len(),
            storage.location()
        )
    };
    for name in &applied {
        text.push_str("\n  ");
        text.push_str(name);
    }
    match report {
        Report::Always => println!("{text}"),
        Report::WhenApplied if !applied.is_empty() => eprintln!("{text}"),
        Report::WhenApplied => {}
    }
    Ok(())
}
