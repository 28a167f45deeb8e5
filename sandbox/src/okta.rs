//! Okta's management API for each simulated customer's org, as Okta serves it at
//! `https://{org}.okta.com/api/v1/…`: here `/sandbox/okta/{org}/api/v1/…` (see
//! `docs/vendors/okta.md`).
//!
//! - Authentication: `Authorization: SSWS {api token}`; anything else is 401 `E0000011`.
//! - Paging: `limit` (users: default and maximum 200; System Log: default 100, maximum 1,000) and
//!   an opaque `after` cursor, both only ever followed through the `Link: <…>; rel="next"`
//!   header. A System Log request without `until` is a polling request, whose `next` link is
//!   always present.
//! - Rate limits: every answer carries `X-Rate-Limit-Limit`, `X-Rate-Limit-Remaining` and
//!   `X-Rate-Limit-Reset` (UTC epoch seconds) for its endpoint's per-minute budget; past it, 429
//!   with `E0000047` and no `Retry-After`.
//!
//! (Over 800 lines on purpose: one vendor's simulated API, kept in one file to be read side by
//! side with Okta's reference.)
//! - Errors: `{"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}`.
//! - System Log: sign-ins (`user.session.start`), and the lifecycle changes and cleared sessions
//!   the API made (`user.lifecycle.suspend`, `user.lifecycle.unsuspend`, `user.session.clear`,
//!   with the user as target); `filter` takes `eventType`, `actor.id` and `target.id` clauses
//!   with `eq`, joined by `and`.
//! - Admin roles: Microsoft Entra ID's Global Administrator is Okta's Super Administrator
//!   (`SUPER_ADMIN`), its User Administrator Okta's Group Administrator (`USER_ADMIN`).
//! - Factors: the second factors each user enrolled (Okta Verify push, SMS, Google
//!   Authenticator), all `ACTIVE`.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::{
    Json, Router,
    extract::{FromRequestParts, Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Sandbox,
    environment::{AuthMethodKind, Environment, Ids, SimUser},
    kit::{self, Answer, QueryPairs, Window},
    param,
    throttle::{MinuteBudgets, Spent},
    with_environment,
};

/// The operations served, as Okta's OpenAPI description names them (method, path under the org).
pub const OPERATIONS: [(&str, &str); 11] = [
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{groupId}/users"),
    ("GET", "/api/v1/users/{id}"),
    ("GET", "/api/v1/users/{userId}/roles"),
    ("GET", "/api/v1/users/{userId}/factors"),
    ("GET", "/api/v1/iam/assignees/users"),
    ("POST", "/api/v1/users/{id}/lifecycle/suspend"),
    ("POST", "/api/v1/users/{id}/lifecycle/unsuspend"),
    ("DELETE", "/api/v1/users/{userId}/sessions"),
    ("GET", "/api/v1/logs"),
];

pub(super) fn router<S: Clone + Send + Sync + 'static>(sandbox: Sandbox) -> Router<S> {
    Router::new()
        .route("/okta/{org}/api/v1/users", get(users))
        .route("/okta/{org}/api/v1/users/{id}", get(user))
        .route("/okta/{org}/api/v1/users/{id}/roles", get(user_roles))
        .route("/okta/{org}/api/v1/users/{id}/factors", get(user_factors))
        .route(
            "/okta/{org}/api/v1/iam/assignees/users",
            get(role_assignees),
        )
        .route(
            "/okta/{org}/api/v1/users/{id}/lifecycle/{operation}",
            post(lifecycle_operation),
        )
        .route(
            "/okta/{org}/api/v1/users/{id}/sessions",
            delete(clear_sessions),
        )
        .route("/okta/{org}/api/v1/groups", get(groups))
        .route("/okta/{org}/api/v1/groups/{id}/users", get(group_users))
        .route("/okta/{org}/api/v1/logs", get(logs))
        .with_state(sandbox)
}

/// A user's Okta status.
pub(super) fn status(user: &SimUser) -> &'static str {
    if user.okta_suspended {
        "SUSPENDED"
    } else {
        "ACTIVE"
    }
}

/// The per-minute budgets of each org and endpoint.
pub(super) type RateLimits = MinuteBudgets<(Uuid, Endpoint)>;

/// The rate-limit buckets of the operations served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Endpoint {
    Users,
    Logs,
    Lifecycle,
}

