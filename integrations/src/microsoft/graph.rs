//! Microsoft Graph v1.0 for Microsoft Entra ID: users, admin roles, sign-ins, security alerts,
//! Defender's device events through advanced hunting ([`super::hunting`]), disabling accounts,
//! revoking sessions, resetting MFA and group membership.
//!
//! Built to the published reference (see `docs/vendors/microsoft-defender-and-graph.md`):
//! collections page with `@odata.nextLink` only (`$skip` is not supported on users);
//! `accountEnabled` is not a default property and must be `$select`ed; `PATCH /users/{id}`
//! answers `204`; `revokeSignInSessions` answers `200 {"value": true}` although documented as
//! `204`, so any 2xx is success. Every request sends `Prefer: include-unknown-enum-members` so
//! evolvable enum members arrive as themselves. Resetting MFA deletes each second factor from
//! its collection under `/users/{id}/authentication/`; Graph refuses to delete the default
//! method while others remain and v1.0 does not say which one is the default, so what it
//! refuses is deleted again once the others are gone.
//!
//! (Over 800 lines on purpose: one vendor API's connector, kept in one file to be read side by
//! side with the Microsoft Graph reference.)

use std::{collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    integrations::MissingTelemetry,
    observations::{
        EntityRef, EventStream, ObservedEvent, ObservedIdentity, ObservedInventory, OcsfClass,
        Vendor,
    },
};

use url::Url;

use super::{MicrosoftApi, MicrosoftSettings, directory_audits, hunting};
use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, EventCursors, Execution,
        Snapshot, Verification, ensure_supported, inverse_request,
    },
    http::{Idempotency, VendorHttp},
    ocsf::{self, Detection, Product, SignIn},
};

/// Production API host (paths below include the `v1.0` version segment).
pub const API_BASE: &str = "https://graph.microsoft.com";
/// The resource's `.default` scope for client-credentials tokens.
pub const SCOPE: &str = "https://graph.microsoft.com/.default";
/// The documented maximum page size of `GET /users`.
pub const MAX_USER_PAGE: usize = 999;

/// How many rounds an MFA reset deletes in: the default method goes last, on the second.
const MFA_RESET_ROUNDS: usize = 3;

/// How far Steward's clock and Microsoft's may disagree when checking a session revocation.
const CLOCK_TOLERANCE: Duration = Duration::seconds(60);

const ENTRA: Product = Product {
    name: "Microsoft Entra ID",
    vendor_name: "Microsoft",
};

const USER_FIELDS: &str =
    "id,displayName,userPrincipalName,mail,jobTitle,department,accountEnabled";

/// One of a user's authentication methods (`GET /users/{id}/authentication/methods`).
#[derive(Debug, Clone, Deserialize)]
struct AuthenticationMethod {
    #[serde(rename = "@odata.type")]
    odata_type: String,
    id: String,
}

impl AuthenticationMethod {
    /// Whether it is a second factor (anything but the password).
    fn is_second_factor(&self) -> bool {
        self.odata_type != "#microsoft.graph.passwordAuthenticationMethod"
    }

    /// The collection under `/users/{id}/authentication/` that deletes it; `None` for the
    /// password and for types this connector does not know (left in place, so verification
    /// reports them).
    fn collection(&self) -> Option<&'static str> {
        let kind = self
            .odata_type
            .strip_prefix("#microsoft.graph.")?
            .strip_suffix("AuthenticationMethod")?;
        Some(match kind {
            "email" => "emailMethods",
            "fido2" => "fido2Methods",
            "microsoftAuthenticator" => "microsoftAuthenticatorMethods",
            "phone" => "phoneMethods",
            "softwareOath" => "softwareOathMethods",
            "temporaryAccessPass" => "temporaryAccessPassMethods",
            "windowsHelloForBusiness" => "windowsHelloForBusinessMethods",
            "platformCredential" => "platformCredentialMethods",
            "external" => "externalAuthenticationMethods",
            _ => return None,
        })
    }
}

/// A Graph user with the properties Steward selects.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub sign_in_sessions_valid_from_date_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectoryRole {
    id: String,
    display_name: String,
}

#[derive(Debug, Deserialize)]
struct DirectoryObject {
    id: String,
    #[serde(rename = "@odata.type", default)]
    odata_type: Option<String>,
}

/// A user's MFA registration (`GET /reports/authenticationMethods/userRegistrationDetails`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationDetails {
    id: String,
    #[serde(default)]
    is_mfa_registered: Option<bool>,
}

/// A group, as much as an action names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Group {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// A sign-in record (`signIn` in the v1.0 metadata).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInRecord {
    id: String,
    created_date_time: DateTime<Utc>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    app_display_name: Option<String>,
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    risk_level_during_sign_in: Option<String>,
    #[serde(default)]
    status: Option<SignInStatus>,
    #[serde(default)]
    location: Option<SignInLocation>,
    #[serde(default)]
    device_detail: Option<SignInDeviceDetail>,
}

