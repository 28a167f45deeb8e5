//! Adaptive sign-in baselines through the API: each identity's usual countries, networks,
//! devices and hours are learned from its sign-ins; a sign-in that breaks them is a finding
//! whose risk factor says what it broke; settling it as benign teaches the baseline.

use axum::http::StatusCode;
use serde_json::Value;
use steward_testkit::TestDatabase;

use crate::support::governed::{self, Loop};

const UNUSUAL: &str = "unusual-sign-in";

async fn identity_of(l: &Loop, vendor_id: &str) -> Value {
    l.items("identities?limit=200", &l.technician)
        .await
        .into_iter()
        .find(|i| {
            i["sources"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["external_id"] == vendor_id))
        })
        .unwrap_or_else(|| panic!("no identity for {vendor_id}"))
}

async fn baseline(l: &Loop, identity: &str) -> Value {
    let (status, body) = l
        .get(
            &format!("identities/{identity}/sign-in-baseline"),
            &l.technician,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn keys(object: &Value) -> Vec<String> {
    object
        .as_object()
        .unwrap()
        .keys()
        .map(ToOwned::to_owned)
        .collect()
}

async fn unusual_findings(l: &Loop) -> Vec<(String, Value)> {
    l.incidents()
        .await
        .into_iter()
        .flat_map(|i| {
            let incident = i["id"].as_str().unwrap().to_owned();
            i["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] == UNUSUAL)
                .map(|f| (incident.clone(), f.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn a_first_sign_in_from_another_country_breaks_the_learned_baseline_until_settled_benign() {
    let db = TestDatabase::migrated().await;
    let l = governed::start(&db, None).await;
    l.sync_all().await;
    assert!(
        unusual_findings(&l).await.is_empty(),
        "a week of ordinary office sign-ins is usual"
    );

    let run = l.run_scenario("compromised-admin").await;
    let admin = identity_of(&l, run["target"].as_str().unwrap()).await;
    let admin_id = admin["id"].as_str().unwrap();
    l.sync_all().await;

    // The week in the office is learned: one country, one network, the laptop.
    let learned = baseline(&l, admin_id).await;
    assert_eq!(learned["state"], "established", "{learned:#}");
    assert!(
        learned["days_learned"].as_u64().unwrap() >= 5,
        "{learned:#}"
    );
    let home = keys(&learned["baseline"]["countries"]);
    assert_eq!(home.len(), 1, "{learned:#}");
    assert!(!home.contains(&"NG".to_owned()), "{learned:#}");
    assert_eq!(
        keys(&learned["baseline"]["devices"]).len(),
        1,
        "{learned:#}"
    );

    // The stolen session used from Lagos breaks it, and the finding says how.
    let found = unusual_findings(&l).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let (incident, finding) = &found[0];
    assert_eq!(finding["details"]["identity_id"], admin["id"]);
    assert_eq!(
        finding["details"]["broken"][0],
        serde_json::json!({"part": "country", "value": "NG", "usual": home})
    );
    assert_eq!(finding["details"]["broken"][1]["part"], "network");
    let title = finding["title"].as_str().unwrap();
    assert!(
        title.contains(&format!("first sign-in from NG (usually {})", home[0])),
        "{title}"
    );
    assert_eq!(finding["entities"][0]["id"], admin["id"]);
    // The unusual sign-in was not learned: the attacker's country is not usual.
    let held_out = baseline(&l, admin_id).await;
    assert!(!keys(&held_out["baseline"]["countries"]).contains(&"NG".to_owned()));

    // The admin's risk says which part of the baseline broke, with the incident as evidence.
    let risk = l
        .risks()
        .await
        .into_iter()
        .find(|r| r["entity"]["id"] == admin["id"])
        .expect("the admin is at risk");
    let factor = risk["factors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == UNUSUAL)
        .unwrap_or_else(|| panic!("{risk:#}"));
    assert!(
        factor["detail"]
            .as_str()
            .unwrap()
            .contains("first sign-in from NG"),
        "{factor}"
    );
    assert!(
        factor["evidence"].as_str().unwrap().ends_with(incident),
        "{factor}"
    );

    // The admin really is in Lagos: settled as benign, the sign-in is learned, on the record.
    l.resolve_incident_as(incident, "benign_true_positive")
        .await;
    let taught = baseline(&l, admin_id).await;
    assert!(
        keys(&taught["baseline"]["countries"]).contains(&"NG".to_owned()),
        "{taught:#}"
    );
    assert!(
        keys(&taught["baseline"]["networks"]).contains(&"105.112.33.0/24".to_owned()),
        "{taught:#}"
    );
    l.assert_audited(&["sign_in_baseline.learned"], 1).await;

    // The next day's sign-in from Lagos is usual now: impossible travel still fires on the
    // hop from the office, the baseline does not.
    l.world.clock.advance(chrono::Duration::days(1));
    l.run_scenario("compromised-admin").await;
    l.sync_all().await;
    let rules: Vec<String> = l
        .incidents()
        .await
        .iter()
        .filter(|i| i["status"] != "resolved")
        .flat_map(|i| i["findings"].as_array().unwrap().clone())
        .map(|f| f["rule"].as_str().unwrap().to_owned())
        .collect();
    assert!(rules.contains(&"impossible-travel".to_owned()), "{rules:?}");
    assert_eq!(unusual_findings(&l).await.len(), 1, "{rules:?}");
    l.stop().await;
}

#[tokio::test]
async fn a_baseline_is_read_only_for_those_who_see_the_inventory_of_an_identity_that_exists() {
    let db = TestDatabase::migrated().await;
    let l = governed::start(&db, None).await;
    l.sync_all().await;
    let someone = l.items("identities?limit=1", &l.technician).await;
    let id = someone[0]["id"].as_str().unwrap();
    let path = format!("identities/{id}/sign-in-baseline");

    let (status, body) = l.get(&path, &l.approver).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = l.get(&path, &l.stranger).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let unknown = "0194f3a2-7b1c-7d3e-9f00-1234567890ab";
    let (status, body) = l
        .get(
            &format!("identities/{unknown}/sign-in-baseline"),
            &l.technician,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(unknown));
    let (status, body) = l
        .get("identities/not-an-id/sign-in-baseline", &l.technician)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    l.stop().await;
}
