//! The connectors' contract tests against the vendor sandbox and the vendors' published specifications.
//!
//! One test binary per crate: each file below was its own binary, and linking each one
//! against the whole workspace cost more than running it. Shared helpers live in the
//! modules at the top.

mod steps;
mod support;

mod datto_contract;
mod falcon_contract;
mod graph_spec;
mod microsoft_contract;
mod ninjaone_contract;
mod okta_contract;
mod okta_sandbox;
mod psa_contract;
mod tactical_contract;
mod veeam_contract;
