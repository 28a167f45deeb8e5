//! ConnectWise Manage (ConnectWise PSA): a service ticket for each of the customer's incidents,
//! kept in step with it.
//!
//! Built to the Manage REST API 3.0 (see `docs/vendors/connectwise-manage.md`):
//! `https://{site}/v4_6_release/apis/3.0/…`, an API member's keys as HTTP Basic
//! `{companyId}+{publicKey}:{privateKey}` and the integrator's `clientId` header on every
//! request. An MSP runs one Manage for all its customers, each a *company*; a Steward
//! integration names the customer's company and the service board its tickets go to, finds its
//! ticket for an incident by `externalXRef` (so a retried job never opens a second), and reads
//! only tickets of that company. Lists are paged by `page` and `pageSize`; errors are
//! `{"code", "message", "errors": [{"code", "message", "field"}]}`.

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
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
    oauth,
    tickets::{self, TicketDesk, TicketDraft, TicketState},
};

/// Records per page (Manage allows up to 1000).
const PAGE_SIZE: usize = 100;
/// Manage refuses longer ticket summaries.
const SUMMARY_LIMIT: usize = 100;
/// The API version every request asks for.
const ACCEPT: &str = "application/vnd.connectwise.com+json; version=2022.1";

/// A stored ConnectWise Manage integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectWiseSettings {
    /// The site, `https://api-na.myconnectwise.net` (the API is below
    /// `/v4_6_release/apis/3.0/`).
    pub site_url: Url,
    /// The MSP's company id, the first part of the API member's login.
    pub company_id: String,
    /// The API member's public key (the private key is the sealed credential).
    pub public_key: String,
    /// The integrator's `clientId` from the ConnectWise developer network.
    pub client_id: String,
    /// The customer's company record id.
    pub customer_company_id: u32,
    /// The service board Steward's tickets go to.
    pub board_id: u32,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Company {
    id: u32,
    name: String,
    #[serde(default)]
    deleted_flag: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BoardStatus {
    id: u32,
    name: String,
    #[serde(default)]
    closed_status: bool,
    #[serde(default)]
    default_flag: bool,
    #[serde(default)]
    inactive: bool,
}

#[derive(Debug, Deserialize)]
struct Reference {
    id: u32,
}

#[derive(Debug, Deserialize)]
struct StatusReference {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ticket {
    id: u64,
    #[serde(default)]
    company: Option<Reference>,
    #[serde(default)]
    status: Option<StatusReference>,
    #[serde(default)]
    closed_flag: bool,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Option<Vec<FieldError>>,
}

#[derive(Debug, Deserialize)]
struct FieldError {
    #[serde(default)]
    message: String,
}

fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => {
            let mut message = body.message;
            for field in body.errors.unwrap_or_default() {
                message.push_str("; ");
                message.push_str(&field.message);
            }
            (body.code, message)
        }
        Err(_) => (None, text.chars().take(300).collect()),
    };
    ConnectorError::refusal(status, code, &message)
}

/// The ConnectWise Manage connector for one customer's company.
#[derive(Debug)]
pub struct ConnectWiseConnector {
    clock: Arc<dyn Clock>,
    http: VendorHttp,
    api: Url,
    settings: ConnectWiseSettings,
    private_key: SecretString,
    statuses: OnceCell<Vec<BoardStatus>>,
    page_size: usize,
}

