//! Tactical RMM (RMM): the customer's agents with their status, last contact, serial number and
//! Windows Update state; script runs from the server's script library (see [`scripts`]).
//!
//! Built to the Tactical RMM REST API (see `docs/vendors/tactical-rmm.md`): every request carries
//! the API key in `X-API-KEY`; routes end in `/`. An MSP's Tactical RMM server holds all its
//! customers, each a *client*; a Steward integration names the customer's client and reads only
//! its agents (`GET /agents/?client={id}`, and each agent's `client_name` is checked). Lists are
//! not paged. Errors are Django REST framework's `{"detail": "…"}` or a bare JSON string.

mod scripts;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use steward_domain::{
    clock::Clock,
    observations::{ObservedDevice, ObservedEvent, ObservedInventory, PatchStatus, Vendor},
};
use url::Url;

use crate::{
    contract::{ConnectionReport, Connector, ConnectorError},
    http::{Idempotency, VendorHttp},
    oauth,
};

/// A stored Tactical RMM integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TacticalSettings {
    /// The API's base URL (`https://api.example.com`, the `api.` host of the MSP's server).
    pub api_url: Url,
    /// The customer's client id (primary key) on the server.
    pub client_id: u32,
}

/// An agent of `GET /agents/`, as much as Steward reads.
#[derive(Debug, Clone, Deserialize)]
struct Agent {
    agent_id: String,
    hostname: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    monitoring_type: Option<String>,
    /// `online`, `offline` or `overdue`.
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    operating_system: Option<String>,
    /// Comma-separated.
    #[serde(default)]
    local_ips: Option<String>,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    plat: Option<String>,
}

/// A Windows update of `GET /winupdate/{agent_id}/`.
#[derive(Debug, Clone, Deserialize)]
struct WinUpdate {
    #[serde(default)]
    installed: bool,
    /// `inherit`, `approve`, `ignore` or `nothing`.
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    /// `n/a`, `success`, `failed`, …
    #[serde(default)]
    result: Option<String>,
    /// `"%m %d %Y %H:%M"`, the server's time.
    #[serde(default)]
    date_installed: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Client {
    id: u32,
    name: String,
}

/// The Tactical RMM connector for one customer (client) of an MSP's server.
#[derive(Debug)]
pub struct TacticalConnector {
    http: VendorHttp,
    base: Url,
    key: SecretString,
    client_id: u32,
    clock: Arc<dyn Clock>,
}

impl TacticalConnector {
    /// A connector for one client of a Tactical RMM server.
    #[must_use]
    pub fn new(
        http: VendorHttp,
        settings: &TacticalSettings,
        key: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            base: settings.api_url.clone(),
            key,
            client_id: settings.client_id,
            clock,
        }
    }

    /// Sends `method path` with the API key (and `body` as JSON); a success or a 404 is
    /// returned, any other answer is the vendor's refusal.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<reqwest::Response, ConnectorError> {
        let url = oauth::join(&self.base, path)?;
        let mut request = self
            .http
            .client()
            .request(method, url)
            .header("X-API-KEY", self.key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let request = request
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self.http.send(request, idempotency).await?;
        oauth::checked(response, error_from).await
    }

    /// `GET` with the API key; 404 is `None`.
    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ConnectorError> {
        let response = self
            .send(Method::GET, path, None, Idempotency::Idempotent)
            .await?;
        oauth::optional_json(response).await
    }

    async fn client(&self) -> Result<Client, ConnectorError> {
        self.get(&format!("clients/{}/", self.client_id))
            .await?
            .ok_or_else(|| {
                ConnectorError::Configuration(format!(
                    "client {} does not exist on this Tactical RMM server, or the API key's user cannot see it",
                    self.client_id
                ))
            })
    }

