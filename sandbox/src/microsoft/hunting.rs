//! Microsoft Graph's `POST /security/runHuntingQuery`: Defender's advanced hunting over the
//! customer's device events, with its quota (45 queries a minute per tenant), its 403 for a
//! customer whose licence lacks advanced hunting, and Graph's error bodies.
//!
//! The sandbox runs the KQL that Steward sends, a subset of the language: a table, then any of
//! `where Timestamp > datetime(…)` (or `>=`), `where ActionType in ("…", …)`, `order by Timestamp
//! asc|desc` and `take N`, separated by `|`. Anything else is refused as advanced hunting
//! refuses a query it cannot run (400 `BadRequest`).

use axum::{
    Json,
    extract::{State, rejection::JsonRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Graph, graph_error, throttled};
use crate::{Api, Sandbox, with_environment};

/// The tables of device events the sandbox keeps.
const TABLES: [&str; 3] = [
    "DeviceProcessEvents",
    "DeviceFileEvents",
    "DeviceRegistryEvents",
];

/// A row of one of Defender's advanced hunting tables, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimDeviceEvent {
    pub table: String,
    pub row: Value,
}

/// What a query asks for.
#[derive(Debug, Default)]
struct Query<'q> {
    table: &'q str,
    /// Rows after this time, or at it too when the flag says so (`>=`).
    after: Option<(DateTime<Utc>, bool)>,
    actions: Option<Vec<String>>,
    newest_first: bool,
    take: Option<usize>,
}

fn parse(text: &str) -> Result<Query<'_>, String> {
    let mut stages = text.split('|').map(str::trim);
    let table = stages.next().unwrap_or_default();
    if !TABLES.contains(&table) {
        return Err(format!(
            "Failed to resolve table or column expression named '{table}'"
        ));
    }
    let mut query = Query {
        table,
        ..Query::default()
    };
    for stage in stages {
        let bound = [
            ("where Timestamp > datetime(", false),
            ("where Timestamp >= datetime(", true),
        ]
        .into_iter()
        .find_map(|(prefix, inclusive)| {
            let time = stage.strip_prefix(prefix)?.strip_suffix(')')?;
            Some((time, inclusive))
        });
        if let Some((time, inclusive)) = bound {
            let time = DateTime::parse_from_rfc3339(time)
                .map_err(|_| format!("Invalid datetime literal: '{time}'"))?
                .with_timezone(&Utc);
            query.after = Some((time, inclusive));
        } else if let Some(list) = stage
            .strip_prefix("where ActionType in (")
            .and_then(|rest| rest.strip_suffix(')'))
        {
            query.actions = Some(
                list.split(',')
                    .map(|a| a.trim().trim_matches('"').to_owned())
                    .collect(),
            );
        } else if stage == "order by Timestamp asc" {
            query.newest_first = false;
        } else if stage == "order by Timestamp desc" {
            query.newest_first = true;
        } else if let Some(n) = stage.strip_prefix("take ") {
            query.take = Some(
                n.trim()
                    .parse()
                    .map_err(|_| format!("'take' needs a number, not '{n}'"))?,
            );
        } else {
            return Err(format!(
                "Query could not be parsed at '{stage}' (the sandbox runs a subset of KQL)"
            ));
        }
    }
    Ok(query)
}

/// Who and where a scripted attack runs, for its device events.
pub(crate) struct Host<'a> {
    pub device_id: &'a str,
    pub device_name: &'a str,
    pub domain: &'a str,
    pub account: &'a str,
}

