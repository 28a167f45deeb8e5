//! The CrowdStrike Falcon connector against the sandbox's Falcon, over real HTTP on loopback:
//! OAuth2 tokens (and `member_cid`), offset paging, the rate limit's retry epoch, hosts and
//! alerts, every step of containment, and every request checked against Falcon's published
//! endpoint table.

use std::{collections::HashMap, sync::Arc};

use crate::steps::{request, settle};
use crate::support::Seen;
use secrecy::SecretString;
use serde_json::Value;
use steward_domain::{
    actions::ActionType,
    clock::{Clock, SystemClock},
    observations::{EntityRef, OcsfClass},
};
use steward_integrations::{
    Connector, ConnectorError, EventCursors, Verification,
    falcon::{FalconConnector, FalconSettings},
};
use steward_sandbox::{Sandbox, SandboxState, Scenario};
use url::Url;
use uuid::Uuid;

struct Customer {
    sandbox: Sandbox,
    tenant: Uuid,
    base: Url,
    client_id: String,
    secret: String,
    cid: String,
    seen: Seen,
}

impl Customer {
    async fn start() -> Self {
        let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_00fa_1c0a);
        let mut served = crate::support::serve_vendor(
            "falcon",
            &[(tenant, "Cobalt Logistics", "cobalt-logistics")],
        )
        .await;
        let credentials = served.credentials.remove(0);
        Self {
            client_id: credentials.falcon_client_id,
            secret: credentials.falcon_client_secret,
            cid: credentials.falcon_cid,
            sandbox: served.sandbox,
            tenant,
            base: served.base,
            seen: served.seen,
        }
    }

    fn connector_with(&self, secret: &str, member_cid: Option<&str>) -> FalconConnector {
        let http = crate::support::quick_http();
        FalconConnector::new(
            http,
            &FalconSettings {
                api_base_url: self.base.clone(),
                client_id: self.client_id.clone(),
                member_cid: member_cid.map(str::to_owned),
            },
            SecretString::from(secret.to_owned()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn connector(&self) -> FalconConnector {
        self.connector_with(&self.secret, Some(&self.cid))
    }

    async fn state(&self) -> SandboxState {
        self.sandbox.state(self.tenant).await.unwrap()
    }

    async fn falcon_status(&self, falcon_id: &str) -> String {
        self.state()
            .await
            .devices
            .into_iter()
            .find(|d| d.falcon_id == falcon_id)
            .unwrap()
            .falcon_status
    }
}

#[tokio::test]
async fn inventory_reads_every_page_of_hosts() {
    let customer = Customer::start().await;
    let state = customer.state().await;
    let inventory = customer
        .connector()
        .with_page_size(4)
        .inventory()
        .await
        .unwrap();
    assert!(inventory.identities.is_empty());
    let sensors: Vec<_> = state.devices.iter().filter(|d| d.edr_sensor).collect();
    assert_eq!(inventory.devices.len(), sensors.len());
    assert!(sensors.len() < state.devices.len(), "a machine without EDR");
    for device in sensors {
        let host = inventory
            .devices
            .iter()
            .find(|d| d.external_id == device.falcon_id)
            .unwrap_or_else(|| panic!("{} missing", device.computer_dns_name));
        let short = device.computer_dns_name.split('.').next().unwrap();
        assert!(host.hostname.eq_ignore_ascii_case(short), "{host:?}");
        assert_eq!(host.health.as_deref(), Some("Active"));
        for tag in &device.tags {
            assert!(host.tags.contains(tag), "{tag} missing from {host:?}");
        }
    }
}

#[tokio::test]
async fn wrong_credentials_or_another_cid_are_authentication_errors() {
    let customer = Customer::start().await;
    let wrong = customer.connector_with("wrong", None);
    crate::support::assert_authentication(&wrong.inventory().await, "403");
    let error = customer
        .connector_with(&customer.secret, Some(&"0".repeat(32)))
        .test_connection()
        .await
        .unwrap_err();
    assert!(
        matches!(error, ConnectorError::Authentication(_)),
        "{error:?}"
    );
    // Without a member CID the API client reaches its own CID.
    let report = customer
        .connector_with(&customer.secret, None)
        .test_connection()
        .await
        .unwrap();
    assert_eq!(report.checks.len(), 2, "{:?}", report.checks);
}

#[tokio::test]
async fn a_revoked_token_is_renewed_and_a_rate_limit_is_waited_out() {
    let customer = Customer::start().await;
    let falcon = customer.connector();
    let expected = customer
        .state()
        .await
        .devices
        .iter()
        .filter(|d| d.edr_sensor)
        .count();
    assert_eq!(falcon.inventory().await.unwrap().devices.len(), expected);
    customer.sandbox.revoke_falcon_tokens(customer.tenant);
    assert_eq!(falcon.inventory().await.unwrap().devices.len(), expected);
    customer.sandbox.throttle_falcon(customer.tenant, 3);
    let inventory = falcon.inventory().await.unwrap();
    assert_eq!(
        inventory.devices.len(),
        expected,
        "nothing lost to the 429s"
    );
}

#[tokio::test]
async fn containment_is_snapshotted_verified_repeatable_and_rolled_back() {
    let customer = Customer::start().await;
    let falcon = customer.connector();
    let device = customer.state().await.devices[1].clone();
    let contain = request(ActionType::IsolateDevice, &device.falcon_id, "contain-1");

    let snapshot = falcon.snapshot(&contain).await.unwrap();
    assert_eq!(snapshot.0["status"], "normal");
    let execution = falcon.execute(&contain).await.unwrap();
    assert!(execution.changed);
    let (verdict, polls) = settle(&falcon, &contain, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(polls > 1, "containment is pending before it is confirmed");
    assert_eq!(customer.falcon_status(&device.falcon_id).await, "contained");
    assert!(
        !falcon.execute(&contain).await.unwrap().changed,
        "a repeat sends nothing"
    );

    let (lift, lift_execution) = falcon.rollback(&contain, &snapshot).await.unwrap().unwrap();
    assert_eq!(lift.action, ActionType::ReleaseDevice);
    let (verdict, _) = settle(&falcon, &lift, &lift_execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(customer.falcon_status(&device.falcon_id).await, "normal");

    // A host contained before the action stays contained when the action is rolled back.
    falcon.execute(&contain).await.unwrap();
    let again = request(ActionType::IsolateDevice, &device.falcon_id, "contain-2");
    let snapshot = falcon.snapshot(&again).await.unwrap();
    assert!(falcon.rollback(&again, &snapshot).await.unwrap().is_none());
}

#[tokio::test]
async fn unknown_hosts_are_not_found_and_identity_actions_are_refused() {
    let customer = Customer::start().await;
    let falcon = customer.connector();
    let missing = request(ActionType::IsolateDevice, &"f".repeat(32), "x");
    assert!(matches!(
        falcon.execute(&missing).await,
        Err(ConnectorError::NotFound(_))
    ));
    let disable = request(ActionType::DisableUser, "someone", "y");
    assert_eq!(
        falcon.execute(&disable).await,
        Err(ConnectorError::Unsupported(ActionType::DisableUser))
    );
}

#[tokio::test]
async fn alerts_become_ocsf_detection_findings_about_the_host() {
    let customer = Customer::start().await;
    let falcon = customer.connector();
    assert!(
        falcon
            .events(&EventCursors::default())
            .await
            .unwrap()
            .is_empty()
    );
    customer
        .sandbox
        .run_scenario(customer.tenant, Scenario::MalwareLaptop)
        .await
        .unwrap();
    let events = falcon.events(&EventCursors::default()).await.unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    let alert = &events[0];
    assert_eq!(alert.class, OcsfClass::DetectionFinding);
    assert_eq!(alert.ocsf["class_uid"], 2004);
    assert_eq!(alert.severity_id, 4);
    let EntityRef::Device { external_id } = &alert.entities[0] else {
        panic!("an alert about a host");
    };
    let state = customer.state().await;
    assert!(state.devices.iter().any(|d| &d.falcon_id == external_id));
    assert_eq!(
        alert.ocsf["metadata"]["product"]["vendor_name"],
        "CrowdStrike"
    );
    let later = SystemClock.now() + chrono::Duration::minutes(1);
    assert!(
        falcon
            .events(&EventCursors::all_since(Some(later)))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn every_request_is_a_published_falcon_operation_with_published_parameters() {
    let published: HashMap<String, Value> =
        serde_json::from_str(include_str!("../data/falcon/falcon-endpoints.json")).unwrap();
    let operations: Vec<&Value> = published
        .values()
        .flat_map(|v| v.as_array().unwrap())
        .collect();
    let find = |method: &str, path: &str| {
        operations
            .iter()
            .find(|op| op["method"] == method && op["path"] == path)
            .copied()
    };
    for (method, path) in steward_sandbox::falcon::OPERATIONS {
        assert!(
            find(method, path).is_some(),
            "{method} {path} is not published"
        );
    }

    let customer = Customer::start().await;
    let falcon = customer.connector().with_page_size(3);
    falcon.test_connection().await.unwrap();
    let inventory = falcon.inventory().await.unwrap();
    customer
        .sandbox
        .run_scenario(customer.tenant, Scenario::MalwareLaptop)
        .await
        .unwrap();
    falcon
        .events(&EventCursors::all_since(Some(
            SystemClock.now() - chrono::Duration::hours(1),
        )))
        .await
        .unwrap();
    let contain = request(
        ActionType::IsolateDevice,
        &inventory.devices[0].external_id,
        "k",
    );
    let execution = falcon.execute(&contain).await.unwrap();
    settle(&falcon, &contain, &execution).await;

    let seen = customer.seen.lock().unwrap().clone();
    assert!(seen.len() > 8, "{seen:?}");
    let mut paths: Vec<&str> = seen.iter().map(|(_, p, _)| p.as_str()).collect();
    paths.sort_unstable();
    paths.dedup();
    assert_eq!(paths.len(), 6, "every operation was used: {paths:?}");
    for (method, path, query) in &seen {
        let operation =
            find(method, path).unwrap_or_else(|| panic!("{method} {path} is not published"));
        let parameters: Vec<&str> = operation["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for (name, _) in query {
            assert!(
                parameters.contains(&name.as_str()),
                "{method} {path} has no query parameter {name} (published: {parameters:?})"
            );
        }
    }
}
