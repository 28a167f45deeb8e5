//! Integrations (a tenant's connection to one vendor) and the sandbox's simulated customers.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Tenants, drop_table, foreign_key, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One row per connection of a tenant to a vendor. The credential is sealed with the
        // deployment's secrets key and bound to the row's id; settings hold nothing secret.
        manager
            .create_table(
                Table::create()
                    .table(Integrations::Table)
                    .col(pk_uuid(Integrations::Id))
                    .col(uuid(Integrations::MspId))
                    .col(uuid(Integrations::TenantId))
                    .col(text(Integrations::Vendor))
                    .col(text(Integrations::Name))
                    .col(json_binary(Integrations::Settings))
                    .col(text(Integrations::SealedSecret))
                    .col(text(Integrations::Health))
                    .col(text_null(Integrations::LastError))
                    .col(timestamp_with_time_zone_null(Integrations::LastCheckedAt))
                    .col(timestamp_with_time_zone_null(Integrations::LastSuccessAt))
                    .col(timestamp_with_time_zone(Integrations::CreatedAt))
                    .col(timestamp_with_time_zone(Integrations::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        Integrations::Table,
                        Integrations::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "integrations_tenant_id_name_key",
                Integrations::Table,
                [Integrations::TenantId, Integrations::Name],
            ))
            .await?;

        // The vendor-side state of each tenant's simulated customer (demos and tests).
        manager
            .create_table(
                Table::create()
                    .table(SandboxEnvironments::Table)
                    .col(pk_uuid(SandboxEnvironments::TenantId))
                    .col(json_binary(SandboxEnvironments::Document))
                    .col(timestamp_with_time_zone(SandboxEnvironments::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        SandboxEnvironments::Table,
                        SandboxEnvironments::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(drop_table(SandboxEnvironments::Table))
            .await?;
        manager.drop_table(drop_table(Integrations::Table)).await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    Id,
    MspId,
    TenantId,
    Vendor,
    Name,
    Settings,
    SealedSecret,
    Health,
    LastError,
    LastCheckedAt,
    LastSuccessAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SandboxEnvironments {
    Table,
    TenantId,
    Document,
    UpdatedAt,
}
