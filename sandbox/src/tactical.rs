//! The REST API of the MSP's Tactical RMM server, as it serves it at `https://api.{domain}/…`:
//! here `/sandbox/tactical/…` (see `docs/vendors/tactical-rmm.md`).
//!
//! Each simulated customer is one *client* of the server, and the API key Steward was given for
//! it belongs to a user whose role is limited to that client.
//! - Authentication: `X-API-KEY: {key}` on every request; none is `401 {"detail":
//!   "Authentication credentials were not provided."}`, a wrong one `401 {"detail": "Invalid
//!   token."}` (both with `WWW-Authenticate: Token`).
//! - `GET /clients/` and `/clients/{id}/`; `GET /agents/` (filters `client`, `site`,
//!   `monitoring_type`; not paged; `monitoring_type` other than `server` or `workstation` is
//!   `400 "monitoring type does not exist"`) and `/agents/{agent_id}/`;
//!   `GET /winupdate/{agent_id}/` (the agent's Windows updates, newest first).
//! - Scripts: `GET /scripts/` and `/scripts/{id}/` (the server's script library);
//!   `POST /agents/{agent_id}/runscript/` with `{"output", "script", "args", "timeout",
//!   "run_as_user", "env_vars"}` records the run in the agent's history and, for `"forget"`,
//!   answers `"{script} will now be run on {hostname}"` at once (`"wait"` answers the script's
//!   output once it ran); a body without one of those fields is the server's `500`.
//!   `GET /agents/{agent_id}/history/` lists the runs; each read lets a live agent report the
//!   runs queued before it (`script_results` with `retcode`, `stdout`, `stderr`), a silent agent
//!   never does.
//! - Errors: `{"detail": …}` for authentication and missing records, a bare JSON string for
//!   refused requests. The server does not throttle API keys.
//!
//! The agents are the machines the customer's NinjaOne manages as well (the MSP is moving them
//! from one RMM to the other): same host names, serial numbers, last contact and updates.

use axum::{
    Json, Router,
    body::Bytes,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{Environment, Fault, SimMachine, SimPatch, SimScript},
    kit::{self, Admitted, Gate, QueryPairs},
    ninjaone::NINJA_SCRIPTS,
    param, with_environment,
};

/// The scripts of the sandbox's Tactical RMM script library: the same three pairs as NinjaOne's
/// library (the MSP is moving its customers from one RMM to the other), under Tactical's ids.
pub const TACTICAL_SCRIPTS: [SimScript; 6] = [
    SimScript {
        id: 11,
        ..NINJA_SCRIPTS[0]
    },
    SimScript {
        id: 12,
        ..NINJA_SCRIPTS[1]
    },
    SimScript {
        id: 13,
        ..NINJA_SCRIPTS[2]
    },
    SimScript {
        id: 14,
        ..NINJA_SCRIPTS[3]
    },
    SimScript {
        id: 15,
        ..NINJA_SCRIPTS[4]
    },
    SimScript {
        id: 16,
        ..NINJA_SCRIPTS[5]
    },
];

/// A script run Tactical RMM recorded in an agent's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimTacticalRun {
    /// The history entry's id, unique across the server.
    pub id: u64,
    /// The machine's id in the environment.
    pub machine_id: String,
    pub script_id: u32,
    pub requested: DateTime<Utc>,
    pub username: String,
    /// The agent's report (exit code, output, errors), once it ran the script.
    pub results: Option<(i64, String, String)>,
    /// Exits with code 1 (an injected fault).
    pub will_fail: bool,
}

