//! The REST API v3 of the MSP's Veeam Service Provider Console, as it serves it at
//! `https://{server}:1280/api/v3/…`: here `/sandbox/veeam/api/v3/…` (see
//! `docs/vendors/veeam-spc.md`).
//!
//! Each simulated customer is one *company* of the console, and the API key Steward was given
//! for it sees that company only.
//! - Authentication: `Authorization: Bearer {API key}`; none or another is `401`.
//! - Answers: `{"meta": {"pagingInfo": {"total", "count", "offset"}}, "data": …, "errors":
//!   null}`; lists are paged by `limit` (1–500, default 100) and `offset`, and filtered by
//!   `filter` (a JSON array of `{"property", "operation", "value"}`; `equals` on
//!   `organizationUid`, `name` and `backupAgentUid` is understood, anything else is `400`).
//! - Errors: `{"errors": [{"message", "type", "code"}]}`. Past an injected storm, `429` with
//!   `retryAfter` (seconds) in the body and no header, as the console sends it.
//! - `GET /organizations/companies/{companyUid}`, `GET /infrastructure/backupAgents`,
//!   `GET /infrastructure/backupAgents/jobs`, `GET /protectedWorkloads/computersManagedByConsole`,
//!   and `POST /infrastructure/backupAgents/{agent}/jobs/{job}/start`: the job then runs for the
//!   next two reads of the job list (`409` if started again meanwhile) and ends `Success` with a
//!   new restore point, or `Failed` for a job that keeps failing.

use axum::{
    Json, Router,
    extract::Path,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{Environment, SimBackup, SimMachine},
    kit::{self, Admitted, Answer, Gate, PageSize, QueryPairs, Window},
    param, with_environment,
};

/// The operations served (method, path below `/api/v3`).
pub const OPERATIONS: [(&str, &str); 5] = [
    ("GET", "/organizations/companies/{companyUid}"),
    ("GET", "/infrastructure/backupAgents"),
    ("GET", "/infrastructure/backupAgents/jobs"),
    (
        "POST",
        "/infrastructure/backupAgents/{backupAgentUid}/jobs/{backupAgentJobUid}/start",
    ),
    ("GET", "/protectedWorkloads/computersManagedByConsole"),
];

/// Job reads a started run shows as running for.
const RUNNING_READS: u32 = 2;

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route(
            "/veeam/api/v3/organizations/companies/{company}",
            get(company),
        )
        .route("/veeam/api/v3/infrastructure/backupAgents", get(agents))
        .route("/veeam/api/v3/infrastructure/backupAgents/jobs", get(jobs))
        .route(
            "/veeam/api/v3/infrastructure/backupAgents/{agent}/jobs/{job}/start",
            post(start_job),
        )
        .route(
            "/veeam/api/v3/protectedWorkloads/computersManagedByConsole",
            get(protected),
        )
        .with_state(sandbox)
}

impl Sandbox {
    /// Makes the next `requests` console API calls of `tenant_id` answer 429.
    pub fn throttle_veeam(&self, tenant_id: Uuid, requests: u32) {
        self.inner.veeam.start(tenant_id, requests);
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"message": message, "type": kind, "code": status.as_u16()}]})),
    )
        .into_response()
}

/// The console's API keys, each limited to one customer's company.
struct ApiKey;

impl Gate for ApiKey {
    type Caller = Uuid;

    /// The customer whose API key the request carries; the refusal (401 or 429) otherwise.
    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Uuid, Response> {
        let key = kit::bearer(headers).unwrap_or_default();
        let presented = |e: &Environment| !key.is_empty() && e.veeam_api_key() == key;
        let Some(tenant) = kit::customer_where(sandbox, presented).await else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "security",
                "Authorization has been denied for this request.",
            ));
        };
        if sandbox.inner.veeam.hit(tenant) {
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"errors": [{"message": "Too many requests.", "type": "transport", "code": 429, "retryAfter": 1}]})),
            )
                .into_response());
        }
        Ok(tenant)
    }
}

/// A call with a valid API key, for its customer.
type Call = Admitted<ApiKey>;

