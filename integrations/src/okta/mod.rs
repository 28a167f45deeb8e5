//! Okta Workforce Identity through Okta's management API: users, admin roles, enrolled factors,
//! System Log sign-ins, suspending and unsuspending users, and clearing their sessions.
//!
//! Built to Okta's published OpenAPI description (see `docs/vendors/okta.md`): an API token in
//! `Authorization: SSWS …`; collections page with `limit` and an opaque `after` cursor that is
//! only ever followed through `Link: <…>; rel="next"` headers; rate limits per endpoint and
//! minute, with `X-Rate-Limit-Reset` saying when to try again after a 429 (Okta sends no
//! `Retry-After`). Lifecycle operations answer 400 `E0000001` when the user is not in the
//! state they start from, so a repeated suspend reads the user before calling it a failure.
//! Clearing sessions leaves a `user.session.clear` event in the System Log, which is how the
//! effect is verified.

mod api;
mod system_log;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{
        EntityRef, ObservedEvent, ObservedIdentity, ObservedInventory, OcsfClass, Vendor,
    },
};
use url::Url;

use self::api::OktaApi;
use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, Execution, Snapshot,
        Verification, ensure_supported, inverse_request,
    },
    http::{Idempotency, VendorHttp},
    ocsf::{self, Product, SignIn},
};

/// The largest page `GET /api/v1/users` serves.
pub const MAX_USER_PAGE: usize = 200;
/// The largest page `GET /api/v1/logs` serves.
pub const MAX_LOG_PAGE: usize = 1000;

/// How far Steward's clock and Okta's may disagree when looking for a cleared session.
const CLOCK_TOLERANCE: Duration = Duration::seconds(60);

const OKTA: Product = Product {
    name: "Okta",
    vendor_name: "Okta",
};

/// A stored Okta integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OktaSettings {
    /// The org's URL, e.g. `https://acme.okta.com`.
    pub org_url: Url,
}

/// A group of `GET /api/v1/groups`.
#[derive(Debug, Deserialize)]
struct OktaGroup {
    id: String,
    /// `OKTA_GROUP`, `APP_GROUP` (imported from a directory) or `BUILT_IN` (`Everyone`).
    #[serde(rename = "type")]
    kind: String,
    profile: GroupProfile,
}

#[derive(Debug, Deserialize)]
struct GroupProfile {
    name: String,
}

/// An Okta user (`User` in the management API), as much as Steward reads.
#[derive(Debug, Clone, Deserialize)]
struct User {
    id: String,
    status: String,
    #[serde(default)]
    profile: Profile,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl User {
    /// Whether the user can sign in: an account not yet activated, suspended or deactivated
    /// cannot; one locked out or with an expired password still owns a working account.
    fn enabled(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "STAGED" | "PROVISIONED" | "SUSPENDED" | "DEPROVISIONED"
        )
    }

    fn login(&self) -> &str {
        self.profile.login.as_deref().unwrap_or(&self.id)
    }