/// The operations served (method, path).
pub const OPERATIONS: [(&str, &str); 9] = [
    ("GET", "/clients/"),
    ("GET", "/clients/{id}/"),
    ("GET", "/agents/"),
    ("GET", "/agents/{agent_id}/"),
    ("GET", "/winupdate/{agent_id}/"),
    ("GET", "/scripts/"),
    ("GET", "/scripts/{id}/"),
    ("POST", "/agents/{agent_id}/runscript/"),
    ("GET", "/agents/{agent_id}/history/"),
];

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/tactical/clients/", get(clients))
        .route("/tactical/clients/{id}/", get(client))
        .route("/tactical/agents/", get(agents))
        .route("/tactical/agents/{agent_id}/", get(agent))
        .route("/tactical/winupdate/{agent_id}/", get(updates))
        .route("/tactical/scripts/", get(scripts))
        .route("/tactical/scripts/{id}/", get(script))
        .route("/tactical/agents/{agent_id}/runscript/", post(run_script))
        .route("/tactical/agents/{agent_id}/history/", get(history))
        .with_state(sandbox)
}

fn detail(status: StatusCode, message: &str) -> Response {
    let mut response = (status, Json(json!({"detail": message}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    }
    response
}

/// The `X-API-KEY` of a user limited to one customer's client.
struct ApiKey;

impl Gate for ApiKey {
    type Caller = Uuid;

    /// The customer whose API key the request carries.
    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Uuid, Response> {
        let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) else {
            return Err(detail(
                StatusCode::UNAUTHORIZED,
                "Authentication credentials were not provided.",
            ));
        };
        kit::customer_where(sandbox, |e| e.tactical_api_key() == key)
            .await
            .ok_or_else(|| detail(StatusCode::UNAUTHORIZED, "Invalid token."))
    }
}

/// A call with a valid API key, for its customer.
type Call = Admitted<ApiKey>;

/// The agent id Tactical's agent generated at install: 40 letters.
pub(super) fn agent_id(environment: &Environment, machine: &SimMachine) -> String {
    let digest = super::environment::Ids::new(environment.tenant_id)
        .secret(&format!("tactical-agent-{}", machine.id));
    digest
        .chars()
        .filter(char::is_ascii_alphabetic)
        .chain(std::iter::repeat('A'))
        .take(40)
        .collect()
}

fn site_name(machine: &SimMachine) -> &'static str {
    if machine.machine_tags.iter().any(|t| t == "Server") {
        "Server room"
    } else {
        "Office"
    }
}

fn client_json(environment: &Environment) -> Value {
    let id = environment.tactical_client_id();
    let sites: Vec<Value> = ["Office", "Server room"]
        .iter()
        .enumerate()
        .map(|(n, name)| {
            json!({
                "id": id * 10 + n as u32 + 1,
                "name": name,
                "client": id,
                "client_name": environment.tenant_name,
                "agent_count": environment.machines.iter().filter(|m| m.ninja.is_some() && site_name(m) == *name).count(),
                "maintenance_mode": false,
                "failing_checks": {"error": false, "warning": false},
            })
        })
        .collect();
    json!({
        "id": id,
        "name": environment.tenant_name,
        "server_policy": null,
        "workstation_policy": null,
        "alert_template": null,
        "block_policy_inheritance": false,
        "sites": sites,
        "custom_fields": [],
        "agent_count": environment.machines.iter().filter(|m| m.ninja.is_some()).count(),
        "maintenance_mode": false,
        "failing_checks": {"error": false, "warning": false},
    })
}

/// `online` within 4 minutes, `offline` within 30, `overdue` after (the server's defaults).
fn status(last_seen: DateTime<Utc>, now: DateTime<Utc>) -> &'static str {
    let age = now - last_seen;
    if age <= chrono::Duration::minutes(4) {
        "online"
    } else if age <= chrono::Duration::minutes(30) {
        "offline"
    } else {
        "overdue"
    }
}

