//! The log ingest endpoint through HTTP: a log shipper sends Windows events with the
//! integration's ingest key (or a tool signs them per Standard Webhooks); each is normalized to
//! OCSF on its own, a bad one reported by index while the rest are kept; what is stored is
//! evaluated by the Sigma rules, and a match becomes a finding in an incident, with a
//! `detection:` risk factor on the device the event names. Limits answer 413 and 429 and keep
//! nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_domain::clock::{Clock, SystemClock};
use steward_integrations::standard_webhooks;
use steward_server::config::IngestConfig;
use steward_testkit::{TestDatabase, World};

use crate::support::{
    self, TestApp, governed, list, windows_events::office_starts_encoded_powershell,
};

const ENCODED_POWERSHELL: &str = "ca2092a1-c273-4878-9b4b-0d60115bf5ea";
const NET_USER_ADD: &str = "cd219ff3-fa99-45d4-8380-a7d15116c6dc";

/// Someone adds a local user with `net user … /add` on `computer` (a medium-level rule: a
/// finding, nothing to contain), as Winlogbeat sends it.
fn net_user_add(computer: &str) -> Value {
    json!({
        "@timestamp": "2026-12-01T09:30:00Z",
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": 1,
            "computer_name": computer,
            "record_id": 6001,
            "event_data": {
                "Image": "C:\\Windows\\System32\\net.exe",
                "OriginalFileName": "net.exe",
                "CommandLine": "net user helpdesk Winter2026! /add",
                "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                "ProcessId": "5300",
                "ParentProcessId": "5200",
            },
        },
    })
}

/// A Windows event Steward does not normalize (a service installed), flattened as NXLog sends
/// it.
fn unsupported(computer: &str) -> Value {
    json!({
        "EventTime": "2026-12-01 09:20:00", "Hostname": computer, "EventID": 7045,
        "Channel": "System", "RecordNumber": 77, "ServiceName": "updater",
    })
}

pub(crate) fn ndjson(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) async fn post(
    app: &TestApp,
    integration: &str,
    headers: &[(&str, String)],
    body: String,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/ingest/{integration}")))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

pub(crate) fn bearer(key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {key}")),
        ("content-type", "application/x-ndjson".to_owned()),
    ]
}

