//! Actions Steward can take at a vendor, and what the authority policy decides about them.
//!
//! (Over 800 lines on purpose: this is the API's and the policy's vocabulary for actions —
//! types, statuses, decisions, approvals, batches — and each type's wording, reversibility and
//! rollback plan sit beside one another so a new action type is added in one place.)

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ActionId, IncidentId, IntegrationId, TenantId, UserId};

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
    /// Delete every second factor a user registered (Microsoft Entra ID authentication
    /// methods), so whoever holds them cannot pass MFA; the user registers again at the next
    /// sign-in. Cannot be undone.
    ResetMfa,
    /// Take a user out of a group (Microsoft Entra ID), ending what the group grants.
    RemoveFromGroup,
    /// Put a user (back) into a group.
    AddToGroup,
    /// Stop a user signing in through Okta (lifecycle `suspend`: the account and its
    /// assignments stay, only sign-in is refused).
    SuspendUser,
    /// Undo a suspension.
    UnsuspendUser,
    /// Run a script from the RMM's library on a device (NinjaOne, Tactical RMM), one whose effect a paired
    /// undo script reverses: disable a protocol, stop a service, block a port.
    RunScript,
    /// Run the undo script of a script pair.
    RunUndoScript,
    /// Start the device's backup job now (Veeam Service Provider Console). Nothing to undo: a
    /// backup adds a restore point and changes nothing else.
    TriggerBackup,
    /// Open the device's or person's ticket in the customer's PSA (HaloPSA, ConnectWise
    /// Manage) with the reason, or add the reason to it when it is already open; reopen it when
    /// it was closed. Writes to the MSP's own records only, never to the customer's systems.
    OpenTicket,
    /// Close the device's or person's ticket in the PSA, noting why.
    CloseTicket,
}

