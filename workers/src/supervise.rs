//! Keeps the job worker running. The queue's worker stops when polling for jobs fails (the
//! database unreachable for a moment, a SQLite lock held past its busy timeout); without a
//! restart the process would keep serving and relaying while no job ever ran again.

use std::{future::Future, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::{sync::watch, time::Instant};

/// How long a worker must have run for its failure to count as new trouble: the pause before
/// the next restart starts again from the shortest.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The pauses between restarts: from half a second, doubling, to at most half a minute, with
/// jitter so several processes on one database do not restart in step.
pub(crate) fn restart_pauses() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .with_jitter()
}

/// Runs `start(attempt)` until a run ends without error (the worker was told to stop) or
/// `shutdown` turns true; a run that fails is started again after a pause from `pauses`.
/// Returns how many runs were started.
pub(crate) async fn supervise<F, Fut>(
    mut start: F,
    mut shutdown: watch::Receiver<bool>,
    pauses: ExponentialBuilder,
) -> u32
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut backoff = pauses.build();
    let mut runs = 0;
    loop {
        runs += 1;
        let started = Instant::now();
        let Err(error) = start(runs).await else {
            return runs;
        };
        if *shutdown.borrow() {
            return runs;
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff = pauses.build();
        }
        let pause = backoff.next().unwrap_or(Duration::from_secs(30));
        tracing::error!(%error, run = runs, ?pause, "the job worker stopped; restarting it");
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = shutdown.wait_for(|stopping| *stopping) => return runs,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, time::Duration};

    use backon::ExponentialBuilder;
    use tokio::sync::watch;

    use super::supervise;

    fn no_pause() -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::ZERO)
            .with_max_delay(Duration::ZERO)
            .without_max_times()
    }

    #[tokio::test]
    async fn a_worker_whose_poll_failed_is_started_again_until_it_ends_cleanly() {
        let (_stop, shutdown) = watch::channel(false);
        let attempts = Cell::new(0);
        let runs = supervise(
            |run| {
                attempts.set(run);
                async move {
                    if run < 3 {
                        Err("database is locked".to_owned())
                    } else {
                        Ok(())
                    }
                }
            },
            shutdown,
            no_pause(),
        )
        .await;
        assert_eq!(runs, 3);
        assert_eq!(attempts.get(), 3);
    }

    #[tokio::test]
    async fn a_failure_while_shutting_down_is_not_restarted() {
        let (stop, shutdown) = watch::channel(false);
        let runs = supervise(
            |_| {
                stop.send_replace(true);
                async { Err("the pool was closed".to_owned()) }
            },
            shutdown,
            no_pause(),
        )
        .await;
        assert_eq!(runs, 1);
    }

    #[tokio::test]
    async fn shutting_down_ends_the_pause_before_a_restart() {
        let (stop, shutdown) = watch::channel(false);
        let long = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(3600))
            .with_max_delay(Duration::from_secs(3600))
            .without_max_times();
        let supervised = supervise(|_| async { Err("locked".to_owned()) }, shutdown, long);
        let stopper = async {
            tokio::task::yield_now().await;
            stop.send_replace(true);
        };
        let stopped = tokio::time::timeout(Duration::from_secs(30), async {
            tokio::join!(supervised, stopper).0
        });
        assert_eq!(stopped.await.expect("the pause ended at shutdown"), 1);
    }
}
