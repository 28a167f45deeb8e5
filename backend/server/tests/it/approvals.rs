//! Approval rules through the API with a real worker: a policy's quorum and approver role,
//! concurrent answers resolving to one outcome, and requests that escalate and expire.

use crate::support::{
    error_message,
    governed::{Loop, isolations, start_fresh, start_timed},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_domain::actions::ApprovalTiming;
use steward_testkit::TestDatabase;

/// A tenant policy asking a technician-side approval, with extra fields of the decision.
fn policy_with(extra: &str) -> String {
    format!(
        "package steward.authority\n\nimport rego.v1\n\n\
         decision := {{\"outcome\": \"technician_approval\", \"reasons\": [\"house-rule\"]{extra}}}\n"
    )
}

impl Loop {
    async fn set_policy(&self, source: &str) -> (StatusCode, Value) {
        self.call(
            Method::PUT,
            &self.path("policy"),
            &self.admin,
            Some(&json!({ "source": source })),
        )
        .await
    }

    /// The isolation the `malware-laptop` scenario leads to, waiting for approval, and the
    /// laptop's vendor id.
    async fn awaiting_isolation(&self) -> (Value, String) {
        let run = self.run_scenario("malware-laptop").await;
        let action = self
            .settled_action("isolate_device", &["awaiting_approval"])
            .await;
        (action, run["target"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn a_policy_requiring_two_approvers_waits_for_two_different_people() {
    let l = start_fresh().await;
    let (status, body) = l.set_policy(&policy_with(", \"quorum\": 2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, laptop) = l.awaiting_isolation().await;
    assert_eq!(action["decision"]["quorum"], 2);

    let (status, first) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "awaiting_approval");
    assert_eq!(first["approvals"].as_array().unwrap().len(), 1);

    // The same person twice is still one approval.
    let (status, again) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "already-answered");
    // The customer is not the side this policy asks.
    let (status, body) = l.answer_as(&action, &l.owner, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // Nothing ran on one approval.
    assert_eq!(l.isolated(&laptop).await, false);

    let (status, second) = l.answer_as(&action, &l.admin, "approve").await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["status"], "awaiting_approval");
    l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(l.isolated(&laptop).await, true);
    l.assert_audited(&["action.approved"], 2).await;
    l.stop().await;
}

#[tokio::test]
async fn a_policy_can_name_the_role_that_approves() {
    let l = start_fresh().await;
    let (status, body) = l
        .set_policy(&policy_with(", \"approver_role\": \"msp_admin\""))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, _) = l.awaiting_isolation().await;
    let (status, body) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "approver-role-required");
    assert!(error_message(&body).contains("msp admin"), "{body}");
    let (status, body) = l.answer_as(&action, &l.admin, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.settled_action("isolate_device", &["verified"]).await;
    l.stop().await;
}

#[tokio::test]
async fn approval_rules_a_policy_cannot_follow_are_refused_when_stored() {
    let l = start_fresh().await;
    for (extra, why) in [
        (", \"quorum\": 9", "quorum 9"),
        (", \"quorum\": 0", "quorum 0"),
        (
            ", \"approver_role\": \"customer_owner\"",
            "customer_owner cannot give",
        ),
    ] {
        let (status, body) = l.set_policy(&policy_with(extra)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {body}");
        assert_eq!(body["error"]["code"], "invalid-policy");
        assert!(error_message(&body).contains(why), "{body}");
    }
    l.stop().await;
}

#[tokio::test]
async fn concurrent_approval_and_rejection_resolve_to_exactly_one_outcome() {
    let l = start_fresh().await;
    let (status, body) = l.set_policy(&policy_with("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, laptop) = l.awaiting_isolation().await;

    let ((approve_status, approved), (reject_status, rejected)) = tokio::join!(
        l.answer_as(&action, &l.technician, "approve"),
        l.answer_as(&action, &l.admin, "reject"),
    );
    let winners = [approve_status, reject_status]
        .iter()
        .filter(|s| s.is_success())
        .count();
    assert_eq!(winners, 1, "{approved} / {rejected}");
    let loser = if approve_status.is_success() {
        (reject_status, &rejected)
    } else {
        (approve_status, &approved)
    };
    assert_eq!(loser.0, StatusCode::CONFLICT, "{}", loser.1);

    let now = l.action(&action).await;
    assert_eq!(now["approvals"].as_array().unwrap().len(), 1, "{now}");
    if approve_status.is_success() {
        l.settled_action("isolate_device", &["verified"]).await;
    } else {
        assert_eq!(now["status"], "rejected");
        // Once the loop settles, a wrongly queued job would have run: nothing may happen at
        // the vendor.
        l.settle().await;
        assert_eq!(l.isolated(&laptop).await, false);
    }
    l.stop().await;
}

#[tokio::test]
async fn concurrent_approvals_both_count_and_the_action_runs_once() {
    let l = start_fresh().await;
    let (status, body) = l.set_policy(&policy_with(", \"quorum\": 2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, laptop) = l.awaiting_isolation().await;
    let ((first, a), (second, b)) = tokio::join!(
        l.answer_as(&action, &l.technician, "approve"),
        l.answer_as(&action, &l.admin, "approve"),
    );
    assert_eq!(first, StatusCode::OK, "{a}");
    assert_eq!(second, StatusCode::OK, "{b}");
    l.settled_action("isolate_device", &["verified"]).await;
    let now = l.action(&action).await;
    assert_eq!(now["approvals"].as_array().unwrap().len(), 2, "{now}");
    assert_eq!(isolations(&l.sandbox_state().await, &laptop), 1);
    l.stop().await;
}

#[tokio::test]
async fn unanswered_requests_escalate_then_expire_to_rejected() {
    let db = TestDatabase::migrated().await;
    let (l, action, laptop) = timed_isolation(&db, 120, 30).await;
    assert_eq!(action["escalation_level"], 0);
    let opened = chrono::DateTime::parse_from_rfc3339(action["created_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    let expires = chrono::DateTime::parse_from_rfc3339(action["expires_at"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert_eq!(expires - opened, chrono::Duration::minutes(120));

    l.world.clock.advance(chrono::Duration::minutes(31));
    let escalated = settled(&l, &action, |a| a["escalation_level"] == 1).await;
    assert_eq!(escalated["status"], "awaiting_approval");
    assert_eq!(escalated["escalate_at"], Value::Null);

    l.world.clock.advance(chrono::Duration::minutes(90));
    let expired = settled(&l, &action, |a| a["status"] != "awaiting_approval").await;
    assert_eq!(expired["status"], "rejected", "never approved by waiting");
    assert!(
        expired["detail"].as_str().unwrap().contains("expired"),
        "{expired}"
    );
    let (status, body) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not-awaiting-approval");
    assert_eq!(l.isolated(&laptop).await, false);
    l.assert_audited(&["action.escalated", "action.expired"], 1)
        .await;
    l.stop().await;
}

#[tokio::test]
async fn a_request_opened_before_requests_had_deadlines_expires_after_the_configured_time() {
    let db = TestDatabase::migrated().await;
    let (l, action, _) = timed_isolation(&db, 60, 30).await;
    // As the request was stored before deadlines were recorded.
    sea_orm::ConnectionTrait::execute_unprepared(
        l.world.storage.conn(),
        "UPDATE actions SET expires_at = NULL, escalate_at = NULL",
    )
    .await
    .unwrap();
    l.world.clock.advance(chrono::Duration::minutes(59));
    l.settle().await;
    let still = l.action(&action).await;
    assert_eq!(still["status"], "awaiting_approval", "{still}");
    l.world.clock.advance(chrono::Duration::minutes(2));
    let expired = settled(&l, &action, |a| a["status"] != "awaiting_approval").await;
    assert_eq!(expired["status"], "rejected", "{expired}");
    assert!(
        l.audit_actions()
            .await
            .contains(&"action.expired".to_owned())
    );
    l.stop().await;
}

/// A loop with these approval deadlines (minutes) under a policy that asks a technician, and
/// the isolation it waits to approve, with the laptop's vendor id.
async fn timed_isolation(
    db: &TestDatabase,
    expire_after_minutes: u32,
    escalate_after_minutes: u32,
) -> (Loop, Value, String) {
    let l = start_timed(
        db,
        ApprovalTiming {
            expire_after_minutes,
            escalate_after_minutes,
        },
    )
    .await;
    let (status, body) = l.set_policy(&policy_with("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, laptop) = l.awaiting_isolation().await;
    (l, action, laptop)
}

/// The action once the loop has settled; it must be as `done` says.
async fn settled(l: &Loop, action: &Value, done: impl Fn(&Value) -> bool) -> Value {
    l.settle().await;
    let now = l.action(action).await;
    assert!(done(&now), "the action did not get there: {now:#}");
    now
}

#[tokio::test]
async fn a_request_past_its_expiry_takes_no_approval_even_before_the_sweep() {
    let db = TestDatabase::migrated().await;
    let mut l = start_timed(
        &db,
        ApprovalTiming {
            expire_after_minutes: 60,
            escalate_after_minutes: 30,
        },
    )
    .await;
    let (status, body) = l.set_policy(&policy_with("")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (action, _) = l.awaiting_isolation().await;
    // Nothing sweeps: the request is past its expiry but still waiting.
    l.stop_worker().await;
    l.world.clock.advance(chrono::Duration::minutes(61));
    let (status, body) = l.answer_as(&action, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "request-expired");
    assert_eq!(l.action(&action).await["status"], "awaiting_approval");
    // Declining still works: it only stops what would not run anyway.
    let (status, body) = l.answer_as(&action, &l.technician, "reject").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.stop().await;
}
