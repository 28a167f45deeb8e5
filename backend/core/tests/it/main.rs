//! Core integration tests: storage on both databases, the authority policy and vendor slots.
//!
//! One test binary per crate: each file below was its own binary, and linking each one
//! against the whole workspace cost more than running it. Shared helpers live in the
//! modules at the top.

mod policy;
mod storage;
mod vendor_slots;
