//! `steward rules lint` and `steward rules test`: Sigma rules checked and tried offline, over
//! event files in every shape the log ingest takes.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{list, steward, strings, windows_events::office_starts_encoded_powershell};

const ENCODED_POWERSHELL: &str = "ca2092a1-c273-4878-9b4b-0d60115bf5ea";
const OFFICE_CHILD: &str = "438025f9-5856-4663-83f7-52f878a70a50";
const HIDDEN_USER: &str = "7b449a5e-1db5-4dd0-a2dc-4e3a67282538";

/// Notepad started from Explorer: nothing to see.
fn benign() -> Value {
    json!({
        "@timestamp": "2026-12-01T09:16:00Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": 1,
            "computer_name": "ACME-LT07.acme.example",
            "record_id": 5002,
            "event_data": {
                "Image": "C:\\Windows\\System32\\notepad.exe",
                "CommandLine": "notepad.exe C:\\Users\\avery\\todo.txt",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ProcessId": "5120",
                "ParentProcessId": "4012",
            },
        },
    })
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(args: &[&str]) -> (bool, String) {
    let output = steward().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty() || output.status.success(), "{stderr}");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn matches_of(report: &Value, id: &str) -> u64 {
    list(report, "rules")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not in the report"))["matches"]
        .as_u64()
        .unwrap()
}

#[test]
fn the_built_in_pack_finds_the_office_macro_behind_an_alert_and_reports_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    // A local account named like a computer account, from the Security log as NXLog sends it.
    let hidden_user = json!({"EventID": 4720, "Channel": "Security", "Computer": "ACME-DC1",
        "TimeCreated": "2026-12-01 09:18:00 +0000", "EventRecordID": 77,
        "ExtraEventData": {"TargetUserName": "svc-backup$", "SubjectUserName": "avery"}});
    let events = format!(
        "{}\n{}\nnot json at all\n{}\n{hidden_user}\n",
        office_starts_encoded_powershell("ACME-LT07.acme.example", 5001),
        benign(),
        json!({"EventID": 7045, "Channel": "System", "Computer": "ACME-DC1", "TimeCreated": "2026-12-01T09:17:00Z"}),
    );
    let file = write(dir.path(), "laptop.ndjson", &events);
    let (ok, stdout) = run(&[
        "rules",
        "test",
        "--events",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["events"], 3,
        "three of the five lines are events Steward reads"
    );
    assert_eq!(matches_of(&report, ENCODED_POWERSHELL), 1);
    assert_eq!(matches_of(&report, OFFICE_CHILD), 1);
    assert_eq!(matches_of(&report, HIDDEN_USER), 1);
    assert!(
        report["rules"].as_array().unwrap().len() > 1000,
        "the built-in pack holds SigmaHQ's rules for the telemetry Steward reads"
    );
    let skipped = report["skipped"].as_array().unwrap();
    let reason_of = |place: &str| {
        skipped
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(place))
            .unwrap_or_else(|| panic!("{place} not skipped: {skipped:?}"))["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(reason_of("laptop.ndjson:3").starts_with("not JSON"));
    assert!(reason_of("laptop.ndjson:4").contains("Windows event 7045 of the System log"));
}

const CUSTOM: &str = r"
title: Encoded PowerShell from any parent
id: 0b7e3c9a-5f0e-4c41-9a53-1d1c3f6a2b10
status: test
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\powershell.exe'
        CommandLine|contains: ' -enc '
    condition: selection
level: medium
---
title: A rule for events Steward does not receive
id: 5e0b4a51-1d1e-4e7d-8a5b-2f7c1b9c0d22
logsource:
    category: process_creation
    product: linux
detection:
    selection:
        Image|endswith: '/nc'
    condition: selection
---
title: A rule without an id
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\cmd.exe'
    condition: selection
";

#[test]
fn custom_rules_match_every_shape_and_the_ones_that_cannot_load_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "custom.yml", CUSTOM);
    let sysmon = office_starts_encoded_powershell("ACME-LT07.acme.example", 5001);
    let data = sysmon["Event"]["EventData"].clone();
    // The same process start as Winlogbeat and as a flat shipper (NXLog) send it.
    let winlogbeat = json!({
        "@timestamp": "2026-12-01T09:15:00Z",
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": "1",
                   "computer_name": "ACME-LT07", "record_id": 6001, "event_data": data},
    });
    let mut flat = json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
                          "Hostname": "ACME-LT07", "EventTime": "2026-12-01 09:15:00"});
    flat.as_object_mut()
        .unwrap()
        .extend(data.as_object().unwrap().clone());
    let events = write(
        dir.path(),
        "shapes.json",
        &json!([sysmon, winlogbeat, flat, benign()]).to_string(),
    );
    let (ok, stdout) = run(&[
        "rules",
        "test",
        "--rules",
        rules.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(ok, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["events"], 4);
    assert_eq!(
        report["rules"],
        json!([{"id": "0b7e3c9a-5f0e-4c41-9a53-1d1c3f6a2b10",
                "title": "Encoded PowerShell from any parent", "matches": 3}])
    );
    let reasons = strings(&report, "skipped", "reason");
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with(
        "A rule for events Steward does not receive: logsource product: linux, category: \
         process_creation is not one of the events Steward receives"
    )));
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("A rule without an id: a rule needs an id"))
    );

    // The text report names the rule and its count.
    let (ok, stdout) = run(&[
        "rules",
        "test",
        "--rules",
        rules.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(ok);
    assert!(
        stdout.contains("     3  0b7e3c9a-5f0e-4c41-9a53-1d1c3f6a2b10  Encoded PowerShell"),
        "{stdout}"
    );
}

#[test]
fn lint_names_the_line_and_column_of_each_error_and_passes_clean_rules() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.yml", CUSTOM.split("---").next().unwrap());
    let (ok, stdout) = run(&["rules", "lint", clean.to_str().unwrap()]);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("1 rule(s) in 1 file(s) load; 0 problem(s)."),
        "{stdout}"
    );

    // A level Sigma does not have, on line 5.
    write(
        dir.path(),
        "broken.yml",
        "title: Broken\nid: 7d7c4c1e-94b5-4a8b-9f0e-0e6c3a3c1b77\nlogsource:\n    product: windows\nlevel: severe\ndetection:\n    selection:\n        Image: x\n    condition: selection\n",
    );
    let (ok, stdout) = run(&["rules", "lint", dir.path().to_str().unwrap()]);
    assert!(!ok, "a rule with an error fails the lint: {stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains("broken.yml:5:"))
        .unwrap_or_else(|| panic!("no error on line 5: {stdout}"));
    assert!(line.contains("level"), "{line}");
    assert!(stdout.contains("problem(s)."), "{stdout}");
}
