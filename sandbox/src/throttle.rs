//! Vendor throttling: a request budget per app and tenant in a fixed window, plus injected 429
//! storms.

use std::{collections::HashMap, hash::Hash, sync::Mutex, time::Duration};

use chrono::Utc;
use tokio::time::Instant;
use uuid::Uuid;

/// Injected 429 storms, per customer: how many of its next requests a vendor refuses.
#[derive(Debug, Default)]
pub(super) struct Storms(Mutex<HashMap<Uuid, u32>>);

impl Storms {
    /// Refuses the next `requests` of `tenant`.
    pub(super) fn start(&self, tenant: Uuid, requests: u32) {
        self.0
            .lock()
            .expect("storm map poisoned")
            .insert(tenant, requests);
    }

    /// Whether this request of `tenant` falls in a storm (counting it if so).
    pub(super) fn hit(&self, tenant: Uuid) -> bool {
        let mut storms = self.0.lock().expect("storm map poisoned");
        match storms.get_mut(&tenant) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// Per-minute request budgets, one per key (a customer, or a customer's endpoint), and injected
/// storms per customer: Okta and Falcon count requests so, and report the count in headers.
#[derive(Debug)]
pub(super) struct MinuteBudgets<K> {
    windows: Mutex<HashMap<K, (Instant, u32)>>,
    /// Requests still to answer 429 whatever the budget, per customer (a test's storm).
    pub(super) storms: Storms,
}

impl<K> Default for MinuteBudgets<K> {
    fn default() -> Self {
        Self {
            windows: Mutex::default(),
            storms: Storms::default(),
        }
    }
}

/// Where a request stands against its budget: what the vendors' rate-limit headers say, and
/// whether it is refused.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spent {
    pub(super) limit: u32,
    pub(super) remaining: u32,
    /// When the budget's window ends, in UTC epoch seconds.
    pub(super) reset: i64,
    pub(super) refused: bool,
}

impl<K: Eq + Hash> MinuteBudgets<K> {
    /// Counts a request of `tenant` against the budget `key`, of `limit` requests a minute.
    pub(super) fn take(&self, key: K, tenant: Uuid, limit: u32) -> Spent {
        const MINUTE: Duration = Duration::from_secs(60);
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate-limit map poisoned");
        let (started, used) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*started) >= MINUTE {
            *started = now;
            *used = 0;
        }
        let stormy = self.storms.hit(tenant);
        let refused = stormy || *used >= limit;
        if !refused {
            *used += 1;
        }
        // A storm is other clients spending the budget of a window that is about to end.
        let left_in_window = if stormy {
            Duration::ZERO
        } else {
            MINUTE.saturating_sub(now.duration_since(*started))
        };
        Spent {
            limit,
            remaining: if stormy { 0 } else { limit - *used },
            reset: epoch_now() + i64::try_from(left_in_window.as_secs() + 1).unwrap_or(60),
            refused,
        }
    }
}

/// Now, in UTC epoch seconds: the vendors' reset times are compared with the client's real clock.
fn epoch_now() -> i64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "the reset header is a real epoch, whatever clock the sandbox runs on"
    )]
    let now = Utc::now();
    now.timestamp()
}

/// A simulated API, for budgets and token audiences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    Defender,
    Graph,
}

impl Api {
    #[must_use]
    pub fn parse(value: &str) -> Option<Api> {
        match value {
            "defender" => Some(Api::Defender),
            "graph" => Some(Api::Graph),
            _ => None,
        }
    }
}

/// Request budgets.
#[derive(Debug, Clone)]
pub struct ThrottleLimits {
    /// Defender for Endpoint: 100 calls per minute per API (its published limit).
    pub defender: (u32, Duration),
    /// Microsoft Graph: the identity and access reports limit, 1,000 requests per 20 seconds per
    /// app and tenant.
    pub graph: (u32, Duration),
    /// Advanced hunting (`runHuntingQuery`): 45 calls per minute per tenant, besides Graph's
    /// own budget.
    pub hunting: (u32, Duration),
    /// `Retry-After` Defender sends, in whole seconds as it documents.
    pub defender_retry_after: Duration,
    /// `Retry-After` Graph sends; fractional seconds, as in its documentation's example.
    pub graph_retry_after: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self {
            defender: (100, Duration::from_secs(60)),
            graph: (1000, Duration::from_secs(20)),
            hunting: (45, Duration::from_secs(60)),
            defender_retry_after: Duration::from_secs(1),
            graph_retry_after: Duration::from_millis(500),
        }
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
}