fn agent_json(environment: &Environment, machine: &SimMachine, now: DateTime<Utc>) -> Value {
    let agent = machine.ninja.as_ref().expect("only managed machines");
    let server = site_name(machine) == "Server room";
    let pending = agent.patches.iter().any(|p| p.status == "APPROVED");
    json!({
        "agent_id": agent_id(environment, machine),
        "hostname": machine.host_name(),
        "description": "",
        "site_name": site_name(machine),
        "client_name": environment.tenant_name,
        "monitoring_type": if server { "server" } else { "workstation" },
        "status": status(agent.last_contact(now), now),
        "needs_reboot": false,
        "pending_actions_count": 0,
        "has_patches_pending": pending,
        "overdue_text_alert": false,
        "overdue_email_alert": false,
        "overdue_dashboard_alert": true,
        "last_seen": agent.last_contact(now),
        "boot_time": agent.last_contact(now).timestamp() - 86_400,
        "checks": {"total": 4, "passing": 4, "failing": 0, "warning": 0, "info": 0, "has_failing_checks": false},
        "maintenance_mode": false,
        "logged_username": "-",
        "italic": false,
        "block_policy_inheritance": false,
        "plat": "windows",
        "goarch": "amd64",
        "version": "2.8.0",
        "operating_system": if server {
            "Windows Server 2022 Standard, 64 bit v21H2 (build 20348.2849)"
        } else {
            "Windows 11 Pro, 64 bit v24H2 (build 26100.2314)"
        },
        "public_ip": "203.0.113.24",
        "cpu_model": ["Intel(R) Core(TM) Ultra 7 155U"],
        "graphics": "Intel(R) Graphics",
        "local_ips": format!("{}, fe80::215:5dff:fe00:1", machine.last_ip_address),
        "make_model": if server { "Dell Inc. PowerEdge T360" } else { "LENOVO ThinkPad T14 Gen 5" },
        "physical_disks": ["Samsung SSD 990 PRO 1TB 932GB"],
        "serial_number": Environment::serial_number(machine),
        "custom_fields": [],
        "alert_template": null,
        "policy": null,
    })
}

/// `GET /clients/`.
async fn clients(Admitted(sandbox, tenant): Call) -> Response {
    let found = with_environment(&sandbox, tenant, |e| vec![client_json(e)])
        .await
        .unwrap_or_default();
    Json(found).into_response()
}

/// `GET /clients/{id}/`.
async fn client(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    kit::own_record(
        (&sandbox, tenant),
        &id,
        Environment::tactical_client_id,
        client_json,
    )
    .await
    .map_or_else(
        || detail(StatusCode::NOT_FOUND, "Not found."),
        |c| Json(c).into_response(),
    )
}

