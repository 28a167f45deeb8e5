//! NinjaOne's Public API v2 for the MSP's instance, as NinjaOne serves it at
//! `https://app.ninjarmm.com/…`: here `/sandbox/ninjaone/…` (see `docs/vendors/ninjaone.md`).
//!
//! Each simulated customer is one *organization*, and the API client Steward was given for it
//! sees that organization only (an MSP may create one client per customer, or Steward's tenant
//! may name the organization of a shared client: both read through the `df` filter).
//! - Authentication: `POST /ws/oauth/token` (also `/oauth/token`) with `grant_type=
//!   client_credentials`, `client_id`, `client_secret` and `scope` answers a bearer token that
//!   lives an hour; bad credentials are `401 {"error": "invalid_client"}`. A token without the
//!   `monitoring` scope cannot read (`403`). API calls without a valid token answer `401`.
//! - Devices: `GET /v2/devices` and `/v2/devices-detailed` return bare JSON arrays ordered by id,
//!   paged by `pageSize` and `after` (the last id of the previous page); `df` filters with
//!   NinjaOne's device-filter terms joined by `AND` (`org = 1`, `org in (1,2)`, `id = 5`,
//!   `class eq WINDOWS_SERVER`, `status eq APPROVED`, `online`, `offline`); anything else is
//!   `400`.
//! - Patch reports: `GET /v2/queries/os-patches` (missing patches) and
//!   `/v2/queries/os-patch-installs` (installations, `INSTALLED` or `FAILED`) answer
//!   `{"cursor": {"name", "offset", "count", "expires"}, "results": […]}`; the next page is asked
//!   for with `cursor={name}` (unknown or expired cursors are `400`).
//! - Errors: `{"resultCode", "errorMessage", "incidentId"}`. NinjaOne publishes no rate limit;
//!   injected storms answer `429` with `Retry-After`.
//!
//! (Over 800 lines on purpose: one vendor's simulated API, kept in one file to be read side by
//! side with NinjaOne's Public API v2 reference.)

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

mod simulated;

pub use self::simulated::*;
use super::{
    Sandbox, SandboxError,
    environment::{Environment, Fault, SimMachine, SimPatch, SimScript},
    kit::{
        self, Admitted, Answer, BadParameter, ClientCredentials, QueryPairs, Scoped, Scopes, Window,
    },
    param, with_environment,
};

/// Lifetime of issued tokens.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a report cursor stays valid.
const CURSOR_LIFETIME: Duration = Duration::from_secs(120);
/// `pageSize` when none is given, and the most a page holds.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The operations served (method, path), as the NinjaOne API names them.
pub const OPERATIONS: [(&str, &str); 11] = [
    ("POST", "/ws/oauth/token"),
    ("GET", "/v2/organizations"),
    ("GET", "/v2/organization/{id}"),
    ("GET", "/v2/devices"),
    ("GET", "/v2/devices-detailed"),
    ("GET", "/v2/device/{id}"),
    ("GET", "/v2/queries/os-patches"),
    ("GET", "/v2/queries/os-patch-installs"),
    ("GET", "/v2/device/{id}/scripting/options"),
    ("POST", "/v2/device/{id}/script/run"),
    ("GET", "/v2/device/{id}/activities"),
];

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/ninjaone/ws/oauth/token", post(token))
        .route("/ninjaone/oauth/token", post(token))
        .route("/ninjaone/v2/organizations", get(organizations))
        .route("/ninjaone/v2/organization/{id}", get(organization))
        .route("/ninjaone/v2/devices", get(devices))
        .route("/ninjaone/v2/devices-detailed", get(devices_detailed))
        .route("/ninjaone/v2/device/{id}", get(device))
        .route("/ninjaone/v2/queries/os-patches", get(os_patches))
        .route(
            "/ninjaone/v2/queries/os-patch-installs",
            get(os_patch_installs),
        )
        .route(
            "/ninjaone/v2/device/{id}/scripting/options",
            get(scripting_options),
        )
        .route("/ninjaone/v2/device/{id}/script/run", post(run_script))
        .route("/ninjaone/v2/device/{id}/activities", get(activities))
        .with_state(sandbox)
}

