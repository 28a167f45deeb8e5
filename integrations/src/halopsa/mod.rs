//! HaloPSA (PSA): a ticket for each of the customer's incidents, kept in step with it.
//!
//! Built to the HaloPSA API (see `docs/vendors/halopsa.md`): an API application's client
//! credentials at `{instance}/auth/token` (with `?tenant=` for hosted instances) give a bearer
//! token for `{instance}/api/…`. An MSP runs one Halo for all its customers, each a *client*; a
//! Steward integration names the customer's client, opens its tickets there and reads only
//! tickets of that client (each answer's `client_id` is checked). Halo answers a refusal with
//! the message as a bare JSON string; lists are paged with `pageinate=true`, `page_size` and
//! `page_no` and carry `record_count`.

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;
use std::sync::Arc;
use steward_domain::clock::Clock;
use steward_domain::observations::{ObservedEvent, ObservedInventory, Vendor};
use tokio::sync::OnceCell;
use url::Url;

use crate::{
    contract::{ConnectionReport, Connector, ConnectorError},
    http::{Idempotency, VendorHttp},
    oauth::{self, ClientCredentials, VendorRequest},
    tickets::{self, TicketDesk, TicketDraft, TicketState},
};

/// What Steward asks for: tickets, and the customer's client record.
const SCOPES: &str = "read:tickets edit:tickets read:customers";
/// Tickets per page when searching.
const PAGE_SIZE: usize = 50;
/// Halo allows long summaries; Steward keeps them readable in a ticket list.
const SUMMARY_LIMIT: usize = 150;

/// A stored HaloPSA integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaloSettings {
    /// The instance, `https://{name}.halopsa.com` (the API is below `/api`, tokens below `/auth`).
    pub instance_url: Url,
    /// The hosted instance's tenant name, sent to the token endpoint; `None` on premises.
    pub tenant: Option<String>,
    /// The API application's client id.
    pub client_id: String,
    /// The customer's client id in Halo.
    pub customer_client_id: u32,
    /// The status a ticket is opened with and reopened to (Halo's *New* is 1).
    pub open_status_id: u32,
    /// The status Steward closes tickets with (Halo's *Closed* is 9).
    pub closed_status_id: u32,
}

#[derive(Debug, Deserialize)]
struct Client {
    id: u32,
    name: String,
    #[serde(default)]
    inactive: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Status {
    id: u32,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Ticket {
    id: u64,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    client_id: Option<u32>,
    status_id: u32,
}

#[derive(Debug, Deserialize)]
struct TicketPage {
    #[serde(default)]
    record_count: usize,
    #[serde(default)]
    tickets: Vec<Ticket>,
}

/// The HaloPSA connector for one customer's client.
#[derive(Debug)]
pub struct HaloConnector {
    clock: Arc<dyn Clock>,
    http: VendorHttp,
    api: Url,
    settings: HaloSettings,
    credentials: ClientCredentials,
    statuses: OnceCell<Vec<Status>>,
    page_size: usize,
}

/// Halo's refusal: the message as a JSON string, or plain text.
fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let message =
        serde_json::from_str::<String>(text).unwrap_or_else(|_| text.chars().take(300).collect());
    let message = if message.is_empty() {
        "no message".to_owned()
    } else {
        message
    };
    ConnectorError::refusal(status, None, &message)
}

impl HaloConnector {
    /// The connector for `settings`, signing in with the application's `secret`.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the instance URL cannot be used.
    pub fn new(
        http: VendorHttp,
        settings: &HaloSettings,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let mut token_url = oauth::join(&settings.instance_url, "auth/token")?;
        if let Some(tenant) = &settings.tenant {
            token_url.query_pairs_mut().append_pair("tenant", tenant);
        }
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", SCOPES.to_owned()),
        ];
        Ok(Self {
            clock,
            http,
            api: oauth::join(&settings.instance_url, "api/")?,
            settings: settings.clone(),
            credentials: ClientCredentials::at(token_url, &settings.client_id, secret, form),
            statuses: OnceCell::new(),
            page_size: PAGE_SIZE,
        })
    }

    /// Searches tickets in pages of `page_size` (at most 100).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, 100);
        self
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>, ConnectorError> {
        let idempotency = Idempotency::of(&method);
        let response = self
            .credentials
            .call(
                &self.http,
                VendorRequest {
                    method,
                    url,
                    headers: &[("accept", "application/json")],
                    body,
                    idempotency,
                },
                error_from,
            )
            .await?;
        oauth::optional_json(response).await
    }

    async fn client(&self) -> Result<Client, ConnectorError> {
        let url = oauth::join(
            &self.api,
            &format!("Client/{}", self.settings.customer_client_id),
        )?;
        self.call(Method::GET, url, None).await?.ok_or_else(|| {
            ConnectorError::Configuration(format!(
                "client {} does not exist in this HaloPSA, or the application cannot see it",
                self.settings.customer_client_id
            ))
        })
    }

    async fn statuses(&self) -> Result<&Vec<Status>, ConnectorError> {
        self.statuses
            .get_or_try_init(|| async {
                let url = oauth::join(&self.api, "Status")?;
                Ok(self
                    .call::<Vec<Status>>(Method::GET, url, None)
                    .await?
                    .unwrap_or_default())
            })
            .await
    }

    async fn state_of(&self, ticket: &Ticket) -> Result<TicketState, ConnectorError> {
        let status = self
            .statuses()
            .await?
            .iter()
            .find(|s| s.id == ticket.status_id)
            .map_or_else(
                || format!("status {}", ticket.status_id),
                |s| s.name.clone(),
            );
        Ok(TicketState {
            id: ticket.id.to_string(),
            status,
            closed: ticket.status_id == self.settings.closed_status_id,
        })
    }