impl ActionType {
    pub const ALL: [ActionType; 15] = [
        ActionType::IsolateDevice,
        ActionType::ReleaseDevice,
        ActionType::DisableUser,
        ActionType::EnableUser,
        ActionType::RevokeSessions,
        ActionType::ResetMfa,
        ActionType::RemoveFromGroup,
        ActionType::AddToGroup,
        ActionType::SuspendUser,
        ActionType::UnsuspendUser,
        ActionType::RunScript,
        ActionType::RunUndoScript,
        ActionType::TriggerBackup,
        ActionType::OpenTicket,
        ActionType::CloseTicket,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionType::IsolateDevice => "isolate_device",
            ActionType::ReleaseDevice => "release_device",
            ActionType::DisableUser => "disable_user",
            ActionType::EnableUser => "enable_user",
            ActionType::RevokeSessions => "revoke_sessions",
            ActionType::ResetMfa => "reset_mfa",
            ActionType::RemoveFromGroup => "remove_from_group",
            ActionType::AddToGroup => "add_to_group",
            ActionType::SuspendUser => "suspend_user",
            ActionType::UnsuspendUser => "unsuspend_user",
            ActionType::RunScript => "run_script",
            ActionType::RunUndoScript => "run_undo_script",
            ActionType::TriggerBackup => "trigger_backup",
            ActionType::OpenTicket => "open_ticket",
            ActionType::CloseTicket => "close_ticket",
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
            ActionType::RemoveFromGroup => Some(ActionType::AddToGroup),
            ActionType::AddToGroup => Some(ActionType::RemoveFromGroup),
            ActionType::SuspendUser => Some(ActionType::UnsuspendUser),
            ActionType::UnsuspendUser => Some(ActionType::SuspendUser),
            ActionType::RunScript => Some(ActionType::RunUndoScript),
            ActionType::RunUndoScript => Some(ActionType::RunScript),
            ActionType::OpenTicket => Some(ActionType::CloseTicket),
            ActionType::CloseTicket => Some(ActionType::OpenTicket),
            ActionType::RevokeSessions | ActionType::ResetMfa | ActionType::TriggerBackup => None,
        }
    }

    /// Whether a rollback exists.
    #[must_use]
    pub const fn is_reversible(self) -> bool {
        self.inverse().is_some()
    }

    /// What the action does, for the people approving it.
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            ActionType::IsolateDevice => {
                "Isolate the device from the network (Microsoft Defender for Endpoint keeps its connection)"
            }
            ActionType::ReleaseDevice => "Release the device from isolation",
            ActionType::DisableUser => {
                "Disable the account so it cannot sign in (Microsoft Entra ID accountEnabled: false)"
            }
            ActionType::EnableUser => "Enable the account again",
            ActionType::RevokeSessions => {
                "Revoke every session and refresh token of the account, forcing a new sign-in everywhere"
            }
            ActionType::ResetMfa => {
                "Delete every MFA method the account registered (Microsoft Entra ID authentication methods); the user registers again at the next sign-in"
            }
            ActionType::RemoveFromGroup => {
                "Remove the account from the group (Microsoft Entra ID), ending the access the group grants"
            }
            ActionType::AddToGroup => "Add the account to the group (Microsoft Entra ID)",
            ActionType::SuspendUser => {
                "Suspend the account in Okta so it cannot sign in; its apps and groups stay assigned"
            }
            ActionType::UnsuspendUser => "Unsuspend the account in Okta",
            ActionType::RunScript => {
                "Run the script from the RMM's library on the device (NinjaOne or Tactical RMM), as the system account"
            }
            ActionType::RunUndoScript => {
                "Run the undo script of the script pair on the device (NinjaOne or Tactical RMM)"
            }
            ActionType::TriggerBackup => {
                "Start the device's backup job now (Veeam Service Provider Console) and confirm a new restore point"
            }
            ActionType::OpenTicket => {
                "Open a ticket about it in the customer's PSA (HaloPSA or ConnectWise Manage) with the reason; add the reason to its ticket if one is open, reopen it if it was closed"
            }
            ActionType::CloseTicket => "Close its ticket in the PSA, noting why",
        }
    }

    /// What a rollback would do, or why there is none.
    #[must_use]
    pub const fn rollback_plan(self) -> &'static str {
        match self {
            ActionType::IsolateDevice => {
                "Release the device from isolation, then confirm at Microsoft Defender for Endpoint that it is released"
            }
            ActionType::ReleaseDevice => "Isolate the device again and confirm it",
            ActionType::DisableUser => {
                "Enable the account again (accountEnabled: true), then confirm at Microsoft Entra ID"
            }
            ActionType::EnableUser => "Disable the account again and confirm it",
            ActionType::RevokeSessions => {
                "None: revoked sessions cannot be restored; users sign in again"
            }
            ActionType::ResetMfa => {
                "None: deleted MFA methods cannot be restored; the user registers them again"
            }
            ActionType::RemoveFromGroup => {
                "Add the account to the group again (if it was a member), then confirm the membership at Microsoft Entra ID"
            }
            ActionType::AddToGroup => {
                "Remove the account from the group again (if it was not a member before) and confirm it"
            }
            ActionType::SuspendUser => {
                "Unsuspend the account (if it was active before), then confirm at Okta that it is active"
            }
            ActionType::UnsuspendUser => {
                "Suspend the account again (if it was suspended before) and confirm it"
            }
            ActionType::RunScript => {
                "Run the paired undo script on the device, then confirm at the RMM that it completed"
            }
            ActionType::RunUndoScript => "Run the script again and confirm it completed",
            ActionType::TriggerBackup => {
                "None needed: a backup adds a restore point and changes nothing on the device"
            }
            ActionType::OpenTicket => {
                "Close the ticket again (if it was not open before), then confirm at the PSA that it is closed"
            }
            ActionType::CloseTicket => {
                "Reopen the ticket (if it was open before), then confirm at the PSA that it is open"
            }
        }
    }

    /// The kinds of entity the action is done to, the usual one first.
    #[must_use]
    pub const fn target_kinds(self) -> &'static [TargetKind] {
        match self {
            ActionType::OpenTicket | ActionType::CloseTicket => {
                &[TargetKind::Device, TargetKind::Identity]
            }
            _ => match self.target_kind() {
                TargetKind::Device => &[TargetKind::Device],
                TargetKind::Identity => &[TargetKind::Identity],
            },
        }
    }

    /// Whether the action can be done to an entity of `kind`.
    #[must_use]
    pub fn acts_on(self, kind: TargetKind) -> bool {
        self.target_kinds().contains(&kind)
    }

    /// Whether the integration that performs the action must know the target (the EDR that
    /// isolates a device reports it). Ticket actions write a record about the target in the
    /// PSA, which reports no devices or people.
    #[must_use]
    pub const fn needs_target_at_vendor(self) -> bool {
        !matches!(self, ActionType::OpenTicket | ActionType::CloseTicket)
    }

    /// The usual kind of entity the action is done to (the first of
    /// [`ActionType::target_kinds`]).
    #[must_use]
    pub const fn target_kind(self) -> TargetKind {
        match self {
            ActionType::OpenTicket | ActionType::CloseTicket => TargetKind::Device,
            ActionType::IsolateDevice
            | ActionType::ReleaseDevice
            | ActionType::RunScript
            | ActionType::RunUndoScript
            | ActionType::TriggerBackup => TargetKind::Device,
            ActionType::DisableUser
            | ActionType::EnableUser
            | ActionType::RevokeSessions
            | ActionType::ResetMfa
            | ActionType::RemoveFromGroup
            | ActionType::AddToGroup
            | ActionType::SuspendUser
            | ActionType::UnsuspendUser => TargetKind::Identity,
        }
    }
}