/// The device events behind the `malware-laptop` alert: the user opens the invoice in Excel,
/// whose macro starts an encoded PowerShell that drops a loader into the user's temporary
/// folder and makes it start at every sign-in. `report` numbers the rows.
pub(crate) fn macro_infection(
    host: &Host<'_>,
    started: DateTime<Utc>,
    mut report: impl FnMut() -> u64,
) -> Vec<SimDeviceEvent> {
    let Host {
        device_id,
        device_name,
        domain,
        account,
    } = *host;
    let time = |seconds: i64| {
        (started + chrono::Duration::seconds(seconds))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let excel = "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE";
    let powershell = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe";
    let loader = format!("C:\\Users\\{account}\\AppData\\Local\\Temp\\invsvc.exe");
    let row = |table: &str, fields: Value| SimDeviceEvent {
        table: table.to_owned(),
        row: fields,
    };
    let mut base = |seconds: i64, action: &str| {
        json!({
            "Timestamp": time(seconds),
            "DeviceId": device_id,
            "DeviceName": device_name,
            "ActionType": action,
            "ReportId": report(),
        })
    };
    let with = |mut base: Value, fields: Value| {
        if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
            base.extend(fields.clone());
        }
        base
    };
    vec![
        row(
            "DeviceProcessEvents",
            with(
                base(0, "ProcessCreated"),
                json!({
                    "FileName": "EXCEL.EXE",
                    "FolderPath": excel,
                    "ProcessId": 6120,
                    "ProcessCommandLine": format!("\"EXCEL.EXE\" \"C:\\Users\\{account}\\Downloads\\Invoice_0923.xlsm\""),
                    "ProcessVersionInfoOriginalFileName": "Excel.exe",
                    "AccountDomain": domain,
                    "AccountName": account,
                    "InitiatingProcessFileName": "explorer.exe",
                    "InitiatingProcessFolderPath": "C:\\Windows\\explorer.exe",
                    "InitiatingProcessId": 4012,
                    "InitiatingProcessCommandLine": "C:\\Windows\\Explorer.EXE",
                    "InitiatingProcessAccountDomain": domain,
                    "InitiatingProcessAccountName": account,
                }),
            ),
        ),
        row(
            "DeviceProcessEvents",
            with(
                base(40, "ProcessCreated"),
                json!({
                    "FileName": "powershell.exe",
                    "FolderPath": powershell,
                    "ProcessId": 7344,
                    "ProcessCommandLine": "powershell.exe -nop -w hidden -ExecutionPolicy Bypass -enc JABzAD0ATgBlAHcALQBPAGIAagBlAGMAdAAgAE4AZQB0AC4AVwBlAGIAQwBsAGkAZQBuAHQA",
                    "ProcessVersionInfoOriginalFileName": "PowerShell.EXE",
                    "SHA256": "9f2c1e4b7a6d3c8e5f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a",
                    "AccountDomain": domain,
                    "AccountName": account,
                    "InitiatingProcessFileName": "EXCEL.EXE",
                    "InitiatingProcessFolderPath": excel,
                    "InitiatingProcessId": 6120,
                    "InitiatingProcessCommandLine": format!("\"EXCEL.EXE\" \"C:\\Users\\{account}\\Downloads\\Invoice_0923.xlsm\""),
                    "InitiatingProcessAccountDomain": domain,
                    "InitiatingProcessAccountName": account,
                }),
            ),
        ),
        row(
            "DeviceFileEvents",
            with(
                base(55, "FileCreated"),
                json!({
                    "FileName": "invsvc.exe",
                    "FolderPath": format!("C:\\Users\\{account}\\AppData\\Local\\Temp"),
                    "InitiatingProcessFileName": "powershell.exe",
                    "InitiatingProcessFolderPath": powershell,
                    "InitiatingProcessId": 7344,
                    "InitiatingProcessAccountDomain": domain,
                    "InitiatingProcessAccountName": account,
                }),
            ),
        ),
        row(
            "DeviceRegistryEvents",
            with(
                base(60, "RegistryValueSet"),
                json!({
                    "RegistryKey": "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run",
                    "RegistryValueName": "InvoiceService",
                    "RegistryValueData": loader,
                    "InitiatingProcessFileName": "powershell.exe",
                    "InitiatingProcessFolderPath": powershell,
                    "InitiatingProcessId": 7344,
                    "InitiatingProcessAccountDomain": domain,
                    "InitiatingProcessAccountName": account,
                }),
            ),
        ),
    ]
}

