//! From an integration's stored settings to a working connector, per vendor.

use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{ObservedEvent, ObservedInventory, Vendor},
};
use url::Url;

use crate::{
    connectwise::{ConnectWiseConnector, ConnectWiseSettings},
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, EventCursors, Execution,
        Snapshot, Verification,
    },
    datto::{self, DattoConnector, DattoSettings},
    egress::EgressPolicy,
    falcon::{self, FalconConnector, FalconSettings},
    halopsa::{HaloConnector, HaloSettings},
    http::VendorHttp,
    microsoft::{
        LOGIN_BASE, MicrosoftSettings,
        defender::{self, DefenderConnector},
        graph::{self, GraphConnector},
    },
    ninjaone::{self, NinjaOneConnector, NinjaOneSettings},
    okta::{OktaConnector, OktaSettings},
    tactical::{TacticalConnector, TacticalSettings},
    tickets::{TicketDesk, TicketDraft, TicketState},
    veeam::{VeeamConnector, VeeamSettings},
};

/// What an MSP admin enters for a Microsoft integration; base URLs default to the vendor's
/// production endpoints.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MicrosoftInput {
    directory_id: String,
    client_id: String,
    #[serde(default)]
    api_base_url: Option<Url>,
    #[serde(default)]
    login_base_url: Option<Url>,
}

/// What an MSP admin enters for an Okta integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OktaInput {
    /// The org's URL, e.g. `https://acme.okta.com`.
    org_url: Url,
}

/// What an MSP admin enters for a CrowdStrike Falcon integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FalconInput {
    client_id: String,
    #[serde(default)]
    api_base_url: Option<Url>,
    #[serde(default)]
    member_cid: Option<String>,
}

/// What an MSP admin enters for a NinjaOne integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NinjaOneInput {
    client_id: String,
    organization_id: u32,
    #[serde(default)]
    instance_url: Option<Url>,
}

/// What an MSP admin enters for a Tactical RMM integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TacticalInput {
    api_url: Url,
    client_id: u32,
}

/// What an MSP admin enters for a Veeam Service Provider Console integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VeeamInput {
    api_url: Url,
    company_uid: uuid::Uuid,
}

/// What an MSP admin enters for a Datto BCDR integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DattoInput {
    #[serde(default)]
    api_url: Option<Url>,
    public_key: String,
    client_company_name: String,
}

/// What an MSP admin enters for a HaloPSA integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HaloInput {
    instance_url: Url,
    #[serde(default)]
    tenant: Option<String>,
    client_id: String,
    customer_client_id: u32,
    #[serde(default)]
    open_status_id: Option<u32>,
    #[serde(default)]
    closed_status_id: Option<u32>,
}

/// What an MSP admin enters for a ConnectWise Manage integration.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectWiseInput {
    site_url: Url,
    company_id: String,
    public_key: String,
    client_id: String,
    customer_company_id: u32,
    board_id: u32,
}

/// What each vendor's settings hold, for forms and error messages.
#[must_use]
pub const fn settings_help(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::MicrosoftDefender | Vendor::MicrosoftGraph => {
            "directory_id and client_id of the app registration, and optionally api_base_url and login_base_url"
        }
        Vendor::Okta => "org_url, the Okta org's URL (https://{org}.okta.com)",
        Vendor::CrowdStrikeFalcon => {
            "client_id of the API client, optionally api_base_url (the cloud's, default https://api.crowdstrike.com) and member_cid (the customer's CID under Flight Control)"
        }
        Vendor::NinjaOne => {
            "client_id of the API client, organization_id (the customer's organization, a number), and optionally instance_url (default https://app.ninjarmm.com; eu., oc., ca. or us2.ninjarmm.com for other regions)"
        }
        Vendor::TacticalRmm => {
            "api_url, the server's API URL (https://api.example.com), and client_id, the customer's client (a number)"
        }
        Vendor::VeeamSpc => {
            "api_url, the console's REST API (https://{server}:1280/api/v3/), and company_uid, the customer's company (its instanceUid)"
        }
        Vendor::DattoBcdr => {
            "public_key of the partner portal's API keys, client_company_name (the customer's company as the portal names it), and optionally api_url (default https://api.datto.com/v1/)"
        }
        Vendor::HaloPsa => {
            "instance_url (https://{name}.halopsa.com), tenant (the hosted instance's name; omit on premises), client_id of the API application, customer_client_id (the customer's client, a number), and optionally open_status_id (default 1, New) and closed_status_id (default 9, Closed)"
        }
        Vendor::ConnectWiseManage => {
            "site_url (https://api-na.myconnectwise.net), company_id (the MSP's login company), public_key of the API member, client_id (the integrator's clientId), customer_company_id (the customer's company record, a number) and board_id (the service board for Steward's tickets)"
        }
    }
}

