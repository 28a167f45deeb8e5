//! Requests to the CrowdStrike Falcon API: OAuth2 bearer tokens, the `meta`/`resources`/`errors`
//! envelope and its error codes.

use reqwest::{Method, Response, StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use crate::{
    contract::ConnectorError,
    http::{Idempotency, VendorHttp},
    oauth::{self, ClientCredentials, VendorRequest},
};

/// Falcon's answer envelope.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    #[serde(default)]
    pub(crate) meta: Meta,
    #[serde(default = "Vec::new")]
    pub(crate) resources: Vec<T>,
    #[serde(default)]
    pub(crate) errors: Option<Vec<ApiError>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Meta {
    #[serde(default)]
    pub(crate) pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Pagination {
    #[serde(default)]
    pub(crate) total: usize,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApiError {
    #[serde(default)]
    pub(crate) code: u16,
    #[serde(default)]
    pub(crate) message: String,
}

/// One customer's Falcon API, as an API client.
#[derive(Debug)]
pub(crate) struct FalconApi {
    http: VendorHttp,
    base: Url,
    credentials: ClientCredentials,
}

impl FalconApi {
    pub(crate) fn new(
        http: VendorHttp,
        base: &Url,
        client_id: &str,
        secret: SecretString,
        member_cid: Option<&str>,
    ) -> Result<Self, ConnectorError> {
        let token_url = oauth::join(base, "oauth2/token")?;
        let form = member_cid
            .map(|cid| vec![("member_cid", cid.to_owned())])
            .unwrap_or_default();
        Ok(Self {
            http,
            base: base.clone(),
            credentials: ClientCredentials::at(token_url, client_id, secret, form),
        })
    }

    pub(crate) fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        oauth::join(&self.base, path)
    }

    /// Sends a request with a bearer token; a 401 renews the token once. Success and 404 are
    /// returned; anything else becomes the contract's error with Falcon's message.
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
            headers: &[("accept", "application/json")],
            body,
            idempotency,
        };
        self.credentials.call(&self.http, request, error_from).await
    }

    /// Sends and reads the envelope; 404 is `None`.
    pub(crate) async fn envelope<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        idempotency: Idempotency,
    ) -> Result<Option<Envelope<T>>, ConnectorError> {
        let response = self.send(method, url, body, idempotency).await?;
        oauth::optional_json(response).await
    }

    /// Every id a query endpoint matches, following `offset` until `meta.pagination.total`.
    pub(crate) async fn query_ids(
        &self,
        path: &str,
        filter: Option<&str>,
        page_size: usize,
    ) -> Result<Vec<String>, ConnectorError> {
        let mut ids: Vec<String> = Vec::new();
        loop {
            let mut url = self.url(path)?;
            {
                let mut query = url.query_pairs_mut();
                if let Some(filter) = filter {
                    query.append_pair("filter", filter);
                }
                query
                    .append_pair("offset", &ids.len().to_string())
                    .append_pair("limit", &page_size.to_string());
            }
            let Some(page) = self
                .envelope::<String>(Method::GET, url, None, Idempotency::Idempotent)
                .await?
            else {
                return Ok(ids);
            };
            let received = page.resources.len();
            ids.extend(page.resources);
            let total = page.meta.pagination.map_or(ids.len(), |p| p.total);
            if received == 0 || ids.len() >= total {
                return Ok(ids);
            }
        }
    }
}

/// Maps an error answer to the contract's error by HTTP status, with Falcon's messages.
fn error_from(status: StatusCode, text: &str) -> ConnectorError {
    let message = serde_json::from_str::<Envelope<serde_json::Value>>(text)
        .ok()
        .and_then(|e| e.errors)
        .map(|errors| {
            errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| text.to_owned());
    ConnectorError::refusal(status, None, &message)
}
