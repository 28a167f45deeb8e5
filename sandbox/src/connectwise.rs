//! The ConnectWise Manage (ConnectWise PSA) REST API of the MSP's site, as ConnectWise serves it
//! at `https://{site}/v4_6_release/apis/3.0/…`: here `/sandbox/connectwise/v4_6_release/apis/3.0/…`
//! (see `docs/vendors/connectwise-manage.md`).
//!
//! Each simulated customer is one *company* record of the MSP's Manage, and the API member
//! Steward was given for it sees that company's tickets only.
//! - Authentication: `Authorization: Basic base64("{companyId}+{publicKey}:{privateKey}")` and
//!   the integrator's `clientId` header on every request. A missing `clientId` is `400`, bad keys
//!   `401`, both with Manage's error body.
//! - `GET /company/companies/{id}`, `GET /service/boards/{id}/statuses`, `GET /service/tickets`
//!   (`conditions` joined by `and`: `id`, `company/id`, `board/id`, `closedFlag`, `externalXRef`
//!   with `=`; anything else is `400`), `GET /service/tickets/{id}`, `POST /service/tickets`
//!   (`201`), `PATCH /service/tickets/{id}` (a JSON Patch array; `replace` of `status`,
//!   `status/id`, `summary`), `POST /service/tickets/{id}/notes` (`201`).
//! - Lists are paged by `page` (from 1) and `pageSize` (default 25, at most 1000), with a `Link`
//!   header naming the `next` page while there is one.
//! - Errors: `{"code", "message", "errors": [{"code", "message", "resource", "field"}]}`.
//!   Injected storms answer `429` with `Retry-After`, as Manage's cloud throttles.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{OriginalUri, Path},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{Environment, PsaSystem, SimTicket},
    kit::{self, Admitted, Answer, Gate, PageSize, QueryPairs, Window},
    param, query, with_environment,
};

/// The MSP's company id, the first part of every API member's login.
pub const COMPANY_ID: &str = "stewardmsp";
/// The service board Steward's tickets go to.
pub const BOARD_ID: u32 = 27;
/// The board's statuses: (id, name, closed, default).
pub const STATUSES: [(u32, &str, bool, bool); 5] = [
    (381, "New", false, true),
    (382, "In Progress", false, false),
    (383, "Waiting Customer", false, false),
    (384, ">Closed", true, false),
    (385, "Completed", true, false),
];
const FIRST_TICKET: u64 = 52_000;
const SUMMARY_LIMIT: usize = 100;

/// The operations served (method, path below `/v4_6_release/apis/3.0`).
pub const OPERATIONS: [(&str, &str); 7] = [
    ("GET", "/company/companies/{id}"),
    ("GET", "/service/boards/{id}/statuses"),
    ("GET", "/service/tickets"),
    ("GET", "/service/tickets/{id}"),
    ("POST", "/service/tickets"),
    ("PATCH", "/service/tickets/{id}"),
    ("POST", "/service/tickets/{id}/notes"),
];

const BASE: &str = "/connectwise/v4_6_release/apis/3.0";

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route(&format!("{BASE}/company/companies/{{id}}"), get(company))
        .route(
            &format!("{BASE}/service/boards/{{id}}/statuses"),
            get(board_statuses),
        )
        .route(
            &format!("{BASE}/service/tickets"),
            get(tickets).post(open_ticket),
        )
        .route(
            &format!("{BASE}/service/tickets/{{id}}"),
            get(ticket).patch(patch_ticket),
        )
        .route(
            &format!("{BASE}/service/tickets/{{id}}/notes"),
            axum::routing::post(add_note),
        )
        .with_state(sandbox)
}

impl Sandbox {
    /// Makes the next `requests` ConnectWise Manage API calls of `tenant_id` answer 429.
    pub fn throttle_connectwise(&self, tenant_id: Uuid, requests: u32) {
        self.inner.connectwise.start(tenant_id, requests);
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "errors": null})),
    )
        .into_response()
}

fn invalid(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "code": "InvalidObject",
            "message": "ticket object is invalid",
            "errors": [{"code": "InvalidField", "message": message, "resource": "ticket", "field": field}],
        })),
    )
        .into_response()
}

/// The API member's keys and the integrator's `clientId`, for one customer's company.
struct ApiMember;

impl Gate for ApiMember {
    type Caller = Uuid;

