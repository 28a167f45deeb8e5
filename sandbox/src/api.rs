//! The simulated HTTP APIs: the identity platform's token endpoint, Defender for Endpoint and
//! Microsoft Graph, with each vendor's paths, paging, throttling and error bodies.
#![expect(
    clippy::result_large_err,
    reason = "helpers short-circuit with the vendor's error response, which lives for one request"
)]

use std::time::Duration;

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{FromRequestParts, Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Api, IssuedToken, Sandbox,
    environment::{AuthMethodKind, DEFAULT_USER_PROPERTIES, Fault, SimMachineAction},
    odata::{self, Filter},
    with_environment,
};

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/login/{directory}/oauth2/v2.0/token", post(token))
        .route("/defender/api/machines", get(machines))
        .route("/defender/api/machines/{id}", get(machine))
        .route("/defender/api/machines/{id}/isolate", post(isolate))
        .route("/defender/api/machines/{id}/unisolate", post(unisolate))
        .route("/defender/api/alerts", get(defender_alerts))
        .route("/defender/api/machineactions", get(machine_actions))
        .route("/defender/api/machineactions/{id}", get(machine_action))
        .route(
            "/defender/{*rest}",
            get(defender_unknown).post(defender_unknown),
        )
        .route("/graph/v1.0/users", get(users))
        .route("/graph/v1.0/users/delta", get(users_delta))
        .route("/graph/v1.0/users/{id}", get(user).patch(update_user))
        .route(
            "/graph/v1.0/users/{id}/revokeSignInSessions",
            post(revoke_sessions),
        )
        .route(
            "/graph/v1.0/users/{id}/authentication/methods",
            get(authentication_methods),
        )
        .route(
            "/graph/v1.0/users/{id}/authentication/{collection}/{method}",
            axum::routing::delete(delete_authentication_method),
        )
        .route("/graph/v1.0/users/{id}/memberOf", get(member_of))
        .route(
            "/graph/v1.0/reports/authenticationMethods/userRegistrationDetails",
            get(registration_details),
        )
        .route("/graph/v1.0/groups", get(groups))
        .route("/graph/v1.0/groups/{id}", get(group))
        .route("/graph/v1.0/groups/{id}/members", get(group_members))
        .route("/graph/v1.0/groups/{id}/members/$ref", post(add_member))
        .route(
            "/graph/v1.0/groups/{id}/members/{member}/$ref",
            axum::routing::delete(remove_member),
        )
        .route("/graph/v1.0/directoryRoles", get(directory_roles))
        .route("/graph/v1.0/directoryRoles/{id}/members", get(role_members))
        .route("/graph/v1.0/auditLogs/signIns", get(sign_ins))
        .route("/graph/v1.0/security/alerts_v2", get(security_alerts))
        .route(
            "/graph/{*rest}",
            get(graph_unknown)
                .post(graph_unknown)
                .patch(graph_unknown)
                .delete(graph_unknown),
        )
        .with_state(sandbox)
}

// ---------------------------------------------------------------------------------------------
// Error bodies

/// A fresh correlation id, as the vendors put in error bodies.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Defender's error body: `{"error": {"code", "message", "target"}}`.
fn defender_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message, "target": request_id()}})),
    )
        .into_response()
}

/// Graph's error body: `{"error": {"code", "message", "innerError": {…}}}`.
fn graph_error(sandbox: &Sandbox, status: StatusCode, code: &str, message: &str) -> Response {
    let id = request_id();
    let mut response = (
        status,
        Json(json!({"error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": sandbox.now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": id,
                "client-request-id": id
            }
        }})),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

fn api_error(
    sandbox: &Sandbox,
    api: Api,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    match api {
        Api::Defender => defender_error(status, code, message),
        Api::Graph => graph_error(sandbox, status, code, message),
    }
}

fn throttled(sandbox: &Sandbox, api: Api, retry_after: Duration) -> Response {
    let mut response = api_error(
        sandbox,
        api,
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Please retry again later.",
    );
    let value = match api {
        // Defender documents whole seconds; Graph's example is fractional.
        Api::Defender => retry_after.as_secs().max(1).to_string(),
        Api::Graph => format!("{:.3}", retry_after.as_secs_f64()),
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Token endpoint

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

fn identity_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    (
        status,
        Json(json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
            "trace_id": request_id(),
            "correlation_id": request_id(),
        })),
    )
        .into_response()
}

