//! `run_script` and `run_undo_script` through Tactical RMM: a script of the server's script
//! library and its undo script, run on the customer's agent and followed through the agent's
//! history.
//!
//! `POST /agents/{agent_id}/runscript/` with `output: "forget"` queues the run and answers at
//! once; the server records the run in the agent's history (`GET /agents/{agent_id}/history/`)
//! before it reaches the agent, and fills in its `script_results` (`retcode`, `stdout`,
//! `stderr`) when the agent reports back. A silent agent never does, so verification stays
//! pending until the action engine gives up.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use steward_domain::actions::ActionType;

use super::{Agent, TacticalConnector};
use crate::{
    contract::{ActionRequest, ConnectorError, Execution, Snapshot, Verification},
    http::Idempotency,
};

/// How long the agent may run a script, when the library gives no default.
const DEFAULT_TIMEOUT_SECONDS: u32 = 90;

/// A script of `GET /scripts/{id}/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Script {
    id: u32,
    name: String,
    #[serde(default)]
    shell: Option<String>,
    #[serde(default)]
    default_timeout: Option<u32>,
}

/// What the agent reported of a run.
#[derive(Debug, Deserialize)]
struct ScriptResults {
    #[serde(default)]
    retcode: Option<i64>,
    #[serde(default)]
    stderr: Option<String>,
}

/// An entry of `GET /agents/{agent_id}/history/`.
#[derive(Debug, Deserialize)]
struct HistoryEntry {
    id: u64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    script: Option<u32>,
    #[serde(default)]
    script_results: Option<ScriptResults>,
}

/// The script `request` runs: the script of a `run_script`, the undo script of a
/// `run_undo_script`.
fn script_id(request: &ActionRequest) -> Result<u32, ConnectorError> {
    let id = if request.action == ActionType::RunScript {
        &request.parameters.script_id
    } else {
        &request.parameters.undo_script_id
    };
    let id = id.as_deref().ok_or_else(|| {
        ConnectorError::Configuration(format!("{} without its script ids", request.action))
    })?;
    id.parse().map_err(|_| {
        ConnectorError::NotFound(format!(
            "script {id:?} in the Tactical RMM script library (its ids are numbers)"
        ))
    })
}

/// The agent, refused unless it belongs to the integration's client: an API key may see more
/// clients than the one this integration is for.
async fn agent(
    connector: &TacticalConnector,
    request: &ActionRequest,
) -> Result<Agent, ConnectorError> {
    let missing = || ConnectorError::NotFound(format!("Tactical RMM agent {}", request.target));
    if request.target.is_empty() || !request.target.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(missing());
    }
    let agent: Agent = connector
        .get(&format!("agents/{}/", request.target))
        .await?
        .ok_or_else(missing)?;
    let client = connector.client().await?;
    if agent
        .client_name
        .as_deref()
        .is_some_and(|name| name != client.name)
    {
        return Err(missing());
    }
    Ok(agent)
}

/// The library script `id`.
async fn script(connector: &TacticalConnector, id: u32) -> Result<Script, ConnectorError> {
    connector
        .get(&format!("scripts/{id}/"))
        .await?
        .ok_or_else(|| {
            ConnectorError::NotFound(format!("script {id} in the Tactical RMM script library"))
        })
}

/// The agent's script runs, oldest first.
async fn runs(
    connector: &TacticalConnector,
    request: &ActionRequest,
) -> Result<Vec<HistoryEntry>, ConnectorError> {
    let mut history: Vec<HistoryEntry> = connector
        .get(&format!("agents/{}/history/", request.target))
        .await?
        .ok_or_else(|| {
            ConnectorError::NotFound(format!("Tactical RMM agent {}", request.target))
        })?;
    history.retain(|h| h.kind == "script_run");
    history.sort_by_key(|h| h.id);
    Ok(history)
}

