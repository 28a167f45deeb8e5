//! Attributes a device's sources disagree about, with what each said; empty (NULL) until two
//! sources of the same device differ.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(Devices::Table, [json_binary_null(Devices::Conflicts)]);

#[derive(DeriveIden)]
enum Devices {
    Table,
    Conflicts,
}
