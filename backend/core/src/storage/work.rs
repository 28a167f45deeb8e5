//! Writes inside one tenant's response work: incidents, actions, approvals; and, for Steward's
//! own workers, findings, risk and action transitions.
//!
//! A [`TenantWork`] is bound to one tenant of one MSP and to who is acting: a user (whose role
//! is checked for each write) or Steward itself. Every write filters on that tenant, so an id
//! from another tenant finds nothing.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use steward_domain::{
    ActionId, IncidentId, TenantId, UserId,
    access::Permission,
    actions::{Action, ApprovalTiming},
    detections::{HiddenFinding, Suppression, SuppressionRequest},
    guardrails::{AutomationHalt, MaintenanceSchedule},
    incidents::{EntityKey, IncidentStatus, IncidentTicket},
    risk::RiskScore,
    tenancy::{Role, Tenant},
};

use super::{
    ActionReader, BaselineReader, IncidentReader, InventoryReader, RiskReader, StorageError,
    WriteContext,
    actions::{self, ActionRequestError, Proposal},
    approval_links::{self, ApprovalRequest},
    entities::tenant,
    guardrails::{self, GuardrailError, GuardrailReader},
    incidents::IncidentUpdateError,
    locks::{self, Lock},
    slack,
    tickets::{self, TicketReader, TicketSeen},
};
use steward_domain::authority::{AuthorityInput, Decided};

use crate::access::Forbidden;

/// Who writes.
#[derive(Debug, Clone, Copy)]
enum Writer {
    User {
        user_id: UserId,
        role: Role,
    },
    /// Steward's own workers.
    Steward,
}

/// Writes in one tenant, as a user or as Steward.
#[derive(Debug)]
pub struct TenantWork<'a> {
    ctx: &'a WriteContext<'a>,
    tenant: Tenant,
    writer: Writer,
}