#[derive(Deserialize)]
struct Condition {
    property: String,
    operation: String,
    value: Value,
}

/// How Veeam pages its lists: `offset` and `limit` up to 500 (default 100).
const PAGE_SIZE: PageSize = PageSize {
    name: "limit",
    default: 100,
    max: 500,
};

/// `limit`, `offset` and the `filter` conditions of a list request.
fn window(pairs: &[(String, String)]) -> Result<(Window, Vec<Condition>), Response> {
    let window = Window::by_offset(pairs, "offset", PAGE_SIZE)
        .map_err(|bad| error(StatusCode::BAD_REQUEST, "logical", &format!("{bad}.")))?;
    let conditions: Vec<Condition> = match param(pairs, "filter") {
        None => Vec::new(),
        Some(filter) => serde_json::from_str(filter).map_err(|_| {
            error(
                StatusCode::BAD_REQUEST,
                "logical",
                "The filter is not a JSON array of conditions.",
            )
        })?,
    };
    for condition in &conditions {
        if condition.operation != "equals"
            || !matches!(
                condition.property.as_str(),
                "organizationUid" | "name" | "backupAgentUid"
            )
        {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "logical",
                &format!(
                    "Filtering by {} with {} is not supported.",
                    condition.property, condition.operation
                ),
            ));
        }
    }
    Ok((window, conditions))
}

fn page(items: Vec<Value>, conditions: &[Condition], window: Window) -> Response {
    let items: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            conditions
                .iter()
                .all(|c| item.get(&c.property) == Some(&c.value))
        })
        .collect();
    let total = items.len();
    let data = window.slice(items);
    Json(json!({
        "meta": {"pagingInfo": {"total": total, "count": data.len(), "offset": window.offset}},
        "data": data,
        "errors": null,
    }))
    .into_response()
}

fn backed_up(environment: &Environment) -> impl Iterator<Item = (&SimMachine, &SimBackup)> {
    environment
        .machines
        .iter()
        .filter_map(|m| m.backup.as_ref().map(|b| (m, b)))
}

fn server(machine: &SimMachine) -> bool {
    machine.machine_tags.iter().any(|t| t == "Server")
}