/// What the credential of each vendor's integration is.
#[must_use]
pub const fn credential_name(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::MicrosoftDefender | Vendor::MicrosoftGraph => {
            "the app registration's client secret"
        }
        Vendor::Okta => "an Okta API token",
        Vendor::CrowdStrikeFalcon | Vendor::NinjaOne => "the API client's secret",
        Vendor::TacticalRmm => "an API key of a Tactical RMM user limited to the customer",
        Vendor::VeeamSpc => "an API key of a console user (read access is enough)",
        Vendor::DattoBcdr => "the secret key of the partner portal's API keys",
        Vendor::HaloPsa => "the API application's client secret",
        Vendor::ConnectWiseManage => "the API member's private key",
    }
}

/// Checks and completes the settings of a `vendor` integration.
///
/// # Errors
/// A message naming what is wrong, for a 422 answer.
pub fn normalize_settings(
    vendor: Vendor,
    settings: serde_json::Value,
) -> Result<serde_json::Value, String> {
    match vendor {
        Vendor::MicrosoftDefender | Vendor::MicrosoftGraph => microsoft_settings(vendor, settings),
        Vendor::Okta => okta_settings(settings),
        Vendor::CrowdStrikeFalcon => falcon_settings(settings),
        Vendor::NinjaOne => ninjaone_settings(settings),
        Vendor::TacticalRmm => tactical_settings(settings),
        Vendor::VeeamSpc => veeam_settings(settings),
        Vendor::DattoBcdr => datto_settings(settings),
        Vendor::HaloPsa => halo_settings(settings),
        Vendor::ConnectWiseManage => connectwise_settings(settings),
    }
}

/// Every URL in an integration's settings — each `…_url` field, the addresses Steward sends the
/// vendor credential to — by setting name.
#[must_use]
pub fn endpoints(settings: &serde_json::Value) -> Vec<(String, String)> {
    settings
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.ends_with("_url"))
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect()
}

/// Checks every URL of (normalized) settings against the deployment's egress rule, resolving
/// host names now; each request is checked again before it is sent.
///
/// # Errors
/// A message naming the setting and why its URL is refused, for a 422 answer.
pub async fn check_endpoints(
    settings: &serde_json::Value,
    egress: &EgressPolicy,
) -> Result<(), String> {
    for (name, url) in endpoints(settings) {
        egress
            .check_for_saving(&url)
            .await
            .map_err(|refused| format!("settings.{name}: {refused}"))?;
    }
    Ok(())
}

fn http_url(name: &str, url: &Url) -> Result<(), String> {
    if matches!(url.scheme(), "https" | "http") && url.host_str().is_some() {
        Ok(())
    } else {
        Err(format!("settings.{name} must be an http(s) URL"))
    }
}

fn not_empty(name: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        Err(format!("settings.{name} must not be empty"))
    } else {
        Ok(value.to_owned())
    }
}