async fn token(
    State(sandbox): State<Sandbox>,
    Path(directory): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    if form.grant_type.as_deref() != Some("client_credentials") {
        return identity_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    let environments = sandbox.inner.environments.lock().await;
    let Some(environment) = environments
        .values()
        .find(|e| e.directory_id.eq_ignore_ascii_case(&directory))
    else {
        return identity_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{directory}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    };
    if form.client_id.as_deref() != Some(environment.client_id.as_str()) {
        return identity_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{directory}'.",
                form.client_id.unwrap_or_default()
            ),
        );
    }
    let secret_ok = form.client_secret.as_deref().is_some_and(|given| {
        use sha2::{Digest, Sha256};
        // Compare digests, so the comparison's time says nothing about the secret.
        Sha256::digest(given.as_bytes()) == Sha256::digest(environment.client_secret.as_bytes())
    });
    if !secret_ok {
        return identity_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        );
    }
    let api = match form.scope.as_deref() {
        Some(
            "https://api.securitycenter.microsoft.com/.default"
            | "https://securitycenter.onmicrosoft.com/windowsatpservice/.default",
        ) => Api::Defender,
        Some("https://graph.microsoft.com/.default") => Api::Graph,
        other => {
            return identity_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                &format!(
                    "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid: '{}'.",
                    other.unwrap_or_default()
                ),
            );
        }
    };
    let tenant_id = environment.tenant_id;
    drop(environments);
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    let access_token = format!("sandbox.{}", hex::encode(bytes));
    let lifetime = sandbox.inner.settings.token_lifetime;
    sandbox
        .inner
        .tokens
        .lock()
        .expect("token map poisoned")
        .insert(
            access_token.clone(),
            IssuedToken {
                tenant_id,
                api,
                expires: tokio::time::Instant::now() + lifetime,
            },
        );
    Json(json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Authentication and throttling of API calls

/// A Defender for Endpoint call, admitted: its token's tenant.
struct Defender(Uuid);

/// A Microsoft Graph call, admitted: its token's tenant.
struct Graph(Uuid);

impl FromRequestParts<Sandbox> for Defender {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sandbox: &Sandbox) -> Result<Self, Response> {
        admit(sandbox, &parts.headers, Api::Defender).map(Defender)
    }
}

impl FromRequestParts<Sandbox> for Graph {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sandbox: &Sandbox) -> Result<Self, Response> {
        admit(sandbox, &parts.headers, Api::Graph).map(Graph)
    }
}

/// Resolves the bearer token to a tenant, then applies the tenant's budget.
fn admit(sandbox: &Sandbox, headers: &HeaderMap, api: Api) -> Result<Uuid, Response> {
    let unauthorized = |message: &str| {
        let code = match api {
            Api::Defender => "Unauthorized",
            Api::Graph => "InvalidAuthenticationToken",
        };
        Err(api_error(
            sandbox,
            api,
            StatusCode::UNAUTHORIZED,
            code,
            message,
        ))
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("Access token is empty.");
    };
    let tenant_id = {
        let tokens = sandbox.inner.tokens.lock().expect("token map poisoned");
        match tokens.get(token) {
            None => return unauthorized("Invalid or expired access token."),
            Some(issued) if issued.expires <= tokio::time::Instant::now() => {
                return unauthorized("Lifetime validation failed, the token is expired.");
            }
            Some(issued) if issued.api != api => {
                return unauthorized(
                    "Invalid audience: the token was issued for another resource.",
                );
            }
            Some(issued) => issued.tenant_id,
        }
    };
    if let Some(retry_after) = sandbox.inner.throttle.check(tenant_id, api) {
        return Err(throttled(sandbox, api, retry_after));
    }
    Ok(tenant_id)
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Defender for Endpoint

const MACHINE_FILTERS: [&str; 14] = [
    "computerDnsName",
    "id",
    "version",
    "deviceValue",
    "aadDeviceId",
    "machineTags",
    "lastSeen",
    "exposureLevel",
    "onboardingStatus",
    "lastIpAddress",
    "healthStatus",
    "osPlatform",
    "riskScore",
    "rbacGroupId",
];
const ALERT_FILTERS: [&str; 11] = [
    "alertCreationTime",
    "lastUpdateTime",
    "incidentId",
    "InvestigationId",
    "id",
    "assignedTo",
    "detectionSource",
    "lastEventTime",
    "status",
    "severity",
    "category",
];
const MACHINE_ACTION_FILTERS: [&str; 6] = [
    "id",
    "status",
    "machineId",
    "type",
    "requestor",
    "creationDateTimeUtc",
];

/// A Defender collection: `$filter`, then `$skip` and `$top` (at most 10,000). No
/// `@odata.nextLink`: Defender documents paging by `$skip`.
fn defender_collection(
    context: &str,
    items: Vec<Value>,
    query: Option<&str>,
    filters: &[&str],
) -> Response {
    let pairs = super::query(query);
    let filter = match query_value(&pairs, "$filter").map(|f| Filter::parse(f, filters)) {
        None => Filter::default(),
        Some(Ok(filter)) => filter,
        Some(Err(message)) => {
            return defender_error(StatusCode::BAD_REQUEST, "ODataError", &message);
        }
    };
    let top = match query_value(&pairs, "$top").map(str::parse::<usize>) {
        None => 10_000,
        Some(Ok(top)) if (1..=10_000).contains(&top) => top,
        Some(_) => {
            return defender_error(
                StatusCode::BAD_REQUEST,
                "ODataError",
                "The limit of '10000' for Top query has been exceeded or the value is not a positive integer.",
            );
        }
    };
    let skip = match query_value(&pairs, "$skip").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(skip)) => skip,
        Some(Err(_)) => {
            return defender_error(
                StatusCode::BAD_REQUEST,
                "ODataError",
                "Invalid value for $skip.",
            );
        }
    };
    let value: Vec<Value> = items
        .into_iter()
        .filter(|item| filter.matches(item))
        .skip(skip)
        .take(top)
        .collect();
    Json(json!({
        "@odata.context": format!("https://api.securitycenter.microsoft.com/api/$metadata#{context}"),
        "value": value,
    }))
    .into_response()
}