    /// The customer whose API member signs the request; the refusal (400, 401 or 429) otherwise.
    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Uuid, Response> {
        let client_id = headers
            .get("clientId")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if client_id.is_empty() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "InvalidClientId",
                "A clientId header is required: register the integration at developer.connectwise.com",
            ));
        }
        let login = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .and_then(|v| String::from_utf8(v).ok())
            .unwrap_or_default();
        let signed = |e: &Environment| {
            let (public, private, client) = e.cw_api_keys();
            login == format!("{COMPANY_ID}+{public}:{private}") && client == client_id
        };
        let Some(tenant) = kit::customer_where(sandbox, signed).await else {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The credentials or the clientId are not valid.",
            ));
        };
        if sandbox.inner.connectwise.hit(tenant) {
            return Err(kit::retry_after_a_second(error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Too many requests: slow down.",
            )));
        }
        Ok(tenant)
    }
}

/// A call the API member signed, for its customer.
type Call = Admitted<ApiMember>;

fn status_of(id: u32) -> Option<(u32, &'static str, bool, bool)> {
    STATUSES.iter().copied().find(|(status, ..)| *status == id)
}

fn ticket_json(environment: &Environment, ticket: &SimTicket) -> Value {
    let (status_id, status, closed, _) =
        status_of(ticket.status_id).unwrap_or((ticket.status_id, "Unknown", false, false));
    json!({
        "id": ticket.id,
        "summary": ticket.summary,
        "recordType": "ServiceTicket",
        "board": {"id": BOARD_ID, "name": "Security Operations"},
        "status": {"id": status_id, "name": status},
        "company": {
            "id": environment.cw_company_record_id(),
            "identifier": environment.tenant_name.replace(' ', ""),
            "name": environment.tenant_name,
        },
        "severity": ticket.priority,
        "impact": "Medium",
        "externalXRef": ticket.external_reference,
        "closedFlag": closed,
        "_info": {
            "dateEntered": ticket.created_at,
            "lastUpdated": ticket.updated_at,
            "updatedBy": "steward",
        },
    })
}

fn cw_tickets(environment: &Environment) -> impl Iterator<Item = &SimTicket> {
    environment
        .psa_tickets
        .iter()
        .filter(|t| t.system == PsaSystem::ConnectWise)
}

/// How ConnectWise pages its lists: `page` from 1 and `pageSize` up to 1,000 (default 25).
const PAGE_SIZE: PageSize = PageSize {
    name: "pageSize",
    default: 25,
    max: 1000,
};

/// `page` and `pageSize` of a list request.
fn window(pairs: &[(String, String)]) -> Result<(usize, Window), Response> {
    Window::by_page_number(pairs, "page", PAGE_SIZE)
        .map_err(|bad| error(StatusCode::BAD_REQUEST, "InvalidObject", &bad.to_string()))
}

/// One page of `items`, with the `Link` header of the next.
fn paged(uri: &axum::http::Uri, items: Vec<Value>, (page, window): (usize, Window)) -> Response {
    let more = window.more_after(items.len());
    let data = window.slice(items);
    let mut response = Json(data).into_response();
    if more {
        let mut pairs: Vec<(String, String)> = query(uri.query())
            .into_iter()
            .filter(|(k, _)| k != "page")
            .collect();
        pairs.push(("page".to_owned(), (page + 1).to_string()));
        let next = format!(
            "<{}?{}>; rel=\"next\"",
            uri.path(),
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        );
        if let Ok(value) = HeaderValue::from_str(&next) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    response
}

/// `GET /company/companies/{id}`.
async fn company(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    let found = kit::own_record(
        (&sandbox, tenant),
        &id,
        Environment::cw_company_record_id,
        |e| {
            json!({
                "id": e.cw_company_record_id(),
                "identifier": e.tenant_name.replace(' ', ""),
                "name": e.tenant_name,
                "status": {"id": 1, "name": "Active"},
                "deletedFlag": false,
            })
        },
    )
    .await;
    match found {
        Some(company) => Json(company).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Company ID {id} not found"),
        ),
    }
}

/// `GET /service/boards/{id}/statuses`.
async fn board_statuses(OriginalUri(uri): OriginalUri, Path(id): Path<String>, _: Call) -> Answer {
    if id.parse::<u32>().ok() != Some(BOARD_ID) {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Board ID {id} not found"),
        ));
    }
    let window = window(&query(uri.query()))?;
    let items = STATUSES
        .iter()
        .enumerate()
        .map(|(order, (id, name, closed, default))| {
            json!({
                "id": id,
                "name": name,
                "board": {"id": BOARD_ID},
                "sortOrder": order,
                "displayOnBoard": true,
                "inactive": false,
                "closedStatus": closed,
                "defaultFlag": default,
            })
        })
        .collect();
    Ok(paged(&uri, items, window))
}

/// One `field = value` term of `conditions`.
#[derive(Debug, PartialEq)]
enum Condition {
    Id(u64),
    Company(u32),
    Board(u32),
    Closed(bool),
    ExternalReference(String),
}

