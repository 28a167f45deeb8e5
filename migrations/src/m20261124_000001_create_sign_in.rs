//! Sign-in: attempts (for throttling), identities from single sign-on, and OIDC logins in
//! flight.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Users, foreign_key, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Every password sign-in attempt, so failures can be counted per account and per
        // address over a sliding window, across processes and restarts.
        manager
            .create_table(
                Table::create()
                    .table(SignInAttempts::Table)
                    .col(pk_uuid(SignInAttempts::Id))
                    .col(text(SignInAttempts::Email))
                    .col(text(SignInAttempts::IpAddress))
                    .col(boolean(SignInAttempts::Succeeded))
                    .col(timestamp_with_time_zone(SignInAttempts::AttemptedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("sign_in_attempts_email_idx", SignInAttempts::Email),
            ("sign_in_attempts_ip_address_idx", SignInAttempts::IpAddress),
        ] {
            manager
                .create_index(index(
                    name,
                    SignInAttempts::Table,
                    [column, SignInAttempts::AttemptedAt],
                ))
                .await?;
        }

        // A user's identity at an OpenID Connect provider: (issuer, subject) is stable where
        // email addresses are not.
        manager
            .create_table(
                Table::create()
                    .table(UserIdentities::Table)
                    .col(pk_uuid(UserIdentities::Id))
                    .col(uuid(UserIdentities::MspId))
                    .col(uuid(UserIdentities::UserId))
                    .col(text(UserIdentities::Issuer))
                    .col(text(UserIdentities::Subject))
                    .col(timestamp_with_time_zone(UserIdentities::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        UserIdentities::Table,
                        UserIdentities::UserId,
                        Users::Table,
                        Users::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "user_identities_issuer_subject_key",
                UserIdentities::Table,
                [UserIdentities::Issuer, UserIdentities::Subject],
            ))
            .await?;

        // An OIDC sign-in between the redirect to the provider and its callback: single use,
        // short-lived, keyed by a hash of the state the browser carries.
        manager
            .create_table(
                Table::create()
                    .table(OidcLogins::Table)
                    .col(pk_uuid(OidcLogins::Id))
                    .col(text_uniq(OidcLogins::StateHash))
                    .col(text(OidcLogins::Nonce))
                    .col(text(OidcLogins::PkceVerifier))
                    .col(timestamp_with_time_zone(OidcLogins::CreatedAt))
                    .col(timestamp_with_time_zone(OidcLogins::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum SignInAttempts {
    Table,
    Id,
    Email,
    IpAddress,
    Succeeded,
    AttemptedAt,
}

#[derive(DeriveIden)]
enum UserIdentities {
    Table,
    Id,
    MspId,
    UserId,
    Issuer,
    Subject,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OidcLogins {
    Table,
    Id,
    StateHash,
    Nonce,
    PkceVerifier,
    CreatedAt,
    ExpiresAt,
}
