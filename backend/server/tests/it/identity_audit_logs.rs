//! The identity providers' audit logs in the loop: a new authenticator registered from abroad
//! reaches Steward from Microsoft Entra's directory audit log and Okta's System Log as Account
//! Change events about the employee, and the built-in Sigma rule for Entra's audit log finds it.

use serde_json::Value;
use steward_testkit::TestDatabase;

use crate::support::governed;

/// SigmaHQ's *Change to Authentication Method* (Entra audit logs).
const AUTHENTICATION_METHOD: &str = "sigma:4d78a000-ab52-4564-88a5-7ab5242b20c7";

#[tokio::test]
async fn a_new_authenticator_from_abroad_is_an_account_change_and_a_sigma_finding() {
    let db = TestDatabase::migrated().await;
    let l = governed::start(&db, None).await;
    l.connect_okta().await;
    l.sync_all().await;
    let run = l.run_scenario("rogue-authenticator").await;
    l.sync_all().await;
    l.settle().await;

    let changes = l
        .items("events?class=account_change&limit=200", &l.technician)
        .await;
    let products: Vec<&str> = changes
        .iter()
        .filter(|e| e["ocsf"]["activity_name"] == "MFA Factor Enable")
        .map(|e| e["ocsf"]["metadata"]["product"]["name"].as_str().unwrap())
        .collect();
    assert!(products.contains(&"Microsoft Entra ID"), "{changes:#?}");
    assert!(products.contains(&"Okta"), "{changes:#?}");

    let incidents = l.incidents().await;
    let findings: Vec<&Value> = incidents
        .iter()
        .flat_map(|i| i["findings"].as_array().unwrap())
        .filter(|f| f["rule"] == AUTHENTICATION_METHOD)
        .collect();
    assert_eq!(findings.len(), 1, "{incidents:#?}");
    let finding = findings[0];
    assert_eq!(finding["source"], "detection");
    let identities = l.items("identities?limit=200", &l.technician).await;
    let employee = identities
        .iter()
        .find(|i| {
            i["sources"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["external_id"] == run["target"]))
        })
        .unwrap_or_else(|| panic!("no identity for {}: {identities:#?}", run["target"]));
    assert_eq!(
        finding["entities"][0]["id"], employee["id"],
        "the finding is about the employee whose account changed"
    );
    l.stop().await;
}
