//! Batches: the same action proposed for several targets at once. Each member remembers its
//! batch, its place in the request (the first the policy does not deny is the canary) and the
//! batch's size (the blast radius the policy saw).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for mut column in [
            uuid_null(Actions::BatchId),
            integer_null(Actions::BatchPosition),
            integer_null(Actions::BatchSize),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Actions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // A member's canary and a canary's followers are looked up by batch.
        manager
            .create_index(
                Index::create()
                    .name("actions_tenant_batch_idx")
                    .table(Actions::Table)
                    .col(Actions::TenantId)
                    .col(Actions::BatchId)
                    .col(Actions::BatchPosition)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("actions_tenant_batch_idx")
                    .table(Actions::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Actions::BatchSize, Actions::BatchPosition, Actions::BatchId] {
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
    TenantId,
    BatchId,
    BatchPosition,
    BatchSize,
}