/// The newest entry of the agent's history (0 when it has none).
fn last_id(history: &[HistoryEntry]) -> u64 {
    history.iter().map(|h| h.id).max().unwrap_or(0)
}

/// The agent is the client's, both scripts of the pair are in the library; where the agent's
/// history stood.
pub(super) async fn snapshot(
    connector: &TacticalConnector,
    request: &ActionRequest,
) -> Result<Snapshot, ConnectorError> {
    let parameters = &request.parameters;
    if parameters.script_id.is_none() || parameters.undo_script_id.is_none() {
        return Err(ConnectorError::Configuration(format!(
            "{} without its script ids",
            request.action
        )));
    }
    let agent = agent(connector, request).await?;
    let run = script(connector, script_id(request)?).await?;
    let inverse = crate::contract::inverse_request(request)?;
    let undo = script(connector, script_id(&inverse)?).await?;
    let history = runs(connector, request).await?;
    Ok(Snapshot(json!({
        "agent_id": request.target,
        "hostname": agent.hostname,
        "script": run,
        "undo_script": undo,
        "last_history_id": last_id(&history),
    })))
}

/// Asks the server to run the request's script on the agent. The execution's reference is the
/// history entry the agent's history stood at, so verification finds the run that follows it.
pub(super) async fn execute(
    connector: &TacticalConnector,
    request: &ActionRequest,
) -> Result<Execution, ConnectorError> {
    let requested_at = connector.clock.now();
    agent(connector, request).await?;
    let script = script(connector, script_id(request)?).await?;
    let before = last_id(&runs(connector, request).await?);
    let body = json!({
        "output": "forget",
        "script": script.id,
        "args": [],
        "timeout": script.default_timeout.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
        "run_as_user": false,
        "env_vars": [],
    });
    let path = format!("agents/{}/runscript/", request.target);
    match connector
        .send(Method::POST, &path, Some(&body), Idempotency::NonIdempotent)
        .await
    {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            return Err(ConnectorError::NotFound(format!(
                "Tactical RMM agent {} or script {}",
                request.target, script.id
            )));
        }
        Ok(_) => {}
        // The answer was lost: the history tells whether the server queued the run.
        Err(ConnectorError::OutcomeUnknown(detail)) => {
            let queued = runs(connector, request)
                .await?
                .iter()
                .any(|h| h.id > before && h.script == Some(script.id));
            if !queued {
                return Err(ConnectorError::Unavailable(detail));
            }
        }
        Err(other) => return Err(other),
    }
    Ok(Execution {
        vendor_reference: Some(before.to_string()),
        requested_at,
        changed: true,
    })
}

/// Where the run after the execution's reference stands in the agent's history.
pub(super) async fn verify(
    connector: &TacticalConnector,
    request: &ActionRequest,
    execution: &Execution,
) -> Result<Verification, ConnectorError> {
    let id = script_id(request)?;
    let after: u64 = execution
        .vendor_reference
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let history = runs(connector, request).await?;
    // The earliest run of the script after the request is the one Steward asked for.
    let Some(run) = history
        .iter()
        .find(|h| h.id > after && h.script == Some(id))
    else {
        return Ok(Verification::Pending(format!(
            "Tactical RMM has not recorded script {id} on agent {} yet",
            request.target
        )));
    };
    let Some(results) = &run.script_results else {
        return Ok(Verification::Pending(format!(
            "Tactical RMM is waiting for agent {} to report script {id} (history {})",
            request.target, run.id
        )));
    };
    Ok(match results.retcode {
        Some(0) => Verification::Confirmed(format!(
            "Tactical RMM ran script {id} on agent {} (history {}, exit code 0)",
            request.target, run.id
        )),
        code => Verification::Failed(format!(
            "Tactical RMM ran script {id} on agent {}: exit code {}{}",
            request.target,
            code.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            results
                .stderr
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| format!(" ({})", e.chars().take(300).collect::<String>()))
                .unwrap_or_default()
        )),
    })
}
