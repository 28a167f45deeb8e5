//! `trigger_backup` through the console: start the device's backup job now
//! (`POST /infrastructure/backupAgents/{agentUid}/jobs/{jobUid}/start`) and follow the job until
//! its run after the request ends. Starting a job that is already running is the wanted
//! effect, so the console's refusal of it counts as started.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{VeeamConnector, error_from};
use crate::{
    contract::{ActionRequest, ConnectorError, Execution, Snapshot, Verification},
    http::Idempotency,
    oauth,
};

/// How much earlier than Steward's request a run may be recorded and still be its own (the
/// console's clock and Steward's differ a little).
const CLOCK_TOLERANCE: chrono::Duration = chrono::Duration::seconds(30);

/// A backup agent's job, as much as the action reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Job {
    pub(super) instance_uid: Uuid,
    pub(super) backup_agent_uid: Uuid,
    #[serde(default)]
    pub(super) organization_uid: Option<Uuid>,
    pub(super) name: String,
    pub(super) status: String,
    #[serde(default)]
    pub(super) last_run: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(super) failure_message: Option<String>,
}

fn agent(request: &ActionRequest) -> Result<Uuid, ConnectorError> {
    request
        .target
        .parse()
        .map_err(|_| ConnectorError::NotFound(format!("backup agent {:?}", request.target)))
}

/// The job protecting the request's backup agent.
async fn job(connector: &VeeamConnector, request: &ActionRequest) -> Result<Job, ConnectorError> {
    let agent = agent(request)?;
    let jobs: Vec<Job> = connector.list("infrastructure/backupAgents/jobs").await?;
    jobs.into_iter()
        .find(|j| {
            j.backup_agent_uid == agent && j.organization_uid.is_none_or(|o| o == connector.company)
        })
        .ok_or_else(|| {
            ConnectorError::NotFound(format!(
                "a backup job of agent {agent} in company {}",
                connector.company
            ))
        })
}

pub(super) async fn snapshot(
    connector: &VeeamConnector,
    request: &ActionRequest,
) -> Result<Snapshot, ConnectorError> {
    let job = job(connector, request).await?;
    Ok(Snapshot(json!({
        "backup_agent_uid": job.backup_agent_uid,
        "job_uid": job.instance_uid,
        "job": job.name,
        "status": job.status,
        "last_run": job.last_run,
    })))
}

pub(super) async fn execute(
    connector: &VeeamConnector,
    request: &ActionRequest,
) -> Result<Execution, ConnectorError> {
    let requested_at = connector.clock.now();
    let job = job(connector, request).await?;
    if matches!(job.status.as_str(), "Running" | "Starting") {
        // A run is under way: it brings the restore point this action asks for.
        return Ok(Execution {
            vendor_reference: Some(job.instance_uid.to_string()),
            requested_at,
            changed: false,
        });
    }
    let url = oauth::join(
        &connector.base,
        &format!(
            "infrastructure/backupAgents/{}/jobs/{}/start",
            job.backup_agent_uid, job.instance_uid
        ),
    )?;
    let http_request = connector
        .http
        .client()
        .request(Method::POST, url)
        .bearer_auth(connector.key.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .build()
        .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
    // Starting a job twice starts it once (the second is refused as already running), so a
    // retry is safe.
    let response = connector
        .http
        .send(http_request, Idempotency::Idempotent)
        .await?;
    let status = response.status();
    if !status.is_success() && status != StatusCode::CONFLICT {
        let text = response.text().await.unwrap_or_default();
        return Err(error_from(status, &text));
    }
    Ok(Execution {
        vendor_reference: Some(job.instance_uid.to_string()),
        requested_at,
        changed: status.is_success(),
    })
}

pub(super) async fn verify(
    connector: &VeeamConnector,
    request: &ActionRequest,
    execution: &Execution,
) -> Result<Verification, ConnectorError> {
    let job = job(connector, request).await?;
    let since = execution.requested_at - CLOCK_TOLERANCE;
    let ran_since = job.last_run.is_some_and(|run| run >= since);
    Ok(match job.status.as_str() {
        "Running" | "Starting" => {
            Verification::Pending(format!("the console shows {} running", job.name))
        }
        "Success" | "Warning" if ran_since => Verification::Confirmed(format!(
            "the console shows {} ended {} (run at {})",
            job.name,
            job.status,
            job.last_run.map(|r| r.to_rfc3339()).unwrap_or_default()
        )),
        "Failed" if ran_since => Verification::Failed(format!(
            "the console shows {} failed: {}",
            job.name,
            job.failure_message.as_deref().unwrap_or("no reason given")
        )),
        other => Verification::Pending(format!(
            "the console shows {} {other}, not yet run since the request",
            job.name
        )),
    })
}