/// `deviceDetail` of a sign-in: empty strings for a device Microsoft Entra ID does not know.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInDeviceDetail {
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    is_managed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInStatus {
    error_code: i32,
    #[serde(default)]
    failure_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInLocation {
    #[serde(default)]
    city: Option<String>,
    #[serde(default)]
    country_or_region: Option<String>,
    #[serde(default)]
    geo_coordinates: Option<GeoCoordinates>,
}

#[derive(Debug, Clone, Deserialize)]
struct GeoCoordinates {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

/// A security alert (`microsoft.graph.security.alert`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecurityAlert {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service_source: Option<String>,
    created_date_time: DateTime<Utc>,
    #[serde(default)]
    last_update_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    mitre_techniques: Vec<String>,
    #[serde(default)]
    evidence: Vec<Value>,
}

/// A page of `GET /users/delta`.
#[derive(Debug, Deserialize)]
struct DeltaPage {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
    #[serde(rename = "@odata.deltaLink", default)]
    delta_link: Option<String>,
}

/// What a `users/delta` read leaves for the next one: the delta link, and every user as of it
/// (the selected properties, as Graph returned them), so that changes apply to them.
#[derive(Debug, Serialize, Deserialize)]
struct UserDelta {
    delta_link: String,
    users: BTreeMap<String, Value>,
}

/// The Microsoft Graph connector.
#[derive(Debug)]
pub struct GraphConnector {
    api: MicrosoftApi,
    user_page_size: usize,
    /// Rows per advanced hunting query (at most [`hunting::MAX_ROWS`]).
    hunting_page_size: usize,
    /// Whether the last read of device events found advanced hunting refused, and why.
    hunting_refused: std::sync::Mutex<Option<String>>,
}

impl GraphConnector {
    /// A connector for one customer's Entra tenant.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the settings do not form URLs.
    pub fn new(
        http: VendorHttp,
        settings: &MicrosoftSettings,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            api: MicrosoftApi::new(http, settings, secret, SCOPE, clock)?
                .with_header("Prefer", "include-unknown-enum-members"),
            user_page_size: MAX_USER_PAGE,
            hunting_page_size: hunting::MAX_ROWS,
            hunting_refused: std::sync::Mutex::default(),
        })
    }

    /// Reads users in pages of `page_size` (at most the documented 999).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.user_page_size = page_size.clamp(1, MAX_USER_PAGE);
        self
    }

    /// Reads advanced hunting in pages of `page_size` rows (at most [`hunting::MAX_ROWS`]).
    #[must_use]
    pub fn with_hunting_page_size(mut self, page_size: usize) -> Self {
        self.hunting_page_size = page_size.clamp(1, hunting::MAX_ROWS);
        self
    }

    /// Every user, all pages.
    ///
    /// # Errors
    /// Any [`ConnectorError`] from the API.
    pub async fn users(&self) -> Result<Vec<User>, ConnectorError> {
        let mut url = self.api.url("v1.0/users")?;
        url.query_pairs_mut()
            .append_pair("$select", USER_FIELDS)
            .append_pair("$top", &self.user_page_size.to_string());
        self.api.collect_linked(url).await
    }

    /// Every user, through the `delta` function: all of them the first time (`state` `None`),
    /// then only the changes since the delta link `state` holds, applied to the users it holds.
    /// A delta link Graph no longer honours (`syncStateNotFound`, `410 Gone`) starts over with a
    /// full read. Returns the users and the state for the next call.
    async fn users_delta(
        &self,
        state: Option<UserDelta>,
    ) -> Result<(Vec<User>, UserDelta), ConnectorError> {
        let mut first = self.api.url("v1.0/users/delta")?;
        first.query_pairs_mut().append_pair("$select", USER_FIELDS);
        let (mut users, mut url, mut resumed) = match state {
            Some(state) => {
                let link = Url::parse(&state.delta_link)
                    .map_err(|e| ConnectorError::Protocol(format!("bad stored delta link: {e}")))?;
                (state.users, link, true)
            }
            None => (BTreeMap::new(), first.clone(), false),
        };
        loop {
            let page = match self.api.get_json::<DeltaPage>(url.clone()).await {
                Ok(Some(page)) => page,
                Ok(None) => {
                    return Err(ConnectorError::Protocol(
                        "users/delta answered 404".to_owned(),
                    ));
                }
                Err(ConnectorError::Rejected { code, .. })
                    if resumed && (code == "syncStateNotFound" || code == "HTTP 410") =>
                {
                    // The delta link expired: read everything again.
                    users.clear();
                    url = first.clone();
                    resumed = false;
                    continue;
                }
                Err(other) => return Err(other),
            };
            for item in page.value {
                let Some(id) = item.get("id").and_then(Value::as_str).map(str::to_owned) else {
                    return Err(ConnectorError::Protocol(
                        "a users/delta item without an id".to_owned(),
                    ));
                };
                if item.get("@removed").is_some() {
                    users.remove(&id);
                    continue;
                }
                // An update carries at least the properties that changed: merge it.
                let entry = users.entry(id).or_insert_with(|| json!({}));
                if let (Some(known), Value::Object(changes)) = (entry.as_object_mut(), item) {
                    known.extend(changes);
                }
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => {
                    url = Url::parse(&next).map_err(|e| {
                        ConnectorError::Protocol(format!("bad @odata.nextLink: {e}"))
                    })?;
                }
                (None, Some(delta_link)) => {
                    let parsed = users
                        .values()
                        .map(|u| serde_json::from_value::<User>(u.clone()))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| ConnectorError::Protocol(format!("a delta user: {e}")))?;
                    return Ok((parsed, UserDelta { delta_link, users }));
                }
                (None, None) => {
                    return Err(ConnectorError::Protocol(
                        "a users/delta page with neither a next nor a delta link".to_owned(),
                    ));
                }
            }
        }
    }

    /// The identities of `users`, with their admin roles, MFA registration and groups (read in
    /// full each time: Graph offers no delta for the registration report).
    async fn identities(&self, users: Vec<User>) -> Result<ObservedInventory, ConnectorError> {
        let mut roles = self.admin_roles().await?;
        let mfa = self.mfa_registration().await?;
        let mut groups = self.group_memberships().await?;
        let identities = users
            .into_iter()
            .map(|user| ObservedIdentity {
                mfa_registered: mfa.get(&user.id).copied(),
                groups: groups.remove(&user.id).unwrap_or_default(),
                admin_roles: roles.remove(&user.id).unwrap_or_default(),
                user_principal_name: user.user_principal_name.unwrap_or_else(|| user.id.clone()),
                external_id: user.id,
                display_name: user.display_name,
                department: user.department,
                job_title: user.job_title,
                enabled: user.account_enabled,
            })
            .collect();
        Ok(ObservedInventory {
            devices: Vec::new(),
            identities,
        })
    }

    /// One user with the properties actions change.
    async fn user(&self, id: &str) -> Result<User, ConnectorError> {
        let mut url = self.api.url(&format!("v1.0/users/{}", path_segment(id)))?;
        url.query_pairs_mut().append_pair(
            "$select",
            "id,userPrincipalName,accountEnabled,signInSessionsValidFromDateTime",
        );
        self.api
            .get_json(url)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("user {id}")))
    }

    /// Object id → names of the activated directory roles the object holds.
    async fn admin_roles(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, ConnectorError> {
        let roles: Vec<DirectoryRole> = self
            .api
            .collect_linked(self.api.url("v1.0/directoryRoles")?)
            .await?;
        let mut holders: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for role in roles {
            // Role membership lists are not paged (Graph paging guide).
            let url = self.api.url(&format!(
                "v1.0/directoryRoles/{}/members",
                path_segment(&role.id)
            ))?;
            self.add_user_members(url, &role.display_name, &mut holders)
                .await?;
        }
        Ok(holders)
    }

    /// Adds `name` to each user listed at `url` (a members collection of directory objects).
    async fn add_user_members(
        &self,
        url: Url,
        name: &str,
        into: &mut std::collections::HashMap<String, Vec<String>>,
    ) -> Result<(), ConnectorError> {
        let members: Vec<DirectoryObject> = self.api.collect_linked(url).await?;
        for member in members {
            if member
                .odata_type
                .as_deref()
                .is_none_or(|t| t == "#microsoft.graph.user")
            {
                into.entry(member.id).or_default().push(name.to_owned());
            }
        }
        Ok(())
    }

    /// User object id → names of the groups the user is a direct member of: every group, then
    /// each group's members (one listing per group, where asking each user's `memberOf` would
    /// be one per user).
    async fn group_memberships(
        &self,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, ConnectorError> {
        let mut url = self.api.url("v1.0/groups")?;
        url.query_pairs_mut()
            .append_pair("$select", "id,displayName")
            .append_pair("$top", "999");
        let groups: Vec<Group> = self.api.collect_linked(url).await?;
        let mut memberships: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for group in groups {
            let name = group.display_name.unwrap_or_else(|| group.id.clone());
            let mut url = self
                .api
                .url(&format!("v1.0/groups/{}/members", path_segment(&group.id)))?;
            url.query_pairs_mut()
                .append_pair("$select", "id")
                .append_pair("$top", "999");
            self.add_user_members(url, &name, &mut memberships).await?;
        }
        Ok(memberships)
    }

    async fn sign_ins(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Value>, ConnectorError> {
        let mut url = self.api.url("v1.0/auditLogs/signIns")?;
        if let Some(since) = since {
            url.query_pairs_mut().append_pair(
                "$filter",
                &format!("createdDateTime ge {}", odata_time(since)),
            );
        }
        self.api.collect_linked(url).await
    }

    /// Entra's directory audit records since `since` (changes to users, roles, groups,
    /// applications and policies), newest first as Graph pages them.
    async fn directory_audits(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut url = self.api.url("v1.0/auditLogs/directoryAudits")?;
        if let Some(since) = since {
            url.query_pairs_mut().append_pair(
                "$filter",
                &format!("activityDateTime ge {}", odata_time(since)),
            );
        }
        self.api.collect_linked(url).await
    }

    /// Defender's device events of every hunting table since its cursor; none when the customer's
    /// licence or the app's permissions do not include advanced hunting (the API answers 403),
    /// which the connection test reports and [`Connector::missing_telemetry`] names.
    async fn device_events(
        &self,
        cursors: &EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        let mut events = Vec::new();
        let refused = |reason: Option<String>| {
            *self
                .hunting_refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = reason;
        };
        refused(None);
        for table in hunting::Table::ALL {
            let since = cursors.since(table.stream()).map_or_else(
                || self.api.now() - hunting::FIRST_LOOKBACK,
                |since| since - hunting::INGESTION_OVERLAP,
            );
            let mut query = hunting::page(table, since, false, self.hunting_page_size);
            let mut from = since;
            for _ in 0..hunting::MAX_PAGES {
                let rows = match self.hunt(&query).await {
                    Ok(rows) => rows,
                    Err(ConnectorError::Forbidden(reason)) => {
                        tracing::info!(%reason, "advanced hunting is not available to this integration");
                        refused(Some(reason));
                        return Ok(Vec::new());
                    }
                    Err(error) => return Err(error),
                };
                let full = rows.len() >= self.hunting_page_size;
                let newest = rows.iter().filter_map(hunting::row_time).max();
                for row in rows {
                    match hunting::event(table, row) {
                        Ok(event) => events.push(event),
                        // A row of an activity Steward does not read is Defender's to keep.
                        Err(reason) => {
                            tracing::debug!(table = table.name(), %reason, "skipped a hunting row");
                        }
                    }
                }
                match newest {
                    Some(newest) if full && newest > from => {
                        from = newest;
                        query = hunting::page(table, from, true, self.hunting_page_size);
                    }
                    Some(_) if full => {
                        // A whole page at one instant: the next page would be this one again.
                        tracing::warn!(table = table.name(), %from, "more advanced hunting rows at one instant than a page holds; the rest are not read");
                        break;
                    }
                    _ => break,
                }
            }
        }
        Ok(events)
    }

    /// Runs one advanced hunting query; its rows.
    async fn hunt(&self, query: &str) -> Result<Vec<Value>, ConnectorError> {
        let url = self.api.url("v1.0/security/runHuntingQuery")?;
        let response = self
            .api
            .send(
                Method::POST,
                url,
                Some(&json!({"Query": query})),
                // A query reads; running it again is harmless.
                Idempotency::Idempotent,
            )
            .await?;
        let results: hunting::HuntingResults = crate::contract::read_json(response).await?;
        Ok(results.results)
    }

    async fn security_alerts(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut url = self.api.url("v1.0/security/alerts_v2")?;
        if let Some(since) = since {
            url.query_pairs_mut().append_pair(
                "$filter",
                &format!("lastUpdateDateTime gt {}", odata_time(since)),
            );
        }
        self.api.collect_linked(url).await
    }

    async fn set_account_enabled(&self, id: &str, enabled: bool) -> Result<(), ConnectorError> {
        let url = self.api.url(&format!("v1.0/users/{}", path_segment(id)))?;
        // Setting a property to a value is idempotent in effect, whatever the method.
        let response = self
            .api
            .send(
                Method::PATCH,
                url,
                Some(&json!({"accountEnabled": enabled})),
                Idempotency::Idempotent,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ConnectorError::NotFound(format!("user {id}")));
        }
        Ok(())
    }

    async fn revoke_sessions(
        &self,
        id: &str,
        requested_at: DateTime<Utc>,
    ) -> Result<(), ConnectorError> {
        let url = self.api.url(&format!(
            "v1.0/users/{}/revokeSignInSessions",
            path_segment(id)
        ))?;
        match self
            .api
            .send(Method::POST, url, None, Idempotency::NonIdempotent)
            .await
        {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                Err(ConnectorError::NotFound(format!("user {id}")))
            }
            Ok(_) => Ok(()),
            // The answer was lost: the user's sessions-valid-from time tells whether it landed.
            Err(ConnectorError::OutcomeUnknown(detail)) => {
                if self
                    .sessions_revoked_since(id, requested_at - CLOCK_TOLERANCE)
                    .await?
                {
                    Ok(())
                } else {
                    Err(ConnectorError::Unavailable(detail))
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Whether the user's sessions were revoked at or after `since` (by the vendor's clock).
    async fn sessions_revoked_since(
        &self,
        id: &str,
        since: DateTime<Utc>,
    ) -> Result<bool, ConnectorError> {
        let user = self.user(id).await?;
        Ok(user
            .sign_in_sessions_valid_from_date_time
            .is_some_and(|from| from >= since))
    }
}

impl GraphConnector {
    /// User id → whether a second factor is registered.
    async fn mfa_registration(
        &self,
    ) -> Result<std::collections::HashMap<String, bool>, ConnectorError> {
        let url = self
            .api
            .url("v1.0/reports/authenticationMethods/userRegistrationDetails")?;
        let details: Vec<RegistrationDetails> = self.api.collect_linked(url).await?;
        Ok(details
            .into_iter()
            .filter_map(|d| Some((d.id, d.is_mfa_registered?)))
            .collect())
    }

    async fn group(&self, id: &str) -> Result<Group, ConnectorError> {
        let mut url = self.api.url(&format!("v1.0/groups/{}", path_segment(id)))?;
        url.query_pairs_mut()
            .append_pair("$select", "id,displayName");
        self.api
            .get_json(url)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("group {id}")))
    }

    /// Whether the user is a direct member of the group.
    async fn is_member(&self, user: &str, group: &str) -> Result<bool, ConnectorError> {
        let mut url = self
            .api
            .url(&format!("v1.0/users/{}/memberOf", path_segment(user)))?;
        url.query_pairs_mut().append_pair("$select", "id");
        let groups: Vec<DirectoryObject> = self.api.collect_linked(url).await?;
        Ok(groups.iter().any(|g| g.id == group))
    }

    /// `POST /groups/{id}/members/$ref`; a user already a member is the wanted effect.
    async fn add_member(&self, user: &str, group: &str) -> Result<(), ConnectorError> {
        let url = self
            .api
            .url(&format!("v1.0/groups/{}/members/$ref", path_segment(group)))?;
        let reference = json!({
            "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{user}")
        });
        // Repeating it changes nothing (Graph refuses a second add), so it may be retried.
        match self
            .api
            .send(Method::POST, url, Some(&reference), Idempotency::Idempotent)
            .await
        {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => Err(
                ConnectorError::NotFound(format!("group {group} or user {user}")),
            ),
            Ok(_) => Ok(()),
            Err(ConnectorError::Rejected { message, .. }) if message.contains("already exist") => {
                Ok(())
            }
            Err(other) => Err(other),
        }
    }

    /// `DELETE /groups/{id}/members/{user}/$ref`; a user no longer a member (404) is the wanted
    /// effect.
    async fn remove_member(&self, user: &str, group: &str) -> Result<(), ConnectorError> {
        let url = self.api.url(&format!(
            "v1.0/groups/{}/members/{}/$ref",
            path_segment(group),
            path_segment(user)
        ))?;
        self.api
            .send(Method::DELETE, url, None, Idempotency::Idempotent)
            .await
            .map(|_| ())
    }

    async fn authentication_methods(
        &self,
        id: &str,
    ) -> Result<Vec<AuthenticationMethod>, ConnectorError> {
        // A user's methods are not paged.
        let url = self.api.url(&format!(
            "v1.0/users/{}/authentication/methods",
            path_segment(id)
        ))?;
        self.api
            .get_json::<super::Page<AuthenticationMethod>>(url)
            .await?
            .map(|page| page.value)
            .ok_or_else(|| ConnectorError::NotFound(format!("user {id}")))
    }

    /// Deletes every second factor of the user it can; what Graph refused (the default
    /// method, while others remained) is tried again once the others are gone.
    async fn reset_mfa(&self, id: &str) -> Result<(), ConnectorError> {
        for _ in 0..MFA_RESET_ROUNDS {
            let methods = self.authentication_methods(id).await?;
            let deletable: Vec<_> = methods
                .iter()
                .filter_map(|m| m.collection().map(|c| (c, m.id.as_str())))
                .collect();
            if deletable.is_empty() {
                return Ok(());
            }
            let mut deleted = 0;
            let mut refused = None;
            for (collection, method_id) in deletable {
                let url = self.api.url(&format!(
                    "v1.0/users/{}/authentication/{collection}/{}",
                    path_segment(id),
                    path_segment(method_id)
                ))?;
                // Deleting is idempotent: a method already gone answers 404, the same effect.
                match self
                    .api
                    .send(Method::DELETE, url, None, Idempotency::Idempotent)
                    .await
                {
                    Ok(_) => deleted += 1,
                    Err(rejected @ ConnectorError::Rejected { .. }) => refused = Some(rejected),
                    Err(other) => return Err(other),
                }
            }
            if deleted == 0 {
                return Err(refused.unwrap_or_else(|| {
                    ConnectorError::Protocol("no MFA method could be deleted".into())
                }));
            }
        }
        Ok(())
    }
}

