//! The PSA connectors (HaloPSA, ConnectWise Manage) against the sandbox's PSAs, over real HTTP
//! on loopback: one contract both pass — a ticket opened once per incident reference however
//! often asked, notes, closing and reopening, tickets of other customers invisible — plus each
//! vendor's authentication, paging, error body and throttling.

use std::sync::Arc;

use crate::steps::{request, settle};
use crate::support::{self, Seen};
use secrecy::SecretString;
use steward_domain::{actions::ActionType, clock::SystemClock};
use steward_integrations::{
    Connector, ConnectorError, Verification,
    connectwise::{ConnectWiseConnector, ConnectWiseSettings},
    halopsa::{HaloConnector, HaloSettings},
    http::VendorHttp,
    tickets::{self, TicketDesk, TicketDraft},
};
use steward_sandbox::{Sandbox, SandboxCredentials, connectwise, environment::PsaSystem, halopsa};
use url::Url;
use uuid::Uuid;

const ACME: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7c01);
const BIRCH: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_7c02);

struct Psa {
    sandbox: Sandbox,
    acme: SandboxCredentials,
    birch: SandboxCredentials,
    base: Url,
    seen: Seen,
}

impl Psa {
    async fn start(vendor_prefix: &'static str) -> Self {
        let (sandbox, mut credentials) = support::open(&[
            (ACME, "Acme Dental", "acme-dental"),
            (BIRCH, "Birch & Co Accounting", "birch-accounting"),
        ])
        .await;
        let (address, seen) = support::serve_recorded(sandbox.clone(), vendor_prefix).await;
        let birch = credentials.remove(1);
        Self {
            sandbox,
            acme: credentials.remove(0),
            birch,
            base: Url::parse(&format!("http://{address}/sandbox/")).unwrap(),
            seen,
        }
    }

    fn http() -> VendorHttp {
        support::quick_http()
    }

