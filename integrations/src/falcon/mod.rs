//! CrowdStrike Falcon (EDR): hosts with their sensor state, alerts, and network containment.
//!
//! Built to the Falcon API as CrowdStrike publishes it (the endpoint table of its FalconPy SDK;
//! see `docs/vendors/crowdstrike-falcon.md`): an OAuth2 token from `POST /oauth2/token` (an MSP
//! under Flight Control names the customer's `member_cid`); query endpoints return ids paged by
//! `offset` and `meta.pagination.total`, entity endpoints return the records for those ids;
//! `429` carries `X-RateLimit-RetryAfter` as an epoch second. Containment is requested with
//! `devices-actions` and followed through the host's `status` (`containment_pending` →
//! `contained`, `lift_containment_pending` → `normal`).

mod api;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{
        EntityRef, ObservedDevice, ObservedEvent, ObservedInventory, OcsfClass, Vendor,
    },
};
use url::Url;

use self::api::FalconApi;
use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, Execution, Snapshot,
        Verification, ensure_supported, inverse_request,
    },
    http::{Idempotency, VendorHttp},
    ocsf::{self, Detection, Product},
};

/// The US-1 cloud; other clouds (US-2, EU-1, US-GOV-1) have their own base URL.
pub const API_BASE: &str = "https://api.crowdstrike.com";
/// Ids per host query page (the API allows 5000).
const HOST_PAGE: usize = 5000;
/// Hosts per details request (the GET form allows 100).
const HOST_DETAILS: usize = 100;
/// Ids per alert query page, and alerts per details request (the API allows 1000 per request).
const ALERT_PAGE: usize = 1000;

const FALCON: Product = Product {
    name: "CrowdStrike Falcon Insight XDR",
    vendor_name: "CrowdStrike",
};

/// A stored Falcon integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalconSettings {
    /// The cloud's API base URL (`https://api.crowdstrike.com` for US-1).
    pub api_base_url: Url,
    /// The API client's id.
    pub client_id: String,
    /// The customer's CID when the API client belongs to the MSP's parent CID (Flight Control).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_cid: Option<String>,
}

/// A host (`GetDeviceDetailsV2`), as much as Steward reads.
#[derive(Debug, Clone, Deserialize)]
struct Host {
    device_id: String,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    platform_name: Option<String>,
    #[serde(default)]
    os_version: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    local_ip: Option<String>,
    #[serde(default)]
    reduced_functionality_mode: Option<String>,
    #[serde(default)]
    product_type_desc: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    mac_address: Option<String>,
}

impl Host {
    fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    fn name(&self) -> &str {
        self.hostname.as_deref().unwrap_or(&self.device_id)
    }
}

