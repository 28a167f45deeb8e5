//! Datto BCDR (backup): the machines the customer's Datto appliances (SIRIS, ALTO) protect,
//! each with its latest backups and newest good snapshot.
//!
//! Built to Datto's REST API v1 (see `docs/vendors/datto-bcdr.md`): `https://api.datto.com/v1`,
//! the partner portal's API keys as HTTP Basic (`{public key}:{secret key}`), lists paged by
//! `_page` and `_perPage` with `{"pagination": {"page", "perPage", "totalPages", "count"},
//! "items": […]}`, errors as `{"code", "message"}`. One key sees every appliance of the MSP's
//! partner account; a Steward integration names the customer's company as the portal does
//! (`clientCompanyName`) and reads only that company's appliances.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use steward_domain::observations::{
    BackupStatus, ObservedDevice, ObservedEvent, ObservedInventory, Vendor,
};
use url::Url;

use crate::{
    contract::{ConnectionReport, Connector, ConnectorError, read_only_connector},
    http::{Idempotency, VendorHttp},
    oauth,
};

/// Datto's API.
pub const API_BASE: &str = "https://api.datto.com/v1/";
/// Records per page (the API's default is 100).
const PAGE_SIZE: usize = 100;

/// A stored Datto BCDR integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DattoSettings {
    /// The API, `https://api.datto.com/v1/`.
    pub api_url: Url,
    /// The API's public key (the secret key is the sealed credential).
    pub public_key: String,
    /// The customer's company as the partner portal names it.
    pub client_company_name: String,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    pagination: Pagination,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    total_pages: u32,
}

/// An appliance (`GET /bcdr/device`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Appliance {
    serial_number: String,
    name: String,
    #[serde(default)]
    client_company_name: Option<String>,
    #[serde(default)]
    hidden: bool,
}

/// A protected machine of an appliance (`GET /bcdr/device/{serial}/asset/agent`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Agent {
    name: String,
    /// The agent's id on the appliance.
    volume: String,
    #[serde(default)]
    local_ip: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    fqdn: Option<String>,
    #[serde(default)]
    is_paused: bool,
    #[serde(default)]
    is_archived: bool,
    /// The newest snapshot, in seconds since the epoch.
    #[serde(default)]
    last_snapshot: Option<i64>,
    /// The latest backups, newest first.
    #[serde(default)]
    backups: Vec<Backup>,
}

#[derive(Debug, Deserialize)]
struct Backup {
    timestamp: i64,
    backup: BackupOutcome,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BackupOutcome {
    /// `success` or `failed`.
    status: String,
    #[serde(default)]
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<serde_json::Value>,
    #[serde(default)]
    message: String,
}

fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => (
            body.code
                .map(|c| c.as_str().map_or(c.to_string(), str::to_owned)),
            body.message,
        ),
        Err(_) => (None, text.chars().take(300).collect()),
    };
    ConnectorError::refusal(status, code, &message)
}

fn epoch(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0).filter(|_| seconds > 0)
}

/// The Datto BCDR connector for one customer's company.
#[derive(Debug)]
pub struct DattoConnector {
    http: VendorHttp,
    settings: DattoSettings,
    secret: SecretString,
    page_size: usize,
}

impl DattoConnector {
    #[must_use]
    pub fn new(http: VendorHttp, settings: &DattoSettings, secret: SecretString) -> Self {
        Self {
            http,
            settings: settings.clone(),
            secret,
            page_size: PAGE_SIZE,
        }
    }

