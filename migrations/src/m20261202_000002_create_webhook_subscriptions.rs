//! Outbound webhooks: the URLs MSPs subscribe to Steward's events (with their Standard Webhooks
//! secret, sealed) and every delivery with its attempts.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{drop_table, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(pk_uuid(WebhookSubscriptions::Id))
                    .col(uuid(WebhookSubscriptions::MspId))
                    .col(text(WebhookSubscriptions::Url))
                    .col(text(WebhookSubscriptions::Description))
                    .col(json_binary(WebhookSubscriptions::Events))
                    .col(uuid_null(WebhookSubscriptions::TenantId))
                    .col(boolean(WebhookSubscriptions::AllowPrivateNetwork))
                    .col(boolean(WebhookSubscriptions::Enabled))
                    .col(text(WebhookSubscriptions::SealedSecret))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_subscriptions_msp_id_idx",
                WebhookSubscriptions::Table,
                [WebhookSubscriptions::MspId],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(text(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::MspId))
                    .col(uuid(WebhookDeliveries::SubscriptionId))
                    .col(uuid(WebhookDeliveries::TenantId))
                    .col(text(WebhookDeliveries::Event))
                    .col(json_binary(WebhookDeliveries::Payload))
                    .col(text(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::LastAttemptAt,
                    ))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::DeliveredAt,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "webhook_deliveries_subscription_id_idx",
                WebhookDeliveries::Table,
                [WebhookDeliveries::SubscriptionId],
            ))
            .await?;
        manager
            .create_index(index(
                "webhook_deliveries_status_next_attempt_at_idx",
                WebhookDeliveries::Table,
                [WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(drop_table(WebhookDeliveries::Table))
            .await?;
        manager
            .drop_table(drop_table(WebhookSubscriptions::Table))
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    MspId,
    Url,
    Description,
    Events,
    TenantId,
    AllowPrivateNetwork,
    Enabled,
    SealedSecret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    MspId,
    SubscriptionId,
    TenantId,
    Event,
    Payload,
    Status,
    Attempts,
    NextAttemptAt,
    LastAttemptAt,
    LastStatus,
    LastError,
    DeliveredAt,
    CreatedAt,
}
