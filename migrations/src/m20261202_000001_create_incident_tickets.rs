//! The PSA ticket of each incident, per PSA integration: the ticket Steward opened, what the
//! PSA last showed of it, and the incident status last written to it, so status travels both
//! ways without echoing back.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{drop_table, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IncidentTickets::Table)
                    .col(pk_uuid(IncidentTickets::Id))
                    .col(uuid(IncidentTickets::MspId))
                    .col(uuid(IncidentTickets::TenantId))
                    .col(uuid(IncidentTickets::IncidentId))
                    .col(uuid(IncidentTickets::IntegrationId))
                    .col(text(IncidentTickets::TicketId))
                    .col(text(IncidentTickets::TicketStatus))
                    .col(boolean(IncidentTickets::TicketClosed))
                    .col(text(IncidentTickets::SyncedStatus))
                    .col(timestamp_with_time_zone(IncidentTickets::CreatedAt))
                    .col(timestamp_with_time_zone(IncidentTickets::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "incident_tickets_incident_id_integration_id_key",
                IncidentTickets::Table,
                [IncidentTickets::IncidentId, IncidentTickets::IntegrationId],
            ))
            .await?;
        manager
            .create_index(index(
                "incident_tickets_tenant_id_idx",
                IncidentTickets::Table,
                [IncidentTickets::TenantId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(IncidentTickets::Table)).await
    }
}

#[derive(DeriveIden)]
enum IncidentTickets {
    Table,
    Id,
    MspId,
    TenantId,
    IncidentId,
    IntegrationId,
    TicketId,
    TicketStatus,
    TicketClosed,
    SyncedStatus,
    CreatedAt,
    UpdatedAt,
}
