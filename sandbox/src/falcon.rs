//! CrowdStrike Falcon's API for each simulated customer, as Falcon serves it at
//! `https://api.crowdstrike.com/…`: here `/sandbox/falcon/…` (see
//! `docs/vendors/crowdstrike-falcon.md`).
//!
//! - Authentication: `POST /oauth2/token` with the API client's `client_id` and `client_secret`
//!   (form fields; `member_cid` must name the customer's CID when given) answers `201` with a
//!   bearer token that lives 30 minutes; anything else is `403`. API calls without a valid token
//!   answer `401`.
//! - Envelope: every answer is `{"meta": {query_time, powered_by, trace_id[, pagination]},
//!   "resources": […], "errors": [{"code", "message"}]}`.
//! - Paging: query endpoints return ids with `meta.pagination {offset, limit, total}`; entity
//!   endpoints take those ids (`ids` query parameters for hosts, at most 100; a JSON body of
//!   `composite_ids` for alerts).
//! - Rate limits: every answer carries `X-RateLimit-Limit` and `X-RateLimit-Remaining` for the
//!   customer's per-minute budget; past it, `429` with `X-RateLimit-RetryAfter` (UTC epoch
//!   seconds) and no `Retry-After`.
//! - Containment: `POST /devices/entities/devices-actions/v2?action_name=contain` (or
//!   `lift_containment`) with `{"ids": […]}` answers `202`; the host's `status` shows
//!   `containment_pending` (or `lift_containment_pending`) for the next two reads, then
//!   `contained` (or `normal`).

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{Environment, SimMachine},
    kit::{Admitted, Answer, Gate, PageSize, QueryPairs, Tokens, Window},
    param,
    throttle::MinuteBudgets,
    with_environment,
};

/// Requests per minute per customer (Falcon's default per-CID budget).
const REQUESTS_PER_MINUTE: u32 = 6000;
/// Lifetime of issued tokens, as Falcon's `expires_in` says.
const TOKEN_LIFETIME: Duration = Duration::from_secs(1799);
/// Host reads a containment change stays pending for.
const PENDING_READS: u32 = 2;

/// The operations served (method, path), as the Falcon API names them.
pub const OPERATIONS: [(&str, &str); 6] = [
    ("POST", "/oauth2/token"),
    ("GET", "/devices/queries/devices/v1"),
    ("GET", "/devices/entities/devices/v2"),
    ("POST", "/devices/entities/devices-actions/v2"),
    ("GET", "/alerts/queries/alerts/v2"),
    ("POST", "/alerts/entities/alerts/v2"),
];

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/falcon/oauth2/token", post(token))
        .route("/falcon/devices/queries/devices/v1", get(query_hosts))
        .route("/falcon/devices/entities/devices/v2", get(host_details))
        .route(
            "/falcon/devices/entities/devices-actions/v2",
            post(host_action),
        )
        .route("/falcon/alerts/queries/alerts/v2", get(query_alerts))
        .route("/falcon/alerts/entities/alerts/v2", post(alert_details))
        .with_state(sandbox)
}

/// A host's containment status, as Falcon's `status` field gives it.
pub(super) fn status(machine: &SimMachine) -> &'static str {
    match (machine.falcon_contained, machine.falcon_pending_reads > 0) {
        (true, true) => "containment_pending",
        (true, false) => "contained",
        (false, true) => "lift_containment_pending",
        (false, false) => "normal",
    }
}

/// Issued tokens and per-customer budgets.
#[derive(Debug, Default)]
pub(super) struct FalconState {
    tokens: Tokens,
    budgets: MinuteBudgets<Uuid>,
}

impl Sandbox {
    /// Makes the next `requests` API calls of `tenant_id`'s Falcon answer 429, as if other
    /// clients had spent the budget of a window that resets within a second or two.
    pub fn throttle_falcon(&self, tenant_id: Uuid, requests: u32) {
        self.inner.falcon.budgets.storms.start(tenant_id, requests);
    }

    /// Makes every token issued so far for `tenant_id` invalid, as a revoked API client's are.
    pub fn revoke_falcon_tokens(&self, tenant_id: Uuid) {
        self.inner.falcon.tokens.revoke(tenant_id);
    }
}

fn trace_id() -> String {
    static TRACES: AtomicU64 = AtomicU64::new(1);
    let n = TRACES.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-0000-4000-8000-{n:012x}",
        n.wrapping_mul(2_654_435_761) as u32
    )
}

fn meta(powered_by: &str) -> Value {
    json!({"query_time": 0.004, "powered_by": powered_by, "trace_id": trace_id()})
}

