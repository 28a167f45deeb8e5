//! The `steward` binary: HTTP server, configuration and command-line interface.
//!
//! This is the only crate that assembles every concrete implementation; the library form exists
//! so integration tests can build the same router the binary serves.

pub mod cli;
mod commands;
pub mod config;
pub mod http;
pub mod state;
mod telemetry;
pub mod web;
