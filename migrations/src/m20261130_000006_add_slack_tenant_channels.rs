//! Customer approvals in Slack: per tenant, a channel shared with the customer (Slack Connect)
//! where the requests that need the customer's approval are posted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SlackConnections::Table)
                    .add_column(json_binary_null(SlackConnections::TenantChannels))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SlackConnections::Table)
                    .drop_column(SlackConnections::TenantChannels)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SlackConnections {
    Table,
    TenantChannels,
}
