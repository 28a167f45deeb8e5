//! A second factor for Steward's own password accounts, and passwords that must be changed.
//!
//! - `users.password_change_required`: a password someone else chose (the one `steward msp
//!   create` prints) works once, to choose one's own.
//! - `msps.second_factor_policy`: who must use a second factor — `msp_admins` (the default),
//!   `msp_staff`, `everyone` or `off`. Accounts signing in through single sign-on rely on the
//!   identity provider's.
//! - `user_second_factors`: a TOTP (RFC 6238) secret per user, sealed; `confirmed_at` is set once
//!   the user proved their authenticator has it; `last_used_step` refuses a code twice.
//! - `recovery_codes`: single-use codes for a lost authenticator, stored as hashes.
//! - `sessions.stage` (`complete`, or `second_factor` between the password and the code),
//!   `sessions.method` (`password` or `oidc`) and `sessions.confirmed_at` (the last time its user
//!   proved who they are, for the actions that ask again).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_table, foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(
                Users::Table,
                boolean(Users::PasswordChangeRequired).default(false),
            ))
            .await?;
        manager
            .alter_table(add_column(
                Msps::Table,
                text(Msps::SecondFactorPolicy).default("msp_admins"),
            ))
            .await?;
        for column in [
            ColumnDef::new(Sessions::Stage)
                .text()
                .not_null()
                .default("complete")
                .to_owned(),
            ColumnDef::new(Sessions::Method)
                .text()
                .not_null()
                .default("password")
                .to_owned(),
            timestamp_with_time_zone_null(Sessions::ConfirmedAt),
        ] {
            manager
                .alter_table(add_column(Sessions::Table, column))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(UserSecondFactors::Table)
                    .col(uuid(UserSecondFactors::UserId).primary_key())
                    .col(uuid(UserSecondFactors::MspId))
                    .col(text(UserSecondFactors::SealedSecret))
                    .col(timestamp_with_time_zone(UserSecondFactors::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        UserSecondFactors::ConfirmedAt,
                    ))
                    .col(big_integer_null(UserSecondFactors::LastUsedStep))
                    .foreign_key(&mut foreign_key(
                        UserSecondFactors::Table,
                        UserSecondFactors::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(uuid(RecoveryCodes::Id).primary_key())
                    .col(uuid(RecoveryCodes::UserId))
                    .col(uuid(RecoveryCodes::MspId))
                    .col(text(RecoveryCodes::CodeHash))
                    .col(timestamp_with_time_zone_null(RecoveryCodes::UsedAt))
                    .foreign_key(&mut foreign_key(
                        RecoveryCodes::Table,
                        RecoveryCodes::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "recovery_codes_user_idx",
                RecoveryCodes::Table,
                [RecoveryCodes::UserId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(RecoveryCodes::Table)).await?;
        manager
            .drop_table(drop_table(UserSecondFactors::Table))
            .await?;
        for column in [Sessions::Stage, Sessions::Method, Sessions::ConfirmedAt] {
            manager
                .alter_table(drop_column(Sessions::Table, column))
                .await?;
        }
        manager
            .alter_table(drop_column(Msps::Table, Msps::SecondFactorPolicy))
            .await?;
        manager
            .alter_table(drop_column(Users::Table, Users::PasswordChangeRequired))
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    PasswordChangeRequired,
}

#[derive(DeriveIden)]
enum Msps {
    Table,
    SecondFactorPolicy,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Stage,
    Method,
    ConfirmedAt,
}

#[derive(DeriveIden)]
enum UserSecondFactors {
    Table,
    UserId,
    MspId,
    SealedSecret,
    CreatedAt,
    ConfirmedAt,
    LastUsedStep,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    MspId,
    CodeHash,
    UsedAt,
}
