//! What a connector keeps between synchronizations to read incrementally (Microsoft Graph's
//! `users/delta` link and the users as of it): opaque JSON, `NULL` for connectors that read
//! everything each time.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(
    Integrations::Table,
    [json_binary_null(Integrations::SyncState)]
);

#[derive(DeriveIden)]
enum Integrations {
    Table,
    SyncState,
}
