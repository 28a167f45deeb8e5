//! The Tactical RMM connector against the sandbox's Tactical RMM server, over real HTTP on
//! loopback: the API key, the client filter that keeps customers apart, agents with their
//! status and serial numbers, Windows updates, Django REST framework's errors, and every request
//! checked against the routes the server publishes; script runs from the script library,
//! followed through the agent's history and undone by their paired script.

use std::sync::Arc;

use crate::steps::{self, request, settle};
use crate::support::{self, Seen};
use secrecy::SecretString;
use steward_domain::{
    actions::{ActionParameters, ActionType},
    clock::SystemClock,
};
use steward_integrations::{
    ActionRequest, Connector, ConnectorError, Verification,
    tactical::{TacticalConnector, TacticalSettings},
};
use steward_sandbox::{DeviceState, Fault, Sandbox, tactical::OPERATIONS};
use url::Url;
use uuid::Uuid;

struct Server {
    sandbox: Sandbox,
    tenant: Uuid,
    base: Url,
    key: String,
    client: u32,
    other_client: u32,
    other_key: String,
    other_tenant: Uuid,
    seen: Seen,
}

impl Server {
    async fn start() -> Self {
        let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7ac1);
        let other_tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7ac2);
        let served = support::serve_vendor(
            "tactical",
            &[
                (tenant, "Cobalt Logistics", "cobalt-logistics"),
                (other_tenant, "Acme Dental", "acme-dental"),
            ],
        )
        .await;
        let (ours, theirs) = (&served.credentials[0], &served.credentials[1]);
        Self {
            key: ours.tactical_api_key.clone(),
            client: ours.tactical_client_id,
            other_client: theirs.tactical_client_id,
            other_key: theirs.tactical_api_key.clone(),
            sandbox: served.sandbox,
            tenant,
            other_tenant,
            base: served.base,
            seen: served.seen,
        }
    }

    fn connector_with(&self, key: &str, client: u32) -> TacticalConnector {
        let http = support::quick_http();
        TacticalConnector::new(
            http,
            &TacticalSettings {
                api_url: self.base.clone(),
                client_id: client,
            },
            SecretString::from(key.to_owned()),
            Arc::new(SystemClock),
        )
    }

    fn connector(&self) -> TacticalConnector {
        self.connector_with(&self.key, self.client)
    }

    /// The machine whose name contains `name`, with its agent id.
    async fn device(&self, name: &str) -> (String, DeviceState) {
        let device = self
            .sandbox
            .state(self.tenant)
            .await
            .unwrap()
            .devices
            .into_iter()
            .find(|d| d.computer_dns_name.contains(name))
            .unwrap();
        (device.tactical_agent_id.clone().unwrap(), device)
    }
}

/// `run_script` of the pair "Disable SMBv1" (11) / "Enable SMBv1" (12) on `agent`.
fn script_request(action: ActionType, agent: &str, key: &str) -> ActionRequest {
    let mut request = request(action, agent, key);
    request.parameters = ActionParameters {
        script_id: Some("11".into()),
        undo_script_id: Some("12".into()),
        ..ActionParameters::default()
    };
    request
}

#[tokio::test]
async fn a_script_runs_is_verified_in_the_agents_history_and_its_undo_script_rolls_it_back() {
    let server = Server::start().await;
    let tactical = server.connector();
    let (agent, before) = server.device("-lt02.").await;
    assert_eq!(
        before.settings.get("smb1"),
        None,
        "on until a script turns it off"
    );
    let run = script_request(ActionType::RunScript, &agent, "run-1");
    let smb1 = async || {
        server
            .device("-lt02.")
            .await
            .1
            .settings
            .get("smb1")
            .copied()
    };
    let later = "the run is recorded first, the agent reports later";
    steps::script_runs_and_is_undone(&tactical, &run, smb1, later).await;

    let seen = server.seen.lock().unwrap().clone();
    support::assert_published(&seen, &OPERATIONS, "Tactical RMM");
    // The server's view reads every field by name (a missing one is its 500), so the runs
    // were accepted as complete requests.
    assert_eq!(
        seen.iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/runscript/"))
            .count(),
        2,
        "one run of the script, one of its undo script"
    );
}

#[tokio::test]
async fn a_failed_run_fails_verification_and_a_silent_agent_never_confirms() {
    let server = Server::start().await;
    let tactical = server.connector();
    let (agent, _) = server.device("-lt03.").await;
    server
        .sandbox
        .inject(
            server.tenant,
            Fault::FailNextTacticalScript {
                agent_id: agent.clone(),
            },
        )
        .await
        .unwrap();
    let run = script_request(ActionType::RunScript, &agent, "fails");
    let execution = tactical.execute(&run).await.unwrap();
    let (verdict, _) = settle(&tactical, &run, &execution).await;
    assert!(
        matches!(&verdict, Verification::Failed(detail) if detail.contains("exit code 1") && detail.contains("access denied")),
        "{verdict:?}"
    );
    let (_, device) = server.device("-lt03.").await;
    assert_eq!(device.settings.get("smb1"), None, "nothing changed");

    // The agent that stopped reporting never runs it.
    let (silent, _) = server.device("-lt08.").await;
    let run = script_request(ActionType::RunScript, &silent, "silent");
    steps::never_confirms(&tactical, &run).await;
}

