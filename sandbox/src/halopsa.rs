//! The HaloPSA API of the MSP's Halo instance, as Halo serves it at
//! `https://{instance}.halopsa.com/auth/…` and `/api/…`: here `/sandbox/halopsa/…` (see
//! `docs/vendors/halopsa.md`).
//!
//! Each simulated customer is one *client* of the MSP's Halo, and the API application Steward
//! was given for it sees that client's tickets only.
//! - Authentication: `POST /auth/token` (with `?tenant=sandbox`, the hosted instance's name;
//!   another is `400 {"error": "invalid_request"}`) and the form `grant_type=
//!   client_credentials`, `client_id`, `client_secret`, `scope` (`all`, or any of
//!   `read:tickets`, `edit:tickets`, `read:customers`); bad credentials are `401 {"error":
//!   "invalid_client"}`. API calls without a valid token answer `401` with an empty body; one
//!   lacking the scope `403`.
//! - `GET /api/Client/{id}`, `GET /api/Status` (ticket statuses; 9 is *Closed*),
//!   `GET /api/Tickets` (`client_id`, `search` over summaries, `open_only`, paged with
//!   `pageinate=true`, `page_size` (≤ 100) and `page_no` as `{page_no, page_size, record_count,
//!   tickets}`), `GET /api/Tickets/{id}`, `POST /api/Tickets` (an array; an element without
//!   `id` opens a ticket, one with `id` updates it) and `POST /api/Actions` (an array of notes).
//! - Errors: `400` with the message as a bare JSON string, as Halo answers; `404` for a ticket
//!   or client the application cannot see. Halo limits each instance to 700 requests in five
//!   minutes; injected storms answer `429` with `Retry-After`.

use std::time::Duration;

use axum::{
    Form, Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{Environment, PsaSystem, SimTicket},
    kit::{
        self, Admitted, Answer, ClientCredentials, PageSize, QueryPairs, Scoped, Scopes, Window,
    },
    param, with_environment,
};

/// The hosted instance's tenant name, given as `?tenant=` to the token endpoint.
pub const TENANT: &str = "sandbox";
/// Ticket statuses: (id, name). 9 is the status Halo closes tickets with.
pub const STATUSES: [(u32, &str); 5] = [
    (1, "New"),
    (2, "In Progress"),
    (3, "Action Required"),
    (4, "With Customer"),
    (9, "Closed"),
];
pub const CLOSED_STATUS: u32 = 9;
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How Halo pages tickets: `page_no` from 1 and `page_size` up to 100 (default 50).
const PAGE_SIZE: PageSize = PageSize {
    name: "page_size",
    default: 50,
    max: 100,
};
/// Ids of tickets opened in the sandbox start above this.
const FIRST_TICKET: u64 = 4100;

/// The operations served (method, path).
pub const OPERATIONS: [(&str, &str); 7] = [
    ("POST", "/auth/token"),
    ("GET", "/api/Client/{id}"),
    ("GET", "/api/Status"),
    ("GET", "/api/Tickets"),
    ("GET", "/api/Tickets/{id}"),
    ("POST", "/api/Tickets"),
    ("POST", "/api/Actions"),
];

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/halopsa/auth/token", post(token))
        .route("/halopsa/api/Client/{id}", get(client))
        .route("/halopsa/api/Status", get(statuses))
        .route("/halopsa/api/Tickets", get(tickets).post(save_tickets))
        .route("/halopsa/api/Tickets/{id}", get(ticket))
        .route("/halopsa/api/Actions", post(add_actions))
        .with_state(sandbox)
}

/// Issued tokens and injected storms.
#[derive(Debug, Default)]
pub(super) struct HaloState {
    tokens: kit::Tokens,
    storms: super::throttle::Storms,
}

impl Sandbox {
    /// Makes the next `requests` HaloPSA API calls of `tenant_id` answer 429.
    pub fn throttle_halopsa(&self, tenant_id: Uuid, requests: u32) {
        self.inner.halo.storms.start(tenant_id, requests);
    }
}

