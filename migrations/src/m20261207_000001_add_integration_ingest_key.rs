//! The ingest key of an integration: a bearer token with which log shippers that cannot sign
//! their requests (Winlogbeat, NXLog, Fluent Bit) send events to the log ingest endpoint. Only
//! its SHA-256 is kept (hex); `NULL` until an MSP admin creates one.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(
    Integrations::Table,
    [string_null(Integrations::IngestKeySha256)]
);

#[derive(DeriveIden)]
enum Integrations {
    Table,
    IngestKeySha256,
}