impl ActionType {
    /// Whether `parameters` are what this action needs: a group for the group actions, a
    /// script and its undo script for the script actions, nothing for the others.
    ///
    /// # Errors
    /// What is missing or not expected, for the proposer.
    pub fn check_parameters(self, parameters: &ActionParameters) -> Result<(), String> {
        if let Some(vendor) = parameters.vendor
            && !vendor.performs(self)
        {
            return Err(format!(
                "Steward does not {self} through {}",
                vendor.display_name()
            ));
        }
        let script = matches!(self, ActionType::RunScript | ActionType::RunUndoScript);
        for (name, value) in [
            ("script_id", &parameters.script_id),
            ("undo_script_id", &parameters.undo_script_id),
        ] {
            match (value, script) {
                (None, true) => {
                    return Err(format!(
                        "{self} needs parameters.script_id and parameters.undo_script_id: a script runs only with the script that undoes it"
                    ));
                }
                (Some(_), false) => return Err(format!("{self} takes no {name}")),
                (Some(id), true)
                    if id.is_empty()
                        || id.len() > 40
                        || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
                {
                    return Err(format!("{name} is the RMM's script id"));
                }
                _ => {}
            }
        }
        if script && parameters.script_id == parameters.undo_script_id {
            return Err("a script cannot be its own undo script".to_owned());
        }
        let needs_group = matches!(self, ActionType::RemoveFromGroup | ActionType::AddToGroup);
        match (&parameters.group_id, needs_group) {
            (None, true) => Err(format!("{self} needs parameters.group_id")),
            (Some(_), false) => Err(format!("{self} takes no group_id")),
            (Some(group), true)
                if group.is_empty()
                    || group.len() > 200
                    || !group.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                Err("group_id is a Microsoft Entra ID object id".to_owned())
            }
            _ => Ok(()),
        }
    }
}

