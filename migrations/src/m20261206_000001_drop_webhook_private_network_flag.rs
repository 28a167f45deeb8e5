//! Outbound webhook subscriptions lose their `allow_private_network` flag: which private
//! addresses Steward may call is the deployment operator's decision (`[egress] allow`), never a
//! per-subscription switch an MSP admin flips.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .drop_column(WebhookSubscriptions::AllowPrivateNetwork)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookSubscriptions::Table)
                    .add_column(boolean(WebhookSubscriptions::AllowPrivateNetwork).default(false))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    AllowPrivateNetwork,
}
