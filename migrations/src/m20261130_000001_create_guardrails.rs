//! Guardrails on automatic execution: kill switches (per tenant and MSP-wide), maintenance
//! windows, and what the rate limits and the circuit breaker count on actions.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{
    Tenants, add_column, drop_column, drop_index, drop_tables, foreign_key, index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        manager
            .alter_table(add_column(
                Actions::Table,
                boolean(Actions::Automatic).default(false),
            ))
            .await?;
        manager
            .alter_table(add_column(
                Actions::Table,
                timestamp_with_time_zone_null(Actions::FailedAt),
            ))
            .await?;
        // The MSP-wide counts of the last hour; per tenant, (tenant_id, created_at) serves.
        for (name, column) in [
            ("actions_msp_id_created_at_idx", Actions::CreatedAt),
            ("actions_msp_id_failed_at_idx", Actions::FailedAt),
        ] {
            manager
                .create_index(index(name, Actions::Table, [Actions::MspId, column]))
                .await?;
        }

        // A kill switch pulled (tenant_id set) or pulled MSP-wide (tenant_id null); released
        // switches stay as history.
        manager
            .create_table(
                Table::create()
                    .table(AutomationHalts::Table)
                    .col(pk_uuid(AutomationHalts::Id))
                    .col(uuid(AutomationHalts::MspId))
                    .col(uuid_null(AutomationHalts::TenantId))
                    .col(text(AutomationHalts::Reason))
                    .col(uuid(AutomationHalts::EngagedBy))
                    .col(text(AutomationHalts::EngagedByLabel))
                    .col(timestamp_with_time_zone(AutomationHalts::EngagedAt))
                    .col(timestamp_with_time_zone_null(AutomationHalts::ReleasedAt))
                    .col(uuid_null(AutomationHalts::ReleasedBy))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "automation_halts_msp_id_released_at_idx",
                AutomationHalts::Table,
                [AutomationHalts::MspId, AutomationHalts::ReleasedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MaintenanceSchedules::Table)
                    .col(pk_uuid(MaintenanceSchedules::TenantId))
                    .col(uuid(MaintenanceSchedules::MspId))
                    .col(text(MaintenanceSchedules::Timezone))
                    .col(json_binary(MaintenanceSchedules::Windows))
                    .col(timestamp_with_time_zone(MaintenanceSchedules::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        MaintenanceSchedules::Table,
                        MaintenanceSchedules::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                MaintenanceSchedules::Table.into_iden(),
                AutomationHalts::Table.into_iden(),
            ],
        )
        .await?;
        for name in [
            "actions_msp_id_created_at_idx",
            "actions_msp_id_failed_at_idx",
        ] {
            manager.drop_index(drop_index(name, Actions::Table)).await?;
        }
        for column in [Actions::FailedAt, Actions::Automatic] {
            manager
                .alter_table(drop_column(Actions::Table, column))
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    MspId,
    CreatedAt,
    Automatic,
    FailedAt,
}

#[derive(DeriveIden)]
enum AutomationHalts {
    Table,
    Id,
    MspId,
    TenantId,
    Reason,
    EngagedBy,
    EngagedByLabel,
    EngagedAt,
    ReleasedAt,
    ReleasedBy,
}

#[derive(DeriveIden)]
enum MaintenanceSchedules {
    Table,
    TenantId,
    MspId,
    Timezone,
    Windows,
    UpdatedAt,
}