/// Where a report's next page starts.
#[derive(Debug)]
struct Cursor {
    tenant: Uuid,
    report: &'static str,
    served: usize,
    expires: Instant,
}

/// Issued tokens, report cursors and injected storms.
#[derive(Debug, Default)]
pub(super) struct NinjaState {
    tokens: kit::Tokens,
    cursors: Mutex<HashMap<String, Cursor>>,
    storms: super::throttle::Storms,
}

impl Sandbox {
    /// Makes the next `requests` NinjaOne API calls of `tenant_id` answer 429.
    pub fn throttle_ninjaone(&self, tenant_id: Uuid, requests: u32) {
        self.inner.ninja.storms.start(tenant_id, requests);
    }
}

fn incident_id() -> String {
    static INCIDENTS: AtomicU64 = AtomicU64::new(1);
    let n = INCIDENTS.fetch_add(1, Ordering::Relaxed);
    format!("{:08x}-{n:04x}", n.wrapping_mul(2_654_435_761) as u32)
}

/// NinjaOne's error body.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"resultCode": code, "errorMessage": message, "incidentId": incident_id()})),
    )
        .into_response()
}

/// `POST /ws/oauth/token`.
async fn token(State(sandbox): State<Sandbox>, Form(form): Form<ClientCredentials>) -> Response {
    if form.grant_type != "client_credentials" {
        return kit::oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let environments = sandbox.inner.environments.lock().await;
    let Some(environment) = environments.values().find(|e| {
        let (id, secret) = e.ninja_client();
        id == form.client_id && secret == form.client_secret
    }) else {
        return kit::oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let scopes = form.scopes(&["monitoring", "management", "control"]);
    if scopes.is_empty() {
        return kit::oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let scope = scopes.join(" ");
    let issued = sandbox
        .inner
        .ninja
        .tokens
        .issue(environment.tenant_id, scopes, TOKEN_LIFETIME);
    let Ok(access_token) = issued else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAILURE",
            "no randomness",
        );
    };
    kit::bearer_grant(&access_token, TOKEN_LIFETIME, &scope)
}

/// NinjaOne's API clients, whose tokens carry scopes.
struct Ninja;

impl Scopes for Ninja {
    const SCOPES: &'static [&'static str] = &["monitoring", "management"];

    /// The customer of the bearer token, if the token holds `scope`; the refusal (401, 403 or
    /// 429) otherwise.
    fn admit(sandbox: &Sandbox, headers: &HeaderMap, scope: &str) -> Result<Uuid, Response> {
        let Some(holder) = sandbox.inner.ninja.tokens.holder(headers) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Invalid or expired access token",
            ));
        };
        let (tenant, allowed) = (holder.tenant, holder.may(scope, &[]));
        if !allowed {
            return Err(error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                &format!("The token lacks the {scope} scope"),
            ));
        }
        if sandbox.inner.ninja.storms.hit(tenant) {
            return Err(kit::retry_after_a_second(error(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                "Rate limit exceeded",
            )));
        }
        Ok(tenant)
    }
}

/// A call whose token may read (`monitoring`), as every read needs.
type Monitoring = Admitted<Scoped<Ninja, 0>>;
/// A call whose token may run scripts (`management`).
type Management = Admitted<Scoped<Ninja, 1>>;

/// NinjaOne's refusal of a query parameter.
fn invalid(bad: &BadParameter) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "INVALID_PARAMETER",
        &bad.to_string(),
    )
}

/// The numeric query parameter `name`, if present.
fn number<T: std::str::FromStr>(
    pairs: &[(String, String)],
    name: &str,
) -> Result<Option<T>, Response> {
    kit::number(pairs, name).map_err(|bad| invalid(&bad))
}

