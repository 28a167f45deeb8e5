//! NinjaOne (RMM): the customer's managed devices with their agent's last contact, hardware
//! keys and operating-system patch state.
//!
//! Built to the NinjaOne Public API v2 (see `docs/vendors/ninjaone.md`). An MSP runs one NinjaOne
//! instance for all its customers, each an *organization*; a Steward integration names the
//! customer's organization and every read is filtered to it (`df=org = {id}`), so one customer's
//! devices never land in another tenant. Tokens come from `POST /ws/oauth/token` (client
//! credentials). Device lists are bare JSON arrays paged by `pageSize` and `after` (the last
//! device id of the previous page); patch reports are paged by a server-side `cursor`.
//! NinjaOne publishes no request budget: a `429` is waited out by its `Retry-After` like any
//! vendor's.
//!
//! Scripts: `run_script` runs a script of the MSP's automation library on a device
//! (`POST /v2/device/{id}/script/run`) and `run_undo_script` its paired undo script; both are
//! followed through the device's activity log (`GET /v2/device/{id}/activities`), where the run
//! appears as a `SCRIPTING` activity of the script (`START_REQUESTED`, `IN_PROCESS`, then
//! `COMPLETED` with `SUCCESS` or `FAILURE`). The API takes no request key, so a lost answer is
//! resolved by looking for the run in that log; the scripts an MSP pairs must be safe to run
//! twice, as any RMM script run by a retrying operator would be.

mod api;
mod scripts;

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use steward_domain::{
    clock::Clock,
    observations::{ObservedDevice, ObservedEvent, ObservedInventory, PatchStatus, Vendor},
};
use url::Url;

use self::api::NinjaApi;
use crate::{
    contract::{ConnectionReport, Connector, ConnectorError},
    http::VendorHttp,
};

/// The US instance; other regions have their own (`eu`, `oc`, `ca`, `us2`.ninjarmm.com).
pub const INSTANCE_URL: &str = "https://app.ninjarmm.com";
/// Devices, or patch report rows, per page.
const PAGE_SIZE: usize = 1000;

/// A stored NinjaOne integration's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NinjaOneSettings {
    /// The instance's base URL (`https://app.ninjarmm.com`, `https://eu.ninjarmm.com`, …).
    pub instance_url: Url,
    /// The API client's id.
    pub client_id: String,
    /// The customer's organization in the MSP's instance.
    pub organization_id: u32,
}

/// A device (`GET /v2/devices-detailed`), as much as Steward reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NinjaDevice {
    id: u64,
    #[serde(default)]
    organization_id: Option<u32>,
    #[serde(default)]
    node_class: Option<String>,
    #[serde(default)]
    approval_status: Option<String>,
    #[serde(default)]
    offline: Option<bool>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    system_name: Option<String>,
    #[serde(default)]
    dns_name: Option<String>,
    /// Seconds since the epoch, with a fraction.
    #[serde(default)]
    last_contact: Option<f64>,
    #[serde(default)]
    ip_addresses: Vec<String>,
    #[serde(default)]
    mac_addresses: Vec<String>,
    #[serde(default)]
    os: Option<NinjaOs>,
    #[serde(default)]
    system: Option<NinjaSystem>,
}

#[derive(Debug, Clone, Deserialize)]
struct NinjaOs {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NinjaSystem {
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    bios_serial_number: Option<String>,
}

/// A row of `GET /v2/queries/os-patches` or `…/os-patch-installs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchRow {
    device_id: u64,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    /// When the row was reported, seconds since the epoch.
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    installed_at: Option<f64>,
}

/// A page of a query report.
#[derive(Debug, Deserialize)]
struct Report {
    #[serde(default)]
    cursor: Option<Cursor>,
    #[serde(default)]
    results: Vec<PatchRow>,
}

#[derive(Debug, Deserialize)]
struct Cursor {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Organization {
    id: u32,
    name: String,
}

/// The NinjaOne connector for one customer's organization.
#[derive(Debug)]
pub struct NinjaOneConnector {
    api: NinjaApi,
    organization_id: u32,
    page_size: usize,
    clock: Arc<dyn Clock>,
}

fn epoch(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "epoch milliseconds of any real date fit in i64"
    )]
    let millis = (seconds * 1000.0).round() as i64;
    DateTime::from_timestamp_millis(millis)
}

impl NinjaOneConnector {
    /// A connector for one organization of an MSP's NinjaOne.
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the settings do not form URLs.
    pub fn new(
        http: VendorHttp,
        settings: &NinjaOneSettings,
        secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        Ok(Self {
            api: NinjaApi::new(http, &settings.instance_url, &settings.client_id, secret)?,
            organization_id: settings.organization_id,
            page_size: PAGE_SIZE,
            clock,
        })
    }