    /// Reads lists in pages of `page_size`.
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, 1000);
        self
    }

    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<Option<T>, ConnectorError> {
        let request = self
            .http
            .client()
            .request(Method::GET, url)
            .basic_auth(&self.settings.public_key, Some(self.secret.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self.http.send(request, Idempotency::Idempotent).await?;
        oauth::optional_json(oauth::checked(response, error_from).await?).await
    }

    /// Every item of a list, all pages.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<Vec<T>, ConnectorError> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let mut url = oauth::join(&self.settings.api_url, path)?;
            {
                let mut pairs = url.query_pairs_mut();
                pairs
                    .append_pair("_page", &page.to_string())
                    .append_pair("_perPage", &self.page_size.to_string());
                for (name, value) in extra {
                    pairs.append_pair(name, value);
                }
            }
            let Some(batch) = self.get::<Page<T>>(url).await? else {
                return Ok(items);
            };
            items.extend(batch.items);
            if page >= batch.pagination.total_pages {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// The customer's appliances: the partner's, filtered to the integration's company.
    async fn appliances(&self) -> Result<Vec<Appliance>, ConnectorError> {
        let all: Vec<Appliance> = self
            .list("bcdr/device", &[("showHiddenDevices", "0")])
            .await?;
        let company = self.settings.client_company_name.trim();
        Ok(all
            .into_iter()
            .filter(|a| {
                !a.hidden
                    && a.client_company_name
                        .as_deref()
                        .is_some_and(|c| c.trim().eq_ignore_ascii_case(company))
            })
            .collect())
    }
}

fn device(appliance: &Appliance, agent: Agent) -> ObservedDevice {
    let latest = agent.backups.first();
    let last_result = latest.map(|b| {
        let status = match b.backup.status.as_str() {
            "success" => "Success",
            "failed" => "Failed",
            other => other,
        };
        match &b.backup.error_message {
            Some(message) if !message.is_empty() => format!("{status}: {message}"),
            _ => status.to_owned(),
        }
    });
    let hostname = agent
        .fqdn
        .as_deref()
        .and_then(|f| f.split('.').next())
        .filter(|h| !h.is_empty())
        .unwrap_or(&agent.name)
        .to_owned();
    ObservedDevice {
        external_id: format!("{}/{}", appliance.serial_number, agent.volume),
        hostname,
        os_platform: agent.os,
        health: Some(if agent.is_paused {
            "Backups paused".to_owned()
        } else {
            "Protected".to_owned()
        }),
        last_seen: None,
        last_ip: agent.local_ip,
        entra_device_id: None,
        tags: Vec::new(),
        vendor_value: None,
        serial_number: None,
        mac_addresses: Vec::new(),
        patches: None,
        backup: Some(BackupStatus {
            job: Some(format!("{} ({})", appliance.name, appliance.serial_number)),
            last_result,
            last_run: latest.and_then(|b| epoch(b.timestamp)),
            last_restore_point: agent.last_snapshot.and_then(epoch),
        }),
    }
}

impl Connector for DattoConnector {
    fn vendor(&self) -> Vendor {
        Vendor::DattoBcdr
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let appliances = self.appliances().await?;
        if appliances.is_empty() {
            return Err(ConnectorError::Configuration(format!(
                "the API key sees no appliance of a company named {:?}",
                self.settings.client_company_name
            )));
        }
        let names: Vec<String> = appliances
            .iter()
            .map(|a| format!("{} ({})", a.name, a.serial_number))
            .collect();
        let mut checks = vec![format!(
            "signed in with the API keys and found {} appliance(s) of {}: {}",
            appliances.len(),
            self.settings.client_company_name,
            names.join(", ")
        )];
        let mut agents = 0;
        for appliance in &appliances {
            let listed: Vec<Agent> = self
                .list(
                    &format!("bcdr/device/{}/asset/agent", appliance.serial_number),
                    &[],
                )
                .await?;
            agents += listed.len();
        }
        checks.push(format!("read {agents} protected machine(s)"));
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let mut devices = Vec::new();
        for appliance in self.appliances().await? {
            let agents: Vec<Agent> = self
                .list(
                    &format!("bcdr/device/{}/asset/agent", appliance.serial_number),
                    &[],
                )
                .await?;
            devices.extend(
                agents
                    .into_iter()
                    .filter(|a| !a.is_archived)
                    .map(|a| device(&appliance, a)),
            );
        }
        Ok(ObservedInventory {
            devices,
            identities: Vec::new(),
        })
    }

    /// The appliances' alerts repeat what the backups show; a failing backup shows in the
    /// inventory's backup state.
    async fn events(
        &self,
        _cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    read_only_connector!();
}