fn conditions(text: &str) -> Result<Vec<Condition>, String> {
    let mut terms = Vec::new();
    for term in split_and(text) {
        let (field, value) = term
            .split_once('=')
            .ok_or_else(|| format!("cannot read the condition {term:?}"))?;
        let (field, value) = (field.trim(), value.trim());
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{field} needs a number, not {value}"))
        };
        let small = || {
            value
                .parse::<u32>()
                .map_err(|_| format!("{field} needs a number, not {value}"))
        };
        terms.push(match field {
            "id" => Condition::Id(number()?),
            "company/id" => Condition::Company(small()?),
            "board/id" => Condition::Board(small()?),
            "closedFlag" => Condition::Closed(match value {
                "true" => true,
                "false" => false,
                other => return Err(format!("closedFlag is true or false, not {other}")),
            }),
            "externalXRef" => Condition::ExternalReference(
                value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .ok_or("externalXRef takes a quoted string")?
                    .to_owned(),
            ),
            other => return Err(format!("filtering on {other} is not supported here")),
        });
    }
    Ok(terms)
}

/// The terms of `conditions`, split at ` and ` outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && rest.to_ascii_lowercase().starts_with(" and ") {
            terms.push(std::mem::take(&mut current));
            rest = &rest[5..];
            continue;
        }
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !current.trim().is_empty() {
        terms.push(current);
    }
    terms
}

fn matches(environment: &Environment, ticket: &SimTicket, condition: &Condition) -> bool {
    match condition {
        Condition::Id(id) => ticket.id == *id,
        Condition::Company(id) => environment.cw_company_record_id() == *id,
        Condition::Board(id) => *id == BOARD_ID,
        Condition::Closed(closed) => status_of(ticket.status_id).is_some_and(|s| s.2 == *closed),
        Condition::ExternalReference(reference) => {
            ticket.external_reference.as_deref() == Some(reference)
        }
    }
}