async fn machines(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    RawQuery(query): RawQuery,
) -> Response {
    let items = with_environment(&sandbox, tenant, |e| {
        e.machines
            .iter()
            .filter(|m| m.edr_sensor)
            .map(super::environment::SimMachine::to_vendor)
            .collect()
    })
    .await
    .unwrap_or_default();
    defender_collection("Machines", items, query.as_deref(), &MACHINE_FILTERS)
}

async fn machine(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    Path(id): Path<String>,
) -> Response {
    match with_environment(&sandbox, tenant, |e| {
        e.machine(&id)
            .map(super::environment::SimMachine::to_vendor)
    })
    .await
    .flatten()
    {
        Some(machine) => Json(machine).into_response(),
        None => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {id} was not found"),
        ),
    }
}

async fn defender_alerts(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    RawQuery(query): RawQuery,
) -> Response {
    let items = with_environment(&sandbox, tenant, |e| e.defender_alerts.clone())
        .await
        .unwrap_or_default();
    let pairs = super::query(query.as_deref());
    // Evidence is only included with `$expand=evidence`.
    let expand = query_value(&pairs, "$expand").is_some_and(|e| e.eq_ignore_ascii_case("evidence"));
    let items = items
        .into_iter()
        .map(|mut alert| {
            if !expand {
                alert["evidence"] = json!([]);
            }
            alert
        })
        .collect();
    defender_collection("Alerts", items, query.as_deref(), &ALERT_FILTERS)
}

async fn machine_actions(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    RawQuery(query): RawQuery,
) -> Response {
    let items = with_environment(&sandbox, tenant, |e| {
        e.machine_actions
            .iter()
            .map(SimMachineAction::to_vendor)
            .collect()
    })
    .await
    .unwrap_or_default();
    defender_collection(
        "MachineActions",
        items,
        query.as_deref(),
        &MACHINE_ACTION_FILTERS,
    )
}

/// Reading an action advances it one step: `Pending` → `InProgress` → `Succeeded` (or
/// `Failed` when a fault says so); success applies the isolation to the machine.
async fn machine_action(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    Path(id): Path<String>,
) -> Response {
    let now = sandbox.now();
    let result = sandbox
        .mutate(tenant, |e| {
            let index = e.machine_actions.iter().position(|a| a.id == id)?;
            let action = &mut e.machine_actions[index];
            if matches!(action.status.as_str(), "Pending" | "InProgress") {
                action.polls += 1;
                action.last_update = now;
                action.status = match (action.polls, action.will_fail) {
                    (1, _) => "InProgress".to_owned(),
                    (_, true) => "Failed".to_owned(),
                    _ => "Succeeded".to_owned(),
                };
                if action.status == "Succeeded" {
                    let isolate = action.kind == "Isolate";
                    let machine_id = action.machine_id.clone();
                    if let Some(machine) = e.machines.iter_mut().find(|m| m.id == machine_id) {
                        machine.isolated = isolate;
                    }
                }
            }
            Some(e.machine_actions[index].to_vendor())
        })
        .await;
    match result {
        Ok(Some(mut action)) => {
            action["@odata.context"] = json!(
                "https://api.securitycenter.microsoft.com/api/$metadata#MachineActions/$entity"
            );
            Json(action).into_response()
        }
        Ok(None) | Err(_) => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine action {id} was not found"),
        ),
    }
}

async fn isolate(
    state: State<Sandbox>,
    caller: Defender,
    id: Path<String>,
    body: Bytes,
) -> Response {
    machine_isolation(state, caller, id, &body, true).await
}

async fn unisolate(
    state: State<Sandbox>,
    caller: Defender,
    id: Path<String>,
    body: Bytes,
) -> Response {
    machine_isolation(state, caller, id, &body, false).await
}

