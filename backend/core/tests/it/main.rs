//! Core integration tests: storage on both databases, the authority policy, vendor slots, and
//! the layering rule between storage and the stages of the loop.
//!
//! One test binary per crate: each file below was its own binary, and linking each one
//! against the whole workspace cost more than running it. Shared helpers live in the
//! modules at the top.

mod layering;
mod policy;
mod storage;
mod vendor_slots;
