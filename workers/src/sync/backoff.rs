//! Integrations whose vendor is throttling or down, and when to try them again.
//!
//! A synchronization that fails transiently does not hold a worker or run again at once: the
//! integration waits — as long as the vendor's `Retry-After` asks, and at least a backoff that
//! doubles with each failure in a row (1 s … 5 min) — and the scheduler queues it again when the
//! wait is over. Synchronizations asked for meanwhile (a webhook, a scenario, the schedule) are
//! folded into that one. So one vendor down or throttling never keeps workers from the other
//! vendors' and tenants' work. Waits are real time (monotonic), whatever clock the records
//! use.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use steward_domain::{IntegrationId, TenantId};
use tokio::time::Instant;

/// The longest backoff after failures in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy)]
struct Waiting {
    tenant_id: TenantId,
    until: Instant,
    failures: u32,
    /// A synchronization is owed once the wait is over.
    owed: bool,
    /// Only waiting for one of the vendor's slots, not out a failure: a new synchronization
    /// may try for a slot at once.
    busy: bool,
}

/// The integrations waiting out their vendor, shared by a process's jobs and scheduler.
#[derive(Debug, Clone, Default)]
pub struct VendorBackoff {
    waiting: Arc<Mutex<HashMap<IntegrationId, Waiting>>>,
}

impl VendorBackoff {
    /// Whether `integration` must still wait out its vendor's failure at `now`; a
    /// synchronization is then owed.
    pub(crate) fn defer(&self, integration: IntegrationId, now: Instant) -> Option<Instant> {
        let mut waiting = self.waiting.lock().expect("backoff map poisoned");
        let entry = waiting.get_mut(&integration)?;
        if entry.until <= now || entry.busy {
            return None;
        }
        entry.owed = true;
        Some(entry.until)
    }

    /// Records a transient failure; returns until when the integration waits.
    pub(crate) fn failed(
        &self,
        integration: IntegrationId,
        tenant_id: TenantId,
        now: Instant,
        retry_after: Option<Duration>,
    ) -> Instant {
        let mut waiting = self.waiting.lock().expect("backoff map poisoned");
        let failures = waiting.get(&integration).map_or(0, |w| w.failures) + 1;
        let backoff = Duration::from_secs(1u64 << (failures - 1).min(16)).min(MAX_BACKOFF);
        let wait = retry_after.unwrap_or_default().max(backoff);
        let until = now + wait;
        waiting.insert(
            integration,
            Waiting {
                tenant_id,
                until,
                failures,
                owed: true,
                busy: false,
            },
        );
        until
    }

    /// Has `integration` wait `wait` without counting a failure: its vendor's budget of
    /// concurrent synchronizations is taken by other tenants for now.
    pub(crate) fn busy(
        &self,
        integration: IntegrationId,
        tenant_id: TenantId,
        now: Instant,
        wait: Duration,
    ) {
        let mut waiting = self.waiting.lock().expect("backoff map poisoned");
        let failures = waiting.get(&integration).map_or(0, |w| w.failures);
        waiting.insert(
            integration,
            Waiting {
                tenant_id,
                until: now + wait,
                failures,
                owed: true,
                busy: true,
            },
        );
    }

    /// Forgets an integration whose vendor answered.
    pub(crate) fn succeeded(&self, integration: IntegrationId) {
        self.waiting
            .lock()
            .expect("backoff map poisoned")
            .remove(&integration);
    }

    /// Synchronizations owed once their wait is over: those due by `horizon`, and the rest.
    pub(crate) fn owed(&self, horizon: Instant) -> (u64, u64) {
        let waiting = self.waiting.lock().expect("backoff map poisoned");
        waiting
            .values()
            .filter(|entry| entry.owed)
            .fold((0, 0), |(soon, later), entry| {
                if entry.until <= horizon {
                    (soon + 1, later)
                } else {
                    (soon, later + 1)
                }
            })
    }

    /// The owed synchronizations whose wait is over at `now`, each handed out once.
    pub(crate) fn due(&self, now: Instant) -> Vec<(TenantId, IntegrationId)> {
        let mut waiting = self.waiting.lock().expect("backoff map poisoned");
        waiting
            .iter_mut()
            .filter(|(_, w)| w.owed && w.until <= now)
            .map(|(id, w)| {
                w.owed = false;
                (w.tenant_id, *id)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_failures_honour_retry_after_and_end_on_success() {
        let backoff = VendorBackoff::default();
        let (id, tenant) = (
            IntegrationId::from_uuid(uuid::Uuid::from_u128(1)),
            TenantId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        let now = Instant::now();
        let seconds = |until: Instant| (until - now).as_secs();
        assert_eq!(seconds(backoff.failed(id, tenant, now, None)), 1);
        assert_eq!(seconds(backoff.failed(id, tenant, now, None)), 2);
        assert_eq!(
            seconds(backoff.failed(id, tenant, now, Some(Duration::from_secs(30)))),
            30
        );
        assert!(backoff.defer(id, now).is_some());
        assert!(backoff.due(now).is_empty(), "not before the wait is over");
        let later = now + Duration::from_secs(31);
        assert_eq!(backoff.due(later), [(tenant, id)]);
        assert!(backoff.due(later).is_empty(), "handed out once");
        assert!(backoff.defer(id, later).is_none());
        backoff.succeeded(id);
        assert_eq!(seconds(backoff.failed(id, tenant, now, None)), 1);
    }

    #[test]
    fn a_busy_vendor_owes_a_synchronization_but_defers_none() {
        let backoff = VendorBackoff::default();
        let (id, tenant) = (
            IntegrationId::from_uuid(uuid::Uuid::from_u128(1)),
            TenantId::from_uuid(uuid::Uuid::from_u128(2)),
        );
        let now = Instant::now();
        backoff.busy(id, tenant, now, Duration::from_secs(2));
        // A new synchronization tries for a slot at once: the slots decide, not the wait.
        assert!(backoff.defer(id, now).is_none());
        assert_eq!(backoff.owed(now), (0, 1));
        assert_eq!(backoff.due(now + Duration::from_secs(2)), [(tenant, id)]);
        // A failure after it is waited out.
        backoff.failed(id, tenant, now, None);
        assert!(backoff.defer(id, now).is_some());
    }
}
