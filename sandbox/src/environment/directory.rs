//! The simulated customer's Microsoft Entra directory: people, their authentication methods,
//! roles and groups, and the names and roster they are generated from.

use super::*;

/// An Entra user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub given_name: String,
    pub surname: String,
    pub job_title: String,
    pub department: String,
    pub account_enabled: bool,
    pub created: DateTime<Utc>,
    pub sign_in_sessions_valid_from: DateTime<Utc>,
    /// What the user signs in with: a password, and the second factors they registered.
    #[serde(default)]
    pub authentication_methods: Vec<SimAuthMethod>,
    /// Suspended in Okta (the org's other identity provider): cannot sign in there.
    #[serde(default)]
    pub okta_suspended: bool,
    /// The user-change generation (`Environment::user_generation`) of its last change through
    /// Graph; 0 since generation.
    #[serde(default)]
    pub changed: u64,
}

/// A kind of Microsoft Entra ID authentication method, as Graph names its type and the
/// collection under `/users/{id}/authentication/` that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethodKind {
    Password,
    MicrosoftAuthenticator,
    Phone,
    SoftwareOath,
}

impl AuthMethodKind {
    #[must_use]
    pub const fn odata_type(self) -> &'static str {
        match self {
            AuthMethodKind::Password => "#microsoft.graph.passwordAuthenticationMethod",
            AuthMethodKind::MicrosoftAuthenticator => {
                "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
            }
            AuthMethodKind::Phone => "#microsoft.graph.phoneAuthenticationMethod",
            AuthMethodKind::SoftwareOath => "#microsoft.graph.softwareOathAuthenticationMethod",
        }
    }

    /// The collection that holds methods of this kind.
    #[must_use]
    pub const fn collection(self) -> &'static str {
        match self {
            AuthMethodKind::Password => "passwordMethods",
            AuthMethodKind::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            AuthMethodKind::Phone => "phoneMethods",
            AuthMethodKind::SoftwareOath => "softwareOathMethods",
        }
    }
}

/// One authentication method of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAuthMethod {
    pub id: String,
    pub kind: AuthMethodKind,
    /// The method Entra ID asks for first; Graph refuses to delete it while other second
    /// factors remain.
    pub default: bool,
    pub created: DateTime<Utc>,
}

impl SimAuthMethod {
    /// The method as Graph returns it.
    #[must_use]
    pub fn to_vendor(&self, user: &SimUser) -> Value {
        let mut method = json!({
            "@odata.type": self.kind.odata_type(),
            "id": self.id,
            "createdDateTime": self.created,
        });
        match self.kind {
            AuthMethodKind::Password => method["password"] = Value::Null,
            AuthMethodKind::MicrosoftAuthenticator => {
                method["displayName"] = json!(format!("{}'s phone", user.given_name));
                method["deviceTag"] = json!("SoftwareTokenActivated");
                method["phoneAppVersion"] = json!("6.2407.4567");
            }
            AuthMethodKind::Phone => {
                method["phoneNumber"] = json!("+1 5555550123");
                method["phoneType"] = json!("mobile");
                method["smsSignInState"] = json!("notAllowedByPolicy");
            }
            AuthMethodKind::SoftwareOath => method["secretKey"] = Value::Null,
        }
        method
    }
}

impl SimUser {
    /// Every property the sandbox knows, as Graph names them.
    #[must_use]
    pub fn to_vendor(&self) -> Value {
        json!({
            "id": self.id,
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": self.given_name,
            "surname": self.surname,
            "jobTitle": self.job_title,
            "mail": self.user_principal_name,
            "mobilePhone": null,
            "officeLocation": null,
            "preferredLanguage": "en-US",
            "userPrincipalName": self.user_principal_name,
            "department": self.department,
            "accountEnabled": self.account_enabled,
            "userType": "Member",
            "createdDateTime": self.created,
            "signInSessionsValidFromDateTime": self.sign_in_sessions_valid_from,
        })
    }
}

/// The properties `GET /users` returns without `$select` (Graph's documented default set).
pub const DEFAULT_USER_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// An activated Entra directory role and its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimRole {
    pub id: String,
    pub display_name: String,
    pub role_template_id: String,
    pub members: Vec<String>,
}

/// A Microsoft Entra ID security group and its members (user ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimGroup {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub members: Vec<String>,
}

impl SimGroup {
    /// The group as Graph returns it.
    #[must_use]
    pub fn to_vendor(&self) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.group",
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "mailEnabled": false,
            "securityEnabled": true,
            "groupTypes": [],
        })
    }
}

pub(super) const GIVEN: [&str; 16] = [
    "Avery", "Jordan", "Morgan", "Riley", "Casey", "Quinn", "Harper", "Rowan", "Elliot", "Sasha",
    "Dana", "Parker", "Reese", "Skyler", "Emerson", "Logan",
];

pub(super) const FAMILY: [&str; 16] = [
    "Nguyen",
    "Patel",
    "Okafor",
    "Garcia",
    "Kowalski",
    "Lindqvist",
    "Haddad",
    "Moreau",
    "Tanaka",
    "O'Brien",
    "Schmidt",
    "Alvarez",
    "Kim",
    "Rossi",
    "Mensah",
    "Novak",
];

/// (job title, department, admin role, has a laptop tagged Finance)
pub(super) const ROSTER: [(&str, &str, Option<&str>, bool); 8] = [
    ("Owner", "Management", None, false),
    (
        "IT Administrator",
        "IT",
        Some("Global Administrator"),
        false,
    ),
    (
        "Office Manager",
        "Operations",
        Some("User Administrator"),
        false,
    ),
    ("Finance Manager", "Finance", None, true),
    ("Accountant", "Finance", None, true),
    ("Payroll Specialist", "Finance", None, true),
    ("Operations Coordinator", "Operations", None, false),
    ("Customer Service Lead", "Operations", None, false),
];

/// Entra's built-in role template ids.
pub(super) fn role_template(name: &str) -> &'static str {
    match name {
        "Global Administrator" => "62e90394-69f5-4237-9190-012177145e10",
        _ => "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
    }
}
