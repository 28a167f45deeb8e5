//! Validation of configuration sections.
//!
//! Each subsystem owns its configuration section and checks it; the server gathers every problem
//! and reports them together, each naming the key it is about.

use std::fmt;

use secrecy::SecretString;
use serde::Serializer;

/// A configuration value that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// Dotted path of the key, as written in the configuration file (`database.max_connections`).
    pub key: String,
    pub message: String,
}

impl InvalidSetting {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Serializes a configured secret as `[redacted]` (or nothing when unset): serialized
/// configuration is for people to read (`steward config`), never for secrets.
///
/// # Errors
/// Only the serializer's own.
pub fn redact_secret<S: Serializer>(
    value: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(_) => serializer.serialize_str("[redacted]"),
        None => serializer.serialize_none(),
    }
}