/// The group a group action names.
fn group_of(request: &ActionRequest) -> Result<&str, ConnectorError> {
    request
        .parameters
        .group_id
        .as_deref()
        .ok_or_else(|| ConnectorError::Configuration(format!("{} needs a group", request.action)))
}

fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn odata_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn sign_in_event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let record: SignInRecord = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable sign-in: {e}")))?;
    let user_uid = record.user_id.clone().unwrap_or_default();
    let location = record.location.as_ref();
    let coordinates = location
        .and_then(|l| l.geo_coordinates.as_ref())
        .and_then(|g| Some((g.latitude?, g.longitude?)));
    let status = record.status.as_ref();
    let ocsf = ocsf::authentication(&SignIn {
        product: ENTRA,
        uid: &record.id,
        time: record.created_date_time,
        user_uid: &user_uid,
        user_name: record.user_principal_name.as_deref().unwrap_or(&user_uid),
        success: status.is_none_or(|s| s.error_code == 0),
        failure_reason: status.and_then(|s| s.failure_reason.as_deref()),
        ip: record.ip_address.as_deref(),
        city: location.and_then(|l| l.city.as_deref()),
        country: location.and_then(|l| l.country_or_region.as_deref()),
        coordinates,
        application: record.app_display_name.as_deref(),
        risk_level: record
            .risk_level_during_sign_in
            .as_deref()
            .filter(|level| !matches!(*level, "none" | "hidden")),
        device: record.device_detail.as_ref().map(|d| ocsf::SignInDevice {
            uid: &d.device_id,
            name: &d.display_name,
            managed: d.is_managed,
        }),
    });
    Ok(ObservedEvent {
        external_id: record.id,
        class: OcsfClass::Authentication,
        time: record.created_date_time,
        severity_id: ocsf["severity_id"]
            .as_u64()
            .and_then(|s| u8::try_from(s).ok())
            .unwrap_or(1),
        entities: record
            .user_id
            .into_iter()
            .map(|id| EntityRef::Identity { external_id: id })
            .collect(),
        ocsf,
        raw,
        stream: EventStream::EntraSignIns,
    })
}

