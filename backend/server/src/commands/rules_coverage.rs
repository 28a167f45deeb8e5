//! `steward rules coverage`: the recall of Steward's detection over the sandbox's labelled
//! scenarios. Each scenario is staged in a scratch Steward's vendors and goes through the real
//! pipeline — the connectors over HTTP, normalization to OCSF, the Sigma rules in force, the
//! built-in detections, triage — and the findings it produced are compared with the scenario's
//! labels (`Scenario::expected_findings`): which expected detections fired, which did not, and
//! what else fired. Each scenario runs in a new customer of its own. `--without` turns rules off
//! there first, to see what a customer would stop seeing.

use std::{
    collections::{BTreeSet, HashMap},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};
use serde::Serialize;
use steward_core::{
    detection::{content, sigma},
    storage::{Deployment, TenantWork, detection_rules::DetectionContent},
};
use steward_sandbox::Scenario;

use super::{
    rules::Format,
    scratch::{Scratch, in_scratch_folder},
};
use crate::config::Config;

/// How long one scenario may take to go through the loop.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);

/// One expected detection of a scenario.
#[derive(Debug, Serialize)]
struct Expected {
    rule: String,
    title: String,
    fired: bool,
}

/// A finding rule that fired without being expected.
#[derive(Debug, Serialize)]
struct Also {
    rule: String,
    title: String,
}

#[derive(Debug, Serialize)]
struct ScenarioReport {
    scenario: &'static str,
    expected: Vec<Expected>,
    also: Vec<Also>,
}

/// The whole report (`--format json`).
#[derive(Debug, Serialize)]
struct Report {
    scenarios: Vec<ScenarioReport>,
    /// Rules turned off before the scenarios ran.
    without: Vec<String>,
    expected: usize,
    found: usize,
    /// Found over expected.
    recall: f64,
}

