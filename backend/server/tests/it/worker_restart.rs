//! Jobs survive a worker that dies: `steward worker` killed in the middle of an action's job is
//! replaced by another, which finishes the job — and the action happens once at the vendor.

use std::{
    process::{Child, Stdio},
    time::Duration,
};

use crate::support::{StewardProcess, client, list, steward_on};
use reqwest::StatusCode;
use serde_json::Value;
use steward_testkit::TestDatabase;

/// A `steward worker` process, killed when dropped (a failing test leaves none behind).
struct Worker(Child);

impl Worker {
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `steward worker` that notices dead peers within seconds, with this pause between two
/// verification polls, allowed to call the demo's sandbox at `sandbox` (as its operator would
/// allow-list it).
fn start_worker(db: &TestDatabase, verify_interval_ms: &str, sandbox: &str) -> Worker {
    let mut command = steward_on(db);
    command
        .arg("worker")
        .env("STEWARD_EGRESS__ALLOW", format!("[\"{sandbox}\"]"))
        .env("STEWARD_WORKER__HEARTBEAT_SECS", "1")
        .env("STEWARD_WORKER__MISSED_HEARTBEATS", "2")
        .env("STEWARD_WORKER__POLL_INTERVAL_MS", "100")
        .env("STEWARD_WORKER__VERIFY_INTERVAL_MS", verify_interval_ms)
        .env("STEWARD_WORKER__VERIFY_TIMEOUT_SECS", "120")
        .stdout(Stdio::null())
        .spawn()
        .map(Worker)
        .expect("start steward worker")
}

/// A loopback address nothing listens on right now. The demo needs its real address before
/// it starts: it connects its tenants to the sandbox at that address.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

struct Api {
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str) -> Value {
        let response = client()
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    async fn isolation(&self, tenant: &str) -> Option<Value> {
        let actions = self.get(&format!("/api/v1/tenants/{tenant}/actions")).await;
        list(&actions, "items")
            .iter()
            .find(|a| a["type"] == "isolate_device")
            .cloned()
    }

    async fn wait_for_status(&self, tenant: &str, status: &str) -> Value {
        for _ in 0..600 {
            if let Some(action) = self.isolation(tenant).await
                && action["status"] == status
            {
                return action;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the isolation never became {status}: {:?}",
            self.isolation(tenant).await
        );
    }
}

#[tokio::test]
async fn a_worker_killed_mid_job_is_replaced_and_the_action_happens_once() {
    let db = TestDatabase::empty().await;
    let address = free_address();
    let mut demo = steward_on(&db);
    demo.args(["demo", "--listen", &address])
        .env("STEWARD_WORKER__EMBEDDED", "false");
    let server = StewardProcess::start(demo);
    let issued = steward_on(&db)
        .args(["token", "create", "--email", "admin@harbor-it.example"])
        .output()
        .unwrap();
    assert!(issued.status.success(), "{issued:?}");
    let token = String::from_utf8(issued.stdout)
        .unwrap()
        .split_whitespace()
        .find(|word| word.starts_with("stw_"))
        .expect("the token is printed")
        .to_owned();
    let api = Api {
        base: server.base.clone(),
        token,
    };
    let tenants = api.get("/api/v1/tenants").await;
    let tenant = tenants["items"][0]["id"].as_str().unwrap().to_owned();

    // The first worker verifies slowly, so it is caught in the middle of the job.
    let first = start_worker(&db, "60000", &address);
    let response = client()
        .post(format!(
            "{}/api/v1/tenants/{tenant}/sandbox/scenarios/malware-laptop/run",
            api.base
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let verifying = api.wait_for_status(&tenant, "verifying").await;
    first.kill();
    // Dead: its job stays taken, by no one alive, until its heartbeats are missed.
    let left = steward_workers::unfinished(&db.connect().await, Duration::ZERO)
        .await
        .unwrap();
    assert!(left.running >= 1, "{left:?}");
    assert_eq!(api.isolation(&tenant).await.unwrap()["status"], "verifying");

    let second = start_worker(&db, "200", &address);
    let verified = api.wait_for_status(&tenant, "verified").await;
    assert_eq!(verified["id"], verifying["id"]);
    assert_eq!(verified["vendor_reference"], verifying["vendor_reference"]);

    // Exactly once in effect: one isolation request at the vendor, one execution recorded.
    let state = api.get(&format!("/sandbox/state/{tenant}")).await;
    let isolations: Vec<_> = list(&state, "machine_actions")
        .iter()
        .filter(|a| a["kind"] == "Isolate")
        .collect();
    assert_eq!(isolations.len(), 1, "{state:#}");
    let audit = api
        .get(&format!("/api/v1/tenants/{tenant}/audit?limit=200"))
        .await;
    let count = |action: &str| {
        list(&audit, "items")
            .iter()
            .filter(|e| e["action"] == action && e["subject"]["id"] == verified["id"])
            .count()
    };
    assert_eq!(count("action.executing"), 1, "{audit:#}");
    assert_eq!(count("action.verifying"), 1);
    assert_eq!(count("action.verified"), 1);

    second.kill();
    assert!(server.stop().success());
}