    fn display_name(&self) -> Option<String> {
        let name = [&self.profile.first_name, &self.profile.last_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        (!name.is_empty()).then_some(name)
    }
}

/// A role assigned to a user (`Role` in the management API).
#[derive(Debug, Deserialize)]
struct Role {
    #[serde(default)]
    label: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// One page of `GET /api/v1/iam/assignees/users`, which pages in its body.
#[derive(Debug, Deserialize)]
struct RoleAssignees {
    #[serde(default)]
    value: Vec<Assignee>,
    #[serde(rename = "_links", default)]
    links: Option<AssigneeLinks>,
}

#[derive(Debug, Deserialize)]
struct Assignee {
    id: String,
}

#[derive(Debug, Deserialize)]
struct AssigneeLinks {
    #[serde(default)]
    next: Option<Href>,
}

#[derive(Debug, Deserialize)]
struct Href {
    href: String,
}

/// An enrolled factor (`UserFactor`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Factor {
    #[serde(default)]
    status: Option<String>,
}

/// A System Log event (`LogEvent`), as much as a sign-in needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEvent {
    uuid: String,
    published: DateTime<Utc>,
    event_type: String,
    #[serde(default)]
    actor: Option<LogActor>,
    #[serde(default)]
    client: Option<LogClient>,
    #[serde(default)]
    outcome: Option<LogOutcome>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogActor {
    id: String,
    #[serde(default)]
    alternate_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogClient {
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    geographical_context: Option<GeographicalContext>,
}

#[derive(Debug, Deserialize)]
struct GeographicalContext {
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    geolocation: Option<Geolocation>,
}

#[derive(Debug, Deserialize)]
struct Geolocation {
    #[serde(default)]
    lat: Option<f64>,
    #[serde(default)]
    lon: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct LogOutcome {
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// The Okta connector.
#[derive(Debug)]
pub struct OktaConnector {
    api: OktaApi,
    clock: Arc<dyn Clock>,
    user_page_size: usize,
}

impl OktaConnector {
    /// A connector for one customer's Okta org.
    #[must_use]
    pub fn new(
        http: VendorHttp,
        settings: &OktaSettings,
        token: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            api: OktaApi::new(http, &settings.org_url, token),
            clock,
            user_page_size: MAX_USER_PAGE,
        }
    }

    /// Reads users in pages of `page_size` (at most Okta's 200).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.user_page_size = page_size.clamp(1, MAX_USER_PAGE);
        self
    }

    async fn users(&self) -> Result<Vec<User>, ConnectorError> {
        let mut url = self.api.url("api/v1/users")?;
        url.query_pairs_mut()
            .append_pair("limit", &self.user_page_size.to_string());
        self.api.collect_linked(url).await
    }

    /// User id → names of the groups the user belongs to: every group, then each group's
    /// members (one listing per group rather than one per user). The built-in `Everyone`
    /// group says nothing about anyone and is left out.
    async fn group_memberships(&self) -> Result<HashMap<String, Vec<String>>, ConnectorError> {
        let groups: Vec<OktaGroup> = self
            .api
            .collect_linked(self.api.url("api/v1/groups")?)
            .await?;
        let mut memberships: HashMap<String, Vec<String>> = HashMap::new();
        for group in groups.into_iter().filter(|g| g.kind != "BUILT_IN") {
            let mut url = self
                .api
                .url(&format!("api/v1/groups/{}/users", path_segment(&group.id)))?;
            url.query_pairs_mut().append_pair("limit", "1000");
            let members: Vec<User> = self.api.collect_linked(url).await?;
            for member in members {
                memberships
                    .entry(member.id)
                    .or_default()
                    .push(group.profile.name.clone());
            }
        }
        Ok(memberships)
    }

    async fn user(&self, id: &str) -> Result<User, ConnectorError> {
        let url = self
            .api
            .url(&format!("api/v1/users/{}", path_segment(id)))?;
        self.api
            .get_json(url)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("Okta user {id}")))
    }

    /// User id → labels of the active admin roles assigned to the user directly.
    async fn admin_roles(&self) -> Result<HashMap<String, Vec<String>>, ConnectorError> {
        let mut holders = HashMap::new();
        let mut next = Some(self.api.url("api/v1/iam/assignees/users")?);
        while let Some(url) = next.take() {
            let Some(page) = self.api.get_json::<RoleAssignees>(url).await? else {
                break;
            };
            for assignee in page.value {
                let url = self.api.url(&format!(
                    "api/v1/users/{}/roles",
                    path_segment(&assignee.id)
                ))?;
                let roles: Vec<Role> = self.api.get_json(url).await?.unwrap_or_default();
                let labels: Vec<String> = roles
                    .into_iter()
                    .filter(|r| r.status.as_deref().is_none_or(|s| s == "ACTIVE"))
                    .filter_map(|r| r.label.or(r.kind))
                    .collect();
                if !labels.is_empty() {
                    holders.insert(assignee.id, labels);
                }
            }
            next = page
                .links
                .and_then(|l| l.next)
                .map(|n| {
                    Url::parse(&n.href)
                        .map_err(|e| ConnectorError::Protocol(format!("bad next link: {e}")))
                })
                .transpose()?;
        }
        Ok(holders)
    }

    /// Whether the user has an active second factor enrolled.
    async fn mfa_enrolled(&self, id: &str) -> Result<Option<bool>, ConnectorError> {
        let url = self
            .api
            .url(&format!("api/v1/users/{}/factors", path_segment(id)))?;
        let factors: Option<Vec<Factor>> = self.api.get_json(url).await?;
        Ok(factors.map(|f| f.iter().any(|f| f.status.as_deref() == Some("ACTIVE"))))
    }

