//! Action parameters: what an action needs besides its type and target (the group of a group
//! membership change). Empty for the actions recorded before.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(Actions::Table, [json_binary_null(Actions::Parameters)]);

#[derive(DeriveIden)]
enum Actions {
    Table,
    Parameters,
}
