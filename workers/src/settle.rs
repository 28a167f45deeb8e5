//! Waiting for the loop to be quiet: everything a worker could run now (or soon) has run.
//!
//! Tests and tools use it to check what the loop did, and what it did not do, without guessing
//! how long the workers take: the outbox is empty, the queue holds no job that is running or due
//! before a horizon, no vendor's wait ends before it, and a whole round of the scheduler's
//! chores (approval escalation and expiry, webhook retries, vendors' waits) ran after the call,
//! so a change of the clock made before it has been acted on.

use std::time::Duration;

use steward_core::{Storage, jobs::Outbox};
use tokio::sync::watch;

use crate::{Shared, queue};

/// Counts the scheduler's rounds of chores, so a caller can wait for one that began after a
/// change of its own.
#[derive(Debug, Clone)]
pub struct Rounds(std::sync::Arc<watch::Sender<RoundCount>>);

#[derive(Debug, Clone, Copy, Default)]
struct RoundCount {
    begun: u64,
    completed: u64,
    /// Rounds that queued every integration's synchronization.
    syncs: u64,
    /// Rounds that looked for stalled actions.
    sweeps: u64,
}

impl Default for Rounds {
    fn default() -> Self {
        Self(std::sync::Arc::new(watch::channel(RoundCount::default()).0))
    }
}

impl Rounds {
    pub(crate) fn begin(&self) {
        self.0.send_modify(|count| count.begun += 1);
    }

    pub(crate) fn complete(&self, synced: bool, swept: bool) {
        self.0.send_modify(|count| {
            count.completed += 1;
            count.syncs += u64::from(synced);
            count.sweeps += u64::from(swept);
        });
    }

    /// Waits until a round that began after this call has completed. The call, not the first
    /// poll, is the point of reference.
    fn next_whole(&self) -> impl Future<Output = ()> + use<> {
        let target = self.0.borrow().begun + 1;
        self.wait_for(move |count| count.completed >= target)
    }

    /// Waits until the scheduler has queued every integration's synchronization again, in a
    /// round that began after this call (not after the first poll).
    pub fn next_scheduled_sync(&self) -> impl Future<Output = ()> + use<> {
        self.next_with(|count| count.syncs)
    }

    /// Waits until the scheduler has looked for stalled actions again, in a round that began
    /// after this call (not after the first poll).
    pub fn next_sweep(&self) -> impl Future<Output = ()> + use<> {
        self.next_with(|count| count.sweeps)
    }

    /// Waits until `counter` grows in a round that began after this call.
    fn next_with(&self, counter: fn(&RoundCount) -> u64) -> impl Future<Output = ()> + use<> {
        let target = {
            let count = self.0.borrow();
            // A round in progress may count one from before the call: wait for a later one.
            counter(&count) + 1 + u64::from(count.completed < count.begun)
        };
        self.wait_for(move |count| counter(count) >= target)
    }

    fn wait_for<F>(&self, done: F) -> impl Future<Output = ()> + use<F>
    where
        F: Fn(&RoundCount) -> bool + Send + 'static,
    {
        let mut count = self.0.subscribe();
        async move {
            // The sender lives as long as the `Shared` holding it; if it is gone, so is the
            // scheduler, and there is nothing to wait for.
            let _ = count.wait_for(|count| done(count)).await;
        }
    }
}

/// The work left for the workers when [`settle`] returned or gave up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Jobs recorded but not yet handed to the queue.
    pub outbox: u64,
    /// Jobs a worker has taken and not finished.
    pub running: u64,
    /// Jobs (and vendors' owed synchronizations) due before the horizon.
    pub due: u64,
    /// Jobs (and vendors' owed synchronizations) due after the horizon, left for later.
    pub later: u64,
}

impl Backlog {
    /// Nothing runs, and nothing is due before the horizon.
    #[must_use]
    pub fn is_quiet(&self) -> bool {
        self.outbox == 0 && self.running == 0 && self.due == 0
    }
}

