//! Guardrails on automatic execution: kill switches (per tenant and MSP-wide), maintenance
//! windows, and what the rate limits and the circuit breaker count on actions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Actions::Table)
                    .add_column(boolean(Actions::Automatic).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Actions::Table)
                    .add_column(timestamp_with_time_zone_null(Actions::FailedAt))
                    .to_owned(),
            )
            .await?;
        // The MSP-wide counts of the last hour; per tenant, (tenant_id, created_at) serves.
        for (name, column) in [
            ("actions_msp_id_created_at_idx", Actions::CreatedAt),
            ("actions_msp_id_failed_at_idx", Actions::FailedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Actions::Table)
                        .col(Actions::MspId)
                        .col(column)
                        .to_owned(),
                )
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
            .create_index(
                Index::create()
                    .name("automation_halts_msp_id_released_at_idx")
                    .table(AutomationHalts::Table)
                    .col(AutomationHalts::MspId)
                    .col(AutomationHalts::ReleasedAt)
                    .to_owned(),
            )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(MaintenanceSchedules::Table, MaintenanceSchedules::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MaintenanceSchedules::Table.into_iden(),
            AutomationHalts::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        for name in [
            "actions_msp_id_created_at_idx",
            "actions_msp_id_failed_at_idx",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Actions::Table).to_owned())
                .await?;
        }
        for column in [Actions::FailedAt, Actions::Automatic] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Actions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
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

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}
