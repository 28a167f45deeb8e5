//! Detection in the governed loop: Defender's advanced hunting rows behind an alert (read
//! through Microsoft Graph) are evaluated by the built-in Sigma rules, and what they find joins
//! the alert's incident — one incident, one containment.

use steward_testkit::TestDatabase;

use crate::support::{governed, list};

const ENCODED_POWERSHELL: &str = "sigma:ca2092a1-c273-4878-9b4b-0d60115bf5ea";

#[tokio::test]
async fn the_macro_behind_a_defender_alert_is_found_by_sigma_rules_in_the_same_incident() {
    let db = TestDatabase::migrated().await;
    let l = governed::start_with_hunting(&db).await;
    let run = l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["verified"]).await;
    l.settle().await;

    let incidents = l.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let findings = list(&incidents[0], "findings");
    assert!(
        findings.iter().any(|f| f["source"] == "vendor_alert"),
        "{findings:#?}"
    );
    let powershell = findings
        .iter()
        .find(|f| f["rule"] == ENCODED_POWERSHELL)
        .unwrap_or_else(|| panic!("no encoded PowerShell finding: {findings:#?}"));
    assert_eq!(powershell["source"], "detection");
    assert!(
        powershell["details"]["matched"]
            .as_object()
            .unwrap()
            .keys()
            .any(|field| field.starts_with("process.")),
        "{powershell:#}"
    );
    assert_eq!(
        powershell["entities"][0]["id"], action["target"]["id"],
        "the rule's finding is about the laptop the alert is about"
    );
    // Every serious finding calls for containing the laptop: it is asked for, and done, once.
    let isolations: Vec<_> = l
        .actions()
        .await
        .into_iter()
        .filter(|a| a["type"] == "isolate_device")
        .collect();
    assert_eq!(isolations.len(), 1, "{isolations:#?}");
    let state = l.sandbox_state().await;
    let machine = run["target"].as_str().unwrap();
    assert_eq!(governed::isolations(&state, machine), 1, "{state:#}");
    l.stop().await;
}

/// The generic rule the RMM's inventory script trips: PowerShell's execution policy bypassed.
const BYPASS: &str = "87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180";

#[tokio::test]
async fn an_admin_script_trips_a_generic_rule_everywhere_and_the_verdicts_measure_it() {
    let db = TestDatabase::migrated().await;
    let l = governed::start_with_hunting(&db).await;
    let run = l.run_scenario("noisy-admin-script").await;
    let devices = run["records"].as_array().unwrap().len();
    l.sync_all().await;
    l.settle().await;

    let incidents = l.incidents().await;
    let noisy = governed::with_finding(&incidents, |f| f["rule"] == format!("sigma:{BYPASS}"));
    assert_eq!(
        noisy.len(),
        devices,
        "one incident per device: {incidents:#?}"
    );
    assert!(
        l.actions().await.is_empty(),
        "medium and low findings contain nothing"
    );
    // The technicians judge them benign; the rule's precision in this tenant falls to zero.
    for incident in &noisy {
        l.resolve_incident_as(incident["id"].as_str().unwrap(), "benign_true_positive")
            .await;
    }
    let (_, rules) = l
        .get("detection-rules?sort=findings&limit=3", &l.technician)
        .await;
    let bypass = list(&rules, "items")
        .iter()
        .find(|r| r["rule_id"] == BYPASS)
        .unwrap_or_else(|| panic!("the noisiest rules lack the bypass rule: {rules:#}"));
    assert_eq!(bypass["findings"], devices, "{bypass}");
    assert_eq!(bypass["benign_true_positives"], devices, "{bypass}");
    assert_eq!(bypass["precision"], 0.0, "{bypass}");
    l.stop().await;
}

/// A customer whose Defender licence has no advanced hunting (Defender for Business, Plan 1):
/// the integration works, Defender's alerts arrive, and the process, file and registry events
/// the endpoint rules read do not — a blind spot the coverage names with what would close it.
#[tokio::test]
async fn a_licence_without_advanced_hunting_is_a_blind_spot_until_it_is_licensed() {
    let db = TestDatabase::migrated().await;
    let l = governed::start(&db, None).await;
    let tenant = l.tenant.id.as_uuid();
    l.sandbox()
        .set_advanced_hunting(tenant, false)
        .await
        .unwrap();
    l.sync_all().await;

    let (_, before) = l.get("coverage", &l.technician).await;
    let gaps = list(&before, "telemetry_gaps");
    assert_eq!(gaps.len(), 1, "{before:#}");
    assert_eq!(gaps[0]["vendor"], "microsoft_graph");
    assert_eq!(gaps[0]["missing"]["stream"], "advanced_hunting");
    for (field, says) in [
        ("consequence", "process, file and registry events"),
        ("remedy", "Defender for Endpoint Plan 2"),
        ("remedy", "ThreatHunting.Read.All"),
    ] {
        assert!(
            gaps[0]["missing"][field].as_str().unwrap().contains(says),
            "{field}: {gaps:#?}"
        );
    }
    assert!(!gaps[0]["missing"]["reason"].as_str().unwrap().is_empty());
    let graph = l.integration_id("microsoft_graph").await;
    let integration = l
        .integrations()
        .await
        .into_iter()
        .find(|i| i["id"] == graph.as_str())
        .unwrap();
    assert_eq!(integration["health"], "healthy", "{integration:#}");
    assert_eq!(
        integration["missing_telemetry"][0]["stream"], "advanced_hunting",
        "{integration:#}"
    );
    l.assert_audited(&["integration.telemetry_changed"], 1)
        .await;

    // The malware is still found by Defender's alert, but nothing behind it is.
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    let incidents = l.incidents().await;
    assert!(
        incidents
            .iter()
            .flat_map(|i| list(i, "findings"))
            .all(|f| f["source"] == "vendor_alert"),
        "{incidents:#?}"
    );

    // Licensed, the gap closes at the next synchronization.
    l.sandbox()
        .set_advanced_hunting(tenant, true)
        .await
        .unwrap();
    l.sync_all().await;
    let (_, after) = l.get("coverage", &l.technician).await;
    assert_eq!(list(&after, "telemetry_gaps").len(), 0, "{after:#}");
    l.assert_audited(&["integration.telemetry_changed"], 2)
        .await;
    l.stop().await;
}
