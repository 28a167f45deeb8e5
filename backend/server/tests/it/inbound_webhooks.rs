//! Inbound webhooks through HTTP: an MSP admin creates an integration's signing secret; a
//! message signed per Standard Webhooks is accepted at once and queues the integration's
//! synchronization; forged, stale, replayed and oversized messages are refused, change nothing
//! and are counted.

use crate::support::{self, TestApp, list};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use steward_domain::clock::{Clock, SystemClock};
use steward_integrations::standard_webhooks;
use steward_testkit::TestDatabase;

struct Setup {
    app: TestApp,
    admin: String,
    technician: String,
    tenant: String,
    integration: String,
}

async fn setup(db: &TestDatabase) -> Setup {
    let support::Harbor {
        app,
        tenant,
        admin,
        technician,
        credentials,
        ..
    } = support::harbor(db).await;
    let (status, created) = app
        .call(
            Method::POST,
            &format!("/api/v1/tenants/{}/integrations", tenant.id),
            Some(&admin),
            Some(&support::ninjaone_integration(
                &credentials,
                &app.url("/sandbox/ninjaone/"),
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    Setup {
        technician,
        admin,
        tenant: tenant.id.to_string(),
        integration: created["id"].as_str().unwrap().to_owned(),
        app,
    }
}

impl Setup {
    async fn create_secret(&self, token: &str) -> (StatusCode, Value) {
        self.app
            .call(
                Method::POST,
                &format!(
                    "/api/v1/tenants/{}/integrations/{}/webhook-secret",
                    self.tenant, self.integration
                ),
                Some(token),
                None,
            )
            .await
    }

    /// Posts `body` with the given Standard Webhooks headers.
    async fn post(
        &self,
        path: &str,
        id: &str,
        timestamp: i64,
        signature: &str,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs and posts `body` as message `id` sent `age_seconds` ago.
    async fn send(
        &self,
        secret: &str,
        id: &str,
        age_seconds: i64,
        body: &[u8],
    ) -> (StatusCode, Value) {
        let timestamp = SystemClock.now().timestamp() - age_seconds;
        let signature = standard_webhooks::sign(secret, id, timestamp, body).unwrap();
        self.post(&self.path(), id, timestamp, &signature, body)
            .await
    }

    fn path(&self) -> String {
        format!("/api/v1/webhooks/{}", self.integration)
    }

    async fn received(&self) -> Vec<Value> {
        let (_, audit) = self
            .app
            .call(
                Method::GET,
                &format!("/api/v1/tenants/{}/audit?limit=200", self.tenant),
                Some(&self.admin),
                None,
            )
            .await;
        list(&audit, "items")
            .iter()
            .filter(|e| e["action"] == "integration.webhook_received")
            .cloned()
            .collect()
    }

    async fn rejections(&self, reason: &str) -> u64 {
        let text = self
            .app
            .client
            .get(self.app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find(|l| {
                l.starts_with("steward_webhook_rejections_total{")
                    && l.contains(&format!("reason=\"{reason}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0, |n| n.parse().unwrap())
    }
}

#[tokio::test]
async fn a_signed_message_is_accepted_once_and_queues_a_synchronization() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;

    // No secret yet: no endpoint.
    let (status, _) = s.send("whsec_c2VjcmV0", "msg_1", 0, b"{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, refused) = s.create_secret(&s.technician).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, created) = s.create_secret(&s.admin).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["path"], s.path());

    let body = br#"{"type":"device.updated","deviceId":114001}"#;
    let (status, accepted) = s.send(&secret, "msg_2W6kKJ", 10, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["message_id"], "msg_2W6kKJ");
    let received = s.received().await;
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0]["after"]["message_id"], "msg_2W6kKJ");
    assert!(!received[0].to_string().contains(&secret));

    // The same message again (a replay, or the sender's retry): refused, nothing recorded.
    let (status, replayed) = s.send(&secret, "msg_2W6kKJ", 5, body).await;
    assert_eq!(status, StatusCode::CONFLICT, "{replayed}");
    assert_eq!(replayed["error"]["code"], "replayed");
    assert_eq!(s.received().await.len(), 1);
    assert_eq!(s.rejections("replayed").await, 1);

    // A new secret: the old one stops working at once.
    let (_, rotated) = s.create_secret(&s.admin).await;
    let (status, _) = s.send(&secret, "msg_old_secret", 0, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s
        .send(
            rotated["secret"].as_str().unwrap(),
            "msg_new_secret",
            0,
            body,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(s.received().await.len(), 2);
}

#[tokio::test]
async fn forged_stale_unsigned_and_oversized_messages_change_nothing_and_are_counted() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let (_, created) = s.create_secret(&s.admin).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let body = br#"{"type":"device.updated"}"#;
    let now = SystemClock.now().timestamp();
    let good = standard_webhooks::sign(&secret, "msg_a", now, body).unwrap();

    let cases: Vec<(&str, i64, String, &[u8], &str)> = vec![
        // Signed with another secret.
        (
            "msg_a",
            now,
            standard_webhooks::sign("whsec_b3RoZXIgc2VjcmV0", "msg_a", now, body).unwrap(),
            body,
            "bad_signature",
        ),
        // An empty or truncated signature.
        ("msg_a", now, "v1,".to_owned(), body, "bad_signature"),
        ("msg_a", now, good[..12].to_owned(), body, "bad_signature"),
        // The signature of another body, or another message id.
        (
            "msg_a",
            now,
            good.clone(),
            br#"{"type":"x"}"#,
            "bad_signature",
        ),
        ("msg_b", now, good.clone(), body, "bad_signature"),
        // Captured and sent again ten minutes later.
        (
            "msg_c",
            now - 600,
            standard_webhooks::sign(&secret, "msg_c", now - 600, body).unwrap(),
            body,
            "stale",
        ),
    ];
    for (id, timestamp, signature, payload, reason) in &cases {
        let before = s.rejections(reason).await;
        let (status, answer) = s.post(&s.path(), id, *timestamp, signature, payload).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{id} {signature}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "invalid-signature");
        assert_eq!(s.rejections(reason).await, before + 1, "{reason} counted");
    }
    // No signature headers at all.
    let response = s
        .app
        .client
        .post(s.app.url(&s.path()))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.rejections("missing_header").await, 1);

    // Larger than 256 KiB: refused before it is read further.
    let large = vec![b' '; 300 * 1024];
    let signature = standard_webhooks::sign(&secret, "msg_large", now, &large).unwrap();
    let (status, answer) = s
        .post(&s.path(), "msg_large", now, &signature, &large)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(s.rejections("too_large").await, 1);

    // An endpoint that does not exist.
    let (status, _) = s
        .post("/api/v1/webhooks/not-an-id", "msg_a", now, &good, body)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert!(s.received().await.is_empty(), "nothing was recorded");
    // The good message still goes through: the refusals did not burn its id.
    let (status, _) = s.post(&s.path(), "msg_a", now, &good, body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(s.received().await.len(), 1);
}
