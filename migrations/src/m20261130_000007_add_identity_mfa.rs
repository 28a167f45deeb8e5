//! Whether an identity has registered a second factor (MFA), as its identity provider reports
//! it; unknown for identities no provider reported it for.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(Identities::Table, [boolean_null(Identities::MfaRegistered)]);

#[derive(DeriveIden)]
enum Identities {
    Table,
    MfaRegistered,
}
