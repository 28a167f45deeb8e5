//! Whether an identity has registered a second factor (MFA), as its identity provider reports
//! it; unknown for identities no provider reported it for.

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
                    .add_column(boolean_null(Identities::MfaRegistered))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Identities::Table)
                    .drop_column(Identities::MfaRegistered)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    MfaRegistered,
}
