//! The job queue: apalis storage on Steward's own database, SQLite or PostgreSQL.

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use steward_core::{jobs::Job, storage::Pool};

/// The one queue every Steward job goes through.
pub const QUEUE: &str = "steward";

/// Tries of a job whose failures are retryable, before it is recorded as failed for good.
/// With the default [`crate::JobRetry`] the last one comes about three hours after the first.
pub const MAX_ATTEMPTS: usize = 25;

/// How the queue notices dead workers: a worker that misses this many heartbeats has its
/// running jobs handed to another.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    pub heartbeat: Duration,
    pub missed_heartbeats: usize,
}

/// The queue on one of the two engines.
#[derive(Clone)]
pub enum JobQueue {
    Sqlite(SqliteStorage<Job>),
    Postgres(PostgresStorage<Job>),
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobQueue::Sqlite(_) => "JobQueue::Sqlite",
            JobQueue::Postgres(_) => "JobQueue::Postgres",
        })
    }
}

/// Why the queue could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("cannot create the job queue's tables: {0}")]
    Setup(String),
    #[error("cannot enqueue a job: {0}")]
    Push(String),
}

impl JobQueue {
    /// Creates the queue's tables if needed and opens it.
    ///
    /// For SQLite only the queue's migrations run, not its `setup`, which would also switch
    /// `synchronous` off on whichever shared connection ran it.
    ///
    /// # Errors
    /// [`QueueError::Setup`] when the tables cannot be created.
    pub async fn open(pool: &Pool, liveness: Liveness) -> Result<Self, QueueError> {
        match pool {
            Pool::Sqlite(pool) => {
                SqliteStorage::<()>::migrations()
                    .run(pool)
                    .await
                    .map_err(|e| QueueError::Setup(e.to_string()))?;
                let config = apalis_sqlite::Config::default()
                    .queue(QUEUE)
                    .heartbeat_interval(liveness.heartbeat)
                    .missed_heartbeats(liveness.missed_heartbeats);
                Ok(JobQueue::Sqlite(
                    SqliteStorage::new(pool).with_config(config),
                ))
            }
            Pool::Postgres(pool) => {
                PostgresStorage::<()>::setup(pool)
                    .await
                    .map_err(|e| QueueError::Setup(e.to_string()))?;
                let config = apalis_postgres::Config::default()
                    .queue(QUEUE)
                    .heartbeat_interval(liveness.heartbeat)
                    .missed_heartbeats(liveness.missed_heartbeats);
                Ok(JobQueue::Postgres(
                    PostgresStorage::new(pool).with_config(config),
                ))
            }
        }
    }

    /// Hands a job to the queue.
    ///
    /// # Errors
    /// [`QueueError::Push`] when the database refuses it.
    pub async fn push(&mut self, job: Job) -> Result<(), QueueError> {
        let task = TaskBuilder::new(job).max_attempts(MAX_ATTEMPTS).build();
        match self {
            JobQueue::Sqlite(storage) => storage
                .push_task(task)
                .await
                .map(drop)
                .map_err(|e| QueueError::Push(e.to_string())),
            JobQueue::Postgres(storage) => storage
                .push_task(task)
                .await
                .map(drop)
                .map_err(|e| QueueError::Push(e.to_string())),
        }
    }
}