#[tokio::test]
async fn scripts_outside_the_library_and_agents_of_other_clients_are_refused() {
    let server = Server::start().await;
    let tactical = server.connector();
    let (agent, _) = server.device("-lt01.").await;
    let run = script_request(ActionType::RunScript, &agent, "unknown-script");
    steps::unknown_script_is_not_found(&tactical, run).await;

    // An agent of another customer, even with a key that sees it, is not this client's.
    let other = server
        .sandbox
        .state(server.other_tenant)
        .await
        .unwrap()
        .devices
        .into_iter()
        .find_map(|d| d.tactical_agent_id)
        .unwrap();
    let run = script_request(ActionType::RunScript, &other, "other-client");
    let error = tactical.snapshot(&run).await.unwrap_err();
    assert!(matches!(error, ConnectorError::NotFound(_)), "{error:?}");
    let error = tactical.execute(&run).await.unwrap_err();
    assert!(matches!(error, ConnectorError::NotFound(_)), "{error:?}");
    let (_, untouched) = server.device("-lt01.").await;
    assert_eq!(untouched.settings.get("smb1"), None);
    assert!(
        !server
            .seen
            .lock()
            .unwrap()
            .iter()
            .any(|(m, _, _)| m == "POST"),
        "nothing was asked to run"
    );
    let error = tactical
        .snapshot(&request(ActionType::IsolateDevice, &agent, "other"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ConnectorError::Unsupported(ActionType::IsolateDevice)
    );
}

#[tokio::test]
async fn inventory_reads_the_clients_agents_with_status_serials_and_updates() {
    let server = Server::start().await;
    let state = server.sandbox.state(server.tenant).await.unwrap();
    let inventory = server
        .connector_with(&server.key, server.client)
        .inventory()
        .await
        .unwrap();
    assert_eq!(inventory.devices.len(), state.devices.len());
    for machine in &state.devices {
        let short = machine.computer_dns_name.split('.').next().unwrap();
        let device = inventory
            .devices
            .iter()
            .find(|d| d.hostname.eq_ignore_ascii_case(short))
            .unwrap_or_else(|| panic!("{short} missing"));
        assert_eq!(
            device.serial_number.as_deref(),
            Some(machine.serial_number.as_str())
        );
        support::assert_close(
            device.last_seen.unwrap(),
            machine.ninja_last_contact.unwrap(),
        );
        assert!(device.last_ip.as_deref().unwrap().starts_with("192.168."));
    }
    let silent = inventory
        .devices
        .iter()
        .find(|d| d.hostname.to_lowercase().ends_with("-lt08"))
        .unwrap();
    assert_eq!(silent.health.as_deref(), Some("Agent overdue"));
    let server_device = inventory
        .devices
        .iter()
        .find(|d| d.tags.iter().any(|t| t == "Server"))
        .unwrap();
    let patches = server_device.patches.as_ref().unwrap();
    assert_eq!(patches.pending, 3, "the ignored update is not missing");
    assert_eq!(patches.pending_critical, 3);
    assert_eq!(patches.failed_installs, 1);
    assert!(patches.last_installed_at.is_some());
    assert_eq!(
        patches.oldest_pending_since, None,
        "Tactical RMM does not say"
    );

    let seen = server.seen.lock().unwrap().clone();
    support::assert_published(&seen, &OPERATIONS, "Tactical RMM");
}

#[tokio::test]
async fn keys_and_clients_are_checked_and_customers_stay_apart() {
    let server = Server::start().await;
    let error = server
        .connector_with("WRONGKEY", server.client)
        .inventory()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ConnectorError::Authentication("HTTP 401: Invalid token.".into())
    );
    // A key limited to one customer does not reach another's client.
    let stray = server.connector_with(&server.key, server.other_client);
    let other_client = server.other_client.to_string();
    support::assert_configuration(&stray.test_connection().await, &other_client);
    let other = server
        .connector_with(&server.other_key, server.other_client)
        .inventory()
        .await
        .unwrap();
    let own = server
        .connector_with(&server.key, server.client)
        .inventory()
        .await
        .unwrap();
    for device in &own.devices {
        assert!(
            !other.devices.iter().any(|d| d.hostname == device.hostname),
            "{} belongs to the other customer",
            device.hostname
        );
    }
    let report = server
        .connector_with(&server.key, server.client)
        .test_connection()
        .await
        .unwrap();
    assert_eq!(report.checks.len(), 3, "{:?}", report.checks);
    assert!(report.checks[0].contains("Cobalt Logistics"), "{report:?}");
}