/// `pageSize` within `1..=MAX_PAGE` (default `DEFAULT_PAGE`).
fn page_size(pairs: &[(String, String)]) -> Result<usize, Response> {
    kit::bounded(pairs, "pageSize", DEFAULT_PAGE, (1, MAX_PAGE)).map_err(|bad| invalid(&bad))
}

/// One term of a device filter.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Organizations(Vec<u32>),
    Ids(Vec<u64>),
    Classes(Vec<String>),
    Status(String),
    Online(bool),
}

/// Parses NinjaOne's device filter (`df`): terms joined by `AND`.
fn device_filter(df: &str) -> Result<Vec<Term>, String> {
    fn list<T: std::str::FromStr>(operator: &str, value: &str) -> Option<Vec<T>> {
        match operator {
            "=" | "eq" => value.trim().parse().ok().map(|v| vec![v]),
            "in" => value
                .trim()
                .strip_prefix('(')?
                .strip_suffix(')')?
                .split(',')
                .map(|v| v.trim().parse().ok())
                .collect(),
            _ => None,
        }
    }
    let mut terms = Vec::new();
    for part in split_and(df) {
        let part = part.trim();
        let lower = part.to_ascii_lowercase();
        if lower == "online" || lower == "offline" {
            terms.push(Term::Online(lower == "online"));
            continue;
        }
        let mut words = part.splitn(3, ' ');
        let (Some(key), Some(operator), Some(value)) = (words.next(), words.next(), words.next())
        else {
            return Err(format!("cannot read the filter term {part:?}"));
        };
        let operator = operator.to_ascii_lowercase();
        let term = match key.to_ascii_lowercase().as_str() {
            "org" | "organization" => list(&operator, value).map(Term::Organizations),
            "id" => list(&operator, value).map(Term::Ids),
            "class" => list::<String>(&operator, value)
                .map(|classes| Term::Classes(classes.iter().map(|c| c.to_uppercase()).collect())),
            "status" if matches!(operator.as_str(), "=" | "eq") => {
                Some(Term::Status(value.trim().to_uppercase()))
            }
            _ => None,
        };
        terms.push(term.ok_or_else(|| format!("cannot read the filter term {part:?}"))?);
    }
    Ok(terms)
}

/// Splits on ` AND ` in any case.
fn split_and(df: &str) -> Vec<&str> {
    let lower = df.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut start = 0;
    while let Some(found) = lower[start..].find(" and ") {
        parts.push(&df[start..start + found]);
        start += found + 5;
    }
    parts.push(&df[start..]);
    parts
}

fn offline(agent_contact: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - agent_contact > chrono::Duration::minutes(15)
}

fn node_class(machine: &SimMachine) -> &'static str {
    if machine.machine_tags.iter().any(|t| t == "Server") {
        "WINDOWS_SERVER"
    } else {
        "WINDOWS_WORKSTATION"
    }
}

fn matches(terms: &[Term], organization: u32, machine: &SimMachine, now: DateTime<Utc>) -> bool {
    let Some(agent) = &machine.ninja else {
        return false;
    };
    terms.iter().all(|term| match term {
        Term::Organizations(orgs) => orgs.contains(&organization),
        Term::Ids(ids) => ids.contains(&agent.device_id),
        Term::Classes(classes) => classes.iter().any(|c| c == node_class(machine)),
        Term::Status(status) => status == "APPROVED",
        Term::Online(online) => offline(agent.last_contact(now), now) != *online,
    })
}

fn epoch(at: DateTime<Utc>) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "epoch milliseconds of real dates are exact in f64"
    )]
    let millis = at.timestamp_millis() as f64;
    millis / 1000.0
}

