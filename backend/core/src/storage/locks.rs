//! Transaction-scoped advisory locks on PostgreSQL, for work that reads and then writes what
//! concurrent transactions read too. (SQLite writers are already serialized by `BEGIN
//! IMMEDIATE`.) They use PostgreSQL's two-key form, a key space apart from the audit chains'
//! single-key locks, and no row lock, so they never block foreign-key checks.

use sea_orm::{ConnectionTrait, DbBackend};
use steward_domain::{MspId, TenantId};
use uuid::Uuid;

use super::StorageError;

/// What a lock serializes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lock {
    /// Every decision of the MSP's tenants: the guardrails count the last hour's automatic
    /// actions (per tenant and MSP-wide) before recording a new one, and answers and expiries
    /// of approval requests must not cross a re-decision of the same action. Taken first in
    /// the transaction; then a batch lock; then audit chains.
    Decisions(MspId),
    /// The state of one batch: its canary settling the members, and a member being queued.
    Batch(Uuid),
    /// A tenant's inventory: one synchronization merges its reports at a time, or two running
    /// at once would each create the device the other has not committed yet. Taken first.
    Inventory(TenantId),
}

impl Lock {
    fn keys(self) -> (i32, i32) {
        let (class, id) = match self {
            Lock::Decisions(msp_id) => (1, msp_id.as_uuid()),
            Lock::Batch(batch_id) => (2, batch_id),
            Lock::Inventory(tenant_id) => (3, tenant_id.as_uuid()),
        };
        let (high, low) = id.as_u64_pair();
        let folded = high ^ low;
        let key = (folded ^ (folded >> 32)) as u32;
        (class, i32::from_ne_bytes(key.to_ne_bytes()))
    }
}

/// Takes the lock until the transaction ends.
pub(crate) async fn take<C: ConnectionTrait>(conn: &C, lock: Lock) -> Result<(), StorageError> {
    if conn.get_database_backend() == DbBackend::Postgres {
        let (class, key) = lock.keys();
        conn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({class}, {key})"))
            .await?;
    }
    Ok(())
}