impl Endpoint {
    /// Requests per minute per org: Okta's defaults for a small org.
    const fn limit(self) -> u32 {
        match self {
            Endpoint::Users | Endpoint::Lifecycle => 600,
            Endpoint::Logs => 120,
        }
    }
}

impl Sandbox {
    /// Makes the next `requests` calls to `tenant_id`'s Okta org answer 429, as if other clients
    /// had spent the budget of a window that resets within a second or two.
    pub fn throttle_okta(&self, tenant_id: Uuid, requests: u32) {
        self.inner.okta_limits.storms.start(tenant_id, requests);
    }
}

fn error(status: StatusCode, code: &str, summary: &str) -> Response {
    error_with_causes(status, code, summary, &[])
}

/// Okta's error body; `errorId` is unique per answer, as Okta's request ids are.
fn error_with_causes(status: StatusCode, code: &str, summary: &str, causes: &[&str]) -> Response {
    static ERRORS: AtomicU64 = AtomicU64::new(1);
    let id = format!("oae{:019}", ERRORS.fetch_add(1, Ordering::Relaxed));
    let causes: Vec<Value> = causes
        .iter()
        .map(|cause| json!({"errorSummary": cause}))
        .collect();
    (
        status,
        Json(json!({
            "errorCode": code,
            "errorSummary": summary,
            "errorLink": code,
            "errorId": id,
            "errorCauses": causes,
        })),
    )
        .into_response()
}

fn with_budget(mut response: Response, budget: &Spent) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-rate-limit-limit", budget.limit.to_string()),
        ("x-rate-limit-remaining", budget.remaining.to_string()),
        ("x-rate-limit-reset", budget.reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

/// A call to an org's API, as an extractor: what authorizing, budgeting and linking an answer
/// need, so no handler takes the request apart itself.
#[derive(FromRequestParts)]
#[from_request(state(Sandbox))]
struct OrgCall {
    #[from_request(via(State))]
    sandbox: Sandbox,
    path: Path<Vec<(String, String)>>,
    headers: HeaderMap,
    query: QueryPairs,
}

impl OrgCall {
    /// The org the path names.
    fn org(&self) -> &str {
        self.path
            .iter()
            .find_map(|(name, value)| (name == "org").then_some(value.as_str()))
            .unwrap_or_default()
    }

    /// The org's tenant if the request carries its API token; the refusal otherwise.
    async fn authorize(&self) -> Result<Uuid, Response> {
        let org = self.org();
        let environments = self.sandbox.inner.environments.lock().await;
        let Some(environment) = environments.values().find(|e| e.okta_org() == org) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {org} (Org)"),
            ));
        };
        let expected = format!("SSWS {}", environment.okta_api_token());
        let given = self
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided",
            ));
        }
        Ok(environment.tenant_id)
    }

    /// Authorizes the call, counts it against `endpoint`'s budget, and runs `answer` unless it
    /// is refused; the rate-limit headers go on every answer.
    async fn handle(
        &self,
        endpoint: Endpoint,
        answer: impl AsyncFnOnce(Uuid) -> Answer,
    ) -> Response {
        let tenant = match self.authorize().await {
            Ok(tenant) => tenant,
            Err(refused) => return refused,
        };
        let budget =
            self.sandbox
                .inner
                .okta_limits
                .take((tenant, endpoint), tenant, endpoint.limit());
        let response = if budget.refused {
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "E0000047",
                "API call exceeded rate limit due to too many requests.",
            )
        } else {
            answer(tenant).await.unwrap_or_else(|refused| refused)
        };
        with_budget(response, &budget)
    }

    /// The org's base URL, as its links name it.
    fn base(&self) -> String {
        format!(
            "http://{}/sandbox/okta/{}",
            kit::host(&self.headers),
            self.org()
        )
    }

    /// The query parameter `name`.
    fn param(&self, name: &str) -> Option<&str> {
        param(&self.query.0, name)
    }

    /// `limit` within `1..=max` (a larger one is capped, as Okta does), `default` when absent.
    fn limit(&self, default: usize, max: usize) -> Result<usize, Response> {
        match self.param("limit").map(str::parse::<usize>) {
            None => Ok(default),
            Some(Ok(n)) if n >= 1 => Ok(n.min(max)),
            Some(_) => Err(error(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: limit",
            )),
        }
    }

    /// The page of `items` after the request's `after` cursor, with the `Link` headers of the
    /// list at `path` (below `/api/v1/`): how every `Link`-paged list answers.
    fn linked_page(&self, items: Vec<Value>, path: &str, limit: usize) -> Response {
        let (page, more) = page_by_id(items, self.param("after"), limit);
        linked(page, more, &format!("{}/api/v1/{path}", self.base()), limit)
    }
}