#[tokio::test]
async fn shipped_windows_events_become_sigma_findings_on_the_device_they_name() {
    let l = governed::start_fresh().await;
    let integration = l.connect_ninjaone().await;
    let integration = integration["id"].as_str().unwrap().to_owned();
    l.sync_all().await;
    let devices = l.inventory("devices").await;
    // Windows logs name the computer in capitals, in the domain it joined.
    let computer_of = |device: &Value| {
        let hostname = device["hostname"].as_str().unwrap();
        format!(
            "{}.corp.example",
            hostname.split('.').next().unwrap().to_uppercase()
        )
    };
    let (device, other) = (&devices[0], &devices[1]);
    let computer = computer_of(device);

    let created = l.create_ingest_key(&integration).await;
    assert_eq!(created["path"], format!("/api/v1/ingest/{integration}"));
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sik_"));

    let batch = ndjson(&[
        office_starts_encoded_powershell(&computer, 5001),
        json!({"Event": "not an event"}),
        unsupported(&computer),
        net_user_add(&computer_of(other)),
    ]) + "\n{not json\n"
        // A log sender may not pose as a vendor raising an alert, nor date an event ahead.
        + &ndjson(&[
            json!({"class_uid": 2004, "time": SystemClock.now().timestamp_millis(),
                   "severity_id": 5, "metadata": {"uid": "da_forged"}, "device": {"hostname": computer}}),
            json!({"class_uid": 1007, "activity_id": 1, "time": 4_102_444_800_000_i64,
                   "metadata": {"uid": "from-2100"}, "device": {"hostname": computer}}),
        ]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), batch.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(
        (
            &receipt["received"],
            &receipt["stored"],
            &receipt["duplicates"]
        ),
        (&json!(7), &json!(2), &json!(0)),
        "{receipt}"
    );
    let rejected: Vec<u64> = list(&receipt, "rejected")
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, [1, 2, 4, 5, 6], "{receipt}");
    // Why the `n`th rejected event was rejected.
    let why = |n: usize| receipt["rejected"][n]["error"].as_str().unwrap();
    assert!(
        why(3).starts_with("Detection Finding events come from the vendors"),
        "{receipt}"
    );
    assert!(why(4).contains("in the future"), "{receipt}");
    assert!(why(1).contains("7045"), "{receipt}");
    assert!(why(2).starts_with("not JSON"), "{receipt}");

    l.settle().await;
    let incidents = l.incidents().await;
    let finding = incidents
        .iter()
        .flat_map(|i| list(i, "findings"))
        .find(|f| f["rule"] == format!("sigma:{ENCODED_POWERSHELL}"))
        .unwrap_or_else(|| panic!("no finding of the encoded PowerShell rule: {incidents:#?}"));
    assert_eq!(finding["source"], "detection");
    assert_eq!(finding["severity_id"], 4, "level high: {finding}");
    assert_eq!(finding["details"]["rule_id"], ENCODED_POWERSHELL);
    assert!(
        finding["details"]["rule_version"]
            .as_str()
            .is_some_and(|v| v.len() == 16),
        "{finding}"
    );
    assert!(
        list(&finding["details"], "mitre_techniques").contains(&json!("T1059.001")),
        "{finding}"
    );
    // A high-level match is serious: the playbook contains the device, as for a vendor's alert.
    let isolated = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(isolated["target"]["id"], device["id"], "{isolated}");
    // A medium-level match on the other device is a risk factor with its evidence.
    l.settled_risk(
        other["id"].as_str().unwrap(),
        "a detection factor on the other device",
        |risk| {
            risk["factors"].as_array().is_some_and(|factors| {
                factors.iter().any(|f| {
                    f["name"] == format!("detection:sigma:{NET_USER_ADD}")
                        && f["contribution"] == 20
                        && f["evidence"]
                            .as_str()
                            .is_some_and(|e| e.contains("/incidents/"))
                })
            })
        },
    )
    .await;
    l.assert_audited(&["events.ingested"], 1).await;

    // Logs of a computer no tool has reported: what the rules find is one incident about no
    // known device, not one per rule.
    let unknown = ndjson(&[office_starts_encoded_powershell(
        "KIOSK-9.corp.example",
        7001,
    )]);
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), unknown).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    l.settle().await;
    let incidents = l.incidents().await;
    let kiosk = governed::with_finding(&incidents, |f| {
        f["details"]["host"] == "KIOSK-9.corp.example"
    });
    assert_eq!(kiosk.len(), 1, "{incidents:#?}");
    assert!(
        list(kiosk[0], "findings").len() >= 2,
        "several rules match an Office document starting an encoded PowerShell: {:#}",
        kiosk[0]
    );
    assert_eq!(kiosk[0]["entities"], json!([]));

    // The shipper sends the same batch again: nothing new is stored or found.
    let (status, receipt, _) = post(&l.app, &integration, &bearer(&key), batch).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(
        (&receipt["stored"], &receipt["duplicates"]),
        (&json!(0), &json!(2))
    );

    // A tool that can sign sends a JSON array signed with the webhook secret instead.
    let rest = format!("integrations/{integration}/webhook-secret");
    let secret = l.send(Method::POST, &rest, &l.admin, StatusCode::OK).await;
    let secret = secret["secret"].as_str().unwrap();
    let body = json!([office_starts_encoded_powershell(&computer, 5002)]).to_string();
    let now = SystemClock.now().timestamp();
    let signature = standard_webhooks::sign(secret, "msg-1", now, body.as_bytes()).unwrap();
    let signed = vec![
        ("content-type", "application/json".to_owned()),
        ("webhook-id", "msg-1".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", signature),
    ];
    let (status, receipt, _) = post(&l.app, &integration, &signed, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["stored"], 1, "{receipt}");

    // Wrong or missing credentials and unknown endpoints store nothing.
    let forged = vec![
        ("content-type", "application/json".to_owned()),
        ("webhook-id", "msg-2".to_owned()),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", "v1,AAAA".to_owned()),
    ];
    let tampered = body.replace("5002", "5003");
    let (status, refused, _) = post(&l.app, &integration, &forged, tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    let other = office_starts_encoded_powershell(&computer, 5004).to_string();
    let (status, refused, _) =
        post(&l.app, &integration, &bearer("sik_guess"), other.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid-ingest-key");
    let (status, _, _) = post(
        &l.app,
        "01a2508d-0000-7000-8000-000000000000",
        &bearer(&key),
        other,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let events = l.items("events?limit=200", &l.technician).await;
    let process_events = events
        .iter()
        .filter(|e| e["class"] == "process_activity")
        .count();
    assert_eq!(
        process_events, 4,
        "records 5001, 5002, 6001 and the kiosk's 7001 only: {events:#?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn batches_beyond_the_limits_are_refused_whole() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let people = support::harbor_people(&world).await;
    let app = TestApp::for_world_with_ingest(
        &world,
        &IngestConfig {
            max_batch_events: 3,
            events_per_minute: 5,
        },
    )
    .await;
    let admin = world.token(&people.admin, None).await;
    let tenant = people.tenant.id;
    // A log source needs no vendor to answer: the integration is only where its logs go.
    let (status, integration) = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/integrations"),
            Some(&admin),
            Some(&json!({
                "vendor": "ninjaone",
                "name": "Workstation logs",
                "settings": {
                    "client_id": "logs",
                    "organization_id": 1,
                    "instance_url": app.url("/nowhere/"),
                },
                "credential": "unused",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{integration}");
    let integration = integration["id"].as_str().unwrap().to_owned();
    let (_, created) = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/integrations/{integration}/ingest-key"),
            Some(&admin),
            None,
        )
        .await;
    let key = created["key"].as_str().unwrap().to_owned();
    let events = |from: u64, n: u64| -> String {
        ndjson(
            &(from..from + n)
                .map(|record| office_starts_encoded_powershell("PC-1", record))
                .collect::<Vec<_>>(),
        )
    };

    let (status, refused, _) = post(&app, &integration, &bearer(&key), events(1, 4)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert_eq!(refused["error"]["code"], "batch-too-large");

    let (status, receipt, _) = post(&app, &integration, &bearer(&key), events(10, 3)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{receipt}");
    assert_eq!(receipt["stored"], 3);
    // Three of five events a minute are used: three more are too many.
    let (status, refused, headers) = post(&app, &integration, &bearer(&key), events(20, 3)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "rate-limited");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");

    let (_, stored) = app
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{tenant}/events?limit=200"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        list(&stored, "items").len(),
        3,
        "only the accepted batch is stored: {stored:#}"
    );
}