/// Has the queue run a job that just failed again `wait` from now, not at once.
///
/// The time is the database's: the queue compares a job's due time with it.
///
/// # Errors
/// When the database refuses the update.
pub(crate) async fn run_again_after(
    pool: &Pool,
    task_id: &TaskId,
    wait: Duration,
) -> Result<(), sqlx::Error> {
    let id = task_id.to_string();
    match pool {
        Pool::Sqlite(pool) => {
            let seconds = i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
            sqlx::query("UPDATE Jobs SET run_at = CAST(strftime('%s', 'now') AS INTEGER) + ?1 WHERE id = ?2")
                .bind(seconds)
                .bind(id)
                .execute(pool)
                .await?;
        }
        Pool::Postgres(pool) => {
            sqlx::query(
                "UPDATE apalis.jobs SET run_at = now() + make_interval(secs => $1) WHERE id = $2",
            )
            .bind(wait.as_secs_f64())
            .bind(id)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// A job the queue holds because its last try failed.
#[derive(Debug, Clone)]
pub struct FailedJob {
    /// The queue's id of the job.
    pub id: String,
    /// What the job does; `None` when its stored form cannot be read.
    pub job: Option<Job>,
    /// Tries so far.
    pub attempts: i64,
    /// When it runs again; `None` when it failed for good.
    pub next_try: Option<chrono::DateTime<chrono::Utc>>,
    /// Why the last try failed.
    pub reason: String,
}

/// The failed jobs in the queue, those that failed for good first, then by their next try.
///
/// # Errors
/// When the database cannot be read.
pub async fn failed_jobs(pool: &Pool, limit: u32) -> Result<Vec<FailedJob>, sqlx::Error> {
    type Row = (String, String, i64, i64, i64, Vec<u8>, Option<String>);
    let rows: Vec<Row> =
        match pool {
            Pool::Sqlite(pool) => sqlx::query_as(
                "SELECT id, status, attempts, max_attempts, run_at, CAST(job AS BLOB), last_result \
                 FROM Jobs WHERE job_type = ?1 AND status IN ('Failed', 'Killed') \
                 ORDER BY (status = 'Failed' AND attempts < max_attempts), run_at, id LIMIT ?2",
            )
            .bind(QUEUE)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?,
            Pool::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT id, status, attempts::bigint, max_attempts::bigint, \
                 floor(extract(epoch FROM run_at))::bigint, job, last_result::text \
                 FROM apalis.jobs WHERE job_type = $1 AND status IN ('Failed', 'Killed') \
                 ORDER BY (status = 'Failed' AND attempts < max_attempts), run_at, id LIMIT $2",
                )
                .bind(QUEUE)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
            }
        };
    Ok(rows
        .into_iter()
        .map(
            |(id, status, attempts, max_attempts, run_at, job, last_result)| {
                let retrying = status == "Failed" && attempts < max_attempts;
                FailedJob {
                    id,
                    job: serde_json::from_slice(&job).ok(),
                    attempts,
                    next_try: retrying
                        .then(|| chrono::DateTime::from_timestamp(run_at, 0))
                        .flatten(),
                    reason: last_result
                        .as_deref()
                        .map(failure_reason)
                        .unwrap_or_default(),
                }
            },
        )
        .collect())
}

/// The reason in a job's stored result: `{"Err": "…"}`, without the queue's own prefix for
/// a job that ended for good.
fn failure_reason(stored: &str) -> String {
    let reason = match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(result)) => match result.get("Err") {
            Some(serde_json::Value::String(reason)) => reason.clone(),
            _ => stored.to_owned(),
        },
        Ok(serde_json::Value::String(reason)) => reason,
        _ => stored.to_owned(),
    };
    reason
        .strip_prefix("AbortError: ")
        .map_or(reason.clone(), str::to_owned)
}

/// The queue's jobs that are not finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueueBacklog {
    /// Taken by a worker (or by one that died, until the queue hands them on).
    pub running: u64,
    /// Waiting, due before the horizon.
    pub due: u64,
    /// Waiting, due after it.
    pub later: u64,
}

/// Counts the unfinished jobs as the queue's own fetch sees them: a job waits when it is
/// pending, or failed with tries left.
pub(crate) async fn backlog(pool: &Pool, horizon: Duration) -> Result<QueueBacklog, sqlx::Error> {
    // SQLite keeps whole seconds: a job due within the horizon's last second counts as due.
    let horizon_secs = i64::try_from(horizon.as_secs())
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let (running, due, later): (i64, i64, i64) = match pool {
        Pool::Sqlite(pool) => {
            sqlx::query_as(
                "SELECT \
                   COALESCE(SUM(status IN ('Queued', 'Running')), 0), \
                   COALESCE(SUM(waiting AND (run_at IS NULL OR run_at <= now + ?2)), 0), \
                   COALESCE(SUM(waiting AND run_at > now + ?2), 0) \
                 FROM (SELECT status, run_at, \
                         (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts)) AS waiting, \
                         CAST(strftime('%s', 'now') AS INTEGER) AS now \
                       FROM Jobs WHERE job_type = ?1)",
            )
            .bind(QUEUE)
            .bind(horizon_secs)
            .fetch_one(pool)
            .await?
        }
        Pool::Postgres(pool) => {
            sqlx::query_as(
                "SELECT \
                   count(*) FILTER (WHERE status IN ('Queued', 'Running')), \
                   count(*) FILTER (WHERE waiting AND (run_at IS NULL OR run_at <= now() + make_interval(secs => $2))), \
                   count(*) FILTER (WHERE waiting AND run_at > now() + make_interval(secs => $2)) \
                 FROM (SELECT status, run_at, \
                         (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts)) AS waiting \
                       FROM apalis.jobs WHERE job_type = $1) AS unfinished",
            )
            .bind(QUEUE)
            .bind(horizon.as_secs_f64())
            .fetch_one(pool)
            .await?
        }
    };
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(QueueBacklog {
        running: count(running),
        due: count(due),
        later: count(later),
    })
}
