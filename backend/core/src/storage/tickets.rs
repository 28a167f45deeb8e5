//! Each incident's tickets in the tenant's PSAs, and the incident changes they carry back.
//!
//! Steward writes an incident's status to its tickets (a job per change, queued through the
//! outbox with the change) and reads the tickets back on every synchronization of the PSA
//! integration. `synced_status` is the incident status both sides last agreed on: a change on
//! either side is one that differs from it, which keeps a change from echoing back.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use steward_domain::{
    IncidentId, IntegrationId, MspId, TenantId,
    coverage::ToolCategory,
    incidents::{IncidentStatus, IncidentTicket},
    observations::Vendor,
};

use super::{
    StorageError, WriteContext,
    entities::{incident_ticket, integration},
    new_id,
    scoping::InTenant,
};
use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
};

/// Reads one tenant's incident tickets.
#[derive(Debug, Clone, Copy)]
pub struct TicketReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> TicketReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    fn scoped(&self) -> sea_orm::Select<incident_ticket::Entity> {
        incident_ticket::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .order_by_asc(incident_ticket::Column::Id)
    }

    /// The tickets of one incident, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn of_incident(
        &self,
        incident_id: IncidentId,
    ) -> Result<Vec<IncidentTicket>, StorageError> {
        self.scoped()
            .filter(incident_ticket::Column::IncidentId.eq(incident_id.as_uuid()))
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_ticket)
            .collect()
    }

    /// The tickets one PSA integration holds, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn of_integration(
        &self,
        integration_id: IntegrationId,
    ) -> Result<Vec<IncidentTicket>, StorageError> {
        self.scoped()
            .filter(incident_ticket::Column::IntegrationId.eq(integration_id.as_uuid()))
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_ticket)
            .collect()
    }

    /// The tenant's PSA integrations.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn psa_integrations(&self) -> Result<Vec<IntegrationId>, StorageError> {
        let psa: Vec<&str> = Vendor::ALL
            .into_iter()
            .filter(|v| v.category() == ToolCategory::Psa)
            .map(Vendor::as_str)
            .collect();
        Ok(integration::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(integration::Column::Vendor.is_in(psa))
            .order_by_asc(integration::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(|row| IntegrationId::from_uuid(row.id))
            .collect())
    }
}

fn to_ticket(row: incident_ticket::Model) -> Result<IncidentTicket, StorageError> {
    Ok(IncidentTicket {
        incident_id: IncidentId::from_uuid(row.incident_id),
        integration_id: IntegrationId::from_uuid(row.integration_id),
        ticket_id: row.ticket_id,
        ticket_status: row.ticket_status,
        ticket_closed: row.ticket_closed,
        synced_status: IncidentStatus::parse(&row.synced_status)
            .ok_or_else(|| StorageError::corrupt("ticket synced status", &row.synced_status))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Queues the job that writes an incident's change to its tickets, when the tenant has a PSA.
pub(crate) async fn queue_sync(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    incident_id: IncidentId,
) -> Result<(), StorageError> {
    let psa = TicketReader::new(ctx.txn, msp_id, tenant_id)
        .psa_integrations()
        .await?;
    if psa.is_empty() {
        return Ok(());
    }
    jobs::enqueue(
        ctx,
        msp_id,
        &Job::SyncTickets {
            tenant_id,
            incident_id,
        },
    )
    .await
}

/// What the PSA showed of a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSeen {
    pub ticket_id: String,
    pub status: String,
    pub closed: bool,
}

/// Records an incident's ticket as the PSA showed it, with the incident status both sides now
/// agree on; audited when the ticket is new or its state changed.
pub(crate) async fn record(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    incident_id: IncidentId,
    integration_id: IntegrationId,
    seen: &TicketSeen,
    synced: IncidentStatus,
) -> Result<IncidentTicket, StorageError> {
    let existing = incident_ticket::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(incident_ticket::Column::IncidentId.eq(incident_id.as_uuid()))
        .filter(incident_ticket::Column::IntegrationId.eq(integration_id.as_uuid()))
        .one(ctx.txn)
        .await?;
    let now = ctx.clock.now();
    let (before, row) = match existing {
        Some(row) => {
            let before = to_ticket(row.clone())?;
            let mut active = row.into_active_model();
            active.ticket_id = Set(seen.ticket_id.clone());
            active.ticket_status = Set(seen.status.clone());
            active.ticket_closed = Set(seen.closed);
            active.synced_status = Set(synced.as_str().to_owned());
            if before.ticket_id == seen.ticket_id
                && before.ticket_status == seen.status
                && before.ticket_closed == seen.closed
                && before.synced_status == synced
            {
                return Ok(before);
            }
            active.updated_at = Set(now);
            (Some(before), active.update(ctx.txn).await?)
        }
        None => (
            None,
            incident_ticket::ActiveModel {
                id: Set(new_id(ctx.clock)),
                msp_id: Set(msp_id.as_uuid()),
                tenant_id: Set(tenant_id.as_uuid()),
                incident_id: Set(incident_id.as_uuid()),
                integration_id: Set(integration_id.as_uuid()),
                ticket_id: Set(seen.ticket_id.clone()),
                ticket_status: Set(seen.status.clone()),
                ticket_closed: Set(seen.closed),
                synced_status: Set(synced.as_str().to_owned()),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(ctx.txn)
            .await?,
        ),
    };
    let after = to_ticket(row)?;
    let change = match &before {
        None => Change::new("incident.ticket_opened", "incident", &incident_id).after(&after),
        Some(before) => Change::new("incident.ticket_synced", "incident", &incident_id)
            .before(before)
            .after(&after),
    };
    audit::append(ctx, ChainRef::Tenant { msp_id, tenant_id }, change).await?;
    Ok(after)
}
