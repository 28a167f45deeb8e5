//! Attributes an identity's sources disagree about, with what each said; empty (NULL) until two
//! sources of the same identity differ.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(Identities::Table, [json_binary_null(Identities::Conflicts)]);

#[derive(DeriveIden)]
enum Identities {
    Table,
    Conflicts,
}