/// `POST /api/machines/{id}/isolate|unisolate`: body parameter names are case-sensitive;
/// `Comment` is required; a second request while one is open answers 400.
async fn machine_isolation(
    State(sandbox): State<Sandbox>,
    Defender(tenant): Defender,
    Path(id): Path<String>,
    body: &[u8],
    isolate: bool,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            "Request body is not valid JSON.",
        );
    };
    let allowed: &[&str] = if isolate {
        &["Comment", "IsolationType"]
    } else {
        &["Comment"]
    };
    if let Some(unknown) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestBody",
            &format!("Request body contains an unknown parameter '{unknown}'."),
        );
    }
    let Some(comment) = body
        .get("Comment")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return defender_error(
            StatusCode::BAD_REQUEST,
            "MissingRequiredParameter",
            "Comment is a required parameter.",
        );
    };
    let scope = if isolate {
        match body
            .get("IsolationType")
            .and_then(Value::as_str)
            .unwrap_or("Full")
        {
            scope @ ("Full" | "Selective" | "UnManagedDevice") => Some(scope.to_owned()),
            other => {
                return defender_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidInput",
                    &format!("IsolationType '{other}' is not valid."),
                );
            }
        }
    } else {
        None
    };
    let now = sandbox.now();
    let outcome = sandbox
        .mutate(tenant, |e| {
            let machine = e.machine(&id).cloned().ok_or(StatusCode::NOT_FOUND)?;
            if e.machine_actions.iter().any(|a| {
                a.machine_id == machine.id
                    && matches!(a.kind.as_str(), "Isolate" | "Unisolate")
                    && matches!(a.status.as_str(), "Pending" | "InProgress")
            }) {
                return Err(StatusCode::BAD_REQUEST);
            }
            if e.take_fault(&Fault::RefuseNextMachineAction {
                machine_id: machine.id.clone(),
            }) {
                return Err(StatusCode::FORBIDDEN);
            }
            let fault = Fault::FailNextMachineAction {
                machine_id: machine.id.clone(),
            };
            let will_fail = e.take_fault(&fault);
            let action = SimMachineAction {
                id: e.next_guid("machine-action"),
                kind: if isolate { "Isolate" } else { "Unisolate" }.to_owned(),
                scope,
                status: "Pending".to_owned(),
                machine_id: machine.id.clone(),
                computer_dns_name: machine.computer_dns_name,
                requestor: format!("steward-app@{}", e.domain),
                requestor_comment: comment,
                created: now,
                last_update: now,
                polls: 0,
                will_fail,
            };
            let vendor = action.to_vendor();
            e.machine_actions.push(action);
            Ok(vendor)
        })
        .await;
    match outcome {
        Ok(Ok(action)) => (StatusCode::CREATED, Json(action)).into_response(),
        Ok(Err(StatusCode::BAD_REQUEST)) => defender_error(
            StatusCode::BAD_REQUEST,
            "ActiveRequestAlreadyExists",
            "Action is already in progress",
        ),
        Ok(Err(StatusCode::FORBIDDEN)) => defender_error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "The application does not have any of the required application roles (Machine.Isolate) to access the resource.",
        ),
        Ok(Err(_)) | Err(_) => defender_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("Machine {id} was not found"),
        ),
    }
}

async fn defender_unknown(_: Defender) -> Response {
    defender_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The requested resource was not found.",
    )
}

// ---------------------------------------------------------------------------------------------
// Microsoft Graph

/// Graph collection paging: `$top` within `1..=max` (default `default`), `@odata.nextLink` with
/// an opaque `$skiptoken`, and no `$skip`.
fn graph_collection(
    sandbox: &Sandbox,
    headers: &HeaderMap,
    path: &str,
    context: &str,
    items: Vec<Value>,
    pairs: &[(String, String)],
    (default, max): (usize, usize),
) -> Response {
    if query_value(pairs, "$skip").is_some() {
        return graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "'$skip' is not supported by the service.",
        );
    }
    let top = match query_value(pairs, "$top").map(str::parse::<usize>) {
        None => default,
        Some(Ok(top)) if (1..=max).contains(&top) => top,
        Some(_) => {
            return graph_error(
                sandbox,
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Invalid page size specified: '{}'. Must be between 1 and {max} inclusive.",
                    query_value(pairs, "$top").unwrap_or_default()
                ),
            );
        }
    };
    let offset = match query_value(pairs, "$skiptoken").map(odata::read_skip_token) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => {
            return graph_error(
                sandbox,
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                "Invalid skip token.",
            );
        }
    };
    let total = items.len();
    let value: Vec<Value> = items.into_iter().skip(offset).take(top).collect();
    let mut body = json!({
        "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#{context}"),
        "value": value,
    });
    if offset + top < total {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let mut next: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        next.push(("$skiptoken".to_owned(), odata::skip_token(offset + top)));
        let query = serde_urlencoded::to_string(&next).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!("http://{host}/sandbox/graph/v1.0/{path}?{query}"));
    }
    Json(body).into_response()
}

fn graph_filter(
    sandbox: &Sandbox,
    pairs: &[(String, String)],
    allowed: &[&str],
) -> Result<Filter, Response> {
    match query_value(pairs, "$filter").map(|f| Filter::parse(f, allowed)) {
        None => Ok(Filter::default()),
        Some(Ok(filter)) => Ok(filter),
        Some(Err(message)) => Err(graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &message,
        )),
    }
}

const USER_PROPERTIES: [&str; 16] = [
    "id",
    "businessPhones",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "userPrincipalName",
    "department",
    "accountEnabled",
    "userType",
    "createdDateTime",
    "signInSessionsValidFromDateTime",
];

