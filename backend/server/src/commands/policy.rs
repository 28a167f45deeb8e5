//! `steward policy …`: the authority policies' tests and input schema.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use steward_core::policy::{PolicySet, authority_input_schema, run_tests};

use crate::config::Config;

/// Runs every `test_*` rule of the configured (or given) policies; exits 1 on any failure.
pub fn test(config: &Config, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let dir = dir.or_else(|| config.policy.dir.clone());
    let set = PolicySet::load(dir.as_deref())?;
    let results = run_tests(&set).with_context(|| format!("load the {}", set.origin()))?;
    let failed = results.iter().filter(|result| !result.passed).count();
    for result in &results {
        if result.passed {
            println!("PASS {}", result.rule);
        } else {
            println!("FAIL {}", result.rule);
            if let Some(detail) = &result.detail {
                println!("     {detail}");
            }
        }
    }
    println!(
        "{} of {} policy test(s) passed ({}).",
        results.len() - failed,
        results.len(),
        set.origin()
    );
    if results.is_empty() {
        println!("No test_* rules found.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints the JSON Schema of the authority policy's input, or writes it to `out`.
pub fn schema(out: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let schema = authority_input_schema();
    match out {
        Some(path) => {
            std::fs::write(&path, schema).with_context(|| format!("write {}", path.display()))?;
            eprintln!("Wrote {}.", path.display());
        }
        None => print!("{schema}"),
    }
    Ok(ExitCode::SUCCESS)
}