fn user_json(environment: &Environment, user: &SimUser, base: &str) -> Value {
    let id = environment.okta_user_id(user);
    json!({
        "id": id,
        "status": status(user),
        "created": user.created,
        "activated": user.created,
        "statusChanged": user.created,
        "lastLogin": null,
        "lastUpdated": user.created,
        "passwordChanged": user.created,
        "type": {"id": "oty1a2b3c4d5e6f7g8h9"},
        "profile": {
            "firstName": user.given_name,
            "lastName": user.surname,
            "mobilePhone": null,
            "secondEmail": null,
            "login": user.user_principal_name,
            "email": user.user_principal_name,
            "department": user.department,
            "title": user.job_title,
        },
        "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
        "_links": {"self": {"href": format!("{base}/api/v1/users/{id}")}},
    })
}

/// One page of `items` in the order of their `id`, after the cursor `after` (the last id of the
/// previous page), and whether more follow.
fn page_by_id(mut items: Vec<Value>, after: Option<&str>, limit: usize) -> (Vec<Value>, bool) {
    items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let after = after.unwrap_or_default();
    let rest: Vec<Value> = items
        .into_iter()
        .filter(|item| item["id"].as_str().unwrap_or_default() > after)
        .collect();
    let more = rest.len() > limit;
    (rest.into_iter().take(limit).collect(), more)
}

/// `GET /api/v1/users`: ordered by id, paged by `after` (the last id of the previous page).
async fn users(call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let limit = call.limit(200, 200)?;
        let base = call.base();
        let all = with_environment(&call.sandbox, tenant, |environment| {
            environment
                .users
                .iter()
                .map(|u| user_json(environment, u, &base))
                .collect()
        })
        .await
        .ok_or_else(org_not_found)?;
        Ok(call.linked_page(all, "users", limit))
    })
    .await
}

/// The answer for an org whose customer went away while the call was answered.
fn org_not_found() -> Response {
    error(StatusCode::NOT_FOUND, "E0000007", "Not found")
}

/// The org's groups: `Everyone` (built in, every user) and the customer's groups, which the
/// org mirrors from Microsoft Entra ID (`APP_GROUP`).
fn okta_groups(environment: &Environment) -> Vec<(String, Value, Vec<&SimUser>)> {
    let everyone = (
        format!(
            "00g{}",
            &Ids::new(environment.tenant_id).machine("okta-everyone")[..17]
        ),
        json!({"name": "Everyone", "description": "All users in your organization"}),
        environment.users.iter().collect(),
        "BUILT_IN",
    );
    let mirrored = environment.groups.iter().map(|g| {
        (
            format!(
                "00g{}",
                &Ids::new(environment.tenant_id).machine(&format!("okta-{}", g.id))[..17]
            ),
            json!({"name": g.display_name, "description": g.description}),
            g.members
                .iter()
                .filter_map(|m| environment.user(m))
                .collect(),
            "APP_GROUP",
        )
    });
    std::iter::once(everyone)
        .chain(mirrored)
        .map(|(id, profile, members, kind)| {
            let group = json!({
                "id": id,
                "created": "2024-01-08T09:00:00.000Z",
                "lastUpdated": "2024-01-08T09:00:00.000Z",
                "lastMembershipUpdated": "2024-01-08T09:00:00.000Z",
                "objectClass": ["okta:user_group"],
                "type": kind,
                "profile": profile,
            });
            (id, group, members)
        })
        .collect()
}

/// Adds Okta's `Link` headers: `self`, and `next` when more items follow the last of `page`.
fn linked(page: Vec<Value>, more: bool, url: &str, limit: usize) -> Response {
    let mut links = vec![format!("<{url}?limit={limit}>; rel=\"self\"")];
    if more && let Some(last) = page.last().and_then(|u| u["id"].as_str()) {
        links.push(format!("<{url}?after={last}&limit={limit}>; rel=\"next\""));
    }
    let mut response = Json(page).into_response();
    for link in links {
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().append(header::LINK, value);
        }
    }
    response
}

