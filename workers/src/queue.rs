//! The job queue: apalis storage on Steward's own database, SQLite or PostgreSQL.

use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use steward_core::{jobs::Job, storage::Pool};

/// The one queue every Steward job goes through.
pub const QUEUE: &str = "steward";

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
        match self {
            JobQueue::Sqlite(storage) => storage
                .push(job)
                .await
                .map(drop)
                .map_err(|e| QueueError::Push(e.to_string())),
            JobQueue::Postgres(storage) => storage
                .push(job)
                .await
                .map(drop)
                .map_err(|e| QueueError::Push(e.to_string())),
        }
    }
}
