//! The connectors' own tests that need no simulated vendor: the HTTP layer's retry rules
//! against a local server, and the OCSF events against the OCSF schema. The contract tests
//! against the simulated vendors are the sandbox's (`sandbox/tests/it`).

mod http_retry;
mod ocsf_schema;
