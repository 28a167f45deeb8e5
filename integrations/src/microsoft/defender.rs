//! Microsoft Defender for Endpoint: machines, alerts, and isolation through machine actions.
//!
//! Built to the API's published reference (see `docs/vendors/microsoft-defender-and-graph.md`):
//! `GET /api/machines` and `GET /api/alerts` page with `$top`/`$skip` (an `@odata.nextLink` is
//! followed when present); `POST /api/machines/{id}/isolate|unisolate` answer `201` with a
//! machine action that moves from `Pending`/`InProgress` to `Succeeded`, `Failed`, `TimeOut` or
//! `Cancelled`, read with `GET /api/machineactions/{id}`. Isolation state itself is not a machine
//! property: it is the outcome of the latest successful `Isolate`/`Unisolate` action.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{EntityRef, ObservedDevice, ObservedEvent, ObservedInventory, Vendor},
};

use super::{MicrosoftApi, MicrosoftSettings};
use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, Execution, Snapshot,
        Verification, ensure_supported, inverse_request, read_json,
    },
    http::{Idempotency, VendorHttp},
    ocsf::{self, Detection, Product},
};

/// Production API host.
pub const API_BASE: &str = "https://api.securitycenter.microsoft.com";
/// The resource's `.default` scope for client-credentials tokens.
pub const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";
/// The documented maximum `$top`.
pub const MAX_PAGE_SIZE: usize = 10_000;

const PRODUCT: Product = Product {
    name: "Microsoft Defender for Endpoint",
    vendor_name: "Microsoft",
};

/// A Defender machine (`machine.md`); every field but `id` may be missing.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default)]
    pub os_platform: Option<String>,
    #[serde(default)]
    pub health_status: Option<String>,
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_ip_address: Option<String>,
    #[serde(default)]
    pub aad_device_id: Option<String>,
    #[serde(default)]
    pub machine_tags: Vec<String>,
    #[serde(default)]
    pub device_value: Option<String>,
}

/// A Defender alert (`alerts.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub alert_creation_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_update_time: Option<DateTime<Utc>>,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub computer_dns_name: Option<String>,
    #[serde(default)]
    pub threat_family_name: Option<String>,
    #[serde(default)]
    pub mitre_techniques: Vec<String>,
}

/// A machine action (`machineaction.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineAction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub machine_id: Option<String>,
    #[serde(default)]
    pub requestor_comment: Option<String>,
    #[serde(default)]
    pub creation_date_time_utc: Option<DateTime<Utc>>,
    #[serde(default, alias = "lastUpdateTimeUtc")]
    pub last_update_date_time_utc: Option<DateTime<Utc>>,
}

impl MachineAction {
    fn is_open(&self) -> bool {
        matches!(self.status.as_str(), "Pending" | "InProgress")
    }
}

/// The Defender for Endpoint connector.
#[derive(Debug)]
pub struct DefenderConnector {
    api: MicrosoftApi,
    page_size: usize,
}

impl DefenderConnector {
    /// A connector for one customer's Defender tenant.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the settings do not form URLs.
    pub fn new(
        http: VendorHttp,
        settings: &MicrosoftSettings,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            api: MicrosoftApi::new(http, settings, secret, SCOPE, clock)?,
            page_size: MAX_PAGE_SIZE,
        })
    }

    /// Reads collections in pages of `page_size` (at most the documented 10,000).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    /// Every machine.
    ///
    /// # Errors
    /// Any [`ConnectorError`] from the API.
    pub async fn machines(&self) -> Result<Vec<Machine>, ConnectorError> {
        self.api
            .collect_skipping("api/machines", None, self.page_size)
            .await
    }

    /// The machine actions of one machine, newest first.
    ///
    /// # Errors
    /// Any [`ConnectorError`] from the API.
    pub async fn machine_actions(
        &self,
        machine_id: &str,
    ) -> Result<Vec<MachineAction>, ConnectorError> {
        let filter = format!("machineId eq '{}'", odata_literal(machine_id));
        let mut actions: Vec<MachineAction> = self
            .api
            .collect_skipping("api/machineactions", Some(&filter), self.page_size)
            .await?;
        // Newest first. The API lists in the order requested, so among actions created in the
        // same instant the one listed last is the newer.
        actions.reverse();
        actions.sort_by_key(|a| std::cmp::Reverse(a.creation_date_time_utc));
        Ok(actions)
    }

    /// One machine action.
    ///
    /// # Errors
    /// [`ConnectorError::NotFound`] when the vendor does not know it.
    pub async fn machine_action(&self, id: &str) -> Result<MachineAction, ConnectorError> {
        let url = self
            .api
            .url(&format!("api/machineactions/{}", path_segment(id)))?;
        self.api
            .get_json(url)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("machine action {id}")))
    }

    async fn machine(&self, id: &str) -> Result<Machine, ConnectorError> {
        let url = self
            .api
            .url(&format!("api/machines/{}", path_segment(id)))?;
        self.api
            .get_json(url)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("machine {id}")))
    }

    /// Whether the machine is isolated: the outcome of its latest successful isolation action.
    async fn isolated(&self, machine_id: &str) -> Result<bool, ConnectorError> {
        let actions = self.machine_actions(machine_id).await?;
        Ok(actions
            .iter()
            .find(|a| a.status == "Succeeded" && matches!(a.kind.as_str(), "Isolate" | "Unisolate"))
            .is_some_and(|a| a.kind == "Isolate"))
    }

    /// The action Steward already asked for under this idempotency key, if any.
    async fn earlier_attempt(
        &self,
        request: &ActionRequest,
    ) -> Result<Option<MachineAction>, ConnectorError> {
        let marker = marker(request);
        Ok(self
            .machine_actions(&request.target)
            .await?
            .into_iter()
            .find(|a| {
                a.kind == vendor_action_type(request.action)
                    && a.requestor_comment
                        .as_deref()
                        .is_some_and(|c| c.contains(&marker))
            }))
    }
}

