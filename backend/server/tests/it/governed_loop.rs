//! The governed loop through the HTTP API with a real worker: sandbox scenario → sync →
//! triage (findings, incidents, risk) → authority policy → approval → execution at the
//! simulated vendor → verification → rollback, each step in the audit chain.

use std::{sync::Arc, time::Duration};

use crate::support::{
    Browser, assert_contains_all, assert_includes_all,
    governed::{
        PASSWORD, broken_policy_dir, fast_settings, isolations, item, reasons, start, start_fresh,
        start_synced, start_with,
    },
    list, strings,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_core::Clock;
use steward_sandbox::{Api, Fault};
use steward_testkit::{TestDatabase, World};
use steward_workers::WorkerSettings;

#[tokio::test]
async fn malware_on_a_laptop_is_isolated_without_a_human_and_can_be_rolled_back() {
    let l = start_fresh().await;
    let run = l.run_scenario("malware-laptop").await;
    let machine_id = run["target"].as_str().unwrap().to_owned();

    let action = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(action["decision"]["outcome"], "auto");
    assert_eq!(
        action["decision"]["reasons"],
        json!(["reversible-action-within-automation-level"])
    );
    assert_eq!(action["decision_input"]["tenant"]["automation_level"], 2);
    assert_eq!(action["decision_input"]["proposer"]["kind"], "worker");
    assert_eq!(action["reversible"], true);
    assert_eq!(action["snapshot"]["isolated"], false);
    assert!(action["vendor_reference"].is_string(), "{action}");
    assert!(action["approvals"].as_array().unwrap().is_empty());

    // The vendor side really changed, once.
    let state = l.sandbox_state().await;
    let device = item(&state, "devices", &machine_id);
    assert_eq!(device["isolated"], true);
    assert_eq!(isolations(&state, &machine_id), 1, "{state:#}");

    // One incident, contained, with the vendor's alert as its finding.
    let incidents = l.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    assert_eq!(incident["status"], "contained");
    assert!(incident["contained_at"].is_string());
    assert_eq!(incident["severity_id"], 4);
    assert_eq!(incident["findings"][0]["source"], "vendor_alert");
    assert_eq!(action["incident_id"], incident["id"]);
    let (status, detail) = l
        .get(
            &format!("incidents/{}", incident["id"].as_str().unwrap()),
            &l.owner,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["actions"][0]["id"], action["id"]);

    // The laptop's risk was explained while the alert was open, and fell once contained.
    let laptop = l
        .risks()
        .await
        .into_iter()
        .find(|r| r["entity"]["id"] == action["target"]["id"])
        .unwrap();
    assert_eq!(
        strings(&laptop, "factors", "name"),
        ["contained-threat"],
        "{laptop:#}"
    );
    assert_eq!(laptop["score"], 5);
    let policy_risk = &action["decision_input"]["risk"];
    assert_eq!(policy_risk["score"], 35, "{policy_risk}");
    assert_eq!(policy_risk["factors"][0]["name"], "active-alert");

    let audit = l.audit_actions().await;
    assert_includes_all(
        &audit,
        &[
            "inventory.synced",
            "incident.created",
            "finding.recorded",
            "risk.changed",
            "action.proposed",
            "action.decided",
            "action.executing",
            "action.verifying",
            "action.verified",
            "incident.contained",
        ],
    );

    // Rolling back releases the device at the vendor and is verified too.
    let (status, rolling) = l.roll_back(&action).await;
    assert_eq!(status, StatusCode::OK, "{rolling}");
    assert_eq!(rolling["status"], "rolling_back");
    let rolled = l.settled_action("isolate_device", &["rolled_back"]).await;
    assert!(rolled["rolled_back_at"].is_string());
    assert_eq!(l.isolated(&machine_id).await, false);
    // A second rollback is refused and changes nothing.
    let (status, refused) = l.roll_back(&action).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "not-rollbackable");
    l.stop().await;
}

