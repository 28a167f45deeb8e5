//! Outbound webhook subscriptions lose their `allow_private_network` flag: which private
//! addresses Steward may call is the deployment operator's decision (`[egress] allow`), never a
//! per-subscription switch an MSP admin flips.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(drop_column(
                WebhookSubscriptions::Table,
                WebhookSubscriptions::AllowPrivateNetwork,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(
                WebhookSubscriptions::Table,
                boolean(WebhookSubscriptions::AllowPrivateNetwork).default(false),
            ))
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    AllowPrivateNetwork,
}
