//! The vendor feed each event was read from, so a synchronization reads each feed from its own
//! newest stored event. Events stored before this keep `NULL`; their newest is the cursor of a
//! feed with no events of its own yet.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_index, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "events_integration_id_stream_time_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(Events::Table, string_null(Events::Stream)))
            .await?;
        // Every synchronization asks for each stream's newest event.
        manager
            .create_index(index(
                INDEX,
                Events::Table,
                [Events::IntegrationId, Events::Stream, Events::Time],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(drop_index(INDEX, Events::Table)).await?;
        manager
            .alter_table(drop_column(Events::Table, Events::Stream))
            .await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    IntegrationId,
    Stream,
    Time,
}