/// Applies `$select`, or Graph's default property set when there is none.
fn select_user(
    sandbox: &Sandbox,
    user: &Value,
    pairs: &[(String, String)],
) -> Result<Value, Response> {
    let selected: Vec<&str> = match query_value(pairs, "$select") {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => DEFAULT_USER_PROPERTIES.to_vec(),
    };
    if let Some(unknown) = selected
        .iter()
        .find(|p| !USER_PROPERTIES.iter().any(|k| k.eq_ignore_ascii_case(p)))
    {
        return Err(graph_error(
            sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Could not find a property named '{unknown}' on type 'microsoft.graph.user'."),
        ));
    }
    Ok(odata::select(user, &selected))
}

async fn users(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let filter = match graph_filter(
        &sandbox,
        &pairs,
        &[
            "userPrincipalName",
            "accountEnabled",
            "department",
            "displayName",
            "id",
            "mail",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let all: Vec<Value> = with_environment(&sandbox, tenant, |e| {
        e.users
            .iter()
            .map(super::environment::SimUser::to_vendor)
            .collect()
    })
    .await
    .unwrap_or_default();
    let mut items = Vec::new();
    for user in all.iter().filter(|u| filter.matches(u)) {
        match select_user(&sandbox, user, &pairs) {
            Ok(user) => items.push(user),
            Err(response) => return response,
        }
    }
    graph_collection(
        &sandbox,
        &headers,
        "users",
        "users",
        items,
        &pairs,
        (100, 999),
    )
}

/// How long a `users/delta` delta link stays good (Microsoft Graph's lifetime for identity
/// resources).
const DELTA_LINK_LIFETIME_DAYS: i64 = 7;

/// Users per `users/delta` page.
const DELTA_PAGE: usize = 100;

/// `GET /users/delta`: every user the first time, then through the `@odata.deltaLink` only
/// the users changed since it was issued. Pages carry `$skiptoken`
/// (`{offset}.{generation at the first page}`); the last page's delta link carries
/// `$deltatoken` (`{generation}.{issued, epoch seconds}`), refused as `syncStateNotFound` once
/// older than seven days. `$select` applies as on `/users` and is kept in the links.
async fn users_delta(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let now = sandbox.inner.clock.now();
    let expired = || {
        graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )
    };
    let since = match query_value(&pairs, "$deltatoken") {
        None => None,
        Some(token) => {
            let parsed = token.split_once('.').and_then(|(generation, issued)| {
                Some((generation.parse::<u64>().ok()?, issued.parse::<i64>().ok()?))
            });
            match parsed {
                Some((generation, issued))
                    if now.timestamp() - issued
                        <= chrono::Duration::days(DELTA_LINK_LIFETIME_DAYS).num_seconds() =>
                {
                    Some(generation)
                }
                _ => return expired(),
            }
        }
    };
    let skip = match query_value(&pairs, "$skiptoken") {
        None => None,
        Some(token) => match token.split_once('.').and_then(|(offset, generation)| {
            Some((
                offset.parse::<usize>().ok()?,
                generation.parse::<u64>().ok()?,
            ))
        }) {
            Some(skip) => Some(skip),
            None => {
                return graph_error(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    "Invalid skip token.",
                );
            }
        },
    };
    let Some((generation, all)) = with_environment(&sandbox, tenant, |e| {
        (
            e.user_generation,
            e.users
                .iter()
                .filter(|u| since.is_none_or(|g| u.changed > g))
                .map(super::environment::SimUser::to_vendor)
                .collect::<Vec<_>>(),
        )
    })
    .await
    else {
        return resource_not_found(&sandbox, "users");
    };
    let (offset, start) = skip.unwrap_or((0, generation));
    let mut value = Vec::new();
    for user in all.iter().skip(offset).take(DELTA_PAGE) {
        match select_user(&sandbox, user, &pairs) {
            Ok(user) => value.push(user),
            Err(response) => return response,
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut link: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "$skiptoken" && k != "$deltatoken")
        .cloned()
        .collect();
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName,userPrincipalName)",
        "value": value,
    });
    if offset + DELTA_PAGE < all.len() {
        if let Some(token) = query_value(&pairs, "$deltatoken") {
            link.push(("$deltatoken".to_owned(), token.to_owned()));
        }
        link.push((
            "$skiptoken".to_owned(),
            format!("{}.{start}", offset + DELTA_PAGE),
        ));
        let query = serde_urlencoded::to_string(&link).unwrap_or_default();
        body["@odata.nextLink"] = json!(format!(
            "http://{host}/sandbox/graph/v1.0/users/delta?{query}"
        ));
    } else {
        // Changes made while the pages were read come again next time.
        link.push((
            "$deltatoken".to_owned(),
            format!("{start}.{}", now.timestamp()),
        ));
        let query = serde_urlencoded::to_string(&link).unwrap_or_default();
        body["@odata.deltaLink"] = json!(format!(
            "http://{host}/sandbox/graph/v1.0/users/delta?{query}"
        ));
    }
    Json(body).into_response()
}