/// What an action needs besides its type and target; [`ActionType::check_parameters`] says
/// which fields each type takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ActionParameters {
    /// The group of `remove_from_group` and `add_to_group` (its Microsoft Entra ID object id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The script `run_script` runs: its id in the RMM's library (NinjaOne's automation
    /// library, Tactical RMM's script manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_id: Option<String>,
    /// The script that undoes it, which `run_undo_script` (and a rollback) runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo_script_id: Option<String>,
    /// The connected tool to act through where several could: a script id belongs to one RMM's
    /// library, so a tenant moving from NinjaOne to Tactical RMM names the one it means. By
    /// default, the first of the tenant's integrations that knows the target and performs the
    /// action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<crate::observations::Vendor>,
}

impl std::str::FromStr for ActionType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| format!("unknown action type {s:?}"))
    }
}

impl fmt::Display for ActionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two kinds of entity actions are done to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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

impl Criticality {
    /// A device tag that sets its criticality explicitly: `steward:criticality=high`.
    pub const TAG_PREFIX: &'static str = "steward:criticality=";

    /// A device's criticality as its tools' tags say it, before the MSP's business context: a
    /// `steward:criticality=<low|medium|high|critical>` tag; otherwise servers are high and
    /// everything else medium.
    #[must_use]
    pub fn from_tags(tags: &[String]) -> Self {
        for tag in tags {
            if let Some(level) = tag.strip_prefix(Self::TAG_PREFIX) {
                match level {
                    "low" => return Self::Low,
                    "medium" => return Self::Medium,
                    "high" => return Self::High,
                    "critical" => return Self::Critical,
                    _ => {}
                }
            }
        }
        if tags.iter().any(|t| t.eq_ignore_ascii_case("server")) {
            Self::High
        } else {
            Self::Medium
        }
    }
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
    /// How many different people of the approving side must approve (1 to
    /// [`MAX_QUORUM`]); 1 when the policy does not say.
    #[serde(default = "one")]
    pub quorum: u8,
    /// Only people with this role approve (a role of the approving side); anyone of that side
    /// when the policy does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_role: Option<crate::tenancy::Role>,
}

/// The most approvers a policy may require.
pub const MAX_QUORUM: u8 = 5;

const fn one() -> u8 {
    1
}

impl PolicyDecision {
    /// A decision with these reasons, one approver, any role of the side.
    #[must_use]
    pub fn new(outcome: PolicyOutcome, reasons: Vec<String>) -> Self {
        Self {
            outcome,
            reasons,
            quorum: 1,
            approver_role: None,
        }
    }

    /// The side whose people approve, for an outcome that needs a person.
    #[must_use]
    pub const fn approving_side(&self) -> Option<ApproverSide> {
        match self.outcome {
            PolicyOutcome::TechnicianApproval => Some(ApproverSide::Technician),
            PolicyOutcome::CustomerApproval => Some(ApproverSide::Customer),
            PolicyOutcome::Auto | PolicyOutcome::Deny => None,
        }
    }

    /// Why the decision cannot be followed as it stands (a quorum out of range, an approver
    /// role of the wrong side), if it cannot.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        if !(1..=MAX_QUORUM).contains(&self.quorum) {
            return Some(format!(
                "quorum {} is not between 1 and {MAX_QUORUM}",
                self.quorum
            ));
        }
        let role = self.approver_role?;
        let fits = match self.approving_side() {
            Some(ApproverSide::Technician) => {
                matches!(
                    role,
                    crate::tenancy::Role::MspAdmin | crate::tenancy::Role::Technician
                )
            }
            Some(ApproverSide::Customer) => matches!(
                role,
                crate::tenancy::Role::CustomerOwner | crate::tenancy::Role::CustomerApprover
            ),
            None => false,
        };
        (!fits).then(|| {
            format!(
                "approver role {} cannot give a {:?}",
                role.as_str(),
                self.outcome
            )
        })
    }
}

/// How long an approval request stays open, and when it goes to the next approver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalTiming {
    /// Minutes until an unanswered request expires, which rejects the action.
    pub expire_after_minutes: u32,
    /// Minutes until an unanswered request also goes to the next approvers (MSP admins after
    /// technicians, the customer's owner after its approvers).
    pub escalate_after_minutes: u32,
}

