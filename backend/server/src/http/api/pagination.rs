//! `limit` + `cursor` paging for every list endpoint.

use std::str::FromStr;

use serde::Deserialize;
use steward_core::storage::{Page, PageRequest};
use utoipa::IntoParams;

use crate::http::ApiError;

/// Which page of a list to return.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to return: 1 to 200, 50 when absent.
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The storage page request, or a 400 naming what is wrong.
    pub fn request<K: FromStr>(&self) -> Result<PageRequest<K>, ApiError> {
        page_request(self.limit, self.cursor.as_deref())
    }
}

/// The storage page request for a list query that carries `limit` and `cursor` beside its own
/// filters (a query cannot embed [`PageQuery`]: serde's `flatten` ignores `deny_unknown_fields`),
/// or a 400 naming what is wrong.
pub fn page_request<K: FromStr>(
    limit: Option<u64>,
    cursor: Option<&str>,
) -> Result<PageRequest<K>, ApiError> {
    let limit = limit.unwrap_or(PageRequest::<K>::DEFAULT_LIMIT);
    if !(1..=PageRequest::<K>::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-limit",
            format!(
                "limit must be between 1 and {}",
                PageRequest::<K>::MAX_LIMIT
            ),
        ));
    }
    let after = cursor
        .map(|cursor| {
            cursor.parse::<K>().map_err(|_| {
                ApiError::bad_request(
                    "invalid-cursor",
                    "the cursor is not one this list returned; start again without it",
                )
            })
        })
        .transpose()?;
    Ok(PageRequest { limit, after })
}

/// Declares the JSON shape of one list endpoint's answer: `{"items": [...], "next_cursor": …}`.
macro_rules! list_body {
    ($(#[$doc:meta])* $name:ident, $item:ty) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl<K: ToString> From<steward_core::storage::Page<$item, K>> for $name {
            fn from(page: steward_core::storage::Page<$item, K>) -> Self {
                Self {
                    items: page.items,
                    next_cursor: page.next.map(|key| key.to_string()),
                }
            }
        }
    };
}
pub(crate) use list_body;

/// Pages a list already in memory by the same rules, for short lists read whole.
pub fn page_in_memory<T, K: Ord + Copy>(
    items: Vec<T>,
    request: PageRequest<K>,
    key_of: impl Fn(&T) -> K,
) -> Page<T, K> {
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|item| request.after.is_none_or(|after| key_of(item) > after))
        .collect();
    let limit = usize::try_from(request.limit).unwrap_or(usize::MAX);
    let next = if rest.len() > limit {
        rest.truncate(limit);
        rest.last().map(&key_of)
    } else {
        None
    };
    Page { items: rest, next }
}
