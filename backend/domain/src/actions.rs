//! Actions Steward can take at a vendor, and what the authority policy decides about them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A change Steward can make at a vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    /// Cut a device off the network except for its EDR (Microsoft Defender for Endpoint).
    IsolateDevice,
    /// Undo an isolation.
    ReleaseDevice,
    /// Stop a user signing in (Microsoft Graph `accountEnabled: false`).
    DisableUser,
    /// Undo a disable.
    EnableUser,
    /// End every session and refresh token of a user. Cannot be undone.
    RevokeSessions,
}

impl ActionType {
    pub const ALL: [ActionType; 5] = [
        ActionType::IsolateDevice,
        ActionType::ReleaseDevice,
        ActionType::DisableUser,
        ActionType::EnableUser,
        ActionType::RevokeSessions,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::IsolateDevice => "isolate_device",
            ActionType::ReleaseDevice => "release_device",
            ActionType::DisableUser => "disable_user",
            ActionType::EnableUser => "enable_user",
            ActionType::RevokeSessions => "revoke_sessions",
        }
    }

    /// The action that undoes this one; `None` for irreversible actions.
    #[must_use]
    pub const fn inverse(self) -> Option<ActionType> {
        match self {
            ActionType::IsolateDevice => Some(ActionType::ReleaseDevice),
            ActionType::ReleaseDevice => Some(ActionType::IsolateDevice),
            ActionType::DisableUser => Some(ActionType::EnableUser),
            ActionType::EnableUser => Some(ActionType::DisableUser),
            ActionType::RevokeSessions => None,
        }
    }

    /// Whether a rollback exists.
    #[must_use]
    pub const fn is_reversible(self) -> bool {
        self.inverse().is_some()
    }

    /// What the action is done to.
    #[must_use]
    pub const fn target_kind(self) -> TargetKind {
        match self {
            ActionType::IsolateDevice | ActionType::ReleaseDevice => TargetKind::Device,
            ActionType::DisableUser | ActionType::EnableUser | ActionType::RevokeSessions => {
                TargetKind::Identity
            }
        }
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two kinds of entity actions are done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Device,
    Identity,
}

/// How much the business depends on an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Criticality {
    Low,
    Medium,
    High,
    /// The business stops without it (the file server, the payroll machine).
    Critical,
}

/// Who proposes an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ProposerKind {
    /// Steward's own background triage.
    Worker,
    /// A person at the MSP.
    Technician,
    /// An AI agent through the API or MCP.
    AiAgent,
}

/// What the authority policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyOutcome {
    /// Steward runs the action without asking.
    Auto,
    /// An MSP technician (not the proposer) approves first.
    TechnicianApproval,
    /// A user of the customer approves first.
    CustomerApproval,
    /// The action is not run.
    Deny,
}

/// The authority policy's answer for one action: the outcome and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PolicyDecision {
    pub outcome: PolicyOutcome,
    /// Stable kebab-case codes; the built-in policy's are listed in [`ReasonCode`].
    pub reasons: Vec<String>,
}

/// The reason codes of the built-in authority policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    NoDecision,
    UnknownAction,
    ProtectedTarget,
    InvalidAutomationLevel,
    PrivilegedIdentity,
    CriticalAsset,
    AutomationLevel0NotifyOnly,
    AutomationLevel1OneClickApproval,
    IrreversibleAction,
    AiAgentProposal,
    BulkAction,
    HighCriticalityAsset,
    ReversibleActionWithinAutomationLevel,
    /// Added by Steward itself: the policy could not be loaded or evaluated.
    PolicyError,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 14] = [
        ReasonCode::NoDecision,
        ReasonCode::UnknownAction,
        ReasonCode::ProtectedTarget,
        ReasonCode::InvalidAutomationLevel,
        ReasonCode::PrivilegedIdentity,
        ReasonCode::CriticalAsset,
        ReasonCode::AutomationLevel0NotifyOnly,
        ReasonCode::AutomationLevel1OneClickApproval,
        ReasonCode::IrreversibleAction,
        ReasonCode::AiAgentProposal,
        ReasonCode::BulkAction,
        ReasonCode::HighCriticalityAsset,
        ReasonCode::ReversibleActionWithinAutomationLevel,
        ReasonCode::PolicyError,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ReasonCode::NoDecision => "no-decision",
            ReasonCode::UnknownAction => "unknown-action",
            ReasonCode::ProtectedTarget => "protected-target",
            ReasonCode::InvalidAutomationLevel => "invalid-automation-level",
            ReasonCode::PrivilegedIdentity => "privileged-identity",
            ReasonCode::CriticalAsset => "critical-asset",
            ReasonCode::AutomationLevel0NotifyOnly => "automation-level-0-notify-only",
            ReasonCode::AutomationLevel1OneClickApproval => "automation-level-1-one-click-approval",
            ReasonCode::IrreversibleAction => "irreversible-action",
            ReasonCode::AiAgentProposal => "ai-agent-proposal",
            ReasonCode::BulkAction => "bulk-action",
            ReasonCode::HighCriticalityAsset => "high-criticality-asset",
            ReasonCode::ReversibleActionWithinAutomationLevel => {
                "reversible-action-within-automation-level"
            }
            ReasonCode::PolicyError => "policy-error",
        }
    }

    /// The code with this name, if it is one of the built-in ones.
    #[must_use]
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|known| known.as_str() == code)
    }
}

impl PolicyDecision {
    /// The answer when no policy could decide: deny, and say why.
    #[must_use]
    pub fn policy_error() -> Self {
        Self {
            outcome: PolicyOutcome::Deny,
            reasons: vec![ReasonCode::PolicyError.as_str().to_owned()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversible_actions_have_inverses_that_undo_them() {
        for action in ActionType::ALL {
            if let Some(inverse) = action.inverse() {
                assert_eq!(inverse.inverse(), Some(action));
                assert_eq!(inverse.target_kind(), action.target_kind());
            }
        }
        assert!(!ActionType::RevokeSessions.is_reversible());
    }

    #[test]
    fn reason_codes_parse_back() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ReasonCode::parse("made-up"), None);
    }
}