/// Halo's refusal: the message as a bare JSON string.
fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(Value::String(message.to_owned()))).into_response()
}

/// `POST /auth/token`.
async fn token(
    State(sandbox): State<Sandbox>,
    QueryPairs(pairs): QueryPairs,
    Form(form): Form<ClientCredentials>,
) -> Response {
    if param(&pairs, "tenant").is_some_and(|t| t != TENANT) {
        return kit::oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if form.grant_type != "client_credentials" {
        return kit::oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let application = |e: &Environment| {
        let (id, secret) = e.halo_application();
        id == form.client_id && secret == form.client_secret
    };
    let Some(tenant) = kit::customer_where(&sandbox, application).await else {
        return kit::oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let scopes = form.scopes(&["all", "read:tickets", "edit:tickets", "read:customers"]);
    if scopes.is_empty() {
        return kit::oauth_error(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let scope = scopes.join(" ");
    let Ok(access_token) = sandbox
        .inner
        .halo
        .tokens
        .issue(tenant, scopes, TOKEN_LIFETIME)
    else {
        return refuse(StatusCode::INTERNAL_SERVER_ERROR, "no randomness");
    };
    kit::bearer_grant(&access_token, TOKEN_LIFETIME, &scope)
}

/// Halo's API applications, whose tokens carry scopes (`all` covers every one).
struct Halo;

impl Scopes for Halo {
    const SCOPES: &'static [&'static str] = &["read:customers", "read:tickets", "edit:tickets"];

    /// The customer of the bearer token, if it holds `scope`; the refusal (401, 403 or 429)
    /// otherwise.
    fn admit(sandbox: &Sandbox, headers: &HeaderMap, scope: &str) -> Result<Uuid, Response> {
        let Some(holder) = sandbox.inner.halo.tokens.holder(headers) else {
            return Err(StatusCode::UNAUTHORIZED.into_response());
        };
        let tenant = holder.tenant;
        if !holder.may(scope, &["all"]) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                &format!("This application does not have the {scope} permission."),
            ));
        }
        if sandbox.inner.halo.storms.hit(tenant) {
            return Err(kit::retry_after_a_second(refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "API rate limit exceeded: 700 requests in 5 minutes.",
            )));
        }
        Ok(tenant)
    }
}

/// A call whose token may read the customer's client (`read:customers`).
type ReadCustomers = Admitted<Scoped<Halo, 0>>;
/// A call whose token may read tickets and statuses (`read:tickets`).
type ReadTickets = Admitted<Scoped<Halo, 1>>;
/// A call whose token may open and change tickets (`edit:tickets`).
type EditTickets = Admitted<Scoped<Halo, 2>>;

fn status_name(id: u32) -> &'static str {
    STATUSES
        .iter()
        .find(|(status, _)| *status == id)
        .map_or("Unknown", |(_, name)| name)
}

fn ticket_json(environment: &Environment, ticket: &SimTicket) -> Value {
    json!({
        "id": ticket.id,
        "summary": ticket.summary,
        "details": ticket.details,
        "client_id": environment.halo_client_id(),
        "client_name": environment.tenant_name,
        "site_id": environment.halo_client_id() * 10,
        "status_id": ticket.status_id,
        "status_name": status_name(ticket.status_id),
        "tickettype_id": 1,
        "priority_id": ticket.priority.parse::<u32>().unwrap_or(3),
        "dateoccurred": ticket.created_at,
        "lastactiondate": ticket.updated_at,
        "hasbeenclosed": ticket.status_id == CLOSED_STATUS,
    })
}

fn halo_tickets(environment: &Environment) -> impl Iterator<Item = &SimTicket> {
    environment
        .psa_tickets
        .iter()
        .filter(|t| t.system == PsaSystem::HaloPsa)
}

