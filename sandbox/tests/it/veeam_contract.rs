//! The Veeam Service Provider Console connector against the sandbox's console, over real HTTP
//! on loopback: the API key, `limit`/`offset` paging with `meta.pagingInfo`, the company filter
//! that keeps customers apart, the last job result and newest restore point of each protected
//! computer, the console's error body, and throttling.

use std::sync::Arc;

use crate::steps::{request, settle};
use crate::support::{self, Seen};
use secrecy::SecretString;
use steward_domain::{actions::ActionType, clock::SystemClock};
use steward_integrations::{
    ActionRequest, Connector, ConnectorError, Verification,
    veeam::{VeeamConnector, VeeamSettings},
};
use steward_sandbox::{Sandbox, veeam::OPERATIONS};
use url::Url;
use uuid::Uuid;

struct Console {
    sandbox: Sandbox,
    tenant: Uuid,
    base: Url,
    key: String,
    company: Uuid,
    other_company: Uuid,
    seen: Seen,
}

impl Console {
    async fn start() -> Self {
        let tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_bac1);
        let other_tenant = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_bac2);
        let served = support::serve_vendor(
            "veeam/api/v3",
            &[
                (tenant, "Acme Dental", "acme-dental"),
                (other_tenant, "Birch & Co Accounting", "birch-accounting"),
            ],
        )
        .await;
        let (ours, theirs) = (&served.credentials[0], &served.credentials[1]);
        Self {
            key: ours.veeam_api_key.clone(),
            company: ours.veeam_company_uid,
            other_company: theirs.veeam_company_uid,
            sandbox: served.sandbox,
            tenant,
            base: served.base,
            seen: served.seen,
        }
    }

    fn connector_with(&self, key: &str, company: Uuid) -> VeeamConnector {
        let http = support::quick_http();
        VeeamConnector::new(
            http,
            &VeeamSettings {
                api_url: self.base.clone(),
                company_uid: company,
            },
            SecretString::from(key.to_owned()),
            Arc::new(SystemClock),
        )
    }

    fn connector(&self) -> VeeamConnector {
        self.connector_with(&self.key, self.company)
    }
}

#[tokio::test]
async fn protected_computers_come_with_their_job_result_and_newest_restore_point() {
    let console = Console::start().await;
    let state = console.sandbox.state(console.tenant).await.unwrap();
    let inventory = console
        .connector()
        .with_page_size(2)
        .inventory()
        .await
        .unwrap();
    let backed_up: Vec<_> = state
        .devices
        .iter()
        .filter(|d| d.veeam_agent.is_some())
        .collect();
    assert_eq!(inventory.devices.len(), backed_up.len());
    assert!(backed_up.len() >= 2, "the server and the finance laptops");
    for machine in backed_up {
        let device = inventory
            .devices
            .iter()
            .find(|d| Some(d.external_id.clone()) == machine.veeam_agent.map(|a| a.to_string()))
            .unwrap();
        let short = machine.computer_dns_name.split('.').next().unwrap();
        assert!(device.hostname.eq_ignore_ascii_case(short), "{device:?}");
        let backup = device.backup.as_ref().unwrap();
        let point = backup.last_restore_point.unwrap();
        support::assert_close(point, machine.latest_restore_point.unwrap());
        if machine.tags.iter().any(|t| t == "Server") {
            assert_eq!(backup.last_result.as_deref(), Some("Failed"));
            assert_eq!(backup.job.as_deref(), Some("File server nightly"));
            assert!(backup.last_run.unwrap() - point > chrono::Duration::days(8));
            assert_eq!(device.tags, ["Server"]);
        } else {
            assert_eq!(backup.last_result.as_deref(), Some("Success"));
        }
    }
    // Paged by two, each list read to its total; every request a published operation
    // filtered to the company.
    let seen = console.seen.lock().unwrap().clone();
    assert!(seen.len() > 3, "{seen:?}");
    let company = console.company.to_string();
    support::assert_published(&seen, &OPERATIONS, "console");
    for (_, path, query) in &seen {
        if !path.starts_with("/organizations") {
            let filter = query.iter().find(|(k, _)| k == "filter").unwrap();
            assert!(filter.1.contains(&company), "{filter:?}");
        }
    }
}

