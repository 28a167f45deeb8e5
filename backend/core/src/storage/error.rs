use std::path::PathBuf;

use sea_orm::{DbErr, SqlErr};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create the data directory {}", path.display())]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot open the {location}")]
    Connect {
        location: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("cannot apply database migrations")]
    Migrate(#[source] DbErr),

    /// A unique constraint refused the write: the thing already exists.
    #[error("{what} already exists")]
    Conflict {
        what: &'static str,
        #[source]
        source: DbErr,
    },

    /// A stored value that Steward cannot interpret (a row written by a newer version, or edited
    /// by hand).
    #[error("stored {what} is not valid: {detail}")]
    Corrupt { what: &'static str, detail: String },

    #[error("database error")]
    Database(#[from] DbErr),
}

impl StorageError {
    /// Classifies a failed insert or update: a unique-constraint violation becomes
    /// [`StorageError::Conflict`] naming `what`.
    pub(crate) fn from_write(what: &'static str, err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                StorageError::Conflict { what, source: err }
            }
            _ => StorageError::Database(err),
        }
    }

    pub(crate) fn corrupt(what: &'static str, detail: &dyn std::fmt::Display) -> Self {
        StorageError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }
}