#[tokio::test]
async fn a_compromised_admin_waits_for_the_customer_and_a_technician() {
    let l = start_fresh().await;
    let run = l.run_scenario("compromised-admin").await;
    let user_id = run["target"].as_str().unwrap().to_owned();

    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    assert_eq!(disable["decision"]["outcome"], "customer_approval");
    assert!(
        reasons(&disable["decision"]).contains(&"privileged-identity"),
        "{disable}"
    );
    assert_eq!(revoke["decision"]["outcome"], "technician_approval");
    assert_eq!(
        revoke["decision"]["reasons"],
        json!(["irreversible-action"])
    );
    assert_eq!(revoke["reversible"], false);
    assert!(
        revoke["rollback_plan"]
            .as_str()
            .unwrap()
            .starts_with("None")
    );

    // Impossible travel, the sign-in unusual for the admin and the mass download are one
    // incident about the admin.
    let incidents = l.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let rules = strings(&incidents[0], "findings", "rule");
    assert!(rules.contains(&"impossible-travel"), "{rules:?}");
    assert!(rules.contains(&"unusual-sign-in"), "{rules:?}");
    assert_eq!(rules.len(), 3, "{rules:?}");
    let travel = list(&incidents[0], "findings")
        .iter()
        .find(|f| f["rule"] == "impossible-travel")
        .unwrap();
    assert!(
        travel["details"]["speed_kmh"].as_f64().unwrap() > 1000.0,
        "{travel}"
    );

    // The admin's laptop is at risk too: its primary user (who signs in from it most) is.
    let admin_name = l
        .inventory("identities")
        .await
        .into_iter()
        .find(|i| i["sources"][0]["external_id"] == user_id.as_str())
        .unwrap()["user_principal_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let risk = l.risks().await;
    let laptop = risk
        .iter()
        .find(|r| {
            r["entity"]["kind"] == "device"
                && list(r, "factors")
                    .iter()
                    .any(|f| f["name"] == "primary-user-at-risk")
        })
        .unwrap_or_else(|| panic!("no device carries its user's risk: {risk:#?}"));
    let factor = list(laptop, "factors")
        .iter()
        .find(|f| f["name"] == "primary-user-at-risk")
        .unwrap();
    assert!(
        factor["detail"].as_str().unwrap().contains(&admin_name),
        "{factor}"
    );
    assert_eq!(factor["contribution"], 20);

    let approve = |action: &Value| {
        l.path(&format!(
            "actions/{}/approve",
            action["id"].as_str().unwrap()
        ))
    };
    // The MSP cannot approve for the customer; the customer cannot approve for the MSP.
    let (status, refused) = l.answer_as(&disable, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "customer-approval-required");
    let (status, refused) = l.answer_as(&revoke, &l.owner, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert_eq!(refused["error"]["code"], "technician-approval-required");
    // An approval of another version is refused and changes nothing.
    let (status, refused) = l
        .call(
            Method::POST,
            &approve(&disable),
            &l.approver,
            Some(&json!({"version": "0".repeat(64)})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "stale-version");
    let state = l.sandbox_state().await;
    let user = |state: &Value| item(state, "users", &user_id);
    assert_eq!(user(&state)["account_enabled"], true);
    // Bad bodies are refused.
    let (status, _) = l
        .call(
            Method::POST,
            &approve(&disable),
            &l.approver,
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The customer's approver approves the version shown: the account is disabled.
    let (status, approved) = l
        .answer_with_comment(&disable, &l.approver, "approve", "yes, lock it")
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["approvals"][0]["side"], "customer");
    let disabled = l.settled_action("disable_user", &["verified"]).await;
    assert_eq!(disabled["snapshot"]["account_enabled"], true, "{disabled}");
    assert_eq!(user(&l.sandbox_state().await)["account_enabled"], false);
    // Answering again is refused.
    let (status, refused) = l.answer_as(&disable, &l.owner, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "not-awaiting-approval");

    // A technician approves revoking the sessions; it cannot be rolled back.
    let before = user(&l.sandbox_state().await)["sign_in_sessions_valid_from"].clone();
    let (status, approved) = l.answer_as(&revoke, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    l.settled_action("revoke_sessions", &["verified"]).await;
    assert_ne!(
        user(&l.sandbox_state().await)["sign_in_sessions_valid_from"],
        before
    );
    let (status, refused) = l.roll_back(&revoke).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "irreversible");

    // Rolling back the disable enables the account again.
    let (status, _) = l.roll_back_as(&disable, &l.admin).await;
    assert_eq!(status, StatusCode::OK);
    l.settled_action("disable_user", &["rolled_back"]).await;
    assert_eq!(user(&l.sandbox_state().await)["account_enabled"], true);

    let audit = l.audit_actions().await;
    assert_includes_all(
        &audit,
        &[
            "action.approved",
            "action.verified",
            "action.rolling_back",
            "action.rolled_back",
        ],
    );

    // The owner's report shows each action with who approved it, and its result.
    let to = (l.world.clock.now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, report) = l.get(&format!("reports/outcome?to={to}"), &l.owner).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let reported = |id: &Value| {
        list(&report, "actions")
            .iter()
            .find(|a| a["id"] == *id)
            .unwrap_or_else(|| panic!("{id} not in {report:#}"))
            .clone()
    };
    let disabled = reported(&disable["id"]);
    assert_eq!(disabled["status"], "rolled_back");
    assert_eq!(disabled["approvals"][0]["side"], "customer", "{disabled:#}");
    assert_eq!(disabled["approvals"][0]["comment"], "yes, lock it");
    let revoked = reported(&revoke["id"]);
    assert_eq!(revoked["status"], "verified");
    assert_eq!(revoked["approvals"][0]["side"], "technician", "{revoked:#}");
    assert_eq!(report["summary"]["actions_rolled_back"], 1);
    l.stop().await;
}

#[tokio::test]
async fn a_rejected_action_never_runs() {
    let l = start_fresh().await;
    let run = l.run_scenario("compromised-admin").await;
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let before = item(
        &l.sandbox_state().await,
        "users",
        run["target"].as_str().unwrap(),
    );
    assert!(
        before["sign_in_sessions_valid_from"].is_string(),
        "{before:#}"
    );
    let (status, rejected) = l
        .answer_with_comment(
            &revoke,
            &l.technician,
            "reject",
            "travelling, confirmed by phone",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    l.settle().await;
    let state = l.sandbox_state().await;
    let user = item(&state, "users", run["target"].as_str().unwrap());
    assert_eq!(user["account_enabled"], true);
    // The rejected revocation never reached Graph: the sessions are as they were.
    assert_eq!(
        user["sign_in_sessions_valid_from"], before["sign_in_sessions_valid_from"],
        "{user:#}"
    );
    assert_eq!(
        l.actions()
            .await
            .iter()
            .find(|a| a["type"] == "revoke_sessions")
            .unwrap()["status"],
        "rejected"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_failed_verification_rolls_the_action_back_automatically() {
    let l = start_fresh().await;
    // Find the laptop the scenario will hit, and make its next machine action fail.
    let laptop = finance_laptop(&l).await;
    l.inject(Fault::FailNextMachineAction {
        machine_id: laptop.clone(),
    })
    .await;
    l.run_scenario("malware-laptop").await;
    let action = l
        .settled_action("isolate_device", &["rolled_back", "rollback_failed"])
        .await;
    assert_eq!(action["status"], "rolled_back", "{action}");
    let audit = l.audit_actions().await;
    let failed = audit
        .iter()
        .position(|a| a == "action.failed")
        .expect("failed recorded");
    let rolling = audit
        .iter()
        .position(|a| a == "action.rolling_back")
        .expect("rollback recorded");
    assert!(failed < rolling, "{audit:?}");
    let state = l.sandbox_state().await;
    let device = item(&state, "devices", &laptop);
    assert_eq!(device["isolated"], false);
    l.stop().await;
}

#[tokio::test]
async fn a_throttling_storm_neither_loses_nor_duplicates_work() {
    let l = start_fresh().await;
    let sandbox = l.app.sandbox.as_ref().unwrap();
    // The next Defender calls (the sync's reads, then the isolation's) answer 429 with
    // Retry-After.
    sandbox.throttle(l.tenant.id.as_uuid(), Api::Defender, 8);
    let run = l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(
        sandbox.throttling_left(l.tenant.id.as_uuid(), Api::Defender),
        0,
        "every 429 of the storm was answered, and waited out"
    );
    assert_eq!(l.actions().await.len(), 1);
    let state = l.sandbox_state().await;
    let machine = run["target"].as_str().unwrap();
    assert_eq!(isolations(&state, machine), 1, "{state:#}");
    assert_eq!(l.incidents().await.len(), 1);
    assert_eq!(action["status"], "verified");
    l.stop().await;
}

#[tokio::test]
async fn a_vendor_that_refuses_the_action_fails_it_with_nothing_to_undo() {
    let l = start_fresh().await;
    let laptop = finance_laptop(&l).await;
    l.inject(Fault::RefuseNextMachineAction {
        machine_id: laptop.clone(),
    })
    .await;
    l.run_scenario("malware-laptop").await;
    let action = l
        .settled_action("isolate_device", &["failed", "verified", "rolled_back"])
        .await;
    assert_eq!(action["status"], "failed", "{action:#}");
    let detail = action["detail"].as_str().unwrap();
    assert!(
        detail.contains("refused") && detail.contains("Machine.Isolate"),
        "{detail}"
    );
    // The snapshot was taken (it was executing), the vendor refused, nothing changed there.
    assert_eq!(action["snapshot"]["isolated"], false, "{action:#}");
    assert!(action["executed_at"].is_null(), "{action:#}");
    let audit = l.audit_actions().await;
    assert!(audit.iter().any(|a| a == "action.executing"), "{audit:?}");
    assert!(audit.iter().any(|a| a == "action.failed"), "{audit:?}");
    assert!(
        !audit.iter().any(|a| a == "action.rolling_back"),
        "{audit:?}"
    );
    let state = l.sandbox_state().await;
    assert_eq!(item(&state, "devices", &laptop)["isolated"], false);
    assert!(
        list(&state, "machine_actions")
            .iter()
            .all(|a| a["machine_id"] != laptop.as_str()),
        "{state:#}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_revocation_that_never_takes_effect_fails_and_is_not_undone() {
    let l = start_fresh().await;
    let run = l.run_scenario("compromised-admin").await;
    let user_id = run["target"].as_str().unwrap().to_owned();
    // Graph accepts the revocation but it never takes effect.
    l.inject(Fault::DropNextRevocation {
        user_id: user_id.clone(),
    })
    .await;
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    l.answer(&revoke, "approve").await;
    let failed = l
        .settled_action("revoke_sessions", &["failed", "verified"])
        .await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert!(failed["executed_at"].is_string(), "the vendor was asked");
    assert!(failed["verified_at"].is_null());
    // Nothing can undo a revocation: it stays failed for a person to look at.
    l.settle().await;
    assert_eq!(l.status_of("revoke_sessions").await, "failed");
    let audit = l.audit_actions().await;
    assert!(audit.iter().any(|a| a == "action.verifying"), "{audit:?}");
    assert!(
        !audit.iter().any(|a| a == "action.rolling_back"),
        "{audit:?}"
    );
    l.stop().await;
}

/// The finance laptop `malware-laptop` hits, by its Defender machine id.
async fn finance_laptop(l: &crate::support::governed::Loop) -> String {
    list(&l.sandbox_state().await, "devices")
        .iter()
        .find(|d| d["tags"].as_array().unwrap().contains(&json!("Finance")))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_disable_that_does_not_hold_is_rolled_back_automatically() {
    let l = start_fresh().await;
    let run = l.run_scenario("compromised-admin").await;
    let user_id = run["target"].as_str().unwrap().to_owned();
    // An on-premises directory sync puts the account back as it was after every write.
    l.inject(Fault::RevertAccountWrites {
        user_id: user_id.clone(),
    })
    .await;
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let (status, body) = l.answer_as(&disable, &l.approver, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let action = l
        .settled_action("disable_user", &["rolled_back", "rollback_failed"])
        .await;
    assert_eq!(action["status"], "rolled_back", "{action:#}");
    assert!(action["verified_at"].is_null(), "{action:#}");
    let audit = l.audit_actions().await;
    let failed = audit.iter().position(|a| a == "action.failed");
    let rolling = audit.iter().position(|a| a == "action.rolling_back");
    assert!(failed.is_some() && failed < rolling, "{audit:?}");
    assert_eq!(
        item(&l.sandbox_state().await, "users", &user_id)["account_enabled"],
        true
    );
    l.stop().await;
}

#[tokio::test]
async fn a_policy_that_fails_denies_and_nothing_runs() {
    let db = TestDatabase::migrated().await;
    let broken = broken_policy_dir();
    let l = start(&db, Some(broken.path())).await;
    let run = l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["denied"]).await;
    assert_eq!(action["decision"]["outcome"], "deny");
    assert_eq!(action["decision"]["reasons"], json!(["policy-error"]));
    assert!(action["decision_input"]["action"]["type"] == "isolate_device");
    // What went wrong is told with the action and kept in the audit chain.
    let failure = action["detail"].as_str().unwrap();
    assert!(failure.contains("does not compile"), "{action:#}");
    let audit = l.items("audit?limit=200", &l.admin).await;
    let decided = audit
        .iter()
        .find(|e| e["action"] == "action.decided" && e["subject"]["id"] == action["id"])
        .unwrap_or_else(|| panic!("no action.decided entry: {audit:#?}"));
    assert_eq!(decided["after"]["policy_failure"], failure, "{decided:#}");
    assert_eq!(decided["after"]["decision"]["outcome"], "deny");
    l.settle().await;
    let state = l.sandbox_state().await;
    assert!(
        list(&state, "machine_actions")
            .iter()
            .all(|a| a["machine_id"] != run["target"]),
        "{state:#}"
    );
    l.stop().await;
}

#[tokio::test]
async fn automation_level_zero_asks_a_technician_first() {
    let l = start_fresh().await;
    let (status, tenant) = l.set_automation_level(0).await;
    assert_eq!(status, StatusCode::OK, "{tenant}");
    assert_eq!(tenant["automation_level"], 0);
    let (status, refused) = l.set_automation_level(4).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid-automation-level");

    l.run_scenario("malware-laptop").await;
    let action = l
        .settled_action("isolate_device", &["awaiting_approval"])
        .await;
    assert_eq!(action["decision"]["outcome"], "technician_approval");
    assert_eq!(
        action["decision"]["reasons"],
        json!(["automation-level-0-notify-only"])
    );
    let (status, _) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::OK);
    l.settled_action("isolate_device", &["verified"]).await;
    l.stop().await;
}

#[tokio::test]
async fn incidents_are_worked_through_their_lifecycle() {
    let l = start_fresh().await;
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    let incidents = l.incidents().await;
    let id = incidents[0]["id"].as_str().unwrap().to_owned();
    let incident = l.path(&format!("incidents/{id}"));
    let (_, me) = l.call(Method::GET, "/api/v1/me", &l.technician, None).await;
    // While contained, the incident still counts a little towards the laptop's risk, and the
    // factor links to it.
    let laptop = list(&incidents[0], "entities")
        .iter()
        .find(|e| e["kind"] == "device")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let risk = l
        .settled_risk(&laptop, "the laptop's contained threat", |r| {
            r["score"] == 5
        })
        .await;
    assert_eq!(risk["factors"][0]["name"], "contained-threat", "{risk:#}");
    assert_eq!(risk["factors"][0]["evidence"], incident.as_str());

    let (status, worked) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"status": "investigating", "assignee": me["user"]["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{worked}");
    assert_eq!(worked["status"], "investigating");
    assert!(me["user"]["id"].is_string(), "{me}");
    assert_eq!(worked["assignee"], me["user"]["id"]);
    // Resolving needs a verdict; a verdict needs resolving; customers cannot work incidents.
    let (status, refused) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["code"], "verdict-required");
    let (status, refused) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"verdict": "false_positive"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["code"], "verdict-without-resolution");
    let (status, _) = l
        .call(
            Method::PATCH,
            &incident,
            &l.owner,
            Some(&json!({"status": "resolved", "verdict": "true_positive"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, refused) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"assignee": uuid_string()})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, resolved) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"status": "resolved", "verdict": "true_positive"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["verdict"], "true_positive");
    assert!(resolved["resolved_at"].is_string());
    // Resolving the incident clears the laptop's risk.
    let risk = l
        .settled_risk(&laptop, "the laptop's risk once resolved", |r| {
            r["score"] == 0
        })
        .await;
    assert_eq!(risk["factors"], json!([]), "{risk:#}");
    let audit = l.audit_actions().await;
    assert!(audit.iter().filter(|a| *a == "incident.updated").count() >= 2);

    // Reopened, it counts again in full, and the verdict no longer stands.
    let (status, reopened) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"status": "investigating", "unassign": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["verdict"], Value::Null);
    assert_eq!(reopened["assignee"], Value::Null);
    assert_eq!(reopened["resolved_at"], Value::Null);
    let risk = l
        .settled_risk(&laptop, "the laptop's risk once reopened", |r| {
            r["score"] == 35
        })
        .await;
    assert_eq!(risk["factors"][0]["name"], "active-alert", "{risk:#}");
    let (status, benign) = l
        .call(
            Method::PATCH,
            &incident,
            &l.technician,
            Some(&json!({"status": "resolved", "verdict": "benign_true_positive"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{benign}");
    assert_eq!(benign["verdict"], "benign_true_positive");
    l.stop().await;
}

#[tokio::test]
async fn what_tools_say_of_privilege_and_criticality_is_scored_at_sync_with_links_to_the_entity() {
    let l = start_synced().await;
    let admin = l
        .inventory("identities")
        .await
        .into_iter()
        .find(|i| !i["admin_roles"].as_array().unwrap().is_empty())
        .expect("the sandbox has administrators");
    let server = l
        .inventory("devices")
        .await
        .into_iter()
        .find(|d| {
            list(d, "tags")
                .iter()
                .any(|t| t.as_str().unwrap().eq_ignore_ascii_case("server"))
        })
        .expect("the sandbox has a server");

    // No incident yet: their risk is what they are.
    for (entity, kind, factor) in [
        (&admin, "identity", "privileged-identity"),
        (&server, "device", "asset-criticality"),
    ] {
        let id = entity["id"].as_str().unwrap();
        let risk = l
            .settled_risk(id, &format!("the {kind}'s {factor}"), |r| {
                r["factors"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f["name"] == factor))
            })
            .await;
        assert!(risk["score"].as_u64().unwrap() >= 10, "{risk:#}");
        let found = list(&risk, "factors")
            .iter()
            .find(|f| f["name"] == factor)
            .unwrap();
        let evidence = found["evidence"].as_str().unwrap();
        assert_eq!(evidence, l.path(&format!("graph?center={kind}:{id}")));
        // The evidence is the entity in its context graph.
        let (status, graph) = l.call(Method::GET, evidence, &l.technician, None).await;
        assert_eq!(status, StatusCode::OK, "{graph}");
        assert!(
            list(&graph, "nodes")
                .iter()
                .any(|n| n["id"] == format!("{kind}:{id}")),
            "{graph:#}"
        );
    }
    // Someone without admin roles on an ordinary laptop has no risk to explain.
    let plain = l
        .inventory("identities")
        .await
        .into_iter()
        .find(|i| i["admin_roles"].as_array().unwrap().is_empty())
        .unwrap();
    let risk = l.risks().await;
    assert!(
        !risk
            .iter()
            .any(|r| r["entity"]["id"] == plain["id"] && r["score"] != 0),
        "{risk:#?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn findings_about_different_entities_open_different_incidents() {
    let l = start_fresh().await;
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    l.run_scenario("compromised-admin").await;
    l.settled_action("disable_user", &["awaiting_approval"])
        .await;
    let incidents = l.incidents().await;
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    let entities = |incident: &Value| list(incident, "entities").to_vec();
    assert!(
        entities(&incidents[0])
            .iter()
            .all(|e| !entities(&incidents[1]).contains(e)),
        "{incidents:#?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn an_approval_of_the_version_shown_before_the_action_changed_is_refused() {
    let l = start_fresh().await;
    l.run_scenario("compromised-admin").await;
    let shown = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    // Every finding (impossible travel, the unusual sign-in, the vendor's alert) is in before
    // the version is taken as the one shown: the loop settled.
    let incidents = l.incidents().await;
    assert_eq!(list(&incidents[0], "findings").len(), 3, "{incidents:#?}");
    let shown_version = shown["version"].clone();
    let id = shown["id"].as_str().unwrap().to_owned();

    // The attacker signs in again: a new finding raises the admin's risk, and triage decides
    // the waiting action again with that input — a new version.
    l.run_scenario("compromised-admin").await;
    let changed = l.settled_action_id(&id, &["awaiting_approval"]).await;
    assert_ne!(
        changed["version"], shown_version,
        "the action was never decided again"
    );
    assert!(changed.is_object(), "the action was never decided again");
    assert_ne!(
        changed["decision_input"]["risk"],
        Value::Null,
        "{changed:#}"
    );
    assert!(
        l.audit_actions()
            .await
            .iter()
            .any(|a| a == "action.redecided")
    );

    // The approver answers what they were shown: refused, nothing runs.
    let approve = l.path(&format!("actions/{id}/approve"));
    let (status, refused) = l
        .call(
            Method::POST,
            &approve,
            &l.approver,
            Some(&json!({"version": shown_version})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "stale-version");
    let current = l.action(&shown).await;
    assert_eq!(current["status"], "awaiting_approval");
    assert!(list(&current, "approvals").is_empty(), "{current:#}");

    // Approving the new version is what runs it.
    let (status, approved) = l.answer_as(&changed, &l.approver, "approve").await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    l.settled_action_id(&id, &["verified"]).await;
    l.stop().await;
}

/// A user id no one has.
fn uuid_string() -> String {
    "0194f3a2-7b1c-7d3e-9f00-1234567890ae".to_owned()
}

#[tokio::test]
async fn other_msps_and_other_customers_see_and_change_nothing() {
    let l = start_fresh().await;
    l.run_scenario("compromised-admin").await;
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let id = disable["id"].as_str().unwrap();
    for (method, path, body) in [
        (Method::GET, l.path("actions"), None),
        (Method::GET, l.path(&format!("actions/{id}")), None),
        (Method::GET, l.path("incidents"), None),
        (Method::GET, l.path("risk"), None),
        (
            Method::POST,
            l.path(&format!("actions/{id}/approve")),
            Some(json!({"version": disable["version"]})),
        ),
        (
            Method::POST,
            l.path(&format!("actions/{id}/reject")),
            Some(json!({"version": disable["version"]})),
        ),
        (
            Method::POST,
            l.path(&format!("actions/{id}/rollback")),
            None,
        ),
    ] {
        let (status, answer) = l
            .call(method.clone(), &path, &l.stranger, body.as_ref())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
    // Another tenant of the same MSP has no such action.
    let other = l.world.tenant(l.tenant.msp_id, "other-co").await;
    let (status, _) = l
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/actions/{id}", other.id),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = l
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/actions/{id}/approve", other.id),
            &l.technician,
            Some(&json!({"version": disable["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        l.actions()
            .await
            .iter()
            .find(|a| a["id"] == disable["id"])
            .unwrap()["status"],
        "awaiting_approval"
    );
    l.stop().await;
}

/// The value of the hidden `version` field of the approval form of this action.
fn shown_version(html: &str, action_id: &str) -> String {
    let card = &html[html
        .find(&format!("data-action-id=\"{action_id}\""))
        .expect("the action is on the page")..];
    let marker = "name=\"version\" value=\"";
    let start = card.find(marker).expect("an approval form") + marker.len();
    card[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn approvals_rollback_and_the_report_work_in_the_web_ui() {
    let l = start_fresh().await;
    l.run_scenario("compromised-admin").await;
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let id = disable["id"].as_str().unwrap();
    let page = format!("/tenants/{}/response", l.tenant.id);

    // The customer's approver sees why, the risk, and what rollback would do.
    let approver = Browser::new(&l.app);
    let signed_in = approver.sign_in("approver@acme.example", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let shown = approver.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_contains_all(
        &shown.body,
        &[
            "privileged-identity",
            "Enable the account again",
            "anomalous-sign-in",
            "Approve",
        ],
    );
    let version = shown_version(&shown.body, id);
    assert_eq!(version, disable["version"]);
    // A version the page never showed is refused and changes nothing.
    let stale = approver
        .submit(
            &page,
            &format!("/tenants/{}/actions/{id}/approve", l.tenant.id),
            &[("version", "stale"), ("comment", "")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::SEE_OTHER);
    stale.assert_redirect_ends_with("error=stale-version");
    let approved = approver
        .submit(
            &page,
            &format!("/tenants/{}/actions/{id}/approve", l.tenant.id),
            &[("version", &version), ("comment", "do it")],
        )
        .await;
    approved.assert_redirect_ends_with("done=action-approved");
    l.settled_action("disable_user", &["verified"]).await;

    // A technician rolls it back from the page.
    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let shown = technician.get(&page).await;
    assert!(
        shown
            .body
            .contains(&format!("/tenants/{}/actions/{id}/rollback", l.tenant.id))
    );
    // Each risk factor links to its evidence: the incident on the page, the entity in its
    // context graph.
    let incident = disable["incident_id"].as_str().unwrap();
    assert!(shown.body.contains(&format!("id=\"incident-{incident}\"")));
    assert!(
        shown
            .body
            .contains(&format!("href=\"#incident-{incident}\" class=\"evidence\"")),
        "no link to the incident"
    );
    assert!(
        shown.body.contains(&format!(
            "href=\"/tenants/{}/graph?center=identity:{}\" class=\"evidence\"",
            l.tenant.id,
            disable["target"]["id"].as_str().unwrap()
        )),
        "no link to the identity's graph"
    );
    let rolled = technician
        .submit(
            &page,
            &format!("/tenants/{}/actions/{id}/rollback", l.tenant.id),
            &[],
        )
        .await;
    rolled.assert_redirect_ends_with("done=rollback-requested");
    l.settled_action("disable_user", &["rolled_back"]).await;

    // Revoking the sessions cannot be undone: approving it from the page asks who is there,
    // once the technician's last proof is older than ten minutes.
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let revoke_id = revoke["id"].as_str().unwrap();
    l.world.clock.advance(chrono::Duration::minutes(11));
    let shown = technician.get(&page).await;
    let version = shown_version(&shown.body, revoke_id);
    let approve = format!("/tenants/{}/actions/{revoke_id}/approve", l.tenant.id);
    let unconfirmed = technician
        .submit(&page, &approve, &[("version", &version), ("comment", "")])
        .await;
    unconfirmed.assert_redirect_ends_with("error=confirm-identity");
    assert_eq!(l.action(&revoke).await["status"], "awaiting_approval");
    let confirmed = technician
        .submit(
            &page,
            &approve,
            &[
                ("version", &version),
                ("comment", ""),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    confirmed.assert_redirect_ends_with("done=action-approved");

    // The customer's owner reads the outcome report, with its chart, and downloads the PDF.
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let report = owner.get(&format!("/tenants/{}/report", l.tenant.id)).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body.contains("<svg"), "no chart");
    assert!(report.body.contains("class=\"risk-row\""));
    let pdf_link = report
        .body
        .split("href=\"")
        .find(|part| part.starts_with(&format!("/tenants/{}/report.pdf", l.tenant.id)))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let pdf = owner
        .client
        .get(format!("{}{pdf_link}", owner.base))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
    // The approver approves but reads no reports; the page is refused.
    assert_eq!(
        approver
            .get(&format!("/tenants/{}/report", l.tenant.id))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    l.stop().await;
}

#[tokio::test]
async fn the_outcome_report_shows_what_happened_as_json_and_pdf() {
    let l = start_fresh().await;
    l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["verified"]).await;
    let report_path = l.path("reports/outcome");
    // The tests' clock stands still; the period ends just after it.
    let to = (l.world.clock.now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (status, report) = l
        .call(
            Method::GET,
            &format!("{report_path}?to={to}"),
            &l.owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["tenant_id"], json!(l.tenant.id));
    assert_eq!(report["summary"]["incidents"], 1);
    assert_eq!(report["summary"]["incidents_contained"], 1);
    assert_eq!(report["summary"]["actions"], 1);
    assert_eq!(report["summary"]["actions_verified"], 1);
    assert!(
        report["summary"]["mean_time_to_respond_seconds"].is_number(),
        "{report:#}"
    );
    // Time to detect: from the alert's first activity to the incident Steward opened.
    let incident = &report["incidents"][0];
    let at = |field: &str| {
        chrono::DateTime::parse_from_rfc3339(incident[field].as_str().unwrap()).unwrap()
    };
    let detect = (at("detected_at") - at("first_activity_at")).num_seconds();
    assert!(detect >= 0, "{incident:#}");
    assert_eq!(incident["time_to_detect_seconds"], detect, "{incident:#}");
    assert_eq!(report["summary"]["mean_time_to_detect_seconds"], detect);
    assert_eq!(report["actions"][0]["id"], action["id"]);
    assert_eq!(report["actions"][0]["decision"]["outcome"], "auto");
    let laptop = list(&report, "risk")
        .iter()
        .find(|r| r["entity"]["id"] == action["target"]["id"])
        .unwrap();
    // Nothing was at risk when the period began; the contained laptop keeps a little.
    assert_eq!(laptop["before"], 0);
    assert_eq!(laptop["after"], 5);

    let response = crate::support::client()
        .get(l.app.url(&format!("{report_path}?to={to}")))
        .bearer_auth(&l.owner)
        .header("accept", "application/pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    let pdf = response.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("Outcome report: Tenant acme-dental"),
        "the title is in the PDF"
    );
    assert!(text.contains("Helvetica"));
    assert!(
        text.contains(" re\n") || text.contains(" re "),
        "the chart's bars are drawn"
    );

    // A bad period is refused; the approver reads no reports; other MSPs see nothing.
    let (status, refused) = l
        .call(
            Method::GET,
            &format!("{report_path}?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z"),
            &l.owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid-period");
    let (status, _) = l
        .call(
            Method::GET,
            &format!("{report_path}?from=yesterday"),
            &l.owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = l.call(Method::GET, &report_path, &l.approver, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = l.call(Method::GET, &report_path, &l.stranger, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    l.stop().await;
}

#[tokio::test]
async fn a_tenants_own_policy_governs_its_decisions() {
    let l = start_fresh().await;
    let policy_path = l.path("policy");
    let (status, governed) = l.call(Method::GET, &policy_path, &l.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{governed}");
    assert_eq!(governed["governed_by"], "deployment");

    // A policy that does not compile, or does not decide, is refused and changes nothing.
    for broken in [
        "package steward.authority\n\ndecision := {",
        "package steward.authority\n\ndecision := 42\n",
        "",
    ] {
        let (status, refused) = l
            .call(
                Method::PUT,
                &policy_path,
                &l.admin,
                Some(&json!({ "source": broken })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid-policy");
    }
    let (_, governed) = l.call(Method::GET, &policy_path, &l.technician, None).await;
    assert_eq!(governed["governed_by"], "deployment");
    // Only MSP admins set it.
    let own = "package steward.authority\n\nimport rego.v1\n\ndecision := {\"outcome\": \"technician_approval\", \"reasons\": [\"acme-asks-first\"]}\n";
    let (status, _) = l
        .call(
            Method::PUT,
            &policy_path,
            &l.technician,
            Some(&json!({ "source": own })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, set) = l
        .call(
            Method::PUT,
            &policy_path,
            &l.admin,
            Some(&json!({ "source": own })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["sha256"].as_str().unwrap().len(), 64);

    l.run_scenario("malware-laptop").await;
    let action = l
        .settled_action("isolate_device", &["awaiting_approval"])
        .await;
    assert_eq!(action["decision"]["outcome"], "technician_approval");
    assert_eq!(action["decision"]["reasons"], json!(["acme-asks-first"]));

    let (status, _) = l.call(Method::DELETE, &policy_path, &l.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, governed) = l.call(Method::GET, &policy_path, &l.technician, None).await;
    assert_eq!(governed["governed_by"], "deployment");
    let (status, _) = l.call(Method::DELETE, &policy_path, &l.admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = l.audit_actions().await;
    assert!(audit.iter().any(|a| a == "policy.updated"));
    assert!(audit.iter().any(|a| a == "policy.removed"));
    l.stop().await;
}

#[tokio::test]
async fn a_rollback_that_does_not_take_effect_is_reported_for_a_person() {
    let l = start_fresh().await;
    let run = l.run_scenario("malware-laptop").await;
    let machine = run["target"].as_str().unwrap().to_owned();
    let action = l.settled_action("isolate_device", &["verified"]).await;
    // The release Steward sends to undo the isolation fails at the vendor.
    l.inject(Fault::FailNextMachineAction {
        machine_id: machine.clone(),
    })
    .await;
    let (status, _) = l.roll_back(&action).await;
    assert_eq!(status, StatusCode::OK);
    let failed = l
        .settled_action("isolate_device", &["rollback_failed"])
        .await;
    assert!(
        failed["detail"]
            .as_str()
            .unwrap()
            .contains("the rollback did not take effect"),
        "{failed}"
    );
    // The device is still isolated at the vendor, and the chain says the rollback failed.
    assert_eq!(l.isolated(&machine).await, true);
    let audit = l.audit_actions().await;
    assert!(
        audit.iter().any(|a| a == "action.rollback_failed"),
        "{audit:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn what_if_asks_the_policy_without_recording_or_executing_anything() {
    let l = start_fresh().await;
    let run = l.run_scenario("compromised-admin").await;
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let identity = disable["target"]["id"].clone();
    let simulate = l.path("policy/simulate");
    let audit_before = l.settled_audit_actions().await.len();
    let actions_before = l.actions().await.len();

    let (status, answer) = l
        .call(
            Method::POST,
            &simulate,
            &l.technician,
            Some(
                &json!({"type": "revoke_sessions", "target": {"kind": "identity", "id": identity}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["decision"]["outcome"], "technician_approval");
    assert_eq!(answer["governed_by"], "deployment");
    assert_eq!(answer["input"]["proposer"]["kind"], "technician");
    assert_eq!(answer["input"]["target"]["privileged"], true);
    // An AI agent proposing the same: still a technician, with the agent as a reason.
    let (_, answer) = l
        .call(
            Method::POST,
            &simulate,
            &l.admin,
            Some(&json!({
                "type": "disable_user",
                "target": {"kind": "identity", "id": identity},
                "proposer": "ai_agent",
            })),
        )
        .await;
    assert_eq!(answer["decision"]["outcome"], "customer_approval");
    assert!(
        reasons(&answer["decision"]).contains(&"ai-agent-proposal"),
        "{answer}"
    );

    // Mismatched, unknown and forbidden questions are refused.
    let (status, refused) = l
        .call(
            Method::POST,
            &simulate,
            &l.technician,
            Some(
                &json!({"type": "isolate_device", "target": {"kind": "identity", "id": identity}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid-target");
    let (status, _) = l
        .call(
            Method::POST,
            &simulate,
            &l.technician,
            Some(&json!({"type": "isolate_device", "target": {"kind": "device", "id": uuid_string()}})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = l
        .call(
            Method::POST,
            &simulate,
            &l.owner,
            Some(
                &json!({"type": "revoke_sessions", "target": {"kind": "identity", "id": identity}}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Nothing was recorded, nothing ran.
    assert_eq!(l.audit_actions().await.len(), audit_before);
    assert_eq!(l.actions().await.len(), actions_before);
    let state = l.sandbox_state().await;
    assert_eq!(
        item(&state, "users", run["target"].as_str().unwrap())["account_enabled"],
        true
    );
    l.stop().await;
}

#[tokio::test]
async fn an_action_whose_job_was_lost_is_picked_up_again() {
    let db = TestDatabase::migrated().await;
    let l = start_with(
        &db,
        None,
        WorkerSettings {
            stall_after: Duration::from_secs(1),
            ..fast_settings()
        },
        // The tests' clock stands still, so nothing would ever look stalled by it.
        Some(Arc::new(steward_core::SystemClock)),
    )
    .await;
    let run = l.run_scenario("malware-laptop").await;
    let machine = run["target"].as_str().unwrap().to_owned();
    let action = l.settled_action("isolate_device", &["verified"]).await;

    // A rollback is requested, but its job never reaches the queue.
    {
        use sea_orm::ConnectionTrait;
        let txn = l.world.storage.begin().await.unwrap();
        let deployment = steward_core::storage::Deployment::new(&txn);
        let ctx = deployment.write_context(&l.world.clock, &l.world.keys, World::actor());
        let work = steward_core::storage::TenantWork::as_steward(&ctx, l.tenant.id)
            .await
            .unwrap()
            .unwrap();
        steward_core::actions::request_rollback(
            &work,
            action["id"].as_str().unwrap().parse().unwrap(),
        )
        .await
        .unwrap();
        drop(work);
        drop(ctx);
        txn.execute_unprepared("DELETE FROM outbox WHERE dispatched_at IS NULL")
            .await
            .unwrap();
        txn.commit().await.unwrap();
    }
    // The sweeper notices the action stopped moving and hands it to a worker: sweeps come
    // every second, so the second after the change finds it still for at least a second.
    l.shared.rounds.next_sweep().await;
    l.shared.rounds.next_sweep().await;
    l.settled_action("isolate_device", &["rolled_back"]).await;
    assert_eq!(l.isolated(&machine).await, false);
    l.stop().await;
}

#[tokio::test]
async fn an_admin_who_also_signs_in_through_okta_is_locked_out_at_both_identity_providers() {
    let l = start_fresh().await;
    l.connect_okta().await;
    l.sync_all().await;
    let run = l.run_scenario("compromised-admin").await;
    let user_id = run["target"].as_str().unwrap().to_owned();

    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    let suspend = l
        .settled_action("suspend_user", &["awaiting_approval"])
        .await;
    assert_eq!(suspend["target"]["id"], disable["target"]["id"]);
    assert_eq!(suspend["incident_id"], disable["incident_id"]);
    assert_eq!(suspend["decision"]["outcome"], "customer_approval");
    assert!(
        reasons(&suspend["decision"]).contains(&"privileged-identity"),
        "{suspend}"
    );

    // The customer approves the suspension; Okta carries it out, Entra ID waits for its own.
    // Once the loop has settled, Okta's copy of the sign-ins has been triaged too: the version
    // shown is the one to approve.
    let (status, answer) = l.answer_as(&suspend, &l.approver, "approve").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let done = l
        .settled_action("suspend_user", &["verified", "failed"])
        .await;
    assert_eq!(done["status"], "verified", "{done:#}");
    let user = item(&l.sandbox_state().await, "users", &user_id);
    assert_eq!(user["okta_status"], "SUSPENDED");
    assert_eq!(user["account_enabled"], true);
    l.stop().await;
}

#[tokio::test]
async fn an_integration_silent_beyond_its_cadence_opens_one_incident_per_silence() {
    let l = start_fresh().await;
    let incidents = async || {
        l.incidents()
            .await
            .into_iter()
            .filter(|i| i["findings"][0]["rule"] == "source-silent")
            .collect::<Vec<Value>>()
    };
    // Within three sync intervals (an hour each here) of being connected, nothing.
    l.world.clock.advance(chrono::Duration::hours(2));
    steward_workers::check_silent_sources(&l.shared).await;
    assert!(incidents().await.is_empty());

    // Past them, each integration is a finding, once however often it is checked.
    l.world.clock.advance(chrono::Duration::hours(2));
    steward_workers::check_silent_sources(&l.shared).await;
    steward_workers::check_silent_sources(&l.shared).await;
    let silent = incidents().await;
    assert_eq!(silent.len(), 2, "{silent:#?}");
    let titles: Vec<&str> = silent
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.contains("Microsoft Defender for Endpoint")
                && t.contains("has not reported for 4 hours")),
        "{titles:?}"
    );
    assert_eq!(silent[0]["findings"][0]["severity_id"], 3);

    // Reporting again ends the silence; a new one is a new incident.
    l.sync_all().await;
    steward_workers::check_silent_sources(&l.shared).await;
    assert_eq!(incidents().await.len(), 2);
    l.world.clock.advance(chrono::Duration::hours(5));
    steward_workers::check_silent_sources(&l.shared).await;
    assert_eq!(incidents().await.len(), 4);
    l.stop().await;
}

#[tokio::test]
async fn the_msp_sets_business_context_that_risk_the_policy_and_the_graph_use() {
    let l = start_synced().await;
    let server = l
        .inventory("devices")
        .await
        .into_iter()
        .find(|d| d["hostname"].as_str().unwrap().contains("-srv01"))
        .unwrap();
    let id = server["id"].as_str().unwrap().to_owned();
    let path = l.path(&format!("context/device/{id}"));
    let context = json!({
        "criticality": "critical",
        "owner": "Dana Nguyen, office manager",
        "business_process": "file shares and payroll exports",
    });
    let (status, set) = l
        .call(Method::PUT, &path, &l.technician, Some(&context))
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set, context);

    // The device shows it, its risk is recomputed with it, and the graph says it.
    let shown = l
        .inventory("devices")
        .await
        .into_iter()
        .find(|d| d["id"] == id.as_str())
        .unwrap();
    assert_eq!(shown["context"], context);
    let criticality = |risk: &Value| {
        risk["factors"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "asset-criticality"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let risk = l
        .settled_risk(&id, "the server's critical asset-criticality", |r| {
            criticality(r)["contribution"] == 20
        })
        .await;
    let factor = criticality(&risk);
    assert_eq!(factor["contribution"], 20, "{factor}");
    assert!(
        factor["detail"].as_str().unwrap().contains("critical"),
        "{factor}"
    );
    let (_, graph) = l
        .get(&format!("graph?center=device:{id}"), &l.technician)
        .await;
    let node = list(&graph, "nodes")
        .iter()
        .find(|n| n["id"] == format!("device:{id}"))
        .unwrap()
        .clone();
    assert_eq!(
        node["detail"],
        "file shares and payroll exports, owned by Dana Nguyen, office manager"
    );
    assert!(
        l.audit_actions()
            .await
            .contains(&"device.context_set".to_owned())
    );

    // Refusals change nothing.
    for (token, body, target, expected) in [
        (
            &l.owner,
            context.clone(),
            path.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            &l.technician,
            json!({"criticality": "extreme"}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &l.technician,
            json!({"owner": "x".repeat(201)}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &l.technician,
            json!({"colour": "red"}),
            path.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            &l.technician,
            context.clone(),
            l.path("context/device/00000000-0000-0000-0000-000000000000"),
            StatusCode::NOT_FOUND,
        ),
        (
            &l.technician,
            context.clone(),
            l.path(&format!("context/router/{id}")),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, answer) = l.call(Method::PUT, &target, token, Some(&body)).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    let unchanged = l
        .inventory("devices")
        .await
        .into_iter()
        .find(|d| d["id"] == id.as_str())
        .unwrap();
    assert_eq!(unchanged["context"], context);
    l.stop().await;
}