/// Why the loop did not settle.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the loop did not settle within {within:?}: {backlog:?} is left")]
    Busy { within: Duration, backlog: Backlog },
    #[error("the workers are shutting down: nothing settles without them")]
    Stopped,
    #[error("cannot read the outbox: {0}")]
    Outbox(#[from] steward_core::StorageError),
    #[error("cannot read the job queue: {0}")]
    Queue(#[from] sqlx::Error),
}

/// Waits until the loop is quiet, treating work due within `horizon` as work to wait for.
///
/// The workers (`crate::run` with this `shared`, or its clone) must be running: this runs no job
/// itself, so a second runner cannot send an email or call a vendor twice.
///
/// # Errors
/// [`SettleError::Busy`] when the loop is not quiet within `within`, [`SettleError::Stopped`]
/// when the workers are shutting down; the others when the database cannot be read.
pub async fn settle(
    shared: &Shared,
    horizon: Duration,
    within: Duration,
) -> Result<Backlog, SettleError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if shared.stopping() {
            return Err(SettleError::Stopped);
        }
        let round = tokio::time::timeout_at(deadline, shared.rounds.next_whole()).await;
        let left = backlog(shared, horizon).await?;
        if round.is_ok() && left.is_quiet() {
            return Ok(left);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SettleError::Busy {
                within,
                backlog: left,
            });
        }
        tokio::time::sleep(shared.settings.poll_interval).await;
    }
}

/// The work left now, jobs due within `horizon` counted as due: [`unfinished`] and the
/// synchronizations owed once a vendor's wait is over.
///
/// # Errors
/// When the database cannot be read.
pub async fn backlog(shared: &Shared, horizon: Duration) -> Result<Backlog, SettleError> {
    let mut left = unfinished(&shared.storage, horizon).await?;
    let (owed_soon, owed_later) = shared.backoff.owed(tokio::time::Instant::now() + horizon);
    left.due += owed_soon;
    left.later += owed_later;
    Ok(left)
}

/// The jobs recorded in the database and not finished: those in the outbox, and those in the
/// queue that are running or wait to run (again), jobs due within `horizon` counted as due.
/// Whichever process runs them.
///
/// # Errors
/// When the database cannot be read.
pub async fn unfinished(storage: &Storage, horizon: Duration) -> Result<Backlog, SettleError> {
    let outbox = Outbox::new(storage.conn()).backlog().await?;
    let queued = queue::backlog(&storage.pool(), horizon).await?;
    Ok(Backlog {
        outbox,
        running: queued.running,
        due: queued.due,
        later: queued.later,
    })
}

#[cfg(test)]
mod tests {
    use std::{
        pin::Pin,
        task::{Context, Waker},
    };

    use super::*;

    fn ready<F: Future>(future: &mut Pin<Box<F>>) -> bool {
        future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_ready()
    }

    #[test]
    fn a_round_already_begun_at_the_call_does_not_count() {
        let rounds = Rounds::default();
        rounds.begin();
        let mut next = Box::pin(rounds.next_whole());
        assert!(!ready(&mut next));
        rounds.complete(false, false);
        assert!(!ready(&mut next), "that round began before the call");
        rounds.begin();
        assert!(!ready(&mut next), "begun is not completed");
        rounds.complete(false, false);
        assert!(ready(&mut next));
    }

    #[test]
    fn between_rounds_the_next_one_is_enough() {
        let rounds = Rounds::default();
        rounds.begin();
        rounds.complete(false, false);
        let mut next = Box::pin(rounds.next_whole());
        assert!(!ready(&mut next));
        rounds.begin();
        rounds.complete(false, false);
        assert!(ready(&mut next));
    }

    #[test]
    fn only_a_round_that_queued_synchronizations_is_a_scheduled_sync() {
        let rounds = Rounds::default();
        let mut sync = Box::pin(rounds.next_scheduled_sync());
        let mut sweep = Box::pin(rounds.next_sweep());
        rounds.begin();
        rounds.complete(false, true);
        assert!(!ready(&mut sync), "that round only swept");
        assert!(ready(&mut sweep));
        rounds.begin();
        let mut after = Box::pin(rounds.next_scheduled_sync());
        rounds.complete(true, false);
        assert!(ready(&mut sync));
        assert!(
            !ready(&mut after),
            "the round in progress at the call may have queued them before it"
        );
        rounds.begin();
        rounds.complete(true, false);
        assert!(ready(&mut after));
    }

    #[test]
    fn quiet_means_nothing_runs_and_nothing_is_due_before_the_horizon() {
        let quiet = Backlog {
            later: 3,
            ..Backlog::default()
        };
        assert!(quiet.is_quiet());
        for busy in [
            Backlog { outbox: 1, ..quiet },
            Backlog {
                running: 1,
                ..quiet
            },
            Backlog { due: 1, ..quiet },
        ] {
            assert!(!busy.is_quiet(), "{busy:?}");
        }
    }
}