impl ConnectWiseConnector {
    /// The connector for `settings`, signing with the API member's `private_key`.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the site URL cannot be used.
    pub fn new(
        http: VendorHttp,
        settings: &ConnectWiseSettings,
        private_key: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            clock,
            http,
            api: oauth::join(&settings.site_url, "v4_6_release/apis/3.0/")?,
            settings: settings.clone(),
            private_key,
            statuses: OnceCell::new(),
            page_size: PAGE_SIZE,
        })
    }

    /// Reads lists in pages of `page_size` (at most 1000).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, 1000);
        self
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Option<T>, ConnectorError> {
        let idempotency = Idempotency::of(&method);
        let mut builder = self
            .http
            .client()
            .request(method, url)
            .basic_auth(
                format!("{}+{}", self.settings.company_id, self.settings.public_key),
                Some(self.private_key.expose_secret()),
            )
            .header("clientId", &self.settings.client_id)
            .header(reqwest::header::ACCEPT, ACCEPT);
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let request = builder
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self.http.send(request, idempotency).await?;
        oauth::optional_json(oauth::checked(response, error_from).await?).await
    }

    fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        oauth::join(&self.api, path)
    }

    /// Every record of a list, all pages; `conditions` filters where given.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        conditions: Option<&str>,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut items = Vec::new();
        for page in 1.. {
            let mut url = self.url(path)?;
            {
                let mut pairs = url.query_pairs_mut();
                if let Some(conditions) = conditions {
                    pairs.append_pair("conditions", conditions);
                }
                pairs
                    .append_pair("page", &page.to_string())
                    .append_pair("pageSize", &self.page_size.to_string());
            }
            let batch: Vec<T> = self.call(Method::GET, url, None).await?.unwrap_or_default();
            let received = batch.len();
            items.extend(batch);
            if received < self.page_size {
                break;
            }
        }
        Ok(items)
    }

    async fn company(&self) -> Result<Company, ConnectorError> {
        let url = self.url(&format!(
            "company/companies/{}",
            self.settings.customer_company_id
        ))?;
        self.call(Method::GET, url, None).await?.ok_or_else(|| {
            ConnectorError::Configuration(format!(
                "company {} does not exist in this ConnectWise Manage, or the API member cannot see it",
                self.settings.customer_company_id
            ))
        })
    }

    async fn statuses(&self) -> Result<&Vec<BoardStatus>, ConnectorError> {
        self.statuses
            .get_or_try_init(|| async {
                let statuses: Vec<BoardStatus> = self
                    .list(
                        &format!("service/boards/{}/statuses", self.settings.board_id),
                        None,
                    )
                    .await?;
                Ok(statuses.into_iter().filter(|s| !s.inactive).collect())
            })
            .await
    }

    /// The board's status for closing (its first closed status) or for (re)opening (its
    /// default status, else its first open one).
    async fn status_for(&self, closed: bool) -> Result<u32, ConnectorError> {
        let statuses = self.statuses().await?;
        let found = if closed {
            statuses.iter().find(|s| s.closed_status)
        } else {
            statuses
                .iter()
                .find(|s| s.default_flag && !s.closed_status)
                .or_else(|| statuses.iter().find(|s| !s.closed_status))
        };
        found.map(|s| s.id).ok_or_else(|| {
            ConnectorError::Configuration(format!(
                "service board {} has no {} status",
                self.settings.board_id,
                if closed { "closed" } else { "open" }
            ))
        })
    }

    fn ours(&self, ticket: &Ticket) -> bool {
        ticket
            .company
            .as_ref()
            .is_some_and(|c| c.id == self.settings.customer_company_id)
    }

    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, ConnectorError> {
        let Ok(number) = id.parse::<u64>() else {
            return Ok(None);
        };
        let url = self.url(&format!("service/tickets/{number}"))?;
        Ok(self
            .call::<Ticket>(Method::GET, url, None)
            .await?
            .filter(|t| self.ours(t)))
    }

    fn state_of(ticket: &Ticket) -> TicketState {
        TicketState {
            id: ticket.id.to_string(),
            status: ticket
                .status
                .as_ref()
                .map_or_else(String::new, |s| s.name.clone()),
            closed: ticket.closed_flag,
        }
    }
}

/// Manage's severities.
fn severity(severity_id: u8) -> &'static str {
    match severity_id {
        4.. => "High",
        3 => "Medium",
        _ => "Low",
    }
}

