//! Who may do what: the default permissions of each role.
//!
//! The server enforces these through the handles a caller can obtain (see `steward-core`'s
//! `access` module); the UI uses the same table to decide what to show.

use serde::{Deserialize, Serialize};

use crate::tenancy::Role;

/// Something a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read the tenants the caller can see: all of the MSP's for MSP staff, their own for
    /// customer users.
    ReadTenants,
    /// Create, rename and offboard tenants.
    ManageTenants,
    /// List who has access to a tenant.
    ReadMembers,
    /// Read a tenant's audit chain.
    ReadTenantAudit,
    /// Read the MSP's own audit chain (users, tokens, settings).
    ReadMspAudit,
    /// List the MSP's users and their API tokens (never token secrets).
    ReadUsers,
    /// Create, change and disable users; create and revoke anyone's API tokens.
    ManageUsers,
    /// See a tenant's integrations and their health (never their credentials).
    ReadIntegrations,
    /// Connect a tenant to vendors: create, change, test and remove integrations.
    ManageIntegrations,
    /// See the sandbox's simulated vendor-side state of a tenant.
    ReadSandbox,
    /// Stage a sandbox scenario for a tenant.
    RunSandboxScenarios,
    /// See a tenant's incidents, findings and risk scores.
    ReadIncidents,
    /// Work incidents: assign, change status, record the verdict.
    WorkIncidents,
    /// See a tenant's actions, their policy decisions and approvals.
    ReadActions,
    /// Propose an action, and ask for a rollback of one that ran.
    ProposeActions,
    /// Approve or reject an action that needs an MSP technician.
    ApproveAsTechnician,
    /// Approve or reject an action that needs the customer: only the customer's own people.
    ApproveAsCustomer,
    /// Change a tenant's automation level and maintenance windows, and release kill switches.
    ManageAutomation,
    /// Pull a tenant's kill switch: nothing runs automatically there until an MSP admin
    /// releases it.
    HaltAutomation,
    /// Pull the MSP-wide kill switch, stopping automatic execution in every tenant.
    HaltAllAutomation,
    /// Read a tenant's outcome reports.
    ReadReports,
    /// See the authority policy that governs a tenant.
    ReadPolicies,
    /// Read a tenant's inventory: its devices, identities (with their admin roles and second
    /// factors) and events.
    ReadInventory,
    /// See the detection rules, built in and the MSP's own, and where each is on.
    ReadDetections,
    /// Upload, change and remove the MSP's own rules, and turn rules on or off for the MSP or
    /// a tenant.
    ManageDetections,
}

impl Permission {
    /// What the permission allows, completing "your role does not allow you to …".
    #[must_use]
    pub const fn describe(self) -> &'static str {
        match self {
            Permission::ReadTenants => "read tenants",
            Permission::ManageTenants => "create, change or offboard tenants",
            Permission::ReadMembers => "list a tenant's members",
            Permission::ReadTenantAudit => "read a tenant's audit chain",
            Permission::ReadMspAudit => "read the MSP's audit chain",
            Permission::ReadUsers => "read the MSP's users and API tokens",
            Permission::ManageUsers => "create or change users and their API tokens",
            Permission::ReadIntegrations => "see a tenant's integrations",
            Permission::ManageIntegrations => "create, change, test or remove integrations",
            Permission::ReadSandbox => "see the sandbox's vendor-side state",
            Permission::RunSandboxScenarios => "run sandbox scenarios",
            Permission::ReadIncidents => "see a tenant's incidents and risk",
            Permission::WorkIncidents => "assign incidents or change their status",
            Permission::ReadActions => "see a tenant's actions and approvals",
            Permission::ProposeActions => "propose actions or roll them back",
            Permission::ApproveAsTechnician => "approve actions as the MSP's technician",
            Permission::ApproveAsCustomer => "approve actions on behalf of the customer",
            Permission::ManageAutomation => {
                "change a tenant's automation level or maintenance windows, or release a kill switch"
            }
            Permission::HaltAutomation => "pull a tenant's kill switch",
            Permission::HaltAllAutomation => "pull the MSP-wide kill switch",
            Permission::ReadReports => "read a tenant's outcome reports",
            Permission::ReadPolicies => "see a tenant's authority policy",
            Permission::ReadInventory => "read a tenant's devices, identities and events",
            Permission::ReadDetections => "see the detection rules",
            Permission::ManageDetections => "change detection rules or turn them on or off",
        }
    }

    pub const ALL: [Permission; 25] = [
        Permission::ReadTenants,
        Permission::ManageTenants,
        Permission::ReadMembers,
        Permission::ReadTenantAudit,
        Permission::ReadMspAudit,
        Permission::ReadUsers,
        Permission::ManageUsers,
        Permission::ReadIntegrations,
        Permission::ManageIntegrations,
        Permission::ReadSandbox,
        Permission::RunSandboxScenarios,
        Permission::ReadIncidents,
        Permission::WorkIncidents,
        Permission::ReadActions,
        Permission::ProposeActions,
        Permission::ApproveAsTechnician,
        Permission::ApproveAsCustomer,
        Permission::ManageAutomation,
        Permission::HaltAutomation,
        Permission::HaltAllAutomation,
        Permission::ReadReports,
        Permission::ReadPolicies,
        Permission::ReadInventory,
        Permission::ReadDetections,
        Permission::ManageDetections,
    ];
}

