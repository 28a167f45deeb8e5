use std::process::ExitCode;

use crate::config::Config;

/// Prints the effective configuration as TOML, secrets redacted.
#[expect(
    clippy::unnecessary_wraps,
    reason = "every command returns the same result type"
)]
pub fn run(config: &Config) -> anyhow::Result<ExitCode> {
    println!(
        "# Effective configuration: defaults < --config file < STEWARD_* environment < flags."
    );
    println!("# Secrets are redacted.");
    print!("{}", config.to_redacted_toml());
    Ok(ExitCode::SUCCESS)
}
