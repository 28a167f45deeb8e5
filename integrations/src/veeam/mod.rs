//! Veeam Service Provider Console (backup): the customer's protected computers, the backup job of
//! each and its last result, and the newest restore point.
//!
//! Built to the VSPC REST API v3 (see `docs/vendors/veeam-spc.md`): `https://{server}:1280/api/v3`,
//! an API key as a bearer token, answers in `{"meta": {"pagingInfo": {"total", "count",
//! "offset"}}, "data": …, "errors": …}` paged by `limit` (at most 500) and `offset`, errors as
//! `{"errors": [{"message", "type", "code"}]}` (every server error as `520`). An MSP runs one
//! console for all its customers, each a *company*; a Steward integration names the customer's
//! company, every list is filtered to it (`filter=[{"property": "organizationUid", …}]`) and
//! each record's `organizationUid` is checked again, so one customer's workloads never land in
//! another's tenant. A `429` carries `retryAfter` in its body, not in a header: the client
//! backs off exponentially.

mod jobs;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{BackupStatus, ObservedDevice, ObservedEvent, ObservedInventory, Vendor},
};
use url::Url;
use uuid::Uuid;

use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, Execution, Snapshot,
        Verification, ensure_supported,
    },
    http::{Idempotency, VendorHttp},
    oauth,
};

/// Records per page (the API allows 1–500).
const PAGE_SIZE: usize = 500;

/// A stored Veeam Service Provider Console integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VeeamSettings {
    /// The console's API, `https://{server}:1280/api/v3/`.
    pub api_url: Url,
    /// The customer's company (`instanceUid`) in the console.
    pub company_uid: Uuid,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default)]
    meta: Option<Meta>,
    data: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    paging_info: Option<PagingInfo>,
}

#[derive(Debug, Deserialize)]
struct PagingInfo {
    total: usize,
}

#[derive(Debug, Deserialize)]
struct One<T> {
    data: T,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Company {
    instance_uid: Uuid,
    name: String,
    #[serde(default)]
    status: Option<String>,
}

/// A backup agent (`GET /infrastructure/backupAgents`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Agent {
    instance_uid: Uuid,
    #[serde(default)]
    organization_uid: Option<Uuid>,
    name: String,
    /// `Active`, `NotRunning`, `Unknown`.
    #[serde(default)]
    status: Option<String>,
    /// `Server`, `Workstation`, …
    #[serde(default)]
    operation_mode: Option<String>,
    #[serde(default)]
    platform: Option<String>,
}

/// A computer the console protects (`GET /protectedWorkloads/computersManagedByConsole`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Protected {
    backup_agent_uid: Uuid,
    #[serde(default)]
    organization_uid: Option<Uuid>,
    #[serde(default)]
    latest_restore_point_date: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiError>,
}

#[derive(Debug, Deserialize)]
struct ApiError {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// The Veeam Service Provider Console connector for one company.
#[derive(Debug)]
pub struct VeeamConnector {
    http: VendorHttp,
    base: Url,
    key: SecretString,
    company: Uuid,
    page_size: usize,
    clock: Arc<dyn Clock>,
}

fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let (code, message) = match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) if !body.errors.is_empty() => (
            body.errors[0].kind.clone(),
            body.errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => (None, text.chars().take(300).collect()),
    };
    ConnectorError::refusal(status, code, &message)
}

impl VeeamConnector {
    #[must_use]
    pub fn new(
        http: VendorHttp,
        settings: &VeeamSettings,
        key: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            base: settings.api_url.clone(),
            key,
            company: settings.company_uid,
            page_size: PAGE_SIZE,
            clock,
        }
    }

    /// Reads lists in pages of `page_size` (at most 500).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    /// `GET` with the API key; 404 is `None`.
    async fn get<T: DeserializeOwned>(&self, url: Url) -> Result<Option<T>, ConnectorError> {
        let request = self
            .http
            .client()
            .request(Method::GET, url)
            .bearer_auth(self.key.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self.http.send(request, Idempotency::Idempotent).await?;
        oauth::optional_json(oauth::checked(response, error_from).await?).await
    }

    async fn company(&self) -> Result<Company, ConnectorError> {
        let url = oauth::join(
            &self.base,
            &format!("organizations/companies/{}", self.company),
        )?;
        let company = self
            .get::<One<Company>>(url)
            .await?
            .map(|one| one.data)
            .ok_or_else(|| {
                ConnectorError::Configuration(format!(
                    "company {} does not exist in this Veeam Service Provider Console, or the API key cannot see it",
                    self.company
                ))
            })?;
        Ok(company)
    }

    /// Every record of a list of the company, all pages.
    async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, ConnectorError> {
        let filter = json!([{
            "property": "organizationUid",
            "operation": "equals",
            "value": self.company,
        }])
        .to_string();
        let mut items = Vec::new();
        loop {
            let mut url = oauth::join(&self.base, path)?;
            url.query_pairs_mut()
                .append_pair("filter", &filter)
                .append_pair("limit", &self.page_size.to_string())
                .append_pair("offset", &items.len().to_string());
            let Some(page) = self.get::<Page<T>>(url).await? else {
                return Ok(items);
            };
            let received = page.data.len();
            items.extend(page.data);
            let total = page
                .meta
                .and_then(|m| m.paging_info)
                .map_or(items.len(), |p| p.total);
            if received == 0 || items.len() >= total {
                return Ok(items);
            }
        }
    }
}

