//! The handles through which data is reached, each carrying its scope.

use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction};
use steward_domain::{
    MspId, TenantId,
    access::Permission,
    audit::AuditActor,
    tenancy::{Msp, Role, SsoAutoProvision, Tenant, User},
};

use super::{
    ActionReader, IncidentReader, IntegrationDirectory, InventoryReader, MspRepository,
    MspSettingsError, NewMsp, RiskReader, SandboxEnvironments, StorageError, TenantAdmin,
    TenantDirectory, TokenDirectory, UserAdmin, UserDirectory, entities::user, msps,
    suppressions::SuppressionReader, users,
};
use crate::{
    access::Forbidden,
    audit::{AuditKeys, AuditLog, ChainRef},
    clock::Clock,
    secrets::SecretBox,
};

/// Everything a write needs: the transaction it belongs to, the clock, the audit signing key,
/// and who is acting. Every write method records its change in an audit chain through this, in
/// the same transaction, so the change and its record commit together or not at all.
pub struct WriteContext<'a> {
    pub(crate) txn: &'a DatabaseTransaction,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) keys: &'a AuditKeys,
    pub(crate) actor: AuditActor,
    pub(crate) request_id: Option<String>,
}

impl std::fmt::Debug for WriteContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteContext")
            .field("actor", &self.actor)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl<'a> WriteContext<'a> {
    pub(crate) fn new(
        txn: &'a DatabaseTransaction,
        clock: &'a dyn Clock,
        keys: &'a AuditKeys,
        actor: AuditActor,
        request_id: Option<String>,
    ) -> Self {
        Self {
            txn,
            clock,
            keys,
            actor,
            request_id,
        }
    }

    #[must_use]
    pub fn actor(&self) -> &AuditActor {
        &self.actor
    }

    /// The current time by the context's clock.
    #[must_use]
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub(crate) fn connection(&self) -> &'a DatabaseTransaction {
        self.txn
    }
}

/// Deployment-wide operations: MSPs, any MSP's data, users found by email.
///
/// This is the operator's handle, for start-up, the CLI and authentication. Request handlers
/// never hold one: they get the scoped handles of the authenticated caller
/// ([`crate::access::Caller`]).
#[derive(Debug, Clone, Copy)]
pub struct Deployment<'c, C> {
    conn: &'c C,
}

impl<'c, C: ConnectionTrait> Deployment<'c, C> {
    /// Deployment-wide access over a connection or a transaction.
    pub fn new(conn: &'c C) -> Self {
        Self { conn }
    }

    #[must_use]
    pub fn sandbox_environments(&self) -> SandboxEnvironments<'c, C> {
        SandboxEnvironments::new(self.conn)
    }

    /// Actions in flight (queued, executing, verifying, rolling back) not moved since `before`:
    /// their job was lost or gave up, and the sweeper hands them to a worker again.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn stalled_actions(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(TenantId, steward_domain::ActionId)>, StorageError> {
        super::actions::stalled(self.conn, before).await
    }

    /// Approval requests due to escalate or expire at `now` (under `timing` for requests opened
    /// before requests had deadlines).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn due_approvals(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        timing: steward_domain::actions::ApprovalTiming,
    ) -> Result<Vec<(TenantId, steward_domain::ActionId)>, StorageError> {
        super::actions::due_approvals(self.conn, now, timing).await
    }

    /// Every integration of every active tenant (the sync scheduler's list).
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn integrations(
        &self,
    ) -> Result<Vec<steward_domain::integrations::Integration>, StorageError> {
        super::integrations::all_active(self.conn).await
    }

    #[must_use]
    pub fn msps(&self) -> MspRepository<'c, C> {
        MspRepository::new(self.conn)
    }

    /// Everything of one MSP, read as the operator.
    #[must_use]
    pub fn msp(&self, msp_id: MspId) -> MspScope<'c, C> {
        MspScope {
            conn: self.conn,
            msp_id,
        }
    }

    /// The user with this email in any MSP.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StorageError> {
        let found = users::find_user(
            self.conn,
            user::Column::Email.eq(users::normalize_email(email)),
        )
        .await?;
        Ok(found.map(|(user, _)| user))
    }
}

impl<'a> Deployment<'a, DatabaseTransaction> {
    /// A write context acting as `actor` (an operator or Steward itself).
    #[must_use]
    pub fn write_context(
        &self,
        clock: &'a dyn Clock,
        keys: &'a AuditKeys,
        actor: AuditActor,
    ) -> WriteContext<'a> {
        WriteContext::new(self.conn, clock, keys, actor, None)
    }
}