fn resource_not_found(sandbox: &Sandbox, id: &str) -> Response {
    graph_error(
        sandbox,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

async fn user(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let Some(user) = with_environment(&sandbox, tenant, |e| {
        e.user(&id).map(super::environment::SimUser::to_vendor)
    })
    .await
    .flatten() else {
        return resource_not_found(&sandbox, &id);
    };
    match select_user(&sandbox, &user, &pairs) {
        Ok(mut user) => {
            user["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
            Json(user).into_response()
        }
        Err(response) => response,
    }
}

/// `PATCH /users/{id}`: 204 with no body. Only the properties the sandbox models can change.
async fn update_user(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(changes)) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    for (key, value) in &changes {
        let valid = match key.as_str() {
            "accountEnabled" => value.is_boolean(),
            "displayName" | "jobTitle" | "department" => value.is_string(),
            _ => {
                return graph_error(
                    &sandbox,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!(
                        "Property '{key}' does not exist or cannot be updated on type 'microsoft.graph.user'."
                    ),
                );
            }
        };
        if !valid {
            return graph_error(
                &sandbox,
                StatusCode::BAD_REQUEST,
                "Request_BadRequest",
                &format!("Invalid value specified for property '{key}' of resource 'User'."),
            );
        }
    }
    let updated = sandbox
        .mutate(tenant, |e| {
            let reverted = e.user(&id).is_some_and(|user| {
                e.faults.contains(&Fault::RevertAccountWrites {
                    user_id: user.id.clone(),
                })
            });
            if !reverted && e.user(&id).is_some() {
                e.user_generation += 1;
            }
            let generation = e.user_generation;
            let user = e.user_mut(&id)?;
            if !reverted {
                user.changed = generation;
            }
            for (key, value) in &changes {
                match key.as_str() {
                    // An on-premises sync writes the old value back straight away.
                    "accountEnabled" if reverted => {}
                    "accountEnabled" => {
                        user.account_enabled = value.as_bool().unwrap_or(user.account_enabled);
                    }
                    "displayName" => {
                        user.display_name = value.as_str().unwrap_or_default().to_owned();
                    }
                    "jobTitle" => user.job_title = value.as_str().unwrap_or_default().to_owned(),
                    _ => user.department = value.as_str().unwrap_or_default().to_owned(),
                }
            }
            Some(())
        })
        .await;
    match updated {
        Ok(Some(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &id),
    }
}

/// `POST /users/{id}/revokeSignInSessions`: answers 200 with `{"value": true}`, as the service
/// does (documented as 204, a known issue).
async fn revoke_sessions(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let now = sandbox.now();
    let revoked = sandbox
        .mutate(tenant, |e| {
            let user_id = e.user(&id)?.id.clone();
            let dropped = e.take_fault(&Fault::DropNextRevocation { user_id });
            let user = e.user_mut(&id)?;
            if !dropped {
                user.sign_in_sessions_valid_from = now;
            }
            Some(())
        })
        .await;
    match revoked {
        Ok(Some(())) => Json(json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
            "value": true
        }))
        .into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &id),
    }
}

/// `GET /users/{id}/authentication/methods`: every method of the user, password included (not
/// paged).
async fn authentication_methods(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let methods = with_environment(&sandbox, tenant, |e| {
        let user = e.user(&id)?;
        Some(
            user.authentication_methods
                .iter()
                .map(|m| m.to_vendor(user))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .flatten();
    match methods {
        Some(methods) => Json(json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/authentication/methods"),
            "value": methods,
        }))
        .into_response(),
        None => resource_not_found(&sandbox, &id),
    }
}

/// `DELETE /users/{id}/authentication/{collection}/{method}`: 204. As the service does, it
/// refuses (400) to delete the default method while other second factors remain, and the
/// password cannot be deleted at all.
async fn delete_authentication_method(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path((id, collection, method_id)): Path<(String, String, String)>,
) -> Response {
    enum Outcome {
        Deleted,
        NoUser,
        NoMethod,
        Password,
        Default,
    }
    let outcome = sandbox
        .mutate(tenant, |e| {
            let Some(user) = e.user_mut(&id) else {
                return Outcome::NoUser;
            };
            let Some(index) = user
                .authentication_methods
                .iter()
                .position(|m| m.id == method_id && m.kind.collection() == collection)
            else {
                return Outcome::NoMethod;
            };
            let method = &user.authentication_methods[index];
            if method.kind == AuthMethodKind::Password {
                return Outcome::Password;
            }
            let others = user
                .authentication_methods
                .iter()
                .filter(|m| m.kind != AuthMethodKind::Password && m.id != method_id)
                .count();
            if method.default && others > 0 {
                return Outcome::Default;
            }
            user.authentication_methods.remove(index);
            Outcome::Deleted
        })
        .await;
    match outcome {
        Ok(Outcome::Deleted) => StatusCode::NO_CONTENT.into_response(),
        Ok(Outcome::NoUser) | Err(_) => resource_not_found(&sandbox, &id),
        Ok(Outcome::NoMethod) => graph_error(
            &sandbox,
            StatusCode::NOT_FOUND,
            "itemNotFound",
            &format!("The authentication method '{method_id}' was not found in '{collection}'."),
        ),
        Ok(Outcome::Password) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "badRequest",
            "The password authentication method cannot be deleted.",
        ),
        Ok(Outcome::Default) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "badRequest",
            "Cannot delete default method with other methods configured. Please change default method before deletion.",
        ),
    }
}

