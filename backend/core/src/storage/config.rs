//! The `[database]` configuration section.

use std::{fmt, path::Path, time::Duration};

use serde::{Deserialize, Serialize, Serializer};

use crate::settings::InvalidSetting;

/// Where Steward keeps its data and how it connects.
///
/// Without a URL, Steward uses an SQLite file in the data directory, which needs nothing
/// installed. Set `url` (or the environment variable `STEWARD_DATABASE_URL`) to a
/// `postgres://` URL to use PostgreSQL.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` or `sqlite://PATH`; empty for SQLite in the
    /// data directory.
    pub url: Option<DatabaseUrl>,
    /// Upper bound of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database unreachable.
    pub connect_timeout_seconds: u64,
    /// How long an SQLite writer waits for another writer to finish.
    pub sqlite_busy_timeout_seconds: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
            connect_timeout_seconds: 10,
            sqlite_busy_timeout_seconds: 5,
        }
    }
}

impl DatabaseConfig {
    /// Checks the values that parse but make no sense.
    pub fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems = Vec::new();
        if self.max_connections == 0 {
            problems.push(InvalidSetting::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.connect_timeout_seconds == 0 {
            problems.push(InvalidSetting::new(
                "database.connect_timeout_seconds",
                "must be at least 1",
            ));
        }
        problems
    }

    /// The database this configuration selects, given the data directory.
    #[must_use]
    pub fn target(&self, data_dir: &Path) -> DatabaseTarget {
        match &self.url {
            Some(url) => url.target(),
            None => DatabaseTarget::Sqlite {
                path: data_dir.join(DEFAULT_SQLITE_FILE),
            },
        }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_seconds)
    }

    pub(crate) fn busy_timeout(&self) -> Duration {
        Duration::from_secs(self.sqlite_busy_timeout_seconds)
    }
}

/// The SQLite file used when no database URL is configured.
pub const DEFAULT_SQLITE_FILE: &str = "steward.db";

/// Which database a configuration points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Sqlite { path: std::path::PathBuf },
    Postgres { url: DatabaseUrl },
}

/// A database URL. Its password never appears in logs, errors or `steward config`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL including its password, for opening connections only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    #[must_use]
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                // Setting a password only fails for URLs that cannot have one.
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            _ => self.0.clone(),
        }
    }

    fn target(&self) -> DatabaseTarget {
        match sqlite_path(&self.0) {
            Some(path) => DatabaseTarget::Sqlite { path: path.into() },
            None => DatabaseTarget::Postgres { url: self.clone() },
        }
    }
}

/// The file path of an `sqlite:` URL, or `None` for another scheme.
fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    // Query parameters (`?mode=rwc`) are ignored: Steward sets the connection options itself.
    Some(rest.split('?').next().unwrap_or(rest))
}

impl TryFrom<String> for DatabaseUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        const EXPECTED: &str =
            "expected postgres://USER:PASSWORD@HOST:PORT/DATABASE or sqlite://PATH";
        if let Some(path) = sqlite_path(&value) {
            if path.is_empty() {
                return Err(format!("the sqlite URL names no file; {EXPECTED}"));
            }
            return Ok(Self(value));
        }
        let parsed = url::Url::parse(&value).map_err(|err| format!("{err}; {EXPECTED}"))?;
        match parsed.scheme() {
            "postgres" | "postgresql" => {
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(format!("the PostgreSQL URL names no host; {EXPECTED}"));
                }
                Ok(Self(value))
            }
            other => Err(format!("unsupported database scheme {other:?}; {EXPECTED}")),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Serializes the redacted form: serialized configuration is for people to read.
impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Result<DatabaseUrl, String> {
        DatabaseUrl::try_from(text.to_owned())
    }

    #[test]
    fn postgres_passwords_are_redacted() {
        let url = url("postgres://steward:hunter2@db.example:5432/steward").unwrap();
        assert_eq!(
            url.redacted(),
            "postgres://steward:***@db.example:5432/steward"
        );
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(url.expose().contains("hunter2"));
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        let target = url("sqlite:///var/lib/steward/steward.db")
            .unwrap()
            .target();
        assert_eq!(
            target,
            DatabaseTarget::Sqlite {
                path: "/var/lib/steward/steward.db".into()
            }
        );
        let target = url("sqlite://data/steward.db?mode=rwc").unwrap().target();
        assert_eq!(
            target,
            DatabaseTarget::Sqlite {
                path: "data/steward.db".into()
            }
        );
        assert!(url("sqlite://").is_err());
    }

    #[test]
    fn other_schemes_are_refused_with_the_expected_forms() {
        let err = url("mysql://root@localhost/steward").unwrap_err();
        assert!(
            err.contains("unsupported database scheme \"mysql\""),
            "{err}"
        );
        assert!(err.contains("postgres://"), "{err}");
        assert!(url("not a url").is_err());
    }

    #[test]
    fn zero_pool_size_is_named() {
        let config = DatabaseConfig {
            max_connections: 0,
            ..DatabaseConfig::default()
        };
        let problems = config.validate();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].key, "database.max_connections");
    }
}
