//! The groups an identity is a member of, as its identity providers report them (a JSON array
//! of group names); `NULL` when no provider reports groups.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Identities::Table)
                    .add_column(json_binary_null(Identities::Groups))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Identities::Table)
                    .drop_column(Identities::Groups)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Groups,
}