/// The user and device evidence of a Graph security alert.
fn alert_entities(evidence: &[Value]) -> Vec<EntityRef> {
    evidence
        .iter()
        .filter_map(|item| {
            let kind = item
                .get("@odata.type")
                .or_else(|| item.get("at_sign_odata_type"))
                .and_then(Value::as_str)?;
            match kind {
                "#microsoft.graph.security.userEvidence" => item
                    .pointer("/userAccount/azureAdUserId")
                    .and_then(Value::as_str)
                    .map(|id| EntityRef::Identity {
                        external_id: id.to_owned(),
                    }),
                "#microsoft.graph.security.deviceEvidence" => item
                    .get("mdeDeviceId")
                    .and_then(Value::as_str)
                    .map(|id| EntityRef::Device {
                        external_id: id.to_owned(),
                    }),
                _ => None,
            }
        })
        .collect()
}

fn alert_event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let alert: SecurityAlert = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable security alert: {e}")))?;
    let entities = alert_entities(&alert.evidence);
    let user = entities.iter().find_map(|e| match e {
        EntityRef::Identity { external_id } => Some(external_id.as_str()),
        EntityRef::Device { .. } | EntityRef::Host { .. } => None,
    });
    let device = entities.iter().find_map(|e| match e {
        EntityRef::Device { external_id } => Some(external_id.as_str()),
        EntityRef::Identity { .. } | EntityRef::Host { .. } => None,
    });
    let severity = alert.severity.as_deref().unwrap_or("unknown");
    let product = Product {
        name: match alert.service_source.as_deref() {
            Some("microsoftDefenderForCloudApps") => "Microsoft Defender for Cloud Apps",
            Some("microsoftDefenderForEndpoint") => "Microsoft Defender for Endpoint",
            Some("microsoftDefenderForIdentity") => "Microsoft Defender for Identity",
            Some("azureAdIdentityProtection") => "Microsoft Entra ID Protection",
            _ => "Microsoft Defender XDR",
        },
        vendor_name: "Microsoft",
    };
    let ocsf = ocsf::detection_finding(&Detection {
        product,
        uid: &alert.id,
        title: alert.title.as_deref().unwrap_or("Security alert"),
        description: alert.description.as_deref(),
        category: alert.category.as_deref(),
        severity,
        status: alert.status.as_deref().unwrap_or("unknown"),
        created: alert.created_date_time,
        updated: alert.last_update_date_time,
        device: device.map(|id| (id, None)),
        user: user.map(|id| (id, None)),
        malware: None,
        mitre_techniques: &alert.mitre_techniques,
    });
    Ok(ObservedEvent {
        external_id: alert.id,
        class: OcsfClass::DetectionFinding,
        time: alert
            .last_update_date_time
            .unwrap_or(alert.created_date_time),
        severity_id: ocsf::severity_id(severity),
        entities,
        ocsf,
        raw,
        stream: EventStream::GraphSecurityAlerts,
    })
}

