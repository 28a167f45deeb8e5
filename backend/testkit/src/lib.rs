//! Test support: a fresh database per test, on SQLite or PostgreSQL.
//!
//! The backend is chosen by the environment, so the same tests run on both:
//!
//! - default: a temporary SQLite file (never `sqlite::memory:`, whose shared-cache mode behaves
//!   differently from the file Steward really uses);
//! - `STEWARD_TEST_DATABASE_URL=postgres://…`: a fresh database created on that PostgreSQL server
//!   for each test and dropped afterwards;
//! - `STEWARD_TEST_BACKEND=postgres`: the same on the local server
//!   (`postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! When PostgreSQL is selected but unreachable the test fails: a suite that was asked to run on
//! PostgreSQL never passes by quietly running on something else.

pub mod tamper;
mod world;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    Connection, Executor,
    postgres::{PgConnectOptions, PgConnection},
};
use steward_core::{
    SystemClock,
    storage::{Backend, DatabaseConfig, DatabaseUrl, Storage, new_id},
};
use tempfile::TempDir;

pub use self::world::World;

/// The PostgreSQL server used when `STEWARD_TEST_BACKEND=postgres` names no URL.
pub const LOCAL_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Prefix of every database the harness creates, so stray ones are easy to find and drop.
pub const TEST_DATABASE_PREFIX: &str = "steward_test_";

/// Which backend the environment asks the tests to run on.
#[must_use]
pub fn selected_backend() -> Backend {
    match postgres_server_url() {
        Some(_) => Backend::Postgres,
        None => Backend::Sqlite,
    }
}

fn postgres_server_url() -> Option<String> {
    if let Ok(url) = std::env::var("STEWARD_TEST_DATABASE_URL")
        && !url.is_empty()
    {
        return Some(url);
    }
    match std::env::var("STEWARD_TEST_BACKEND").as_deref() {
        Ok("postgres") => Some(LOCAL_POSTGRES_URL.to_owned()),
        Ok("sqlite") | Ok("") | Err(_) => None,
        Ok(other) => panic!("STEWARD_TEST_BACKEND={other:?}: expected \"sqlite\" or \"postgres\""),
    }
}

/// A database that exists for one test, with a data directory beside it.
///
/// Dropping it removes both (on PostgreSQL, the database is dropped on the server).
#[derive(Debug)]
pub struct TestDatabase {
    config: DatabaseConfig,
    data_dir: TempDir,
    postgres: Option<PostgresDatabase>,
}

#[derive(Debug)]
struct PostgresDatabase {
    server: PgConnectOptions,
    name: String,
}

impl TestDatabase {
    /// A fresh, empty database: no tables, no migrations applied.
    ///
    /// # Panics
    /// When the selected backend cannot provide one (PostgreSQL down, disk full).
    pub async fn empty() -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("steward-test-")
            .tempdir()
            .expect("create a temporary data directory");
        match postgres_server_url() {
            None => Self {
                config: DatabaseConfig::default(),
                data_dir,
                postgres: None,
            },
            Some(server_url) => {
                let (config, postgres) = create_postgres_database(&server_url).await;
                Self {
                    config,
                    data_dir,
                    postgres: Some(postgres),
                }
            }
        }
    }

    /// A fresh database with every migration applied.
    ///
    /// # Panics
    /// As [`TestDatabase::empty`], or when a migration fails.
    pub async fn migrated() -> Self {
        let db = Self::empty().await;
        let storage = db.connect().await;
        storage.migrate().await.expect("apply migrations");
        storage.close().await.expect("close the pool");
        db
    }

    /// Opens a connection pool on this database.
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub async fn connect(&self) -> Storage {
        Storage::connect(&self.config, self.data_dir.path())
            .await
            .expect("open the test database")
    }

    /// The `[database]` configuration pointing at this database.
    #[must_use]
    pub fn config(&self) -> &DatabaseConfig {
        &self.config
    }

    /// The data directory that goes with this database (holds the SQLite file on SQLite).
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The database URL to hand to a `steward` process, if it is not the default SQLite file.
    #[must_use]
    pub fn url(&self) -> Option<&DatabaseUrl> {
        self.config.url.as_ref()
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        if self.postgres.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

async fn create_postgres_database(server_url: &str) -> (DatabaseConfig, PostgresDatabase) {
    let server = PgConnectOptions::from_str(server_url)
        .unwrap_or_else(|err| panic!("STEWARD_TEST_DATABASE_URL is not a PostgreSQL URL: {err}"));
    let name = format!("{TEST_DATABASE_PREFIX}{}", new_id(&SystemClock).simple());
    let mut admin = connect_server(&server).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .await
        .unwrap_or_else(|err| panic!("create test database {name}: {err}"));
    admin.close().await.ok();

    let mut url = url::Url::parse(server_url).expect("a PostgreSQL URL");
    url.set_path(&name);
    let config = DatabaseConfig {
        url: Some(DatabaseUrl::try_from(url.to_string()).expect("a valid database URL")),
        max_connections: 5,
        ..DatabaseConfig::default()
    };
    (config, PostgresDatabase { server, name })
}

async fn connect_server(server: &PgConnectOptions) -> PgConnection {
    tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(server))
        .await
        .map_err(|_| "timed out".to_owned())
        .and_then(|res| res.map_err(|err| err.to_string()))
        .unwrap_or_else(|err| {
            panic!(
                "the tests were asked to run on PostgreSQL at {}:{}, which is unreachable: {err}",
                server.get_host(),
                server.get_port()
            )
        })
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which cannot be blocked on; a short-lived
        // thread with its own runtime drops the database instead.
        let server = self.server.clone();
        let name = std::mem::take(&mut self.name);
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database");
            runtime.block_on(drop_database_quietly(&server, &name));
        });
        let _ = dropper.join();
    }
}

/// Best effort: a database left behind by a failure here is dropped by the next run of the test
/// script, which removes every database named with [`TEST_DATABASE_PREFIX`].
async fn drop_database_quietly(server: &PgConnectOptions, name: &str) {
    if let Ok(mut admin) = PgConnection::connect_with(server).await {
        let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        let _ = admin.execute(sqlx::AssertSqlSafe(statement)).await;
        let _ = admin.close().await;
    }
}
