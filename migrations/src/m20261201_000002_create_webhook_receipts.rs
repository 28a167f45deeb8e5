//! Inbound webhooks: each integration's signing secret (sealed with the deployment's secrets
//! key; NULL until an MSP admin creates one) and the message ids received, so a replayed
//! message is refused.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .add_column(text_null(Integrations::SealedWebhookSecret))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookReceipts::Table)
                    .col(pk_uuid(WebhookReceipts::Id))
                    .col(uuid(WebhookReceipts::MspId))
                    .col(uuid(WebhookReceipts::TenantId))
                    .col(uuid(WebhookReceipts::IntegrationId))
                    .col(text(WebhookReceipts::MessageId))
                    .col(timestamp_with_time_zone(WebhookReceipts::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_receipts_integration_id_message_id_key")
                    .table(WebhookReceipts::Table)
                    .col(WebhookReceipts::IntegrationId)
                    .col(WebhookReceipts::MessageId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookReceipts::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::SealedWebhookSecret)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    SealedWebhookSecret,
}

#[derive(DeriveIden)]
enum WebhookReceipts {
    Table,
    Id,
    MspId,
    TenantId,
    IntegrationId,
    MessageId,
    ReceivedAt,
}
