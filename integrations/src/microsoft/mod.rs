//! Microsoft Defender for Endpoint and Microsoft Graph: one app registration, two resources.
//!
//! Both APIs share the identity platform's client-credentials tokens, OData collections
//! (`value`, `@odata.nextLink`, `$top`/`$skip`) and an error body of the form
//! `{"error": {"code", "message", …}}`. What differs lives in [`defender`] and [`graph`].

pub mod defender;
mod directory_audits;
pub mod graph;
pub mod hunting;

use std::sync::Arc;

use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use steward_domain::clock::Clock;
use url::Url;

use crate::{
    contract::ConnectorError,
    http::{Idempotency, VendorHttp},
    oauth::{self, ClientCredentials, VendorRequest},
};

/// The production sign-in host of the Microsoft identity platform.
pub const LOGIN_BASE: &str = "https://login.microsoftonline.com";

/// Settings of a Microsoft integration, as an MSP admin enters them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MicrosoftSettings {
    /// The customer's Microsoft Entra tenant (directory) id.
    pub directory_id: String,
    /// The app registration's application (client) id.
    pub client_id: String,
    /// The API's base URL; the vendor's production endpoint unless pointed at the sandbox.
    pub api_base_url: Url,
    /// The identity platform's base URL.
    pub login_base_url: Url,
}

/// An authenticated client of one Microsoft API.
#[derive(Debug)]
pub(crate) struct MicrosoftApi {
    http: VendorHttp,
    credentials: ClientCredentials,
    base: Url,
    clock: Arc<dyn Clock>,
    /// Extra headers sent with every request (Graph's `Prefer`).
    extra_headers: Vec<(&'static str, &'static str)>,
}

/// Microsoft's OData error body.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// An OData collection page.
#[derive(Debug, Deserialize)]
pub(crate) struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

impl MicrosoftApi {
    pub(crate) fn new(
        http: VendorHttp,
        settings: &MicrosoftSettings,
        secret: SecretString,
        scope: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConnectorError> {
        let credentials = ClientCredentials::new(
            &settings.login_base_url,
            &settings.directory_id,
            &settings.client_id,
            secret,
            scope,
        )?;
        Ok(Self {
            http,
            credentials,
            base: settings.api_base_url.clone(),
            clock,
            extra_headers: Vec::new(),
        })
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.extra_headers.push((name, value));
        self
    }

    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// `path` (with its query) resolved against the API's base URL.
    pub(crate) fn url(&self, path_and_query: &str) -> Result<Url, ConnectorError> {
        oauth::join(&self.base, path_and_query)
    }

    /// Sends a request with a bearer token; a 401 renews the token once. Errors from the
    /// vendor's error body become [`ConnectorError`]s; a 404 is returned to the caller.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<Response, ConnectorError> {
        let request = VendorRequest {
            method,
            url,
            headers: &self.extra_headers,
            body,
            idempotency,
        };
        self.credentials.call(&self.http, request, error_from).await
    }

    /// GETs one JSON document; `None` on 404.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Option<T>, ConnectorError> {
        let response = self
            .send(Method::GET, url, None, Idempotency::Idempotent)
            .await?;
        oauth::optional_json(response).await
    }

    /// Every item of a collection that pages with `@odata.nextLink`.
    pub(crate) async fn collect_linked<T: DeserializeOwned>(
        &self,
        first: Url,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let Some(page) = self.get_json::<Page<T>>(url).await? else {
                break;
            };
            items.extend(page.value);
            next = page
                .next_link
                .map(|link| {
                    Url::parse(&link)
                        .map_err(|e| ConnectorError::Protocol(format!("bad @odata.nextLink: {e}")))
                })
                .transpose()?;
        }
        Ok(items)
    }

    /// Every item of a collection paged with `$top`/`$skip`, following `@odata.nextLink` instead
    /// when the vendor returns one. A 404 is an empty collection (Defender answers 404 when there
    /// is nothing recent).
    pub(crate) async fn collect_skipping<T: DeserializeOwned>(
        &self,
        path: &str,
        filter: Option<&str>,
        page_size: usize,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut items: Vec<T> = Vec::new();
        let mut skip = 0usize;
        loop {
            let mut url = self.url(path)?;
            {
                let mut query = url.query_pairs_mut();
                if let Some(filter) = filter {
                    query.append_pair("$filter", filter);
                }
                query.append_pair("$top", &page_size.to_string());
                if skip > 0 {
                    query.append_pair("$skip", &skip.to_string());
                }
            }
            let Some(page) = self.get_json::<Page<T>>(url).await? else {
                return Ok(items);
            };
            let received = page.value.len();
            items.extend(page.value);
            if let Some(link) = page.next_link {
                let link = Url::parse(&link)
                    .map_err(|e| ConnectorError::Protocol(format!("bad @odata.nextLink: {e}")))?;
                items.extend(self.collect_linked(link).await?);
                return Ok(items);
            }
            if received < page_size {
                return Ok(items);
            }
            skip += received;
        }
    }
}

/// Maps an error response to the contract's error, by the vendor's error code (never its
/// message, which Microsoft says may change).
fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    match serde_json::from_str::<ErrorEnvelope>(text) {
        Ok(envelope) => {
            ConnectorError::refusal(status, Some(envelope.error.code), &envelope.error.message)
        }
        Err(_) => ConnectorError::refusal(status, None, text),
    }
}