/// `GET /api/v1/groups` (`limit` up to 10,000, paged by `after`).
async fn groups(call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let limit = call.limit(10_000, 10_000)?;
        let all = with_environment(&call.sandbox, tenant, |e| {
            okta_groups(e)
                .into_iter()
                .map(|(_, g, _)| g)
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        Ok(call.linked_page(all, "groups", limit))
    })
    .await
}

/// `GET /api/v1/groups/{groupId}/users` (`limit` up to 1,000, paged by `after`).
async fn group_users(Path((_, id)): Path<(String, String)>, call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let limit = call.limit(1_000, 1_000)?;
        let base = call.base();
        let members = with_environment(&call.sandbox, tenant, |e| {
            okta_groups(e)
                .into_iter()
                .find(|(group, _, _)| *group == id)
                .map(|(_, _, members)| {
                    members
                        .into_iter()
                        .map(|u| user_json(e, u, &base))
                        .collect::<Vec<_>>()
                })
        })
        .await
        .flatten();
        let Some(members) = members else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "E0000007",
                &format!("Not found: Resource not found: {id} (UserGroup)"),
            ));
        };
        Ok(call.linked_page(members, &format!("groups/{id}/users"), limit))
    })
    .await
}

fn user_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!("Not found: Resource not found: {id} (User)"),
    )
}

async fn user(Path((_, id)): Path<(String, String)>, call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let base = call.base();
        let environments = call.sandbox.inner.environments.lock().await;
        let user = environments
            .get(&tenant)
            .and_then(|e| e.okta_user(&id).map(|u| user_json(e, u, &base)))
            .ok_or_else(|| user_not_found(&id))?;
        Ok(Json(user).into_response())
    })
    .await
}

/// Okta's role type and label for one of the customer's Microsoft Entra ID admin roles.
fn okta_role(entra_role: &str) -> (&'static str, &'static str) {
    match entra_role {
        "Global Administrator" => ("SUPER_ADMIN", "Super Administrator"),
        _ => ("USER_ADMIN", "Group Administrator"),
    }
}

/// `GET /api/v1/users/{userId}/roles`: the standard roles assigned to the user.
async fn user_roles(Path((_, id)): Path<(String, String)>, call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let base = call.base();
        let environments = call.sandbox.inner.environments.lock().await;
        let (environment, user) = environments
            .get(&tenant)
            .and_then(|e| e.okta_user(&id).map(|u| (e, u)))
            .ok_or_else(|| user_not_found(&id))?;
        let okta_id = environment.okta_user_id(user);
        let roles: Vec<Value> = environment
            .roles
            .iter()
            .filter(|r| r.members.contains(&user.id))
            .map(|r| {
                let (kind, label) = okta_role(&r.display_name);
                json!({
                    "id": format!("ra{}", &r.id.replace('-', "")[..18]),
                    "label": label,
                    "type": kind,
                    "status": "ACTIVE",
                    "created": user.created,
                    "lastUpdated": user.created,
                    "assignmentType": "USER",
                    "_links": {"assignee": {"href": format!("{base}/api/v1/users/{okta_id}")}},
                })
            })
            .collect();
        Ok(Json(roles).into_response())
    })
    .await
}

/// `GET /api/v1/users/{userId}/factors`: the user's enrolled second factors.
async fn user_factors(Path((_, id)): Path<(String, String)>, call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let environments = call.sandbox.inner.environments.lock().await;
        let user = environments
            .get(&tenant)
            .and_then(|e| e.okta_user(&id))
            .ok_or_else(|| user_not_found(&id))?;
        let factors: Vec<Value> = user
            .authentication_methods
            .iter()
            .filter_map(|method| {
                let (factor_type, provider, profile) = match method.kind {
                    AuthMethodKind::Password => return None,
                    AuthMethodKind::MicrosoftAuthenticator => (
                        "push",
                        "OKTA",
                        json!({"name": format!("{}'s phone", user.given_name), "platform": "IOS"}),
                    ),
                    AuthMethodKind::Phone => ("sms", "OKTA", json!({"phoneNumber": "+1 555-0100"})),
                    AuthMethodKind::SoftwareOath => (
                        "token:software:totp",
                        "GOOGLE",
                        json!({"credentialId": user.user_principal_name}),
                    ),
                };
                Some(json!({
                    "id": format!("opf{}", &method.id.replace('-', "")[..17]),
                    "factorType": factor_type,
                    "provider": provider,
                    "vendorName": provider,
                    "status": "ACTIVE",
                    "created": method.created,
                    "lastUpdated": method.created,
                    "profile": profile,
                }))
            })
            .collect();
        Ok(Json(factors).into_response())
    })
    .await
}

