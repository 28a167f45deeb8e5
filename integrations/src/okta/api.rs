//! Requests to one Okta org: SSWS authentication, `Link` paging and Okta's error bodies.

use reqwest::{Method, Response, StatusCode, header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use crate::{
    contract::{ConnectorError, read_json},
    http::{Idempotency, VendorHttp},
};

/// Okta's error body (`Error` in the management API description).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_code: String,
    #[serde(default)]
    error_summary: String,
    #[serde(default)]
    error_causes: Vec<ErrorCause>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorCause {
    #[serde(default)]
    error_summary: String,
}

/// An Okta org's management API, authenticated with an API token.
#[derive(Debug)]
pub(crate) struct OktaApi {
    http: VendorHttp,
    /// The org URL, ending in `/`, so API paths join below it.
    org: Url,
    token: SecretString,
}

impl OktaApi {
    pub(crate) fn new(http: VendorHttp, org: &Url, token: SecretString) -> Self {
        let mut org = org.clone();
        if !org.path().ends_with('/') {
            let path = format!("{}/", org.path());
            org.set_path(&path);
        }
        Self { http, org, token }
    }

    /// `path` (relative, e.g. `api/v1/users`) below the org URL.
    pub(crate) fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        self.org
            .join(path)
            .map_err(|e| ConnectorError::Configuration(format!("bad Okta URL for {path}: {e}")))
    }

    /// Sends a request; success and 404 are returned, any other answer becomes the contract's
    /// error by Okta's `errorCode`.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        idempotency: Idempotency,
    ) -> Result<Response, ConnectorError> {
        let request = self
            .http
            .client()
            .request(method, url)
            .header(
                header::AUTHORIZATION,
                format!("SSWS {}", self.token.expose_secret()),
            )
            .header(header::ACCEPT, "application/json")
            .build()
            .map_err(|e| ConnectorError::Configuration(e.to_string()))?;
        let response = self.http.send(request, idempotency).await?;
        let status = response.status();
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(response);
        }
        Err(error_from(response).await)
    }

    /// GETs one JSON document; `None` on 404.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: Url,
    ) -> Result<Option<T>, ConnectorError> {
        let response = self.send(Method::GET, url, Idempotency::Idempotent).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        read_json(response).await.map(Some)
    }

    /// Every item of a collection paged by `Link: <…>; rel="next"` headers. A polling System Log
    /// request always has a next link, so an empty page ends the walk too.
    pub(crate) async fn collect_linked<T: DeserializeOwned>(
        &self,
        first: Url,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(url) = next.take() {
            let response = self.send(Method::GET, url, Idempotency::Idempotent).await?;
            if response.status() == StatusCode::NOT_FOUND {
                break;
            }
            let link = next_link(response.headers())?;
            let page: Vec<T> = read_json(response).await?;
            if page.is_empty() {
                break;
            }
            items.extend(page);
            next = link;
        }
        Ok(items)
    }
}

/// The `rel="next"` target among a response's `Link` headers (Okta sends one header per link).
fn next_link(headers: &header::HeaderMap) -> Result<Option<Url>, ConnectorError> {
    for value in headers.get_all(header::LINK) {
        let value = value
            .to_str()
            .map_err(|_| ConnectorError::Protocol("a Link header that is not text".into()))?;
        let links = parse_link_header::parse_with_rel(value)
            .map_err(|e| ConnectorError::Protocol(format!("bad Link header {value:?}: {e:?}")))?;
        if let Some(next) = links.get("next") {
            return Url::parse(&next.raw_uri)
                .map(Some)
                .map_err(|e| ConnectorError::Protocol(format!("bad next link: {e}")));
        }
    }
    Ok(None)
}

/// Maps an Okta error answer to the contract's error by HTTP status and `errorCode`.
async fn error_from(response: Response) -> ConnectorError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => {
            let causes: Vec<String> = body
                .error_causes
                .into_iter()
                .map(|c| c.error_summary)
                .filter(|s| !s.is_empty())
                .collect();
            let message = if causes.is_empty() {
                body.error_summary
            } else {
                format!("{} ({})", body.error_summary, causes.join("; "))
            };
            (Some(body.error_code), message)
        }
        Err(_) => (None, text),
    };
    ConnectorError::refusal(status, code, &message)
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue, LINK};

    use super::*;

    #[test]
    fn the_next_link_is_found_among_separate_link_headers() {
        let mut headers = HeaderMap::new();
        headers.append(
            LINK,
            HeaderValue::from_static("<https://acme.okta.com/api/v1/users?limit=2>; rel=\"self\""),
        );
        headers.append(
            LINK,
            HeaderValue::from_static(
                "<https://acme.okta.com/api/v1/users?after=00u2&limit=2>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_link(&headers).unwrap().unwrap().as_str(),
            "https://acme.okta.com/api/v1/users?after=00u2&limit=2"
        );
        headers.remove(LINK);
        assert_eq!(next_link(&headers).unwrap(), None);
    }

    #[test]
    fn the_org_url_gains_a_trailing_slash_so_paths_stay_below_it() {
        let api = OktaApi::new(
            VendorHttp::new(crate::http::RetryPolicy::default()).unwrap(),
            &Url::parse("http://127.0.0.1:1/sandbox/okta/acme").unwrap(),
            SecretString::from("t"),
        );
        assert_eq!(
            api.url("api/v1/users").unwrap().as_str(),
            "http://127.0.0.1:1/sandbox/okta/acme/api/v1/users"
        );
    }
}
