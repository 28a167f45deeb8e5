//! Approval rules: a revision every change of an action bumps (so concurrent answers cannot both
//! count), and when an approval request escalates and expires.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per statement.
        for column in [
            integer(Actions::Revision).default(0).to_owned(),
            timestamp_with_time_zone_null(Actions::ExpiresAt),
            timestamp_with_time_zone_null(Actions::EscalateAt),
            integer(Actions::EscalationLevel).default(0).to_owned(),
        ] {
            manager
                .alter_table(add_column(Actions::Table, column))
                .await?;
        }
        // The sweep for requests due to escalate or expire reads the approval queue.
        manager
            .create_index(index(
                "actions_status_expires_at_idx",
                Actions::Table,
                [Actions::Status, Actions::ExpiresAt],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(drop_index("actions_status_expires_at_idx", Actions::Table))
            .await?;
        for column in [
            Actions::EscalationLevel,
            Actions::EscalateAt,
            Actions::ExpiresAt,
            Actions::Revision,
        ] {
            manager
                .alter_table(drop_column(Actions::Table, column))
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