impl Connector for GraphConnector {
    fn vendor(&self) -> Vendor {
        Vendor::MicrosoftGraph
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let mut checks = Vec::new();
        let mut url = self.api.url("v1.0/users")?;
        url.query_pairs_mut()
            .append_pair("$select", USER_FIELDS)
            .append_pair("$top", "1");
        self.api.get_json::<super::Page<Value>>(url).await?;
        checks.push("signed in and read users".to_owned());
        let mut url = self.api.url("v1.0/auditLogs/signIns")?;
        url.query_pairs_mut().append_pair("$top", "1");
        self.api.get_json::<super::Page<Value>>(url).await?;
        checks.push("read sign-in logs".to_owned());
        let mut url = self.api.url("v1.0/auditLogs/directoryAudits")?;
        url.query_pairs_mut().append_pair("$top", "1");
        self.api.get_json::<super::Page<Value>>(url).await?;
        checks.push("read directory audit logs".to_owned());
        let mut url = self.api.url("v1.0/security/alerts_v2")?;
        url.query_pairs_mut().append_pair("$top", "1");
        self.api.get_json::<super::Page<Value>>(url).await?;
        checks.push("read security alerts".to_owned());
        let probe = hunting::query(hunting::Table::DeviceProcessEvents, self.api.now());
        match self.hunt(&format!("{probe} | take 1")).await {
            Ok(_) => checks.push("ran an advanced hunting query".to_owned()),
            Err(ConnectorError::Forbidden(reason)) => checks.push(format!(
                "advanced hunting is not available ({reason}): Steward sees Defender's alerts \
                 but not the process, file and registry events behind them; {}",
                hunting::REMEDY
            )),
            Err(error) => return Err(error),
        }
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let users = self.users().await?;
        self.identities(users).await
    }