#[tokio::test]
async fn keys_and_companies_are_checked_and_customers_stay_apart() {
    let console = Console::start().await;
    let wrong = console.connector_with("not-a-key", console.company);
    support::assert_authentication(&wrong.inventory().await, "security");
    let stray = || console.connector_with(&console.key, console.other_company);
    let other_company = console.other_company.to_string();
    support::assert_configuration(&stray().test_connection().await, &other_company);
    let foreign = stray().inventory().await.unwrap();
    assert!(foreign.devices.is_empty(), "{foreign:?}");
    let report = console.connector().test_connection().await.unwrap();
    assert_eq!(report.checks.len(), 2, "{:?}", report.checks);
    assert!(report.checks[0].contains("Acme Dental"), "{report:?}");
}

#[tokio::test]
async fn throttling_is_backed_off_without_losing_a_computer() {
    let console = Console::start().await;
    let expected = console.connector().inventory().await.unwrap().devices.len();
    console.sandbox.throttle_veeam(console.tenant, 3);
    let inventory = console.connector().inventory().await.unwrap();
    assert_eq!(
        inventory.devices.len(),
        expected,
        "nothing lost to the 429s"
    );
}

fn backup_request(agent: Uuid, key: &str) -> ActionRequest {
    request(ActionType::TriggerBackup, &agent.to_string(), key)
}

#[tokio::test]
async fn a_triggered_backup_runs_and_adds_a_restore_point_and_a_failing_job_fails() {
    let console = Console::start().await;
    let veeam = console.connector();
    let state = console.sandbox.state(console.tenant).await.unwrap();
    let laptop = state
        .devices
        .iter()
        .find(|d| d.veeam_agent.is_some() && !d.tags.iter().any(|t| t == "Server"))
        .unwrap();
    let before = laptop.latest_restore_point.unwrap();
    let run = backup_request(laptop.veeam_agent.unwrap(), "backup-1");
    let snapshot = veeam.snapshot(&run).await.unwrap();
    assert_eq!(snapshot.0["job"], "Finance laptops nightly");
    let execution = veeam.execute(&run).await.unwrap();
    assert!(execution.changed);
    // Asked again while it runs: the run under way is the effect, nothing is started twice.
    let again = veeam.execute(&run).await.unwrap();
    assert!(!again.changed);
    let (verdict, polls) = settle(&veeam, &run, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(polls > 1, "the job runs before it ends");
    let after = console.sandbox.state(console.tenant).await.unwrap();
    let point = after
        .devices
        .iter()
        .find(|d| d.id == laptop.id)
        .unwrap()
        .latest_restore_point
        .unwrap();
    assert!(
        point > before,
        "a new restore point: {point} after {before}"
    );
    assert_eq!(
        veeam.rollback(&run, &snapshot).await.unwrap_err(),
        ConnectorError::Unsupported(ActionType::TriggerBackup),
        "nothing to undo"
    );

    // The server's job has failed for nine days; starting it by hand fails the same way.
    let server = state
        .devices
        .iter()
        .find(|d| d.veeam_agent.is_some() && d.tags.iter().any(|t| t == "Server"))
        .unwrap();
    let run = backup_request(server.veeam_agent.unwrap(), "backup-2");
    let execution = veeam.execute(&run).await.unwrap();
    let (verdict, _) = settle(&veeam, &run, &execution).await;
    assert!(
        matches!(&verdict, Verification::Failed(detail) if detail.contains("quota")),
        "{verdict:?}"
    );
    let seen = console.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|(m, p, _)| m == "POST" && p.ends_with("/start")),
        "{seen:?}"
    );
    support::assert_published(&seen, &OPERATIONS, "console");
    let unknown = backup_request(Uuid::from_u128(7), "backup-3");
    assert!(matches!(
        veeam.snapshot(&unknown).await.unwrap_err(),
        ConnectorError::NotFound(_)
    ));
}
