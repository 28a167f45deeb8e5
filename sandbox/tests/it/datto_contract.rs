//! The Datto BCDR connector against the sandbox's partner API, over real HTTP on loopback: the
//! partner keys that see every customer's appliances, the company filter that keeps customers
//! apart, `_page`/`_perPage` paging, each protected machine's latest backups and newest
//! snapshot, Datto's error body, and throttling.

use crate::support::{self, Seen};
use secrecy::SecretString;
use steward_integrations::{
    Connector,
    datto::{DattoConnector, DattoSettings},
};
use steward_sandbox::{Sandbox, SandboxCredentials, datto::OPERATIONS};
use url::Url;
use uuid::Uuid;

const ACME: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_da01);

struct Partner {
    sandbox: Sandbox,
    acme: SandboxCredentials,
    base: Url,
    seen: Seen,
}

impl Partner {
    async fn start() -> Self {
        let mut served = support::serve_vendor(
            "datto/v1",
            &[
                (ACME, "Acme Dental", "acme-dental"),
                (
                    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_da02),
                    "Birch & Co Accounting",
                    "birch-accounting",
                ),
            ],
        )
        .await;
        Self {
            acme: served.credentials.remove(0),
            sandbox: served.sandbox,
            base: served.base,
            seen: served.seen,
        }
    }

    fn connector(&self, company: &str, secret: &str) -> DattoConnector {
        let http = support::quick_http();
        DattoConnector::new(
            http,
            &DattoSettings {
                api_url: self.base.clone(),
                public_key: self.acme.datto_public_key.clone(),
                client_company_name: company.to_owned(),
            },
            SecretString::from(secret.to_owned()),
        )
    }
}

#[tokio::test]
async fn the_customers_appliance_reports_its_server_with_failing_backups() {
    let partner = Partner::start().await;
    let connector = partner
        .connector(
            &partner.acme.datto_client_company_name,
            &partner.acme.datto_secret_key,
        )
        .with_page_size(1);
    let report = connector.test_connection().await.unwrap();
    assert!(
        report.checks[0].contains("1 appliance(s) of Acme Dental"),
        "{report:?}"
    );

    let inventory = connector.inventory().await.unwrap();
    let state = partner.sandbox.state(ACME).await.unwrap();
    let server = state
        .devices
        .iter()
        .find(|d| d.tags.iter().any(|t| t == "Server"))
        .unwrap();
    // Only Acme's server, though the partner keys see Birch's appliance too.
    assert_eq!(inventory.devices.len(), 1, "{inventory:#?}");
    let device = &inventory.devices[0];
    let short = server.computer_dns_name.split('.').next().unwrap();
    assert!(device.hostname.eq_ignore_ascii_case(short), "{device:?}");
    let backup = device.backup.as_ref().unwrap();
    assert!(
        backup
            .last_result
            .as_deref()
            .unwrap()
            .starts_with("Failed: Unable to take a snapshot"),
        "{backup:?}"
    );
    let point = backup.last_restore_point.unwrap();
    support::assert_close(point, server.latest_restore_point.unwrap());
    assert!(backup.last_run.unwrap() - point > chrono::Duration::days(8));
    assert!(
        backup.job.as_deref().unwrap().contains("-siris ("),
        "{backup:?}"
    );

    // Both customers' appliances were read, a page of one at a time; every request a published
    // operation.
    let seen = partner.seen.lock().unwrap().clone();
    let device_pages = support::query_values(&seen, "/bcdr/device", "_page");
    assert_eq!(device_pages, ["1", "2", "1", "2"], "{seen:?}");
    support::assert_published(&seen, &OPERATIONS, "Datto");
}

#[tokio::test]
async fn refusals_and_throttling_read_as_the_contract_says() {
    let partner = Partner::start().await;
    let wrong = partner.connector(&partner.acme.datto_client_company_name, "wrong");
    support::assert_authentication(&wrong.inventory().await, "Invalid API credentials");
    let stranger = partner.connector("Nobody Ltd", &partner.acme.datto_secret_key);
    support::assert_configuration(&stranger.test_connection().await, "Nobody Ltd");
    assert!(stranger.inventory().await.unwrap().devices.is_empty());
    partner.sandbox.throttle_datto(2);
    let connector = partner.connector(
        &partner.acme.datto_client_company_name,
        &partner.acme.datto_secret_key,
    );
    assert_eq!(connector.inventory().await.unwrap().devices.len(), 1);
}
