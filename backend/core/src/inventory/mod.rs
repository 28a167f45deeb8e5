//! The inventory stage: one device or identity per real thing, from every vendor's records.
//!
//! - [`reconcile`]: the rules — which reports are one machine or person, and which source wins
//!   each attribute, with the disagreements kept (`docs/reconciliation.md`).
//! - [`InventoryWriter`]: records a synchronization, merging its reports by those rules.
//! - `device_index` and `device_twins`: matching a report to a known device in constant time,
//!   and folding twins left from before synchronizations were serialized.
//!
//! Reading the inventory is storage's ([`crate::storage::InventoryReader`]).

mod device_index;
mod device_twins;
pub(crate) mod profile;
pub mod reconcile;
mod record;

pub use self::record::{InventoryWriter, SyncError};
