//! Inbound webhooks: each integration's signing secret (sealed with the deployment's secrets
//! key; NULL until an MSP admin creates one) and the message ids received, so a replayed
//! message is refused.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_table, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(
                Integrations::Table,
                text_null(Integrations::SealedWebhookSecret),
            ))
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
            .create_index(unique_index(
                "webhook_receipts_integration_id_message_id_key",
                WebhookReceipts::Table,
                [WebhookReceipts::IntegrationId, WebhookReceipts::MessageId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(drop_table(WebhookReceipts::Table))
            .await?;
        manager
            .alter_table(drop_column(
                Integrations::Table,
                Integrations::SealedWebhookSecret,
            ))
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
