//! The NinjaOne connector against the sandbox's NinjaOne, over real HTTP on loopback: OAuth2
//! client-credentials tokens, `after`-id paging of devices and cursor paging of patch reports,
//! the organization filter that keeps customers apart, throttling, and every request checked
//! against the operations NinjaOne's API publishes.

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
    ninjaone::{NinjaOneConnector, NinjaOneSettings},
};
use steward_sandbox::{DeviceState, Fault, Sandbox, SandboxState, ninjaone::OPERATIONS};
use url::Url;
use uuid::Uuid;

struct Instance {
    sandbox: Sandbox,
    tenant: Uuid,
    other_tenant: Uuid,
    base: Url,
    client_id: String,
    secret: String,
    organization: u32,
    other_organization: u32,
    seen: Seen,
}

impl Instance {
    async fn start() -> Self {
        let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_4e1a);
        let other_tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_4e1b);
        let served = support::serve_vendor(
            "ninjaone",
            &[
                (tenant, "Acme Dental", "acme-dental"),
                (other_tenant, "Birch & Co Accounting", "birch-accounting"),
            ],
        )
        .await;
        let (ours, theirs) = (&served.credentials[0], &served.credentials[1]);
        Self {
            client_id: ours.ninja_client_id.clone(),
            secret: ours.ninja_client_secret.clone(),
            organization: ours.ninja_organization_id,
            other_organization: theirs.ninja_organization_id,
            sandbox: served.sandbox,
            tenant,
            other_tenant,
            base: served.base,
            seen: served.seen,
        }
    }

    fn connector_with(&self, secret: &str, organization: u32) -> NinjaOneConnector {
        let http = support::quick_http();
        NinjaOneConnector::new(
            http,
            &NinjaOneSettings {
                instance_url: self.base.clone(),
                client_id: self.client_id.clone(),
                organization_id: organization,
            },
            SecretString::from(secret.to_owned()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn connector(&self) -> NinjaOneConnector {
        self.connector_with(&self.secret, self.organization)
    }

    async fn state(&self) -> SandboxState {
        self.sandbox.state(self.tenant).await.unwrap()
    }
}

#[tokio::test]
async fn inventory_reads_every_page_with_agents_hardware_keys_and_patches() {
    let instance = Instance::start().await;
    let state = instance.state().await;
    let inventory = instance
        .connector()
        .with_page_size(3)
        .inventory()
        .await
        .unwrap();
    assert!(inventory.identities.is_empty());
    assert_eq!(
        inventory.devices.len(),
        state.devices.len(),
        "{inventory:#?}"
    );
    for machine in &state.devices {
        let device = inventory
            .devices
            .iter()
            .find(|d| Some(d.external_id.clone()) == machine.ninja_id.map(|id| id.to_string()))
            .unwrap_or_else(|| panic!("{} missing", machine.computer_dns_name));
        assert_eq!(device.hostname, machine.computer_dns_name);
        assert_eq!(
            device.serial_number.as_deref(),
            Some(machine.serial_number.as_str())
        );
        assert_eq!(device.mac_addresses.len(), 1);
        // Live agents check in every few minutes; the state was read a moment later.
        support::assert_close(
            device.last_seen.unwrap(),
            machine.ninja_last_contact.unwrap(),
        );
        assert!(
            device.patches.is_some(),
            "every managed device has a patch state"
        );
    }
    let server = inventory
        .devices
        .iter()
        .find(|d| d.tags.iter().any(|t| t == "Server"))
        .unwrap();
    let patches = server.patches.as_ref().unwrap();
    assert_eq!(
        patches.pending, 3,
        "the rejected feature update is not missing"
    );
    assert_eq!(patches.pending_critical, 3);
    assert_eq!(patches.failed_installs, 1);
    assert!(patches.last_installed_at.is_some());
    // The server's agent reported minutes ago; one laptop's a month before that.
    assert_eq!(server.health.as_deref(), Some("Agent online"));
    let recent = server.last_seen.unwrap();
    let silent: Vec<_> = inventory
        .devices
        .iter()
        .filter(|d| d.last_seen.unwrap() < recent - chrono::Duration::days(30))
        .collect();
    assert_eq!(silent.len(), 1, "the agent that stopped reporting");
    assert!(silent[0].hostname.contains("-lt08."), "{silent:?}");
    assert_eq!(silent[0].health.as_deref(), Some("Agent offline"));

    // Pages: devices by the last id, patch reports by their cursor.
    let seen = instance.seen.lock().unwrap().clone();
    let device_pages: Vec<_> = seen
        .iter()
        .filter(|(_, path, _)| path == "/v2/devices-detailed")
        .collect();
    // A full page asks for the next; the short last page ends the walk.
    assert_eq!(device_pages.len(), state.devices.len() / 3 + 1);
    assert!(device_pages[1].2.iter().any(|(k, _)| k == "after"));
    assert!(
        seen.iter()
            .any(|(_, path, query)| path == "/v2/queries/os-patches"
                && query.iter().any(|(k, _)| k == "cursor")),
        "the missing-patch report spans pages"
    );
}

#[tokio::test]
async fn every_request_is_a_published_operation_filtered_to_the_customers_organization() {
    let instance = Instance::start().await;
    let connector = instance.connector();
    connector.test_connection().await.unwrap();
    connector.inventory().await.unwrap();
    let seen = instance.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    let organization = format!("org = {}", instance.organization);
    support::assert_published(&seen, &OPERATIONS, "NinjaOne");
    for (method, path, query) in &seen {
        for (name, value) in query {
            assert!(
                ["df", "pageSize", "after", "cursor"].contains(&name.as_str()),
                "{method} {path}: unknown parameter {name}"
            );
            if name == "df" {
                assert_eq!(value, &organization, "every read names the organization");
            }
        }
        if path.starts_with("/v2/devices") || path.starts_with("/v2/queries") {
            assert!(
                query.iter().any(|(k, _)| k == "df"),
                "{path} read without the organization filter"
            );
        }
    }
}

#[tokio::test]
async fn credentials_and_organizations_are_checked_and_customers_stay_apart() {
    let instance = Instance::start().await;
    let wrong = instance.connector_with("wrong", instance.organization);
    support::assert_authentication(&wrong.inventory().await, "invalid_client");
    // The client of one customer does not see another's organization.
    let stray = || instance.connector_with(&instance.secret, instance.other_organization);
    let other_organization = instance.other_organization.to_string();
    support::assert_configuration(&stray().test_connection().await, &other_organization);
    let inventory = stray().inventory().await.unwrap();
    assert!(inventory.devices.is_empty(), "{inventory:#?}");
    let other = instance.sandbox.state(instance.other_tenant).await.unwrap();
    let own = instance.connector().inventory().await.unwrap();
    for device in &own.devices {
        assert!(
            !other
                .devices
                .iter()
                .any(|d| d.computer_dns_name == device.hostname),
            "{} belongs to the other customer",
            device.hostname
        );
    }
    let report = instance.connector().test_connection().await.unwrap();
    assert_eq!(report.checks.len(), 3, "{:?}", report.checks);
    assert!(report.checks[0].contains("Acme Dental"), "{report:?}");
}

#[tokio::test]
async fn throttling_is_waited_out_without_losing_a_device() {
    let instance = Instance::start().await;
    let connector = instance.connector().with_page_size(4);
    let expected = instance.state().await.devices.len();
    instance.sandbox.throttle_ninjaone(instance.tenant, 3);
    let inventory = connector.inventory().await.unwrap();
    assert_eq!(
        inventory.devices.len(),
        expected,
        "nothing lost to the 429s"
    );
    let refused = instance
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, path, _)| path != "/ws/oauth/token")
        .count();
    assert!(
        refused > expected.div_ceil(4) + 3,
        "the refused requests were sent again"
    );
}

