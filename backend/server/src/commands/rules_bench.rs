//! `steward rules bench`: what detection costs per event — normalizing Windows events to OCSF,
//! and evaluating them against the built-in Sigma pack and samples of it, to show that cost
//! grows far slower than the number of rules (rules are indexed by logsource, and rsigma skips
//! rules whose literals an event lacks).

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use steward_core::detection::sigma::{RuleSet, pack};
use steward_domain::observations::ObservedEvent;
use steward_integrations::telemetry;

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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a list of measurements"
    )]
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

#[expect(
    clippy::cast_precision_loss,
    reason = "event counts are far below 2^52"
)]
fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Measures detection over `n` synthetic events and prints a table.
///
/// # Errors
/// When a synthetic event does not normalize (a bug in this benchmark).
pub fn bench(n: usize) -> anyhow::Result<ExitCode> {
    let raw = events(n.max(1));
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
        "| rules | load (parse + compile) | events/s | p50 per event | p99 per event | matches |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for sample in [100, 400, documents.len()] {
        let every = (documents.len() / sample.max(1)).max(1);
        let chosen = documents
            .iter()
            .step_by(every)
            .take(sample)
            .cloned()
            .collect::<Vec<_>>();
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
            "| {} | {:.0} ms | {:.0} | {:.1} µs | {:.1} µs | {matches} |",
            set.rules().len(),
            loading.as_secs_f64() * 1000.0,
            per_second(normalized.len(), evaluating),
            percentile(&times, 0.50).as_secs_f64() * 1e6,
            percentile(&times, 0.99).as_secs_f64() * 1e6,
        );
    }
    Ok(ExitCode::SUCCESS)
}