impl Default for ApprovalTiming {
    fn default() -> Self {
        Self {
            expire_after_minutes: 24 * 60,
            escalate_after_minutes: 60,
        }
    }
}

/// Where an action is. Proposing records the policy decision at once, so an action starts
/// `denied`, `awaiting_approval` or `queued`.
///
/// ```text
/// awaiting_approval ─approve─▶ queued ─▶ executing ─▶ verifying ─▶ verified ─rollback─▶ rolling_back ─▶ rolled_back
///        └─reject─▶ rejected            └──────────┴─▶ failed ─(reversible)─▶ rolling_back     └─▶ rollback_failed
/// ```
///
/// A member of a batch other than its canary waits, queued, until the canary is verified, and
/// is `cancelled` if the canary fails, is rejected or is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// The policy asks for a person's approval first.
    AwaitingApproval,
    /// The policy refused it.
    Denied,
    /// An approver refused it.
    Rejected,
    /// Approved (or automatic), waiting for a worker.
    Queued,
    /// Its snapshot is taken and the vendor was asked to act.
    Executing,
    /// The vendor accepted; Steward is confirming it took effect.
    Verifying,
    /// Confirmed at the vendor.
    Verified,
    /// The vendor refused it or verification failed; nothing more to do (irreversible) or a
    /// rollback follows.
    Failed,
    /// The inverse action is running.
    RollingBack,
    /// The inverse ran and was confirmed: the prior state is back.
    RolledBack,
    /// The inverse did not take effect: a person must look.
    RollbackFailed,
    /// Stopped before it ran: the canary of its batch did not succeed.
    Cancelled,
}

impl ActionStatus {
    pub const ALL: [ActionStatus; 12] = [
        ActionStatus::AwaitingApproval,
        ActionStatus::Denied,
        ActionStatus::Rejected,
        ActionStatus::Queued,
        ActionStatus::Executing,
        ActionStatus::Verifying,
        ActionStatus::Verified,
        ActionStatus::Failed,
        ActionStatus::RollingBack,
        ActionStatus::RolledBack,
        ActionStatus::RollbackFailed,
        ActionStatus::Cancelled,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ActionStatus::AwaitingApproval => "awaiting_approval",
            ActionStatus::Denied => "denied",
            ActionStatus::Rejected => "rejected",
            ActionStatus::Queued => "queued",
            ActionStatus::Executing => "executing",
            ActionStatus::Verifying => "verifying",
            ActionStatus::Verified => "verified",
            ActionStatus::Failed => "failed",
            ActionStatus::RollingBack => "rolling_back",
            ActionStatus::RolledBack => "rolled_back",
            ActionStatus::RollbackFailed => "rollback_failed",
            ActionStatus::Cancelled => "cancelled",
        }
    }

    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Whether nothing more happens to the action by itself (a person may still roll back a
    /// verified one).
    #[must_use]
    pub const fn at_rest(self) -> bool {
        matches!(
            self,
            ActionStatus::Denied
                | ActionStatus::Rejected
                | ActionStatus::Verified
                | ActionStatus::Failed
                | ActionStatus::RolledBack
                | ActionStatus::RollbackFailed
                | ActionStatus::Cancelled
        )
    }
}

impl fmt::Display for ActionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entity an action is done to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionTarget {
    pub kind: TargetKind,
    /// The device's or identity's id in the inventory.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Host name or user principal name.
    pub name: String,
}

/// Who proposed an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Proposer {
    pub kind: ProposerKind,
    /// The person or token's user, unless Steward's worker proposed it.
    pub user_id: Option<UserId>,
}

/// On whose behalf an approver decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApproverSide {
    Technician,
    Customer,
}

