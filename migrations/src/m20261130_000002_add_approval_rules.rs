//! Approval rules: a revision every change of an action bumps (so concurrent answers cannot both
//! count), and when an approval request escalates and expires.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for mut column in [
            integer(Actions::Revision).default(0).to_owned(),
            timestamp_with_time_zone_null(Actions::ExpiresAt),
            timestamp_with_time_zone_null(Actions::EscalateAt),
            integer(Actions::EscalationLevel).default(0).to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Actions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // The sweep for requests due to escalate or expire reads the approval queue.
        manager
            .create_index(
                Index::create()
                    .name("actions_status_expires_at_idx")
                    .table(Actions::Table)
                    .col(Actions::Status)
                    .col(Actions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("actions_status_expires_at_idx")
                    .table(Actions::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Actions::EscalationLevel,
            Actions::EscalateAt,
            Actions::ExpiresAt,
            Actions::Revision,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Actions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    Status,
    Revision,
    ExpiresAt,
    EscalateAt,
    EscalationLevel,
}
