//! Steward's storage: one code path over SQLite and PostgreSQL.
//!
//! [`Storage`] owns the connection pool. Data is reached through handles that carry their scope:
//! a [`Deployment`] for deployment-wide operations (start-up, the CLI, authentication), an
//! [`MspScope`] that can only see one MSP, and (for tenant data) a tenant scope that can only see
//! one tenant. Every query a scoped handle runs carries its scope's filter, so a request handler
//! cannot read another tenant's data by forgetting a check.
//!
//! Handles are generic over the connection: pass the [`Storage`]'s connection for single
//! statements, or a transaction from [`Storage::begin`] to group writes that the caller commits.

pub(crate) mod actions;
pub mod approval_links;
pub(crate) mod baselines;
pub mod config;
pub mod contexts;
mod correlation_windows;
pub mod detection_rules;
pub mod entities;
mod error;
mod guardrails;
mod ids;
pub mod inbound_webhooks;
pub(crate) mod incidents;
mod integrations;
pub(crate) mod inventory;
pub(crate) mod locks;
mod msps;
pub mod outbound_webhooks;
mod pagination;
mod policies;
mod risk_scores;
mod sandbox;
mod scopes;
mod scoping;
pub(crate) mod second_factors;
pub mod slack;
pub mod suppressions;
mod tenants;
pub(crate) mod tickets;
mod tokens;
mod users;
pub mod vendor_slots;
mod work;

use std::{path::Path, str::FromStr};

