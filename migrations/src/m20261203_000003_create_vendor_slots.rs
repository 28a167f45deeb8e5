//! The vendor-wide budget every worker process shares: a few numbered slots per vendor, each
//! held by at most one synchronization at a time (with the tenant it is for, and a lease that
//! lets the slot go if its worker dies).

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::drop_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(VendorSlots::Table)
                    .col(text(VendorSlots::Vendor))
                    .col(integer(VendorSlots::Slot))
                    .col(uuid_null(VendorSlots::Holder))
                    .col(uuid_null(VendorSlots::TenantId))
                    .col(timestamp_with_time_zone_null(VendorSlots::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .col(VendorSlots::Vendor)
                            .col(VendorSlots::Slot),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table(VendorSlots::Table)).await
    }
}

#[derive(DeriveIden)]
enum VendorSlots {
    Table,
    Vendor,
    Slot,
    Holder,
    TenantId,
    ExpiresAt,
}