/// Operator writes: creating MSPs and administering any of them.
impl<'a> WriteContext<'a> {
    /// Creates an MSP.
    ///
    /// # Errors
    /// [`StorageError::Conflict`] when the slug is taken.
    pub async fn create_msp(&self, new: NewMsp) -> Result<Msp, StorageError> {
        msps::create(self, new).await
    }

    /// Administers one MSP as the operator.
    #[must_use]
    pub fn operate_msp(&'a self, msp_id: MspId) -> MspAdmin<'a> {
        MspAdmin::new(self, msp_id)
    }

    /// Confirms, as the deployment's operator, that an email domain is the MSP's, so its admins
    /// may have single sign-on create users from it.
    ///
    /// # Errors
    /// [`MspSettingsError`] for a malformed or public mail domain, or one another MSP holds.
    pub async fn verify_msp_domain(
        &self,
        msp_id: MspId,
        domain: &str,
    ) -> Result<(), MspSettingsError> {
        msps::verify_domain(self, msp_id, domain).await
    }
}

/// Everything of one MSP and nothing of any other: every query filters on the MSP.
#[derive(Debug, Clone, Copy)]
pub struct MspScope<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> MspScope<'c, C> {
    #[must_use]
    pub fn msp_id(&self) -> MspId {
        self.msp_id
    }

    #[must_use]
    pub fn tenants(&self) -> TenantDirectory<'c, C> {
        TenantDirectory::new(self.conn, self.msp_id, None)
    }

    #[must_use]
    pub fn users(&self) -> UserDirectory<'c, C> {
        UserDirectory::new(self.conn, self.msp_id)
    }

    #[must_use]
    pub fn tokens(&self) -> TokenDirectory<'c, C> {
        TokenDirectory::new(self.conn, self.msp_id)
    }

    #[must_use]
    pub fn audit(&self) -> AuditLog<'c, C> {
        AuditLog::new(self.conn, ChainRef::Msp(self.msp_id))
    }

    /// One of the MSP's tenants' actions, read as the operator.
    #[must_use]
    pub fn tenant_actions(&self, tenant_id: TenantId) -> ActionReader<'c, C> {
        ActionReader::new(self.conn, self.msp_id, tenant_id)
    }
}

/// One tenant the holder may see, with what its role allows there.
#[derive(Debug, Clone)]
pub struct TenantScope<'c, C> {
    conn: &'c C,
    tenant: Tenant,
    role: Role,
}

impl<'c, C: ConnectionTrait> TenantScope<'c, C> {
    pub(crate) fn new(conn: &'c C, tenant: Tenant, role: Role) -> Self {
        Self { conn, tenant, role }
    }

