//! What the MSP says about a device or identity that no tool reports: its criticality, owner
//! and business process.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{drop_table, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EntityContexts::Table)
                    .col(pk_uuid(EntityContexts::Id))
                    .col(uuid(EntityContexts::MspId))
                    .col(uuid(EntityContexts::TenantId))
                    .col(text(EntityContexts::EntityKind))
                    .col(uuid(EntityContexts::EntityId))
                    .col(text_null(EntityContexts::Criticality))
                    .col(text_null(EntityContexts::Owner))
                    .col(text_null(EntityContexts::BusinessProcess))
                    .col(timestamp_with_time_zone(EntityContexts::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "entity_contexts_tenant_id_entity_kind_entity_id_key",
                EntityContexts::Table,
                [
                    EntityContexts::TenantId,
                    EntityContexts::EntityKind,
                    EntityContexts::EntityId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(EntityContexts::Table)).await
    }
}

#[derive(DeriveIden)]
enum EntityContexts {
    Table,
    Id,
    MspId,
    TenantId,
    EntityKind,
    EntityId,
    Criticality,
    Owner,
    BusinessProcess,
    UpdatedAt,
}