/// Falcon's envelope with `errors` and no resources.
fn error(status: StatusCode, powered_by: &str, message: &str) -> Response {
    (
        status,
        Json(json!({
            "meta": meta(powered_by),
            "resources": [],
            "errors": [{"code": status.as_u16(), "message": message}],
        })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    member_cid: Option<String>,
}

/// `POST /oauth2/token`.
async fn token(State(sandbox): State<Sandbox>, Form(form): Form<TokenForm>) -> Response {
    let environments = sandbox.inner.environments.lock().await;
    let Some(environment) = environments.values().find(|e| {
        let (id, secret) = e.falcon_client();
        id == form.client_id && secret == form.client_secret
    }) else {
        return error(
            StatusCode::FORBIDDEN,
            "csam",
            "access denied, authorization failed",
        );
    };
    if form
        .member_cid
        .as_deref()
        .is_some_and(|cid| !cid.eq_ignore_ascii_case(&environment.falcon_cid()))
    {
        return error(
            StatusCode::FORBIDDEN,
            "csam",
            "access denied, member_cid is not a child of this API client's CID",
        );
    }
    let issued =
        sandbox
            .inner
            .falcon
            .tokens
            .issue(environment.tenant_id, Vec::new(), TOKEN_LIFETIME);
    let Ok(access_token) = issued else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "csam", "no randomness");
    };
    (
        StatusCode::CREATED,
        Json(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
        })),
    )
        .into_response()
}

/// Falcon's bearer tokens, each call counted against the customer's per-minute budget.
struct BearerToken;

impl Gate for BearerToken {
    type Caller = Metered;

    /// The customer of the bearer token, and the rate-limit headers for the answer; the refusal
    /// (401 or 429) otherwise.
    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Metered, Response> {
        let Some(holder) = sandbox.inner.falcon.tokens.holder(headers) else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "crowdstrike-api-gateway",
                "access denied, invalid bearer token",
            ));
        };
        let tenant = holder.tenant;
        let spent = sandbox
            .inner
            .falcon
            .budgets
            .take(tenant, tenant, REQUESTS_PER_MINUTE);
        let metered = Metered {
            tenant,
            limits: [
                ("x-ratelimit-limit", spent.limit.to_string()),
                ("x-ratelimit-remaining", spent.remaining.to_string()),
            ],
        };
        if spent.refused {
            let response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "crowdstrike-api-gateway",
                "API rate limit exceeded.",
            );
            let response = with_headers(response, &metered.limits);
            return Err(with_headers(
                response,
                &[("x-ratelimit-retryafter", spent.reset.to_string())],
            ));
        }
        Ok(metered)
    }
}

/// A call with a valid token, for its customer.
type Call = Admitted<BearerToken>;

