use uuid::{NoContext, Timestamp, Uuid};

use crate::clock::Clock;

/// A new UUIDv7 whose time part comes from the injected clock.
#[must_use]
pub fn new_id(clock: &dyn Clock) -> Uuid {
    let now = clock.now();
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        seconds,
        now.timestamp_subsec_nanos(),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration};

    use super::*;
    use crate::MockClock;

    #[test]
    fn ids_sort_by_clock_time() {
        let clock = MockClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let first = new_id(&clock);
        clock.advance(Duration::milliseconds(1));
        let second = new_id(&clock);
        assert_eq!(first.get_version_num(), 7);
        assert!(first < second);
    }
}
