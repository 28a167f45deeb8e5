//! `run_script` and `run_undo_script` through NinjaOne: the library script and its undo
//! script, run as the system account and followed through the device's activity log.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use steward_domain::actions::ActionType;
use uuid::Uuid;

use super::NinjaOneConnector;
use crate::{
    contract::{ActionRequest, ConnectorError, Execution, Snapshot, Verification},
    http::Idempotency,
};

/// A script of `GET /v2/device/{id}/scripting/options`.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct Script {
    #[serde(rename = "type")]
    kind: String,
    id: u32,
    #[serde(default)]
    uid: Option<Uuid>,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ScriptingOptions {
    #[serde(default)]
    scripts: Vec<Script>,
}

/// An entry of `GET /v2/device/{id}/activities`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Activity {
    id: u64,
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    activity_result: Option<String>,
    #[serde(default)]
    source_config_uid: Option<Uuid>,
    #[serde(default)]
    source_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivityLog {
    #[serde(default)]
    last_activity_id: u64,
    #[serde(default)]
    activities: Vec<Activity>,
}

/// The script `request` runs: the script of a `run_script`, the undo script of a
/// `run_undo_script`.
fn script_id(request: &ActionRequest) -> Result<&str, ConnectorError> {
    let id = if request.action == ActionType::RunScript {
        &request.parameters.script_id
    } else {
        &request.parameters.undo_script_id
    };
    id.as_deref().ok_or_else(|| {
        ConnectorError::Configuration(format!("{} without its script ids", request.action))
    })
}

fn device_path(request: &ActionRequest, rest: &str) -> Result<String, ConnectorError> {
    let id: u64 = request
        .target
        .parse()
        .map_err(|_| ConnectorError::NotFound(format!("NinjaOne device {:?}", request.target)))?;
    Ok(format!("v2/device/{id}/{rest}"))
}

/// The library script `id` as the device offers it.
async fn script(
    connector: &NinjaOneConnector,
    request: &ActionRequest,
    id: &str,
) -> Result<Script, ConnectorError> {
    let url = connector
        .api
        .url(&device_path(request, "scripting/options")?)?;
    let options: ScriptingOptions =
        connector.api.get(url).await?.ok_or_else(|| {
            ConnectorError::NotFound(format!("NinjaOne device {}", request.target))
        })?;
    options
        .scripts
        .into_iter()
        .find(|s| s.kind == "SCRIPT" && s.id.to_string() == id)
        .ok_or_else(|| {
            ConnectorError::NotFound(format!(
                "script {id} in the NinjaOne automation library for device {}",
                request.target
            ))
        })
}

/// The device's script runs newer than activity `after`, newest first.
async fn runs_after(
    connector: &NinjaOneConnector,
    request: &ActionRequest,
    after: Option<u64>,
) -> Result<ActivityLog, ConnectorError> {
    let mut url = connector.api.url(&device_path(request, "activities")?)?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("activityType", "SCRIPTING")
            .append_pair("pageSize", "100");
        if let Some(after) = after {
            query.append_pair("newerThan", &after.to_string());
        }
    }
    connector
        .api
        .get(url)
        .await?
        .ok_or_else(|| ConnectorError::NotFound(format!("NinjaOne device {}", request.target)))
}

fn is_run_of(activity: &Activity, script: &Script) -> bool {
    activity
        .source_config_uid
        .is_some_and(|uid| Some(uid) == script.uid)
        || activity.source_name.as_deref() == Some(script.name.as_str())
}

/// Both scripts of the pair exist for the device; where its activity log stood.
pub(super) async fn snapshot(
    connector: &NinjaOneConnector,
    request: &ActionRequest,
) -> Result<Snapshot, ConnectorError> {
    let parameters = &request.parameters;
    let (Some(run), Some(undo)) = (&parameters.script_id, &parameters.undo_script_id) else {
        return Err(ConnectorError::Configuration(format!(
            "{} without its script ids",
            request.action
        )));
    };
    let run = script(connector, request, run).await?;
    let undo = script(connector, request, undo).await?;
    let log = runs_after(connector, request, None).await?;
    Ok(Snapshot(json!({
        "device_id": request.target,
        "script": run,
        "undo_script": undo,
        "last_activity_id": log.last_activity_id,
    })))
}

/// Asks the device to run the request's script. The execution's reference is the activity the
/// log stood at, so verification finds the run that follows it.
pub(super) async fn execute(
    connector: &NinjaOneConnector,
    request: &ActionRequest,
) -> Result<Execution, ConnectorError> {
    let requested_at = connector.clock.now();
    let script = script(connector, request, script_id(request)?).await?;
    let before = runs_after(connector, request, None).await?.last_activity_id;
    let url = connector.api.url(&device_path(request, "script/run")?)?;
    let body = json!({"type": "SCRIPT", "id": script.id, "runAs": "system"});
    let landed = match connector
        .api
        .send(Method::POST, url, Some(&body), Idempotency::NonIdempotent)
        .await
    {
        Ok(response) if response.status() == StatusCode::NOT_FOUND => {
            return Err(ConnectorError::NotFound(format!(
                "NinjaOne device {}",
                request.target
            )));
        }
        Ok(_) => true,
        // The answer was lost: the activity log tells whether the run was queued.
        Err(ConnectorError::OutcomeUnknown(detail)) => {
            let log = runs_after(connector, request, Some(before)).await?;
            if !log
                .activities
                .iter()
                .any(|a| a.id > before && is_run_of(a, &script))
            {
                return Err(ConnectorError::Unavailable(detail));
            }
            true
        }
        Err(other) => return Err(other),
    };
    Ok(Execution {
        vendor_reference: Some(before.to_string()),
        requested_at,
        changed: landed,
    })
}

/// Where the run after the execution's reference stands in the device's activity log.
pub(super) async fn verify(
    connector: &NinjaOneConnector,
    request: &ActionRequest,
    execution: &Execution,
) -> Result<Verification, ConnectorError> {
    let script = script(connector, request, script_id(request)?).await?;
    let after = execution
        .vendor_reference
        .as_deref()
        .and_then(|r| r.parse().ok());
    let log = runs_after(connector, request, after).await?;
    // The earliest run of the script after the request is the one Steward asked for.
    let Some(run) = log
        .activities
        .iter()
        .rev()
        .find(|a| a.id > after.unwrap_or(0) && is_run_of(a, &script))
    else {
        return Ok(Verification::Pending(format!(
            "NinjaOne has not logged {} on device {} yet",
            script.name, request.target
        )));
    };
    let status = run.status_code.as_deref().unwrap_or("unknown");
    Ok(match (status, run.activity_result.as_deref()) {
        ("COMPLETED", Some("SUCCESS")) => Verification::Confirmed(format!(
            "NinjaOne ran {} on device {} (activity {})",
            script.name, request.target, run.id
        )),
        ("COMPLETED" | "CANCELLED" | "BLOCKED" | "EVALUATION_FAILURE", result) => {
            Verification::Failed(format!(
                "NinjaOne shows {} on device {} {status} ({})",
                script.name,
                request.target,
                result.unwrap_or("no result")
            ))
        }
        _ => Verification::Pending(format!(
            "NinjaOne shows {} on device {} {status}",
            script.name, request.target
        )),
    })
}
