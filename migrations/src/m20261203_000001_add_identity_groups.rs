//! The groups an identity is a member of, as its identity providers report them (a JSON array
//! of group names); `NULL` when no provider reports groups.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(Identities::Table, [json_binary_null(Identities::Groups)]);

#[derive(DeriveIden)]
enum Identities {
    Table,
    Groups,
}
