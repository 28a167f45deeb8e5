//! `steward bench detect`: what detection costs — per event, normalizing Windows events to OCSF
//! and evaluating them against samples of the built-in Sigma pack in its own mix of logsources
//! (where `process_creation` rules dominate), to show that cost grows far slower than the number
//! of rules; and end to end, from an event reaching the log ingest endpoint to its finding
//! stored, through a scratch Steward's job queue and triage.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use steward_core::{
    detection::sigma::{RuleSet, pack},
    storage::detection_rules::DetectionContent,
};
use steward_domain::observations::ObservedEvent;
use steward_integrations::telemetry;

use super::{percentile, scratch::Scratch};
use crate::config::Config;

/// The built-in rule every suspicious launch of the synthetic telemetry trips: an Office
/// document starting an encoded PowerShell.
const ENCODED_POWERSHELL: &str = "sigma:ca2092a1-c273-4878-9b4b-0d60115bf5ea";

/// A day's worth of ordinary workstation telemetry, `n` events: process launches, files
/// written, registry values set and sign-ins, with a few suspicious launches among them.
fn events(n: usize) -> Vec<Value> {
    const IMAGES: [(&str, &str, &str); 6] = [
        (
            "C:\\Windows\\System32\\notepad.exe",
            "notepad.exe C:\\Users\\avery\\todo.txt",
            "C:\\Windows\\explorer.exe",
        ),
        (
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "chrome.exe --type=renderer",
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        ),
        (
            "C:\\Windows\\System32\\svchost.exe",
            "svchost.exe -k netsvcs -p",
            "C:\\Windows\\System32\\services.exe",
        ),
        (
            "C:\\Windows\\System32\\cmd.exe",
            "cmd.exe /c dir C:\\Users",
            "C:\\Windows\\explorer.exe",
        ),
        (
            "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "powershell.exe -nop -w hidden -enc SQBFAFgA",
            "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        ),
        (
            "C:\\Windows\\System32\\whoami.exe",
            "whoami /all",
            "C:\\Windows\\System32\\cmd.exe",
        ),
    ];
    (0..n)
        .map(|i| {
            let record = u64::try_from(i).unwrap_or(u64::MAX);
            let computer = format!("PC-{:03}.corp.example", i % 250);
            let system = |event_id: u32, channel: &str| {
                json!({
                    "EventID": event_id,
                    "EventRecordID": record,
                    "Channel": channel,
                    "Computer": computer,
                    "TimeCreated": {"#attributes": {"SystemTime": "2026-12-01T09:15:00Z"}},
                })
            };
            let sysmon = "Microsoft-Windows-Sysmon/Operational";
            match i % 10 {
                0..=5 => {
                    // Suspicious launches are rare: one in fifty events.
                    let (image, command, parent) = IMAGES[if i % 50 == 0 { 4 } else { i % 4 }];
                    json!({"Event": {"System": system(1, sysmon), "EventData": {
                        "Image": image, "CommandLine": format!("{command} {i}"), "ParentImage": parent,
                        "ProcessId": 4000 + i % 1000, "ParentProcessId": 812, "User": "CORP\\avery",
                    }}})
                }
                6 | 7 => json!({"Event": {"System": system(11, sysmon), "EventData": {
                    "Image": IMAGES[1].0, "ProcessId": 4242,
                    "TargetFilename": format!("C:\\Users\\avery\\Downloads\\report-{i}.pdf"),
                }}}),
                8 => json!({"Event": {"System": system(13, sysmon), "EventData": {
                    "EventType": "SetValue", "Image": IMAGES[2].0, "ProcessId": 900,
                    "TargetObject": format!("HKLM\\SOFTWARE\\Vendor\\Settings\\Value{i}"),
                    "Details": "DWORD (0x00000001)",
                }}}),
                _ => json!({"Event": {"System": system(4624, "Security"), "EventData": {
                    "TargetUserName": "avery", "TargetDomainName": "CORP", "LogonType": "2",
                    "IpAddress": "10.0.0.7",
                }}}),
            }
        })
        .collect()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "event counts are far below 2^52"
)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Measures detection over `n` synthetic events, then (unless `latency_runs` is 0) the time from
/// an event reaching the log ingest endpoint to its finding, `latency_runs` times.
///
/// # Errors
/// When a synthetic event does not normalize (a bug in this benchmark), or the scratch Steward
/// cannot start or does not find an event within a minute.
pub async fn detect(
    config: Config,
    n: usize,
    latency_runs: usize,
    poll_ms: u64,
) -> anyhow::Result<ExitCode> {
    if n == 0 {
        bail!("--events must be at least 1");
    }
    throughput(n)?;
    if latency_runs > 0 {
        super::scratch::in_scratch_folder(config, "bench-detect", async |config| {
            latency(config, latency_runs, poll_ms).await
        })
        .await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Normalizing and evaluating, per event, with 10, 100 and 1,000 rules drawn evenly from the
/// pack (so in its mix of logsources) and with the whole pack.
fn throughput(n: usize) -> anyhow::Result<()> {
    let raw = events(n);
    let started = Instant::now();
    let normalized: Vec<ObservedEvent> = raw
        .iter()
        .map(telemetry::normalize)
        .collect::<Result<_, _>>()
        .map_err(|reason| anyhow::anyhow!("a benchmark event does not normalize: {reason}"))?;
    let normalizing = started.elapsed();
    println!(
        "normalized {} Windows events to OCSF in {:.0} ms: {:.0} events/s",
        normalized.len(),
        normalizing.as_secs_f64() * 1000.0,
        per_second(normalized.len(), normalizing)
    );
    let documents = pack::documents();
    println!();
    println!(
        "| rules | process_creation | load (parse + compile) | events/s | p50 per event | p99 per event | matches |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for sample in [10, 100, 1000, documents.len()] {
        // Evenly spread over the pack, which is sorted by logsource folder: each sample keeps
        // the pack's mix.
        let taken = sample.min(documents.len());
        let chosen = (0..taken)
            .map(|i| documents[i * documents.len() / taken].clone())
            .collect::<Vec<_>>();
        let process_creation = chosen
            .iter()
            .filter(|d| d.origin.contains("/process_creation/"))
            .count();
        let started = Instant::now();
        let set = RuleSet::load(chosen);
        let loading = started.elapsed();
        let mut times = Vec::with_capacity(normalized.len());
        let mut matches = 0;
        let started = Instant::now();
        for event in &normalized {
            let one = Instant::now();
            matches += set.evaluate(event.class, &event.ocsf).len();
            times.push(one.elapsed());
        }
        let evaluating = started.elapsed();
        times.sort_unstable();
        println!(
            "| {} | {:.0}% | {:.0} ms | {:.0} | {:.1} µs | {:.1} µs | {matches} |",
            set.rules().len(),
            share(process_creation, set.rules().len()),
            loading.as_secs_f64() * 1000.0,
            per_second(normalized.len(), evaluating),
            percentile(&times, 0.50).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6,
        );
    }
    Ok(())
}

#[expect(clippy::cast_precision_loss, reason = "rule counts are far below 2^52")]
fn share(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// Sends one suspicious launch at a time to the log ingest endpoint of the demo customer's
/// first integration and waits for its finding.
async fn latency(mut config: Config, runs: usize, poll_ms: u64) -> anyhow::Result<()> {
    config.worker.poll_interval_ms = poll_ms;
    let scratch = Scratch::start(config, "steward bench").await?;
    let outcome = measure_latency(&scratch, runs, poll_ms).await;
    scratch.stop().await;
    outcome
}

async fn measure_latency(scratch: &Scratch, runs: usize, poll_ms: u64) -> anyhow::Result<()> {
    let tenant = &scratch.tenant;
    let (endpoint, key) = scratch.ingest_endpoint(tenant).await?;
    // The benchmark is a log shipper, a client of Steward from outside: not the application's
    // own (vendor-bound, egress-checked) client.
    steward_integrations::http::install_tls_provider();
    let http = reqwest::Client::builder()
        .build()
        .context("an HTTP client for the log ingest endpoint")?;
    let content = DetectionContent::new(scratch.storage.conn(), tenant.msp_id);
    let found = async || -> anyhow::Result<u64> {
        Ok(content
            .verdicts(Some(tenant.id), None)
            .await?
            .get(ENCODED_POWERSHELL)
            .map_or(0, |counts| counts.findings))
    };
    let before = found().await?;
    println!();
    println!(
        "Event-to-finding benchmark: {runs} suspicious launches sent one at a time to the log \
         ingest endpoint, {} database, worker poll interval {poll_ms} ms.",
        scratch.storage.backend().name()
    );
    // Record ids of this run's own, so a database measured before has none of them.
    let first_record = scratch.clock.now().timestamp_micros();
    let mut latencies = Vec::with_capacity(runs);
    for run in 0..runs {
        let event = suspicious_launch(first_record, run, scratch.clock.now());
        let started = Instant::now();
        let response = http
            .post(&endpoint)
            .bearer_auth(&key)
            .json(&event)
            .send()
            .await
            .context("send an event to the log ingest endpoint")?;
        let status = response.status();
        let receipt: Value = response
            .json()
            .await
            .context("read the log ingest endpoint's answer")?;
        if !status.is_success() || receipt["stored"] != 1 {
            bail!("the log ingest endpoint did not store the event: {status} {receipt}");
        }
        let want = before + u64::try_from(run + 1)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while found().await? < want {
            if Instant::now() > deadline {
                bail!("event {run} had no finding within a minute");
            }
            // Each look reads the tenant's findings: often enough to time to the millisecond,
            // seldom enough not to slow the workers it waits for.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed());
    }
    println!(
        "event to finding: {}",
        super::latency_summary(&mut latencies)
    );
    Ok(())
}

/// A Sysmon process launch, as evtx-to-JSON tools write it: Word starting an encoded
/// PowerShell, happening `now`, the `run`th after record `first_record`.
fn suspicious_launch(first_record: i64, run: usize, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({"Event": {
        "System": {
            "EventID": 1,
            "EventRecordID": first_record.saturating_add(i64::try_from(run).unwrap_or(i64::MAX)),
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "BENCH-PC-01.corp.example",
            "TimeCreated": {"#attributes": {"SystemTime": now.to_rfc3339()}},
        },
        "EventData": {
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "CommandLine": format!("powershell.exe -nop -w hidden -enc SQBFAFgA{run}"),
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "ProcessId": 4000 + run % 1000,
            "ParentProcessId": 812,
            "User": "CORP\\avery",
        },
    }})
}