impl Role {
    /// Whether this role holds the permission by default.
    ///
    /// MSP admins manage; technicians work every tenant but manage no users; auditors read
    /// everything of their MSP and change nothing; customer owners see their own tenant, its
    /// inventory and audit chain; customer approvers see the actions they are asked to decide. Only the customer's own people approve on the customer's
    /// behalf: not even an MSP admin can.
    #[must_use]
    pub const fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        match self {
            Role::MspAdmin => !matches!(permission, P::ApproveAsCustomer),
            Role::Technician => matches!(
                permission,
                P::ReadTenants
                    | P::ReadMembers
                    | P::ReadTenantAudit
                    | P::ReadIntegrations
                    | P::ReadSandbox
                    | P::RunSandboxScenarios
                    | P::ReadIncidents
                    | P::WorkIncidents
                    | P::ReadActions
                    | P::ProposeActions
                    | P::ApproveAsTechnician
                    | P::HaltAutomation
                    | P::HaltAllAutomation
                    | P::ReadReports
                    | P::ReadPolicies
                    | P::ReadInventory
                    | P::ReadDetections
                    | P::ManageDetections
            ),
            Role::Auditor => matches!(
                permission,
                P::ReadTenants
                    | P::ReadMembers
                    | P::ReadTenantAudit
                    | P::ReadMspAudit
                    | P::ReadUsers
                    | P::ReadIntegrations
                    | P::ReadSandbox
                    | P::ReadIncidents
                    | P::ReadActions
                    | P::ReadReports
                    | P::ReadPolicies
                    | P::ReadInventory
                    | P::ReadDetections
            ),
            Role::CustomerOwner => matches!(
                permission,
                P::ReadTenants
                    | P::ReadMembers
                    | P::ReadTenantAudit
                    | P::ReadInventory
                    | P::ReadIncidents
                    | P::ReadActions
                    | P::ApproveAsCustomer
                    | P::HaltAutomation
                    | P::ReadReports
            ),
            Role::CustomerApprover => matches!(
                permission,
                P::ReadTenants | P::ReadMembers | P::ReadActions | P::ApproveAsCustomer
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_change_anything() {
        for role in Role::ALL {
            let manages = role.allows(Permission::ManageTenants)
                || role.allows(Permission::ManageUsers)
                || role.allows(Permission::ManageIntegrations)
                || role.allows(Permission::ManageAutomation);
            assert_eq!(manages, role == Role::MspAdmin, "{role}");
        }
    }

    #[test]
    fn auditors_read_everything_of_their_msp() {
        for permission in Permission::ALL {
            let is_read = !matches!(
                permission,
                Permission::ManageTenants
                    | Permission::ManageUsers
                    | Permission::ManageIntegrations
                    | Permission::RunSandboxScenarios
                    | Permission::WorkIncidents
                    | Permission::ProposeActions
                    | Permission::ApproveAsTechnician
                    | Permission::ApproveAsCustomer
                    | Permission::ManageAutomation
                    | Permission::HaltAutomation
                    | Permission::HaltAllAutomation
                    | Permission::ManageDetections
            );
            assert_eq!(Role::Auditor.allows(permission), is_read, "{permission:?}");
        }
    }

    #[test]
    fn only_the_customer_approves_for_the_customer() {
        for role in Role::ALL {
            assert_eq!(
                role.allows(Permission::ApproveAsCustomer),
                matches!(role, Role::CustomerOwner | Role::CustomerApprover),
                "{role}"
            );
        }
    }

    #[test]
    fn staff_and_owners_stop_automation_but_only_admins_restart_it() {
        for role in Role::ALL {
            assert_eq!(
                role.allows(Permission::HaltAutomation),
                matches!(
                    role,
                    Role::MspAdmin | Role::Technician | Role::CustomerOwner
                ),
                "{role}"
            );
            assert_eq!(
                role.allows(Permission::HaltAllAutomation),
                matches!(role, Role::MspAdmin | Role::Technician),
                "{role}"
            );
        }
    }

    #[test]
    fn every_role_reads_its_tenants() {
        for role in Role::ALL {
            assert!(role.allows(Permission::ReadTenants), "{role}");
        }
    }
}