/// The device as `GET /v2/devices` returns it.
fn device_json(environment: &Environment, machine: &SimMachine, now: DateTime<Utc>) -> Value {
    let agent = machine.ninja.as_ref().expect("only managed machines");
    let name = machine.host_name();
    json!({
        "id": agent.device_id,
        "uid": Uuid::from_u128(u128::from(agent.device_id)),
        "parentDeviceId": null,
        "organizationId": environment.ninja_organization_id(),
        "locationId": environment.ninja_organization_id() * 10 + 1,
        "nodeClass": node_class(machine),
        "nodeRoleId": if node_class(machine) == "WINDOWS_SERVER" { 2 } else { 1 },
        "rolePolicyId": 1,
        "policyId": null,
        "approvalStatus": "APPROVED",
        "offline": offline(agent.last_contact(now), now),
        "displayName": name,
        "systemName": name,
        "dnsName": machine.computer_dns_name,
        "netbiosName": name,
        "created": epoch(machine.first_seen),
        "lastContact": epoch(agent.last_contact(now)),
        "lastUpdate": epoch(agent.last_contact(now)),
        "tags": [],
        "maintenance": null,
    })
}

/// The device as `GET /v2/devices-detailed` and `GET /v2/device/{id}` return it.
fn detailed_json(environment: &Environment, machine: &SimMachine, now: DateTime<Utc>) -> Value {
    let mut device = device_json(environment, machine, now);
    let server = node_class(machine) == "WINDOWS_SERVER";
    let name = device["systemName"].clone();
    let extra = json!({
        "ipAddresses": [machine.last_ip_address],
        "macAddresses": [Environment::mac_address(machine).to_uppercase()],
        "publicIP": "203.0.113.24",
        "os": {
            "manufacturer": "Microsoft Corporation",
            "name": if server { "Windows Server 2022 Standard Edition" } else { "Windows 11 Professional Edition" },
            "architecture": "64-bit",
            "buildNumber": if server { "20348" } else { "26100" },
            "releaseId": machine.version,
            "needsReboot": false,
        },
        "system": {
            "name": name,
            "manufacturer": if server { "Dell Inc." } else { "LENOVO" },
            "model": if server { "PowerEdge T360" } else { "ThinkPad T14 Gen 5" },
            "biosSerialNumber": Environment::serial_number(machine),
            "serialNumber": Environment::serial_number(machine),
            "domain": environment.domain,
            "domainRole": if server { "MEMBER_SERVER" } else { "MEMBER_WORKSTATION" },
            "virtualMachine": false,
            "chassisType": if server { "DESKTOP" } else { "LAPTOP" },
        },
        "lastLoggedInUser": machine
            .primary_user
            .as_deref()
            .and_then(|id| environment.user(id))
            .map(|u| format!("{}\\{}", environment.domain.split('.').next().unwrap_or_default().to_uppercase(), u.given_name.to_lowercase())),
    });
    if let (Some(device), Some(extra)) = (device.as_object_mut(), extra.as_object()) {
        device.extend(extra.clone());
    }
    device
}

