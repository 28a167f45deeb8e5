//! MSPs, tenants, users, role grants, API tokens and browser sessions.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{foreign_key, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Msps::Table)
                    .col(pk_uuid(Msps::Id))
                    .col(text(Msps::Name))
                    .col(text_uniq(Msps::Slug))
                    // Single sign-on may create users whose verified email is in this domain,
                    // with this (MSP-side, never admin) role; both empty means never.
                    .col(text_null(Msps::SsoAutoProvisionDomain))
                    .col(text_null(Msps::SsoAutoProvisionRole))
                    .col(timestamp_with_time_zone(Msps::CreatedAt))
                    .col(timestamp_with_time_zone(Msps::UpdatedAt))
                    .check(Expr::cust(
                        "(sso_auto_provision_domain IS NULL AND sso_auto_provision_role IS NULL) \
                         OR (sso_auto_provision_domain IS NOT NULL \
                             AND sso_auto_provision_role IN ('technician', 'auditor'))",
                    ))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(pk_uuid(Tenants::Id))
                    .col(uuid(Tenants::MspId))
                    .col(text(Tenants::Name))
                    .col(text(Tenants::Slug))
                    .col(text(Tenants::Status))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tenants::OffboardedAt))
                    .check(Expr::cust("status IN ('active', 'offboarded')"))
                    .foreign_key(&mut foreign_key(
                        Tenants::Table,
                        Tenants::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "tenants_msp_id_slug_key",
                Tenants::Table,
                [Tenants::MspId, Tenants::Slug],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::MspId))
                    .col(text_uniq(Users::Email))
                    .col(text(Users::DisplayName))
                    .col(text_null(Users::PasswordHash))
                    .col(text(Users::Status))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .check(Expr::cust("status IN ('active', 'disabled')"))
                    .foreign_key(&mut foreign_key(
                        Users::Table,
                        Users::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "users_msp_id_idx",
                Users::Table,
                [Users::MspId, Users::Id],
            ))
            .await?;

        // One role grant per user. Customer-side roles name their tenant; MSP-side roles cover all
        // of the MSP's tenants and name none.
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(pk_uuid(Memberships::Id))
                    .col(uuid(Memberships::MspId))
                    .col(uuid_null(Memberships::TenantId))
                    .col(uuid_uniq(Memberships::UserId))
                    .col(text(Memberships::Role))
                    .col(timestamp_with_time_zone(Memberships::CreatedAt))
                    .check(Expr::cust(
                        "(role IN ('msp_admin', 'technician', 'auditor') AND tenant_id IS NULL) \
                         OR (role IN ('customer_owner', 'customer_approver') AND tenant_id IS NOT NULL)",
                    ))
                    .foreign_key(&mut foreign_key(
                        Memberships::Table,
                        Memberships::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        Memberships::Table,
                        Memberships::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        Memberships::Table,
                        Memberships::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "memberships_tenant_id_user_id_idx",
                Memberships::Table,
                [Memberships::TenantId, Memberships::UserId],
            ))
            .await?;
        manager
            .create_index(index(
                "memberships_msp_id_role_idx",
                Memberships::Table,
                [Memberships::MspId, Memberships::Role],
            ))
            .await?;

        // Only a hash of each token's secret is stored; the secret is shown once, at creation.
        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(pk_uuid(ApiTokens::Id))
                    .col(uuid(ApiTokens::MspId))
                    .col(uuid(ApiTokens::UserId))
                    .col(text(ApiTokens::Name))
                    .col(text_uniq(ApiTokens::SecretHash))
                    .col(timestamp_with_time_zone(ApiTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiTokens::RevokedAt))
                    .foreign_key(&mut foreign_key(
                        ApiTokens::Table,
                        ApiTokens::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        ApiTokens::Table,
                        ApiTokens::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "api_tokens_user_id_idx",
                ApiTokens::Table,
                [ApiTokens::UserId, ApiTokens::Id],
            ))
            .await?;

        // Server-side browser sessions, so a sign-out or a disabled user ends them at once.
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::MspId))
                    .col(uuid(Sessions::UserId))
                    .col(text_uniq(Sessions::SecretHash))
                    // Every state-changing form of the session must carry this token.
                    .col(text(Sessions::CsrfToken))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone(Sessions::LastSeenAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .col(text_null(Sessions::UserAgent))
                    .col(text_null(Sessions::IpAddress))
                    .foreign_key(&mut foreign_key(
                        Sessions::Table,
                        Sessions::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        Sessions::Table,
                        Sessions::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "sessions_user_id_idx",
                Sessions::Table,
                [Sessions::UserId, Sessions::Id],
            ))
            .await?;

        Ok(())
    }
}

#[derive(DeriveIden)]
enum Msps {
    Table,
    Id,
    Name,
    Slug,
    SsoAutoProvisionDomain,
    SsoAutoProvisionRole,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    MspId,
    Name,
    Slug,
    Status,
    CreatedAt,
    UpdatedAt,
    OffboardedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    MspId,
    Email,
    DisplayName,
    PasswordHash,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    MspId,
    TenantId,
    UserId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    MspId,
    UserId,
    Name,
    SecretHash,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    MspId,
    UserId,
    SecretHash,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    LastSeenAt,
    RevokedAt,
    UserAgent,
    IpAddress,
}
