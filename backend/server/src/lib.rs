//! The `steward` binary: HTTP server, configuration and command-line interface.
//!
//! This is the only crate that assembles every concrete implementation; the library form exists
//! so integration tests can build the same router the binary serves.

pub mod cli;
mod commands;
pub mod config;
pub mod http;
pub mod reports_pdf;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod state;
mod telemetry;
pub mod web;

/// An error and its causes on one line, skipping a cause whose text is already there (drivers
/// and HTTP clients often repeat their source in their own message).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
