//! Datto's REST API v1 for the MSP's partner account, as Datto serves it at
//! `https://api.datto.com/v1/…`: here `/sandbox/datto/v1/…` (see `docs/vendors/datto-bcdr.md`).
//!
//! The partner's API keys see every customer's appliances, as Datto's do: each simulated
//! customer has one SIRIS appliance, named for its company (`clientCompanyName`), protecting its
//! file server.
//! - Authentication: HTTP Basic with the public and secret key; anything else is `401`.
//! - `GET /bcdr/device` (`showHiddenDevices`), `GET /bcdr/device/{serialNumber}` and
//!   `GET /bcdr/device/{serialNumber}/asset/agent`, paged by `_page` (from 1) and `_perPage`
//!   (1–100, default 100) as `{"pagination": {"page", "perPage", "totalPages", "count"},
//!   "items": […]}`; an unknown appliance is `404`.
//! - Errors: `{"code", "message"}`. Injected storms answer `429` with `Retry-After`.

use std::sync::Mutex;

use axum::{
    Json, Router,
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{
    Sandbox,
    environment::{Environment, Ids, SimMachine},
    kit::{self, Admitted, Gate, PageSize, QueryPairs, Window},
};

/// The operations served (method, path below `/v1`).
pub const OPERATIONS: [(&str, &str); 3] = [
    ("GET", "/bcdr/device"),
    ("GET", "/bcdr/device/{serialNumber}"),
    ("GET", "/bcdr/device/{serialNumber}/asset/agent"),
];

/// How Datto pages its lists: `_page` from 1 and `_perPage` up to 100 (the default).
const PAGE_SIZE: PageSize = PageSize {
    name: "_perPage",
    default: 100,
    max: 100,
};

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/datto/v1/bcdr/device", get(appliances))
        .route("/datto/v1/bcdr/device/{serial}", get(appliance))
        .route("/datto/v1/bcdr/device/{serial}/asset/agent", get(agents))
        .with_state(sandbox)
}

/// Requests still to answer 429, for the whole partner account.
#[derive(Debug, Default)]
pub(super) struct DattoState {
    storm: Mutex<u32>,
}

impl Sandbox {
    /// Makes the next `requests` Datto API calls answer 429.
    pub fn throttle_datto(&self, requests: u32) {
        *self.inner.datto.storm.lock().expect("storm poisoned") = requests;
    }
}

/// The partner account's API keys (public, secret): one pair for every customer.
#[must_use]
pub fn partner_keys() -> (String, String) {
    let ids = Ids::new(uuid::Uuid::nil());
    (
        ids.secret("datto-public-key")[..20].to_owned(),
        ids.secret("datto-secret-key"),
    )
}

/// The serial number of a customer's appliance: twelve hexadecimal digits, as a MAC address.
#[must_use]
pub fn appliance_serial(environment: &Environment) -> String {
    Ids::new(environment.tenant_id).machine("datto-appliance")[..12].to_uppercase()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"code": status.as_u16(), "message": message})),
    )
        .into_response()
}

/// The partner account's API keys, which see every customer.
struct PartnerKeys;

impl Gate for PartnerKeys {
    /// The partner, not one customer.
    type Caller = ();

    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<(), Response> {
        let (public, secret) = partner_keys();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{public}:{secret}"))
        );
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(&expected)
        {
            return Err(error(StatusCode::UNAUTHORIZED, "Invalid API credentials"));
        }
        let mut storm = sandbox.inner.datto.storm.lock().expect("storm poisoned");
        if *storm > 0 {
            *storm -= 1;
            return Err(kit::retry_after_a_second(error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
            )));
        }
        Ok(())
    }
}

/// A call with the partner's keys.
type Call = Admitted<PartnerKeys>;

fn paged(pairs: &[(String, String)], items: Vec<Value>) -> Response {
    let (page, window) = match Window::by_page_number(pairs, "_page", PAGE_SIZE) {
        Ok(window) => window,
        Err(bad) => return error(StatusCode::BAD_REQUEST, &bad.to_string()),
    };
    let count = items.len();
    let total_pages = count.div_ceil(window.size).max(1);
    let items = window.slice(items);
    Json(json!({
        "pagination": {"page": page, "perPage": window.size, "totalPages": total_pages, "count": count},
        "items": items,
    }))
    .into_response()
}

