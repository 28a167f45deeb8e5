//! The vendor-wide synchronization budget, shared through the database: slots are held by one
//! synchronization at a time, a tenant holds at most one, a lapsed lease frees its slot, and a
//! late release never frees another holder's.

use chrono::{DateTime, Duration, Utc};
use steward_core::storage::vendor_slots::{self, Held};
use steward_domain::TenantId;
use steward_testkit::TestDatabase;
use uuid::Uuid;

fn tenant(n: u128) -> TenantId {
    TenantId::from_uuid(Uuid::from_u128(n))
}

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + Duration::minutes(minutes)
}

#[tokio::test]
async fn a_vendors_slots_go_to_one_holder_each_and_one_per_tenant() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let conn = storage.conn();
    let take = async |vendor: &str, slots: u32, who: u128, holder: u128, now: i64| {
        vendor_slots::acquire(
            conn,
            vendor,
            slots,
            tenant(who),
            Uuid::from_u128(holder),
            (at(now), at(now + 15)),
        )
        .await
        .unwrap()
    };

    let a = take("microsoft_graph", 2, 1, 101, 0)
        .await
        .expect("a free slot");
    let b = take("microsoft_graph", 2, 2, 102, 0)
        .await
        .expect("the other slot");
    assert_ne!(a.slot, b.slot);
    assert_eq!(
        take("microsoft_graph", 2, 3, 103, 0).await,
        None,
        "both slots are held"
    );
    assert_eq!(
        take("microsoft_graph", 3, 1, 104, 0).await,
        None,
        "a tenant holds one slot of a vendor at a time, however many there are"
    );
    assert!(
        take("okta", 2, 1, 105, 0).await.is_some(),
        "other vendors have budgets of their own"
    );

    vendor_slots::release(conn, &a).await.unwrap();
    let c = take("microsoft_graph", 2, 3, 106, 0)
        .await
        .expect("a released slot is free");
    assert_eq!(c.slot, a.slot);

    // A worker that died never gives its slot back: the lease lapses.
    assert_eq!(take("microsoft_graph", 2, 4, 107, 10).await, None);
    let d = take("microsoft_graph", 2, 4, 108, 16)
        .await
        .expect("lapsed leases free their slots");
    // Late releases: b's slot was not taken again and is freed; c's went to d and stays d's.
    vendor_slots::release(conn, &b).await.unwrap();
    vendor_slots::release(conn, &c).await.unwrap();
    assert_eq!(
        take("microsoft_graph", 2, 5, 109, 16).await.map(|h| h.slot),
        Some(1 - d.slot)
    );
    assert_eq!(
        take("microsoft_graph", 2, 6, 110, 16).await,
        None::<Held>,
        "d still holds its slot"
    );
}
