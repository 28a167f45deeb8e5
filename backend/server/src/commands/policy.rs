//! `steward policy …`: the authority policies' tests, input schema and benchmark.

use std::{
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context;
use steward_core::decisions::policy::{
    AuthorityInput, AuthorityPolicy, PolicySet, authority_input_schema,
    input::{ActionInput, ProposerInput, RiskFactorInput, RiskInput, TargetInput, TenantInput},
    run_tests,
};
use steward_domain::actions::{ActionType, Criticality, ProposerKind, TargetKind};

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

/// The inputs the benchmark cycles through: every action type on the demo's kinds of targets,
/// at every automation level, from every kind of proposer.
fn bench_inputs() -> Vec<AuthorityInput> {
    let mut inputs = Vec::new();
    for action in ActionType::ALL {
        for level in 0..=3 {
            for proposer in [
                ProposerKind::Worker,
                ProposerKind::Technician,
                ProposerKind::AiAgent,
            ] {
                let script = matches!(action, ActionType::RunScript | ActionType::RunUndoScript);
                let (target, privileged, criticality) = match action.target_kind() {
                    TargetKind::Device => {
                        ("acme-lt04.acme-dental.example", false, Criticality::Medium)
                    }
                    TargetKind::Identity => {
                        ("it.admin@acme-dental.example", true, Criticality::High)
                    }
                };
                inputs.push(AuthorityInput {
                    action: ActionInput {
                        kind: action,
                        reversible: action.is_reversible(),
                        target_count: 1,
                        parameters: steward_domain::actions::ActionParameters {
                            group_id: matches!(
                                action,
                                ActionType::RemoveFromGroup | ActionType::AddToGroup
                            )
                            .then(|| "5f1e2c3a-7d4b-4e6f-9a8b-0c1d2e3f4a5b".to_owned()),
                            script_id: script.then(|| "101".to_owned()),
                            undo_script_id: script.then(|| "102".to_owned()),
                            vendor: None,
                        },
                    },
                    target: TargetInput {
                        kind: action.target_kind(),
                        name: target.to_owned(),
                        criticality,
                        privileged,
                        tags: vec!["finance".to_owned()],
                    },
                    risk: RiskInput {
                        score: 85,
                        factors: vec![
                            RiskFactorInput {
                                name: "active_high_severity_alert".to_owned(),
                                contribution: 45,
                            },
                            RiskFactorInput {
                                name: "privileged_identity".to_owned(),
                                contribution: 20,
                            },
                        ],
                    },
                    tenant: TenantInput {
                        automation_level: level,
                        maintenance:
                            steward_core::decisions::policy::input::MaintenanceInput::default(),
                    },
                    proposer: ProposerInput { kind: proposer },
                    guardrails: steward_core::decisions::policy::input::GuardrailsInput::default(),
                });
            }
        }
    }
    inputs
}

/// Measures how many decisions per second the authority policy makes, on `threads` threads,
/// and the latency of one decision. Exits 1 if any decision was the fail-safe deny (the
/// numbers would then measure failures, not decisions).
pub fn bench(
    config: &Config,
    decisions: usize,
    threads: Option<usize>,
) -> anyhow::Result<ExitCode> {
    let set = PolicySet::load(config.policy.dir.as_deref())?;
    let policy = AuthorityPolicy::new(&set, Duration::from_millis(config.policy.timeout_ms));
    let inputs = bench_inputs();
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1);
    let per_thread = decisions.div_ceil(threads).max(1);
    println!(
        "Authority policy benchmark: {} decisions on {threads} thread(s), {} distinct inputs ({}).",
        per_thread * threads,
        inputs.len(),
        set.origin()
    );
    let started = Instant::now();
    let results: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let policy = policy.clone();
                let inputs = &inputs;
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(per_thread);
                    let mut failures = 0;
                    for n in 0..per_thread {
                        let input = &inputs[(thread + n) % inputs.len()];
                        let one = Instant::now();
                        let decided = policy.decide(input);
                        latencies.push(one.elapsed());
                        if decided.failure.is_some() {
                            failures += 1;
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let elapsed = started.elapsed();
    let failures: usize = results.iter().map(|(_, failures)| failures).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    latencies.sort();
    let total = latencies.len();
    println!("decisions/s: {:.0}", total as f64 / elapsed.as_secs_f64());
    println!(
        "latency per decision: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        super::percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        super::percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies[total - 1].as_secs_f64() * 1e3
    );
    if failures > 0 {
        println!("{failures} decision(s) failed and were denied by the fail-safe.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