    /// System Log events from `since` (Okta's default, seven days back, when `None`) until now,
    /// matching `filter`.
    async fn log_events(
        &self,
        since: Option<DateTime<Utc>>,
        filter: &str,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut url = self.api.url("api/v1/logs")?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = since {
                query.append_pair("since", &log_time(since));
            }
            // A bounded request ends; without `until` the log is polled and never runs out.
            query
                .append_pair("until", &log_time(self.clock.now()))
                .append_pair("filter", filter)
                .append_pair("sortOrder", "ASCENDING")
                .append_pair("limit", &MAX_LOG_PAGE.to_string());
        }
        self.api.collect_linked(url).await
    }

    /// Suspends or unsuspends; a user already in the wanted state is the wanted effect, which
    /// makes the call safe to repeat.
    async fn set_suspended(&self, id: &str, suspend: bool) -> Result<bool, ConnectorError> {
        let user = self.user(id).await?;
        if (user.status == "SUSPENDED") == suspend {
            return Ok(false);
        }
        let operation = if suspend { "suspend" } else { "unsuspend" };
        let url = self.api.url(&format!(
            "api/v1/users/{}/lifecycle/{operation}",
            path_segment(id)
        ))?;
        match self
            .api
            .send(Method::POST, url, Idempotency::Idempotent)
            .await
        {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                Err(ConnectorError::NotFound(format!("Okta user {id}")))
            }
            Ok(_) => Ok(true),
            // An earlier attempt may have landed: Okta then refuses the second one.
            Err(ConnectorError::Rejected { code, message }) if code == "E0000001" => {
                let now = self.user(id).await?;
                if (now.status == "SUSPENDED") == suspend {
                    Ok(true)
                } else {
                    Err(ConnectorError::Rejected { code, message })
                }
            }
            Err(other) => Err(other),
        }
    }

    /// `DELETE /api/v1/users/{id}/sessions?oauthTokens=true`: ends every Okta session and
    /// revokes the OpenID Connect and OAuth tokens issued to the user.
    async fn clear_sessions(&self, id: &str) -> Result<(), ConnectorError> {
        let mut url = self
            .api
            .url(&format!("api/v1/users/{}/sessions", path_segment(id)))?;
        url.query_pairs_mut().append_pair("oauthTokens", "true");
        let response = self
            .api
            .send(Method::DELETE, url, Idempotency::Idempotent)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ConnectorError::NotFound(format!("Okta user {id}")));
        }
        Ok(())
    }

    /// Whether the System Log shows the user's sessions cleared at or after `since`.
    async fn sessions_cleared_since(
        &self,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, ConnectorError> {
        let filter = format!(
            "eventType eq \"user.session.clear\" and target.id eq \"{}\"",
            id.replace('"', "")
        );
        let events = self.log_events(Some(since), &filter).await?;
        Ok(!events.is_empty())
    }
}

fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Okta's System Log time format (ISO 8601 with milliseconds and `Z`).
fn log_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A `user.session.start` event as an OCSF Authentication event.
fn sign_in_event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let event: LogEvent = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable System Log event: {e}")))?;
    if event.event_type != "user.session.start" {
        return Err(ConnectorError::Protocol(format!(
            "asked the System Log for sign-ins, got {}",
            event.event_type
        )));
    }
    let actor = event
        .actor
        .as_ref()
        .ok_or_else(|| ConnectorError::Protocol(format!("sign-in {} without actor", event.uuid)))?;
    let client = event.client.as_ref();
    let place = client.and_then(|c| c.geographical_context.as_ref());
    let outcome = event.outcome.as_ref();
    let ocsf = ocsf::authentication(&SignIn {
        product: OKTA,
        uid: &event.uuid,
        time: event.published,
        user_uid: &actor.id,
        user_name: actor.alternate_id.as_deref().unwrap_or(&actor.id),
        success: outcome.is_none_or(|o| o.result.as_deref() == Some("SUCCESS")),
        failure_reason: outcome.and_then(|o| o.reason.as_deref()),
        ip: client.and_then(|c| c.ip_address.as_deref()),
        city: place.and_then(|p| p.city.as_deref()),
        country: place.and_then(|p| p.country.as_deref()),
        coordinates: place
            .and_then(|p| p.geolocation.as_ref())
            .and_then(|g| Some((g.lat?, g.lon?))),
        application: Some("Okta"),
        risk_level: None,
        // Okta's System Log names the kind of client device, not the device.
        device: None,
    });
    Ok(ObservedEvent {
        external_id: event.uuid.clone(),
        class: OcsfClass::Authentication,
        time: event.published,
        severity_id: 1,
        entities: vec![EntityRef::Identity {
            external_id: actor.id.clone(),
        }],
        ocsf,
        raw,
        stream: steward_domain::observations::EventStream::OktaSystemLog,
    })
}