/// Steward's tag in a machine action's comment, so a repeated request finds the first one.
fn marker(request: &ActionRequest) -> String {
    format!("[steward:{}]", request.idempotency_key)
}

fn vendor_action_type(action: ActionType) -> &'static str {
    match action {
        ActionType::ReleaseDevice => "Unisolate",
        _ => "Isolate",
    }
}

/// An OData `DateTimeOffset` literal.
fn odata_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Escapes a string for an OData single-quoted literal.
fn odata_literal(value: &str) -> String {
    value.replace('\'', "''")
}

/// Keeps an identifier within one path segment.
fn path_segment(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn device(machine: &Machine) -> ObservedDevice {
    ObservedDevice {
        external_id: machine.id.clone(),
        hostname: machine
            .computer_dns_name
            .clone()
            .unwrap_or_else(|| machine.id.clone()),
        os_platform: machine.os_platform.clone(),
        health: machine.health_status.clone(),
        last_seen: machine.last_seen,
        last_ip: machine.last_ip_address.clone(),
        entra_device_id: machine.aad_device_id.clone(),
        tags: machine.machine_tags.clone(),
        vendor_value: machine.device_value.clone(),
        // Defender's machine entity carries neither serial number nor MAC addresses.
        serial_number: None,
        mac_addresses: Vec::new(),
        patches: None,
        backup: None,
    }
}

fn event(alert: &Alert, raw: Value) -> Option<ObservedEvent> {
    let created = alert.alert_creation_time?;
    let severity = alert.severity.as_deref().unwrap_or("Unknown");
    let ocsf = ocsf::detection_finding(&Detection {
        product: PRODUCT,
        uid: &alert.id,
        title: alert.title.as_deref().unwrap_or("Defender alert"),
        description: alert.description.as_deref(),
        category: alert.category.as_deref(),
        severity,
        status: alert.status.as_deref().unwrap_or("Unknown"),
        created,
        updated: alert.last_update_time,
        device: alert
            .machine_id
            .as_deref()
            .map(|id| (id, alert.computer_dns_name.as_deref())),
        user: None,
        malware: alert.threat_family_name.as_deref(),
        mitre_techniques: &alert.mitre_techniques,
    });
    Some(ObservedEvent {
        external_id: alert.id.clone(),
        class: steward_domain::observations::OcsfClass::DetectionFinding,
        time: alert.last_update_time.unwrap_or(created),
        severity_id: ocsf::severity_id(severity),
        entities: alert
            .machine_id
            .iter()
            .map(|id| EntityRef::Device {
                external_id: id.clone(),
            })
            .collect(),
        ocsf,
        raw,
        stream: steward_domain::observations::EventStream::DefenderAlerts,
    })
}

impl Connector for DefenderConnector {
    fn vendor(&self) -> Vendor {
        Vendor::MicrosoftDefender
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let mut checks = Vec::new();
        let mut url = self.api.url("api/machines")?;
        url.query_pairs_mut().append_pair("$top", "1");
        let machines = self
            .api
            .get_json::<super::Page<Value>>(url)
            .await?
            .map_or(0, |page| page.value.len());
        checks.push(format!(
            "signed in and read machines ({machines} on the first page)"
        ));
        let mut url = self.api.url("api/alerts")?;
        url.query_pairs_mut().append_pair("$top", "1");
        self.api.get_json::<super::Page<Value>>(url).await?;
        checks.push("read alerts".to_owned());
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        Ok(ObservedInventory {
            devices: self.machines().await?.iter().map(device).collect(),
            identities: Vec::new(),
        })
    }

    async fn events(
        &self,
        cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        let since = cursors.since(steward_domain::observations::EventStream::DefenderAlerts);
        let filter = since.map(|since| format!("lastUpdateTime gt {}", odata_time(since)));
        let raw: Vec<Value> = self
            .api
            .collect_skipping("api/alerts", filter.as_deref(), self.page_size)
            .await?;
        let mut events = Vec::with_capacity(raw.len());
        for value in raw {
            let alert: Alert = serde_json::from_value(value.clone())
                .map_err(|e| ConnectorError::Protocol(format!("unreadable alert: {e}")))?;
            events.extend(event(&alert, value));
        }
        Ok(events)
    }

    fn actions(&self) -> &'static [ActionType] {
        Vendor::MicrosoftDefender.actions()
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        ensure_supported(self, request.action)?;
        let machine = self.machine(&request.target).await?;
        let isolated = self.isolated(&machine.id).await?;
        Ok(Snapshot(json!({
            "machine_id": machine.id,
            "computer_dns_name": machine.computer_dns_name,
            "isolated": isolated,
        })))
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        ensure_supported(self, request.action)?;
        let requested_at = self.api.now();
        if let Some(earlier) = self.earlier_attempt(request).await? {
            return Ok(Execution {
                vendor_reference: Some(earlier.id),
                requested_at: earlier.creation_date_time_utc.unwrap_or(requested_at),
                changed: true,
            });
        }
        let (path, body) = match request.action {
            ActionType::IsolateDevice => (
                "isolate",
                json!({"Comment": format!("{} {}", request.comment, marker(request)), "IsolationType": "Full"}),
            ),
            _ => (
                "unisolate",
                json!({"Comment": format!("{} {}", request.comment, marker(request))}),
            ),
        };
        let url = self.api.url(&format!(
            "api/machines/{}/{path}",
            path_segment(&request.target)
        ))?;
        let response = match self
            .api
            .send(Method::POST, url, Some(&body), Idempotency::NonIdempotent)
            .await
        {
            Ok(response) => response,
            // The answer was lost: the comment marker tells whether the first request landed.
            Err(ConnectorError::OutcomeUnknown(detail)) => {
                return match self.earlier_attempt(request).await? {
                    Some(earlier) => Ok(Execution {
                        vendor_reference: Some(earlier.id),
                        requested_at,
                        changed: true,
                    }),
                    None => Err(ConnectorError::Unavailable(detail)),
                };
            }
            // Two runs of the same step can race past the check above; the pending request
            // may be the other run's, under the same idempotency key.
            Err(ConnectorError::Rejected { code, message })
                if code == "ActiveRequestAlreadyExists" =>
            {
                if let Some(earlier) = self.earlier_attempt(request).await? {
                    return Ok(Execution {
                        vendor_reference: Some(earlier.id),
                        requested_at: earlier.creation_date_time_utc.unwrap_or(requested_at),
                        changed: true,
                    });
                }
                return Err(ConnectorError::Rejected {
                    code,
                    message: format!(
                        "{message}; another isolation action is still pending on this machine"
                    ),
                });
            }
            Err(other) => return Err(other),
        };
        if response.status() == StatusCode::NOT_FOUND {
            return Err(ConnectorError::NotFound(format!(
                "machine {}",
                request.target
            )));
        }
        let action: MachineAction = read_json(response).await?;
        Ok(Execution {
            vendor_reference: Some(action.id),
            requested_at,
            changed: true,
        })
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        ensure_supported(self, request.action)?;
        let Some(reference) = &execution.vendor_reference else {
            return Ok(Verification::Confirmed(
                "the machine was already in the requested state".into(),
            ));
        };
        let action = self.machine_action(reference).await?;
        Ok(match action.status.as_str() {
            "Succeeded" => {
                let isolated = self.isolated(&request.target).await?;
                let wanted = request.action == ActionType::IsolateDevice;
                if isolated == wanted {
                    Verification::Confirmed(format!(
                        "machine action {} succeeded; the machine is {}",
                        action.id,
                        if isolated { "isolated" } else { "not isolated" }
                    ))
                } else {
                    Verification::Failed(format!(
                        "machine action {} succeeded but a later action changed the isolation state",
                        action.id
                    ))
                }
            }
            status if action.is_open() => {
                Verification::Pending(format!("machine action {} is {status}", action.id))
            }
            status => Verification::Failed(format!("machine action {} ended {status}", action.id)),
        })
    }

    async fn rollback(
        &self,
        request: &ActionRequest,
        snapshot: &Snapshot,
    ) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
        ensure_supported(self, request.action)?;
        let was_isolated = snapshot
            .0
            .get("isolated")
            .and_then(Value::as_bool)
            .ok_or_else(|| ConnectorError::Protocol("snapshot without isolation state".into()))?;
        let inverse = inverse_request(request)?;
        let wants_isolated = inverse.action == ActionType::IsolateDevice;
        if was_isolated != wants_isolated {
            // The device was already in the state the action produced; undoing it would change
            // something Steward did not.
            return Ok(None);
        }
        let execution = self.execute(&inverse).await?;
        Ok(Some((inverse, execution)))
    }
}