    #[must_use]
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// The connection the scope reads through, for the stages that read a tenant's records
    /// after checking [`Self::require`].
    pub(crate) fn conn(&self) -> &'c C {
        self.conn
    }

    /// Whether the caller holds `permission` in this tenant.
    pub(crate) fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        if self.role.allows(permission) {
            Ok(())
        } else {
            Err(Forbidden(permission))
        }
    }

    /// Everyone with access to the tenant.
    ///
    /// # Errors
    /// [`TenantScopeError::Forbidden`] without the permission to list members.
    pub async fn members(&self) -> Result<Vec<User>, TenantScopeError> {
        self.require(Permission::ReadMembers)?;
        Ok(UserDirectory::new(self.conn, self.tenant.msp_id)
            .members_of(self.tenant.id)
            .await?)
    }

    /// The tenant's integrations.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read them.
    pub fn integrations(&self) -> Result<IntegrationDirectory<'c, C>, Forbidden> {
        self.require(Permission::ReadIntegrations)?;
        Ok(IntegrationDirectory::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// Records that a sandbox scenario was staged for the tenant, in its chain, and queues a
    /// synchronization of each of its integrations.
    ///
    /// # Errors
    /// [`TenantScopeError::Forbidden`] without the permission to run scenarios.
    pub async fn record_sandbox_run(
        &self,
        ctx: &WriteContext<'_>,
        scenario: &str,
        run: &impl serde::Serialize,
    ) -> Result<(), TenantScopeError> {
        self.require(Permission::RunSandboxScenarios)?;
        let chain = ChainRef::Tenant {
            msp_id: self.tenant.msp_id,
            tenant_id: self.tenant.id,
        };
        crate::audit::append(
            ctx,
            chain,
            crate::audit::Change::new("sandbox.scenario_run", "sandbox_scenario", &scenario)
                .after(run),
        )
        .await?;
        // Synchronize at once rather than at the next scheduled run, so the loop picks the
        // scenario up while someone watches.
        let integrations = IntegrationDirectory::new(ctx.txn, self.tenant.msp_id, self.tenant.id)
            .list()
            .await?;
        for integration in integrations {
            crate::jobs::enqueue(
                ctx,
                self.tenant.msp_id,
                &crate::jobs::Job::Sync {
                    tenant_id: self.tenant.id,
                    integration_id: integration.id,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The tenant's incidents and findings.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read them.
    pub fn incidents(&self) -> Result<IncidentReader<'c, C>, Forbidden> {
        self.require(Permission::ReadIncidents)?;
        Ok(IncidentReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's incident tickets in its PSAs.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read incidents.
    pub fn incident_tickets(&self) -> Result<super::TicketReader<'c, C>, Forbidden> {
        self.require(Permission::ReadIncidents)?;
        Ok(super::TicketReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's entity risk scores.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read incidents and risk.
    pub fn risk(&self) -> Result<RiskReader<'c, C>, Forbidden> {
        self.require(Permission::ReadIncidents)?;
        Ok(RiskReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's actions with their decisions and approvals.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read them.
    pub fn actions(&self) -> Result<ActionReader<'c, C>, Forbidden> {
        self.require(Permission::ReadActions)?;
        Ok(ActionReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's guardrails: kill switches, maintenance windows, recent automation.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadActions`].
    pub fn guardrails(&self) -> Result<super::GuardrailReader<'c, C>, Forbidden> {
        self.require(Permission::ReadActions)?;
        Ok(super::GuardrailReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's own authority policy, if an MSP admin set one.
    ///
    /// # Errors
    /// [`TenantScopeError::Forbidden`] without the permission to read policies.
    pub async fn policy(
        &self,
    ) -> Result<Option<steward_domain::actions::TenantPolicy>, TenantScopeError> {
        self.require(Permission::ReadPolicies)?;
        Ok(super::policies::find(self.conn, self.tenant.msp_id, self.tenant.id).await?)
    }

    /// What the tenant's coverage and context graph are made of: its integrations as tools,
    /// devices, identities, and the sign-ins of the last [`graph::SIGHTING_WINDOW`] with
    /// their device.
    ///
    /// # Errors
    /// [`TenantScopeError::Forbidden`] without the permission to read integrations.
    ///
    /// [`graph::SIGHTING_WINDOW`]: steward_domain::graph::SIGHTING_WINDOW
    pub async fn context(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<TenantContext, TenantScopeError> {
        let integrations = self.integrations()?.list().await?;
        let failing = steward_domain::coverage::failing_sources(&integrations);
        let telemetry_gaps = steward_domain::coverage::telemetry_gaps(&integrations);
        let tools = integrations
            .into_iter()
            .map(|i| steward_domain::graph::Tool {
                id: i.id,
                vendor: i.vendor,
                name: i.name,
            })
            .collect();
        let inventory = self.inventory()?;
        Ok(TenantContext {
            failing,
            telemetry_gaps,
            tools,
            devices: inventory.devices().await?,
            identities: inventory.identities().await?,
            sightings: inventory
                .sign_in_sightings(now - steward_domain::graph::SIGHTING_WINDOW)
                .await?,
        })
    }

    /// Reads the identities' learned sign-in baselines.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadInventory`] (a customer's approver).
    pub fn baselines(&self) -> Result<super::BaselineReader<'c, C>, Forbidden> {
        self.require(Permission::ReadInventory)?;
        Ok(super::BaselineReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's devices, identities and events.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadInventory`] (a customer's approver).
    pub fn inventory(&self) -> Result<InventoryReader<'c, C>, Forbidden> {
        self.require(Permission::ReadInventory)?;
        Ok(InventoryReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The tenant's suppressions of detection rules.
    ///
    /// # Errors
    /// [`Forbidden`] without [`Permission::ReadDetections`].
    pub fn suppressions(&self) -> Result<SuppressionReader<'c, C>, Forbidden> {
        self.require(Permission::ReadDetections)?;
        Ok(SuppressionReader::new(
            self.conn,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// Whether the holder's role allows `permission` in this tenant.
    #[must_use]
    pub fn allows(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    /// The tenant's audit chain.
    ///
    /// # Errors
    /// [`Forbidden`] without the permission to read it.
    pub fn audit(&self) -> Result<AuditLog<'c, C>, Forbidden> {
        self.require(Permission::ReadTenantAudit)?;
        Ok(AuditLog::new(
            self.conn,
            ChainRef::Tenant {
                msp_id: self.tenant.msp_id,
                tenant_id: self.tenant.id,
            },
        ))
    }
}

/// A tenant's tools, inventory and recent sign-ins, for its coverage and context graph.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub tools: Vec<steward_domain::graph::Tool>,
    pub devices: Vec<steward_domain::inventory::Device>,
    pub identities: Vec<steward_domain::inventory::Identity>,
    pub sightings: Vec<steward_domain::graph::SignInSighting>,
    /// Its integrations that are failing.
    pub failing: Vec<steward_domain::coverage::FailingSource>,
    /// What its working integrations' vendors withhold.
    pub telemetry_gaps: Vec<steward_domain::coverage::TelemetryGap>,
}

impl TenantContext {
    /// The tenant's coverage at `now`.
    #[must_use]
    pub fn coverage(
        &self,
        tenant_id: TenantId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> steward_domain::coverage::Coverage {
        let vendors: Vec<_> = self.tools.iter().map(|t| (t.id, t.vendor)).collect();
        steward_domain::coverage::coverage(
            tenant_id,
            &vendors,
            &self.devices,
            &self.identities,
            &self.sightings,
            (self.failing.clone(), self.telemetry_gaps.clone()),
            now,
        )
    }

    /// The tenant's whole context graph.
    #[must_use]
    pub fn graph(&self, tenant_id: TenantId) -> steward_domain::graph::ContextGraph {
        steward_domain::graph::ContextGraph::build(
            tenant_id,
            &self.tools,
            &self.devices,
            &self.identities,
            &self.sightings,
        )
    }
}

/// Why a tenant-scoped read failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantScopeError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// An MSP admin's writes: tenants and users of one MSP.
#[derive(Debug)]
pub struct MspAdmin<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
}

impl<'a> MspAdmin<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId) -> Self {
        Self { ctx, msp_id }
    }

    #[must_use]
    pub fn tenants(&self) -> TenantAdmin<'a> {
        TenantAdmin::new(self.ctx, self.msp_id)
    }

    #[must_use]
    pub fn users(&self) -> UserAdmin<'a> {
        UserAdmin::new(self.ctx, self.msp_id)
    }

    /// The MSP's outbound webhook subscriptions.
    #[must_use]
    pub fn webhooks(&self, secrets: &'a SecretBox) -> super::outbound_webhooks::WebhookAdmin<'a> {
        super::outbound_webhooks::WebhookAdmin::new(self.ctx, self.msp_id, secrets)
    }

    /// Connects the MSP to Slack for approvals (or replaces the connection).
    ///
    /// # Errors
    /// [`super::slack::SlackSettingsError`] for an invalid channel, empty secrets, or a Slack
    /// user linked to no active user of the MSP.
    pub async fn connect_slack(
        &self,
        secrets: &SecretBox,
        new: super::slack::NewSlackConnection,
    ) -> Result<steward_domain::integrations::SlackConnection, super::slack::SlackSettingsError>
    {
        super::slack::set(self.ctx, secrets, self.msp_id, new).await
    }

    /// Disconnects the MSP from Slack; returns whether it was connected.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn disconnect_slack(&self) -> Result<bool, StorageError> {
        super::slack::remove(self.ctx, self.msp_id).await
    }

    /// Sets (or, with `None`, turns off) creating users on their first single sign-on. The
    /// domain must be this MSP's: proven by the operator (`steward msp verify-domain`), or now
    /// by the acting admin, whose own address is in it and vouched for by the deployment's
    /// identity provider.
    ///
    /// # Errors
    /// [`MspSettingsError`] for a role other than technician or auditor, a malformed or public
    /// mail domain, another MSP's domain, or one not proven to be this MSP's.
    pub async fn set_sso_auto_provision(
        &self,
        setting: Option<SsoAutoProvision>,
    ) -> Result<Msp, MspSettingsError> {
        msps::set_sso_auto_provision(self.ctx, self.msp_id, setting).await
    }

    /// Sets whose password accounts must use a second factor.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn set_second_factor_policy(
        &self,
        policy: steward_domain::tenancy::SecondFactorPolicy,
    ) -> Result<Msp, StorageError> {
        msps::set_second_factor_policy(self.ctx, self.msp_id, policy).await
    }
}
