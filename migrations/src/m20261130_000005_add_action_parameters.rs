//! Action parameters: what an action needs besides its type and target (the group of a group
//! membership change). Empty for the actions recorded before.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Actions::Table)
                    .add_column(json_binary_null(Actions::Parameters))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Actions::Table)
                    .drop_column(Actions::Parameters)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    Parameters,
}