/// An alert (alerts v2), as much as a finding needs.
#[derive(Debug, Deserialize)]
struct Alert {
    composite_id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tactic: Option<String>,
    #[serde(default)]
    technique_id: Option<String>,
    #[serde(default)]
    severity_name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    created_timestamp: DateTime<Utc>,
    #[serde(default)]
    updated_timestamp: Option<DateTime<Utc>>,
    #[serde(default)]
    device: Option<AlertDevice>,
    #[serde(default)]
    user_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AlertDevice {
    device_id: String,
    #[serde(default)]
    hostname: Option<String>,
}

/// The CrowdStrike Falcon connector.
#[derive(Debug)]
pub struct FalconConnector {
    api: FalconApi,
    clock: Arc<dyn Clock>,
    host_page: usize,
}

impl FalconConnector {
    /// A connector for one customer's Falcon.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the settings do not form URLs.
    pub fn new(
        http: VendorHttp,
        settings: &FalconSettings,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            api: FalconApi::new(
                http,
                &settings.api_base_url,
                &settings.client_id,
                secret,
                settings.member_cid.as_deref(),
            )?,
            clock,
            host_page: HOST_PAGE,
        })
    }

    /// Reads host ids in pages of `page_size` (at most the API's 5000).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.host_page = page_size.clamp(1, HOST_PAGE);
        self
    }

    async fn hosts(&self, ids: &[String]) -> Result<Vec<Host>, ConnectorError> {
        let mut hosts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(HOST_DETAILS) {
            let mut url = self.api.url("devices/entities/devices/v2")?;
            {
                let mut query = url.query_pairs_mut();
                for id in chunk {
                    query.append_pair("ids", id);
                }
            }
            if let Some(page) = self
                .api
                .envelope::<Host>(Method::GET, url, None, Idempotency::Idempotent)
                .await?
            {
                hosts.extend(page.resources);
            }
        }
        Ok(hosts)
    }

    async fn host(&self, id: &str) -> Result<Host, ConnectorError> {
        self.hosts(&[id.to_owned()])
            .await?
            .into_iter()
            .find(|h| h.device_id == id)
            .ok_or_else(|| ConnectorError::NotFound(format!("Falcon host {id}")))
    }

    /// Asks for containment or its lifting; a host already in (or on its way to) the state is
    /// the wanted effect, so nothing is sent.
    async fn set_contained(&self, id: &str, contain: bool) -> Result<bool, ConnectorError> {
        let host = self.host(id).await?;
        let already = if contain {
            matches!(host.status(), "contained" | "containment_pending")
        } else {
            matches!(host.status(), "normal" | "lift_containment_pending")
        };
        if already {
            return Ok(false);
        }
        let mut url = self.api.url("devices/entities/devices-actions/v2")?;
        url.query_pairs_mut().append_pair(
            "action_name",
            if contain {
                "contain"
            } else {
                "lift_containment"
            },
        );
        // Asking again for the state a host is in changes nothing, so a retry is safe.
        let answer = self
            .api
            .envelope::<Value>(
                Method::POST,
                url,
                Some(&json!({"ids": [id]})),
                Idempotency::Idempotent,
            )
            .await?;
        match answer {
            Some(envelope) if !envelope.resources.is_empty() => Ok(true),
            _ => Err(ConnectorError::NotFound(format!("Falcon host {id}"))),
        }
    }

    async fn alerts(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Value>, ConnectorError> {
        let filter = since.map(|since| {
            format!(
                "updated_timestamp:>='{}'",
                since.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        });
        let ids = self
            .api
            .query_ids("alerts/queries/alerts/v2", filter.as_deref(), ALERT_PAGE)
            .await?;
        let mut alerts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ALERT_PAGE) {
            let url = self.api.url("alerts/entities/alerts/v2")?;
            if let Some(page) = self
                .api
                .envelope::<Value>(
                    Method::POST,
                    url,
                    Some(&json!({"composite_ids": chunk})),
                    // Reading details by id changes nothing.
                    Idempotency::Idempotent,
                )
                .await?
            {
                alerts.extend(page.resources);
            }
        }
        Ok(alerts)
    }
}

fn device_of(host: Host) -> ObservedDevice {
    let health = match host.reduced_functionality_mode.as_deref() {
        Some("yes") => "Reduced functionality mode",
        _ => "Active",
    };
    let mut tags: Vec<String> = host
        .tags
        .iter()
        .map(|t| {
            t.strip_prefix("FalconGroupingTags/")
                .unwrap_or(t)
                .replace('_', " ")
        })
        .collect();
    if host.product_type_desc.as_deref() == Some("Server") && !tags.iter().any(|t| t == "Server") {
        tags.push("Server".to_owned());
    }
    ObservedDevice {
        os_platform: host
            .os_version
            .clone()
            .or_else(|| host.platform_name.clone()),
        health: Some(health.to_owned()),
        last_seen: host.last_seen,
        last_ip: host.local_ip.clone(),
        entra_device_id: None,
        tags,
        vendor_value: None,
        serial_number: host.serial_number.clone(),
        mac_addresses: host.mac_address.iter().cloned().collect(),
        patches: None,
        backup: None,
        hostname: host.name().to_owned(),
        external_id: host.device_id,
    }
}