/// Why a write in a tenant's response work was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Incident(#[from] IncidentUpdateError),
    #[error(transparent)]
    Action(#[from] ActionRequestError),
    #[error(transparent)]
    Guardrail(#[from] GuardrailError),
    #[error(transparent)]
    Suppression(#[from] steward_domain::detections::SuppressionError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl<'a> TenantWork<'a> {
    pub(crate) fn for_user(
        ctx: &'a WriteContext<'a>,
        tenant: Tenant,
        user_id: UserId,
        role: Role,
    ) -> Self {
        Self {
            ctx,
            tenant,
            writer: Writer::User { user_id, role },
        }
    }

    /// Steward's own writes in a tenant (the workers), found by id alone: a job names its tenant.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn as_steward(
        ctx: &'a WriteContext<'a>,
        tenant_id: TenantId,
    ) -> Result<Option<Self>, StorageError> {
        let Some(row) = tenant::Entity::find()
            .filter(tenant::Column::Id.eq(tenant_id.as_uuid()))
            .one(ctx.txn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Self {
            ctx,
            tenant: Tenant::try_from(row)?,
            writer: Writer::Steward,
        }))
    }

    #[must_use]
    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    #[must_use]
    pub fn context(&self) -> &'a WriteContext<'a> {
        self.ctx
    }

    /// The tenant's integrations: creating, changing and removing them, opening their
    /// credentials and recording what talking to their vendors found.
    ///
    /// # Errors
    /// [`Forbidden`] for a user without [`Permission::ManageIntegrations`].
    pub fn integrations(
        &self,
        secrets: &'a crate::secrets::SecretBox,
    ) -> Result<super::IntegrationAdmin<'a>, Forbidden> {
        self.require(Permission::ManageIntegrations)?;
        Ok(super::IntegrationAdmin::new(
            self.ctx,
            self.tenant.msp_id,
            self.tenant.id,
            secrets,
        ))
    }

    /// The tenant's own settings: name, automation level, authority policy, offboarding.
    ///
    /// # Errors
    /// [`Forbidden`] for a user who is not an MSP admin (managing tenants and users).
    pub fn settings(&self) -> Result<super::tenants::TenantSettings<'a>, Forbidden> {
        self.require(Permission::ManageTenants)?;
        self.require(Permission::ManageUsers)?;
        Ok(super::tenants::TenantSettings::new(
            self.ctx,
            self.tenant.msp_id,
            self.tenant.id,
        ))
    }

    /// The acting user, unless Steward itself acts.
    #[must_use]
    pub fn user_id(&self) -> Option<UserId> {
        match self.writer {
            Writer::User { user_id, .. } => Some(user_id),
            Writer::Steward => None,
        }
    }

    /// Whether the writer may do this (Steward may do anything).
    ///
    /// # Errors
    /// [`Forbidden`] when the acting user's role does not allow it.
    pub fn require(&self, permission: Permission) -> Result<(), Forbidden> {
        match self.writer {
            Writer::User { role, .. } if !role.allows(permission) => Err(Forbidden(permission)),
            _ => Ok(()),
        }
    }

    /// Turns a detection rule on or off in this tenant, or back to the MSP's choice (`None`).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageDetections`].
    pub async fn set_rule_state(
        &self,
        rule_id: &str,
        enabled: Option<bool>,
    ) -> Result<(), WorkError> {
        self.require(Permission::ManageDetections)?;
        Ok(super::detection_rules::set_state(
            self.ctx,
            self.tenant.msp_id,
            Some(self.tenant.id),
            rule_id,
            enabled,
        )
        .await?)
    }

    /// Stores a suppression of detection rule `rule_id` in this tenant, with the true
    /// positives its replay showed it would have hidden and the writer accepted (kept in the
    /// audit entry). Vet it first with `detection::tuning::vet`.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageDetections`];
    /// [`WorkError::Suppression`] for a malformed one.
    pub async fn suppress_rule(
        &self,
        rule_id: &str,
        request: &SuppressionRequest,
        accepted_hidden: &[HiddenFinding],
    ) -> Result<Suppression, WorkError> {
        self.require(Permission::ManageDetections)?;
        request.check(self.ctx.clock.now())?;
        let tenant = (self.tenant.msp_id, self.tenant.id);
        Ok(
            super::suppressions::create(self.ctx, tenant, rule_id, request, accepted_hidden)
                .await?,
        )
    }

    /// Removes one of this tenant's suppressions; `None` when it has no such suppression.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageDetections`].
    pub async fn remove_suppression(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<Suppression>, WorkError> {
        self.require(Permission::ManageDetections)?;
        let tenant = (self.tenant.msp_id, self.tenant.id);
        Ok(super::suppressions::remove(self.ctx, tenant, id).await?)
    }

    /// The person writing, with their role; `None` for Steward's own writes.
    pub(crate) fn user(&self) -> Option<(UserId, Role)> {
        match self.writer {
            Writer::User { user_id, role } => Some((user_id, role)),
            Writer::Steward => None,
        }
    }

    /// Refuses anyone but Steward's own workers.
    pub(crate) fn require_steward(&self) -> Result<(), Forbidden> {
        match self.writer {
            Writer::Steward => Ok(()),
            // Users never write findings, risk or execution states; the closest permission
            // names what they lack.
            Writer::User { .. } => Err(Forbidden(Permission::ManageAutomation)),
        }
    }

    /// Reads within the same transaction.
    #[must_use]
    pub fn inventory(&self) -> InventoryReader<'a, sea_orm::DatabaseTransaction> {
        InventoryReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    #[must_use]
    pub fn incidents(&self) -> IncidentReader<'a, sea_orm::DatabaseTransaction> {
        IncidentReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    #[must_use]
    pub fn actions(&self) -> ActionReader<'a, sea_orm::DatabaseTransaction> {
        ActionReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    #[must_use]
    pub fn risk(&self) -> RiskReader<'a, sea_orm::DatabaseTransaction> {
        RiskReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    #[must_use]
    pub fn baselines(&self) -> BaselineReader<'a, sea_orm::DatabaseTransaction> {
        BaselineReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    #[must_use]
    pub fn guardrails(&self) -> GuardrailReader<'a, sea_orm::DatabaseTransaction> {
        GuardrailReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    fn acting_user(&self, permission: Permission) -> Result<UserId, Forbidden> {
        match self.writer {
            Writer::User { user_id, role } if role.allows(permission) => Ok(user_id),
            _ => Err(Forbidden(permission)),
        }
    }

    /// Pulls the tenant's kill switch: nothing runs automatically in the tenant until an MSP
    /// admin releases it. Pulling it again changes nothing.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::HaltAutomation`];
    /// [`WorkError::Guardrail`] for a reason that is too long.
    pub async fn halt_automation(&self, reason: &str) -> Result<AutomationHalt, WorkError> {
        let user_id = self.acting_user(Permission::HaltAutomation)?;
        Ok(guardrails::engage(
            self.ctx,
            self.tenant.msp_id,
            Some(self.tenant.id),
            user_id,
            reason,
        )
        .await?)
    }

    /// Releases the tenant's kill switch.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageAutomation`];
    /// [`WorkError::Guardrail`] when it is not pulled.
    pub async fn release_automation(&self) -> Result<AutomationHalt, WorkError> {
        let user_id = self.acting_user(Permission::ManageAutomation)?;
        Ok(
            guardrails::release(self.ctx, self.tenant.msp_id, Some(self.tenant.id), user_id)
                .await?,
        )
    }

    /// Replaces the tenant's maintenance windows, or removes them with `None`.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ManageAutomation`];
    /// [`WorkError::Guardrail`] for an invalid schedule.
    pub async fn set_maintenance(
        &self,
        schedule: Option<&MaintenanceSchedule>,
    ) -> Result<bool, WorkError> {
        self.acting_user(Permission::ManageAutomation)?;
        Ok(
            guardrails::set_maintenance(self.ctx, self.tenant.msp_id, self.tenant.id, schedule)
                .await?,
        )
    }

    /// The tenant's own authority policy, if it has one.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn policy_override(
        &self,
    ) -> Result<Option<steward_domain::actions::TenantPolicy>, StorageError> {
        super::policies::find(self.ctx.txn, self.tenant.msp_id, self.tenant.id).await
    }

    /// The tenant's incident tickets in its PSAs.
    #[must_use]
    pub fn tickets(&self) -> TicketReader<'a, sea_orm::DatabaseTransaction> {
        TicketReader::new(self.ctx.txn, self.tenant.msp_id, self.tenant.id)
    }

    /// Records an incident's ticket as the PSA showed it and the incident status both now
    /// agree on. Steward only.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for users.
    pub async fn record_ticket(
        &self,
        incident_id: IncidentId,
        integration_id: steward_domain::IntegrationId,
        seen: &TicketSeen,
        synced: IncidentStatus,
    ) -> Result<IncidentTicket, WorkError> {
        self.require_steward()?;
        Ok(tickets::record(
            self.ctx,
            self.tenant.msp_id,
            self.tenant.id,
            incident_id,
            integration_id,
            seen,
            synced,
        )
        .await?)
    }

    /// Sets what the MSP says about a device or identity: criticality, owner, business
    /// process; its risk is recomputed.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::WorkIncidents`]; a context error for an
    /// unknown entity or over-long text.
    pub async fn set_context(
        &self,
        entity: EntityKey,
        context: &steward_domain::inventory::BusinessContext,
    ) -> Result<
        Result<steward_domain::inventory::BusinessContext, super::contexts::ContextError>,
        WorkError,
    > {
        self.require(Permission::WorkIncidents)?;
        Ok(super::contexts::set(
            self.ctx,
            self.tenant.msp_id,
            self.tenant.id,
            entity,
            context,
        )
        .await)
    }

    /// Makes this transaction the only one deciding actions for the tenant's MSP until it ends:
    /// the guardrails count the last hour's automatic actions before a new one is recorded, and
    /// two transactions counting at once would both stay under the limit. Call it first in the
    /// transaction, before anything is appended to an audit chain (whose lock a concurrent
    /// decision may hold). (On SQLite every write transaction is already exclusive.)
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn serialize_decisions(&self) -> Result<(), StorageError> {
        locks::take(self.ctx.txn, Lock::Decisions(self.tenant.msp_id)).await
    }

    /// Records a proposed action with the authority policy's decision.
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] without [`Permission::ProposeActions`].
    pub async fn propose(
        &self,
        proposal: &Proposal,
        input: &AuthorityInput,
        decided: &Decided,
        timing: ApprovalTiming,
    ) -> Result<(Action, bool), WorkError> {
        self.require(Permission::ProposeActions)?;
        Ok(actions::propose(
            self.ctx,
            self.tenant.msp_id,
            self.tenant.id,
            proposal,
            input,
            decided,
            timing,
        )
        .await?)
    }

    /// Creates the approval links to send for an action awaiting approval — one per approver
    /// of its escalation level not yet sent one — and returns the messages to send (Steward
    /// only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn prepare_approval_requests(
        &self,
        action: &Action,
        channel: &str,
        link_ttl: chrono::Duration,
    ) -> Result<Vec<ApprovalRequest>, WorkError> {
        self.require_steward()?;
        Ok(approval_links::prepare(self.ctx, &self.tenant, action, channel, link_ttl).await?)
    }

    /// Records that an approval request went out, or why it did not (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn record_delivery(
        &self,
        dedup_key: &str,
        error: Option<&str>,
    ) -> Result<(), WorkError> {
        self.require_steward()?;
        Ok(approval_links::record_delivery(
            self.ctx.txn,
            self.tenant.msp_id,
            self.tenant.id,
            dedup_key,
            self.ctx.clock.now(),
            error,
        )
        .await?)
    }

    /// Claims the posting of an action's approval request to a Slack channel: `false` when it
    /// was already posted for this version (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn claim_slack_post(
        &self,
        action: &Action,
        channel: &str,
    ) -> Result<bool, WorkError> {
        self.require_steward()?;
        Ok(slack::claim_post(self.ctx, self.tenant.msp_id, action, channel).await?)
    }

    /// Records where a posted Slack message is (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn record_slack_post(
        &self,
        action: &Action,
        channel: &str,
        ts: &str,
    ) -> Result<(), WorkError> {
        self.require_steward()?;
        Ok(slack::record_post(
            self.ctx.txn,
            self.tenant.msp_id,
            action,
            channel,
            ts,
            self.ctx.clock.now(),
        )
        .await?)
    }

    /// The Slack messages (`(channel, ts)`) posted for an action (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn slack_posts(
        &self,
        action_id: ActionId,
    ) -> Result<Vec<(String, String)>, WorkError> {
        self.require_steward()?;
        Ok(slack::posts(self.ctx.txn, self.tenant.msp_id, self.tenant.id, action_id).await?)
    }

    /// The open windows of the tenant's correlation rules, as last kept.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn correlation_windows(&self) -> Result<Option<serde_json::Value>, StorageError> {
        super::correlation_windows::load(self.ctx.txn, self.tenant.msp_id, self.tenant.id).await
    }

    /// Keeps the open windows of the tenant's correlation rules (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn record_correlation_windows(
        &self,
        snapshot: serde_json::Value,
    ) -> Result<(), WorkError> {
        self.require_steward()?;
        Ok(
            super::correlation_windows::save(
                self.ctx,
                self.tenant.msp_id,
                self.tenant.id,
                snapshot,
            )
            .await?,
        )
    }

    /// Stores what an identity's sign-ins taught its baseline (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn record_baseline(
        &self,
        identity_id: uuid::Uuid,
        learned: &steward_domain::baselines::SignInBaseline,
    ) -> Result<(), WorkError> {
        self.require_steward()?;
        Ok(super::baselines::save(
            self.ctx,
            (self.tenant.msp_id, self.tenant.id),
            identity_id,
            learned,
        )
        .await?)
    }

    /// Stores an entity's new risk score if it changed (Steward only).
    ///
    /// # Errors
    /// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
    pub async fn record_risk(&self, score: &RiskScore) -> Result<bool, WorkError> {
        self.require_steward()?;
        Ok(super::risk_scores::record(self.ctx, self.tenant.msp_id, score).await?)
    }
}
