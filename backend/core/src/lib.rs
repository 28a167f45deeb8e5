//! Steward's core: storage, tenancy and the services behind the API, the CLI and the workers.
//!
//! Nothing here knows about HTTP. The server crate turns requests into calls on the types of this
//! crate, and so do the command-line interface and the background workers.

pub mod access;
pub mod actions;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod decisions;
pub mod demo;
pub mod detection;
pub mod incidents;
pub mod inventory;
pub mod jobs;
pub mod keyfile;
pub mod passwords;
pub mod reports;
pub mod risk;
pub mod second_factor;
pub mod secrets;
pub mod settings;
pub mod storage;
pub mod triage;

pub use clock::{Clock, MockClock, SystemClock};
pub use storage::{Storage, StorageError};