fn script_request(action: ActionType, device: u64, key: &str) -> ActionRequest {
    let mut request = request(action, &device.to_string(), key);
    request.parameters = ActionParameters {
        script_id: Some("101".into()),
        undo_script_id: Some("102".into()),
        ..ActionParameters::default()
    };
    request
}

impl Instance {
    async fn device(&self, name: &str) -> (u64, DeviceState) {
        let device = self
            .state()
            .await
            .devices
            .into_iter()
            .find(|d| d.computer_dns_name.contains(name))
            .unwrap();
        (device.ninja_id.unwrap(), device)
    }
}

#[tokio::test]
async fn a_script_runs_is_verified_in_the_activity_log_and_its_undo_script_rolls_it_back() {
    let instance = Instance::start().await;
    let ninja = instance.connector();
    let (id, before) = instance.device("-lt02.").await;
    assert_eq!(
        before.settings.get("smb1"),
        None,
        "on until a script turns it off"
    );
    let run = script_request(ActionType::RunScript, id, "run-1");
    let smb1 = async || {
        instance
            .device("-lt02.")
            .await
            .1
            .settings
            .get("smb1")
            .copied()
    };
    let later = "the run is queued, then in process, then completed";
    steps::script_runs_and_is_undone(&ninja, &run, smb1, later).await;

    let seen = instance.seen.lock().unwrap().clone();
    support::assert_published(&seen, &OPERATIONS, "NinjaOne");
    assert_eq!(
        seen.iter()
            .filter(|(m, p, _)| m == "POST" && p.ends_with("/script/run"))
            .count(),
        2,
        "one run of the script, one of its undo script"
    );
}

#[tokio::test]
async fn a_failed_run_fails_verification_and_a_silent_agent_never_confirms() {
    let instance = Instance::start().await;
    let ninja = instance.connector();
    let (id, _) = instance.device("-lt03.").await;
    instance
        .sandbox
        .inject(instance.tenant, Fault::FailNextScript { device_id: id })
        .await
        .unwrap();
    let run = script_request(ActionType::RunScript, id, "fails");
    let execution = ninja.execute(&run).await.unwrap();
    let (verdict, _) = settle(&ninja, &run, &execution).await;
    assert!(
        matches!(&verdict, Verification::Failed(detail) if detail.contains("FAILURE")),
        "{verdict:?}"
    );
    let (_, device) = instance.device("-lt03.").await;
    assert_eq!(device.settings.get("smb1"), None, "nothing changed");

    // The agent that stopped reporting never picks the run up.
    let (silent, _) = instance.device("-lt08.").await;
    let run = script_request(ActionType::RunScript, silent, "silent");
    steps::never_confirms(&ninja, &run).await;
}

#[tokio::test]
async fn scripts_outside_the_library_and_unknown_devices_are_refused() {
    let instance = Instance::start().await;
    let ninja = instance.connector();
    let (id, _) = instance.device("-lt01.").await;
    let run = script_request(ActionType::RunScript, id, "unknown-script");
    steps::unknown_script_is_not_found(&ninja, run).await;
    let run = script_request(ActionType::RunScript, 1, "unknown-device");
    let error = ninja.snapshot(&run).await.unwrap_err();
    assert!(matches!(error, ConnectorError::NotFound(_)), "{error:?}");
    let error = ninja
        .snapshot(&request(ActionType::IsolateDevice, "1", "other"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        ConnectorError::Unsupported(ActionType::IsolateDevice)
    );
}
