//! The demo's approval channels inside Steward itself: approval emails land in the sandbox's
//! mailbox and Slack messages in its simulated channel, both shown on `/sandbox/inbox`, where a
//! technician clicks a Slack button (signed and delivered as Slack would) and an approver
//! follows the emailed link.

use crate::support::{
    Browser, assert_contains_all,
    governed::{PASSWORD, start_with_sandbox_mail},
    smtp::link_in,
};
use reqwest::StatusCode;
use serde_json::json;
use steward_sandbox::slack::{CHANNEL, CUSTOMER_CHANNEL};
use steward_testkit::TestDatabase;

#[tokio::test]
async fn approvals_complete_from_the_sandbox_inbox_by_slack_and_by_email() {
    let db = TestDatabase::migrated().await;
    let l = start_with_sandbox_mail(&db).await;
    let (status, body) = l.connect_slack(&l.admin, &l.slack_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.run_scenario("compromised-admin").await;
    l.settled_action("disable_user", &["awaiting_approval"])
        .await;
    l.settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let sandbox = l.app.sandbox.as_ref().unwrap();
    l.settle().await;
    assert!(
        !sandbox.slack_messages().await.is_empty(),
        "the request reached the sandbox's Slack"
    );
    let mail = sandbox
        .mailbox()
        .await
        .into_iter()
        .find(|m| m.to == "approver@acme.example");
    let mail = mail.expect("the approver's email reached the sandbox");

    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let integrations = technician
        .get(&format!("/tenants/{}/integrations", l.tenant.id))
        .await;
    assert!(integrations.body.contains("href=\"/sandbox/inbox\""));
    let inbox = technician.get("/sandbox/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert_contains_all(
        &inbox.body,
        &[
            "Approval needed: disable user",
            "/approvals/stwa_",
            "revoke sessions",
            "Click as",
        ],
    );

    // The technician clicks Approve in the simulated Slack channel.
    let ts = sandbox.slack_messages().await[0].ts.clone();
    let clicked = technician
        .submit(
            "/sandbox/inbox",
            "/sandbox/inbox/slack",
            &[
                ("ts", &ts),
                ("action_id", "approve"),
                ("user", "U0TECH0001"),
            ],
        )
        .await;
    clicked.assert_redirect_ends_with("done=slack-answered");
    l.settled_action("revoke_sessions", &["verified"]).await;

    // The customer's approver follows the emailed link and approves.
    let link = link_in(&mail.body);
    let answer = crate::support::client_builder()
        .build()
        .unwrap()
        .post(&link)
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    l.settled_action("disable_user", &["verified"]).await;

    // The customer's owner sees only their own mail (none) and no MSP channel.
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let inbox = owner.get("/sandbox/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    for hidden in ["/approvals/stwa_", "revoke sessions", "disable user"] {
        assert!(!inbox.body.contains(hidden), "{hidden}: {}", inbox.body);
    }
    l.stop().await;
}

#[tokio::test]
async fn the_customer_approves_in_the_shared_channel_from_the_sandbox_inbox() {
    let db = TestDatabase::migrated().await;
    let l = start_with_sandbox_mail(&db).await;
    let mut settings = l.slack_settings();
    settings["users"]["U0CUSTAPPR"] = json!("approver@acme.example");
    settings["tenant_channels"] = json!({l.tenant.id.to_string(): CUSTOMER_CHANNEL});
    let (status, body) = l.connect_slack(&l.admin, &settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.run_scenario("compromised-admin").await;
    let sandbox = l.app.sandbox.as_ref().unwrap();
    l.settle().await;
    let messages = sandbox.slack_messages().await;
    let shared = messages
        .iter()
        .find(|m| m.channel == CUSTOMER_CHANNEL)
        .expect("the customer's request in the shared channel");
    let msp_side = messages.iter().find(|m| m.channel == CHANNEL).unwrap();

    let approver = Browser::new(&l.app);
    approver.sign_in("approver@acme.example", PASSWORD).await;
    let inbox = approver.get("/sandbox/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("disable user"), "{}", inbox.body);
    assert!(!inbox.body.contains("revoke sessions"), "{}", inbox.body);
    assert!(inbox.body.contains("U0CUSTAPPR"), "{}", inbox.body);

    // The MSP channel's message is not theirs to click.
    let approve = async |ts: &str| {
        approver
            .submit(
                "/sandbox/inbox",
                "/sandbox/inbox/slack",
                &[("ts", ts), ("action_id", "approve")],
            )
            .await
    };
    assert_eq!(approve(&msp_side.ts).await.status, StatusCode::NOT_FOUND);
    let clicked = approve(&shared.ts).await;
    clicked.assert_redirect_ends_with("done=slack-answered");
    let done = l.settled_action("disable_user", &["verified"]).await;
    assert_eq!(done["approvals"][0]["side"], "customer");
    assert_eq!(l.status_of("revoke_sessions").await, "awaiting_approval");
    l.stop().await;
}
