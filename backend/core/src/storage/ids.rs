use std::sync::{Mutex, PoisonError};

use uuid::{ContextV7, Timestamp, Uuid};

use crate::clock::Clock;

/// A new UUIDv7 whose time part comes from the injected clock.
///
/// Ids from one process sort in the order they were made, even within one millisecond (a
/// counter fills the bits below the timestamp), so lists ordered by id are in creation order.
#[must_use]
pub fn new_id(clock: &dyn Clock) -> Uuid {
    static CONTEXT: Mutex<ContextV7> = Mutex::new(ContextV7::new());
    let now = clock.now();
    let seconds = u64::try_from(now.timestamp()).unwrap_or(0);
    let context = CONTEXT.lock().unwrap_or_else(PoisonError::into_inner);
    Uuid::new_v7(Timestamp::from_unix(
        &*context,
        seconds,
        now.timestamp_subsec_nanos(),
    ))
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::MockClock;

    #[test]
    fn ids_sort_in_creation_order_even_within_a_millisecond() {
        let clock = MockClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        let ids: Vec<Uuid> = (0..1000).map(|_| new_id(&clock)).collect();
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