    async fn agents(&self) -> Result<Vec<Agent>, ConnectorError> {
        let client = self.client().await?;
        let agents: Vec<Agent> = self
            .get(&format!("agents/?client={}", self.client_id))
            .await?
            .unwrap_or_default();
        // The filter is the server's; an agent of another client is never kept.
        Ok(agents
            .into_iter()
            .filter(|a| {
                a.client_name
                    .as_deref()
                    .is_none_or(|name| name == client.name)
            })
            .collect())
    }

    async fn patches(&self, agent: &Agent) -> Result<Option<PatchStatus>, ConnectorError> {
        // Windows Update is Windows agents' only.
        if agent.plat.as_deref().is_some_and(|p| p != "windows") {
            return Ok(None);
        }
        let updates: Vec<WinUpdate> = self
            .get(&format!("winupdate/{}/", agent.agent_id))
            .await?
            .unwrap_or_default();
        let mut state = PatchStatus::default();
        for update in &updates {
            let ignored = update.action.as_deref() == Some("ignore");
            if !update.installed && !ignored {
                state.pending += 1;
                if matches!(update.severity.as_deref(), Some("Critical" | "Important")) {
                    state.pending_critical += 1;
                }
            }
            if update.result.as_deref() == Some("failed") {
                state.failed_installs += 1;
            }
            if update.installed
                && let Some(at) = update
                    .date_installed
                    .as_deref()
                    .and_then(|d| NaiveDateTime::parse_from_str(d, "%m %d %Y %H:%M").ok())
            {
                let at = at.and_utc();
                state.last_installed_at = Some(state.last_installed_at.map_or(at, |l| l.max(at)));
            }
        }
        Ok(Some(state))
    }
}

/// Maps an error answer to the contract's error: DRF's `{"detail"}` or a bare JSON string.
fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    #[derive(Deserialize)]
    struct Detail {
        detail: String,
    }
    let message = serde_json::from_str::<Detail>(text)
        .map(|d| d.detail)
        .or_else(|_| serde_json::from_str::<String>(text))
        .unwrap_or_else(|_| text.chars().take(300).collect());
    ConnectorError::refusal(status, None, &message)
}

fn device_of(agent: Agent, patches: Option<PatchStatus>) -> ObservedDevice {
    let status = agent.status.as_deref().unwrap_or("offline");
    ObservedDevice {
        external_id: agent.agent_id,
        hostname: agent.hostname,
        os_platform: agent.operating_system,
        health: Some(format!("Agent {status}")),
        last_seen: agent.last_seen,
        last_ip: agent
            .local_ips
            .as_deref()
            .and_then(|ips| ips.split(',').map(str::trim).find(|ip| !ip.is_empty()))
            .map(str::to_owned),
        entra_device_id: None,
        tags: if agent.monitoring_type.as_deref() == Some("server") {
            vec!["Server".to_owned()]
        } else {
            Vec::new()
        },
        vendor_value: None,
        serial_number: agent.serial_number.filter(|s| !s.trim().is_empty()),
        mac_addresses: Vec::new(),
        patches,
        backup: None,
    }
}

impl Connector for TacticalConnector {
    fn vendor(&self) -> Vendor {
        Vendor::TacticalRmm
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let client = self.client().await?;
        let mut checks = vec![format!(
            "signed in with the API key and found client {} ({})",
            client.id, client.name
        )];
        let agents = self.agents().await?;
        checks.push(format!("read the client's {} agents", agents.len()));
        if let Some(agent) = agents.first() {
            self.patches(agent).await?;
            checks.push("read Windows updates".to_owned());
        }
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let mut devices = Vec::new();
        for agent in self.agents().await? {
            let patches = self.patches(&agent).await?;
            devices.push(device_of(agent, patches));
        }
        Ok(ObservedInventory {
            devices,
            identities: Vec::new(),
        })
    }

    /// Tactical RMM's alerts are failing checks (disk, services); the security events come
    /// from EDR and identity providers.
    async fn events(
        &self,
        _cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    crate::contract::script_connector!();
}
