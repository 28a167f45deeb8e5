use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Which slice of a list to return: up to `limit` items after the item whose key is `after`.
///
/// Lists are ordered by a key that only grows: an id (UUIDv7, so creation order) or a sequence
/// number. A cursor therefore stays valid while items are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest<K = Uuid> {
    pub limit: u64,
    pub after: Option<K>,
}

impl<K> PageRequest<K> {
    pub const DEFAULT_LIMIT: u64 = 50;
    pub const MAX_LIMIT: u64 = 200;

    /// The first page with the default size.
    #[must_use]
    pub fn first() -> Self {
        Self {
            limit: Self::DEFAULT_LIMIT,
            after: None,
        }
    }
}

/// One page of a list, with the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T, K = Uuid> {
    pub items: Vec<T>,
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// Builds a page from up to `limit + 1` rows: the extra row only signals that more exist.
    pub(crate) fn from_overfetch(mut rows: Vec<T>, limit: u64, key_of: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key_of)
        } else {
            None
        };
        Self { items: rows, next }
    }
}
