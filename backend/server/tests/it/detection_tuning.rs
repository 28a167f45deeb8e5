//! Tuning a rule for one tenant through the API: the RMM's inventory script trips a generic
//! PowerShell rule on every device; judged benign, it yields a suggested suppression whose
//! replay hides no true positive, while a broader one that would hide the macro attack is
//! refused; once saved, the script's next run makes no finding.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_testkit::TestDatabase;

use crate::support::governed;

/// The generic rule the inventory script trips, and the macro attack's PowerShell too:
/// PowerShell's execution policy bypassed on the command line.
const BYPASS: &str = "87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180";

fn tuning(l: &governed::Loop, rest: &str) -> String {
    l.path(&format!("detection-rules/{BYPASS}/{rest}"))
}

/// The ids of the incidents holding a finding of the bypass rule.
async fn bypass_incidents(l: &governed::Loop) -> Vec<String> {
    l.items("incidents?limit=200", &l.technician)
        .await
        .iter()
        .filter(|i| {
            i["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["rule"] == format!("sigma:{BYPASS}"))
        })
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// GETs `rest` of the bypass rule's tuning routes as a technician.
async fn read(l: &governed::Loop, rest: &str) -> (StatusCode, Value) {
    l.call(Method::GET, &tuning(l, rest), &l.technician, None)
        .await
}

async fn process_event_count(l: &governed::Loop) -> usize {
    l.items("events?class=process_activity&limit=200", &l.technician)
        .await
        .len()
}

#[tokio::test]
async fn noise_is_suppressed_by_a_suggestion_that_hides_no_attack() {
    let db = TestDatabase::migrated().await;
    let l = governed::start_with_hunting(&db).await;

    // The inventory script runs everywhere; the technicians judge each incident benign.
    let run = l.run_scenario("noisy-admin-script").await;
    let devices = run["records"].as_array().unwrap().len();
    assert!(devices >= 2, "{run}");
    l.sync_all().await;
    l.settle().await;
    let noisy = bypass_incidents(&l).await;
    assert_eq!(noisy.len(), devices);
    for incident in &noisy {
        l.resolve_incident_as(incident, "benign_true_positive")
            .await;
    }
    // Then the macro attack, whose PowerShell bypasses the policy too: a true positive.
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    let attack: Vec<String> = bypass_incidents(&l)
        .await
        .into_iter()
        .filter(|id| !noisy.contains(id))
        .collect();
    assert_eq!(
        attack.len(),
        1,
        "the attack's PowerShell trips the rule too"
    );
    l.resolve_incident_as(&attack[0], "true_positive").await;

    // The suggestion is what the script's runs share, and hides only them.
    let (status, answer) = read(&l, "suppression-suggestion").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let suggestion = &answer["suggestion"];
    assert_eq!(suggestion["noise"], devices, "{answer:#}");
    let conditions = suggestion["conditions"].as_array().unwrap().clone();
    assert!(
        conditions.iter().any(|c| c["field"] == "process.cmd_line"
            && c["value"].as_str().unwrap().contains("inventory.ps1")),
        "{answer:#}"
    );
    assert!(
        conditions.iter().all(|c| c["field"] != "device.hostname"),
        "the script ran on several devices: {answer:#}"
    );
    assert_eq!(
        suggestion["replay"]["considered"],
        devices + 1,
        "{answer:#}"
    );
    assert_eq!(
        suggestion["replay"]["hidden"],
        json!({"true_positive": 0, "benign_true_positive": devices, "false_positive": 0, "unjudged": 0})
    );

    // A suppression of every PowerShell would have hidden the attack: replayed, then refused.
    let broad = json!([{
        "field": "process.file.path",
        "op": "contains",
        "value": "powershell.exe",
    }]);
    let (status, replay) = l
        .call(
            Method::POST,
            &tuning(&l, "suppressions/replay"),
            &l.technician,
            Some(&json!({"conditions": broad})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replay}");
    assert_eq!(replay["hidden"]["true_positive"], 1, "{replay:#}");
    assert_eq!(replay["hidden_true_positives"][0]["incident_id"], attack[0]);
    let (status, refused) = l
        .call(
            Method::POST,
            &tuning(&l, "suppressions"),
            &l.technician,
            Some(&json!({"conditions": broad, "reason": "PowerShell is noisy"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "hides-true-positives");
    assert_eq!(refused["replay"]["hidden"]["true_positive"], 1);
    let (_, listed) = read(&l, "suppressions").await;
    assert_eq!(
        listed["items"],
        json!([]),
        "a refused suppression is not kept"
    );
    // Accepted knowingly, it is kept, and the audit entry names the attack it hides.
    let (status, accepted) = l
        .call(
            Method::POST,
            &tuning(&l, "suppressions"),
            &l.admin,
            Some(&json!({
                "conditions": broad,
                "reason": "lab machines run PowerShell all day",
                "accept_hidden_true_positives": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accepted}");
    let audit = l.items("audit?limit=200", &l.admin).await;
    let entry = audit
        .iter()
        .find(|e| e["action"] == "detection_rule.suppressed")
        .unwrap_or_else(|| panic!("no suppression in the audit chain: {audit:#?}"));
    assert_eq!(
        entry["after"]["accepted_hidden_true_positives"][0]["incident_id"], attack[0],
        "{entry:#}"
    );
    let broad_id = accepted["suppression"]["id"].as_str().unwrap();
    l.send(
        Method::DELETE,
        &format!("detection-rules/{BYPASS}/suppressions/{broad_id}"),
        &l.technician,
        StatusCode::NO_CONTENT,
    )
    .await;

    // The suggestion, saved with a reason, holds back the script's next run.
    let (status, saved) = l
        .call(
            Method::POST,
            &tuning(&l, "suppressions"),
            &l.technician,
            Some(
                &json!({"conditions": conditions, "reason": "NinjaOne's nightly inventory script"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["replay"]["hidden"]["true_positive"], 0);
    assert_eq!(
        saved["suppression"]["reason"],
        "NinjaOne's nightly inventory script"
    );
    assert!(
        saved["suppression"]["author"]
            .as_str()
            .is_some_and(|a| !a.is_empty()),
        "{saved}"
    );
    let (_, listed) = read(&l, "suppressions").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["items"][0]["active"], true);

    let events_before = process_event_count(&l).await;
    l.run_scenario("noisy-admin-script").await;
    l.sync_all().await;
    l.settle().await;
    assert!(
        process_event_count(&l).await > events_before,
        "the script's new runs were read"
    );
    assert_eq!(
        bypass_incidents(&l).await.len(),
        devices + 1,
        "no new finding of the suppressed runs"
    );
    l.assert_audited(&["detection_rule.suppressed"], 2).await;

    // Removing it is audited too; what it held back is findable again from then on.
    let id = saved["suppression"]["id"].as_str().unwrap();
    let (status, _) = l
        .call(
            Method::DELETE,
            &tuning(&l, &format!("suppressions/{id}")),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, again) = l
        .call(
            Method::DELETE,
            &tuning(&l, &format!("suppressions/{id}")),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{again}");
    l.assert_audited(&["detection_rule.suppression_removed"], 2)
        .await;
    l.stop().await;
}

#[tokio::test]
async fn bad_suppressions_are_refused_and_change_nothing() {
    let db = TestDatabase::migrated().await;
    let l = governed::start(&db, None).await;
    let cases: [(Value, StatusCode, &str); 5] = [
        (
            json!({"conditions": [], "reason": "noise"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-conditions",
        ),
        (
            json!({"conditions": [{"field": "process..cmd_line", "op": "equals", "value": "x"}], "reason": "noise"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-conditions",
        ),
        (
            json!({"conditions": [{"field": "process.cmd_line", "op": "equals", "value": "x"}], "reason": " "}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason-required",
        ),
        (
            json!({"conditions": [{"field": "process.cmd_line", "op": "equals", "value": "x"}], "reason": "noise", "expires_at": "2001-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-expiry",
        ),
        (
            json!({"conditions": [{"field": "process.cmd_line", "op": "regex", "value": "x"}], "reason": "noise"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
    ];
    for (body, expected, code) in cases {
        let (status, answer) = l
            .call(
                Method::POST,
                &tuning(&l, "suppressions"),
                &l.technician,
                Some(&body),
            )
            .await;
        assert_eq!(status, expected, "{body} → {answer}");
        if code != "invalid-body" {
            assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
        }
    }
    let (status, answer) = l
        .call(
            Method::POST,
            &l.path("detection-rules/no-such-rule/suppressions"),
            &l.technician,
            Some(&json!({"conditions": [{"field": "a", "op": "equals", "value": "b"}], "reason": "r"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    let (_, listed) = read(&l, "suppressions").await;
    assert_eq!(listed["items"], json!([]));
    let (status, answer) = read(&l, "suppression-suggestion").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["suggestion"], Value::Null, "nothing judged yet");
    assert!(answer["reason"].as_str().is_some(), "{answer}");
    l.assert_audited(&["detection_rule.suppressed"], 0).await;
    l.stop().await;
}

/// A suppression ends at its expiry: it stays listed, no longer active, and the rule's matches
/// are findings again. It is its tenant's alone: another tenant neither sees nor removes it.
#[tokio::test]
async fn a_suppression_ends_at_its_expiry_and_stays_in_its_tenant() {
    use steward_domain::clock::Clock;
    let db = TestDatabase::migrated().await;
    let l = governed::start_with_hunting(&db).await;
    let expires_at = l.world.clock.now() + chrono::Duration::days(1);
    let (status, saved) = l
        .call(
            Method::POST,
            &tuning(&l, "suppressions"),
            &l.technician,
            Some(&json!({
                "conditions": [{"field": "process.cmd_line", "op": "contains", "value": "\\inventory.ps1"}],
                "reason": "the RMM's nightly inventory, until its script is signed",
                "expires_at": expires_at,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let id = saved["suppression"]["id"].as_str().unwrap().to_owned();

    // While it holds, the script's runs are seen and make no finding.
    l.run_scenario("noisy-admin-script").await;
    l.sync_all().await;
    l.settle().await;
    assert!(process_event_count(&l).await > 0);
    assert_eq!(bypass_incidents(&l).await, Vec::<String>::new());

    // Another customer's technicians see nothing of it and cannot remove it.
    let other = l.world.tenant(l.tenant.msp_id, "other-customer").await;
    let elsewhere = format!(
        "/api/v1/tenants/{}/detection-rules/{BYPASS}/suppressions",
        other.id
    );
    let (status, listed) = l.call(Method::GET, &elsewhere, &l.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["items"], json!([]));
    let (status, _) = l
        .call(
            Method::DELETE,
            &format!("{elsewhere}/{id}"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Two days on it has expired: listed, not active, and the script is found again.
    l.world.clock.advance(chrono::Duration::days(2));
    let (_, listed) = read(&l, "suppressions").await;
    assert_eq!(listed["items"][0]["id"], id.as_str(), "{listed}");
    assert_eq!(listed["items"][0]["active"], false, "{listed}");
    let before = process_event_count(&l).await;
    let run = l.run_scenario("noisy-admin-script").await;
    l.sync_all().await;
    l.settle().await;
    assert!(process_event_count(&l).await > before);
    assert_eq!(
        bypass_incidents(&l).await.len(),
        run["records"].as_array().unwrap().len()
    );
    l.stop().await;
}
