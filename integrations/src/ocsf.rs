//! Builders for the OCSF 1.x events Steward stores.
//!
//! Connectors fill the typed inputs here; the JSON shape (class and category ids, `type_uid`,
//! metadata, epoch-millisecond times) is decided in one place and checked against the OCSF schema
//! in the tests (`tests/it/ocsf_schema.rs`, with the schema files under `tests/data/ocsf-schema`).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use steward_domain::observations::OcsfClass;

/// The OCSF schema version the events are built and validated against.
pub const OCSF_VERSION: &str = "1.9.0-dev";

const FINDINGS_CATEGORY: u32 = 2;
const IAM_CATEGORY: u32 = 3;
const APPLICATION_CATEGORY: u32 = 6;

/// The product that reported an event.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub name: &'static str,
    pub vendor_name: &'static str,
}

/// OCSF severity_id from a vendor's severity word (Microsoft spells them in both cases).
#[must_use]
pub fn severity_id(severity: &str) -> u8 {
    match severity.to_ascii_lowercase().as_str() {
        "informational" => 1,
        "low" => 2,
        "medium" => 3,
        "high" => 4,
        "critical" => 5,
        _ => 0,
    }
}

fn severity_name(id: u8) -> &'static str {
    match id {
        1 => "Informational",
        2 => "Low",
        3 => "Medium",
        4 => "High",
        5 => "Critical",
        _ => "Unknown",
    }
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn metadata(product: Product, uid: &str, logged: Option<DateTime<Utc>>) -> Value {
    let mut metadata = json!({
        "version": OCSF_VERSION,
        "product": {"name": product.name, "vendor_name": product.vendor_name},
        "uid": uid,
    });
    if let Some(logged) = logged {
        metadata["logged_time"] = json!(millis(logged));
    }
    metadata
}

/// A vendor alert.
#[derive(Debug, Clone)]
pub struct Detection<'a> {
    pub product: Product,
    pub uid: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub category: Option<&'a str>,
    pub severity: &'a str,
    /// The vendor's status word (`New`, `InProgress`, `Resolved`, in any case).
    pub status: &'a str,
    pub created: DateTime<Utc>,
    pub updated: Option<DateTime<Utc>>,
    pub device: Option<(&'a str, Option<&'a str>)>,
    pub user: Option<(&'a str, Option<&'a str>)>,
    pub malware: Option<&'a str>,
    pub mitre_techniques: &'a [String],
}

/// An OCSF Detection Finding (class 2004).
#[must_use]
pub fn detection_finding(d: &Detection<'_>) -> Value {
    let (activity_id, activity_name) = match d.status.to_ascii_lowercase().as_str() {
        "resolved" => (3, "Close"),
        _ if d.updated.is_some_and(|updated| updated > d.created) => (2, "Update"),
        _ => (1, "Create"),
    };
    let (status_id, status) = match d.status.to_ascii_lowercase().as_str() {
        "new" => (1, "New"),
        "inprogress" => (2, "In Progress"),
        "resolved" => (4, "Resolved"),
        _ => (0, "Unknown"),
    };
    let class = OcsfClass::DetectionFinding.class_uid();
    let severity = severity_id(d.severity);
    let mut finding_info = json!({
        "uid": d.uid,
        "title": d.title,
        "created_time": millis(d.created),
    });
    if let Some(description) = d.description {
        finding_info["desc"] = json!(description);
    }
    if let Some(category) = d.category {
        finding_info["types"] = json!([category]);
    }
    if let Some(updated) = d.updated {
        finding_info["modified_time"] = json!(millis(updated));
    }
    if !d.mitre_techniques.is_empty() {
        finding_info["attacks"] = d
            .mitre_techniques
            .iter()
            .map(|t| json!({"technique": {"uid": t}}))
            .collect();
    }
    let mut event = json!({
        "class_uid": class,
        "class_name": "Detection Finding",
        "category_uid": FINDINGS_CATEGORY,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class * 100 + activity_id,
        "time": millis(d.updated.unwrap_or(d.created)),
        "severity_id": severity,
        "severity": severity_name(severity),
        "status_id": status_id,
        "status": status,
        "is_alert": true,
        "message": d.title,
        "finding_info": finding_info,
        "metadata": metadata(d.product, d.uid, d.updated),
    });
    if let Some((uid, hostname)) = d.device {
        // type_id 0: unknown; the alert does not say what kind of device it is.
        let mut device = json!({"uid": uid, "type_id": 0});
        if let Some(hostname) = hostname {
            device["hostname"] = json!(hostname);
        }
        event["device"] = device;
    }
    if let Some((uid, name)) = d.user {
        let mut user = json!({"uid": uid});
        if let Some(name) = name {
            user["name"] = json!(name);
        }
        event["actor"] = json!({"user": user});
    }
    if let Some(malware) = d.malware {
        event["malware"] = json!([{"name": malware, "classification_ids": [0]}]);
    }
    event
}