/// `GET /api/v1/iam/assignees/users`: users with a role assigned, ordered by id and paged by
/// `after` in the body's `_links.next`.
async fn role_assignees(call: OrgCall) -> Response {
    call.handle(Endpoint::Users, async |tenant| {
        let limit = call.limit(100, 100)?;
        let (org, base) = (call.org(), call.base());
        let ids = with_environment(&call.sandbox, tenant, |environment| {
            environment
                .users
                .iter()
                .filter(|u| environment.is_admin(&u.id))
                .map(|u| json!({"id": environment.okta_user_id(u)}))
                .collect()
        })
        .await
        .ok_or_else(org_not_found)?;
        let (ids, more) = page_by_id(ids, call.param("after"), limit);
        let page: Vec<Value> = ids
            .iter()
            .filter_map(|item| item["id"].as_str())
            .map(|id| {
                json!({
                    "id": id,
                    "orn": format!("orn:okta:idp:{org}:users:{id}"),
                    "_links": {
                        "self": {"href": format!("{base}/api/v1/users/{id}")},
                        "roles": {"href": format!("{base}/api/v1/users/{id}/roles")},
                    },
                })
            })
            .collect();
        let mut links = json!({});
        if more && let Some(last) = page.last().and_then(|u| u["id"].as_str()) {
            links["next"] = json!({
                "href": format!("{base}/api/v1/iam/assignees/users?after={last}&limit={limit}")
            });
        }
        Ok(Json(json!({"value": page, "_links": links})).into_response())
    })
    .await
}

/// Appends a System Log event about `user_id` that the API caused.
fn record(environment: &mut Environment, user_id: &str, event_type: &str, at: DateTime<Utc>) {
    let uuid = environment.next_guid("okta-event");
    let Some(user) = environment.user(user_id) else {
        return;
    };
    let message = match event_type {
        "user.lifecycle.suspend" => "Suspend Okta user",
        "user.lifecycle.unsuspend" => "Unsuspend Okta user",
        _ => "Clear user session",
    };
    let event = json!({
        "uuid": uuid,
        "published": at,
        "eventType": event_type,
        "version": "0",
        "displayMessage": message,
        "severity": "INFO",
        "actor": {
            "id": "0oa1stewardapitoken",
            "type": "PublicClientApp",
            "alternateId": "Steward",
            "displayName": "Steward",
        },
        "client": {"ipAddress": null},
        "outcome": {"result": "SUCCESS", "reason": null},
        "target": [{
            "id": environment.okta_user_id(user),
            "type": "User",
            "alternateId": user.user_principal_name,
            "displayName": user.display_name,
        }],
    });
    environment.okta_events.push(event);
}

/// Moves a user between `ACTIVE` and `SUSPENDED`; Okta refuses (400) to suspend a user who is
/// not active, or to unsuspend one who is not suspended.
async fn lifecycle(sandbox: &Sandbox, tenant: Uuid, id: &str, suspend: bool) -> Response {
    enum Outcome {
        Done,
        NoUser,
        WrongStatus,
    }
    let now = sandbox.now();
    let outcome = sandbox
        .mutate(tenant, |e| {
            let Some(user_id) = e.okta_user(id).map(|u| u.id.clone()) else {
                return Outcome::NoUser;
            };
            let Some(user) = e.user_mut(&user_id) else {
                return Outcome::NoUser;
            };
            if user.okta_suspended == suspend {
                return Outcome::WrongStatus;
            }
            user.okta_suspended = suspend;
            let event_type = if suspend {
                "user.lifecycle.suspend"
            } else {
                "user.lifecycle.unsuspend"
            };
            record(e, &user_id, event_type, now);
            Outcome::Done
        })
        .await;
    match outcome {
        Ok(Outcome::Done) => Json(json!({})).into_response(),
        Ok(Outcome::NoUser) | Err(_) => user_not_found(id),
        Ok(Outcome::WrongStatus) => {
            let (operation, cause) = if suspend {
                ("suspendUser", "Cannot suspend a user that is not active")
            } else {
                (
                    "unsuspendUser",
                    "Cannot unsuspend a user that is not suspended",
                )
            };
            error_with_causes(
                StatusCode::BAD_REQUEST,
                "E0000001",
                &format!("Api validation failed: {operation}"),
                &[cause],
            )
        }
    }
}

