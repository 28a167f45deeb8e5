//! One module per subcommand, each with `run(..) -> anyhow::Result<ExitCode>`.

pub mod audit;
#[cfg(feature = "sandbox")]
pub mod bench;
#[cfg(feature = "sandbox")]
pub mod bench_detect;
#[cfg(feature = "sandbox")]
pub mod bench_sync;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod demo;
pub mod jobs;
pub mod migrate;
pub mod msp;
pub mod policy;
pub mod rules;
#[cfg(feature = "sandbox")]
pub mod rules_coverage;
#[cfg(feature = "sandbox")]
pub mod scratch;
pub mod serve;
pub mod token;
pub mod worker;
