//! The simulated Microsoft APIs: the identity platform's token endpoint, Defender for Endpoint
//! ([`defender`]) and Microsoft Graph ([`graph`] for users, [`directory`] for the rest), with each
//! API's paths, paging, throttling and error bodies. Here: the routes, the error bodies, tokens,
//! and admitting a call (its token, then its tenant's budget).

use std::time::Duration;

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{FromRequestParts, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

mod defender;
mod directory;
mod graph;
mod hunting;

pub(crate) use self::hunting::{Host, inventory_script, macro_infection};
pub use self::{defender::SimMachineAction, hunting::SimDeviceEvent};
use self::{defender::*, directory::*, graph::*, hunting::run_hunting_query};
use super::{
    Api, IssuedToken, Sandbox, SandboxError,
    environment::{AuthMethodKind, DEFAULT_USER_PROPERTIES, Environment, Fault},
    kit::{self, Admitted, Answer, Gate, QueryPairs, Window},
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
        .route(
            "/graph/v1.0/auditLogs/directoryAudits",
            get(directory_audits),
        )
        .route("/graph/v1.0/security/alerts_v2", get(security_alerts))
        .route(
            "/graph/v1.0/security/runHuntingQuery",
            post(run_hunting_query),
        )
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

/// A Microsoft API's bearer tokens: `GRAPH` tells Graph's from Defender's, whose audiences
/// differ.
struct Bearer<const GRAPH: bool>;

impl<const GRAPH: bool> Gate for Bearer<GRAPH> {
    type Caller = Uuid;

    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Uuid, Response> {
        let api = if GRAPH { Api::Graph } else { Api::Defender };
        admit(sandbox, headers, api)
    }
}

/// A Defender for Endpoint call, admitted: the sandbox and its token's tenant.
type Defender = Admitted<Bearer<false>>;

/// A Microsoft Graph call, admitted: the sandbox and its token's tenant.
type GraphCall = Admitted<Bearer<true>>;

/// A Microsoft Graph call, admitted: its token's tenant, for handlers that take the sandbox as
/// their state.
struct Graph(Uuid);

impl FromRequestParts<Sandbox> for Graph {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sandbox: &Sandbox) -> Result<Self, Response> {
        Bearer::<true>::admit(sandbox, &parts.headers)
            .await
            .map(Graph)
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
    let Some(token) = kit::bearer(headers) else {
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
