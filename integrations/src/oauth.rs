//! OAuth 2.0 client-credentials tokens: the Microsoft identity platform's and CrowdStrike
//! Falcon's.
//!
//! Microsoft: `POST {login}/{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, the
//! app's id and secret and a `scope` of `{resource}/.default`; tokens live an hour. Falcon:
//! `POST {api}/oauth2/token` with the API client's id and secret (and `member_cid` for a child CID
//! under Flight Control); tokens live 30 minutes. A token is reused until five minutes before it
//! expires, and dropped early when the API answers 401.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::{sync::Mutex, time::Instant};
use url::Url;

use crate::{
    contract::ConnectorError,
    http::{Idempotency, VendorHttp},
};

/// Renew this long before the token says it expires.
const EARLY_RENEWAL: Duration = Duration::from_secs(300);

/// An API client's credentials at one token endpoint.
#[derive(Debug)]
pub struct ClientCredentials {
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    /// The form fields besides the client's id and secret.
    form: Vec<(&'static str, String)>,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    access_token: SecretString,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// The error body of the token endpoint (RFC 6749 §5.2, with Microsoft's `AADSTS` codes).
#[derive(Deserialize)]
struct TokenError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl ClientCredentials {
    /// Credentials for `scope` in directory `tenant` at `login_base` (normally
    /// `https://login.microsoftonline.com`).
    ///
    /// # Errors
    /// [`ConnectorError::Configuration`] when the URL cannot be formed.
    pub fn new(
        login_base: &Url,
        directory_id: &str,
        client_id: &str,
        client_secret: SecretString,
        scope: &str,
    ) -> Result<Self, ConnectorError> {
        let token_url = join(login_base, &format!("{directory_id}/oauth2/v2.0/token"))?;
        Ok(Self::at(
            token_url,
            client_id,
            client_secret,
            vec![
                ("grant_type", "client_credentials".to_owned()),
                ("scope", scope.to_owned()),
            ],
        ))
    }

