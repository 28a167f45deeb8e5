//! Validation of configuration sections.
//!
//! Each subsystem owns its configuration section and checks it; the server gathers every problem
//! and reports them together, each naming the key it is about.

use std::fmt;

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
