//! The vendor-wide budget of concurrent synchronizations, shared by every worker process
//! through the database.
//!
//! Each vendor has a few numbered slots (a deployment setting); a synchronization takes one
//! before it calls the vendor and gives it back after. Taking a slot is one conditional
//! `UPDATE`, atomic on SQLite and PostgreSQL alike, so two workers never hold the same slot. A
//! hold is a lease: if its worker dies, the slot is free again once the lease lapses. And a
//! tenant holds at most one slot of a vendor at a time, so a tenant with many or slow
//! synchronizations cannot take the whole budget while the others wait.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, OnConflict},
};
use steward_domain::TenantId;

use super::{StorageError, entities::vendor_slot};

/// A slot taken: give it back with [`release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub vendor: String,
    pub slot: i32,
    pub holder: uuid::Uuid,
}

/// Takes a free slot of `vendor`'s `slots` for `tenant_id` until `expires_at`, as `holder` (an
/// id unique to this attempt); `None` when all are held, or when the tenant already holds one
/// of them.
///
/// # Errors
/// When the database cannot be written.
pub async fn acquire(
    conn: &impl ConnectionTrait,
    vendor: &str,
    slots: u32,
    tenant_id: TenantId,
    holder: uuid::Uuid,
    (now, expires_at): (DateTime<Utc>, DateTime<Utc>),
) -> Result<Option<Held>, StorageError> {
    let live = |query: sea_orm::Select<vendor_slot::Entity>| {
        query
            .filter(vendor_slot::Column::Vendor.eq(vendor))
            .filter(vendor_slot::Column::Holder.is_not_null())
            .filter(vendor_slot::Column::ExpiresAt.gt(now))
    };
    let tenant_holds = live(vendor_slot::Entity::find())
        .filter(vendor_slot::Column::TenantId.eq(tenant_id.as_uuid()))
        .one(conn)
        .await?;
    if tenant_holds.is_some() {
        return Ok(None);
    }
    for slot in 0..i32::try_from(slots).unwrap_or(i32::MAX) {
        vendor_slot::Entity::insert(vendor_slot::ActiveModel {
            vendor: Set(vendor.to_owned()),
            slot: Set(slot),
            holder: Set(None),
            tenant_id: Set(None),
            expires_at: Set(None),
        })
        .on_conflict(
            OnConflict::columns([vendor_slot::Column::Vendor, vendor_slot::Column::Slot])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
        let taken = vendor_slot::Entity::update_many()
            .col_expr(vendor_slot::Column::Holder, Expr::value(holder))
            .col_expr(
                vendor_slot::Column::TenantId,
                Expr::value(tenant_id.as_uuid()),
            )
            .col_expr(vendor_slot::Column::ExpiresAt, Expr::value(expires_at))
            .filter(vendor_slot::Column::Vendor.eq(vendor))
            .filter(vendor_slot::Column::Slot.eq(slot))
            .filter(
                sea_orm::Condition::any()
                    .add(vendor_slot::Column::Holder.is_null())
                    .add(vendor_slot::Column::ExpiresAt.lte(now)),
            )
            .exec(conn)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(Some(Held {
                vendor: vendor.to_owned(),
                slot,
                holder,
            }));
        }
    }
    Ok(None)
}

/// Gives the slot back, unless its lease lapsed and another holder took it since.
///
/// # Errors
/// When the database cannot be written.
pub async fn release(conn: &impl ConnectionTrait, held: &Held) -> Result<(), StorageError> {
    vendor_slot::Entity::update_many()
        .col_expr(
            vendor_slot::Column::Holder,
            Expr::value(Option::<uuid::Uuid>::None),
        )
        .col_expr(
            vendor_slot::Column::TenantId,
            Expr::value(Option::<uuid::Uuid>::None),
        )
        .col_expr(
            vendor_slot::Column::ExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(vendor_slot::Column::Vendor.eq(held.vendor.as_str()))
        .filter(vendor_slot::Column::Slot.eq(held.slot))
        .filter(vendor_slot::Column::Holder.eq(held.holder))
        .exec(conn)
        .await?;
    Ok(())
}