/// Runs every labelled scenario through a scratch Steward and reports recall; exits 1 when an
/// expected detection did not fire.
///
/// # Errors
/// When a rule of `without` does not exist, or Steward cannot be started or does not settle.
pub async fn coverage(
    config: Config,
    without: Vec<String>,
    format: Format,
) -> anyhow::Result<ExitCode> {
    in_scratch_folder(config, "coverage", async |mut config| {
        // Each scenario waits for the loop to rest, which includes a round of the scheduler's
        // chores: run them every second, and leave synchronizing to the scenarios.
        config.worker.approval_check_secs = 1;
        config.worker.poll_interval_ms = 50;
        config.worker.verify_interval_ms = 100;
        config.worker.sync_interval_secs = 24 * 3600;
        let scratch = Scratch::start(config, "steward rules coverage").await?;
        if format == Format::Text {
            println!(
                "Detection coverage: {} labelled scenarios through the loop ({} database)…",
                Scenario::ALL.len(),
                scratch.storage.backend().name()
            );
        }
        let report = measure(&scratch, without).await;
        scratch.stop().await;
        let report = report?;
        match format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            Format::Text => print_text(&report),
        }
        Ok(if report.found == report.expected {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
    .await
}

async fn measure(scratch: &Scratch, without: Vec<String>) -> anyhow::Result<Report> {
    let msp_id = scratch.tenant.msp_id;
    let conn = scratch.storage.conn();
    for rule_id in &without {
        if !content::exists(conn, msp_id, rule_id).await? {
            bail!("no rule {rule_id}: name a rule by its Sigma id");
        }
    }
    let titles: HashMap<String, String> = content::rules(
        conn,
        msp_id,
        None,
        (scratch.clock.now(), content::DEFAULT_WINDOW_DAYS),
    )
    .await?
    .into_iter()
    .map(|rule| (sigma::rule_name(&rule.rule_id), rule.title))
    .collect();
    let title = |rule: &str| titles.get(rule).cloned().unwrap_or_else(|| rule.to_owned());
    let mut scenarios = Vec::new();
    for scenario in Scenario::ALL {
        // Each scenario in a customer of its own, so nothing one leaves behind (an isolated
        // laptop, an open incident, a newer event) changes what another finds.
        // Named per run, so a database that held an earlier run takes this one too.
        let run = std::process::id();
        let tenant = scratch
            .add_customer(
                &format!("Coverage {} {run}", scenario.as_str()),
                &format!("coverage-{}-{run}", scenario.as_str()),
            )
            .await?;
        turn_off(scratch, &tenant, &without).await?;
        scratch.settle(SETTLE_WITHIN).await?;
        let counts = async || -> anyhow::Result<HashMap<String, u64>> {
            Ok(DetectionContent::new(conn, msp_id)
                .verdicts(Some(tenant.id), None)
                .await?
                .into_iter()
                .map(|(rule, counts)| (rule, counts.findings))
                .collect())
        };
        let before = counts().await?;
        scratch.run_scenario(&tenant, scenario).await?;
        scratch
            .settle(SETTLE_WITHIN)
            .await
            .with_context(|| format!("{} did not go through the loop", scenario.as_str()))?;
        let after = counts().await?;
        let fired: BTreeSet<&String> = after
            .iter()
            .filter(|(rule, n)| before.get(*rule).is_none_or(|b| *n > b))
            .map(|(rule, _)| rule)
            .collect();
        let labels = scenario.expected_findings();
        scenarios.push(ScenarioReport {
            scenario: scenario.as_str(),
            expected: labels
                .iter()
                .map(|rule| Expected {
                    rule: (*rule).to_owned(),
                    title: title(rule),
                    fired: fired.iter().any(|f| f.as_str() == *rule),
                })
                .collect(),
            also: fired
                .iter()
                .filter(|rule| !labels.contains(&rule.as_str()))
                .map(|rule| Also {
                    rule: (*rule).clone(),
                    title: title(rule),
                })
                .collect(),
        });
    }
    let expected = scenarios.iter().map(|s| s.expected.len()).sum::<usize>();
    let found = scenarios
        .iter()
        .flat_map(|s| &s.expected)
        .filter(|e| e.fired)
        .count();
    #[expect(clippy::cast_precision_loss, reason = "a handful of labels")]
    let recall = if expected == 0 {
        1.0
    } else {
        found as f64 / expected as f64
    };
    Ok(Report {
        scenarios,
        without,
        expected,
        found,
        recall,
    })
}

/// Turns `rules` off in `tenant`.
async fn turn_off(
    scratch: &Scratch,
    tenant: &steward_domain::tenancy::Tenant,
    rules: &[String],
) -> anyhow::Result<()> {
    if rules.is_empty() {
        return Ok(());
    }
    let txn = scratch.storage.begin().await?;
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(scratch.clock.as_ref(), &scratch.keys, scratch.actor());
    let work = TenantWork::as_steward(&ctx, tenant.id)
        .await?
        .context("the tenant exists")?;
    for rule_id in rules {
        work.set_rule_state(rule_id, Some(false)).await?;
    }
    drop(work);
    drop(ctx);
    txn.commit().await?;
    Ok(())
}

fn print_text(report: &Report) {
    if !report.without.is_empty() {
        println!("With these rules off: {}", report.without.join(", "));
    }
    for scenario in &report.scenarios {
        let found = scenario.expected.iter().filter(|e| e.fired).count();
        println!(
            "\n{}: {found} of {} expected detections",
            scenario.scenario,
            scenario.expected.len()
        );
        for expected in &scenario.expected {
            let mark = if expected.fired { "found " } else { "MISSED" };
            println!("  {mark} {} ({})", expected.title, expected.rule);
        }
        for also in &scenario.also {
            println!("  also   {} ({})", also.title, also.rule);
        }
    }
    println!(
        "\nRecall: {} of {} expected detections ({:.0}%).",
        report.found,
        report.expected,
        report.recall * 100.0
    );
}