fn alert_event(raw: Value) -> Result<ObservedEvent, ConnectorError> {
    let alert: Alert = serde_json::from_value(raw.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable Falcon alert: {e}")))?;
    let severity = alert.severity_name.as_deref().unwrap_or("unknown");
    let techniques: Vec<String> = alert.technique_id.iter().cloned().collect();
    let device = alert.device.as_ref();
    let ocsf = ocsf::detection_finding(&Detection {
        product: FALCON,
        uid: &alert.composite_id,
        title: alert
            .display_name
            .as_deref()
            .or(alert.name.as_deref())
            .unwrap_or("Falcon alert"),
        description: alert.description.as_deref(),
        category: alert.tactic.as_deref(),
        severity,
        status: match alert.status.as_deref() {
            Some("closed") => "resolved",
            Some("in_progress") => "inProgress",
            _ => "new",
        },
        created: alert.created_timestamp,
        updated: alert.updated_timestamp,
        device: device.map(|d| (d.device_id.as_str(), d.hostname.as_deref())),
        user: alert.user_name.as_deref().map(|name| (name, None)),
        malware: None,
        mitre_techniques: &techniques,
    });
    Ok(ObservedEvent {
        external_id: alert.composite_id.clone(),
        class: OcsfClass::DetectionFinding,
        time: alert.updated_timestamp.unwrap_or(alert.created_timestamp),
        severity_id: ocsf::severity_id(severity),
        entities: device
            .map(|d| EntityRef::Device {
                external_id: d.device_id.clone(),
            })
            .into_iter()
            .collect(),
        ocsf,
        raw,
        stream: steward_domain::observations::EventStream::FalconAlerts,
    })
}

impl Connector for FalconConnector {
    fn vendor(&self) -> Vendor {
        Vendor::CrowdStrikeFalcon
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let mut checks = Vec::new();
        let mut url = self.api.url("devices/queries/devices/v1")?;
        url.query_pairs_mut().append_pair("limit", "1");
        self.api
            .envelope::<String>(Method::GET, url, None, Idempotency::Idempotent)
            .await?;
        checks.push("signed in with the API client and read hosts".to_owned());
        let mut url = self.api.url("alerts/queries/alerts/v2")?;
        url.query_pairs_mut().append_pair("limit", "1");
        self.api
            .envelope::<String>(Method::GET, url, None, Idempotency::Idempotent)
            .await?;
        checks.push("read alerts".to_owned());
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let ids = self
            .api
            .query_ids("devices/queries/devices/v1", None, self.host_page)
            .await?;
        let devices = self.hosts(&ids).await?.into_iter().map(device_of).collect();
        Ok(ObservedInventory {
            devices,
            identities: Vec::new(),
        })
    }

    async fn events(
        &self,
        cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        self.alerts(cursors.since(steward_domain::observations::EventStream::FalconAlerts))
            .await?
            .into_iter()
            .map(alert_event)
            .collect()
    }

    fn actions(&self) -> &'static [ActionType] {
        Vendor::CrowdStrikeFalcon.actions()
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        ensure_supported(self, request.action)?;
        let host = self.host(&request.target).await?;
        Ok(Snapshot(json!({
            "device_id": host.device_id,
            "hostname": host.hostname,
            "status": host.status(),
        })))
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        ensure_supported(self, request.action)?;
        let requested_at = self.clock.now();
        let contain = request.action == ActionType::IsolateDevice;
        let changed = self.set_contained(&request.target, contain).await?;
        Ok(Execution {
            vendor_reference: None,
            requested_at,
            changed,
        })
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        _execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        ensure_supported(self, request.action)?;
        let host = self.host(&request.target).await?;
        let (done, pending) = if request.action == ActionType::IsolateDevice {
            ("contained", "containment_pending")
        } else {
            ("normal", "lift_containment_pending")
        };
        let name = host.name();
        let status = host.status();
        Ok(if status == done {
            Verification::Confirmed(format!("Falcon shows {name} {status}"))
        } else if status == pending {
            Verification::Pending(format!("Falcon shows {name} {status}"))
        } else {
            Verification::Failed(format!("Falcon shows {name} {status}, not {done}"))
        })
    }

    async fn rollback(
        &self,
        request: &ActionRequest,
        snapshot: &Snapshot,
    ) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
        ensure_supported(self, request.action)?;
        let inverse = inverse_request(request)?;
        let before = snapshot
            .0
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| ConnectorError::Protocol("snapshot without status".into()))?;
        // Undo only a change the action made: the inverse must bring back the prior state.
        let was_contained = matches!(before, "contained" | "containment_pending");
        if was_contained != (inverse.action == ActionType::IsolateDevice) {
            return Ok(None);
        }
        let execution = self.execute(&inverse).await?;
        Ok(Some((inverse, execution)))
    }
}