/// `POST /api/v1/users/{id}/lifecycle/suspend` and `…/unsuspend` (the sandbox models no other
/// lifecycle operation).
async fn lifecycle_operation(
    Path((_, id, operation)): Path<(String, String, String)>,
    call: OrgCall,
) -> Response {
    let suspend = match operation.as_str() {
        "suspend" => true,
        "unsuspend" => false,
        other => {
            return error(
                StatusCode::NOT_FOUND,
                "E0000022",
                &format!(
                    "The endpoint does not support the provided HTTP method: lifecycle/{other}"
                ),
            );
        }
    };
    call.handle(Endpoint::Lifecycle, async |tenant| {
        Ok(lifecycle(&call.sandbox, tenant, &id, suspend).await)
    })
    .await
}

/// `DELETE /api/v1/users/{userId}/sessions`: 204; every session of the user ends.
async fn clear_sessions(Path((_, id)): Path<(String, String)>, call: OrgCall) -> Response {
    call.handle(Endpoint::Lifecycle, async |tenant| {
        let now = call.sandbox.now();
        let cleared = call
            .sandbox
            .mutate(tenant, |e| {
                let user_id = e.okta_user(&id).map(|u| u.id.clone())?;
                e.user_mut(&user_id)?.sign_in_sessions_valid_from = now;
                record(e, &user_id, "user.session.clear", now);
                Some(())
            })
            .await;
        match cleared {
            Ok(Some(())) => Ok(StatusCode::NO_CONTENT.into_response()),
            Ok(None) | Err(_) => Err(user_not_found(&id)),
        }
    })
    .await
}

/// The customer's sign-ins as Okta System Log `user.session.start` events, oldest first.
fn log_events(environment: &Environment) -> Vec<(DateTime<Utc>, Value)> {
    let mut events: Vec<(DateTime<Utc>, Value)> = environment
        .sign_ins
        .iter()
        .filter_map(|record| {
            let at: DateTime<Utc> = record["createdDateTime"].as_str()?.parse().ok()?;
            let user = environment.user(record["userId"].as_str()?)?;
            let failed = record["status"]["errorCode"].as_i64().unwrap_or(0) != 0;
            let location = &record["location"];
            Some((
                at,
                json!({
                    "uuid": record["id"],
                    "published": at,
                    "eventType": "user.session.start",
                    "version": "0",
                    "displayMessage": "User login to Okta",
                    "severity": if failed { "WARN" } else { "INFO" },
                    "legacyEventType": if failed { "core.user_auth.login_failed" } else { "core.user_auth.login_success" },
                    "actor": {
                        "id": environment.okta_user_id(user),
                        "type": "User",
                        "alternateId": user.user_principal_name,
                        "displayName": user.display_name,
                    },
                    "client": {
                        "ipAddress": record["ipAddress"],
                        "userAgent": {"browser": "EDGE", "os": "Windows 10"},
                        "geographicalContext": {
                            "city": location["city"],
                            "state": location["state"],
                            "country": location["countryOrRegion"],
                            "geolocation": {
                                "lat": location["geoCoordinates"]["latitude"],
                                "lon": location["geoCoordinates"]["longitude"],
                            },
                        },
                    },
                    "outcome": {
                        "result": if failed { "FAILURE" } else { "SUCCESS" },
                        "reason": if failed { record["status"]["failureReason"].clone() } else { Value::Null },
                    },
                    "target": [],
                }),
            ))
        })
        .collect();
    events.extend(environment.okta_events.iter().filter_map(|event| {
        let at: DateTime<Utc> = event["published"].as_str()?.parse().ok()?;
        Some((at, event.clone()))
    }));
    events.sort_by_key(|(at, _)| *at);
    events
}

/// One comparison of a System Log `filter`: a field the sandbox models, `eq` (equals) or `sw`
/// (starts with), and a value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause<'f> {
    field: &'f str,
    starts_with: bool,
    value: String,
}