impl TicketDesk for ConnectWiseConnector {
    async fn find_ticket(&self, reference: &str) -> Result<Option<TicketState>, ConnectorError> {
        // Manage's conditions quote strings with double quotes; a reference never holds one.
        let conditions = format!(
            "externalXRef=\"{}\" and company/id={}",
            reference.replace('"', ""),
            self.settings.customer_company_id
        );
        let existing: Vec<Ticket> = self.list("service/tickets", Some(&conditions)).await?;
        Ok(existing.iter().find(|t| self.ours(t)).map(Self::state_of))
    }

    async fn open_ticket(&self, draft: &TicketDraft) -> Result<TicketState, ConnectorError> {
        if let Some(existing) = self.find_ticket(&draft.reference).await? {
            return Ok(existing);
        }
        let status = self.status_for(false).await?;
        let url = self.url("service/tickets")?;
        let created: Ticket = self
            .call(
                Method::POST,
                url,
                Some(&json!({
                    "summary": tickets::summary(&draft.reference, &draft.summary, SUMMARY_LIMIT),
                    "recordType": "ServiceTicket",
                    "board": {"id": self.settings.board_id},
                    "company": {"id": self.settings.customer_company_id},
                    "status": {"id": status},
                    "severity": severity(draft.severity_id),
                    "initialDescription": draft.description,
                    "externalXRef": draft.reference,
                })),
            )
            .await?
            .ok_or_else(|| ConnectorError::Protocol("creating a ticket answered 404".to_owned()))?;
        Ok(Self::state_of(&created))
    }

    async fn ticket(&self, id: &str) -> Result<Option<TicketState>, ConnectorError> {
        Ok(self.get_ticket(id).await?.as_ref().map(Self::state_of))
    }

    async fn add_note(&self, id: &str, text: &str) -> Result<(), ConnectorError> {
        let ticket = self
            .get_ticket(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("ticket {id}")))?;
        let url = self.url(&format!("service/tickets/{}/notes", ticket.id))?;
        self.call::<serde_json::Value>(
            Method::POST,
            url,
            Some(&json!({
                "text": text,
                "internalAnalysisFlag": true,
                "detailDescriptionFlag": false,
                "resolutionFlag": false,
            })),
        )
        .await?;
        Ok(())
    }

    async fn set_closed(&self, id: &str, closed: bool) -> Result<TicketState, ConnectorError> {
        let ticket = self
            .get_ticket(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("ticket {id}")))?;
        let status = self.status_for(closed).await?;
        let url = self.url(&format!("service/tickets/{}", ticket.id))?;
        let patched: Ticket = self
            .call(
                Method::PATCH,
                url,
                Some(&json!([{"op": "replace", "path": "status/id", "value": status}])),
            )
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("ticket {id}")))?;
        Ok(Self::state_of(&patched))
    }
}

impl Connector for ConnectWiseConnector {
    fn vendor(&self) -> Vendor {
        Vendor::ConnectWiseManage
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let company = self.company().await?;
        let mut checks = vec![format!(
            "signed in as API member {}+{} and found company {} ({}{})",
            self.settings.company_id,
            self.settings.public_key,
            company.id,
            company.name,
            if company.deleted_flag {
                ", deleted"
            } else {
                ""
            }
        )];
        let open = self.status_for(false).await?;
        let closed = self.status_for(true).await?;
        let name = |id: u32| async move {
            self.statuses()
                .await
                .ok()
                .and_then(|all| all.iter().find(|s| s.id == id).map(|s| s.name.clone()))
                .unwrap_or_default()
        };
        checks.push(format!(
            "service board {}: tickets open as {} and close as {}",
            self.settings.board_id,
            name(open).await,
            name(closed).await
        ));
        Ok(ConnectionReport { checks })
    }

    /// A PSA reports no devices or identities to Steward (its tickets follow incidents); the
    /// customer's company is read so that a synchronization still proves the credentials.
    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        self.company().await?;
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