    /// Reads devices and patch reports in pages of `page_size` (at most 1000).
    #[must_use]
    pub fn with_page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size.clamp(1, PAGE_SIZE);
        self
    }

    /// The device filter that keeps every read inside the customer's organization.
    fn org_filter(&self) -> String {
        format!("org = {}", self.organization_id)
    }

    async fn organization(&self) -> Result<Organization, ConnectorError> {
        let url = self
            .api
            .url(&format!("v2/organization/{}", self.organization_id))?;
        self.api.get(url).await?.ok_or_else(|| {
            ConnectorError::Configuration(format!(
                "organization {} does not exist in this NinjaOne instance, or the API client cannot see it",
                self.organization_id
            ))
        })
    }

    /// Every device of the organization, following `after` until a short page.
    async fn devices(&self, page_size: usize) -> Result<Vec<NinjaDevice>, ConnectorError> {
        let mut devices: Vec<NinjaDevice> = Vec::new();
        loop {
            let mut url = self.api.url("v2/devices-detailed")?;
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("df", &self.org_filter())
                    .append_pair("pageSize", &page_size.to_string());
                if let Some(last) = devices.last() {
                    query.append_pair("after", &last.id.to_string());
                }
            }
            let page: Vec<NinjaDevice> = self.api.get(url).await?.unwrap_or_default();
            let received = page.len();
            let before = devices.last().map(|d| d.id);
            devices.extend(page);
            // A page that does not move past the last id would repeat forever.
            if received < page_size || devices.last().map(|d| d.id) <= before {
                break;
            }
        }
        // The filter is the API's; a device of another organization is never kept.
        devices.retain(|d| {
            d.organization_id
                .is_none_or(|org| org == self.organization_id)
                && d.approval_status
                    .as_deref()
                    .is_none_or(|status| status == "APPROVED")
        });
        Ok(devices)
    }

    /// Every row of a patch report of the organization, following its cursor.
    async fn report(&self, path: &str) -> Result<Vec<PatchRow>, ConnectorError> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = self.api.url(path)?;
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("df", &self.org_filter())
                    .append_pair("pageSize", &self.page_size.to_string());
                if let Some(cursor) = &cursor {
                    query.append_pair("cursor", cursor);
                }
            }
            let Some(page) = self.api.get::<Report>(url).await? else {
                break;
            };
            let received = page.results.len();
            rows.extend(page.results);
            match page.cursor {
                Some(next) if received == self.page_size && cursor.as_ref() != Some(&next.name) => {
                    cursor = Some(next.name);
                }
                _ => break,
            }
        }
        Ok(rows)
    }

    /// Each device's patch state from the missing-patch and installation reports.
    async fn patches(&self) -> Result<HashMap<u64, PatchStatus>, ConnectorError> {
        let mut state: HashMap<u64, PatchStatus> = HashMap::new();
        for row in self.report("v2/queries/os-patches").await? {
            let status = row.status.as_deref().unwrap_or_default();
            let entry = state.entry(row.device_id).or_default();
            // Rejected patches were declined by the MSP on purpose: not missing.
            if status.eq_ignore_ascii_case("REJECTED") {
                continue;
            }
            entry.pending += 1;
            if matches!(
                row.severity
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .as_deref(),
                Some("CRITICAL" | "IMPORTANT")
            ) {
                entry.pending_critical += 1;
            }
            if let Some(seen) = row.timestamp.and_then(epoch) {
                entry.oldest_pending_since = Some(
                    entry
                        .oldest_pending_since
                        .map_or(seen, |oldest| oldest.min(seen)),
                );
            }
        }
        for row in self.report("v2/queries/os-patch-installs").await? {
            let entry = state.entry(row.device_id).or_default();
            match row
                .status
                .as_deref()
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("FAILED") => entry.failed_installs += 1,
                Some("INSTALLED") => {
                    if let Some(at) = row.installed_at.and_then(epoch) {
                        entry.last_installed_at =
                            Some(entry.last_installed_at.map_or(at, |last| last.max(at)));
                    }
                }
                _ => {}
            }
        }
        Ok(state)
    }
}

fn device_of(device: NinjaDevice, patches: Option<PatchStatus>) -> ObservedDevice {
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let hostname = text(&device.dns_name)
        .or_else(|| text(&device.system_name))
        .or_else(|| text(&device.display_name))
        .unwrap_or_else(|| device.id.to_string());
    let server = device
        .node_class
        .as_deref()
        .is_some_and(|class| class.ends_with("_SERVER"));
    let serial_number = device
        .system
        .as_ref()
        .and_then(|s| text(&s.serial_number).or_else(|| text(&s.bios_serial_number)));
    ObservedDevice {
        external_id: device.id.to_string(),
        hostname,
        os_platform: device.os.as_ref().and_then(|os| text(&os.name)),
        health: Some(
            if device.offline.unwrap_or(false) {
                "Agent offline"
            } else {
                "Agent online"
            }
            .to_owned(),
        ),
        last_seen: device.last_contact.and_then(epoch),
        last_ip: device.ip_addresses.first().cloned(),
        entra_device_id: None,
        tags: if server {
            vec!["Server".to_owned()]
        } else {
            Vec::new()
        },
        vendor_value: None,
        serial_number,
        mac_addresses: device.mac_addresses,
        patches: Some(patches.unwrap_or_default()),
        backup: None,
    }
}

impl Connector for NinjaOneConnector {
    fn vendor(&self) -> Vendor {
        Vendor::NinjaOne
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        let organization = self.organization().await?;
        let mut checks = vec![format!(
            "signed in with the API client and found organization {} ({})",
            organization.id, organization.name
        )];
        self.devices(1).await?;
        checks.push("read the organization's devices".to_owned());
        let mut url = self.api.url("v2/queries/os-patches")?;
        url.query_pairs_mut()
            .append_pair("df", &self.org_filter())
            .append_pair("pageSize", "1");
        self.api.get::<Report>(url).await?;
        checks.push("read operating-system patches".to_owned());
        Ok(ConnectionReport { checks })
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        let devices = self.devices(self.page_size).await?;
        let mut patches = self.patches().await?;
        let devices = devices
            .into_iter()
            .map(|d| {
                let state = patches.remove(&d.id);
                device_of(d, state)
            })
            .collect();
        Ok(ObservedInventory {
            devices,
            identities: Vec::new(),
        })
    }

    /// NinjaOne's alerts are monitoring conditions (disk space, services); Steward reads the
    /// security events of EDR and identity tools instead, so there are none to read here.
    async fn events(
        &self,
        _cursors: &crate::contract::EventCursors,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        Ok(Vec::new())
    }

    crate::contract::script_connector!();
}
