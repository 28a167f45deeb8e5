//! Requests to the NinjaOne Public API v2: OAuth2 bearer tokens from the instance's token
//! endpoint, bare JSON answers, and NinjaOne's `{resultCode, errorMessage, incidentId}` errors.

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use crate::{
    contract::ConnectorError,
    http::{Idempotency, VendorHttp},
    oauth::{self, ClientCredentials, VendorRequest},
};

/// The scopes Steward asks for: reading devices and patches (`monitoring`), and running scripts
/// (`management`, `control`).
const SCOPES: &str = "monitoring management control";

/// NinjaOne's error body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiError {
    #[serde(default)]
    result_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    incident_id: Option<String>,
    /// OAuth-style errors (`{"error": "invalid_token"}`).
    #[serde(default)]
    error: Option<String>,
}

/// An MSP's NinjaOne instance, as one API client.
#[derive(Debug)]
pub(crate) struct NinjaApi {
    http: VendorHttp,
    base: Url,
    credentials: ClientCredentials,
}

impl NinjaApi {
    pub(crate) fn new(
        http: VendorHttp,
        base: &Url,
        client_id: &str,
        secret: SecretString,
    ) -> Result<Self, ConnectorError> {
        let token_url = oauth::join(base, "ws/oauth/token")?;
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", SCOPES.to_owned()),
        ];
        Ok(Self {
            http,
            base: base.clone(),
            credentials: ClientCredentials::at(token_url, client_id, secret, form),
        })
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        oauth::join(&self.base, path)
    }

    /// `GET` and read the JSON answer (a 401 renews the token once); 404 is `None`.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Option<T>, ConnectorError> {
        let response = self
            .send(Method::GET, url, None, Idempotency::Idempotent)
            .await?;
        oauth::optional_json(response).await
    }

    /// Sends a request (a 401 renews the token once); success and 404 are returned.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<reqwest::Response, ConnectorError> {
        let request = VendorRequest {
            method,
            url,
            headers: &[("accept", "application/json")],
            body,
            idempotency,
        };
        self.credentials.call(&self.http, request, error_from).await
    }
}

/// Maps an error answer to the contract's error by HTTP status, with NinjaOne's message.
fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let (code, message) = match serde_json::from_str::<ApiError>(text) {
        Ok(error) => {
            let code = error.result_code.or(error.error);
            let mut message = error.error_message.unwrap_or_default();
            if let Some(incident) = error.incident_id {
                message = format!("{message} (incident {incident})");
            }
            (code, message)
        }
        Err(_) => (None, text.chars().take(300).collect()),
    };
    ConnectorError::refusal(status, code, &message)
}
