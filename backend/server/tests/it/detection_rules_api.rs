//! Detection rules as managed content through the API: a technician uploads the MSP's own rule
//! (refused with line and column when it is wrong, or when it takes a built-in rule's id), its
//! matches become findings naming its version, a new version replaces it in the audit chain,
//! built-in rules are turned off for one tenant or the whole MSP, and a removed rule is gone.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_domain::clock::{Clock, SystemClock};

use crate::{
    log_ingest::{bearer, ndjson, post},
    support::{governed, list, strings, windows_events::office_starts_encoded_powershell},
};

const OWN_RULE: &str = "7c3a9e12-4b5d-4f60-8e21-9a0b1c2d3e4f";
const ENCODED_POWERSHELL: &str = "ca2092a1-c273-4878-9b4b-0d60115bf5ea";
const OFFICE_CHILD: &str = "438025f9-5856-4663-83f7-52f878a70a50";

/// The MSP's rule: its remote-support tool started from a user's Downloads folder.
fn own_rule(folder: &str) -> String {
    format!(
        r"title: Remote support tool started from {folder}
id: {OWN_RULE}
status: experimental
description: The MSP's remote-support tool runs from Program Files; a copy elsewhere is not ours.
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\acmeassist.exe'
        Image|contains: '\{folder}\'
    condition: selection
level: medium
tags:
    - attack.t1219
"
    )
}

/// The tool started on `computer` an hour ago.
fn assist_started(computer: &str, record: u64) -> Value {
    let an_hour_ago = SystemClock.now() - chrono::Duration::hours(1);
    json!({
        "@timestamp": an_hour_ago.to_rfc3339(),
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": 1,
            "computer_name": computer,
            "record_id": record,
            "event_data": {
                "Image": "C:\\Users\\avery\\Downloads\\acmeassist.exe",
                "CommandLine": "acmeassist.exe --connect",
                "ParentImage": "C:\\Windows\\explorer.exe",
                "ProcessId": "6400",
                "ParentProcessId": "4012",
            },
        },
    })
}

