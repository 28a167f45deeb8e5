//! Each identity's learned sign-in habits (countries, networks, devices, hours), one row per
//! identity, which sign-ins are compared with.

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
                    .table(SignInBaselines::Table)
                    .col(uuid(SignInBaselines::Id).primary_key())
                    .col(uuid(SignInBaselines::MspId))
                    .col(uuid(SignInBaselines::TenantId))
                    .col(uuid(SignInBaselines::IdentityId))
                    .col(json_binary(SignInBaselines::Baseline))
                    .col(timestamp_with_time_zone(SignInBaselines::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        SignInBaselines::Table,
                        SignInBaselines::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "sign_in_baselines_tenant_identity_idx",
                SignInBaselines::Table,
                [SignInBaselines::TenantId, SignInBaselines::IdentityId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(SignInBaselines::Table)).await
    }
}

#[derive(DeriveIden)]
enum SignInBaselines {
    Table,
    Id,
    MspId,
    TenantId,
    IdentityId,
    Baseline,
    UpdatedAt,
}