/// The managed machines `df` selects, ordered by id, after `after`, at most `size`.
fn select(
    environment: &Environment,
    pairs: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Vec<SimMachine>, Response> {
    let terms = match param(pairs, "df") {
        Some(df) => device_filter(df)
            .map_err(|message| error(StatusCode::BAD_REQUEST, "INVALID_FILTER", &message))?,
        None => Vec::new(),
    };
    let size = page_size(pairs)?;
    let after = number::<u64>(pairs, "after")?.unwrap_or(0);
    let organization = environment.ninja_organization_id();
    let mut machines: Vec<SimMachine> = environment
        .machines
        .iter()
        .filter(|m| matches(&terms, organization, m, now))
        .filter(|m| m.ninja.as_ref().is_some_and(|a| a.device_id > after))
        .cloned()
        .collect();
    machines.sort_by_key(|m| m.ninja.as_ref().map(|a| a.device_id));
    machines.truncate(size);
    Ok(machines)
}

/// The devices `pairs` select, each as `render` shows it: the device lists differ only so.
async fn list(
    Admitted(sandbox, tenant): Monitoring,
    pairs: &[(String, String)],
    render: fn(&Environment, &SimMachine, DateTime<Utc>) -> Value,
) -> Response {
    let now = sandbox.inner.clock.now();
    let answer = with_environment(&sandbox, tenant, |environment| {
        select(environment, pairs, now).map(|machines| {
            machines
                .iter()
                .map(|m| render(environment, m, now))
                .collect::<Vec<_>>()
        })
    })
    .await;
    match answer {
        Some(Ok(devices)) => Json(devices).into_response(),
        Some(Err(refused)) => refused,
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such instance"),
    }
}

/// `GET /v2/devices`.
async fn devices(QueryPairs(pairs): QueryPairs, call: Monitoring) -> Response {
    list(call, &pairs, device_json).await
}

/// `GET /v2/devices-detailed`.
async fn devices_detailed(QueryPairs(pairs): QueryPairs, call: Monitoring) -> Response {
    list(call, &pairs, detailed_json).await
}

/// `GET /v2/device/{id}`.
async fn device(Path(id): Path<String>, Admitted(sandbox, tenant): Monitoring) -> Answer {
    let id = device_id(&id)?;
    let now = sandbox.inner.clock.now();
    let found = with_environment(&sandbox, tenant, |environment| {
        managed(environment, id).map(|m| detailed_json(environment, m, now))
    })
    .await
    .flatten();
    match found {
        Some(device) => Ok(Json(device).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Device not found",
        )),
    }
}

fn organization_json(environment: &Environment) -> Value {
    json!({
        "id": environment.ninja_organization_id(),
        "name": environment.tenant_name,
        "description": format!("Managed customer {}", environment.domain),
        "userData": {},
        "nodeApprovalMode": "AUTOMATIC",
        "tags": [],
        "fields": {},
    })
}

/// `GET /v2/organizations`: the organizations the client sees (its customer's), by id after
/// `after`.
async fn organizations(
    QueryPairs(pairs): QueryPairs,
    Admitted(sandbox, tenant): Monitoring,
) -> Answer {
    page_size(&pairs)?;
    let after = number::<u32>(&pairs, "after")?.unwrap_or(0);
    let found = with_environment(&sandbox, tenant, |environment| {
        (environment.ninja_organization_id() > after)
            .then(|| organization_json(environment))
            .into_iter()
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Ok(Json(found).into_response())
}

/// `GET /v2/organization/{id}`.
async fn organization(Path(id): Path<String>, Admitted(sandbox, tenant): Monitoring) -> Response {
    let own_id = Environment::ninja_organization_id;
    let found = kit::own_record((&sandbox, tenant), &id, own_id, organization_json).await;
    match found {
        Some(organization) => Json(organization).into_response(),
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "Organization not found"),
    }
}

/// Which report rows a query returns.
#[derive(Clone, Copy)]
enum Report {
    /// `os-patches`: missing patches (a failed one among them).
    Missing,
    /// `os-patch-installs`: installations, successful or failed.
    Installs,
}

impl Report {
    const fn name(self) -> &'static str {
        match self {
            Report::Missing => "os-patches",
            Report::Installs => "os-patch-installs",
        }
    }

    fn includes(self, patch: &SimPatch) -> bool {
        match self {
            Report::Missing => patch.is_missing(),
            Report::Installs => patch.was_installed(),
        }
    }
}

fn patch_row(report: Report, device_id: u64, patch: &SimPatch) -> Value {
    let mut row = json!({
        "id": patch.id,
        "name": patch.name,
        "severity": patch.severity,
        "status": patch.status,
        "type": patch.patch_type,
        "kbNumber": patch.kb_number,
        "deviceId": device_id,
        "timestamp": epoch(patch.reported),
    });
    if matches!(report, Report::Installs) {
        row["installedAt"] = patch
            .installed_at
            .map_or(Value::Null, |at| json!(epoch(at)));
    }
    row
}