/// `GET /service/tickets`.
async fn tickets(
    OriginalUri(uri): OriginalUri,
    QueryPairs(pairs): QueryPairs,
    Admitted(sandbox, tenant): Call,
) -> Answer {
    let window = window(&pairs)?;
    let terms = conditions(param(&pairs, "conditions").unwrap_or_default())
        .map_err(|message| error(StatusCode::BAD_REQUEST, "InvalidObject", &message))?;
    let items = with_environment(&sandbox, tenant, |e| {
        cw_tickets(e)
            .filter(|t| terms.iter().all(|c| matches(e, t, c)))
            .map(|t| ticket_json(e, t))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    Ok(paged(&uri, items, window))
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("Ticket ID {id} not found"),
    )
}

/// `GET /service/tickets/{id}`.
async fn ticket(Path(id): Path<String>, Admitted(sandbox, tenant): Call) -> Response {
    let found = with_environment(&sandbox, tenant, |e| {
        let id = id.parse::<u64>().ok()?;
        cw_tickets(e)
            .find(|t| t.id == id)
            .map(|t| ticket_json(e, t))
    })
    .await
    .flatten();
    found.map_or_else(|| not_found(&id), |t| Json(t).into_response())
}

#[derive(Debug, Deserialize)]
struct Reference {
    id: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewTicket {
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    board: Option<Reference>,
    #[serde(default)]
    company: Option<Reference>,
    #[serde(default)]
    status: Option<Reference>,
    #[serde(default)]
    initial_description: Option<String>,
    #[serde(default, rename = "externalXRef")]
    external_x_ref: Option<String>,
    #[serde(default)]
    severity: Option<String>,
}

/// `POST /service/tickets`.
async fn open_ticket(Admitted(sandbox, tenant): Call, body: Bytes) -> Response {
    let new: NewTicket = match serde_json::from_slice(&body) {
        Ok(new) => new,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidObject", &e.to_string()),
    };
    let Some(summary) = new.summary.filter(|s| !s.trim().is_empty()) else {
        return invalid("summary", "The summary field is required.");
    };
    if summary.chars().count() > SUMMARY_LIMIT {
        return invalid(
            "summary",
            &format!("summary may not be more than {SUMMARY_LIMIT} characters"),
        );
    }
    if new.board.as_ref().map(|b| b.id) != Some(BOARD_ID) {
        return invalid("board", "The board field is required and must be a board.");
    }
    let status = match new.status.map(|s| s.id) {
        Some(id) if status_of(id).is_none() => {
            return invalid("status", &format!("Status ID {id} is not on this board."));
        }
        Some(id) => id,
        None => STATUSES[0].0,
    };
    if let Some(severity) = &new.severity
        && !matches!(severity.as_str(), "High" | "Medium" | "Low")
    {
        return invalid("severity", "severity is High, Medium or Low.");
    }
    let now = sandbox.now();
    let company = new.company.map(|c| c.id);
    let created = sandbox
        .with_next_ticket_id(tenant, PsaSystem::ConnectWise, FIRST_TICKET, |e, id| {
            if company != Some(e.cw_company_record_id()) {
                return None;
            }
            let ticket = SimTicket {
                system: PsaSystem::ConnectWise,
                id,
                summary,
                details: new.initial_description.unwrap_or_default(),
                external_reference: new.external_x_ref,
                status_id: status,
                priority: new.severity.unwrap_or_else(|| "Medium".to_owned()),
                notes: Vec::new(),
                created_at: now,
                updated_at: now,
            };
            let json = ticket_json(e, &ticket);
            e.psa_tickets.push(ticket);
            Some(json)
        })
        .await;
    match created {
        Ok(Some(ticket)) => (StatusCode::CREATED, Json(ticket)).into_response(),
        _ => invalid(
            "company",
            "The company field is required and must be a company.",
        ),
    }
}

#[derive(Debug, Deserialize)]
struct PatchOperation {
    op: String,
    path: String,
    value: Value,
}

/// `PATCH /service/tickets/{id}`.
async fn patch_ticket(
    Path(id): Path<String>,
    Admitted(sandbox, tenant): Call,
    body: Bytes,
) -> Response {
    let Ok(operations) = serde_json::from_slice::<Vec<PatchOperation>>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "The body must be a JSON Patch array of operations.",
        );
    };
    let mut status = None;
    let mut summary = None;
    for operation in operations {
        if operation.op != "replace" {
            return error(
                StatusCode::BAD_REQUEST,
                "InvalidObject",
                &format!("The operation {} is not supported.", operation.op),
            );
        }
        match operation.path.trim_start_matches('/') {
            "status/id" => status = operation.value.as_u64(),
            "status" => status = operation.value.get("id").and_then(Value::as_u64),
            "summary" => summary = operation.value.as_str().map(str::to_owned),
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObject",
                    &format!("The path {other} cannot be patched here."),
                );
            }
        }
    }
    let status = match status.map(|s| u32::try_from(s).ok().and_then(status_of)) {
        Some(None) => return invalid("status", "The status is not on this board."),
        Some(Some((id, ..))) => Some(id),
        None => None,
    };
    let now = sandbox.now();
    let patched = sandbox
        .mutate(tenant, |e| {
            let ticket = e.ticket_mut(PsaSystem::ConnectWise, id.parse().ok()?)?;
            if let Some(status) = status {
                ticket.status_id = status;
            }
            if let Some(summary) = &summary {
                ticket.summary.clone_from(summary);
            }
            ticket.updated_at = now;
            let ticket = ticket.clone();
            Some(ticket_json(e, &ticket))
        })
        .await;
    match patched {
        Ok(Some(ticket)) => Json(ticket).into_response(),
        _ => not_found(&id),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewNote {
    #[serde(default)]
    text: String,
    #[serde(default)]
    internal_analysis_flag: bool,
    #[serde(default)]
    detail_description_flag: bool,
}

/// `POST /service/tickets/{id}/notes`.
async fn add_note(
    Path(id): Path<String>,
    Admitted(sandbox, tenant): Call,
    body: Bytes,
) -> Response {
    let note: NewNote = match serde_json::from_slice(&body) {
        Ok(note) => note,
        Err(e) => return error(StatusCode::BAD_REQUEST, "InvalidObject", &e.to_string()),
    };
    if note.text.trim().is_empty() {
        return invalid("text", "The text field is required.");
    }
    if !note.internal_analysis_flag && !note.detail_description_flag {
        return invalid(
            "internalAnalysisFlag",
            "A note is internal, discussion or resolution: set one flag.",
        );
    }
    let now = sandbox.now();
    let added = sandbox
        .mutate(tenant, |e| {
            let ticket = e.ticket_mut(PsaSystem::ConnectWise, id.parse().ok()?)?;
            ticket.notes.push(note.text.clone());
            ticket.updated_at = now;
            Some(json!({
                "id": ticket.notes.len(),
                "ticketId": ticket.id,
                "text": note.text,
                "internalAnalysisFlag": note.internal_analysis_flag,
                "detailDescriptionFlag": note.detail_description_flag,
                "dateCreated": now,
            }))
        })
        .await;
    match added {
        Ok(Some(note)) => (StatusCode::CREATED, Json(note)).into_response(),
        _ => not_found(&id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_are_split_at_and_outside_quotes() {
        assert_eq!(
            conditions(r#"externalXRef="A and B" and company/id=250 AND closedFlag=false"#)
                .unwrap(),
            vec![
                Condition::ExternalReference("A and B".to_owned()),
                Condition::Company(250),
                Condition::Closed(false),
            ]
        );
        assert!(conditions("summary like \"%x%\"").is_err());
        assert!(conditions("externalXRef=unquoted").is_err());
    }
}
