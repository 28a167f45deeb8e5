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

/// The `p` quantile (0 to 1) of measurements sorted ascending; zero when there are none.
pub(crate) fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a list of measurements"
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// `p50 … ms, p99 … ms, mean … ms, max … ms` of end-to-end latencies (sorted here).
#[cfg(feature = "sandbox")]
pub(crate) fn latency_summary(latencies: &mut [std::time::Duration]) -> String {
    latencies.sort_unstable();
    let mean = latencies.iter().sum::<std::time::Duration>()
        / u32::try_from(latencies.len()).unwrap_or(u32::MAX).max(1);
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.0} ms, p99 {:.0} ms, mean {:.0} ms, max {:.0} ms",
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.99)),
        ms(mean),
        latencies.last().map_or(0.0, |d| ms(*d)),
    )
}