    /// Users through `delta` (see [`GraphConnector::users_delta`]); the state is the delta link
    /// and the users as of it.
    async fn inventory_from(
        &self,
        state: Option<Value>,
    ) -> Result<(ObservedInventory, Option<Value>), ConnectorError> {
        // A state this version cannot read is a fresh start, not a failure.
        let state = state.and_then(|s| serde_json::from_value::<UserDelta>(s).ok());
        let (users, next) = self.users_delta(state).await?;
        let inventory = self.identities(users).await?;
        let next =
            serde_json::to_value(next).map_err(|e| ConnectorError::Protocol(e.to_string()))?;
        Ok((inventory, Some(next)))
    }

    async fn events(&self, cursors: &EventCursors) -> Result<Vec<ObservedEvent>, ConnectorError> {
        let mut events = Vec::new();
        for raw in self
            .sign_ins(cursors.since(EventStream::EntraSignIns))
            .await?
        {
            events.push(sign_in_event(raw)?);
        }
        for raw in self
            .security_alerts(cursors.since(EventStream::GraphSecurityAlerts))
            .await?
        {
            events.push(alert_event(raw)?);
        }
        for raw in self
            .directory_audits(cursors.since(EventStream::EntraDirectoryAudits))
            .await?
        {
            match directory_audits::event(raw) {
                Ok(event) => events.push(event),
                // One record Steward cannot read must not stop every later synchronization.
                Err(reason) => tracing::warn!(%reason, "skipped a directory audit record"),
            }
        }
        events.extend(self.device_events(cursors).await?);
        Ok(events)
    }