/// A sign-in.
#[derive(Debug, Clone)]
pub struct SignIn<'a> {
    pub product: Product,
    pub uid: &'a str,
    pub time: DateTime<Utc>,
    pub user_uid: &'a str,
    pub user_name: &'a str,
    pub success: bool,
    pub failure_reason: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub city: Option<&'a str>,
    pub country: Option<&'a str>,
    pub coordinates: Option<(f64, f64)>,
    pub application: Option<&'a str>,
    pub risk_level: Option<&'a str>,
    /// The device signed in from, when the identity provider knows it: its id there (the
    /// Microsoft Entra device id), its name, and whether a management tool manages it.
    pub device: Option<SignInDevice<'a>>,
}

/// The device of a sign-in.
#[derive(Debug, Clone, Copy)]
pub struct SignInDevice<'a> {
    pub uid: &'a str,
    pub name: &'a str,
    pub managed: bool,
}

/// An OCSF Authentication event (class 3002), activity Logon.
#[must_use]
pub fn authentication(s: &SignIn<'_>) -> Value {
    let class = OcsfClass::Authentication.class_uid();
    let activity_id = 1;
    let severity = match s.risk_level {
        Some(level) => severity_id(level).max(1),
        None => 1,
    };
    let mut event = json!({
        "class_uid": class,
        "class_name": "Authentication",
        "category_uid": IAM_CATEGORY,
        "category_name": "Identity & Access Management",
        "activity_id": activity_id,
        "activity_name": "Logon",
        "type_uid": class * 100 + activity_id,
        "time": millis(s.time),
        "severity_id": severity,
        "severity": severity_name(severity),
        "status_id": if s.success { 1 } else { 2 },
        "status": if s.success { "Success" } else { "Failure" },
        "user": {"uid": s.user_uid, "name": s.user_name},
        "metadata": metadata(s.product, s.uid, None),
    });
    if let Some(reason) = s.failure_reason {
        event["status_detail"] = json!(reason);
    }
    // OCSF needs the service or the destination; without an application, the identity
    // provider itself is the service signed in to.
    event["service"] = json!({"name": s.application.unwrap_or(s.product.name)});
    if s.ip.is_some() || s.city.is_some() || s.country.is_some() {
        let mut endpoint = json!({});
        if let Some(ip) = s.ip {
            endpoint["ip"] = json!(ip);
        }
        let mut location = json!({});
        if let Some(city) = s.city {
            location["city"] = json!(city);
        }
        if let Some(country) = s.country {
            location["country"] = json!(country);
        }
        if let Some((lat, long)) = s.coordinates {
            location["lat"] = json!(lat);
            location["long"] = json!(long);
        }
        if location.as_object().is_some_and(|l| !l.is_empty()) {
            endpoint["location"] = location;
        }
        event["src_endpoint"] = endpoint;
    }
    if let Some(device) = s.device.filter(|d| !d.uid.is_empty()) {
        // type_id 0: unknown; the identity provider does not say what kind of device it is.
        let mut value = json!({"type_id": 0, "uid": device.uid, "is_managed": device.managed});
        if !device.name.is_empty() {
            value["hostname"] = json!(device.name);
        }
        event["device"] = value;
    }
    event
}

/// The device an Authentication event was made from, if the identity provider knows it:
/// (its id, its name, whether it is managed).
#[must_use]
pub fn sign_in_device(event: &Value) -> Option<(String, Option<String>, bool)> {
    let device = event.get("device")?;
    Some((
        device.get("uid")?.as_str()?.to_owned(),
        device
            .get("hostname")
            .and_then(Value::as_str)
            .map(str::to_owned),
        device
            .get("is_managed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    ))
}

/// The point an Authentication event was made from, if it says: (latitude, longitude).
#[must_use]
pub fn sign_in_coordinates(event: &Value) -> Option<(f64, f64)> {
    let location = event.get("src_endpoint")?.get("location")?;
    Some((
        location.get("lat")?.as_f64()?,
        location.get("long")?.as_f64()?,
    ))
}

/// Who did something in an identity provider's audit log: a person (id and sign-in name) or an
/// application acting on its own.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    User { uid: &'a str, name: &'a str },
    App { uid: Option<&'a str>, name: &'a str },
}

impl Actor<'_> {
    fn ocsf(self) -> Value {
        match self {
            Actor::User { uid, name } => json!({"user": {"uid": uid, "name": name}}),
            Actor::App { uid, name } => {
                let mut actor = json!({"app_name": name});
                if let Some(uid) = uid {
                    actor["app_uid"] = json!(uid);
                }
                actor
            }
        }
    }
}

/// An entry of an identity provider's audit log: what every audit event shares.
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub product: Product,
    pub uid: &'a str,
    pub time: DateTime<Utc>,
    /// The provider's name for what happened (`Reset user password`, `user.account.lock`).
    pub operation: &'a str,
    pub actor: Option<Actor<'a>>,
    /// Where the request came from, when the provider says.
    pub ip: Option<&'a str>,
    pub success: bool,
    pub message: Option<&'a str>,
    /// The provider's own record, kept under `unmapped` for the rules written against it.
    pub raw: &'a Value,
}