    /// Credentials sent to `token_url` with the client's id and secret and `form`.
    #[must_use]
    pub fn at(
        token_url: Url,
        client_id: &str,
        client_secret: SecretString,
        form: Vec<(&'static str, String)>,
    ) -> Self {
        Self {
            token_url,
            client_id: client_id.to_owned(),
            client_secret,
            form,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token, from cache or freshly issued.
    ///
    /// # Errors
    /// [`ConnectorError::Authentication`] when the identity platform refuses the credentials.
    pub async fn token(&self, http: &VendorHttp) -> Result<SecretString, ConnectorError> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.access_token.clone());
        }
        let fresh = self.request(http).await?;
        let token = fresh.access_token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token, after the API rejected it.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    /// Sends the request `build` makes with this client's bearer token. Tokens can be revoked
    /// or expire early, so an answer of 401 renews the token once and sends again; any other
    /// answer is returned as it is.
    ///
    /// # Errors
    /// [`ConnectorError`] when no token is issued or the request cannot be sent.
    pub(crate) async fn send(
        &self,
        http: &VendorHttp,
        build: impl Fn() -> reqwest::RequestBuilder,
        idempotency: Idempotency,
    ) -> Result<reqwest::Response, ConnectorError> {
        let mut renewed = false;
        loop {
            let token = self.token(http).await?;
            let request = build()
                .bearer_auth(token.expose_secret())
                .build()
                .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
            let response = http.send(request, idempotency).await?;
            if response.status() == StatusCode::UNAUTHORIZED && !renewed {
                self.invalidate().await;
                renewed = true;
                continue;
            }
            return Ok(response);
        }
    }

    /// Sends `method url` with this client's bearer token, `headers`, and `body` as JSON. A
    /// success or a 404 (which callers read as "no such record") is returned; any other answer
    /// becomes the error `read_error` makes of its status and body.
    ///
    /// # Errors
    /// [`ConnectorError`] when no token is issued, the request cannot be sent, or the vendor
    /// refuses it.
    pub(crate) async fn call(
        &self,
        http: &VendorHttp,
        request: VendorRequest<'_>,
        read_error: ErrorReader,
    ) -> Result<reqwest::Response, ConnectorError> {
        let build = || {
            let mut builder = http
                .client()
                .request(request.method.clone(), request.url.clone());
            for (name, value) in request.headers {
                builder = builder.header(*name, *value);
            }
            match request.body {
                Some(body) => builder.json(body),
                None => builder,
            }
        };
        let response = self.send(http, build, request.idempotency).await?;
        checked(response, read_error).await
    }

    async fn request(&self, http: &VendorHttp) -> Result<CachedToken, ConnectorError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        form.extend(
            self.form
                .iter()
                .map(|(name, value)| (*name, value.as_str())),
        );
        let request = http
            .client()
            .request(Method::POST, self.token_url.clone())
            .form(&form)
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        // Issuing a token changes nothing at the vendor, so retrying it is safe.
        let response = http
            .send(request, Idempotency::Idempotent)
            .await
            .map_err(ConnectorError::from)?;
        let status = response.status();
        if status.is_success() {
            let body: TokenResponse = response
                .json()
                .await
                .map_err(|e| ConnectorError::Protocol(format!("unreadable token response: {e}")))?;
            let lifetime = Duration::from_secs(body.expires_in);
            return Ok(CachedToken {
                access_token: SecretString::from(body.access_token),
                renew_at: Instant::now() + lifetime.saturating_sub(EARLY_RENEWAL),
            });
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<TokenError>(&text) {
            Ok(error) => Err(ConnectorError::Authentication(format!(
                "the identity platform refused the credentials ({}): {}",
                error.error,
                error.error_description.unwrap_or_default()
            ))),
            Err(_) if status == StatusCode::NOT_FOUND => Err(ConnectorError::Configuration(
                format!("no token endpoint at {}", self.token_url),
            )),
            Err(_) if matches!(status.as_u16(), 400 | 401 | 403) => {
                Err(ConnectorError::Authentication(format!(
                    "the token endpoint refused the credentials (HTTP {}): {}",
                    status.as_u16(),
                    text.chars().take(300).collect::<String>()
                )))
            }
            Err(_) => Err(ConnectorError::Protocol(format!(
                "token endpoint answered HTTP {status}"
            ))),
        }
    }
}

/// How a vendor's error answer (its status and body) becomes the contract's error.
pub(crate) type ErrorReader = fn(StatusCode, &str) -> ConnectorError;

/// One request to a vendor API.
#[derive(Debug)]
pub(crate) struct VendorRequest<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    /// Headers besides the bearer token.
    pub(crate) headers: &'a [(&'static str, &'static str)],
    /// Sent as JSON.
    pub(crate) body: Option<&'a serde_json::Value>,
    pub(crate) idempotency: Idempotency,
}

/// A success or a 404 (which callers read as "no such record") as it is; any other answer as
/// the error `read_error` makes of its status and body.
///
/// # Errors
/// The vendor's refusal, as `read_error` reads it.
pub(crate) async fn checked(
    response: reqwest::Response,
    read_error: ErrorReader,
) -> Result<reqwest::Response, ConnectorError> {
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_FOUND {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    Err(read_error(status, &text))
}

/// The JSON document of a successful answer; `None` for a 404.
///
/// # Errors
/// [`ConnectorError::Protocol`] when the body is not the expected JSON.
pub(crate) async fn optional_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<Option<T>, ConnectorError> {
    if response.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    crate::contract::read_json(response).await.map(Some)
}

/// Joins a relative path onto a base URL, keeping the base's path.
///
/// # Errors
/// [`ConnectorError::Configuration`] when the result is not a URL.
pub fn join(base: &Url, path: &str) -> Result<Url, ConnectorError> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path.trim_start_matches('/'))
        .map_err(|e| ConnectorError::Configuration(format!("bad URL {base}{path}: {e}")))
}
