//! Time, injected.
//!
//! Code that needs the current time takes a [`Clock`] instead of calling `Utc::now()`, so tests
//! can pin and advance time (token expiry, approval deadlines, throttling windows).

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};

/// A source of the current time.
///
/// Times are truncated to whole microseconds: that is what PostgreSQL stores, so a value read back
/// from either backend equals the value written (audit hashes depend on it).
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        #[expect(
            clippy::disallowed_methods,
            reason = "the one place the wall clock is read"
        )]
        let now = Utc::now();
        truncate_to_micros(now)
    }
}

/// A clock that stands still until told to move; for tests.
#[derive(Debug, Clone)]
pub struct MockClock {
    micros: Arc<AtomicI64>,
}

impl MockClock {
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            micros: Arc::new(AtomicI64::new(start.timestamp_micros())),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

impl Clock for MockClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::SeqCst))
            .expect("mock clock stays within chrono's range")
    }
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_has_microsecond_precision() {
        let now = SystemClock.now();
        assert_eq!(now.timestamp_subsec_nanos() % 1_000, 0);
    }

    #[test]
    fn mock_clock_advances() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = MockClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::minutes(5));
        assert_eq!(clock.now(), start + Duration::minutes(5));
    }
}
