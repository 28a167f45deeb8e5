//! From an integration's stored settings to a working connector, per vendor.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;
use steward_domain::{
    actions::ActionType,
    clock::Clock,
    observations::{ObservedEvent, ObservedInventory, Vendor},
};
use url::Url;

use crate::{
    contract::{
        ActionRequest, ConnectionReport, Connector, ConnectorError, Execution, Snapshot,
        Verification,
    },
    http::VendorHttp,
    microsoft::{
        LOGIN_BASE, MicrosoftSettings,
        defender::{self, DefenderConnector},
        graph::{self, GraphConnector},
    },
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

/// Checks and completes the settings of a `vendor` integration.
///
/// # Errors
/// A message naming what is wrong, for a 422 answer.
pub fn normalize_settings(
    vendor: Vendor,
    settings: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let input: MicrosoftInput = serde_json::from_value(settings)
        .map_err(|e| format!("settings for {}: {e}", vendor.display_name()))?;
    for (name, value) in [
        ("directory_id", &input.directory_id),
        ("client_id", &input.client_id),
    ] {
        if value.trim().is_empty() {
            return Err(format!("settings.{name} must not be empty"));
        }
    }
    let default_api = match vendor {
        Vendor::MicrosoftDefender => defender::API_BASE,
        Vendor::MicrosoftGraph => graph::API_BASE,
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
    let settings: MicrosoftSettings = serde_json::from_value(settings.clone())
        .map_err(|e| ConnectorError::Configuration(format!("stored settings: {e}")))?;
    Ok(match vendor {
        Vendor::MicrosoftDefender => {
            AnyConnector::Defender(DefenderConnector::new(http, &settings, secret, clock)?)
        }
        Vendor::MicrosoftGraph => {
            AnyConnector::Graph(GraphConnector::new(http, &settings, secret, clock)?)
        }
    })
}

macro_rules! delegate {
    ($self:ident, $connector:ident => $call:expr) => {
        match $self {
            AnyConnector::Defender($connector) => $call,
            AnyConnector::Graph($connector) => $call,
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

    async fn events(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<Vec<ObservedEvent>, ConnectorError> {
        delegate!(self, c => c.events(since).await)
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
}