/// One page of `report`, continuing at the request's cursor: both patch reports page so.
async fn patch_report(
    Admitted(sandbox, tenant): Monitoring,
    pairs: &[(String, String)],
    report: Report,
) -> Answer {
    let size = page_size(pairs)?;
    let terms = param(pairs, "df")
        .map(device_filter)
        .transpose()
        .map_err(|message| error(StatusCode::BAD_REQUEST, "INVALID_FILTER", &message))?
        .unwrap_or_default();
    let status = param(pairs, "status").map(str::to_uppercase);
    // A cursor continues the report where its previous page ended.
    let offset = match param(pairs, "cursor") {
        None => 0,
        Some(name) => {
            let cursors = sandbox
                .inner
                .ninja
                .cursors
                .lock()
                .expect("cursor map poisoned");
            match cursors.get(name) {
                Some(cursor)
                    if cursor.tenant == tenant
                        && cursor.report == report.name()
                        && Instant::now() < cursor.expires =>
                {
                    cursor.served
                }
                _ => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "INVALID_CURSOR",
                        "The cursor is unknown or has expired",
                    ));
                }
            }
        }
    };
    let now = sandbox.inner.clock.now();
    let rows = with_environment(&sandbox, tenant, |environment| {
        let organization = environment.ninja_organization_id();
        let mut rows: Vec<(u64, Value)> = Vec::new();
        for machine in &environment.machines {
            if !matches(&terms, organization, machine, now) {
                continue;
            }
            let Some(agent) = &machine.ninja else {
                continue;
            };
            for patch in agent.patches.iter().filter(|p| report.includes(p)) {
                if status.as_deref().is_some_and(|s| s != patch.status) {
                    continue;
                }
                rows.push((agent.device_id, patch_row(report, agent.device_id, patch)));
            }
        }
        rows.sort_by_key(|(device, _)| *device);
        rows.into_iter().map(|(_, row)| row).collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let total = rows.len();
    let page = Window { offset, size }.slice(rows);
    let served = offset + page.len();
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAILURE",
            "no randomness",
        ));
    }
    let name = hex::encode(bytes);
    sandbox
        .inner
        .ninja
        .cursors
        .lock()
        .expect("cursor map poisoned")
        .insert(
            name.clone(),
            Cursor {
                tenant,
                report: report.name(),
                served,
                expires: Instant::now() + CURSOR_LIFETIME,
            },
        );
    #[expect(
        clippy::cast_precision_loss,
        reason = "an expiry epoch in seconds is exact in f64"
    )]
    let expires = (now + chrono::Duration::seconds(120)).timestamp() as f64;
    Ok(Json(json!({
        "cursor": {"name": name, "offset": offset, "count": total, "expires": expires},
        "results": page,
    }))
    .into_response())
}

/// `GET /v2/queries/os-patches`.
async fn os_patches(QueryPairs(pairs): QueryPairs, call: Monitoring) -> Answer {
    patch_report(call, &pairs, Report::Missing).await
}

/// `GET /v2/queries/os-patch-installs`.
async fn os_patch_installs(QueryPairs(pairs): QueryPairs, call: Monitoring) -> Answer {
    patch_report(call, &pairs, Report::Installs).await
}

/// The machine with NinjaOne device id `id`.
fn managed(environment: &Environment, id: u64) -> Option<&SimMachine> {
    environment
        .machines
        .iter()
        .find(|m| m.ninja.as_ref().is_some_and(|a| a.device_id == id))
}

/// The device id of a path; NinjaOne refuses one that is not a number.
fn device_id(raw_id: &str) -> Result<u64, Response> {
    raw_id.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETER",
            "id must be a number",
        )
    })
}

fn script_json(script: &SimScript) -> Value {
    json!({
        "type": "SCRIPT",
        "id": script.id,
        "uid": script.uid(),
        "name": script.name,
        "language": "powershell",
        "description": script.description,
        "architecture": ["64"],
        "categoryId": 1,
    })
}

