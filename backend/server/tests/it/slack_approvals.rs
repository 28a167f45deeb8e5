//! Approvals in Slack, against the sandbox's Slack-compatible workspace: the approval request is
//! posted with Block Kit buttons, a click signed as Slack signs it approves as the linked
//! technician, the message is updated with the outcome; forged, stale, replayed and unlinked
//! clicks are refused and change nothing.

use crate::support::{
    assert_contains_all, error_message,
    governed::{Loop, start_fresh},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_integrations::slack::signature;
use steward_sandbox::slack::{CHANNEL, CUSTOMER_CHANNEL, SignedInteraction, SlackMessage};

impl Loop {
    async fn slack_messages(&self) -> Vec<SlackMessage> {
        self.app.sandbox.as_ref().unwrap().slack_messages().await
    }

    /// The workspace's messages once the loop has settled; they must be as `done` says.
    async fn settled_slack(&self, done: impl Fn(&[SlackMessage]) -> bool) -> Vec<SlackMessage> {
        self.settle().await;
        let messages = self.slack_messages().await;
        assert!(done(&messages), "Slack did not get there: {messages:#?}");
        messages
    }

    /// Sends an interactivity request to Steward as Slack would.
    async fn deliver(&self, click: &SignedInteraction) -> (StatusCode, Value) {
        let msp_id = self.msp_id().await;
        let response = crate::support::client_builder()
            .build()
            .unwrap()
            .post(self.app.url(&format!("/slack/interactions/{msp_id}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", &click.timestamp)
            .header("x-slack-signature", &click.signature)
            .body(click.body.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn msp_id(&self) -> String {
        let (_, msp) = self
            .call(Method::GET, "/api/v1/msp", &self.admin, None)
            .await;
        msp["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn slack_settings_are_checked_and_only_admins_connect() {
    let l = start_fresh().await;
    let good = l.slack_settings();
    let (status, _) = l.connect_slack(&l.technician, &good).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for (patch, why) in [
        (json!({"channel": "#approvals"}), "channel id"),
        (
            json!({"users": {"U0TECH0001": "nobody@harbor.example"}}),
            "nobody@harbor.example",
        ),
        (
            json!({"users": {"tech": "tech@harbor.example"}}),
            "not a Slack user id",
        ),
        (json!({"bot_token": ""}), "must not be empty"),
    ] {
        let mut body = good.clone();
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (status, answer) = l.connect_slack(&l.admin, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(error_message(&answer).contains(why), "{answer}");
    }
    let (_, before) = l
        .call(Method::GET, "/api/v1/msp/slack", &l.admin, None)
        .await;
    assert_eq!(before["connected"], false, "nothing was stored");
    let (status, connected) = l.connect_slack(&l.admin, &good).await;
    assert_eq!(status, StatusCode::OK, "{connected}");
    let (_, shown) = l
        .call(Method::GET, "/api/v1/msp/slack", &l.technician, None)
        .await;
    assert_eq!(shown["connected"], true);
    assert_eq!(shown["connection"]["channel"], CHANNEL);
    assert!(
        !shown
            .to_string()
            .contains(&l.sandbox().slack_secrets().bot_token),
        "secrets are never shown"
    );
    assert!(
        !shown
            .to_string()
            .contains(&l.sandbox().slack_secrets().signing_secret)
    );
    let (status, _) = l
        .call(Method::GET, "/api/v1/msp/slack", &l.owner, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    l.stop().await;
}

#[tokio::test]
async fn a_technician_approves_in_slack_and_the_message_shows_the_outcome() {
    let l = start_fresh().await;
    let (status, body) = l.connect_slack(&l.admin, &l.slack_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.run_scenario("compromised-admin").await;
    l.settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let messages = l.settled_slack(|m| !m.is_empty()).await;
    assert_eq!(
        messages.len(),
        1,
        "only the MSP-side request goes to the MSP's channel"
    );
    let message = &messages[0];
    assert!(message.text.contains("revoke sessions"), "{message:?}");
    let blocks = message.blocks.to_string();
    assert_contains_all(
        &blocks,
        &[
            "\"action_id\":\"approve\"",
            "\"action_id\":\"reject\"",
            "irreversible-action",
            "Rollback",
        ],
    );
    let sandbox = l.app.sandbox.as_ref().unwrap();

    // A forged signature, a stale request and an unlinked Slack user change nothing.
    let mut forged = sandbox
        .slack_click(&message.ts, "approve", "U0TECH0001")
        .await
        .unwrap();
    forged.signature = signature::sign("guessed-secret", &forged.timestamp, forged.body.as_bytes());
    let (status, answer) = l.deliver(&forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let mut stale = sandbox
        .slack_click(&message.ts, "approve", "U0TECH0001")
        .await
        .unwrap();
    stale.timestamp = (stale.timestamp.parse::<i64>().unwrap() - 6 * 60).to_string();
    stale.signature = signature::sign(
        &sandbox.slack_secrets().signing_secret,
        &stale.timestamp,
        stale.body.as_bytes(),
    );
    let (status, answer) = l.deliver(&stale).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("five minutes"),
        "{answer}"
    );
    let stranger = sandbox
        .slack_click(&message.ts, "approve", "U0STRANGER")
        .await
        .unwrap();
    let (status, answer) = l.deliver(&stranger).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["text"].as_str().unwrap().contains("not linked"),
        "{answer}"
    );
    assert_eq!(l.status_of("revoke_sessions").await, "awaiting_approval");

    // The linked technician's click approves; the message then shows the outcome.
    let click = sandbox
        .slack_click(&message.ts, "approve", "U0TECH0001")
        .await
        .unwrap();
    let (status, answer) = l.deliver(&click).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["text"], "Approved in Steward.");
    let done = l.settled_action("revoke_sessions", &["verified"]).await;
    assert_eq!(done["approvals"][0]["side"], "technician");
    let updated = l.settled_slack(|m| m[0].updates > 0).await;
    assert!(updated[0].text.contains("Approved"), "{:?}", updated[0]);
    assert!(
        !updated[0].blocks.to_string().contains("\"action_id\""),
        "no buttons left"
    );

    // The same click again (a replay within five minutes) is not a second answer.
    let (status, answer) = l.deliver(&click).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["text"].as_str().unwrap().contains("Not recorded"),
        "{answer}"
    );
    l.assert_audited(&["action.approved"], 1).await;
    l.stop().await;
}

#[tokio::test]
async fn an_answer_given_outside_slack_also_updates_the_slack_message() {
    let l = start_fresh().await;
    let (status, body) = l.connect_slack(&l.admin, &l.slack_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.run_scenario("compromised-admin").await;
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    l.settled_slack(|m| !m.is_empty()).await;
    let (status, body) = l.answer_as(&revoke, &l.admin, "reject").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let updated = l.settled_slack(|m| m[0].updates > 0).await;
    assert!(updated[0].text.contains("Rejected"), "{:?}", updated[0]);
    assert!(!updated[0].blocks.to_string().contains("\"action_id\""));
    l.stop().await;
}

#[tokio::test]
async fn the_customer_approves_in_the_channel_shared_with_them() {
    let l = start_fresh().await;
    let mut settings = l.slack_settings();
    settings["users"]["U0CUSTAPPR"] = json!("approver@acme.example");

    // A tenant channel must name a tenant of this MSP and a channel id.
    for (channels, why) in [
        (
            json!({"0194f3a2-7b1c-7d3e-9f00-1234567890ab": CUSTOMER_CHANNEL}),
            "no active tenant",
        ),
        (json!({l.tenant.id.to_string(): "#acme"}), "channel id"),
        (
            json!({l.tenant.id.to_string(): CHANNEL}),
            "shared with a customer",
        ),
    ] {
        let mut body = settings.clone();
        body["tenant_channels"] = channels;
        let (status, answer) = l.connect_slack(&l.admin, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(error_message(&answer).contains(why), "{answer}");
    }
    settings["tenant_channels"] = json!({l.tenant.id.to_string(): CUSTOMER_CHANNEL});
    let (status, body) = l.connect_slack(&l.admin, &settings).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["tenant_channels"][l.tenant.id.to_string()],
        CUSTOMER_CHANNEL
    );

    // compromised-admin asks the customer to disable their admin and a technician to revoke
    // the sessions: each request goes to its side's channel.
    l.run_scenario("compromised-admin").await;
    let messages = l.settled_slack(|m| m.len() == 2).await;
    let shared = messages
        .iter()
        .find(|m| m.channel == CUSTOMER_CHANNEL)
        .expect("a message in the shared channel");
    assert!(shared.text.contains("disable user"), "{shared:?}");
    let msp_side = messages.iter().find(|m| m.channel == CHANNEL).unwrap();
    assert!(msp_side.text.contains("revoke sessions"), "{msp_side:?}");
    let sandbox = l.app.sandbox.as_ref().unwrap();

    // A technician cannot give the customer's approval, even from the shared channel.
    let technician = sandbox
        .slack_click(&shared.ts, "approve", "U0TECH0001")
        .await
        .unwrap();
    let (status, answer) = l.deliver(&technician).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("customer's approval"),
        "{answer}"
    );
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;
    assert!(disable["approvals"].as_array().unwrap().is_empty());

    // The customer's approver approves there; the account is disabled at the vendor.
    let click = sandbox
        .slack_click(&shared.ts, "approve", "U0CUSTAPPR")
        .await
        .unwrap();
    let (status, answer) = l.deliver(&click).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["text"], "Approved in Steward.");
    let done = l.settled_action("disable_user", &["verified"]).await;
    assert_eq!(done["approvals"][0]["side"], "customer");
    assert_eq!(done["approvals"][0]["role"], "customer_approver");
    let updated = l
        .settled_slack(|m| {
            m.iter()
                .any(|m| m.channel == CUSTOMER_CHANNEL && m.updates > 0)
        })
        .await;
    let shared = updated
        .iter()
        .find(|m| m.channel == CUSTOMER_CHANNEL)
        .unwrap();
    assert!(shared.text.contains("Approved"), "{shared:?}");
    l.stop().await;
}