/// The page of backed-up machines `pairs` ask for, each as `render` shows it: the lists differ
/// only so.
async fn list(
    sandbox: &Sandbox,
    tenant: Uuid,
    pairs: &[(String, String)],
    render: fn(&Environment, &SimMachine, &SimBackup, DateTime<Utc>) -> Value,
) -> Answer {
    let (window, conditions) = window(pairs)?;
    let now = sandbox.inner.clock.now();
    let items = with_environment(sandbox, tenant, |e| {
        backed_up(e)
            .map(|(m, b)| render(e, m, b, now))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Ok(page(items, &conditions, window))
}

fn agent_json(e: &Environment, m: &SimMachine, b: &SimBackup, _now: DateTime<Utc>) -> Value {
    json!({
        "instanceUid": b.agent_uid,
        "agentPlatform": "Windows",
        "status": "Active",
        "managementAgentStatus": "Healthy",
        "organizationUid": e.veeam_company_uid(),
        "name": m.host_name(),
        "operationMode": if server(m) { "Server" } else { "Workstation" },
        "guiMode": "ReadOnly",
        "platform": if server(m) { "Windows Server 2022" } else { "Windows 11" },
        "version": "6.3.0.177",
        "managementMode": "ManagedByConsole",
        "totalJobsCount": 1,
        "runningJobsCount": 0,
        "successJobsCount": u32::from(b.failing_since.is_none()),
    })
}

/// The id of the agent's job: one job per agent.
fn job_uid(backup: &SimBackup) -> Uuid {
    Uuid::from_u128(backup.job_uid.as_u128() ^ backup.agent_uid.as_u128())
}

fn job_json(e: &Environment, _m: &SimMachine, b: &SimBackup, now: DateTime<Utc>) -> Value {
    let last_run = b.last_run(now);
    let status = if b.running_reads > 0 {
        "Running"
    } else if b.failing_since.is_some() {
        "Failed"
    } else {
        "Success"
    };
    json!({
        "instanceUid": job_uid(b),
        "backupAgentUid": b.agent_uid,
        "organizationUid": e.veeam_company_uid(),
        "name": b.job_name,
        "status": status,
        "lastRun": last_run,
        "lastEndTime": last_run + chrono::Duration::minutes(14),
        "lastDuration": 840,
        "nextRun": last_run + chrono::Duration::days(1),
        "isEnabled": true,
        "scheduleType": "Daily",
        "targetType": "Cloud",
        "failureMessage": b.failing_since.map(|_| "Failed to connect to the cloud repository: the storage quota is exceeded"),
    })
}

fn protected_json(e: &Environment, m: &SimMachine, b: &SimBackup, now: DateTime<Utc>) -> Value {
    json!({
        "backupAgentUid": b.agent_uid,
        "organizationUid": e.veeam_company_uid(),
        "name": m.host_name(),
        "numberOfJobs": 1,
        "operationMode": if server(m) { "Server" } else { "Workstation" },
        "latestRestorePointDate": b.latest_restore_point(now),
    })
}

/// `GET /infrastructure/backupAgents`.
async fn agents(QueryPairs(pairs): QueryPairs, Admitted(sandbox, tenant): Call) -> Answer {
    list(&sandbox, tenant, &pairs, agent_json).await
}

/// `GET /infrastructure/backupAgents/jobs`. Each read moves a started run on.
async fn jobs(QueryPairs(pairs): QueryPairs, Admitted(sandbox, tenant): Call) -> Answer {
    let listed = list(&sandbox, tenant, &pairs, job_json).await?;
    let _ = sandbox
        .mutate(tenant, |e| {
            for machine in &mut e.machines {
                if let Some(backup) = machine.backup.as_mut() {
                    backup.running_reads = backup.running_reads.saturating_sub(1);
                }
            }
        })
        .await;
    Ok(listed)
}

/// `POST /infrastructure/backupAgents/{agent}/jobs/{job}/start`: `200`, the job running for
/// the next reads; `409` while it runs already.
async fn start_job(
    Path((agent, job)): Path<(String, String)>,
    Admitted(sandbox, tenant): Call,
) -> Response {
    let (Ok(agent), Ok(job)) = (agent.parse::<Uuid>(), job.parse::<Uuid>()) else {
        return error(StatusCode::NOT_FOUND, "logical", "The job was not found.");
    };
    let now = sandbox.inner.clock.now();
    let started = sandbox
        .mutate(tenant, |e| {
            let backup = e
                .machines
                .iter_mut()
                .filter_map(|m| m.backup.as_mut())
                .find(|b| b.agent_uid == agent && job_uid(b) == job)?;
            if backup.running_reads > 0 {
                return Some(false);
            }
            backup.manual_run = Some(now);
            backup.running_reads = RUNNING_READS;
            Some(true)
        })
        .await;
    match started {
        Ok(Some(true)) => Json(json!({"meta": null, "data": null, "errors": null})).into_response(),
        Ok(Some(false)) => error(
            StatusCode::CONFLICT,
            "logical",
            "The job is already running.",
        ),
        _ => error(StatusCode::NOT_FOUND, "logical", "The job was not found."),
    }
}

/// `GET /protectedWorkloads/computersManagedByConsole`.
async fn protected(QueryPairs(pairs): QueryPairs, Admitted(sandbox, tenant): Call) -> Answer {
    list(&sandbox, tenant, &pairs, protected_json).await
}

/// `GET /organizations/companies/{companyUid}`: the key's own company, else 404.
async fn company(Path(company): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    let own_company = |e: &Environment| {
        json!({
            "instanceUid": e.veeam_company_uid(),
            "name": e.tenant_name,
            "status": "Active",
            "isRestAccessEnabled": false,
            "isAlarmDetectEnabled": true,
        })
    };
    let found = kit::own_record(
        (&sandbox, tenant),
        &company,
        Environment::veeam_company_uid,
        own_company,
    )
    .await;
    match found {
        Some(company) => {
            Json(json!({"meta": null, "data": company, "errors": null})).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            "logical",
            &format!("Company {company} was not found."),
        ),
    }
}