/// `GET /v2/device/{id}/scripting/options`: the library scripts the device can run.
async fn scripting_options(
    Path(id): Path<String>,
    Admitted(sandbox, tenant): Monitoring,
) -> Answer {
    let id = device_id(&id)?;
    let known = with_environment(&sandbox, tenant, |e| managed(e, id).is_some())
        .await
        .unwrap_or(false);
    if !known {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Device not found",
        ));
    }
    Ok(Json(json!({
        "categories": [{"id": 1, "name": "Security hardening", "internal": false}],
        "scripts": NINJA_SCRIPTS.iter().map(script_json).collect::<Vec<_>>(),
        "credentials": {"roles": ["system", "loggedonuser"], "credentials": []},
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunScript {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: Option<u32>,
    #[serde(default)]
    run_as: Option<String>,
}

/// `POST /v2/device/{id}/script/run` with `{"type": "SCRIPT", "id": …, "runAs": …}`: `204`,
/// the run queued in the device's activity log. Needs the `management` scope.
async fn run_script(
    Path(id): Path<String>,
    Admitted(sandbox, tenant): Management,
    body: Bytes,
) -> Answer {
    let id = device_id(&id)?;
    let bad_request = |code: &str, message: &str| error(StatusCode::BAD_REQUEST, code, message);
    let run = serde_json::from_slice::<RunScript>(&body).map_err(|_| {
        bad_request(
            "INVALID_REQUEST",
            "body must be {\"type\": \"SCRIPT\", \"id\": …, \"runAs\": …}",
        )
    })?;
    let Some(script) = NINJA_SCRIPTS
        .iter()
        .find(|s| run.kind == "SCRIPT" && Some(s.id) == run.id)
    else {
        return Err(bad_request(
            "SCRIPT_NOT_FOUND",
            "No script with this id in the automation library",
        ));
    };
    if run
        .run_as
        .as_deref()
        .is_some_and(|r| !matches!(r, "system" | "loggedonuser"))
    {
        return Err(bad_request(
            "INVALID_CREDENTIAL",
            "runAs must be system or loggedonuser",
        ));
    }
    let now = sandbox.inner.clock.now();
    let queued = sandbox
        .mutate(tenant, |e| {
            managed(e, id)?;
            let fault = Fault::FailNextScript { device_id: id };
            let will_fail = e.take_fault(&fault);
            let first = u64::from(e.ninja_organization_id()) * 100_000;
            let next = e
                .ninja_activities
                .iter()
                .map(|a| a.id + 1)
                .max()
                .unwrap_or(first);
            e.ninja_activities.push(SimActivity {
                id: next,
                device_id: id,
                script_id: script.id,
                requested: now,
                status_code: "START_REQUESTED".to_owned(),
                result: None,
                will_fail,
            });
            Some(())
        })
        .await;
    found_on_device(queued, |()| StatusCode::NO_CONTENT.into_response())
}

/// The answer of a change or read of one device: NinjaOne's 404 when there is no such device
/// (or customer).
fn found_on_device<T>(
    found: Result<Option<T>, SandboxError>,
    answer: impl FnOnce(T) -> Response,
) -> Answer {
    match found {
        Ok(Some(found)) => Ok(answer(found)),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Device not found",
        )),
        Err(_) => Err(error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "no such instance",
        )),
    }
}

fn activity_json(activity: &SimActivity) -> Value {
    let script = NINJA_SCRIPTS
        .iter()
        .find(|s| s.id == activity.script_id)
        .expect("activities are of library scripts");
    let status = match activity.status_code.as_str() {
        "START_REQUESTED" => "Start requested",
        "IN_PROCESS" => "In process",
        _ => "Completed",
    };
    json!({
        "id": activity.id,
        "activityTime": epoch(activity.requested),
        "deviceId": activity.device_id,
        "severity": "NONE",
        "priority": "NONE",
        "seriesUid": Uuid::from_u128(u128::from(activity.id)),
        "activityType": "SCRIPTING",
        "statusCode": activity.status_code,
        "status": status,
        "activityResult": activity.result,
        "sourceConfigUid": script.uid(),
        "sourceName": script.name,
        "subject": format!("Script {} run on device", script.name),
        "message": format!("{} {}", script.name, status.to_lowercase()),
        "type": "Script",
    })
}

/// Moves a queued run one step on (a silent agent never picks it up); a completed successful
/// run applies the script's effect.
fn advance(environment: &mut Environment, index: usize) {
    let device = environment.ninja_activities[index].device_id;
    let Some(machine) = environment
        .machines
        .iter_mut()
        .find(|m| m.ninja.as_ref().is_some_and(|a| a.device_id == device))
    else {
        return;
    };
    let agent = machine.ninja.as_mut().expect("managed");
    if agent.silent_since.is_some() {
        return;
    }
    let activity = &mut environment.ninja_activities[index];
    match activity.status_code.as_str() {
        "START_REQUESTED" => activity.status_code = "IN_PROCESS".to_owned(),
        "IN_PROCESS" => {
            activity.status_code = "COMPLETED".to_owned();
            if activity.will_fail {
                activity.result = Some("FAILURE".to_owned());
            } else {
                activity.result = Some("SUCCESS".to_owned());
                if let Some(script) = NINJA_SCRIPTS.iter().find(|s| s.id == activity.script_id) {
                    let (setting, value) = script.effect;
                    agent.settings.insert(setting.to_owned(), value);
                }
            }
        }
        _ => {}
    }
}

/// `GET /v2/device/{id}/activities`: the device's activity log, newest first, at most
/// `pageSize` (10–1000, default 200), optionally only those with an id above `newerThan` or of
/// `activityType`. Each read moves queued script runs on.
async fn activities(
    Path(id): Path<String>,
    QueryPairs(pairs): QueryPairs,
    Admitted(sandbox, tenant): Monitoring,
) -> Answer {
    let id = device_id(&id)?;
    // The activity log pages from 10 to 1,000 entries (200 by default).
    let size = kit::bounded(&pairs, "pageSize", 200, (10, 1000)).map_err(|bad| invalid(&bad))?;
    let newer_than = number::<u64>(&pairs, "newerThan")?.unwrap_or(0);
    let kind = param(&pairs, "activityType").map(str::to_owned);
    let found = sandbox
        .mutate(tenant, |e| {
            managed(e, id)?;
            let mine: Vec<usize> = (0..e.ninja_activities.len())
                .filter(|i| e.ninja_activities[*i].device_id == id)
                .collect();
            let last = mine
                .iter()
                .map(|i| e.ninja_activities[*i].id)
                .max()
                .unwrap_or(0);
            let mut listed: Vec<Value> = Vec::new();
            for index in mine.into_iter().rev() {
                let activity = &e.ninja_activities[index];
                if activity.id <= newer_than || kind.as_deref().is_some_and(|k| k != "SCRIPTING") {
                    continue;
                }
                listed.push(activity_json(activity));
                advance(e, index);
            }
            listed.truncate(size);
            Some(json!({"lastActivityId": last, "activities": listed}))
        })
        .await;
    found_on_device(found, |answer| Json(answer).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_filters_read_ninjaones_terms_and_refuse_others() {
        assert_eq!(
            device_filter("org = 12").unwrap(),
            [Term::Organizations(vec![12])]
        );
        assert_eq!(
            device_filter("org in (1, 2) AND class eq windows_server and online").unwrap(),
            [
                Term::Organizations(vec![1, 2]),
                Term::Classes(vec!["WINDOWS_SERVER".into()]),
                Term::Online(true),
            ]
        );
        for bad in ["org", "org = twelve", "name = x", "org ~ 1", "org in 1,2"] {
            assert!(device_filter(bad).is_err(), "{bad} was accepted");
        }
    }
}
