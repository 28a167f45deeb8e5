//! `steward rules coverage`: recall over the sandbox's labelled scenarios, measured through a
//! whole Steward — and what turning a rule off would cost.

use serde_json::Value;
use steward_testkit::TestDatabase;

use crate::support::{run, steward_on};

/// Change PowerShell Policies to an Insecure Level: noisy, and part of catching the macro.
const BYPASS: &str = "sigma:87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180";

async fn coverage(extra: &[&str]) -> (i32, Value, String) {
    let db = TestDatabase::empty().await;
    let mut command = steward_on(&db);
    command
        .args(["rules", "coverage", "--format", "json"])
        .args(extra);
    let (code, stdout, stderr) = run(command);
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}\n{stderr}"));
    (code, report, stderr)
}

fn scenario<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

fn fired(scenario: &Value, rule: &str) -> bool {
    scenario["expected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["rule"] == rule)
        .unwrap_or_else(|| panic!("{rule} is not expected in {scenario:#}"))["fired"]
        == true
}

#[tokio::test]
async fn every_labelled_scenario_is_detected_and_a_rule_turned_off_is_missed() {
    let (code, report, stderr) = coverage(&[]).await;
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    assert_eq!(report["recall"], 1.0, "{report:#}");
    assert_eq!(report["found"], report["expected"]);
    let names: Vec<&str> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "malware-laptop",
            "compromised-admin",
            "noisy-admin-script",
            "rogue-authenticator"
        ]
    );
    let malware = scenario(&report, "malware-laptop");
    assert!(fired(
        malware,
        "vendor-alert:Microsoft Defender for Endpoint"
    ));
    assert!(fired(malware, BYPASS));
    assert!(
        malware["expected"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["title"] == "Suspicious Microsoft Office Child Process"),
        "{malware:#}"
    );
    assert!(fired(
        scenario(&report, "compromised-admin"),
        "impossible-travel"
    ));

    // Turned off, the noisy rule no longer catches the macro's policy bypass either.
    let rule_id = BYPASS.trim_start_matches("sigma:");
    let (code, report, stderr) = coverage(&["--without", rule_id]).await;
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    assert_eq!(report["without"][0], rule_id);
    assert!(!fired(scenario(&report, "malware-laptop"), BYPASS));
    assert!(!fired(scenario(&report, "noisy-admin-script"), BYPASS));
    assert!(fired(
        scenario(&report, "malware-laptop"),
        "vendor-alert:Microsoft Defender for Endpoint"
    ));
    assert_eq!(
        report["found"].as_u64().unwrap() + 2,
        report["expected"].as_u64().unwrap(),
        "{report:#}"
    );
}

#[tokio::test]
async fn coverage_without_a_rule_that_does_not_exist_is_refused() {
    let db = TestDatabase::empty().await;
    let mut command = steward_on(&db);
    command.args(["rules", "coverage", "--without", "no-such-rule"]);
    let (code, _, stderr) = run(command);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no rule no-such-rule"), "{stderr}");
}
