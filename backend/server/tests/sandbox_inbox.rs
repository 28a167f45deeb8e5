//! The demo's approval channels inside Steward itself: approval emails land in the sandbox's
//! mailbox and Slack messages in its simulated channel, both shown on `/sandbox/inbox`, where a
//! technician clicks a Slack button (signed and delivered as Slack would) and an approver
//! follows the emailed link.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use steward_integrations::sandbox::slack::{BOT_TOKEN, CHANNEL, SIGNING_SECRET};
use steward_testkit::TestDatabase;
use support::{
    Browser,
    governed::{PASSWORD, start_with_sandbox_mail},
    smtp::link_in,
};

#[tokio::test]
async fn approvals_complete_from_the_sandbox_inbox_by_slack_and_by_email() {
    let db = TestDatabase::migrated().await;
    let l = start_with_sandbox_mail(&db).await;
    let (status, body) = l
        .call(
            Method::PUT,
            "/api/v1/msp/slack",
            &l.admin,
            Some(&json!({
                "api_base_url": l.app.url("/sandbox/slack/api/"),
                "channel": CHANNEL,
                "bot_token": BOT_TOKEN,
                "signing_secret": SIGNING_SECRET,
                "users": {"U0TECH0001": "tech@harbor.example"},
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.run_scenario("compromised-admin").await;
    l.wait_for_action("disable_user", &["awaiting_approval"])
        .await;
    l.wait_for_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let sandbox = l.app.sandbox.as_ref().unwrap();
    let mut mail = None;
    for _ in 0..100 {
        mail = sandbox
            .mailbox()
            .await
            .into_iter()
            .find(|m| m.to == "approver@acme.example");
        if mail.is_some() && !sandbox.slack_messages().await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = mail.expect("the approver's email reached the sandbox");

    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let integrations = technician
        .get(&format!("/tenants/{}/integrations", l.tenant.id))
        .await;
    assert!(integrations.body.contains("href=\"/sandbox/inbox\""));
    let inbox = technician.get("/sandbox/inbox").await;
    assert_eq!(inbox.status, StatusCode::OK);
    for expected in [
        "Approval needed: disable user",
        "/approvals/stwa_",
        "revoke sessions",
        "Click as",
    ] {
        assert!(
            inbox.body.contains(expected),
            "{expected} missing: {}",
            inbox.body
        );
    }

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
    assert!(
        clicked
            .location
            .as_deref()
            .unwrap()
            .ends_with("done=slack-answered"),
        "{:?}",
        clicked.location
    );
    l.wait_for_action("revoke_sessions", &["verified"]).await;

    // The customer's approver follows the emailed link and approves.
    let link = link_in(&mail.body);
    let answer = support::client_builder()
        .build()
        .unwrap()
        .post(&link)
        .form(&[("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    l.wait_for_action("disable_user", &["verified"]).await;

    // The customer sees no inbox.
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    assert_eq!(
        owner.get("/sandbox/inbox").await.status,
        StatusCode::FORBIDDEN
    );
    l.stop().await;
}
