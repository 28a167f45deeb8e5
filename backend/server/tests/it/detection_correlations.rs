//! Sigma correlation rules: uploaded with the rules they correlate, counted across ingest
//! batches (each tenant's windows are kept between triage runs), a firing is one finding that
//! names its events while the correlated rule makes none of its own, and the same rule tried
//! offline with `steward rules test`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_domain::clock::{Clock, SystemClock};

use crate::{
    log_ingest::{bearer, ndjson, post},
    support::{governed, list, steward},
};

const FAILED_LOGON: &str = "5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a";
const SPRAY: &str = "5b0c1a7e-2222-4c3e-9a51-0f1e2d3c4b5a";

/// Failed Windows sign-ins, and five of them for one account within ten minutes.
const SPRAY_RULES: &str = r"title: Failed logon
id: 5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a
name: failed_logon
status: experimental
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
level: low
---
title: Five failed logons for one account in ten minutes
id: 5b0c1a7e-2222-4c3e-9a51-0f1e2d3c4b5a
status: experimental
correlation:
    type: event_count
    rules:
        - failed_logon
    group-by:
        - TargetUserName
    timespan: 10m
    condition:
        gte: 5
level: high
tags:
    - attack.credential-access
    - attack.t1110
";

/// A failed network sign-in for `user`, `minutes` ago, from the Security log as Winlogbeat
/// sends it.
fn failed_logon(user: &str, record: u64, minutes: i64) -> Value {
    let at = SystemClock.now() - chrono::Duration::minutes(minutes);
    json!({
        "@timestamp": at.to_rfc3339(),
        "winlog": {
            "channel": "Security",
            "event_id": 4625,
            "computer_name": "ACME-DC1.acme.example",
            "record_id": record,
            "event_data": {"TargetUserName": user, "IpAddress": "203.0.113.9", "LogonType": "3"},
        },
    })
}

/// Uploads `yaml` as one of the MSP's rules, as the technician.
async fn upload(l: &governed::Loop, yaml: &str, reason: &str) -> (StatusCode, Value) {
    l.call(
        Method::POST,
        "/api/v1/msp/detection-rules",
        &l.technician,
        Some(&json!({"yaml": yaml, "reason": reason})),
    )
    .await
}

/// Whether a refused upload names a problem saying `text`.
fn names_problem(refused: &Value, text: &str) -> bool {
    list(refused, "problems")
        .iter()
        .any(|p| p["message"].as_str().unwrap().contains(text))
}

async fn sigma_findings(l: &governed::Loop) -> Vec<Value> {
    l.incidents()
        .await
        .iter()
        .flat_map(|i| list(i, "findings").to_vec())
        .filter(|f| f["rule"].as_str().unwrap().starts_with("sigma:5b0c1a7e"))
        .collect()
}

#[tokio::test]
async fn a_password_spray_is_counted_across_batches_into_one_finding() {
    let l = governed::start_fresh().await;
    l.sync_all().await;
    let integration = l.integrations().await[0]["id"].as_str().unwrap().to_owned();
    let key = l.create_ingest_key(&integration).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    // A correlation without the rules it correlates is refused, saying which are missing.
    let alone = SPRAY_RULES.split("---\n").nth(1).unwrap();
    let (status, refused) = upload(&l, alone, "password sprays on the domain").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(names_problem(&refused, "names failed_logon"), "{refused:#}");
    let (status, uploaded) = upload(&l, SPRAY_RULES, "password sprays on the domain").await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["rule"]["rule_id"], SPRAY);
    let version = uploaded["rule"]["version"].as_str().unwrap().to_owned();
    // Its rule is its own: another upload cannot take the id.
    let first_document = SPRAY_RULES.split("---\n").next().unwrap();
    let (status, refused) = upload(&l, first_document, "failed logons on their own").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        names_problem(
            &refused,
            &format!("already the id of a rule in the MSP's {SPRAY}")
        ),
        "{refused:#}"
    );
    let listed = l
        .items("detection-rules?search=five+failed+logons", &l.technician)
        .await;
    assert!(
        listed
            .iter()
            .any(|r| r["rule_id"] == SPRAY && r["enabled"] == true),
        "{listed:#?}"
    );

    // Three failures for Ana and one for Bob: nothing yet, and the correlated rule makes no
    // findings of its own.
    let first = ndjson(&[
        failed_logon("ana", 100, 9),
        failed_logon("ana", 101, 8),
        failed_logon("bob", 102, 8),
        failed_logon("ana", 103, 7),
    ]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), first).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    assert!(sigma_findings(&l).await.is_empty());

    // Two more in a later batch make five within ten minutes: one finding, naming them all.
    let second = ndjson(&[failed_logon("ana", 104, 6), failed_logon("ana", 105, 5)]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), second).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    let found = sigma_findings(&l).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let finding = &found[0];
    assert_eq!(finding["rule"], format!("sigma:{SPRAY}"));
    assert_eq!(finding["severity_id"], 4);
    assert_eq!(finding["details"]["correlation"], "event_count");
    assert_eq!(
        finding["details"]["group"],
        json!({"TargetUserName": "ana"})
    );
    assert_eq!(finding["details"]["value"], 5.0);
    assert_eq!(finding["details"]["rule_version"], version.as_str());
    assert_eq!(finding["details"]["mitre_techniques"], json!(["T1110"]));
    assert_eq!(list(finding, "event_ids").len(), 5, "{finding:#}");
    assert!(
        finding["title"].as_str().unwrap().contains("ana"),
        "{finding}"
    );

    // Turned off in this tenant, the correlation leaves its rule to make findings of its own.
    let (status, body) = l
        .call(
            Method::PUT,
            &l.path(&format!("detection-rules/{SPRAY}/state")),
            &l.technician,
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = ndjson(&[failed_logon("cy", 106, 4)]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), third).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    let own: Vec<Value> = sigma_findings(&l)
        .await
        .into_iter()
        .filter(|f| f["rule"] == format!("sigma:{FAILED_LOGON}"))
        .collect();
    assert_eq!(own.len(), 1, "{own:#?}");

    // A correlation cannot be hunted backwards; its rules can.
    let (status, refused) = l
        .call(
            Method::POST,
            &l.path(&format!("detection-rules/{SPRAY}/retro-hunt")),
            &l.technician,
            Some(&json!({"days": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "correlation-rule");
    l.stop().await;
}

#[test]
fn rules_test_counts_a_correlation_over_event_files() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("spray.yml");
    std::fs::write(&rules, SPRAY_RULES).unwrap();
    let lines: Vec<String> = (0..6)
        .map(|n| failed_logon("ana", 200 + n, 9 - i64::try_from(n).unwrap()).to_string())
        .chain([failed_logon("bob", 300, 4).to_string()])
        .collect();
    let events = dir.path().join("dc.ndjson");
    std::fs::write(&events, lines.join("\n")).unwrap();
    let output = steward()
        .args(["rules", "test", "--rules"])
        .arg(&rules)
        .arg("--events")
        .arg(&events)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let matches = |id: &str| {
        list(&report, "rules")
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in {report:#}"))["matches"]
            .clone()
    };
    assert_eq!(matches(FAILED_LOGON), 7);
    assert_eq!(
        matches(SPRAY),
        1,
        "Ana's fifth failure fires; Bob's one does not"
    );
    assert_eq!(list(&report, "skipped").len(), 0, "{report:#}");
}