impl Connector for VeeamConnector {
    fn vendor(&self) -> Vendor {
        Vendor::VeeamSpc
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let company = self.company().await?;
        let mut checks = vec![format!(
            "signed in with the API key and found company {} ({}, {})",
            company.instance_uid,
            company.name,
            company.status.as_deref().unwrap_or("status unknown")
        )];
        let agents: Vec<Agent> = self.list("infrastructure/backupAgents").await?;
        checks.push(format!("read the company's {} backup agents", agents.len()));
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let ours = |org: Option<Uuid>| org.is_none_or(|org| org == self.company);
        let agents: Vec<Agent> = self.list("infrastructure/backupAgents").await?;
        let jobs: Vec<jobs::Job> = self.list("infrastructure/backupAgents/jobs").await?;
        let protected: Vec<Protected> = self
            .list("protectedWorkloads/computersManagedByConsole")
            .await?;
        let mut jobs: HashMap<Uuid, jobs::Job> = jobs
            .into_iter()
            .filter(|j| ours(j.organization_uid))
            .map(|j| (j.backup_agent_uid, j))
            .collect();
        let points: HashMap<Uuid, Option<DateTime<Utc>>> = protected
            .into_iter()
            .filter(|p| ours(p.organization_uid))
            .map(|p| (p.backup_agent_uid, p.latest_restore_point_date))
            .collect();
        let devices = agents
            .into_iter()
            .filter(|a| ours(a.organization_uid))
            .map(|agent| {
                let job = jobs.remove(&agent.instance_uid);
                let backup = BackupStatus {
                    job: job.as_ref().map(|j| j.name.clone()),
                    last_result: job.as_ref().map(|j| j.status.clone()),
                    last_run: job.as_ref().and_then(|j| j.last_run),
                    last_restore_point: points.get(&agent.instance_uid).copied().flatten(),
                };
                ObservedDevice {
                    external_id: agent.instance_uid.to_string(),
                    hostname: agent.name,
                    os_platform: agent.platform,
                    health: agent.status.map(|s| format!("Backup agent {s}")),
                    last_seen: None,
                    last_ip: None,
                    entra_device_id: None,
                    tags: if agent.operation_mode.as_deref() == Some("Server") {
                        vec!["Server".to_owned()]
                    } else {
                        Vec::new()
                    },
                    vendor_value: None,
                    serial_number: None,
                    mac_addresses: Vec::new(),
                    patches: None,
                    backup: Some(backup),
                }
            })
            .collect();
        Ok(ObservedInventory {
            devices,
            identities: Vec::new(),
        })
    }

    /// The console's alarms are about its own infrastructure; a failed job shows in the
    /// inventory's backup state.
    async fn events(
        &self,
        _cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    fn actions(&self) -> &'static [ActionType] {
        Vendor::VeeamSpc.actions()
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        ensure_supported(self, request.action)?;
        jobs::snapshot(self, request).await
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        ensure_supported(self, request.action)?;
        jobs::execute(self, request).await
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        ensure_supported(self, request.action)?;
        jobs::verify(self, request, execution).await
    }

    /// A backup has nothing to undo: like every irreversible action's, its rollback is
    /// refused.
    async fn rollback(
        &self,
        request: &ActionRequest,
        _snapshot: &Snapshot,
    ) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
        ensure_supported(self, request.action)?;
        crate::contract::inverse_request(request)?;
        Ok(None)
    }
}
