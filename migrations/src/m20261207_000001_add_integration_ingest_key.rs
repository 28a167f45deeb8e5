//! The ingest key of an integration: a bearer token with which log shippers that cannot sign
//! their requests (Winlogbeat, NXLog, Fluent Bit) send events to the log ingest endpoint. Only
//! its SHA-256 is kept (hex); `NULL` until an MSP admin creates one.

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
                    .add_column(string_null(Integrations::IngestKeySha256))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Integrations::Table)
                    .drop_column(Integrations::IngestKeySha256)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Integrations {
    Table,
    IngestKeySha256,
}