impl Connector for OktaConnector {
    fn vendor(&self) -> Vendor {
        Vendor::Okta
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let mut checks = Vec::new();
        let mut url = self.api.url("api/v1/users")?;
        url.query_pairs_mut().append_pair("limit", "1");
        self.api.get_json::<Vec<Value>>(url).await?;
        checks.push("signed in with the API token and read users".to_owned());
        let mut url = self.api.url("api/v1/iam/assignees/users")?;
        url.query_pairs_mut().append_pair("limit", "1");
        self.api.get_json::<RoleAssignees>(url).await?;
        checks.push("read admin role assignments".to_owned());
        let mut url = self.api.url("api/v1/logs")?;
        url.query_pairs_mut()
            .append_pair("until", &log_time(self.clock.now()))
            .append_pair("limit", "1");
        self.api.get_json::<Vec<Value>>(url).await?;
        checks.push("read the System Log".to_owned());
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let users = self.users().await?;
        let mut roles = self.admin_roles().await?;
        let mut groups = self.group_memberships().await?;
        let mut identities = Vec::with_capacity(users.len());
        for user in users {
            let mfa_registered = self.mfa_enrolled(&user.id).await?;
            identities.push(ObservedIdentity {
                external_id: user.id.clone(),
                user_principal_name: user.login().to_owned(),
                display_name: user.display_name(),
                department: user.profile.department.clone(),
                job_title: user.profile.title.clone(),
                enabled: Some(user.enabled()),
                admin_roles: roles.remove(&user.id).unwrap_or_default(),
                mfa_registered,
                groups: groups.remove(&user.id).unwrap_or_default(),
            });
        }
        Ok(ObservedInventory {
            devices: Vec::new(),
            identities,
        })
    }

    async fn events(
        &self,
        cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        let since = cursors.since(steward_domain::observations::EventStream::OktaSystemLog);
        self.log_events(since, system_log::FILTER)
            .await?
            .into_iter()
            .map(|raw| {
                if raw["eventType"] == "user.session.start" {
                    sign_in_event(raw)
                } else {
                    system_log::audit_event(raw)
                }
            })
            .collect()
    }

    fn actions(&self) -> &'static [ActionType] {
        Vendor::Okta.actions()
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        ensure_supported(self, request.action)?;
        let user = self.user(&request.target).await?;
        Ok(Snapshot(json!({
            "user_id": user.id,
            "login": user.login(),
            "status": user.status,
        })))
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        ensure_supported(self, request.action)?;
        let requested_at = self.clock.now();
        let changed = match request.action {
            ActionType::SuspendUser => self.set_suspended(&request.target, true).await?,
            ActionType::UnsuspendUser => self.set_suspended(&request.target, false).await?,
            _ => {
                // As with Graph: an earlier run of this attempt that landed is in the System
                // Log since the attempt began, and is not sent again.
                if let Some(started) = request.attempt_started_at
                    && self
                        .sessions_cleared_since(&self.user(&request.target).await?.id, started)
                        .await?
                {
                    return Ok(Execution {
                        vendor_reference: None,
                        requested_at: started,
                        changed: false,
                    });
                }
                self.clear_sessions(&request.target).await?;
                true
            }
        };
        Ok(Execution {
            vendor_reference: None,
            requested_at,
            changed,
        })
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        ensure_supported(self, request.action)?;
        let user = self.user(&request.target).await?;
        let login = user.login();
        Ok(match request.action {
            ActionType::SuspendUser | ActionType::UnsuspendUser => {
                let wanted = request.action == ActionType::SuspendUser;
                if (user.status == "SUSPENDED") == wanted {
                    Verification::Confirmed(format!("{login} is {} in Okta", user.status))
                } else {
                    Verification::Pending(format!("{login} is still {} in Okta", user.status))
                }
            }
            _ => {
                if self
                    .sessions_cleared_since(&user.id, execution.requested_at - CLOCK_TOLERANCE)
                    .await?
                {
                    Verification::Confirmed(format!(
                        "the Okta System Log records the sessions of {login} cleared"
                    ))
                } else {
                    Verification::Pending(format!(
                        "no user.session.clear for {login} in the Okta System Log yet"
                    ))
                }
            }
        })
    }

    async fn rollback(
        &self,
        request: &ActionRequest,
        snapshot: &Snapshot,
    ) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
        ensure_supported(self, request.action)?;
        let inverse = inverse_request(request)?;
        let before = snapshot
            .0
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| ConnectorError::Protocol("snapshot without status".into()))?;
        // Undo only a change the action made: the inverse must bring back the prior status.
        let restores_suspension = inverse.action == ActionType::SuspendUser;
        if (before == "SUSPENDED") != restores_suspension {
            return Ok(None);
        }
        let execution = self.execute(&inverse).await?;
        Ok(Some((inverse, execution)))
    }
}