/// `GET /api/Client/{id}`.
async fn client(Path(id): Path<String>, Admitted(sandbox, tenant): ReadCustomers) -> Response {
    let found = kit::own_record((&sandbox, tenant), &id, Environment::halo_client_id, |e| {
        json!({
            "id": e.halo_client_id(),
            "name": e.tenant_name,
            "inactive": false,
            "website": format!("https://{}", e.domain),
        })
    })
    .await;
    match found {
        Some(client) => Json(client).into_response(),
        None => refuse(StatusCode::NOT_FOUND, &format!("Client {id} not found.")),
    }
}

/// `GET /api/Status`.
async fn statuses(_: ReadTickets) -> Response {
    Json(
        STATUSES
            .iter()
            .enumerate()
            .map(|(sequence, (id, name))| {
                json!({"id": id, "name": name, "type": 1, "sequence": sequence + 1})
            })
            .collect::<Vec<_>>(),
    )
    .into_response()
}

/// `GET /api/Tickets`.
async fn tickets(QueryPairs(pairs): QueryPairs, Admitted(sandbox, tenant): ReadTickets) -> Answer {
    let bad_request = |message: &str| refuse(StatusCode::BAD_REQUEST, message);
    // Halo pages only when asked to (`pageinate=true`), and then checks the numbers.
    let window = (param(&pairs, "pageinate") == Some("true"))
        .then(|| Window::by_page_number(&pairs, "page_no", PAGE_SIZE))
        .transpose()
        .map_err(|bad| bad_request(&format!("{bad}.")))?;
    let client = param(&pairs, "client_id")
        .map(str::parse::<u32>)
        .transpose()
        .map_err(|_| bad_request("Invalid client_id."))?;
    let search = param(&pairs, "search").map(str::to_lowercase);
    let open_only = param(&pairs, "open_only") == Some("true");
    let found = with_environment(&sandbox, tenant, |e| {
        if client.is_some_and(|c| c != e.halo_client_id()) {
            return Vec::new();
        }
        halo_tickets(e)
            .filter(|t| {
                search
                    .as_ref()
                    .is_none_or(|s| t.summary.to_lowercase().contains(s))
            })
            .filter(|t| !open_only || t.status_id != CLOSED_STATUS)
            .map(|t| ticket_json(e, t))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let record_count = found.len();
    let (page, size, tickets) = match window {
        Some((page, window)) => (page, window.size, window.slice(found)),
        None => (1, record_count, found),
    };
    Ok(Json(json!({
        "page_no": page,
        "page_size": size,
        "record_count": record_count,
        "tickets": tickets,
    }))
    .into_response())
}

/// `GET /api/Tickets/{id}`.
async fn ticket(Path(id): Path<String>, Admitted(sandbox, tenant): ReadTickets) -> Response {
    let found = with_environment(&sandbox, tenant, |e| {
        let id = id.parse::<u64>().ok()?;
        halo_tickets(e)
            .find(|t| t.id == id)
            .map(|t| ticket_json(e, t))
    })
    .await
    .flatten();
    match found {
        Some(ticket) => Json(ticket).into_response(),
        None => refuse(StatusCode::NOT_FOUND, &format!("Ticket {id} not found.")),
    }
}

/// One element of `POST /api/Tickets`.
#[derive(Debug, Deserialize)]
struct TicketWrite {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    details: Option<String>,
    #[serde(default)]
    client_id: Option<u32>,
    #[serde(default)]
    status_id: Option<u32>,
    #[serde(default)]
    priority_id: Option<u32>,
}

/// `POST /api/Tickets`: opens or updates each ticket of the array; answers the (last) ticket
/// written, as Halo does for a single element.
async fn save_tickets(Admitted(sandbox, tenant): EditTickets, body: Bytes) -> Response {
    let Ok(writes) = serde_json::from_slice::<Vec<TicketWrite>>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The request body must be an array of tickets.",
        );
    };
    if writes.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "No tickets were given.");
    }
    let now = sandbox.now();
    let saved = sandbox
        .with_next_ticket_id(
            tenant,
            PsaSystem::HaloPsa,
            FIRST_TICKET,
            |e, mut next_id| {
                let mut last = Value::Null;
                for write in writes {
                    if write
                        .status_id
                        .is_some_and(|s| !STATUSES.iter().any(|(id, _)| *id == s))
                    {
                        return Err(format!(
                            "Status {} does not exist.",
                            write.status_id.unwrap_or(0)
                        ));
                    }
                    let index = match write.id {
                        Some(id) => e
                            .psa_tickets
                            .iter()
                            .position(|t| t.system == PsaSystem::HaloPsa && t.id == id)
                            .ok_or_else(|| format!("Ticket {id} not found."))?,
                        None => {
                            let summary = write
                                .summary
                                .clone()
                                .filter(|s| !s.trim().is_empty())
                                .ok_or("A summary is required.")?;
                            if write.client_id != Some(e.halo_client_id()) {
                                return Err(format!(
                                    "Client {} not found.",
                                    write.client_id.unwrap_or(0)
                                ));
                            }
                            let id = next_id;
                            next_id += 1;
                            e.psa_tickets.push(SimTicket {
                                system: PsaSystem::HaloPsa,
                                id,
                                summary,
                                details: String::new(),
                                external_reference: None,
                                status_id: 1,
                                priority: "3".to_owned(),
                                notes: Vec::new(),
                                created_at: now,
                                updated_at: now,
                            });
                            e.psa_tickets.len() - 1
                        }
                    };
                    let ticket = &mut e.psa_tickets[index];
                    if let (Some(summary), Some(_)) = (&write.summary, write.id) {
                        ticket.summary.clone_from(summary);
                    }
                    if let Some(details) = write.details {
                        ticket.details = details;
                    }
                    if let Some(status) = write.status_id {
                        ticket.status_id = status;
                    }
                    if let Some(priority) = write.priority_id {
                        ticket.priority = priority.to_string();
                    }
                    ticket.updated_at = now;
                    let ticket = ticket.clone();
                    last = ticket_json(e, &ticket);
                }
                Ok::<Value, String>(last)
            },
        )
        .await;
    match saved {
        Ok(Ok(ticket)) => (StatusCode::CREATED, Json(ticket)).into_response(),
        Ok(Err(message)) => refuse(StatusCode::BAD_REQUEST, &message),
        Err(_) => refuse(StatusCode::NOT_FOUND, "Client not found."),
    }
}