    fn halo(&self, customer: &SandboxCredentials, secret: &str) -> HaloConnector {
        HaloConnector::new(
            Self::http(),
            &HaloSettings {
                instance_url: self.base.join("halopsa/").unwrap(),
                tenant: Some(halopsa::TENANT.to_owned()),
                client_id: customer.halo_application_id.clone(),
                customer_client_id: customer.halo_client_id,
                open_status_id: 1,
                closed_status_id: 9,
            },
            SecretString::from(secret.to_owned()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn connectwise(
        &self,
        customer: &SandboxCredentials,
        private_key: &str,
    ) -> ConnectWiseConnector {
        ConnectWiseConnector::new(
            Self::http(),
            &ConnectWiseSettings {
                site_url: self.base.join("connectwise/").unwrap(),
                company_id: connectwise::COMPANY_ID.to_owned(),
                public_key: customer.cw_public_key.clone(),
                client_id: customer.cw_client_id.clone(),
                customer_company_id: customer.cw_company_record_id,
                board_id: connectwise::BOARD_ID,
            },
            SecretString::from(private_key.to_owned()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    /// `customer`'s HaloPSA connector, with its API application's own secret.
    fn own_halo(&self, customer: &SandboxCredentials) -> HaloConnector {
        self.halo(customer, &customer.halo_application_secret)
    }

    /// `customer`'s ConnectWise Manage connector, with its API member's own private key.
    fn own_connectwise(&self, customer: &SandboxCredentials) -> ConnectWiseConnector {
        self.connectwise(customer, &customer.cw_private_key)
    }

    /// The vendor-side tickets of `tenant` in `system`: (id, summary, status id, notes).
    async fn tickets(
        &self,
        tenant: Uuid,
        system: PsaSystem,
    ) -> Vec<(u64, String, u32, Vec<String>)> {
        self.sandbox
            .state(tenant)
            .await
            .unwrap()
            .tickets
            .into_iter()
            .filter(|t| t.system == system)
            .map(|t| (t.id, t.summary, t.status_id, t.notes))
            .collect()
    }
}

fn draft(incident: u128, title: &str) -> TicketDraft {
    TicketDraft {
        reference: tickets::reference(Uuid::from_u128(incident)),
        summary: title.to_owned(),
        description: "Steward opened this ticket for an incident.".to_owned(),
        severity_id: 4,
    }
}

/// The contract every PSA connector passes: `ours` works in the customer's PSA, `theirs` in
/// another customer's; `closed_status` is the PSA's closing status id.
async fn ticket_contract<C: TicketDesk + Connector>(
    psa: &Psa,
    system: PsaSystem,
    ours: &C,
    theirs: &C,
    closed_status: u32,
) {
    let report = ours.test_connection().await.unwrap();
    assert!(report.checks.len() >= 2, "{report:?}");
    assert!(
        report.checks[0].contains("Acme Dental"),
        "{:?}",
        report.checks
    );

    // Opened once, however often asked: the reference finds the ticket again.
    let malware = draft(1, "Malware on FIN-LT01");
    let opened = ours.open_ticket(&malware).await.unwrap();
    assert!(!opened.closed, "{opened:?}");
    let again = ours.open_ticket(&malware).await.unwrap();
    assert_eq!(again.id, opened.id);
    let vendor_side = psa.tickets(ACME, system).await;
    assert_eq!(vendor_side.len(), 1, "{vendor_side:?}");
    assert!(
        vendor_side[0]
            .1
            .starts_with(&format!("[{}]", malware.reference)),
        "{vendor_side:?}"
    );

    // Notes, closing and reopening show at the vendor and in the connector's reading.
    ours.add_note(&opened.id, "Steward: the incident is now contained.")
        .await
        .unwrap();
    let closed = ours.set_closed(&opened.id, true).await.unwrap();
    assert!(closed.closed, "{closed:?}");
    assert_eq!(ours.ticket(&opened.id).await.unwrap(), Some(closed.clone()));
    let vendor_side = psa.tickets(ACME, system).await;
    assert_eq!(vendor_side[0].2, closed_status);
    assert_eq!(
        vendor_side[0].3,
        ["Steward: the incident is now contained."]
    );
    let reopened = ours.set_closed(&opened.id, false).await.unwrap();
    assert!(!reopened.closed, "{reopened:?}");
    assert_ne!(reopened.status, closed.status);

    // Another customer's tickets are not ours to read, note or close, and unknown ids are none.
    let birch = theirs
        .open_ticket(&draft(2, "Phishing at Birch"))
        .await
        .unwrap();
    assert_eq!(ours.ticket(&birch.id).await.unwrap(), None);
    assert!(matches!(
        ours.set_closed(&birch.id, true).await,
        Err(ConnectorError::NotFound(_))
    ));
    assert!(matches!(
        ours.add_note(&birch.id, "x").await,
        Err(ConnectorError::NotFound(_))
    ));
    assert_eq!(ours.ticket("99999999").await.unwrap(), None);
    assert_eq!(ours.ticket("not-a-number").await.unwrap(), None);
    assert_ne!(psa.tickets(BIRCH, system).await[0].2, closed_status);
}

/// The ticket actions every PSA connector performs: `open_ticket` opens, notes or reopens the
/// entity's ticket, `close_ticket` closes it, each verified at the PSA and rolled back to what
/// the snapshot found.
async fn ticket_action_contract<C: TicketDesk + Connector>(
    psa: &Psa,
    system: PsaSystem,
    ours: &C,
    closed_status: u32,
) {
    assert_eq!(
        ours.actions(),
        [ActionType::OpenTicket, ActionType::CloseTicket]
    );
    let entity = tickets::reference(Uuid::from_u128(0xe1));
    let mut open = request(ActionType::OpenTicket, &entity, "open-1");
    open.comment = "FIN-LT07: no EDR sensor reports from it\n\nSteward action 1".to_owned();

    let before_open = ours.snapshot(&open).await.unwrap();
    assert_eq!(before_open.0["ticket"], serde_json::Value::Null);
    let execution = ours.execute(&open).await.unwrap();
    assert!(execution.changed);
    let (verdict, _) = settle(ours, &open, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    let vendor_side = psa.tickets(ACME, system).await;
    assert_eq!(vendor_side.len(), 1, "{vendor_side:?}");
    assert!(
        vendor_side[0]
            .1
            .starts_with(&format!("[{entity}] FIN-LT07: no EDR sensor")),
        "{vendor_side:?}"
    );
    // Asked again (a retry, or a second reason), the open ticket gets a note, not a twin.
    let again = ours.execute(&open).await.unwrap();
    assert!(!again.changed);
    assert_eq!(again.vendor_reference, execution.vendor_reference);
    let vendor_side = psa.tickets(ACME, system).await;
    assert_eq!(vendor_side.len(), 1);
    assert_eq!(vendor_side[0].3.len(), 1, "{vendor_side:?}");

    let mut close = request(ActionType::CloseTicket, &entity, "close-1");
    close.comment = "The sensor reports again".to_owned();
    let before_close = ours.snapshot(&close).await.unwrap();
    let closing = ours.execute(&close).await.unwrap();
    let (verdict, _) = settle(ours, &close, &closing).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(psa.tickets(ACME, system).await[0].2, closed_status);
    // Verifying an open against a closed ticket fails.
    let (verdict, _) = settle(ours, &open, &execution).await;
    assert!(matches!(verdict, Verification::Failed(_)), "{verdict:?}");

    // Rolling back the close reopens; rolling back the open closes what it opened.
    let (reopen, reopening) = ours.rollback(&close, &before_close).await.unwrap().unwrap();
    assert_eq!(reopen.action, ActionType::OpenTicket);
    let (verdict, _) = settle(ours, &reopen, &reopening).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_ne!(psa.tickets(ACME, system).await[0].2, closed_status);
    let (undo, undoing) = ours.rollback(&open, &before_open).await.unwrap().unwrap();
    assert_eq!(undo.action, ActionType::CloseTicket);
    let (verdict, _) = settle(ours, &undo, &undoing).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(psa.tickets(ACME, system).await[0].2, closed_status);
    // A close whose ticket was already closed has nothing to undo.
    let closed_already = ours.snapshot(&close).await.unwrap();
    assert_eq!(ours.rollback(&close, &closed_already).await.unwrap(), None);

    // No ticket to close, a target that is not a Steward reference, an action no PSA does.
    let nothing = request(
        ActionType::CloseTicket,
        &tickets::reference(Uuid::from_u128(0xe2)),
        "close-2",
    );
    assert!(matches!(
        ours.execute(&nothing).await,
        Err(ConnectorError::NotFound(_))
    ));
    let search = request(ActionType::OpenTicket, "Malware", "free-text");
    assert!(matches!(
        ours.snapshot(&search).await,
        Err(ConnectorError::Configuration(_))
    ));
    assert_eq!(
        ours.snapshot(&request(ActionType::IsolateDevice, &entity, "x"))
            .await
            .unwrap_err(),
        ConnectorError::Unsupported(ActionType::IsolateDevice)
    );
    assert_eq!(psa.tickets(ACME, system).await.len(), 1);
}

#[tokio::test]
async fn halopsa_ticket_actions_open_note_close_and_roll_back() {
    let psa = Psa::start("halopsa").await;
    let ours = psa.own_halo(&psa.acme);
    ticket_action_contract(&psa, PsaSystem::HaloPsa, &ours, halopsa::CLOSED_STATUS).await;
    support::assert_published(&psa.seen.lock().unwrap(), &halopsa::OPERATIONS, "HaloPSA");
}

#[tokio::test]
async fn connectwise_ticket_actions_open_note_close_and_roll_back() {
    let psa = Psa::start("connectwise/v4_6_release/apis/3.0").await;
    let ours = psa.own_connectwise(&psa.acme);
    ticket_action_contract(&psa, PsaSystem::ConnectWise, &ours, 384).await;
    support::assert_published(
        &psa.seen.lock().unwrap(),
        &connectwise::OPERATIONS,
        "ConnectWise Manage",
    );
}

#[tokio::test]
async fn halopsa_keeps_one_ticket_per_incident_in_the_customers_client() {
    let psa = Psa::start("halopsa").await;
    let ours = psa.own_halo(&psa.acme);
    let theirs = psa.own_halo(&psa.birch);
    ticket_contract(
        &psa,
        PsaSystem::HaloPsa,
        &ours,
        &theirs,
        halopsa::CLOSED_STATUS,
    )
    .await;
    support::assert_published(&psa.seen.lock().unwrap(), &halopsa::OPERATIONS, "HaloPSA");
    let seen = psa.seen.lock().unwrap().clone();
    let token = seen.iter().find(|(_, p, _)| p == "/auth/token").unwrap();
    assert_eq!(token.2, [("tenant".to_owned(), halopsa::TENANT.to_owned())]);
    for (method, path, query) in &seen {
        if method == "GET" && path == "/api/Tickets" {
            let client = psa.acme.halo_client_id.to_string();
            assert!(
                query.contains(&("client_id".to_owned(), client.clone()))
                    || query
                        .contains(&("client_id".to_owned(), psa.birch.halo_client_id.to_string())),
                "{query:?}"
            );
            assert!(query.contains(&("pageinate".to_owned(), "true".to_owned())));
        }
    }
}

#[tokio::test]
async fn halopsa_finds_its_ticket_on_a_later_page_of_the_search() {
    let psa = Psa::start("halopsa").await;
    let ours = psa.own_halo(&psa.acme).with_page_size(1);
    let wanted = draft(3, "Impossible travel for an admin");
    // A technician's follow-up mentions the reference too, and comes first in the search.
    let follow_up = TicketDraft {
        reference: "FOLLOW-UP".to_owned(),
        summary: format!("Call the customer about {}", wanted.reference),
        ..draft(4, "")
    };
    ours.open_ticket(&follow_up).await.unwrap();
    let opened = ours.open_ticket(&wanted).await.unwrap();
    psa.seen.lock().unwrap().clear();
    assert_eq!(ours.open_ticket(&wanted).await.unwrap().id, opened.id);
    let pages = support::query_values(&psa.seen.lock().unwrap(), "/api/Tickets", "page_no");
    assert_eq!(pages, ["1", "2"]);
    assert_eq!(psa.tickets(ACME, PsaSystem::HaloPsa).await.len(), 2);
}

#[tokio::test]
async fn halopsa_refusals_and_throttling_read_as_the_contract_says() {
    let psa = Psa::start("halopsa").await;
    let wrong = psa.halo(&psa.acme, "not-the-secret");
    assert!(matches!(
        wrong.test_connection().await,
        Err(ConnectorError::Authentication(_))
    ));
    // A client the application cannot see is a configuration error naming it.
    let mut settings_of_birch = psa.birch.clone();
    settings_of_birch.halo_client_id = 1;
    let stray = psa.halo(&settings_of_birch, &psa.birch.halo_application_secret);
    support::assert_configuration(&stray.test_connection().await, "client 1");
    // Halo's bare-string refusal is the message.
    match stray.open_ticket(&draft(5, "x")).await {
        Err(ConnectorError::Rejected { message, .. }) => {
            assert_eq!(message, "Client 1 not found.");
        }
        other => panic!("{other:?}"),
    }
    // Throttled calls wait out Retry-After and go through.
    let ours = psa.own_halo(&psa.acme);
    psa.sandbox.throttle_halopsa(ACME, 2);
    ours.open_ticket(&draft(6, "Throttled")).await.unwrap();
    assert_eq!(psa.tickets(ACME, PsaSystem::HaloPsa).await.len(), 1);
}

#[tokio::test]
async fn connectwise_keeps_one_ticket_per_incident_in_the_customers_company() {
    let psa = Psa::start("connectwise/v4_6_release/apis/3.0").await;
    let ours = psa.own_connectwise(&psa.acme).with_page_size(2);
    let theirs = psa.own_connectwise(&psa.birch);
    ticket_contract(&psa, PsaSystem::ConnectWise, &ours, &theirs, 384).await;
    support::assert_published(
        &psa.seen.lock().unwrap(),
        &connectwise::OPERATIONS,
        "ConnectWise Manage",
    );
    let seen = psa.seen.lock().unwrap().clone();
    // The board's five statuses were read in pages of two, once.
    let status_pages: Vec<String> = seen
        .iter()
        .filter(|(_, p, _)| p.ends_with("/statuses"))
        .filter_map(|(_, _, q)| q.iter().find(|(k, _)| k == "page").map(|(_, v)| v.clone()))
        .collect();
    assert_eq!(
        status_pages.iter().filter(|p| *p == "3").count(),
        1,
        "{status_pages:?}"
    );
    // Tickets are looked up by their reference within the customer's company.
    let lookup = seen
        .iter()
        .find(|(m, p, _)| m == "GET" && p == "/service/tickets")
        .unwrap();
    let conditions = &lookup.2.iter().find(|(k, _)| k == "conditions").unwrap().1;
    assert_eq!(
        *conditions,
        format!(
            "externalXRef=\"{}\" and company/id={}",
            tickets::reference(Uuid::from_u128(1)),
            psa.acme.cw_company_record_id
        )
    );
}

#[tokio::test]
async fn connectwise_refusals_and_throttling_read_as_the_contract_says() {
    let psa = Psa::start("connectwise/v4_6_release/apis/3.0").await;
    let wrong = psa.connectwise(&psa.acme, "wrong");
    support::assert_authentication(&wrong.test_connection().await, "Unauthorized");
    // Manage's field errors are part of the message.
    let long = draft(7, &"a very long title ".repeat(10));
    let ours = psa.own_connectwise(&psa.acme);
    let opened = ours.open_ticket(&long).await.unwrap();
    let vendor_side = psa.tickets(ACME, PsaSystem::ConnectWise).await;
    assert_eq!(vendor_side[0].0.to_string(), opened.id);
    assert_eq!(
        vendor_side[0].1.chars().count(),
        100,
        "cut to Manage's limit"
    );
    let mut other_board = psa.acme.clone();
    other_board.cw_company_record_id = 1;
    match psa
        .connectwise(&other_board, &psa.acme.cw_private_key)
        .open_ticket(&draft(8, "x"))
        .await
    {
        Err(ConnectorError::Rejected { code, message }) => {
            assert_eq!(code, "InvalidObject");
            assert!(message.contains("company field"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    psa.sandbox.throttle_connectwise(ACME, 2);
    assert!(ours.ticket(&opened.id).await.unwrap().is_some());
}
