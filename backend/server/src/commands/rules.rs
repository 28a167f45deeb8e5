//! `steward rules …`: Sigma rules checked and tried offline, before they are deployed — the
//! detection engineer's loop. Nothing here touches the database.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use serde::Serialize;
use serde_json::Value;
use steward_core::detection::sigma::{self, RuleDocument, RuleSet};
use steward_integrations::telemetry;

/// How `steward rules test` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Lints and loads every rule under `paths`; exits 1 when any document has an error or any
/// rule would not load.
pub fn lint(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let documents = read_rules(paths)?;
    let mut problems = 0;
    for document in &documents {
        for problem in sigma::lint(&document.yaml) {
            println!("{}:{problem}", document.origin);
            problems += 1;
        }
    }
    let set = RuleSet::load(documents.iter().cloned());
    for skipped in set.skipped() {
        println!("{}: {}", skipped.origin, describe(skipped));
        problems += 1;
    }
    println!(
        "{} rule(s) in {} file(s) load; {problems} problem(s).",
        set.rules().len(),
        documents.len()
    );
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One rule's line of the report.
#[derive(Debug, Serialize)]
struct RuleReport<'a> {
    id: &'a str,
    title: &'a str,
    matches: usize,
}

/// Something the test could not use: a rule that did not load, an event that is not one.
#[derive(Debug, Serialize)]
struct SkippedReport {
    path: String,
    reason: String,
}

/// Evaluates the rules under `rules` (the built-in pack when none is given) over the events
/// in `events` (JSON, a JSON array, or NDJSON, in the shapes the log ingest takes) and prints
/// each rule's match count.
pub fn test(rules: &[PathBuf], events: &[PathBuf], format: Format) -> anyhow::Result<ExitCode> {
    let loaded;
    let set = if rules.is_empty() {
        sigma::pack::compiled()
    } else {
        loaded = RuleSet::load(read_rules(rules)?);
        &loaded
    };
    let mut skipped: Vec<SkippedReport> = set
        .skipped()
        .iter()
        .map(|s| SkippedReport {
            path: s.origin.clone(),
            reason: describe(s),
        })
        .collect();
    let mut matches: BTreeMap<String, usize> = BTreeMap::new();
    // Correlations count across the files, in the order their events are given.
    let mut correlator = set.correlator();
    let mut evaluated = 0;
    for path in files(events, &["json", "ndjson", "jsonl"])? {
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        for (place, event) in parse_events(&path, &text) {
            let event = match event.and_then(|raw| telemetry::normalize(&raw)) {
                Ok(event) => event,
                Err(reason) => {
                    skipped.push(SkippedReport {
                        path: place,
                        reason,
                    });
                    continue;
                }
            };
            evaluated += 1;
            let found = set.evaluate(event.class, &event.ocsf);
            if let Some(correlator) = correlator.as_mut() {
                for fired in correlator.observe(&place, event.time, &event.ocsf, &found) {
                    *matches.entry(fired.rule_id).or_default() += 1;
                }
            }
            for found in found {
                *matches.entry(found.rule_id).or_default() += 1;
            }
        }
    }
    let report: Vec<RuleReport<'_>> = set
        .rules()
        .iter()
        .map(|rule| (&rule.id, &rule.title))
        .chain(set.correlations().iter().map(|c| (&c.id, &c.title)))
        .map(|(id, title)| RuleReport {
            id,
            title,
            matches: matches.get(id).copied().unwrap_or(0),
        })
        .collect();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"rules": report, "skipped": skipped, "events": evaluated})
        ),
        Format::Text => {
            for rule in report.iter().filter(|r| r.matches > 0) {
                println!("{:>6}  {}  {}", rule.matches, rule.id, rule.title);
            }
            for skip in &skipped {
                println!("skipped {}: {}", skip.path, skip.reason);
            }
            println!(
                "{evaluated} event(s), {} rule(s), {} with matches; {} skipped.",
                report.len(),
                report.iter().filter(|r| r.matches > 0).count(),
                skipped.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(skipped: &sigma::Skipped) -> String {
    match &skipped.rule {
        Some(rule) => format!("{rule}: {}", skipped.reason),
        None => skipped.reason.clone(),
    }
}

/// The rule files under `paths` (files as given, folders searched for `.yml` and `.yaml`).
fn read_rules(paths: &[PathBuf]) -> anyhow::Result<Vec<RuleDocument>> {
    files(paths, &["yml", "yaml"])?
        .into_iter()
        .map(|path| {
            let yaml = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            Ok(RuleDocument {
                origin: path.display().to_string(),
                yaml,
            })
        })
        .collect()
}

/// `paths`, with folders replaced by the files under them whose extension is one of
/// `extensions`, in name order.
fn files(paths: &[PathBuf], extensions: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for path in paths {
        let metadata =
            std::fs::metadata(path).with_context(|| format!("read {}", path.display()))?;
        if metadata.is_dir() {
            walk(path, extensions, &mut found)?;
        } else {
            found.push(path.clone());
        }
    }
    Ok(found)
}

fn walk(dir: &Path, extensions: &[&str], found: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("read {}", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, extensions, found)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// The events of a file, each with where it is (`file#index` or `file:line`): one JSON value
/// (an array is its elements), or else one JSON value per line.
fn parse_events(path: &Path, text: &str) -> Vec<(String, Result<Value, String>)> {
    let name = path.display();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(events)) => events
            .into_iter()
            .enumerate()
            .map(|(i, event)| (format!("{name}#{i}"), Ok(event)))
            .collect(),
        Ok(event) => vec![(format!("{name}#0"), Ok(event))],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                (
                    format!("{name}:{}", i + 1),
                    serde_json::from_str(line).map_err(|e| format!("not JSON: {e}")),
                )
            })
            .collect(),
    }
}
