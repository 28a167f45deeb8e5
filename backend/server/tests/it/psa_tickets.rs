//! Incidents and their tickets in the customer's PSA (HaloPSA, ConnectWise Manage), through the
//! HTTP API with a real worker: an incident opens a ticket once, its status changes are noted
//! there, a ticket closed or reopened by a technician in the PSA resolves or reopens the
//! incident, and resolving the incident in Steward closes the ticket — without echoing back.

use crate::support::{
    governed::{Loop, start_fresh},
    list,
};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use steward_domain::IntegrationId;
use steward_integrations::{
    connectwise::{ConnectWiseConnector, ConnectWiseSettings},
    halopsa::{HaloConnector, HaloSettings},
    http::{RetryPolicy, VendorHttp},
    registry::AnyConnector,
    tickets::{self, TicketDesk},
};
use steward_sandbox::{connectwise, halopsa};

#[derive(Debug, Clone, Copy)]
enum Psa {
    Halo,
    ConnectWise,
}

/// The PSA as the MSP's technician works it: the vendor's API with the customer's credentials.
async fn technician_at(l: &Loop, psa: Psa) -> AnyConnector {
    let credentials = l.credentials().await;
    let http = VendorHttp::new(RetryPolicy::default())
        .unwrap()
        .with_egress(crate::support::loopback_egress());
    match psa {
        Psa::Halo => AnyConnector::Halo(
            HaloConnector::new(
                http,
                &HaloSettings {
                    instance_url: l.app.url("/sandbox/halopsa/").parse().unwrap(),
                    tenant: Some(halopsa::TENANT.to_owned()),
                    client_id: credentials.halo_application_id,
                    customer_client_id: credentials.halo_client_id,
                    open_status_id: 1,
                    closed_status_id: halopsa::CLOSED_STATUS,
                },
                SecretString::from(credentials.halo_application_secret),
                std::sync::Arc::new(steward_domain::clock::SystemClock),
            )
            .unwrap(),
        ),
        Psa::ConnectWise => AnyConnector::ConnectWise(
            ConnectWiseConnector::new(
                http,
                &ConnectWiseSettings {
                    site_url: l.app.url("/sandbox/connectwise/").parse().unwrap(),
                    company_id: connectwise::COMPANY_ID.to_owned(),
                    public_key: credentials.cw_public_key,
                    client_id: credentials.cw_client_id,
                    customer_company_id: credentials.cw_company_record_id,
                    board_id: connectwise::BOARD_ID,
                },
                SecretString::from(credentials.cw_private_key),
                std::sync::Arc::new(steward_domain::clock::SystemClock),
            )
            .unwrap(),
        ),
    }
}

async fn incident(l: &Loop, id: &str) -> Value {
    let rest = format!("incidents/{id}");
    l.send(Method::GET, &rest, &l.technician, StatusCode::OK)
        .await
}

/// The incident once the loop has settled; it must be as `done` says.
async fn settled_incident(l: &Loop, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    l.settle().await;
    let now = incident(l, id).await;
    assert!(done(&now), "the incident never {what}: {now:#}");
    now
}

/// The vendor-side tickets of the tenant.
async fn vendor_tickets(l: &Loop) -> Vec<Value> {
    list(&l.sandbox_state().await, "tickets").to_vec()
}

/// Synchronizes `integration` now; it must read what it asks for.
async fn sync(l: &Loop, integration: &str) {
    let report = l.sync_now(integration).await;
    assert_eq!(report["ok"], true, "{report}");
}

