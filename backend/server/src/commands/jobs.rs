//! `steward jobs failed`: the jobs whose last try failed, and why.

use std::process::ExitCode;

use steward_workers::{FailedJob, JobQueue};

use crate::config::Config;

/// Lists up to `limit` failed jobs: those that failed for good first, then those waiting to run
/// again, each with its tries and the reason of the last one.
pub async fn failed(config: Config, limit: u32) -> anyhow::Result<ExitCode> {
    let storage = super::serve::open_storage(&config, super::migrate::Report::WhenApplied).await?;
    // Creates the queue's tables when no worker has run on this database yet.
    JobQueue::open(&storage.pool(), config.worker.settings().liveness).await?;
    let jobs = steward_workers::failed_jobs(&storage.pool(), limit).await?;
    if jobs.is_empty() {
        println!("No failed jobs.");
        return Ok(ExitCode::SUCCESS);
    }
    for job in &jobs {
        print_job(job);
    }
    let for_good = jobs.iter().filter(|job| job.next_try.is_none()).count();
    println!(
        "{} failed job(s): {for_good} failed for good, {} will run again.",
        jobs.len(),
        jobs.len() - for_good
    );
    Ok(ExitCode::SUCCESS)
}

fn print_job(job: &FailedJob) {
    let what = job.job.as_ref().map_or_else(
        || "a job Steward cannot read".to_owned(),
        |known| format!("{} in tenant {}", known.name(), known.tenant_id()),
    );
    let when = match job.next_try {
        Some(at) => format!(
            "runs again at {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        None => "failed for good".to_owned(),
    };
    println!(
        "{}  {what}: {} {}, {when}\n    {}",
        job.id,
        job.attempts,
        if job.attempts == 1 { "try" } else { "tries" },
        job.reason
    );
}