fn datto_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: DattoInput = parse_input(Vendor::DattoBcdr, settings)?;
    let api_url = input
        .api_url
        .unwrap_or_else(|| Url::parse(datto::API_BASE).expect("a valid constant URL"));
    http_url("api_url", &api_url)?;
    let settings = DattoSettings {
        api_url,
        public_key: not_empty("public_key", &input.public_key)?,
        client_company_name: not_empty("client_company_name", &input.client_company_name)?,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn halo_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: HaloInput = parse_input(Vendor::HaloPsa, settings)?;
    http_url("instance_url", &input.instance_url)?;
    if input.customer_client_id == 0 {
        return Err("settings.customer_client_id must be the customer's client id".to_owned());
    }
    let open_status_id = input.open_status_id.unwrap_or(1);
    let closed_status_id = input.closed_status_id.unwrap_or(9);
    if open_status_id == closed_status_id {
        return Err("settings.open_status_id and closed_status_id must differ".to_owned());
    }
    let settings = HaloSettings {
        instance_url: input.instance_url,
        tenant: input
            .tenant
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty()),
        client_id: not_empty("client_id", &input.client_id)?,
        customer_client_id: input.customer_client_id,
        open_status_id,
        closed_status_id,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn connectwise_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: ConnectWiseInput = parse_input(Vendor::ConnectWiseManage, settings)?;
    http_url("site_url", &input.site_url)?;
    if input.customer_company_id == 0 || input.board_id == 0 {
        return Err(
            "settings.customer_company_id and board_id must be record ids (numbers above 0)"
                .to_owned(),
        );
    }
    let company_id = not_empty("company_id", &input.company_id)?;
    if company_id.contains('+') || company_id.contains(':') {
        return Err("settings.company_id is the MSP's company id, without + or :".to_owned());
    }
    let settings = ConnectWiseSettings {
        site_url: input.site_url,
        company_id,
        public_key: not_empty("public_key", &input.public_key)?,
        client_id: not_empty("client_id", &input.client_id)?,
        customer_company_id: input.customer_company_id,
        board_id: input.board_id,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn veeam_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: VeeamInput = parse_input(Vendor::VeeamSpc, settings)?;
    if !matches!(input.api_url.scheme(), "https" | "http") || input.api_url.host_str().is_none() {
        return Err("settings.api_url must be an http(s) URL".to_owned());
    }
    let settings = VeeamSettings {
        api_url: input.api_url,
        company_uid: input.company_uid,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn tactical_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: TacticalInput = parse_input(Vendor::TacticalRmm, settings)?;
    if !matches!(input.api_url.scheme(), "https" | "http") || input.api_url.host_str().is_none() {
        return Err("settings.api_url must be an http(s) URL".to_owned());
    }
    if input.client_id == 0 {
        return Err("settings.client_id must be the customer's client id".to_owned());
    }
    let settings = TacticalSettings {
        api_url: input.api_url,
        client_id: input.client_id,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn ninjaone_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: NinjaOneInput = parse_input(Vendor::NinjaOne, settings)?;
    let client_id = input.client_id.trim();
    if client_id.is_empty() {
        return Err("settings.client_id must not be empty".to_owned());
    }
    if input.organization_id == 0 {
        return Err("settings.organization_id must be the customer's organization id".to_owned());
    }
    let instance_url = input
        .instance_url
        .unwrap_or_else(|| Url::parse(ninjaone::INSTANCE_URL).expect("a valid constant URL"));
    if !matches!(instance_url.scheme(), "https" | "http") || instance_url.host_str().is_none() {
        return Err("settings.instance_url must be an http(s) URL".to_owned());
    }
    let settings = NinjaOneSettings {
        instance_url,
        client_id: client_id.to_owned(),
        organization_id: input.organization_id,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn falcon_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: FalconInput = parse_input(Vendor::CrowdStrikeFalcon, settings)?;
    let client_id = input.client_id.trim();
    if client_id.is_empty() {
        return Err("settings.client_id must not be empty".to_owned());
    }
    let api_base_url = input
        .api_base_url
        .unwrap_or_else(|| Url::parse(falcon::API_BASE).expect("a valid constant URL"));
    if !matches!(api_base_url.scheme(), "https" | "http") {
        return Err("settings.api_base_url must be an http(s) URL".to_owned());
    }
    let member_cid = input
        .member_cid
        .map(|cid| cid.trim().to_ascii_lowercase())
        .filter(|cid| !cid.is_empty());
    if let Some(cid) = &member_cid
        && (cid.len() != 32 || !cid.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err("settings.member_cid is a CID: 32 hexadecimal digits".to_owned());
    }
    let settings = FalconSettings {
        api_base_url,
        client_id: client_id.to_owned(),
        member_cid,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

fn parse_input<T: serde::de::DeserializeOwned>(
    vendor: Vendor,
    settings: serde_json::Value,
) -> Result<T, String> {
    serde_json::from_value(settings).map_err(|e| {
        format!(
            "settings for {}: {e} (expected {})",
            vendor.display_name(),
            settings_help(vendor)
        )
    })
}

fn okta_settings(settings: serde_json::Value) -> Result<serde_json::Value, String> {
    let input: OktaInput = parse_input(Vendor::Okta, settings)?;
    let url = input.org_url;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err("settings.org_url must be an http(s) URL".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("settings.org_url must not have a query or fragment".to_owned());
    }
    Ok(serde_json::to_value(OktaSettings { org_url: url }).expect("settings serialize"))
}

fn microsoft_settings(
    vendor: Vendor,
    settings: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let input: MicrosoftInput = parse_input(vendor, settings)?;
    for (name, value) in [
        ("directory_id", &input.directory_id),
        ("client_id", &input.client_id),
    ] {
        if value.trim().is_empty() {
            return Err(format!("settings.{name} must not be empty"));
        }
    }
    let default_api = if vendor == Vendor::MicrosoftDefender {
        defender::API_BASE
    } else {
        graph::API_BASE
    };
    let api_base_url = input
        .api_base_url
        .unwrap_or_else(|| Url::parse(default_api).expect("a valid constant URL"));
    let login_base_url = input
        .login_base_url
        .unwrap_or_else(|| Url::parse(LOGIN_BASE).expect("a valid constant URL"));
    for (name, url) in [
        ("api_base_url", &api_base_url),
        ("login_base_url", &login_base_url),
    ] {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("settings.{name} must be an http(s) URL"));
        }
    }
    let settings = MicrosoftSettings {
        directory_id: input.directory_id.trim().to_owned(),
        client_id: input.client_id.trim().to_owned(),
        api_base_url,
        login_base_url,
    };
    Ok(serde_json::to_value(settings).expect("settings serialize"))
}

/// A connector of any vendor.
#[derive(Debug)]
pub enum AnyConnector {
    Defender(DefenderConnector),
    Graph(GraphConnector),
    Okta(OktaConnector),
    Falcon(FalconConnector),
    NinjaOne(NinjaOneConnector),
    Tactical(TacticalConnector),
    Veeam(VeeamConnector),
    Datto(DattoConnector),
    Halo(HaloConnector),
    ConnectWise(ConnectWiseConnector),
}

/// Builds the connector of a stored integration.
///
/// # Errors
/// [`ConnectorError::Configuration`] when the stored settings are unusable.
pub fn connect(
    vendor: Vendor,
    settings: &serde_json::Value,
    secret: SecretString,
    http: VendorHttp,
    clock: Arc<dyn Clock>,
) -> Result<AnyConnector, ConnectorError> {
    fn stored<T: serde::de::DeserializeOwned>(
        settings: &serde_json::Value,
    ) -> Result<T, ConnectorError> {
        serde_json::from_value(settings.clone())
            .map_err(|e| ConnectorError::Configuration(format!("stored settings: {e}")))
    }
    Ok(match vendor {
        Vendor::MicrosoftDefender => AnyConnector::Defender(DefenderConnector::new(
            http,
            &stored::<MicrosoftSettings>(settings)?,
            secret,
            clock,
        )?),
        Vendor::MicrosoftGraph => AnyConnector::Graph(GraphConnector::new(
            http,
            &stored::<MicrosoftSettings>(settings)?,
            secret,
            clock,
        )?),
        Vendor::Okta => AnyConnector::Okta(OktaConnector::new(
            http,
            &stored::<OktaSettings>(settings)?,
            secret,
            clock,
        )),
        Vendor::CrowdStrikeFalcon => AnyConnector::Falcon(FalconConnector::new(
            http,
            &stored::<FalconSettings>(settings)?,
            secret,
            clock,
        )?),
        Vendor::NinjaOne => AnyConnector::NinjaOne(NinjaOneConnector::new(
            http,
            &stored::<NinjaOneSettings>(settings)?,
            secret,
            clock,
        )?),
        Vendor::TacticalRmm => AnyConnector::Tactical(TacticalConnector::new(
            http,
            &stored::<TacticalSettings>(settings)?,
            secret,
            clock,
        )),
        Vendor::VeeamSpc => AnyConnector::Veeam(VeeamConnector::new(
            http,
            &stored::<VeeamSettings>(settings)?,
            secret,
            clock,
        )),
        Vendor::DattoBcdr => AnyConnector::Datto(DattoConnector::new(
            http,
            &stored::<DattoSettings>(settings)?,
            secret,
        )),
        Vendor::HaloPsa => AnyConnector::Halo(HaloConnector::new(
            http,
            &stored::<HaloSettings>(settings)?,
            secret,
            clock,
        )?),
        Vendor::ConnectWiseManage => AnyConnector::ConnectWise(ConnectWiseConnector::new(
            http,
            &stored::<ConnectWiseSettings>(settings)?,
            secret,
            clock,
        )?),
    })
}

macro_rules! delegate {
    ($self:ident, $connector:ident => $call:expr) => {
        match $self {
            AnyConnector::Defender($connector) => $call,
            AnyConnector::Graph($connector) => $call,
            AnyConnector::Okta($connector) => $call,
            AnyConnector::Falcon($connector) => $call,
            AnyConnector::NinjaOne($connector) => $call,
            AnyConnector::Tactical($connector) => $call,
            AnyConnector::Veeam($connector) => $call,
            AnyConnector::Datto($connector) => $call,
            AnyConnector::Halo($connector) => $call,
            AnyConnector::ConnectWise($connector) => $call,
        }
    };
}

impl Connector for AnyConnector {
    fn vendor(&self) -> Vendor {
        delegate!(self, c => c.vendor())
    }

    async fn test_connection(&self) -> Result<ConnectionReport, ConnectorError> {
        delegate!(self, c => c.test_connection().await)
    }

    async fn inventory(&self) -> Result<ObservedInventory, ConnectorError> {
        delegate!(self, c => c.inventory().await)
    }

    async fn inventory_from(
        &self,
        state: Option<serde_json::Value>,
    ) -> Result<(ObservedInventory, Option<serde_json::Value>), ConnectorError> {
        delegate!(self, c => c.inventory_from(state).await)
    }

    async fn events(&self, cursors: &EventCursors) -> Result<Vec<ObservedEvent>, ConnectorError> {
        delegate!(self, c => c.events(cursors).await)
    }

    fn missing_telemetry(&self) -> Vec<steward_domain::integrations::MissingTelemetry> {
        delegate!(self, c => c.missing_telemetry())
    }

    fn actions(&self) -> &'static [ActionType] {
        delegate!(self, c => c.actions())
    }

    async fn snapshot(&self, request: &ActionRequest) -> Result<Snapshot, ConnectorError> {
        delegate!(self, c => c.snapshot(request).await)
    }

    async fn execute(&self, request: &ActionRequest) -> Result<Execution, ConnectorError> {
        delegate!(self, c => c.execute(request).await)
    }

    async fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> Result<Verification, ConnectorError> {
        delegate!(self, c => c.verify(request, execution).await)
    }

    async fn rollback(
        &self,
        request: &ActionRequest,
        snapshot: &Snapshot,
    ) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
        delegate!(self, c => c.rollback(request, snapshot).await)
    }
}

/// Ticket operations, for the connectors of PSAs; every other connector refuses them.
impl TicketDesk for AnyConnector {
    async fn open_ticket(&self, draft: &TicketDraft) -> Result<TicketState, ConnectorError> {
        match self {
            AnyConnector::Halo(c) => c.open_ticket(draft).await,
            AnyConnector::ConnectWise(c) => c.open_ticket(draft).await,
            other => Err(no_tickets(other.vendor())),
        }
    }

    async fn find_ticket(&self, reference: &str) -> Result<Option<TicketState>, ConnectorError> {
        match self {
            AnyConnector::Halo(c) => c.find_ticket(reference).await,
            AnyConnector::ConnectWise(c) => c.find_ticket(reference).await,
            other => Err(no_tickets(other.vendor())),
        }
    }

    async fn ticket(&self, id: &str) -> Result<Option<TicketState>, ConnectorError> {
        match self {
            AnyConnector::Halo(c) => c.ticket(id).await,
            AnyConnector::ConnectWise(c) => c.ticket(id).await,
            other => Err(no_tickets(other.vendor())),
        }
    }

    async fn add_note(&self, id: &str, text: &str) -> Result<(), ConnectorError> {
        match self {
            AnyConnector::Halo(c) => c.add_note(id, text).await,
            AnyConnector::ConnectWise(c) => c.add_note(id, text).await,
            other => Err(no_tickets(other.vendor())),
        }
    }

    async fn set_closed(&self, id: &str, closed: bool) -> Result<TicketState, ConnectorError> {
        match self {
            AnyConnector::Halo(c) => c.set_closed(id, closed).await,
            AnyConnector::ConnectWise(c) => c.set_closed(id, closed).await,
            other => Err(no_tickets(other.vendor())),
        }
    }
}

fn no_tickets(vendor: Vendor) -> ConnectorError {
    ConnectorError::Configuration(format!("{} keeps no tickets", vendor.display_name()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_default_to_the_vendor_and_refuse_unknown_or_empty_fields() {
        let settings = normalize_settings(
            Vendor::MicrosoftDefender,
            json!({"directory_id": " d ", "client_id": "c"}),
        )
        .unwrap();
        assert_eq!(settings["directory_id"], "d");
        assert_eq!(
            settings["api_base_url"],
            "https://api.securitycenter.microsoft.com/"
        );
        assert_eq!(
            settings["login_base_url"],
            "https://login.microsoftonline.com/"
        );
        assert!(normalize_settings(Vendor::MicrosoftGraph, json!({"directory_id": "d"})).is_err());
        assert!(
            normalize_settings(
                Vendor::MicrosoftGraph,
                json!({"directory_id": "d", "client_id": "c", "client_secret": "x"})
            )
            .is_err(),
            "a secret belongs in the sealed credential, not the settings"
        );
        assert!(
            normalize_settings(
                Vendor::MicrosoftGraph,
                json!({"directory_id": " ", "client_id": "c"})
            )
            .is_err()
        );
    }

    #[test]
    fn okta_settings_need_an_org_url_and_nothing_microsoft_shaped() {
        let settings =
            normalize_settings(Vendor::Okta, json!({"org_url": "https://acme.okta.com"})).unwrap();
        assert_eq!(settings["org_url"], "https://acme.okta.com/");
        for bad in [
            json!({}),
            json!({"org_url": "acme.okta.com"}),
            json!({"org_url": "ftp://acme.okta.com"}),
            json!({"org_url": "https://acme.okta.com/?x=1"}),
            json!({"org_url": "https://acme.okta.com", "client_id": "c"}),
        ] {
            assert!(
                normalize_settings(Vendor::Okta, bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn ninjaone_settings_need_a_client_and_the_customers_organization() {
        let settings = normalize_settings(
            Vendor::NinjaOne,
            json!({"client_id": " c ", "organization_id": 12}),
        )
        .unwrap();
        assert_eq!(settings["instance_url"], "https://app.ninjarmm.com/");
        assert_eq!(settings["client_id"], "c");
        assert_eq!(settings["organization_id"], 12);
        for bad in [
            json!({"client_id": "c"}),
            json!({"client_id": "c", "organization_id": 0}),
            json!({"client_id": "c", "organization_id": "twelve"}),
            json!({"client_id": " ", "organization_id": 12}),
            json!({"client_id": "c", "organization_id": 12, "instance_url": "eu.ninjarmm.com"}),
            json!({"client_id": "c", "organization_id": 12, "org_url": "https://x"}),
        ] {
            assert!(
                normalize_settings(Vendor::NinjaOne, bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn psa_settings_name_the_customer_and_default_the_halo_statuses() {
        let halo = normalize_settings(
            Vendor::HaloPsa,
            json!({"instance_url": "https://msp.halopsa.com", "tenant": "msp", "client_id": " app ", "customer_client_id": 12}),
        )
        .unwrap();
        assert_eq!(halo["client_id"], "app");
        assert_eq!(halo["open_status_id"], 1);
        assert_eq!(halo["closed_status_id"], 9);
        for bad in [
            json!({"instance_url": "https://msp.halopsa.com", "client_id": "a"}),
            json!({"instance_url": "msp.halopsa.com", "client_id": "a", "customer_client_id": 1}),
            json!({"instance_url": "https://msp.halopsa.com", "client_id": "a", "customer_client_id": 0}),
            json!({"instance_url": "https://msp.halopsa.com", "client_id": "a", "customer_client_id": 1, "open_status_id": 9}),
            json!({"instance_url": "https://msp.halopsa.com", "client_id": "a", "customer_client_id": 1, "client_secret": "s"}),
        ] {
            assert!(
                normalize_settings(Vendor::HaloPsa, bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
        let good = json!({"site_url": "https://api-na.myconnectwise.net", "company_id": "msp", "public_key": "pk", "client_id": "c", "customer_company_id": 250, "board_id": 27});
        assert!(normalize_settings(Vendor::ConnectWiseManage, good.clone()).is_ok());
        for (field, value) in [
            ("company_id", json!("msp+x")),
            ("board_id", json!(0)),
            ("public_key", json!(" ")),
            ("site_url", json!("ftp://x")),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert!(
                normalize_settings(Vendor::ConnectWiseManage, bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn tactical_settings_need_the_servers_api_url_and_the_customers_client() {
        let settings = normalize_settings(
            Vendor::TacticalRmm,
            json!({"api_url": "https://api.msp.example", "client_id": 7}),
        )
        .unwrap();
        assert_eq!(settings["api_url"], "https://api.msp.example/");
        assert_eq!(settings["client_id"], 7);
        for bad in [
            json!({"api_url": "https://api.msp.example"}),
            json!({"api_url": "api.msp.example", "client_id": 7}),
            json!({"api_url": "https://api.msp.example", "client_id": 0}),
            json!({"api_url": "https://api.msp.example", "client_id": 7, "key": "k"}),
        ] {
            assert!(
                normalize_settings(Vendor::TacticalRmm, bad.clone()).is_err(),
                "{bad} was accepted"
            );
        }
    }
}
