//! Taking and giving back one of a vendor's synchronization slots, which every process shares
//! through the database (`steward_core::storage::vendor_slots`).

use steward_core::storage::{StorageError, new_id, vendor_slots};
use steward_domain::{TenantId, observations::Vendor};

use super::Synchronizer;

/// How long a slot is held at most if its process never gives it back.
const LEASE: chrono::Duration = chrono::Duration::minutes(15);

/// Takes one of `vendor`'s slots for the tenant, in a transaction of its own; `None` when
/// every slot is taken.
pub(super) async fn take(
    sync: &Synchronizer,
    tenant_id: TenantId,
    vendor: Vendor,
) -> Result<Option<vendor_slots::Held>, StorageError> {
    let txn = sync.storage.begin().await?;
    let now = sync.clock.now();
    let held = vendor_slots::acquire(
        &txn,
        vendor.as_str(),
        sync.vendor_concurrency,
        tenant_id,
        new_id(sync.clock.as_ref()),
        (now, now + LEASE),
    )
    .await?;
    txn.commit().await?;
    Ok(held)
}

/// Gives a slot back; a failure only logs, as the lease frees the slot in the end.
pub(super) async fn give_back(sync: &Synchronizer, held: &vendor_slots::Held) {
    let released = async {
        let txn = sync.storage.begin().await?;
        vendor_slots::release(&txn, held).await?;
        txn.commit().await?;
        Ok::<(), StorageError>(())
    };
    if let Err(error) = released.await {
        tracing::warn!(%error, vendor = %held.vendor, "cannot give a vendor slot back; its lease will free it");
    }
}
