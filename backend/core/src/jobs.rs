//! Background work, and the outbox through which it is enqueued.
//!
//! A job is enqueued by writing it to the `outbox` table in the same transaction as the change
//! that causes it, so a change never commits without its follow-up work, nor work without its
//! change. The workers relay outbox rows to the job queue. Delivery is at least once: every
//! job is safe to run again (it re-reads the state it acts on, and vendor calls carry
//! idempotency keys).

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use steward_domain::{ActionId, IncidentId, IntegrationId, MspId, TenantId};

use crate::storage::{StorageError, WriteContext, entities::outbox, new_id};

/// One unit of background work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Pull an integration's inventory and events.
    Sync {
        tenant_id: TenantId,
        integration_id: IntegrationId,
    },
    /// Turn newly stored events into findings, incidents, risk and proposed actions.
    Triage {
        tenant_id: TenantId,
        event_ids: Vec<uuid::Uuid>,
    },
    /// Move an action forward: execute and verify it, or roll it back, whichever its status
    /// calls for.
    Advance {
        tenant_id: TenantId,
        action_id: ActionId,
    },
    /// Send the approval requests an action waiting for approval calls for (at its current
    /// escalation level), to those not yet sent one.
    RequestApproval {
        tenant_id: TenantId,
        action_id: ActionId,
    },
    /// Show an answered action's outcome in the Slack messages that asked for it.
    UpdateSlack {
        tenant_id: TenantId,
        action_id: ActionId,
    },
    /// Write an incident's status to its tickets in the tenant's PSAs, opening them first.
    SyncTickets {
        tenant_id: TenantId,
        incident_id: IncidentId,
    },
    /// Recompute an entity's risk after one of its inputs changed outside triage: its business
    /// context, the status of an incident about it, or what its tools say of its criticality
    /// or admin roles.
    RefreshRisk {
        tenant_id: TenantId,
        entity: steward_domain::incidents::EntityKey,
    },
    /// Post one outbound webhook delivery (an attempt; failures are rescheduled).
    DeliverWebhook {
        tenant_id: TenantId,
        delivery_id: String,
    },
}

impl Job {
    #[must_use]
    pub fn tenant_id(&self) -> TenantId {
        match self {
            Job::Sync { tenant_id, .. }
            | Job::Triage { tenant_id, .. }
            | Job::Advance { tenant_id, .. }
            | Job::RequestApproval { tenant_id, .. }
            | Job::UpdateSlack { tenant_id, .. }
            | Job::SyncTickets { tenant_id, .. }
            | Job::DeliverWebhook { tenant_id, .. }
            | Job::RefreshRisk { tenant_id, .. } => *tenant_id,
        }
    }

    /// The job's name in logs and metrics.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Job::Sync { .. } => "sync",
            Job::Triage { .. } => "triage",
            Job::Advance { .. } => "advance",
            Job::RequestApproval { .. } => "request_approval",
            Job::UpdateSlack { .. } => "update_slack",
            Job::SyncTickets { .. } => "sync_tickets",
            Job::DeliverWebhook { .. } => "deliver_webhook",
            Job::RefreshRisk { .. } => "refresh_risk",
        }
    }
}

/// Writes a job to the outbox in the context's transaction.
///
/// # Errors
/// When the database cannot be written.
pub async fn enqueue(ctx: &WriteContext<'_>, msp_id: MspId, job: &Job) -> Result<(), StorageError> {
    outbox::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(job.tenant_id().as_uuid()),
        job: Set(serde_json::to_value(job).map_err(|e| StorageError::corrupt("job", &e))?),
        created_at: Set(ctx.clock.now()),
        dispatched_at: Set(None),
    }
    .insert(ctx.txn)
    .await?;
    Ok(())
}

/// A job waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: uuid::Uuid,
    pub job: Job,
}

/// The outbox, read and cleared by the relay.
#[derive(Debug, Clone, Copy)]
pub struct Outbox<'c, C> {
    conn: &'c C,
}

impl<'c, C: ConnectionTrait> Outbox<'c, C> {
    #[must_use]
    pub fn new(conn: &'c C) -> Self {
        Self { conn }
    }

    /// The oldest jobs not yet handed to the queue.
    ///
    /// # Errors
    /// When the database cannot be read or holds a job this version does not know.
    pub async fn pending(&self, limit: u64) -> Result<Vec<Pending>, StorageError> {
        outbox::Entity::find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| {
                Ok(Pending {
                    id: row.id,
                    job: serde_json::from_value(row.job)
                        .map_err(|e| StorageError::corrupt("outbox job", &e))?,
                })
            })
            .collect()
    }

    /// Marks a job as handed to the queue.
    ///
    /// # Errors
    /// When the database cannot be written.
    pub async fn mark_dispatched(
        &self,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::DispatchedAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(outbox::Column::Id.eq(id))
            .exec(self.conn)
            .await?;
        Ok(())
    }

    /// How many jobs wait to be handed to the queue.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn backlog(&self) -> Result<u64, StorageError> {
        use sea_orm::PaginatorTrait;
        Ok(outbox::Entity::find()
            .filter(outbox::Column::DispatchedAt.is_null())
            .count(self.conn)
            .await?)
    }
}