/// An admitted call's customer, and the rate-limit headers every answer to it carries.
struct Metered {
    tenant: Uuid,
    limits: [(&'static str, String); 2],
}

impl Metered {
    /// `answer`, or the refusal it stopped at, with the rate-limit headers.
    fn answer(&self, answer: Answer) -> Response {
        with_headers(answer.unwrap_or_else(|refused| refused), &self.limits)
    }
}

fn with_headers(mut response: Response, headers: &[(&'static str, String)]) -> Response {
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

/// `offset` and `limit` within `1..=max` (default 100).
fn window(pairs: &[(String, String)], max: usize, powered_by: &str) -> Result<Window, Response> {
    let limit = PageSize {
        name: "limit",
        default: 100,
        max,
    };
    Window::by_offset(pairs, "offset", limit)
        .map_err(|bad| error(StatusCode::BAD_REQUEST, powered_by, &bad.to_string()))
}

/// A query endpoint's page of the ids `find` lists (by key) under the request's `filter`, read
/// by `read_filter`: hosts and alerts are queried alike.
async fn query_ids<F, K: Ord>(
    (sandbox, tenant): (&Sandbox, Uuid),
    pairs: &[(String, String)],
    (max, powered_by): (usize, &str),
    read_filter: impl FnOnce(&str) -> Option<F>,
    find: impl FnOnce(&Environment, Option<&F>) -> Vec<(K, String)>,
) -> Answer {
    let window = window(pairs, max, powered_by)?;
    let filter = param(pairs, "filter")
        .map(|filter| {
            read_filter(filter).ok_or_else(|| {
                error(
                    StatusCode::BAD_REQUEST,
                    powered_by,
                    &format!("invalid filter: {filter}"),
                )
            })
        })
        .transpose()?;
    let Some(mut found) = with_environment(sandbox, tenant, |e| find(e, filter.as_ref())).await
    else {
        return Err(no_such_customer(powered_by));
    };
    found.sort();
    let total = found.len();
    let page = window.slice(found.into_iter().map(|(_, id)| id));
    let mut meta = meta(powered_by);
    meta["pagination"] = json!({"offset": window.offset, "limit": window.size, "total": total});
    Ok(Json(json!({"meta": meta, "resources": page, "errors": []})).into_response())
}

/// The index of the machine whose Falcon host id is `id` (Falcon lists only machines with a
/// sensor).
fn host_index(environment: &Environment, id: &str) -> Option<usize> {
    environment
        .machines
        .iter()
        .position(|m| m.edr_sensor && environment.falcon_device_id(m) == id)
}

/// The host as `GET /devices/entities/devices/v2` returns it.
fn host_json(environment: &Environment, machine: &SimMachine) -> Value {
    let server = machine.machine_tags.iter().any(|t| t == "Server");
    json!({
        "device_id": environment.falcon_device_id(machine),
        "cid": environment.falcon_cid(),
        "hostname": machine.host_name(),
        "platform_name": "Windows",
        "os_version": if server { "Windows Server 2022" } else { "Windows 11" },
        "product_type_desc": if server { "Server" } else { "Workstation" },
        "agent_version": "7.19.18913.0",
        "first_seen": machine.first_seen,
        "last_seen": machine.last_seen,
        "local_ip": machine.last_ip_address,
        "external_ip": "203.0.113.24",
        // Falcon spells MAC addresses with dashes.
        "mac_address": Environment::mac_address(machine).replace(':', "-"),
        "serial_number": Environment::serial_number(machine),
        "status": status(machine),
        "reduced_functionality_mode": "no",
        "provision_status": "Provisioned",
        "tags": machine
            .machine_tags
            .iter()
            .map(|t| format!("FalconGroupingTags/{}", t.replace(' ', "_")))
            .collect::<Vec<_>>(),
    })
}

/// `GET /devices/queries/devices/v1`: host ids by hostname, `offset`/`limit` (1–5000, default
/// 100); `filter` takes `hostname:'…'`.
async fn query_hosts(QueryPairs(pairs): QueryPairs, Admitted(sandbox, call): Call) -> Response {
    let hosts = query_ids(
        (&sandbox, call.tenant),
        &pairs,
        (5000, "device-api"),
        |filter| {
            let name = filter.strip_prefix("hostname:'")?.strip_suffix('\'')?;
            Some(name.to_owned())
        },
        |environment, wanted: Option<&String>| {
            environment
                .machines
                .iter()
                .filter(|m| m.edr_sensor)
                .map(|m| (m.host_name(), environment.falcon_device_id(m)))
                .filter(|(name, _)| wanted.is_none_or(|wanted| name.eq_ignore_ascii_case(wanted)))
                .collect()
        },
    );
    call.answer(hosts.await)
}

/// `GET /devices/entities/devices/v2?ids=…` (at most 100): the hosts found; unknown ids are
/// listed in `errors` (404 when none is found). Each read advances a pending containment.
async fn host_details(QueryPairs(pairs): QueryPairs, Admitted(sandbox, call): Call) -> Response {
    let details = async {
        let ids: Vec<&String> = pairs
            .iter()
            .filter(|(k, _)| k == "ids")
            .map(|(_, v)| v)
            .collect();
        if ids.is_empty() || ids.len() > 100 {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "device-api",
                "ids: between 1 and 100 host ids are required",
            ));
        }
        let (hosts, missing) = sandbox
            .mutate(call.tenant, |environment| {
                let mut hosts = Vec::new();
                let mut missing = Vec::new();
                for id in ids {
                    let Some(index) = host_index(environment, id) else {
                        missing.push(id);
                        continue;
                    };
                    hosts.push(host_json(environment, &environment.machines[index]));
                    let machine = &mut environment.machines[index];
                    machine.falcon_pending_reads = machine.falcon_pending_reads.saturating_sub(1);
                }
                (hosts, missing)
            })
            .await
            .map_err(|_| no_such_customer("device-api"))?;
        let errors: Vec<Value> = missing
            .iter()
            .map(|id| json!({"code": 404, "message": format!("Device not found: {id}")}))
            .collect();
        let status = if hosts.is_empty() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        let body = json!({"meta": meta("device-api"), "resources": hosts, "errors": errors});
        Ok((status, Json(body)).into_response())
    };
    call.answer(details.await)
}

/// The answer for a customer that went away while the call was answered.
fn no_such_customer(powered_by: &str) -> Response {
    error(StatusCode::NOT_FOUND, powered_by, "no such customer")
}

#[derive(Deserialize)]
struct IdsBody {
    #[serde(default)]
    ids: Vec<String>,
}

/// `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment` with
/// `{"ids": […]}`: `202`, the change pending for the next reads. A host already in (or on its
/// way to) the requested state is accepted again without a change.
async fn host_action(
    QueryPairs(pairs): QueryPairs,
    Admitted(sandbox, call): Call,
    body: Bytes,
) -> Response {
    let action = async {
        let bad_request = |message: &str| error(StatusCode::BAD_REQUEST, "device-api", message);
        let contain = match param(&pairs, "action_name") {
            Some("contain") => true,
            Some("lift_containment") => false,
            other => {
                return Err(bad_request(&format!(
                    "action_name must be one of contain, lift_containment, hide_host, unhide_host, detection_suppress, detection_unsuppress; got {}",
                    other.unwrap_or("nothing")
                )));
            }
        };
        let IdsBody { ids } = serde_json::from_slice::<IdsBody>(&body)
            .map_err(|_| bad_request("body must be {\"ids\": [...]}"))?;
        if ids.is_empty() {
            return Err(bad_request("ids must not be empty"));
        }
        let (resources, missing) = sandbox
            .mutate(call.tenant, |environment| {
                let mut resources = Vec::new();
                let mut missing = Vec::new();
                for id in &ids {
                    let Some(index) = host_index(environment, id) else {
                        missing.push(id.clone());
                        continue;
                    };
                    let machine = &mut environment.machines[index];
                    if machine.falcon_contained != contain {
                        machine.falcon_contained = contain;
                        machine.falcon_pending_reads = PENDING_READS;
                    }
                    resources.push(json!({"id": id, "path": "/devices/entities/devices/v1"}));
                }
                (resources, missing)
            })
            .await
            .map_err(|_| no_such_customer("device-api"))?;
        if resources.is_empty() {
            return Err(error(
                StatusCode::NOT_FOUND,
                "device-api",
                &format!("Device not found: {}", missing.join(", ")),
            ));
        }
        let body = json!({"meta": meta("device-api"), "resources": resources, "errors": []});
        Ok((StatusCode::ACCEPTED, Json(body)).into_response())
    };
    call.answer(action.await)
}

/// `updated_timestamp:>'…'` or `>=`, the filter incremental reads use.
fn updated_since(filter: &str) -> Option<(DateTime<Utc>, bool)> {
    let rest = filter.strip_prefix("updated_timestamp:")?;
    let (inclusive, quoted) = match rest.strip_prefix(">=") {
        Some(quoted) => (true, quoted),
        None => (false, rest.strip_prefix('>')?),
    };
    let time = quoted
        .strip_prefix('\'')?
        .strip_suffix('\'')?
        .parse()
        .ok()?;
    Some((time, inclusive))
}

/// `GET /alerts/queries/alerts/v2`: composite ids of alerts, oldest update first; `filter` takes
/// `updated_timestamp:>'…'` (or `>=`); `offset`/`limit` (1–10000, default 100).
async fn query_alerts(QueryPairs(pairs): QueryPairs, Admitted(sandbox, call): Call) -> Response {
    let alerts = query_ids(
        (&sandbox, call.tenant),
        &pairs,
        (10_000, "detectsapi"),
        updated_since,
        |environment, since| {
            environment
                .falcon_alerts
                .iter()
                .filter_map(|a| {
                    let updated: DateTime<Utc> = a["updated_timestamp"].as_str()?.parse().ok()?;
                    let id = a["composite_id"].as_str()?.to_owned();
                    Some((updated, id))
                })
                .filter(|(updated, _)| {
                    since.is_none_or(|&(since, inclusive)| {
                        if inclusive {
                            *updated >= since
                        } else {
                            *updated > since
                        }
                    })
                })
                .collect()
        },
    );
    call.answer(alerts.await)
}

#[derive(Deserialize)]
struct CompositeIds {
    #[serde(default)]
    composite_ids: Vec<String>,
}

/// `POST /alerts/entities/alerts/v2` with `{"composite_ids": […]}` (at most 1000).
async fn alert_details(Admitted(sandbox, call): Call, body: Bytes) -> Response {
    let details = async {
        let bad_request = |message: &str| error(StatusCode::BAD_REQUEST, "detectsapi", message);
        let CompositeIds { composite_ids } = serde_json::from_slice::<CompositeIds>(&body)
            .map_err(|_| bad_request("body must be {\"composite_ids\": [...]}"))?;
        if composite_ids.is_empty() || composite_ids.len() > 1000 {
            return Err(bad_request(
                "composite_ids: between 1 and 1000 ids are required",
            ));
        }
        let alerts = with_environment(&sandbox, call.tenant, |environment| {
            environment
                .falcon_alerts
                .iter()
                .filter(|a| {
                    a["composite_id"]
                        .as_str()
                        .is_some_and(|id| composite_ids.iter().any(|wanted| wanted == id))
                })
                .cloned()
                .collect::<Vec<Value>>()
        })
        .await
        .ok_or_else(|| no_such_customer("detectsapi"))?;
        let body = json!({"meta": meta("detectsapi"), "resources": alerts, "errors": []});
        Ok(Json(body).into_response())
    };
    call.answer(details.await)
}
