//! Per-tenant authority policies: an MSP admin's Rego replacing the deployment's policy for one
//! tenant.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Tenants, drop_table, foreign_key};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TenantPolicies::Table)
                    .col(pk_uuid(TenantPolicies::TenantId))
                    .col(uuid(TenantPolicies::MspId))
                    .col(text(TenantPolicies::Source))
                    .col(text(TenantPolicies::Sha256))
                    .col(timestamp_with_time_zone(TenantPolicies::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        TenantPolicies::Table,
                        TenantPolicies::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(TenantPolicies::Table)).await
    }
}

#[derive(DeriveIden)]
enum TenantPolicies {
    Table,
    TenantId,
    MspId,
    Source,
    Sha256,
    UpdatedAt,
}