/// A System Log `filter` in Okta's SCIM-like syntax: `field eq "value"` or `field sw "value"`
/// clauses joined by `and`, alternatives joined by `or` (`and` binds tighter), over the fields
/// the sandbox models; `None` for anything else.
fn log_filter(expression: &str) -> Option<Vec<Vec<Clause<'_>>>> {
    expression
        .split(" or ")
        .map(|alternative| {
            alternative
                .split(" and ")
                .map(|clause| {
                    let clause = clause.trim();
                    let (field, starts_with, value) = match clause.split_once(" eq ") {
                        Some((field, value)) => (field, false, value),
                        None => {
                            let (field, value) = clause.split_once(" sw ")?;
                            (field, true, value)
                        }
                    };
                    let field = field.trim();
                    if !matches!(field, "eventType" | "actor.id" | "target.id") {
                        return None;
                    }
                    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
                    Some(Clause {
                        field,
                        starts_with,
                        value: value.to_owned(),
                    })
                })
                .collect()
        })
        .collect()
}

/// Whether `event` meets one of the alternatives (every event, when there are none).
fn log_matches(event: &Value, alternatives: &[Vec<Clause<'_>>]) -> bool {
    let holds = |clause: &Clause<'_>, found: Option<&str>| {
        found.is_some_and(|found| {
            if clause.starts_with {
                found.starts_with(&clause.value)
            } else {
                found == clause.value
            }
        })
    };
    alternatives.is_empty()
        || alternatives.iter().any(|clauses| {
            clauses.iter().all(|clause| match clause.field {
                "eventType" => holds(clause, event["eventType"].as_str()),
                "actor.id" => holds(clause, event["actor"]["id"].as_str()),
                _ => event["target"]
                    .as_array()
                    .is_some_and(|targets| targets.iter().any(|t| holds(clause, t["id"].as_str()))),
            })
        })
}

/// `GET /api/v1/logs`: events from `since` (default: seven days ago) to `until`, oldest first,
/// paged by an opaque `after` cursor. Without `until` the request polls, so its `next` link is
/// always present (it finds nothing new until there is).
async fn logs(call: OrgCall) -> Response {
    call.handle(Endpoint::Logs, async |tenant| {
        let limit = call.limit(100, 1000)?;
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, Response> {
            call.param(name)
                .map(|v| {
                    v.parse::<DateTime<Utc>>().map_err(|_| {
                        error(
                            StatusCode::BAD_REQUEST,
                            "E0000030",
                            &format!("Bad request. Invalid {name} value: {v}"),
                        )
                    })
                })
                .transpose()
        };
        let (since, until) = match (time("since"), time("until")) {
            (Ok(since), Ok(until)) => (since, until),
            (Err(refused), _) | (_, Err(refused)) => return Err(refused),
        };
        let since = since.unwrap_or_else(|| call.sandbox.now() - chrono::Duration::days(7));
        let clauses = match call.param("filter").map(log_filter) {
            None => Vec::new(),
            Some(Some(clauses)) => clauses,
            Some(None) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "E0000031",
                    "Invalid search criteria.",
                ));
            }
        };
        let after: usize = call
            .param("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let environments = call.sandbox.inner.environments.lock().await;
        let environment = environments.get(&tenant).ok_or_else(org_not_found)?;
        let matching: Vec<Value> = log_events(environment)
            .into_iter()
            .filter(|(at, _)| *at >= since && until.is_none_or(|until| *at < until))
            .map(|(_, event)| event)
            .filter(|event| log_matches(event, &clauses))
            .collect();
        let page = Window {
            offset: after,
            size: limit,
        }
        .slice(matching.iter().cloned());
        let next = after + page.len();
        let base = call.base();
        let mut kept: Vec<(String, String)> = call
            .query
            .0
            .iter()
            .filter(|(k, _)| k != "after")
            .cloned()
            .collect();
        kept.push(("after".to_owned(), next.to_string()));
        let next_query = serde_urlencoded::to_string(&kept).unwrap_or_default();
        let mut response = Json(page).into_response();
        if (until.is_none() || next < matching.len())
            && let Ok(value) =
                HeaderValue::from_str(&format!("<{base}/api/v1/logs?{next_query}>; rel=\"next\""))
        {
            response.headers_mut().append(header::LINK, value);
        }
        Ok(response)
    })
    .await
}
