//! `steward worker`: runs the background jobs without serving HTTP.

use std::{process::ExitCode, sync::Arc};

use anyhow::Context;
use steward_core::{SystemClock, secrets::SecretBox};
use tokio::sync::watch;

use super::migrate::Report;
use crate::config::Config;

/// Runs the workers until interrupted (Ctrl-C or SIGTERM): running jobs stop waiting on vendors
/// and end, to run again after the restart.
pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, Report::Always).await?;
    let secrets = SecretBox::load(&config.secrets, &config.data_dir)
        .context("load the key that encrypts vendor credentials")?;
    let (stop_tx, stop) = watch::channel(false);
    let shared = super::serve::worker_shared(
        &config,
        storage,
        Arc::new(SystemClock),
        Arc::new(super::serve::audit_keys(&config)?),
        Arc::new(secrets),
        None,
        stop,
    )?;
    let signal = super::serve::shutdown_signal()?;
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    // Tests and scripts wait for this line; keep its shape.
    println!("Steward worker is running");
    steward_workers::run(shared)
        .await
        .context("run the workers")?;
    Ok(ExitCode::SUCCESS)
}
