//! Approval requests sent outside the web UI: single-use links (stored only as hashes) bound to
//! one approver and one version of an action, the record of each message sent (to a person by
//! email, or to a Slack channel), and each MSP's Slack connection.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{drop_tables, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApprovalLinks::Table)
                    .col(pk_uuid(ApprovalLinks::Id))
                    .col(uuid(ApprovalLinks::MspId))
                    .col(uuid(ApprovalLinks::TenantId))
                    .col(uuid(ApprovalLinks::ActionId))
                    .col(uuid(ApprovalLinks::UserId))
                    .col(text(ApprovalLinks::Channel))
                    .col(text(ApprovalLinks::Version))
                    .col(text(ApprovalLinks::TokenHash))
                    .col(integer(ApprovalLinks::EscalationLevel))
                    .col(timestamp_with_time_zone(ApprovalLinks::CreatedAt))
                    .col(timestamp_with_time_zone(ApprovalLinks::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApprovalLinks::ViewedAt))
                    .col(timestamp_with_time_zone_null(ApprovalLinks::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "approval_links_token_hash_key",
                ApprovalLinks::Table,
                [ApprovalLinks::TokenHash],
            ))
            .await?;
        manager
            .create_index(index(
                "approval_links_tenant_id_action_id_idx",
                ApprovalLinks::Table,
                [ApprovalLinks::TenantId, ApprovalLinks::ActionId],
            ))
            .await?;

        // One row per approver, channel, escalation level and version of an action: a retried
        // job sends what is not yet sent, once.
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .col(pk_uuid(Notifications::Id))
                    .col(uuid(Notifications::MspId))
                    .col(uuid(Notifications::TenantId))
                    .col(uuid(Notifications::ActionId))
                    .col(uuid_null(Notifications::UserId))
                    .col(text(Notifications::Channel))
                    .col(text(Notifications::DedupKey))
                    .col(text(Notifications::Recipient))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::SentAt))
                    .col(text_null(Notifications::LastError))
                    .col(text_null(Notifications::ExternalRef))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "notifications_tenant_id_dedup_key_key",
                Notifications::Table,
                [Notifications::TenantId, Notifications::DedupKey],
            ))
            .await?;

        // Bot token and signing secret sealed with the deployment's secrets key; `users` maps
        // Slack user ids to Steward users.
        manager
            .create_table(
                Table::create()
                    .table(SlackConnections::Table)
                    .col(pk_uuid(SlackConnections::MspId))
                    .col(text(SlackConnections::ApiBaseUrl))
                    .col(text(SlackConnections::Channel))
                    .col(text(SlackConnections::BotTokenSealed))
                    .col(text(SlackConnections::SigningSecretSealed))
                    .col(json_binary(SlackConnections::Users))
                    .col(timestamp_with_time_zone(SlackConnections::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                SlackConnections::Table.into_iden(),
                Notifications::Table.into_iden(),
                ApprovalLinks::Table.into_iden(),
            ],
        )
        .await
    }
}

#[derive(DeriveIden)]
enum ApprovalLinks {
    Table,
    Id,
    MspId,
    TenantId,
    ActionId,
    UserId,
    Channel,
    Version,
    TokenHash,
    EscalationLevel,
    CreatedAt,
    ExpiresAt,
    ViewedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    MspId,
    TenantId,
    ActionId,
    UserId,
    Channel,
    DedupKey,
    Recipient,
    CreatedAt,
    SentAt,
    LastError,
    ExternalRef,
}

#[derive(DeriveIden)]
enum SlackConnections {
    Table,
    MspId,
    ApiBaseUrl,
    Channel,
    BotTokenSealed,
    SigningSecretSealed,
    Users,
    UpdatedAt,
}
