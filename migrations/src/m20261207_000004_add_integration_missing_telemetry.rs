//! What an integration's vendor withheld at its last synchronization although the integration
//! works (a licence without advanced hunting): a JSON list, `NULL` when nothing was withheld.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(
    Integrations::Table,
    [json_null(Integrations::MissingTelemetry)]
);

#[derive(DeriveIden)]
enum Integrations {
    Table,
    MissingTelemetry,
}
