//! The open windows of each tenant's Sigma correlation rules (counts and sightings within
//! each rule's timespan, per group), kept between triage runs and across restarts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Tenants, drop_table, foreign_key, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CorrelationWindows::Table)
                    .col(uuid(CorrelationWindows::Id).primary_key())
                    .col(uuid(CorrelationWindows::MspId))
                    .col(uuid(CorrelationWindows::TenantId))
                    .col(json_binary(CorrelationWindows::Snapshot))
                    .col(timestamp_with_time_zone(CorrelationWindows::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        CorrelationWindows::Table,
                        CorrelationWindows::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "correlation_windows_tenant_idx",
                CorrelationWindows::Table,
                [CorrelationWindows::TenantId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(drop_table(CorrelationWindows::Table))
            .await
    }
}

#[derive(DeriveIden)]
enum CorrelationWindows {
    Table,
    Id,
    MspId,
    TenantId,
    Snapshot,
    UpdatedAt,
}