/// `GET /agents/`: every agent the key's user sees, filtered by `client`, `site` and
/// `monitoring_type`.
async fn agents(QueryPairs(pairs): QueryPairs, Admitted(sandbox, tenant): Call) -> Response {
    let get = |name: &str| param(&pairs, name).map(str::to_owned);
    let monitoring = get("monitoring_type");
    if monitoring
        .as_deref()
        .is_some_and(|m| m != "server" && m != "workstation")
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!("monitoring type does not exist")),
        )
            .into_response();
    }
    let client = get("client");
    let site = get("site");
    let now = sandbox.inner.clock.now();
    let found = with_environment(&sandbox, tenant, |e| {
        let client_id = e.tactical_client_id();
        if client
            .as_deref()
            .is_some_and(|c| c != client_id.to_string())
        {
            return Vec::new();
        }
        e.machines
            .iter()
            .filter(|m| m.ninja.is_some())
            .filter(|m| {
                site.as_deref().is_none_or(|s| {
                    let n = if site_name(m) == "Office" { 1 } else { 2 };
                    s == (client_id * 10 + n).to_string()
                })
            })
            .map(|m| agent_json(e, m, now))
            .filter(|a| {
                monitoring
                    .as_deref()
                    .is_none_or(|kind| a["monitoring_type"] == kind)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Json(found).into_response()
}

fn find<'e>(environment: &'e Environment, agent: &str) -> Option<&'e SimMachine> {
    environment
        .machines
        .iter()
        .filter(|m| m.ninja.is_some())
        .find(|m| agent_id(environment, m) == agent)
}

/// `GET /agents/{agent_id}/`.
async fn agent(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    let now = sandbox.inner.clock.now();
    with_environment(&sandbox, tenant, |e| {
        find(e, &id).map(|m| agent_json(e, m, now))
    })
    .await
    .flatten()
    .map_or_else(
        || detail(StatusCode::NOT_FOUND, "Not found."),
        |a| Json(a).into_response(),
    )
}

fn update_json(n: usize, patch: &SimPatch) -> Value {
    let (installed, action, result) = match patch.status.as_str() {
        "INSTALLED" => (true, "approve", "success"),
        "APPROVED" => (false, "approve", "n/a"),
        "REJECTED" => (false, "ignore", "n/a"),
        "FAILED" => (false, "approve", "failed"),
        _ => (false, "nothing", "n/a"),
    };
    let severity = match patch.severity.as_str() {
        "CRITICAL" => "Critical",
        "IMPORTANT" => "Important",
        "MODERATE" => "Moderate",
        _ => "",
    };
    json!({
        "id": n + 1,
        "guid": patch.id,
        "kb": patch.kb_number,
        "title": patch.name,
        "installed": installed,
        "downloaded": installed,
        "description": patch.name,
        "severity": severity,
        "categories": [if patch.patch_type == "SECURITY_UPDATES" { "Security Updates" } else { "Update Rollups" }],
        "category_ids": [],
        "kb_article_ids": [patch.kb_number.trim_start_matches("KB")],
        "more_info_urls": [],
        "support_url": "",
        "revision_number": 200,
        "action": action,
        "result": result,
        "date_installed": patch.installed_at.map(|at| at.format("%m %d %Y %H:%M").to_string()),
    })
}

/// `GET /winupdate/{agent_id}/`.
async fn updates(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    with_environment(&sandbox, tenant, |e| {
        find(e, &id).map(|m| {
            let patches = &m.ninja.as_ref().expect("managed").patches;
            patches
                .iter()
                .enumerate()
                .rev()
                .map(|(n, p)| update_json(n, p))
                .collect::<Vec<_>>()
        })
    })
    .await
    .flatten()
    .map_or_else(
        || detail(StatusCode::NOT_FOUND, "Not found."),
        |u| Json(u).into_response(),
    )
}

fn script_json(script: &SimScript) -> Value {
    json!({
        "id": script.id,
        "name": script.name,
        "description": script.description,
        "shell": "powershell",
        "args": [],
        "env_vars": [],
        "category": "Security hardening",
        "favorite": false,
        "script_type": "userdefined",
        "default_timeout": 90,
        "syntax": "",
        "filename": null,
        "hidden": false,
        "supported_platforms": ["windows"],
        "run_as_user": false,
    })
}

/// `GET /scripts/`.
async fn scripts(_: Call) -> Response {
    Json(TACTICAL_SCRIPTS.iter().map(script_json).collect::<Vec<_>>()).into_response()
}

/// `GET /scripts/{id}/`.
async fn script(Path(id): Path<String>, _: Call) -> Response {
    TACTICAL_SCRIPTS
        .iter()
        .find(|s| id.parse::<u32>().ok() == Some(s.id))
        .map_or_else(
            || detail(StatusCode::NOT_FOUND, "Not found."),
            |s| Json(script_json(s)).into_response(),
        )
}

/// Django's answer to a request its view could not read.
fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<h1>Server Error (500)</h1>",
    )
        .into_response()
}

