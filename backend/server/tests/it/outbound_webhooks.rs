//! Outbound webhooks through the HTTP API with a real worker and a real receiver on loopback:
//! subscribed events arrive signed per Standard Webhooks, a failed delivery is retried with
//! backoff under the same message id, exhausted retries end failed and audited, deliveries can
//! be sent again by hand, targets outside the public internet are refused (when saved, and when
//! a name turns private before sending), and another MSP reaches nothing.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use crate::support::governed::{Loop, broken_policy_dir, start_allowing, start_fresh};
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode as AxumStatus},
};
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use steward_core::{Clock, storage::entities::webhook_subscription};
use steward_integrations::standard_webhooks::{self, SignedHeaders};
use steward_testkit::TestDatabase;

/// One message as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Receiver {
    received: Arc<Mutex<Vec<Received>>>,
    /// Statuses to answer, in order, per path and event type (`"{path} {type}"`, or the path
    /// alone for every type); 200 once they run out.
    answers: Arc<Mutex<std::collections::HashMap<String, VecDeque<u16>>>>,
}

impl Receiver {
    async fn start() -> (Self, SocketAddr) {
        let receiver = Self::default();
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, address)
    }

    fn answer(&self, path: &str, statuses: &[u16]) {
        self.answers
            .lock()
            .unwrap()
            .insert(path.to_owned(), statuses.iter().copied().collect());
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Every message with the id of the first `event` that reached `path` once the loop has
    /// settled.
    async fn settled(&self, l: &Loop, path: &str, event: &str) -> Vec<Received> {
        l.settle().await;
        let got: Vec<Received> = self.received(path);
        let Some(first) = got.iter().find(|r| r.json()["type"] == event) else {
            panic!(
                "no {event} reached /{path}; got {:?}",
                got.iter()
                    .map(|r| r.json()["type"].clone())
                    .collect::<Vec<_>>()
            );
        };
        let id = first.id.clone();
        got.into_iter().filter(|r| r.id == id).collect()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    receiver.received.lock().unwrap().push(Received {
        path: path.clone(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: body.clone(),
    });
    let event = serde_json::from_slice::<Value>(&body).unwrap_or_default()["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let status = {
        let mut answers = receiver.answers.lock().unwrap();
        answers
            .get_mut(&format!("{path} {event}"))
            .and_then(VecDeque::pop_front)
            .or_else(|| answers.get_mut(&path).and_then(VecDeque::pop_front))
            .unwrap_or(200)
    };
    AxumStatus::from_u16(status).unwrap()
}

async fn subscribe(l: &Loop, body: &Value) -> (StatusCode, Value) {
    l.call(Method::POST, "/api/v1/msp/webhooks", &l.admin, Some(body))
        .await
}

async fn deliveries(l: &Loop, subscription: &str) -> Vec<Value> {
    let (status, list) = l
        .call(
            Method::GET,
            &format!("/api/v1/msp/webhooks/{subscription}/deliveries"),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().unwrap().clone()
}

/// The delivery with message `id` once the loop has settled; it must be as `done` says.
async fn settled_delivery(
    l: &Loop,
    subscription: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    l.settle().await;
    let delivery = deliveries(l, subscription)
        .await
        .into_iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no delivery {id}"));
    assert!(
        done(&delivery),
        "delivery {id} never got there: {delivery:#}"
    );
    delivery
}

fn verified(secret: &str, message: &Received, now: chrono::DateTime<chrono::Utc>) {
    standard_webhooks::verify(
        secret,
        SignedHeaders {
            id: Some(&message.id),
            timestamp: Some(&message.timestamp),
            signature: Some(&message.signature),
        },
        &message.body,
        now,
    )
    .unwrap_or_else(|e| panic!("{} does not verify: {e:?}", message.id));
}

#[tokio::test]
async fn subscribed_events_arrive_signed_and_failures_are_retried_then_sent_again_by_hand() {
    let db = TestDatabase::migrated().await;
    let (receiver, address) = Receiver::start().await;
    // The operator allow-listed the receiver's address; nothing else private is reachable.
    let l = start_allowing(&db, None, &[address]).await;
    let url = format!("http://{address}/ops");

    // A private target off the deployment's allow-list is refused; the MSP admin cannot widen
    // the list.
    for body in [
        json!({"url": "http://10.0.0.9/ops", "events": ["incident.created"]}),
        json!({"url": "http://10.0.0.9/ops", "events": ["incident.created"], "allow_private_network": true}),
    ] {
        let (status, refused) = subscribe(&l, &body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    }
    let (status, created) = subscribe(
        &l,
        &json!({
            "url": url,
            "description": "the MSP's operations bridge",
            "events": ["incident.created", "incident.resolved", "action.proposed", "action.executed", "action.rolled_back", "approval.requested"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let subscription = created["subscription"]["id"].as_str().unwrap().to_owned();
    let (_, listed) = l
        .call(Method::GET, "/api/v1/msp/webhooks", &l.technician, None)
        .await;
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    // The incident's first delivery meets an outage, the rest arrive at once.
    receiver.answer("ops incident.created", &[503]);
    l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["verified"]).await;
    let created_incident = receiver.settled(&l, "ops", "incident.created").await;
    let executed = receiver.settled(&l, "ops", "action.executed").await;
    let proposed = receiver.settled(&l, "ops", "action.proposed").await;
    assert_eq!(created_incident.len(), 1, "the first attempt only, so far");
    let now = l.world.clock.now();
    for message in [&created_incident[0], &executed[0], &proposed[0]] {
        verified(&secret, message, now);
        assert!(message.id.starts_with("msg_"), "{}", message.id);
    }
    let body = executed[0].json();
    assert_eq!(body["data"]["tenant_id"], l.tenant.id.to_string());
    assert_eq!(body["data"]["action"]["id"], action["id"]);
    assert_eq!(body["data"]["action"]["status"], "verified");
    let incident_id = created_incident[0].json()["data"]["incident"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = settled_delivery(&l, &subscription, &created_incident[0].id, |d| {
        d["attempts"] == 1
    })
    .await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["last_status"], 503);
    assert!(first["next_attempt_at"].is_string(), "{first:#}");

    // Half a minute later it is due: the same message, signed again, arrives.
    l.world.clock.advance(chrono::Duration::seconds(31));
    let retried = settled_delivery(&l, &subscription, &created_incident[0].id, |d| {
        d["status"] == "delivered"
    })
    .await;
    assert_eq!(retried["attempts"], 2);
    assert_eq!(retried["last_status"], 200);
    let attempts = receiver
        .received("ops")
        .into_iter()
        .filter(|r| r.id == created_incident[0].id)
        .collect::<Vec<_>>();
    assert_eq!(attempts.len(), 2);
    verified(&secret, &attempts[1], l.world.clock.now());
    assert_eq!(attempts[0].body, attempts[1].body);

    // Sent again by hand, with the same id.
    let (status, again) = l
        .call(
            Method::POST,
            &format!(
                "/api/v1/msp/webhooks/{subscription}/deliveries/{}/redeliver",
                created_incident[0].id
            ),
            &l.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    settled_delivery(&l, &subscription, &created_incident[0].id, |d| {
        d["attempts"] == 3 && d["status"] == "delivered"
    })
    .await;

    // Rolling back and resolving are events too.
    let (status, _) = l.roll_back(&action).await;
    assert_eq!(status, StatusCode::OK);
    let rolled_back = receiver.settled(&l, "ops", "action.rolled_back").await;
    assert_eq!(
        rolled_back[0].json()["data"]["action"]["status"],
        "rolled_back"
    );
    l.resolve_incident(&incident_id).await;
    let resolved = receiver.settled(&l, "ops", "incident.resolved").await;
    assert_eq!(
        resolved[0].json()["data"]["incident"]["verdict"],
        "true_positive"
    );

    // An action the policy sends to a technician asks for approval.
    let identity = l.inventory("identities").await.into_iter().next().unwrap();
    let (status, proposed) = l
        .propose(
            &json!({
                "type": "reset_mfa",
                "targets": [identity["id"]],
                "reason": "the user lost their phone",
            }),
            None,
        )
        .await;
    assert!(status.is_success(), "{proposed}");
    let requested = receiver.settled(&l, "ops", "approval.requested").await;
    assert_eq!(
        requested[0].json()["data"]["action"]["status"],
        "awaiting_approval"
    );

    let audit = l.audit_actions_of_msp().await;
    assert!(
        audit.contains(&"webhook_subscription.created".to_owned()),
        "{audit:?}"
    );
    assert!(
        audit.contains(&"webhook_delivery.delivered".to_owned()),
        "{audit:?}"
    );
    assert!(
        audit.contains(&"webhook_delivery.redelivery_requested".to_owned()),
        "{audit:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_policy_that_fails_is_announced_to_subscribers() {
    let db = TestDatabase::migrated().await;
    let broken = broken_policy_dir();
    let (receiver, address) = Receiver::start().await;
    let l = start_allowing(&db, Some(broken.path()), &[address]).await;
    let (status, created) = subscribe(
        &l,
        &json!({
            "url": format!("http://{address}/oncall"),
            "events": ["policy.failed"],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();

    l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["denied"]).await;
    let failed = receiver.settled(&l, "oncall", "policy.failed").await;
    verified(&secret, &failed[0], l.world.clock.now());
    let body = failed[0].json();
    assert_eq!(body["data"]["tenant_id"], l.tenant.id.to_string());
    assert_eq!(body["data"]["action"]["id"], action["id"]);
    assert_eq!(body["data"]["action"]["status"], "denied");
    assert_eq!(
        body["data"]["action"]["decision"]["reasons"],
        json!(["policy-error"])
    );
    assert!(body["data"]["action"]["detail"].is_string(), "{body:#}");
    // Only the failure was subscribed: nothing else reached the on-call tool.
    assert!(
        receiver
            .received("oncall")
            .iter()
            .all(|r| r.json()["type"] == "policy.failed"),
        "{:?}",
        receiver
            .received("oncall")
            .iter()
            .map(|r| r.json()["type"].clone())
            .collect::<Vec<_>>()
    );
    l.stop().await;
}

#[tokio::test]
async fn exhausted_retries_end_failed_and_a_name_turned_private_is_not_reached() {
    let db = TestDatabase::migrated().await;
    let (receiver, address) = Receiver::start().await;
    // A second receiver the operator never allow-listed: a name rebound to it reaches nothing.
    let (elsewhere, elsewhere_address) = Receiver::start().await;
    let l = start_allowing(&db, None, &[address]).await;
    receiver.answer("down", &[500; 20]);
    let (status, down) = subscribe(
        &l,
        &json!({
            "url": format!("http://{address}/down"),
            "events": ["incident.created"],
            "tenant_id": l.tenant.id,
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{down}");
    let down = down["subscription"]["id"].as_str().unwrap().to_owned();
    // Saved while its name was public; the name now points at this machine (DNS rebinding).
    let (status, rebound) = subscribe(
        &l,
        &json!({"url": "https://hooks.example.com/rebound", "events": ["incident.created"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rebound}");
    let rebound = rebound["subscription"]["id"].as_str().unwrap().to_owned();
    let row = webhook_subscription::Entity::find_by_id(rebound.parse::<uuid::Uuid>().unwrap())
        .one(l.world.storage.conn())
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    active.url = Set(format!(
        "https://localhost:{}/rebound",
        elsewhere_address.port()
    ));
    active.update(l.world.storage.conn()).await.unwrap();

    l.run_scenario("malware-laptop").await;
    let first = receiver.settled(&l, "down", "incident.created").await;
    let id = first[0].id.clone();
    for attempt in 1..8 {
        settled_delivery(&l, &down, &id, |d| d["attempts"] == attempt).await;
        l.world.clock.advance(chrono::Duration::hours(1));
    }
    let failed = settled_delivery(&l, &down, &id, |d| d["status"] == "failed").await;
    assert_eq!(failed["attempts"], 8);
    assert_eq!(failed["last_status"], 500);
    assert!(failed["next_attempt_at"].is_null(), "{failed:#}");
    assert_eq!(receiver.received("down").len(), 8);
    assert!(
        l.audit_actions_of_msp()
            .await
            .contains(&"webhook_delivery.failed".to_owned())
    );

    let rebound_delivery = deliveries(&l, &rebound).await.remove(0);
    let rebound_delivery = settled_delivery(
        &l,
        &rebound,
        rebound_delivery["id"].as_str().unwrap(),
        |d| d["attempts"].as_u64() >= Some(1),
    )
    .await;
    assert!(
        rebound_delivery["last_error"]
            .as_str()
            .unwrap()
            .contains("not a public address"),
        "{rebound_delivery:#}"
    );
    assert!(rebound_delivery["last_status"].is_null());
    assert!(elsewhere.received("rebound").is_empty());
    l.stop().await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_and_other_msps_reach_nothing() {
    let l = start_fresh().await;
    for (body, code) in [
        (
            json!({"url": "https://10.0.0.8/hook", "events": ["incident.created"]}),
            "invalid-webhook-target",
        ),
        (
            json!({"url": "https://169.254.169.254/latest", "events": ["incident.created"]}),
            "invalid-webhook-target",
        ),
        (
            json!({"url": "ftp://hooks.example.com/", "events": ["incident.created"]}),
            "invalid-webhook-target",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": []}),
            "invalid-subscription",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["incident.created"], "tenant_id": "0194f3a2-7b1c-7d3e-9f00-1234567890ab"}),
            "unknown-tenant",
        ),
    ] {
        let (status, refused) = subscribe(&l, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {refused}"
        );
        assert_eq!(refused["error"]["code"], code, "{body}: {refused}");
    }
    let (status, refused) = subscribe(
        &l,
        &json!({"url": "https://hooks.example.com/", "events": ["incident.exploded"]}),
    )
    .await;
    assert!(status.is_client_error(), "{refused}");
    let (status, _) = l
        .call(
            Method::POST,
            "/api/v1/msp/webhooks",
            &l.technician,
            Some(&json!({"url": "https://hooks.example.com/", "events": ["incident.created"]})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, listed) = l
        .call(Method::GET, "/api/v1/msp/webhooks", &l.admin, None)
        .await;
    assert_eq!(listed["items"], json!([]), "nothing was written");

    let (status, created) = subscribe(
        &l,
        &json!({"url": "https://hooks.example.com/steward", "events": ["incident.created"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["subscription"]["id"].as_str().unwrap();
    let path = format!("/api/v1/msp/webhooks/{id}");
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::PATCH, "", Some(json!({"enabled": false}))),
        (Method::DELETE, "", None),
        (Method::GET, "/deliveries", None),
        (Method::POST, "/deliveries/msg_0/redeliver", None),
    ] {
        let (status, answer) = l
            .call(
                method.clone(),
                &format!("{path}{suffix}"),
                &l.stranger,
                body.as_ref(),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {suffix}: {answer}");
    }
    let (status, kept) = l.call(Method::GET, &path, &l.admin, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kept["enabled"], true);

    // Paused, changed and removed by the MSP's admin.
    let (status, paused) = l
        .call(
            Method::PATCH,
            &path,
            &l.admin,
            Some(&json!({"enabled": false, "events": ["incident.resolved"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["events"], json!(["incident.resolved"]));
    let (status, refused) = l
        .call(
            Method::PATCH,
            &path,
            &l.admin,
            Some(&json!({"url": "https://192.168.1.10/hook"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = l.call(Method::DELETE, &path, &l.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = l.call(Method::GET, &path, &l.admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    l.stop().await;
}
