//! MSPs, their tenants, users and roles.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ids::{MspId, TenantId, UserId},
    slug::Slug,
};

/// A managed service provider: owns tenants, staff users and policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Msp {
    pub id: MspId,
    pub name: String,
    /// Short, unique, URL-safe name.
    pub slug: Slug,
    /// Whether single sign-on may create users of this MSP; `None` (the default) means never.
    pub sso_auto_provision: Option<SsoAutoProvision>,
    /// Whose password accounts must also use a second factor.
    pub second_factor_policy: SecondFactorPolicy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Whose password accounts must use a second factor (TOTP). Accounts that sign in through
/// single sign-on rely on the identity provider's factors instead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorPolicy {
    /// Nobody must (anyone may).
    Off,
    /// MSP admins, who can change everything (the default).
    #[default]
    MspAdmins,
    /// Every MSP role: admins, technicians, auditors.
    MspStaff,
    /// Every user, the customers' too.
    Everyone,
}

impl SecondFactorPolicy {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SecondFactorPolicy::Off => "off",
            SecondFactorPolicy::MspAdmins => "msp_admins",
            SecondFactorPolicy::MspStaff => "msp_staff",
            SecondFactorPolicy::Everyone => "everyone",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        [
            SecondFactorPolicy::Off,
            SecondFactorPolicy::MspAdmins,
            SecondFactorPolicy::MspStaff,
            SecondFactorPolicy::Everyone,
        ]
        .into_iter()
        .find(|policy| policy.as_str() == value)
    }

    /// Whether someone of `role` must use a second factor.
    #[must_use]
    pub fn requires(self, role: Role) -> bool {
        match self {
            SecondFactorPolicy::Off => false,
            SecondFactorPolicy::MspAdmins => role == Role::MspAdmin,
            SecondFactorPolicy::MspStaff => role.side() == RoleSide::Msp,
            SecondFactorPolicy::Everyone => true,
        }
    }
}

/// Users signing in through single sign-on for the first time, with a verified email in
/// `domain`, are created with `role` (technician or auditor: never admin, never customer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoAutoProvision {
    /// An email domain such as `harbor-it.example`, lowercase.
    pub domain: String,
    pub role: Role,
}

/// Mail services anyone can sign up to: no MSP may auto-provision their addresses, since
/// holding one proves nothing about working for the MSP.
pub const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "aol.com",
    "fastmail.com",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "outlook.com",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "tutanota.com",
    "web.de",
    "yahoo.com",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
];

/// Whether `domain` (lowercase) belongs to a public mail service.
#[must_use]
pub fn is_public_mail_domain(domain: &str) -> bool {
    PUBLIC_MAIL_DOMAINS.contains(&domain)
        || ["hotmail.", "outlook.", "yahoo.", "live."]
            .iter()
            .any(|prefix| domain.starts_with(prefix))
}

/// One customer business of an MSP; the unit of isolation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: TenantId,
    pub msp_id: MspId,
    pub name: String,
    /// Short URL-safe name, unique within the MSP.
    pub slug: Slug,
    pub status: TenantStatus,
    /// How much Steward may do without asking, read by the authority policy: 0 notify only ·
    /// 1 one-click approval · 2 automatic for low-risk reversible actions (the default) ·
    /// 3 automatic with guardrails.
    pub automation_level: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the MSP stopped managing this tenant; its history stays readable.
    pub offboarded_at: Option<DateTime<Utc>>,
}

/// Whether an MSP still manages a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Offboarded,
}

/// A person or service account that can sign in or hold API tokens, with their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub msp_id: MspId,
    /// Unique across the deployment, stored lowercase.
    pub email: String,
    pub display_name: String,
    pub status: UserStatus,
    pub role: Role,
    /// The tenant of a customer-side role; empty for MSP staff, who see every tenant.
    pub tenant_id: Option<TenantId>,
    /// Their password was chosen by someone else (an operator or admin) and works only to
    /// choose their own.
    #[serde(default)]
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether the user may sign in and use tokens.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

/// A disabled user's sessions and tokens stop working at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

/// What a user may do.
///
/// MSP-side roles apply to every tenant of the user's MSP; customer-side roles apply to exactly one
/// tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users, tenants, integrations, policies and automation levels.
    MspAdmin,
    /// Works incidents and approves technician-level actions.
    Technician,
    /// Reads everything of the MSP and changes nothing.
    Auditor,
    /// The customer's owner: reads their tenant's reports, approves customer-level actions.
    CustomerOwner,
    /// Approves customer-level actions for their tenant.
    CustomerApprover,
}

/// Which side of the MSP–customer relationship a role belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoleSide {
    Msp,
    Customer,
}

impl UserStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
}

impl TenantStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Offboarded => "offboarded",
        }
    }
}

impl Role {
    /// Every role, MSP side first.
    pub const ALL: [Role; 5] = [
        Role::MspAdmin,
        Role::Technician,
        Role::Auditor,
        Role::CustomerOwner,
        Role::CustomerApprover,
    ];

    /// The stable name used in the API, the database and the CLI.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::MspAdmin => "msp_admin",
            Role::Technician => "technician",
            Role::Auditor => "auditor",
            Role::CustomerOwner => "customer_owner",
            Role::CustomerApprover => "customer_approver",
        }
    }

    #[must_use]
    pub const fn side(self) -> RoleSide {
        match self {
            Role::MspAdmin | Role::Technician | Role::Auditor => RoleSide::Msp,
            Role::CustomerOwner | Role::CustomerApprover => RoleSide::Customer,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role {0:?}: expected one of msp_admin, technician, auditor, customer_owner, customer_approver"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            let json = serde_json::to_string(&role).expect("serializable");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn sides() {
        assert_eq!(Role::Auditor.side(), RoleSide::Msp);
        assert_eq!(Role::CustomerApprover.side(), RoleSide::Customer);
    }
}
