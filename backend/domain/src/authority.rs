//! The authority policy's contract: what it decides on (`input` of
//! `data.steward.authority.decision`) and what a decision is.
//!
//! `policies/schema/authority_input.json` is generated from these types (`steward policy
//! schema`), so a policy author sees exactly what `input` holds. They live here, beside the
//! other shared shapes, because the policy's stage builds them and storage records them.

use serde::{Deserialize, Serialize};

use crate::actions::{
    ActionParameters, ActionType, Criticality, PolicyDecision, ProposerKind, TargetKind,
};

/// Everything the authority policy decides on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthorityInput {
    pub action: ActionInput,
    pub target: TargetInput,
    pub risk: RiskInput,
    pub tenant: TenantInput,
    pub proposer: ProposerInput,
    pub guardrails: GuardrailsInput,
}

/// The proposed action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionInput {
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// Whether a rollback exists (revoking sessions, for one, cannot be undone).
    pub reversible: bool,
    /// How many entities the action touches (its blast radius).
    pub target_count: u32,
    /// What the action needs besides its target (the group of a group action).
    #[serde(default)]
    pub parameters: ActionParameters,
}

/// The entity the action is done to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub kind: TargetKind,
    /// A device's host name or an identity's user principal name.
    pub name: String,
    pub criticality: Criticality,
    /// An identity with administrative roles (always false for devices).
    pub privileged: bool,
    /// Business context set by the MSP (`finance`, `payroll`); `steward:protected` means never
    /// act on it.
    pub tags: Vec<String>,
}

/// The target's current risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskInput {
    /// 0 to 100.
    pub score: u8,
    pub factors: Vec<RiskFactorInput>,
}

/// One reason the target's risk is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskFactorInput {
    pub name: String,
    /// Points this factor adds to the score.
    pub contribution: u8,
}

/// The tenant's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantInput {
    /// 0 notify only · 1 one-click approval · 2 automatic for low-risk reversible actions ·
    /// 3 automatic with guardrails.
    pub automation_level: u8,
    pub maintenance: MaintenanceInput,
}

/// The tenant's maintenance windows, as they stand when the action is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MaintenanceInput {
    /// Whether the tenant has maintenance windows at all.
    pub configured: bool,
    /// Whether one is open now.
    pub open: bool,
}

/// The state of the guardrails on automatic execution. Steward itself turns an `auto`
/// decision into `technician_approval` when `kill_switch`, `circuit_open` or `rate_limited`
/// is set, whatever the policy answers; the policy sees them to explain or go further.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GuardrailsInput {
    /// The tenant's or the MSP's kill switch is pulled.
    pub kill_switch: bool,
    /// Too many actions failed in the last hour.
    pub circuit_open: bool,
    /// The hourly number of automatic actions of the tenant or the MSP is reached.
    pub rate_limited: bool,
    /// Automatic actions in this tenant in the last hour.
    pub automatic_last_hour: u32,
    /// Automatic actions of this action's type in this tenant in the last hour.
    pub automatic_of_type_last_hour: u32,
    /// Failed actions in this tenant in the last hour.
    pub failures_last_hour: u32,
}

/// Who proposes the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProposerInput {
    pub kind: ProposerKind,
}

/// A decision, and why the policy could not decide if it could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub decision: PolicyDecision,
    /// Set when the decision is the fail-safe deny: what went wrong, for the notification.
    pub failure: Option<String>,
}