async fn tickets_follow_incidents_both_ways(psa: Psa) {
    let l = start_fresh().await;
    let integration = match psa {
        Psa::Halo => l.connect_halopsa().await,
        Psa::ConnectWise => l.connect_connectwise().await,
    };
    let integration_id = integration["id"].as_str().unwrap().to_owned();
    let technician = technician_at(&l, psa).await;

    // The malware incident opens a ticket, and its containment is noted there.
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    let incident_id = l.incidents().await[0]["id"].as_str().unwrap().to_owned();
    let detail = settled_incident(&l, &incident_id, "had its ticket noted as contained", |i| {
        i["tickets"][0]["synced_status"] == "contained"
    })
    .await;
    let ticket = &detail["tickets"][0];
    assert_eq!(ticket["integration_id"], integration_id.as_str());
    assert_eq!(ticket["ticket_closed"], false);
    let ticket_id = ticket["ticket_id"].as_str().unwrap().to_owned();
    let reference = tickets::reference(incident_id.parse().unwrap());
    let at_vendor = vendor_tickets(&l).await;
    assert_eq!(at_vendor.len(), 1, "{at_vendor:#?}");
    assert_eq!(at_vendor[0]["id"].to_string(), ticket_id);
    assert!(
        at_vendor[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[{reference}]")),
        "{at_vendor:#?}"
    );
    assert!(
        list(&at_vendor[0], "notes").contains(&json!("Steward: the incident is now contained.")),
        "{at_vendor:#?}"
    );

    // A technician closes the ticket in the PSA: the next synchronization resolves the
    // incident, its verdict left for Steward's technician.
    technician.set_closed(&ticket_id, true).await.unwrap();
    sync(&l, &integration_id).await;
    let resolved = settled_incident(&l, &incident_id, "followed its closed ticket", |i| {
        i["status"] == "resolved"
    })
    .await;
    assert!(resolved["verdict"].is_null(), "{resolved:#}");
    assert!(resolved["resolved_at"].is_string());
    assert_eq!(resolved["tickets"][0]["ticket_closed"], true);
    assert_eq!(resolved["tickets"][0]["synced_status"], "resolved");

    // Reopened in the PSA, the incident reopens.
    technician.set_closed(&ticket_id, false).await.unwrap();
    sync(&l, &integration_id).await;
    settled_incident(&l, &incident_id, "followed its reopened ticket", |i| {
        i["status"] == "investigating" && i["tickets"][0]["synced_status"] == "investigating"
    })
    .await;

    // Resolved in Steward with a verdict, the ticket is closed with a note saying so.
    l.resolve_incident(&incident_id).await;
    settled_incident(&l, &incident_id, "had its ticket closed", |i| {
        i["tickets"][0]["ticket_closed"] == true && i["tickets"][0]["synced_status"] == "resolved"
    })
    .await;
    let state = technician.ticket(&ticket_id).await.unwrap().unwrap();
    assert!(state.closed, "{state:?}");
    let at_vendor = vendor_tickets(&l).await;
    assert!(
        at_vendor[0]["notes"].as_array().unwrap().contains(&json!(
            "Steward: the incident was resolved (true positive)."
        )),
        "{at_vendor:#?}"
    );

    // Steward's own close does not come back as a change: another synchronization leaves the
    // incident resolved with its verdict, and there is still one ticket.
    steward_workers::sync_integration(
        &l.shared,
        l.tenant.id,
        integration_id.parse::<IntegrationId>().unwrap(),
    )
    .await
    .unwrap();
    let after = incident(&l, &incident_id).await;
    assert_eq!(after["status"], "resolved");
    assert_eq!(after["verdict"], "true_positive");
    assert_eq!(vendor_tickets(&l).await.len(), 1);
    l.assert_audited(&["incident.ticket_opened"], 1).await;
    l.assert_audited(&["incident.updated_from_ticket"], 2).await;
    l.stop().await;
}

#[tokio::test]
async fn halopsa_tickets_follow_incidents_both_ways() {
    tickets_follow_incidents_both_ways(Psa::Halo).await;
}

#[tokio::test]
async fn connectwise_tickets_follow_incidents_both_ways() {
    tickets_follow_incidents_both_ways(Psa::ConnectWise).await;
}