/// The RMM agent (NinjaOne) running its inventory script on a device, as Defender records it.
pub(crate) fn inventory_script(
    device_id: &str,
    device_name: &str,
    started: DateTime<Utc>,
    report: u64,
) -> SimDeviceEvent {
    let agent = "C:\\Program Files (x86)\\NinjaRMMAgent\\NinjaRMMAgent.exe";
    SimDeviceEvent {
        table: "DeviceProcessEvents".to_owned(),
        row: json!({
            "Timestamp": started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "DeviceId": device_id,
            "DeviceName": device_name,
            "ActionType": "ProcessCreated",
            "FileName": "powershell.exe",
            "FolderPath": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "ProcessId": 5300,
            "ProcessCommandLine": "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\ProgramData\\NinjaRMMAgent\\scripting\\inventory.ps1",
            "ProcessVersionInfoOriginalFileName": "PowerShell.EXE",
            "ProcessIntegrityLevel": "System",
            "AccountDomain": "NT AUTHORITY",
            "AccountName": "SYSTEM",
            "InitiatingProcessFileName": "NinjaRMMAgent.exe",
            "InitiatingProcessFolderPath": agent,
            "InitiatingProcessId": 5200,
            "InitiatingProcessCommandLine": format!("\"{agent}\""),
            "InitiatingProcessAccountDomain": "NT AUTHORITY",
            "InitiatingProcessAccountName": "SYSTEM",
            "ReportId": report,
        }),
    }
}

fn time_of(row: &Value) -> Option<DateTime<Utc>> {
    row["Timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

pub(super) async fn run_hunting_query(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    body: Result<Json<Value>, JsonRejection>,
) -> Response {
    if let Some(retry_after) = sandbox.inner.throttle.check_hunting(tenant) {
        return throttled(&sandbox, Api::Graph, retry_after);
    }
    let bad_request =
        |message: &str| graph_error(&sandbox, StatusCode::BAD_REQUEST, "BadRequest", message);
    let Ok(Json(body)) = body else {
        return bad_request("The request body is not valid JSON.");
    };
    let Some(text) = body["Query"].as_str() else {
        return bad_request("The Query parameter is required.");
    };
    let query = match parse(text) {
        Ok(query) => query,
        Err(message) => return bad_request(&message),
    };
    let Some((licensed, rows)) = with_environment(&sandbox, tenant, |e| {
        (
            !e.hunting_unlicensed,
            e.device_events
                .iter()
                .filter(|event| event.table == query.table)
                .map(|event| event.row.clone())
                .collect::<Vec<_>>(),
        )
    })
    .await
    else {
        return graph_error(
            &sandbox,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Insufficient privileges to complete the operation.",
        );
    };
    if !licensed {
        return graph_error(
            &sandbox,
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The tenant is not licensed for advanced hunting (Microsoft Defender for Endpoint Plan 2 or Microsoft Defender XDR).",
        );
    }
    let mut rows: Vec<Value> = rows
        .into_iter()
        .filter(|row| {
            query.after.is_none_or(|(after, inclusive)| {
                time_of(row).is_some_and(|t| t > after || (inclusive && t == after))
            })
        })
        .filter(|row| {
            query.actions.as_ref().is_none_or(|actions| {
                row["ActionType"]
                    .as_str()
                    .is_some_and(|a| actions.iter().any(|wanted| wanted == a))
            })
        })
        .collect();
    rows.sort_by_key(time_of);
    if query.newest_first {
        rows.reverse();
    }
    rows.truncate(query.take.unwrap_or(100_000).min(100_000));
    let schema: Vec<Value> = rows
        .first()
        .and_then(Value::as_object)
        .map(|columns| {
            columns
                .iter()
                .map(|(name, value)| {
                    let kind = match value {
                        Value::Number(n) if n.is_i64() => "Int64",
                        Value::Number(_) => "Double",
                        Value::Bool(_) => "Boolean",
                        _ if name == "Timestamp" => "DateTime",
                        _ => "String",
                    };
                    json!({"name": name, "type": kind})
                })
                .collect()
        })
        .unwrap_or_default();
    Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
        "schema": schema,
        "results": rows,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kql_steward_sends_parses_and_the_rest_is_refused() {
        let query = parse(
            "DeviceProcessEvents | where Timestamp > datetime(2026-12-01T00:00:00.000000Z) | where ActionType in (\"ProcessCreated\") | order by Timestamp asc | take 10000",
        )
        .unwrap();
        assert_eq!(query.table, "DeviceProcessEvents");
        assert_eq!(query.take, Some(10_000));
        assert_eq!(query.actions, Some(vec!["ProcessCreated".to_owned()]));
        assert!(
            parse("DeviceNetworkEvents | take 1")
                .unwrap_err()
                .contains("Failed to resolve table")
        );
        assert!(parse("DeviceProcessEvents | summarize count()").is_err());
    }
}