/// `POST /agents/{agent_id}/runscript/`.
async fn run_script(
    Path(id): Path<String>,
    Admitted(sandbox, tenant): Call,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": "JSON parse error"})),
        )
            .into_response();
    };
    // The view reads each field by name: a missing one is a KeyError, the server's 500.
    let fields = [
        "script",
        "output",
        "args",
        "run_as_user",
        "env_vars",
        "timeout",
    ];
    if fields.iter().any(|f| !body.contains_key(*f)) {
        return server_error();
    }
    let output = body["output"].as_str().unwrap_or_default().to_owned();
    let Some(script) = TACTICAL_SCRIPTS
        .iter()
        .find(|s| body["script"].as_u64() == Some(u64::from(s.id)))
    else {
        return detail(StatusCode::NOT_FOUND, "Not found.");
    };
    let now = sandbox.inner.clock.now();
    let queued = sandbox
        .mutate(tenant, |e| {
            let (machine_id, hostname) = find(e, &id).map(|m| (m.id.clone(), m.host_name()))?;
            let fault = Fault::FailNextTacticalScript {
                agent_id: id.clone(),
            };
            let will_fail = e.take_fault(&fault);
            let first = u64::from(e.tactical_client_id()) * 10_000;
            let next = e
                .tactical_runs
                .iter()
                .map(|r| r.id + 1)
                .max()
                .unwrap_or(first);
            e.tactical_runs.push(SimTacticalRun {
                id: next,
                machine_id,
                script_id: script.id,
                requested: now,
                username: "steward-api".to_owned(),
                results: None,
                will_fail,
            });
            let index = e.tactical_runs.len() - 1;
            if output == "wait" {
                report(e, index);
            }
            Some((hostname, e.tactical_runs[index].results.clone()))
        })
        .await;
    match queued {
        Ok(Some((hostname, results))) => match (output.as_str(), results) {
            ("wait", Some((_, stdout, stderr))) => {
                Json(json!(format!("{stdout}{stderr}"))).into_response()
            }
            // A silent agent does not answer within the timeout.
            ("wait", None) => Json(json!("Error: timed out waiting for the agent")).into_response(),
            _ => Json(json!(format!(
                "{} will now be run on {hostname}",
                script.name
            )))
            .into_response(),
        },
        _ => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}

/// The agent reports run `index` if it is live: its exit code and output, and the script's
/// effect on the machine.
fn report(environment: &mut Environment, index: usize) {
    let run = &environment.tactical_runs[index];
    if run.results.is_some() {
        return;
    }
    let Some(machine) = environment
        .machines
        .iter_mut()
        .find(|m| m.id == run.machine_id)
    else {
        return;
    };
    let Some(agent) = machine.ninja.as_mut() else {
        return;
    };
    if agent.silent_since.is_some() {
        return;
    }
    let script = TACTICAL_SCRIPTS
        .iter()
        .find(|s| s.id == run.script_id)
        .expect("runs are of library scripts");
    let results = if run.will_fail {
        (
            1,
            String::new(),
            format!("{}: access denied changing the setting", script.name),
        )
    } else {
        let (setting, value) = script.effect;
        agent.settings.insert(setting.to_owned(), value);
        (0, format!("{} done\n", script.name), String::new())
    };
    environment.tactical_runs[index].results = Some(results);
}

fn run_json(run: &SimTacticalRun, agent_pk: u64) -> Value {
    let script = TACTICAL_SCRIPTS
        .iter()
        .find(|s| s.id == run.script_id)
        .expect("runs are of library scripts");
    json!({
        "id": run.id,
        "script_name": script.name,
        "time": run.requested,
        "type": "script_run",
        "command": "",
        "username": run.username,
        "results": null,
        "script_results": run.results.as_ref().map(|(retcode, stdout, stderr)| json!({
            "id": run.id,
            "retcode": retcode,
            "stdout": stdout,
            "stderr": stderr,
            "execution_time": "1.2034",
        })),
        "collector_all_output": false,
        "save_to_agent_note": false,
        "agent": agent_pk,
        "script": run.script_id,
        "custom_field": null,
    })
}

/// `GET /agents/{agent_id}/history/`.
async fn history(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    let found = sandbox
        .mutate(tenant, |e| {
            let (machine_id, pk) = find(e, &id)
                .map(|m| (m.id.clone(), m.ninja.as_ref().expect("managed").device_id))?;
            let mine: Vec<usize> = (0..e.tactical_runs.len())
                .filter(|i| e.tactical_runs[*i].machine_id == machine_id)
                .collect();
            // What the server shows is what the agent had reported before this read.
            let listed: Vec<Value> = mine
                .iter()
                .map(|i| run_json(&e.tactical_runs[*i], pk))
                .collect();
            for index in mine {
                report(e, index);
            }
            Some(listed)
        })
        .await;
    match found {
        Ok(Some(listed)) => Json(listed).into_response(),
        _ => detail(StatusCode::NOT_FOUND, "Not found."),
    }
}
