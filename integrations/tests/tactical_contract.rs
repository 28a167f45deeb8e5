//! The Tactical RMM connector against the sandbox's Tactical RMM server, over real HTTP on
//! loopback: the API key, the client filter that keeps customers apart, agents with their
//! status and serial numbers, Windows updates, Django REST framework's errors, and every request
//! checked against the routes the server publishes.

mod support;

use std::time::Duration;

use secrecy::SecretString;
use steward_integrations::{
    Connector, ConnectorError,
    http::{RetryPolicy, VendorHttp},
    sandbox::{Sandbox, tactical::OPERATIONS},
    tactical::{TacticalConnector, TacticalSettings},
};
use support::{Seen, is_operation};
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
    seen: Seen,
}

impl Server {
    async fn start() -> Self {
        let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7ac1);
        let (sandbox, credentials) = support::open(&[
            (tenant, "Cobalt Logistics", "cobalt-logistics"),
            (
                Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7ac2),
                "Acme Dental",
                "acme-dental",
            ),
        ])
        .await;
        let (address, seen) = support::serve_recorded(sandbox.clone(), "tactical").await;
        Self {
            sandbox,
            tenant,
            base: Url::parse(&format!("http://{address}/sandbox/tactical/")).unwrap(),
            key: credentials[0].tactical_api_key.clone(),
            client: credentials[0].tactical_client_id,
            other_client: credentials[1].tactical_client_id,
            other_key: credentials[1].tactical_api_key.clone(),
            seen,
        }
    }

    fn connector_with(&self, key: &str, client: u32) -> TacticalConnector {
        let http = VendorHttp::new(RetryPolicy {
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            ..RetryPolicy::default()
        })
        .unwrap();
        TacticalConnector::new(
            http,
            &TacticalSettings {
                api_url: self.base.clone(),
                client_id: client,
            },
            SecretString::from(key.to_owned()),
        )
    }
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
        let (seen, contact) = (
            device.last_seen.unwrap(),
            machine.ninja_last_contact.unwrap(),
        );
        assert!(
            (contact - seen).num_seconds().abs() <= 30,
            "{seen} vs {contact}"
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
    assert!(!seen.is_empty());
    for (method, path, _) in &seen {
        assert!(
            is_operation(&OPERATIONS, method, path),
            "{method} {path} is not a Tactical RMM route"
        );
    }
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
    let error = server
        .connector_with(&server.key, server.other_client)
        .test_connection()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConnectorError::Configuration(detail) if detail.contains(&server.other_client.to_string())),
        "{error:?}"
    );
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