#[tokio::test]
async fn the_msp_manages_its_rules_and_where_each_is_on() {
    let l = governed::start_fresh().await;
    l.sync_all().await;
    let device = l.inventory("devices").await[0].clone();
    let computer = device["hostname"].as_str().unwrap().to_uppercase();
    let integration = l.integrations().await[0]["id"].as_str().unwrap().to_owned();
    let key = l.create_ingest_key(&integration).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let rules = "/api/v1/msp/detection-rules";
    // Before the MSP has a rule for it, its remote-support tool runs from Downloads.
    let early = ndjson(&[assist_started(&computer, 9000)]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), early).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    assert!(findings(&l).await.is_empty());

    // A wrong rule is refused with where it is wrong, and a built-in id is not the MSP's.
    let (status, refused) = l
        .call(
            Method::POST,
            rules,
            &l.technician,
            Some(&json!({"yaml": own_rule("Downloads").replace("level: medium", "level: severe"), "reason": "remote support tools"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid-rule");
    assert!(
        list(&refused, "problems")
            .iter()
            .any(|p| p["line"] == 13 && p["message"].as_str().unwrap().contains("level")),
        "{refused:#}"
    );
    let (status, refused) = l
        .call(
            Method::POST,
            rules,
            &l.technician,
            Some(&json!({"yaml": own_rule("Downloads").replace(OWN_RULE, ENCODED_POWERSHELL), "reason": "remote support tools"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "built-in-rule");

    let (status, refused) = l
        .call(
            Method::POST,
            rules,
            &l.technician,
            Some(&json!({"yaml": own_rule("Downloads")})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "reason-required");
    let (status, uploaded) = l
        .call(
            Method::POST,
            rules,
            &l.technician,
            Some(&json!({"yaml": own_rule("Downloads"), "reason": "remote support tools run from Downloads"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["saved"], "created");
    let version = uploaded["rule"]["version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 16);

    // A retro-hunt runs the new rule over what was stored before it.
    let hunt = l.path(&format!("detection-rules/{OWN_RULE}/retro-hunt"));
    let (status, refused) = l
        .call(
            Method::POST,
            &hunt,
            &l.technician,
            Some(&json!({"days": 90})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, hunted) = l
        .call(
            Method::POST,
            &hunt,
            &l.technician,
            Some(&json!({"days": 30})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{hunted}");
    assert_eq!(hunted["matched"], 1, "{hunted}");
    assert!(hunted["scanned"].as_u64().unwrap() >= 1, "{hunted}");
    l.settle().await;
    let found = findings(&l).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["rule"], format!("sigma:{OWN_RULE}"));

    // Its match is a finding naming the version; the encoded PowerShell, off for this tenant,
    // finds nothing while the other rules still do.
    let (status, state) = l
        .call(
            Method::PUT,
            &l.path(&format!("detection-rules/{ENCODED_POWERSHELL}/state")),
            &l.technician,
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(
        (
            &state["enabled"],
            &state["tenant_enabled"],
            &state["msp_enabled"]
        ),
        (&json!(false), &json!(false), &Value::Null)
    );
    let batch = ndjson(&[
        assist_started(&computer, 9001),
        office_starts_encoded_powershell(&computer, 9002),
    ]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), batch).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    let findings = findings(&l).await;
    let own = findings
        .iter()
        .find(|f| f["rule"] == format!("sigma:{OWN_RULE}"))
        .unwrap_or_else(|| panic!("no finding of the MSP's rule: {findings:#?}"));
    assert_eq!(own["details"]["rule_version"], version.as_str());
    assert_eq!(own["severity_id"], 3);
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == format!("sigma:{OFFICE_CHILD}")),
        "{findings:#?}"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == format!("sigma:{ENCODED_POWERSHELL}")),
        "a rule off for the tenant found something: {findings:#?}"
    );

    // A technician concludes the incident was no attack: the precision of the rules whose
    // findings it holds says so.
    let incidents = l.incidents().await;
    let own_incident =
        governed::with_finding(&incidents, |f| f["rule"] == format!("sigma:{OWN_RULE}"))
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no incident of the MSP's rule: {incidents:#?}"));
    l.resolve_incident_as(own_incident["id"].as_str().unwrap(), "false_positive")
        .await;
    let (_, judged) = l
        .get(&format!("detection-rules?search={OWN_RULE}"), &l.technician)
        .await;
    let judged = &judged["items"][0];
    assert_eq!(
        (
            &judged["findings"],
            &judged["false_positives"],
            &judged["precision"]
        ),
        (&json!(2), &json!(2), &json!(0.0)),
        "records 9000 (found by the retro-hunt) and 9001: {judged}"
    );
    let last_match: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(judged["last_match"].clone()).expect("a last match");
    assert!(
        SystemClock.now() - last_match < chrono::Duration::hours(2),
        "the run an hour ago: {judged}"
    );

    // Findings count over a window: the macro six days ago is in the last week, not the last
    // five days.
    let office = |days: u16| format!("detection-rules?search={OFFICE_CHILD}&window_days={days}");
    let (_, week) = l.get(&office(7), &l.technician).await;
    assert_eq!(week["window_days"], 7);
    assert_eq!(week["items"][0]["findings"], 1, "{week}");
    let (_, five) = l.get(&office(5), &l.technician).await;
    assert_eq!(
        (
            &five["items"][0]["findings"],
            &five["items"][0]["last_match"]
        ),
        (&json!(0), &Value::Null),
        "{five}"
    );
    let (_, matched) = l
        .get("detection-rules?matched=true&window_days=5", &l.technician)
        .await;
    assert_eq!(
        strings(&matched, "items", "rule_id"),
        [OWN_RULE],
        "{matched}"
    );
    for days in [0, 366] {
        let (status, refused) = l.get(&office(days), &l.technician).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid-window");
    }

    let (_, noisiest) = l
        .get("detection-rules?sort=findings&limit=1", &l.technician)
        .await;
    assert_eq!(noisiest["items"][0]["rule_id"], OWN_RULE, "{noisiest}");

    // A new version replaces the rule; the audit chain keeps both versions.
    let (status, replaced) = l
        .call(
            Method::PUT,
            &format!("{rules}/{OWN_RULE}"),
            &l.technician,
            Some(&json!({"yaml": own_rule("Desktop"), "reason": "the tool moved to the desktop"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["saved"], "replaced");
    assert_eq!(replaced["previous_version"], version.as_str());
    assert_ne!(replaced["rule"]["version"], version.as_str());
    let (status, refused) = l
        .call(
            Method::PUT,
            &format!("{rules}/{OWN_RULE}"),
            &l.technician,
            Some(&json!({"yaml": own_rule("Desktop").replace(OWN_RULE, "another-id"), "reason": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (_, audit) = l
        .call(Method::GET, "/api/v1/audit?limit=200", &l.admin, None)
        .await;
    let updated = list(&audit, "items")
        .iter()
        .find(|e| e["action"] == "detection_rule.updated")
        .unwrap_or_else(|| panic!("no update in the MSP's chain: {audit:#}"));
    assert_eq!(updated["before"]["version"], version.as_str());
    assert_eq!(updated["after"]["reason"], "the tool moved to the desktop");
    assert!(
        updated["after"]["diff"].as_str().is_some_and(|d| d
            .lines()
            .any(|l| l.starts_with('-') && l.contains("Downloads"))
            && d.lines()
                .any(|l| l.starts_with('+') && l.contains("Desktop"))),
        "{updated:#}"
    );

    // The lineage: both versions, newest first, with who, why, the diff and what each found.
    let (status, history) = l
        .call(
            Method::GET,
            &format!("{rules}/{OWN_RULE}/history"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let versions = history["items"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{history:#}");
    assert_eq!(versions[0]["version"], replaced["rule"]["version"]);
    assert_eq!(versions[0]["current"], true);
    assert_eq!(versions[0]["reason"], "the tool moved to the desktop");
    assert!(
        versions[0]["diff"].as_str().is_some_and(|d| d
            .lines()
            .any(|l| l.starts_with('+') && l.contains("Desktop"))),
        "{history:#}"
    );
    assert_eq!(versions[0]["findings"], 0);
    assert_eq!(versions[1]["version"], version.as_str());
    assert_eq!(versions[1]["current"], false);
    assert_eq!(
        versions[1]["reason"],
        "remote support tools run from Downloads"
    );
    assert_eq!(versions[1]["diff"], Value::Null);
    assert_eq!(
        (&versions[1]["findings"], &versions[1]["false_positives"]),
        (&json!(2), &json!(2)),
        "the first version found both runs: {history:#}"
    );
    assert!(
        versions
            .iter()
            .all(|v| v["author"].as_str().is_some_and(|a| a.contains('@'))),
        "{history:#}"
    );

    // Lists: the MSP's own rule, and a built-in rule off MSP-wide.
    let (status, turned_off) = l
        .call(
            Method::PUT,
            &format!("{rules}/{OFFICE_CHILD}/state"),
            &l.admin,
            Some(&json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{turned_off}");
    let (_, custom) = l
        .call(
            Method::GET,
            &format!("{rules}?origin=custom"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(custom["total"], 1, "{custom}");
    assert_eq!(custom["items"][0]["rule_id"], OWN_RULE);
    let (_, off) = l
        .get("detection-rules?enabled=false&limit=500", &l.technician)
        .await;
    let mut off = strings(&off, "items", "rule_id");
    off.sort_unstable();
    assert_eq!(off, [OFFICE_CHILD, ENCODED_POWERSHELL]);
    let (_, all) = l.call(Method::GET, rules, &l.technician, None).await;
    assert!(all["total"].as_u64().unwrap() > 1500, "{}", all["total"]);
    assert_eq!(list(&all, "items").len(), 100);

    // Removed, the rule is gone.
    let (status, _) = l
        .call(
            Method::DELETE,
            &format!("{rules}/{OWN_RULE}"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = l
        .call(
            Method::GET,
            &format!("{rules}/{OWN_RULE}"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its lineage stays.
    let (status, history) = l
        .call(
            Method::GET,
            &format!("{rules}/{OWN_RULE}/history"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
    assert!(
        history["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["current"] == false)
    );
    l.stop().await;
}

/// The findings of all the tenant's incidents.
async fn findings(l: &governed::Loop) -> Vec<Value> {
    l.incidents()
        .await
        .iter()
        .flat_map(|i| list(i, "findings").to_vec())
        .collect()
}
