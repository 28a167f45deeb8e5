//! A device's hardware keys, which join the records of tools that name it differently: the
//! serial number and the MAC addresses (a JSON array of strings). SQLite alters one column per
//! statement, so each column is its own step.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::add_columns_migration;

#[derive(DeriveMigrationName)]
pub struct Migration;

add_columns_migration!(
    Devices::Table,
    [
        string_null(Devices::SerialNumber),
        json_binary_null(Devices::MacAddresses),
    ]
);

#[derive(DeriveIden)]
enum Devices {
    Table,
    SerialNumber,
    MacAddresses,
}
