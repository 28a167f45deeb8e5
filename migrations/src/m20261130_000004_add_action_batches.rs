//! Batches: the same action proposed for several targets at once. Each member remembers its
//! batch, its place in the request (the first the policy does not deny is the canary) and the
//! batch's size (the blast radius the policy saw).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            uuid_null(Actions::BatchId),
            integer_null(Actions::BatchPosition),
            integer_null(Actions::BatchSize),
        ] {
            manager
                .alter_table(add_column(Actions::Table, column))
                .await?;
        }
        // A member's canary and a canary's followers are looked up by batch.
        manager
            .create_index(index(
                "actions_tenant_batch_idx",
                Actions::Table,
                [Actions::TenantId, Actions::BatchId, Actions::BatchPosition],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(drop_index("actions_tenant_batch_idx", Actions::Table))
            .await?;
        for column in [Actions::BatchSize, Actions::BatchPosition, Actions::BatchId] {
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
    TenantId,
    BatchId,
    BatchPosition,
    BatchSize,
}