    fn missing_telemetry(&self) -> Vec<MissingTelemetry> {
        let refused = self
            .hunting_refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        refused
            .map(|reason| MissingTelemetry {
                stream: hunting::STREAM.to_owned(),
                consequence: "Defender's process, file and registry events do not reach \
                    Steward: Sigma rules for endpoints see nothing of this customer's devices, \
                    only Defender's own alerts"
                    .to_owned(),
                remedy: hunting::REMEDY.to_owned(),
                reason,
            })
            .into_iter()
            .collect()
    }

    fn actions(&self) -> &'static [ActionType] {
        Vendor::MicrosoftGraph.actions()
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        ensure_supported(self, request.action)?;
        let user = self.user(&request.target).await?;
        let mut state = json!({
            "user_id": user.id,
            "user_principal_name": user.user_principal_name,
            "account_enabled": user.account_enabled,
            "sign_in_sessions_valid_from": user.sign_in_sessions_valid_from_date_time,
        });
        if matches!(
            request.action,
            ActionType::RemoveFromGroup | ActionType::AddToGroup
        ) {
            let group = self.group(group_of(request)?).await?;
            state["group_id"] = json!(group.id);
            state["group_name"] = json!(group.display_name);
            state["member"] = json!(self.is_member(&request.target, &group.id).await?);
        }
        if request.action == ActionType::ResetMfa {
            // What is deleted, for the record: it cannot be put back.
            state["authentication_methods"] = self
                .authentication_methods(&request.target)
                .await?
                .iter()
                .map(|m| json!({"type": m.odata_type, "id": m.id}))
                .collect();
        }
        Ok(Snapshot(state))
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        ensure_supported(self, request.action)?;
        let requested_at = self.api.now();
        match request.action {
            ActionType::DisableUser => self.set_account_enabled(&request.target, false).await?,
            ActionType::EnableUser => self.set_account_enabled(&request.target, true).await?,
            ActionType::ResetMfa => self.reset_mfa(&request.target).await?,
            ActionType::RemoveFromGroup => {
                self.remove_member(&request.target, group_of(request)?)
                    .await?;
            }
            ActionType::AddToGroup => self.add_member(&request.target, group_of(request)?).await?,
            _ => {
                // Graph keeps no request key: an earlier run of this attempt that landed shows
                // as sessions revoked since the attempt began (no clock tolerance here — when
                // in doubt, revoking again is the safe side).
                if let Some(started) = request.attempt_started_at
                    && self
                        .sessions_revoked_since(&request.target, started)
                        .await?
                {
                    return Ok(Execution {
                        vendor_reference: None,
                        requested_at: started,
                        changed: false,
                    });
                }
                self.revoke_sessions(&request.target, requested_at).await?;
            }
        }
        Ok(Execution {
            vendor_reference: None,
            requested_at,
            changed: true,
        })
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        ensure_supported(self, request.action)?;
        let user = self.user(&request.target).await?;
        let name = user.user_principal_name.as_deref().unwrap_or(&user.id);
        Ok(match request.action {
            ActionType::DisableUser | ActionType::EnableUser => {
                let wanted = request.action == ActionType::EnableUser;
                match user.account_enabled {
                    Some(enabled) if enabled == wanted => {
                        Verification::Confirmed(format!("{name} has accountEnabled={enabled}"))
                    }
                    Some(enabled) => {
                        Verification::Failed(format!("{name} still has accountEnabled={enabled}"))
                    }
                    None => Verification::Pending(format!("{name} did not report accountEnabled")),
                }
            }
            ActionType::RemoveFromGroup | ActionType::AddToGroup => {
                let group = group_of(request)?;
                let wanted = request.action == ActionType::AddToGroup;
                let member = self.is_member(&request.target, group).await?;
                let state = if member { "a member" } else { "not a member" };
                if member == wanted {
                    Verification::Confirmed(format!("{name} is {state} of group {group}"))
                } else {
                    Verification::Pending(format!("{name} is still {state} of group {group}"))
                }
            }
            ActionType::ResetMfa => {
                let left: Vec<String> = self
                    .authentication_methods(&request.target)
                    .await?
                    .into_iter()
                    .filter(AuthenticationMethod::is_second_factor)
                    .map(|m| m.odata_type)
                    .collect();
                if left.is_empty() {
                    Verification::Confirmed(format!(
                        "{name} has no MFA method left and registers again at the next sign-in"
                    ))
                } else {
                    Verification::Pending(format!(
                        "{name} still has {} MFA method(s): {}",
                        left.len(),
                        left.join(", ")
                    ))
                }
            }
            _ => {
                if self
                    .sessions_revoked_since(
                        &request.target,
                        execution.requested_at - CLOCK_TOLERANCE,
                    )
                    .await?
                {
                    Verification::Confirmed(format!(
                        "sessions of {name} are valid only from now on"
                    ))
                } else {
                    Verification::Pending(format!("sessions of {name} not yet revoked"))
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
        // Undo only what the action changed: the inverse must bring back the prior state.
        let (field, restores) = match inverse.action {
            ActionType::EnableUser | ActionType::DisableUser => {
                ("account_enabled", inverse.action == ActionType::EnableUser)
            }
            _ => ("member", inverse.action == ActionType::AddToGroup),
        };
        let before = snapshot
            .0
            .get(field)
            .and_then(Value::as_bool)
            .ok_or_else(|| ConnectorError::Protocol(format!("snapshot without {field}")))?;
        if before != restores {
            return Ok(None);
        }
        let execution = self.execute(&inverse).await?;
        Ok(Some((inverse, execution)))
    }
}