/// One element of `POST /api/Actions`.
#[derive(Debug, Deserialize)]
struct ActionWrite {
    ticket_id: u64,
    #[serde(default)]
    note: String,
}

/// `POST /api/Actions`: adds notes to tickets.
async fn add_actions(Admitted(sandbox, tenant): EditTickets, body: Bytes) -> Response {
    let Ok(writes) = serde_json::from_slice::<Vec<ActionWrite>>(&body) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "The request body must be an array of actions.",
        );
    };
    let now = sandbox.now();
    let saved = sandbox
        .mutate(tenant, |e| -> Result<Value, String> {
            let mut last = Value::Null;
            for write in writes {
                if write.note.trim().is_empty() {
                    return Err("An action needs a note.".to_owned());
                }
                let ticket = e
                    .ticket_mut(PsaSystem::HaloPsa, write.ticket_id)
                    .ok_or_else(|| format!("Ticket {} not found.", write.ticket_id))?;
                ticket.notes.push(write.note.clone());
                ticket.updated_at = now;
                last = json!({
                    "id": ticket.notes.len(),
                    "ticket_id": ticket.id,
                    "note": write.note,
                    "outcome": "Private Note",
                    "hiddenfromuser": true,
                    "datetime": now,
                });
            }
            Ok(last)
        })
        .await;
    match saved {
        Ok(Ok(action)) => (StatusCode::CREATED, Json(action)).into_response(),
        Ok(Err(message)) => refuse(StatusCode::BAD_REQUEST, &message),
        Err(_) => refuse(StatusCode::NOT_FOUND, "Ticket not found."),
    }
}