/// One approver's answer, bound to the version of the action they saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub user_id: UserId,
    pub side: ApproverSide,
    /// The approver's role when they answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::tenancy::Role>,
    pub approved: bool,
    /// The action version ([`Action::version`]) the approver was shown.
    pub version: String,
    pub comment: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// One change Steward proposed or made at a vendor, with its decision, approvals and outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Action {
    pub id: ActionId,
    pub tenant_id: TenantId,
    pub incident_id: Option<IncidentId>,
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub target: ActionTarget,
    /// What the action needs besides its target (the group of a group action).
    #[serde(default)]
    pub parameters: ActionParameters,
    /// Whether a rollback exists.
    pub reversible: bool,
    pub status: ActionStatus,
    pub proposed_by: Proposer,
    /// Why it was proposed, for the approver.
    pub reasons: Vec<String>,
    /// The authority policy's answer, as recorded when it was proposed.
    pub decision: PolicyDecision,
    /// The input the policy decided on (the target, its risk, the automation level).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub decision_input: serde_json::Value,
    /// Hash of type, target, parameters and decision input: an approval binds to this.
    pub version: String,
    pub approvals: Vec<Approval>,
    /// The integration that runs it.
    pub integration_id: Option<IntegrationId>,
    /// The vendor-side state before it ran.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub snapshot: Option<serde_json::Value>,
    /// The vendor's reference for the request (Defender's machine action id), once it ran.
    pub vendor_reference: Option<String>,
    /// The last verification's detail, or why it failed.
    pub detail: Option<String>,
    /// What a rollback would do.
    pub rollback_plan: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub executed_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    pub rolled_back_at: Option<DateTime<Utc>>,
    /// While it awaits approval: when the request expires, rejecting the action.
    pub expires_at: Option<DateTime<Utc>>,
    /// While it awaits approval: when the request also goes to the next approvers.
    pub escalate_at: Option<DateTime<Utc>>,
    /// 0 while with the first approvers; 1 once escalated.
    pub escalation_level: u8,
    /// The batch this action belongs to, when it was proposed for several targets at once.
    pub batch: Option<BatchMembership>,
}

/// An action's place in a batch: the same action proposed for several targets at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchMembership {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// The target's place in the request, from 0.
    pub position: u32,
    /// How many targets the batch has.
    pub size: u32,
}

/// The most targets one batch may name; the authority policy may allow fewer per action type.
pub const MAX_BATCH_TARGETS: usize = 100;

/// Where a batch is, read from its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// The policy denied every target.
    Denied,
    /// The canary has not run yet, or is running; the others wait.
    Canary,
    /// The canary was verified; the others run (or wait for their approvals).
    Running,
    /// The canary did not succeed: the members that had not run are cancelled.
    Stopped,
    /// Every member is at rest and the canary succeeded.
    Completed,
}

/// The same action proposed for several targets: the policy decides each with the batch's
/// size as its blast radius; the first target the policy does not deny is the canary, and the
/// others run only after it is verified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionBatch {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    #[serde(rename = "type")]
    pub kind: ActionType,
    pub status: BatchStatus,
    /// The member that runs first; `None` when the policy denied every target.
    pub canary_action_id: Option<ActionId>,
    /// The members in the order the targets were given.
    pub actions: Vec<Action>,
}

impl ActionBatch {
    /// The batch of these members (one batch's, in position order).
    #[must_use]
    pub fn of(id: uuid::Uuid, tenant_id: TenantId, kind: ActionType, actions: Vec<Action>) -> Self {
        let canary = canary(&actions);
        let status = match canary.map(|c| c.status) {
            None => BatchStatus::Denied,
            Some(ActionStatus::Verified) if actions.iter().all(|a| a.status.at_rest()) => {
                BatchStatus::Completed
            }
            Some(ActionStatus::Verified) => BatchStatus::Running,
            Some(status) if canary_stopped(status) => BatchStatus::Stopped,
            Some(_) => BatchStatus::Canary,
        };
        Self {
            id,
            tenant_id,
            kind,
            status,
            canary_action_id: canary.map(|c| c.id),
            actions,
        }
    }
}