/// What a budget is kept for: a whole API, or an operation with a quota of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Budget {
    Api(Api),
    Hunting,
}

#[derive(Debug)]
pub(crate) struct Throttle {
    limits: ThrottleLimits,
    windows: Mutex<HashMap<(Uuid, Budget), Window>>,
    storms: Mutex<HashMap<(Uuid, Api), u32>>,
}

impl Throttle {
    pub(crate) fn new(limits: ThrottleLimits) -> Self {
        Self {
            limits,
            windows: Mutex::default(),
            storms: Mutex::default(),
        }
    }

    pub(crate) fn storm(&self, tenant: Uuid, api: Api, requests: u32) {
        self.storms
            .lock()
            .expect("storm map poisoned")
            .insert((tenant, api), requests);
    }

    /// How many 429s of an injected storm are still to be answered.
    pub(crate) fn storm_left(&self, tenant: Uuid, api: Api) -> u32 {
        self.storms
            .lock()
            .expect("storm map poisoned")
            .get(&(tenant, api))
            .copied()
            .unwrap_or(0)
    }

    /// `Some(retry_after)` when this request is throttled.
    pub(crate) fn check(&self, tenant: Uuid, api: Api) -> Option<Duration> {
        let retry_after = match api {
            Api::Defender => self.limits.defender_retry_after,
            Api::Graph => self.limits.graph_retry_after,
        };
        {
            let mut storms = self.storms.lock().expect("storm map poisoned");
            if let Some(left) = storms.get_mut(&(tenant, api))
                && *left > 0
            {
                *left -= 1;
                return Some(retry_after);
            }
        }
        let budget = match api {
            Api::Defender => self.limits.defender,
            Api::Graph => self.limits.graph,
        };
        self.spend(tenant, Budget::Api(api), budget, retry_after)
    }

    /// `Some(retry_after)` when this advanced hunting query is over the tenant's quota.
    pub(crate) fn check_hunting(&self, tenant: Uuid) -> Option<Duration> {
        self.spend(
            tenant,
            Budget::Hunting,
            self.limits.hunting,
            self.limits.graph_retry_after,
        )
    }

    fn spend(
        &self,
        tenant: Uuid,
        budget: Budget,
        (limit, period): (u32, Duration),
        retry_after: Duration,
    ) -> Option<Duration> {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("window map poisoned");
        let window = windows.entry((tenant, budget)).or_insert(Window {
            started: now,
            used: 0,
        });
        if now.duration_since(window.started) >= period {
            *window = Window {
                started: now,
                used: 0,
            };
        }
        if window.used >= limit {
            let left = period.saturating_sub(now.duration_since(window.started));
            return Some(left.max(retry_after));
        }
        window.used += 1;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_and_storm_throttle_only_their_tenant_and_api() {
        let throttle = Throttle::new(ThrottleLimits {
            defender: (2, Duration::from_secs(60)),
            ..ThrottleLimits::default()
        });
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(throttle.check(a, Api::Defender).is_none());
        assert!(throttle.check(a, Api::Defender).is_none());
        assert!(throttle.check(a, Api::Defender).is_some());
        assert!(throttle.check(b, Api::Defender).is_none());
        throttle.storm(b, Api::Graph, 2);
        assert_eq!(
            throttle.check(b, Api::Graph),
            Some(Duration::from_millis(500))
        );
        assert!(throttle.check(b, Api::Graph).is_some());
        assert!(throttle.check(b, Api::Graph).is_none());
        assert!(throttle.check(a, Api::Graph).is_none());
    }
}