fn servers(environment: &Environment) -> impl Iterator<Item = &SimMachine> {
    environment
        .machines
        .iter()
        .filter(|m| m.backup.is_some() && m.machine_tags.iter().any(|t| t == "Server"))
}

fn appliance_json(environment: &Environment, now: DateTime<Utc>) -> Value {
    json!({
        "serialNumber": appliance_serial(environment),
        "name": format!("{}-siris", environment.domain.split('.').next().unwrap_or("customer")),
        "model": "S5-2",
        "servicePlan": "Infinite Cloud Retention",
        "lastSeenDate": now - Duration::minutes(3),
        "hidden": false,
        "clientCompanyName": environment.tenant_name,
        "resellerCompanyName": "Harbor IT",
        "agentCount": servers(environment).count(),
        "shareCount": 0,
        "alertCount": servers(environment).filter(|m| m.backup.as_ref().is_some_and(|b| b.failing_since.is_some())).count(),
    })
}

fn agent_json(machine: &SimMachine, now: DateTime<Utc>) -> Value {
    let backup = machine
        .backup
        .as_ref()
        .expect("protected machines have a backup");
    let last_run = backup.last_run(now);
    let backups: Vec<Value> = (0..3)
        .map(|days| {
            let at = last_run - Duration::days(days);
            let failed = backup.failing_since.is_some_and(|since| at > since);
            json!({
                "timestamp": at.timestamp(),
                "backup": if failed {
                    json!({"status": "failed", "errorMessage": "Unable to take a snapshot: the VSS writer timed out"})
                } else {
                    json!({"status": "success", "errorMessage": null})
                },
                "localVerification": {"status": "success", "errors": []},
            })
        })
        .collect();
    json!({
        "name": machine.host_name(),
        "volume": format!("{}", backup.agent_uid.simple()),
        "localIp": machine.last_ip_address,
        "os": "Windows Server 2022 Standard",
        "fqdn": machine.computer_dns_name,
        "agentVersion": "3.4.11",
        "isPaused": false,
        "isArchived": false,
        "lastSnapshot": backup.latest_restore_point(now).timestamp(),
        "latestOffsite": (backup.latest_restore_point(now) - Duration::hours(2)).timestamp(),
        "backups": backups,
        "type": "agent",
    })
}

/// `GET /bcdr/device`: every customer's appliance.
async fn appliances(QueryPairs(pairs): QueryPairs, Admitted(sandbox, ()): Call) -> Response {
    let now = sandbox.now();
    let mut items: Vec<Value> = {
        let environments = sandbox.inner.environments.lock().await;
        environments
            .values()
            .filter(|e| servers(e).next().is_some())
            .map(|e| appliance_json(e, now))
            .collect()
    };
    items.sort_by(|a, b| a["serialNumber"].as_str().cmp(&b["serialNumber"].as_str()));
    paged(&pairs, items)
}

async fn find<T>(
    sandbox: &Sandbox,
    serial: &str,
    read: impl FnOnce(&Environment, DateTime<Utc>) -> T,
) -> Option<T> {
    let now = sandbox.now();
    let environments = sandbox.inner.environments.lock().await;
    environments
        .values()
        .filter(|e| servers(e).next().is_some())
        .find(|e| appliance_serial(e) == serial)
        .map(|e| read(e, now))
}

/// `GET /bcdr/device/{serialNumber}`.
async fn appliance(Path(serial): Path<String>, Admitted(sandbox, ()): Call) -> Response {
    match find(&sandbox, &serial, appliance_json).await {
        Some(appliance) => Json(appliance).into_response(),
        None => error(StatusCode::NOT_FOUND, "Device not found"),
    }
}

/// `GET /bcdr/device/{serialNumber}/asset/agent`.
async fn agents(
    Path(serial): Path<String>,
    QueryPairs(pairs): QueryPairs,
    Admitted(sandbox, ()): Call,
) -> Response {
    let found = find(&sandbox, &serial, |e, now| {
        servers(e).map(|m| agent_json(m, now)).collect::<Vec<_>>()
    })
    .await;
    match found {
        Some(items) => paged(&pairs, items),
        None => error(StatusCode::NOT_FOUND, "Device not found"),
    }
}