use sea_orm::{
    ConnectionTrait, SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector,
    TransactionOptions, TransactionTrait,
};
use sqlx::{
    ConnectOptions,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use steward_migrations::{Migrator, MigratorTrait};

/// The connection and transaction types the handles run on.
pub use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

pub(crate) use self::tokens::{generate_secret, hash_secret};
pub use self::{
    actions::{
        ActionReader, ActionRequestError, Deadlines, Proposal, Update as ActionUpdate,
        action_version,
    },
    baselines::BaselineReader,
    config::{DatabaseConfig, DatabaseTarget, DatabaseUrl},
    error::StorageError,
    guardrails::{ACTIVITY_WINDOW, GuardrailError, GuardrailReader, MAX_HALT_REASON},
    ids::new_id,
    incidents::{Detected, IncidentReader, IncidentUpdateError},
    integrations::{
        CheckOutcome, IntegrationAdmin, IntegrationAdminError, IntegrationChanges,
        IntegrationDirectory, NewIntegration,
    },
    inventory::InventoryReader,
    msps::{MspRepository, MspSettingsError, NewMsp, domain_holder as msp_domain_holder},
    pagination::{Page, PageRequest},
    policies::{CheckedPolicy, PolicyUpdateError},
    risk_scores::RiskReader,
    sandbox::SandboxEnvironments,
    scopes::{
        Deployment, MspAdmin, MspScope, TenantContext, TenantScope, TenantScopeError, WriteContext,
    },
    tenants::{
        DEFAULT_AUTOMATION_LEVEL, NewTenant, TenantAdmin, TenantAdminError, TenantChanges,
        TenantDirectory, TenantSettings,
    },
    tickets::{TicketReader, TicketSeen},
    tokens::{IssuedToken, OwnTokens, TOKEN_PREFIX, TokenDirectory, TokenRevokeError},
    users::{NewUser, UserAdmin, UserAdminError, UserChanges, UserDirectory, normalize_email},
    work::{TenantWork, WorkError},
};
pub(crate) use self::{
    guardrails::{active_halt, engage as engage_halt, release as release_halt},
    tokens::find_by_secret as find_token_by_secret,
    users::find_user,
};

/// Which database engine Steward is running on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A sqlx pool of either engine.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The database behind Steward: a connection pool and the knowledge of which engine it is.
#[derive(Debug, Clone)]
pub struct Storage {
    conn: DatabaseConnection,
    backend: Backend,
    location: String,
}

/// How to open one connection, per backend.
enum Options {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

/// Key of the PostgreSQL advisory lock that serializes migrations across processes.
const MIGRATION_LOCK_KEY: i64 = 0x5354_4557_4152_4431; // "STEWARD1"

impl Storage {
    /// Opens the database the configuration selects and checks that it answers.
    ///
    /// For SQLite the file (and the data directory) are created when missing, and the connection
    /// runs with write-ahead logging, foreign keys enforced and a busy timeout.
    ///
    /// # Errors
    /// [`StorageError::DataDir`] when the data directory cannot be created,
    /// [`StorageError::Connect`] when the database cannot be reached.
    pub async fn connect(config: &DatabaseConfig, data_dir: &Path) -> Result<Self, StorageError> {
        let (storage, options) = Self::open(config, data_dir, true)?;
        // One direct connection first: a pool only reports "timed out", while the driver says
        // why (connection refused, authentication failed, no such database).
        let probe = async {
            match options {
                Options::Sqlite(options) => options.connect().await.map(drop),
                Options::Postgres(options) => match options.connect().await {
                    Ok(_) => Ok(()),
                    // The server answers, but the database is not there: say how to make it.
                    Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some("3D000") => {
                        let name = options.get_database().unwrap_or("steward");
                        let host = options.get_host();
                        let port = options.get_port();
                        let user = options.get_username();
                        Err(sqlx::Error::Configuration(
                            format!(
                                "the server has no database {name:?}: create it with \
                                 `createdb -h {host} -p {port} -U {user} {name}` (or \
                                 CREATE DATABASE \"{name}\"; in psql), then start again"
                            )
                            .into(),
                        ))
                    }
                    Err(err) => Err(err),
                },
            }
        };
        let outcome = tokio::time::timeout(config.connect_timeout(), probe).await;
        let error: Option<Box<dyn std::error::Error + Send + Sync>> = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(err)) => Some(Box::new(err)),
            Err(_) => Some(format!("no answer within {:?}", config.connect_timeout()).into()),
        };
        match error {
            None => Ok(storage),
            Some(source) => Err(StorageError::Connect {
                location: storage.location,
                source,
            }),
        }
    }

    /// Like [`Storage::connect`], but connects on first use instead of now.
    ///
    /// # Errors
    /// [`StorageError::DataDir`] when the data directory cannot be created.
    pub fn connect_lazy(config: &DatabaseConfig, data_dir: &Path) -> Result<Self, StorageError> {
        Self::open(config, data_dir, false).map(|(storage, _)| storage)
    }

    fn open(
        config: &DatabaseConfig,
        data_dir: &Path,
        create_data_dir: bool,
    ) -> Result<(Self, Options), StorageError> {
        match config.target(data_dir) {
            DatabaseTarget::Sqlite { path } => {
                if create_data_dir
                    && let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty())
                {
                    create_private_dir(dir)?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(config.busy_timeout());
                let pool = SqlitePoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.connect_timeout())
                    .connect_lazy_with(options.clone());
                let storage = Self {
                    conn: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
                    backend: Backend::Sqlite,
                    location: format!("SQLite database {}", path.display()),
                };
                Ok((storage, Options::Sqlite(options)))
            }
            DatabaseTarget::Postgres { url } => {
                let location = format!("PostgreSQL database {}", url.redacted());
                let options = PgConnectOptions::from_str(url.expose())
                    .map_err(|source| StorageError::Connect {
                        location: location.clone(),
                        source: Box::new(source),
                    })?
                    .application_name("steward")
                    .disable_statement_logging();
                let pool = PgPoolOptions::new()
                    .max_connections(config.max_connections)
                    .acquire_timeout(config.connect_timeout())
                    .connect_lazy_with(options.clone());
                let storage = Self {
                    conn: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
                    backend: Backend::Postgres,
                    location,
                };
                Ok((storage, Options::Postgres(options)))
            }
        }
    }

    /// A connection pool on the same database for components that speak sqlx themselves (the
    /// job queue, so jobs live in the same database as the changes that cause them). On
    /// PostgreSQL it is Steward's own pool; on SQLite a small second pool on the same file.
    #[must_use]
    pub fn pool(&self) -> Pool {
        match self.backend {
            Backend::Sqlite => {
                // The job queue's SQLite statements are not kept prepared: sqlx caches a
                // statement's columns when it first prepares it, and a statement prepared
                // while the queue's own migrations were still adding columns would read rows
                // against the old column list.
                let pool = self.conn.get_sqlite_connection_pool();
                let options = (*pool.connect_options())
                    .clone()
                    .statement_cache_capacity(0);
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(pool.options().get_max_connections().clamp(1, 4))
                        .acquire_timeout(pool.options().get_acquire_timeout())
                        .connect_lazy_with(options),
                )
            }
            Backend::Postgres => Pool::Postgres(self.conn.get_postgres_connection_pool().clone()),
        }
    }

    /// The database engine in use.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the data lives, for people to read (passwords redacted).
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The pooled connection, for handles that run single statements.
    #[must_use]
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Deployment-wide operations. Request handlers use the scoped handles of the caller instead.
    #[must_use]
    pub fn deployment(&self) -> Deployment<'_, DatabaseConnection> {
        Deployment::new(&self.conn)
    }

    /// Starts a transaction for writes; nothing is stored until the caller commits it.
    ///
    /// On SQLite the transaction takes the write lock at once (`BEGIN IMMEDIATE`), so two writers
    /// queue behind the busy timeout instead of one failing when it upgrades a read lock.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn begin(&self) -> Result<DatabaseTransaction, StorageError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    /// Begins a transaction that only reads (asking the policy what it would decide, for one),
    /// and is rolled back: on SQLite it takes no write lock (`BEGIN DEFERRED`), so such a page
    /// does not queue behind the writers; on PostgreSQL it is `READ ONLY`, so a write by
    /// mistake fails instead of being kept.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn begin_read(&self) -> Result<DatabaseTransaction, StorageError> {
        let options = match self.backend {
            Backend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Deferred),
                ..TransactionOptions::default()
            },
            Backend::Postgres => TransactionOptions {
                access_mode: Some(sea_orm::AccessMode::ReadOnly),
                ..TransactionOptions::default()
            },
        };
        Ok(self.conn.begin_with_options(options).await?)
    }

    /// Checks that the database answers a query.
    ///
    /// # Errors
    /// When it does not, with the driver's reason.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.conn.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// The names of migrations not yet applied, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StorageError> {
        Migrator::install(&self.conn)
            .await
            .map_err(StorageError::Migrate)?;
        let pending = Migrator::get_pending_migrations(&self.conn)
            .await
            .map_err(StorageError::Migrate)?;
        Ok(pending.iter().map(|m| m.name().to_owned()).collect())
    }

    /// Applies every pending migration in one transaction and returns their names.
    ///
    /// Safe to run from several processes at once: on PostgreSQL an advisory lock lets one
    /// process migrate while the others wait, then find nothing left to do; on SQLite the write
    /// lock does the same.
    ///
    /// # Errors
    /// [`StorageError::Migrate`] when a migration fails; nothing is applied then.
    pub async fn migrate(&self) -> Result<Vec<String>, StorageError> {
        let txn = self.begin().await?;
        if self.backend == Backend::Postgres {
            txn.execute_unprepared(&format!(
                "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
            ))
            .await?;
        }
        Migrator::install(&txn)
            .await
            .map_err(StorageError::Migrate)?;
        let pending: Vec<String> = Migrator::get_pending_migrations(&txn)
            .await
            .map_err(StorageError::Migrate)?
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        Migrator::up(&txn, None)
            .await
            .map_err(StorageError::Migrate)?;
        txn.commit().await?;
        Ok(pending)
    }

    /// Closes every pooled connection.
    ///
    /// # Errors
    /// When the driver fails to close a connection cleanly.
    pub async fn close(self) -> Result<(), StorageError> {
        Ok(self.conn.close().await?)
    }
}

/// Creates the data directory readable by its owner only: it holds the database and keys.
fn create_private_dir(dir: &Path) -> Result<(), StorageError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| StorageError::DataDir {
        path: dir.to_owned(),
        source,
    })
}
