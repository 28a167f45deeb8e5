//! Time, injected: the [`Clock`](steward_domain::clock::Clock) of the shared vocabulary, re-exported
//! where the services that read it live.

pub use steward_domain::clock::{Clock, MockClock, SystemClock};