/// `GET /reports/authenticationMethods/userRegistrationDetails`: each user's MFA registration,
/// paged like every Graph collection.
async fn registration_details(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let items = with_environment(&sandbox, tenant, |e| {
        e.users
            .iter()
            .map(|u| {
                let methods: Vec<&str> = u
                    .authentication_methods
                    .iter()
                    .filter_map(|m| match m.kind {
                        AuthMethodKind::Password => None,
                        AuthMethodKind::MicrosoftAuthenticator => {
                            Some("microsoftAuthenticatorPush")
                        }
                        AuthMethodKind::Phone => Some("mobilePhone"),
                        AuthMethodKind::SoftwareOath => Some("softwareOneTimePasscode"),
                    })
                    .collect();
                let admin = e.roles.iter().any(|r| r.members.contains(&u.id));
                json!({
                    "id": u.id,
                    "userPrincipalName": u.user_principal_name,
                    "userDisplayName": u.display_name,
                    "userType": "member",
                    "isAdmin": admin,
                    "isMfaRegistered": !methods.is_empty(),
                    "isMfaCapable": !methods.is_empty(),
                    "isPasswordlessCapable": false,
                    "isSsprCapable": !methods.is_empty(),
                    "isSsprEnabled": true,
                    "isSsprRegistered": !methods.is_empty(),
                    "isSystemPreferredAuthenticationMethodEnabled": true,
                    "methodsRegistered": methods,
                    "lastUpdatedDateTime": u.created,
                })
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    graph_collection(
        &sandbox,
        &headers,
        "reports/authenticationMethods/userRegistrationDetails",
        "reports/authenticationMethods/userRegistrationDetails",
        items,
        &pairs,
        (100, 999),
    )
}

/// `GET /users/{id}/memberOf`: the groups and directory roles the user is a direct member of,
/// paged like every Graph collection.
async fn member_of(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let found = with_environment(&sandbox, tenant, |e| {
        let user = e.user(&id)?;
        let groups = e
            .groups
            .iter()
            .filter(|g| g.members.contains(&user.id))
            .map(super::environment::SimGroup::to_vendor);
        let roles = e
            .roles
            .iter()
            .filter(|r| r.members.contains(&user.id))
            .map(|r| json!({"@odata.type": "#microsoft.graph.directoryRole", "id": r.id, "displayName": r.display_name, "roleTemplateId": r.role_template_id}));
        Some((user.id.clone(), groups.chain(roles).collect::<Vec<_>>()))
    })
    .await
    .flatten();
    let Some((user_id, items)) = found else {
        return resource_not_found(&sandbox, &id);
    };
    graph_collection(
        &sandbox,
        &headers,
        &format!("users/{user_id}/memberOf"),
        "directoryObjects",
        items,
        &pairs,
        (100, 999),
    )
}

/// `GET /groups`: the directory's groups, paged (default 100, at most 999).
async fn groups(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let items = with_environment(&sandbox, tenant, |e| {
        e.groups
            .iter()
            .map(super::environment::SimGroup::to_vendor)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    graph_collection(
        &sandbox,
        &headers,
        "groups",
        "groups",
        items,
        &pairs,
        (100, 999),
    )
}

/// A user as a member of a group or role lists it.
fn user_reference(u: &super::environment::SimUser) -> Value {
    json!({"@odata.type": "#microsoft.graph.user", "id": u.id, "displayName": u.display_name, "userPrincipalName": u.user_principal_name})
}

/// `GET /groups/{id}/members`: the group's direct members, paged (default 100, at most 999).
async fn group_members(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let found = with_environment(&sandbox, tenant, |e| {
        let group = e.group(&id)?;
        Some((
            group.id.clone(),
            group
                .members
                .iter()
                .filter_map(|m| e.user(m))
                .map(user_reference)
                .collect::<Vec<_>>(),
        ))
    })
    .await
    .flatten();
    let Some((group_id, members)) = found else {
        return resource_not_found(&sandbox, &id);
    };
    graph_collection(
        &sandbox,
        &headers,
        &format!("groups/{group_id}/members"),
        "directoryObjects",
        members,
        &pairs,
        (100, 999),
    )
}

/// `GET /groups/{id}`.
async fn group(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    match with_environment(&sandbox, tenant, |e| {
        e.group(&id).map(super::environment::SimGroup::to_vendor)
    })
    .await
    .flatten()
    {
        Some(mut group) => {
            group["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#groups/$entity");
            Json(group).into_response()
        }
        None => resource_not_found(&sandbox, &id),
    }
}

/// `POST /groups/{id}/members/$ref` with `{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/{user}"}`:
/// 204; 400 when the user is already a member, as the service answers.
async fn add_member(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let reference = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("@odata.id")?.as_str().map(str::to_owned));
    let Some(member) = reference
        .as_deref()
        .and_then(|r| r.rsplit_once("/directoryObjects/"))
        .map(|(_, member)| member.to_owned())
    else {
        return graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid object identifier in '@odata.id'.",
        );
    };
    enum Outcome {
        Added,
        NoGroup,
        NoUser,
        AlreadyMember,
    }
    let outcome = sandbox
        .mutate(tenant, |e| {
            let Some(user_id) = e.user(&member).map(|u| u.id.clone()) else {
                return Outcome::NoUser;
            };
            let Some(group) = e.groups.iter_mut().find(|g| g.id == id) else {
                return Outcome::NoGroup;
            };
            if group.members.contains(&user_id) {
                return Outcome::AlreadyMember;
            }
            group.members.push(user_id);
            Outcome::Added
        })
        .await;
    match outcome {
        Ok(Outcome::Added) => StatusCode::NO_CONTENT.into_response(),
        Ok(Outcome::NoGroup) | Err(_) => resource_not_found(&sandbox, &id),
        Ok(Outcome::NoUser) => resource_not_found(&sandbox, &member),
        Ok(Outcome::AlreadyMember) => graph_error(
            &sandbox,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: 'members'.",
        ),
    }
}

/// `DELETE /groups/{id}/members/{member}/$ref`: 204; 404 when the user is not a member.
async fn remove_member(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let removed = sandbox
        .mutate(tenant, |e| {
            let user_id = e.user(&member).map(|u| u.id.clone())?;
            let group = e.groups.iter_mut().find(|g| g.id == id)?;
            let index = group.members.iter().position(|m| *m == user_id)?;
            group.members.remove(index);
            Some(())
        })
        .await;
    match removed {
        Ok(Some(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(None) | Err(_) => resource_not_found(&sandbox, &member),
    }
}

async fn directory_roles(State(sandbox): State<Sandbox>, Graph(tenant): Graph) -> Response {
    let roles: Vec<Value> = with_environment(&sandbox, tenant, |e| {
        e.roles
            .iter()
            .map(|r| json!({"id": r.id, "displayName": r.display_name, "description": null, "roleTemplateId": r.role_template_id, "deletedDateTime": null}))
            .collect()
    })
    .await
    .unwrap_or_default();
    // Directory roles are not paged.
    Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryRoles", "value": roles})).into_response()
}

async fn role_members(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    Path(id): Path<String>,
) -> Response {
    let members = with_environment(&sandbox, tenant, |e| {
        let role = e
            .roles
            .iter()
            .find(|r| r.id == id || id == format!("roleTemplateId={}", r.role_template_id))?;
        Some(
            role.members
                .iter()
                .filter_map(|m| e.user(m))
                .map(user_reference)
                .collect::<Vec<_>>(),
        )
    })
    .await
    .flatten();
    match members {
        Some(members) => Json(json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects", "value": members})).into_response(),
        None => graph_error(
            &sandbox,
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        ),
    }
}

/// Sign-ins, newest first; default and maximum page size 1,000.
async fn sign_ins(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let filter = match graph_filter(
        &sandbox,
        &pairs,
        &[
            "createdDateTime",
            "userPrincipalName",
            "userId",
            "appId",
            "status/errorCode",
            "location/city",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let mut items: Vec<Value> = with_environment(&sandbox, tenant, |e| e.sign_ins.clone())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
    items.sort_by(|a, b| {
        b["createdDateTime"]
            .as_str()
            .cmp(&a["createdDateTime"].as_str())
    });
    graph_collection(
        &sandbox,
        &headers,
        "auditLogs/signIns",
        "auditLogs/signIns",
        items,
        &pairs,
        (1000, 1000),
    )
}

async fn security_alerts(
    State(sandbox): State<Sandbox>,
    Graph(tenant): Graph,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = super::query(query.as_deref());
    let filter = match graph_filter(
        &sandbox,
        &pairs,
        &[
            "assignedTo",
            "classification",
            "determination",
            "createdDateTime",
            "lastUpdateDateTime",
            "severity",
            "serviceSource",
            "status",
        ],
    ) {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let items: Vec<Value> = with_environment(&sandbox, tenant, |e| e.security_alerts.clone())
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|a| filter.matches(a))
        .collect();
    graph_collection(
        &sandbox,
        &headers,
        "security/alerts_v2",
        "security/alerts_v2",
        items,
        &pairs,
        (100, 2000),
    )
}

async fn graph_unknown(
    State(sandbox): State<Sandbox>,
    _: Graph,
    Path(rest): Path<String>,
) -> Response {
    let segment = rest.split('/').next_back().unwrap_or_default();
    graph_error(
        &sandbox,
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
    )
}