/// The canary among a batch's members (in position order): the first the policy did not deny.
#[must_use]
pub fn canary(members: &[Action]) -> Option<&Action> {
    members.iter().find(|a| a.status != ActionStatus::Denied)
}

/// Whether a canary in this status stops its batch: it failed, was rejected, was stopped, or
/// was undone.
#[must_use]
pub const fn canary_stopped(status: ActionStatus) -> bool {
    matches!(
        status,
        ActionStatus::Rejected
            | ActionStatus::Failed
            | ActionStatus::RollingBack
            | ActionStatus::RolledBack
            | ActionStatus::RollbackFailed
            | ActionStatus::Cancelled
    )
}

/// A tenant's own authority policy, replacing the deployment's for that tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantPolicy {
    pub tenant_id: TenantId,
    /// One Rego module in package `steward.authority` defining `decision`.
    pub source: String,
    /// SHA-256 of the source, hex.
    pub sha256: String,
    pub updated_at: DateTime<Utc>,
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
    AccessGrant,
    /// A script runs code on a customer's device.
    ScriptExecution,
    BulkAction,
    HighCriticalityAsset,
    ReversibleActionWithinAutomationLevel,
    /// An action that changes nothing a rollback would restore (a backup) runs on its own.
    HarmlessActionWithinAutomationLevel,
    OutsideMaintenanceWindow,
    ActionTypeHourlyLimit,
    BulkLimitExceeded,
    /// Also enforced by Steward whatever the policy says: the kill switch is pulled.
    KillSwitchEngaged,
    /// Also enforced by Steward: too many recent failures.
    CircuitBreakerOpen,
    /// Also enforced by Steward: the hourly number of automatic actions is reached.
    AutomationRateLimit,
    /// Added by Steward itself: the policy could not be loaded or evaluated.
    PolicyError,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 23] = [
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
        ReasonCode::AccessGrant,
        ReasonCode::ScriptExecution,
        ReasonCode::BulkAction,
        ReasonCode::HighCriticalityAsset,
        ReasonCode::ReversibleActionWithinAutomationLevel,
        ReasonCode::HarmlessActionWithinAutomationLevel,
        ReasonCode::OutsideMaintenanceWindow,
        ReasonCode::ActionTypeHourlyLimit,
        ReasonCode::BulkLimitExceeded,
        ReasonCode::KillSwitchEngaged,
        ReasonCode::CircuitBreakerOpen,
        ReasonCode::AutomationRateLimit,
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
            ReasonCode::AccessGrant => "access-grant",
            ReasonCode::ScriptExecution => "script-execution",
            ReasonCode::BulkAction => "bulk-action",
            ReasonCode::HighCriticalityAsset => "high-criticality-asset",
            ReasonCode::ReversibleActionWithinAutomationLevel => {
                "reversible-action-within-automation-level"
            }
            ReasonCode::HarmlessActionWithinAutomationLevel => {
                "harmless-action-within-automation-level"
            }
            ReasonCode::OutsideMaintenanceWindow => "outside-maintenance-window",
            ReasonCode::ActionTypeHourlyLimit => "action-type-hourly-limit",
            ReasonCode::BulkLimitExceeded => "bulk-limit-exceeded",
            ReasonCode::KillSwitchEngaged => "kill-switch-engaged",
            ReasonCode::CircuitBreakerOpen => "circuit-breaker-open",
            ReasonCode::AutomationRateLimit => "automation-rate-limit",
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
        Self::new(
            PolicyOutcome::Deny,
            vec![ReasonCode::PolicyError.as_str().to_owned()],
        )
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
        assert!(!ActionType::ResetMfa.is_reversible());
    }

    #[test]
    fn reason_codes_parse_back() {
        for code in ReasonCode::ALL {
            assert_eq!(ReasonCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ReasonCode::parse("made-up"), None);
    }
}