impl AuditEntry<'_> {
    fn event(&self, class: OcsfClass, category: (u32, &str), activity: (u8, &str)) -> Value {
        let class_uid = class.class_uid();
        let (activity_id, activity_name) = activity;
        let mut event = json!({
            "class_uid": class_uid,
            "class_name": class.name(),
            "category_uid": category.0,
            "category_name": category.1,
            "activity_id": activity_id,
            "activity_name": activity_name,
            "type_uid": u64::from(class_uid) * 100 + u64::from(activity_id),
            "time": millis(self.time),
            "severity_id": 1,
            "severity": "Informational",
            "status_id": if self.success { 1 } else { 2 },
            "status": if self.success { "Success" } else { "Failure" },
            "metadata": metadata(self.product, self.uid, None),
            "unmapped": self.raw,
        });
        if let Some(actor) = self.actor {
            event["actor"] = actor.ocsf();
        }
        if let Some(ip) = self.ip {
            event["src_endpoint"] = json!({"ip": ip});
        }
        if let Some(message) = self.message {
            event["message"] = json!(message);
        }
        event
    }
}

/// What an account change did, as OCSF Account Change's activities (OCSF 1.x, class 3001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountActivity {
    Create,
    Enable,
    PasswordChange,
    PasswordReset,
    Disable,
    Delete,
    Lock,
    MfaFactorEnable,
    MfaFactorDisable,
    Unlock,
    Other,
}

impl AccountActivity {
    fn id_and_name(self) -> (u8, &'static str) {
        match self {
            AccountActivity::Create => (1, "Create"),
            AccountActivity::Enable => (2, "Enable"),
            AccountActivity::PasswordChange => (3, "Password Change"),
            AccountActivity::PasswordReset => (4, "Password Reset"),
            AccountActivity::Disable => (5, "Disable"),
            AccountActivity::Delete => (6, "Delete"),
            AccountActivity::Lock => (9, "Lock"),
            AccountActivity::MfaFactorEnable => (10, "MFA Factor Enable"),
            AccountActivity::MfaFactorDisable => (11, "MFA Factor Disable"),
            AccountActivity::Unlock => (12, "Unlock"),
            AccountActivity::Other => (99, "Other"),
        }
    }
}

/// An OCSF Account Change event (class 3001) about the account `user` (its id and sign-in
/// name).
#[must_use]
pub fn account_change(
    entry: &AuditEntry<'_>,
    activity: AccountActivity,
    user: (&str, &str),
) -> Value {
    let (id, name) = activity.id_and_name();
    let mut event = entry.event(
        OcsfClass::AccountChange,
        (IAM_CATEGORY, "Identity & Access Management"),
        (id, if id == 99 { entry.operation } else { name }),
    );
    event["user"] = json!({"uid": user.0, "name": user.1});
    event
}

/// What an API call did, as OCSF API Activity's activities (class 6003).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVerb {
    Create,
    Read,
    Update,
    Delete,
    Other,
}

/// An OCSF API Activity event (class 6003): an administrative change made through the
/// provider's console or API, on `resources` (each its id, type and name).
#[must_use]
pub fn api_activity(
    entry: &AuditEntry<'_>,
    verb: ApiVerb,
    resources: &[(&str, &str, Option<&str>)],
) -> Value {
    let activity = match verb {
        ApiVerb::Create => (1, "Create"),
        ApiVerb::Read => (2, "Read"),
        ApiVerb::Update => (3, "Update"),
        ApiVerb::Delete => (4, "Delete"),
        ApiVerb::Other => (99, entry.operation),
    };
    let mut event = entry.event(
        OcsfClass::ApiActivity,
        (APPLICATION_CATEGORY, "Application Activity"),
        activity,
    );
    event["api"] = json!({"operation": entry.operation});
    if event.get("actor").is_none() {
        // OCSF needs an actor; the provider itself acted when its log names no one.
        event["actor"] = json!({"app_name": entry.product.name});
    }
    if event.get("src_endpoint").is_none() {
        event["src_endpoint"] = json!({"svc_name": entry.product.name});
    }
    if !resources.is_empty() {
        event["resources"] = resources
            .iter()
            .map(|(uid, kind, name)| {
                let mut resource = json!({"uid": uid, "type": kind});
                if let Some(name) = name {
                    resource["name"] = json!(name);
                }
                resource
            })
            .collect();
    }
    event
}