    fn ours(&self, ticket: &Ticket) -> bool {
        ticket.client_id == Some(self.settings.customer_client_id)
    }

    /// The customer's ticket whose summary carries `reference`, searching every page.
    async fn find(&self, reference: &str) -> Result<Option<Ticket>, ConnectorError> {
        let mut page_no = 1;
        loop {
            let mut url = oauth::join(&self.api, "Tickets")?;
            url.query_pairs_mut()
                .append_pair("client_id", &self.settings.customer_client_id.to_string())
                .append_pair("search", reference)
                .append_pair("pageinate", "true")
                .append_pair("page_size", &self.page_size.to_string())
                .append_pair("page_no", &page_no.to_string());
            let page: TicketPage = self.call(Method::GET, url, None).await?.ok_or_else(|| {
                ConnectorError::Protocol("the ticket list answered 404".to_owned())
            })?;
            let received = page.tickets.len();
            if let Some(found) = page
                .tickets
                .into_iter()
                .find(|t| self.ours(t) && t.summary.contains(&format!("[{reference}]")))
            {
                return Ok(Some(found));
            }
            if received == 0 || page_no * self.page_size >= page.record_count {
                return Ok(None);
            }
            page_no += 1;
        }
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, ConnectorError> {
        let Ok(number) = id.parse::<u64>() else {
            return Ok(None);
        };
        let url = oauth::join(&self.api, &format!("Tickets/{number}"))?;
        Ok(self
            .call::<Ticket>(Method::GET, url, None)
            .await?
            .filter(|t| self.ours(t)))
    }

    /// Writes one ticket with `POST /api/Tickets` (Halo's create-or-update).
    async fn save(&self, ticket: serde_json::Value) -> Result<Ticket, ConnectorError> {
        let url = oauth::join(&self.api, "Tickets")?;
        self.call(Method::POST, url, Some(&json!([ticket])))
            .await?
            .ok_or_else(|| ConnectorError::NotFound("the ticket".to_owned()))
    }
}

/// Halo's priorities: 1 critical … 4 low.
fn priority(severity_id: u8) -> u32 {
    match severity_id {
        5.. => 1,
        4 => 2,
        3 => 3,
        _ => 4,
    }
}

impl TicketDesk for HaloConnector {
    async fn open_ticket(&self, draft: &TicketDraft) -> Result<TicketState, ConnectorError> {
        if let Some(existing) = self.find(&draft.reference).await? {
            return self.state_of(&existing).await;
        }
        let created = self
            .save(json!({
                "summary": tickets::summary(&draft.reference, &draft.summary, SUMMARY_LIMIT),
                "details": draft.description,
                "client_id": self.settings.customer_client_id,
                "status_id": self.settings.open_status_id,
                "priority_id": priority(draft.severity_id),
            }))
            .await?;
        self.state_of(&created).await
    }

    async fn find_ticket(&self, reference: &str) -> Result<Option<TicketState>, ConnectorError> {
        match self.find(reference).await? {
            Some(ticket) => self.state_of(&ticket).await.map(Some),
            None => Ok(None),
        }
    }

    async fn ticket(&self, id: &str) -> Result<Option<TicketState>, ConnectorError> {
        match self.get_ticket(id).await? {
            Some(ticket) => self.state_of(&ticket).await.map(Some),
            None => Ok(None),
        }
    }

    async fn add_note(&self, id: &str, text: &str) -> Result<(), ConnectorError> {
        let ticket = self
            .get_ticket(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("ticket {id}")))?;
        let url = oauth::join(&self.api, "Actions")?;
        self.call::<serde_json::Value>(
            Method::POST,
            url,
            Some(&json!([{
                "ticket_id": ticket.id,
                "note": text,
                "outcome": "Private Note",
                "hiddenfromuser": true,
            }])),
        )
        .await?;
        Ok(())
    }

    async fn set_closed(&self, id: &str, closed: bool) -> Result<TicketState, ConnectorError> {
        let ticket = self
            .get_ticket(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("ticket {id}")))?;
        let status = if closed {
            self.settings.closed_status_id
        } else {
            self.settings.open_status_id
        };
        let saved = self
            .save(json!({"id": ticket.id, "status_id": status}))
            .await?;
        self.state_of(&saved).await
    }
}

impl Connector for HaloConnector {
    fn vendor(&self) -> Vendor {
        Vendor::HaloPsa
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let client = self.client().await?;
        let mut checks = vec![format!(
            "signed in with the API application and found client {} ({}{})",
            client.id,
            client.name,
            if client.inactive { ", inactive" } else { "" }
        )];
        let statuses = self.statuses().await?;
        for (what, id) in [
            ("open", self.settings.open_status_id),
            ("closed", self.settings.closed_status_id),
        ] {
            let status = statuses.iter().find(|s| s.id == id).ok_or_else(|| {
                ConnectorError::Configuration(format!(
                    "the {what} status {id} does not exist in this HaloPSA"
                ))
            })?;
            checks.push(format!(
                "tickets are {what} with status {id} ({})",
                status.name
            ));
        }
        Ok(ConnectionReport { checks })
    }

    /// A PSA reports no devices or identities to Steward (its tickets follow incidents); the
    /// customer's client is read so that a synchronization still proves the credentials.
    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        self.client().await?;
        Ok(ObservedInventory::default())
    }

    async fn events(
        &self,
        _cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    crate::ticket_actions::ticket_connector!();
}
