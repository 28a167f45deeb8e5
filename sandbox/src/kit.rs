//! What the simulated vendors share: admitting an API call ([`Gate`], [`Admitted`]), reading a
//! request's bearer token and query ([`QueryPairs`]), the OAuth access tokens a vendor issues
//! (each names its customer, the scopes it was granted and when it expires) and the
//! client-credentials grant that asks for them, and paging — reading a list request's numbers and
//! windows ([`Window`]) and slicing a page out of a list. Injected 429 storms are in
//! [`crate::throttle`].
//!
//! Each vendor keeps its own error body (Falcon's `{meta, errors}`, Graph's `{error}`, Okta's
//! `errorCode`/`errorSummary`, …) in one function of its module, as the real APIs differ: the
//! kit says *what* is wrong ([`BadParameter`]) and the vendor says it in its own words.

use std::{
    collections::HashMap, convert::Infallible, fmt, marker::PhantomData, str::FromStr, sync::Mutex,
    time::Duration,
};

use axum::{
    Json,
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{Environment, Sandbox};

/// How a vendor admits an API call: whom its credentials name (the customer, for most vendors),
/// or the vendor's refusal in its own words (401, 403, an injected 429, …).
pub(crate) trait Gate {
    /// Whom an admitted call is for.
    type Caller: Send;

    fn admit(
        sandbox: &Sandbox,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Self::Caller, Response>> + Send;
}

/// An API call its vendor's [`Gate`] admitted, with the sandbox that answers it: an extractor, so
/// the credentials and throttling are checked once before a handler runs, not in every handler.
pub(crate) struct Admitted<G: Gate>(pub(crate) Sandbox, pub(crate) G::Caller);

impl<G: Gate> FromRequestParts<Sandbox> for Admitted<G> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, sandbox: &Sandbox) -> Result<Self, Response> {
        let caller = G::admit(sandbox, &parts.headers).await?;
        Ok(Self(sandbox.clone(), caller))
    }
}

/// The customer whose environment `matches`, if any: vendors that issue credentials per customer
/// find the caller so.
pub(crate) async fn customer_where(
    sandbox: &Sandbox,
    matches: impl Fn(&Environment) -> bool,
) -> Option<Uuid> {
    let environments = sandbox.inner.environments.lock().await;
    environments
        .values()
        .find(|e| matches(e))
        .map(|e| e.tenant_id)
}

/// The record a vendor keeps of the customer itself (its client, company or organization) when
/// `id` names it, as `render` shows it: a customer's credentials see no other.
pub(crate) async fn own_record<Id: FromStr + PartialEq>(
    (sandbox, tenant): (&Sandbox, Uuid),
    id: &str,
    own_id: impl FnOnce(&Environment) -> Id,
    render: impl FnOnce(&Environment) -> Value,
) -> Option<Value> {
    crate::with_environment(sandbox, tenant, |e| {
        (id.parse::<Id>().ok() == Some(own_id(e))).then(|| render(e))
    })
    .await
    .flatten()
}

/// A vendor whose OAuth tokens carry scopes: the scopes its calls need (numbered for
/// [`Scoped`]), and how it admits a call that needs one of them.
pub(crate) trait Scopes {
    const SCOPES: &'static [&'static str];

    fn admit(sandbox: &Sandbox, headers: &HeaderMap, scope: &str) -> Result<Uuid, Response>;
}

/// The [`Gate`] of a call that needs vendor `V`'s scope number `N`, so each handler names the
/// scope it needs in its type.
pub(crate) struct Scoped<V, const N: usize>(PhantomData<V>);

impl<V: Scopes, const N: usize> Gate for Scoped<V, N> {
    type Caller = Uuid;

    async fn admit(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Uuid, Response> {
        V::admit(sandbox, headers, V::SCOPES[N])
    }
}

/// A request's query pairs as [`query`] reads them: an extractor, so handlers take the pairs
/// instead of each decoding the raw query.
pub(crate) struct QueryPairs(pub(crate) Vec<(String, String)>);

impl<S: Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(query(parts.uri.query())))
    }
}

/// A handler's answer: its response, or the refusal it stopped at (`?` returns it as it is).
pub(crate) type Answer = Result<Response, Response>;

/// `response` with `Retry-After: 1`, as the vendors that throttle in short bursts send it.
pub(crate) fn retry_after_a_second(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// The host a request was sent to (`127.0.0.1` without a `Host` header), for the links vendors
/// put in their answers.
pub(crate) fn host(headers: &HeaderMap) -> &str {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
}

/// The bearer token a request presents (`Authorization: Bearer …`), if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The randomness a token needs is unavailable.
#[derive(Debug)]
pub(crate) struct NoRandomness;

/// A live token's holder: the customer and the scopes granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) tenant: Uuid,
    pub(crate) scopes: Vec<String>,
}

impl Holder {
    /// Whether the token was granted `scope` (or one of `covering`, which grant every scope).
    pub(crate) fn may(&self, scope: &str, covering: &[&str]) -> bool {
        self.scopes
            .iter()
            .any(|s| s == scope || covering.contains(&s.as_str()))
    }
}

/// The access tokens one simulated vendor issued.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: Mutex<HashMap<String, (Holder, Instant)>>,
}

impl Tokens {
    /// A new random token for `tenant` with `scopes`, living `lifetime`.
    pub(crate) fn issue(
        &self,
        tenant: Uuid,
        scopes: Vec<String>,
        lifetime: Duration,
    ) -> Result<String, NoRandomness> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| NoRandomness)?;
        let token = hex::encode(bytes);
        self.issued.lock().expect("token map poisoned").insert(
            token.clone(),
            (Holder { tenant, scopes }, Instant::now() + lifetime),
        );
        Ok(token)
    }

    /// Who holds the request's bearer token, while it lives.
    pub(crate) fn holder(&self, headers: &HeaderMap) -> Option<Holder> {
        let token = bearer(headers)?;
        let issued = self.issued.lock().expect("token map poisoned");
        issued
            .get(token)
            .filter(|(_, expires)| Instant::now() < *expires)
            .map(|(holder, _)| holder.clone())
    }

    /// Ends every token issued to `tenant`, as a revoked API client's are.
    pub(crate) fn revoke(&self, tenant: Uuid) {
        self.issued
            .lock()
            .expect("token map poisoned")
            .retain(|_, (holder, _)| holder.tenant != tenant);
    }
}

/// The form of an OAuth client-credentials token request, as the vendors that take one read it
/// (a missing field reads as empty).
#[derive(Debug, Deserialize)]
pub(crate) struct ClientCredentials {
    #[serde(default)]
    pub(crate) grant_type: String,
    #[serde(default)]
    pub(crate) client_id: String,
    #[serde(default)]
    pub(crate) client_secret: String,
    #[serde(default)]
    pub(crate) scope: String,
}

impl ClientCredentials {
    /// The requested scopes the vendor knows (`known`); others are dropped, as the vendors do.
    pub(crate) fn scopes(&self, known: &[&str]) -> Vec<String> {
        self.scope
            .split_whitespace()
            .filter(|s| known.contains(s))
            .map(str::to_owned)
            .collect()
    }
}

/// An OAuth error answer (`{"error": …}`) of a token endpoint.
pub(crate) fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// A token endpoint's answer granting `access_token` for `lifetime` with `scope` (the granted
/// scopes, space-separated).
pub(crate) fn bearer_grant(access_token: &str, lifetime: Duration, scope: &str) -> Response {
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "scope": scope,
    }))
    .into_response()
}

/// A query string's pairs, decoded (OData option names keep their `$`); an unreadable query
/// has none.
pub(crate) fn query(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default()
}

/// The value of the query parameter `name`, spelled exactly so.
pub(crate) fn param<'q>(pairs: &'q [(String, String)], name: &str) -> Option<&'q str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A query parameter a vendor refuses. Its `Display` is a plain sentence a vendor may use as
/// its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BadParameter {
    /// Not a number.
    NotANumber { name: String, value: String },
    /// A number outside what the vendor allows.
    OutOfRange {
        name: String,
        min: usize,
        max: usize,
    },
}

impl fmt::Display for BadParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotANumber { name, value } => write!(f, "{name} must be a number, got {value:?}"),
            Self::OutOfRange { name, min, max } => {
                write!(f, "{name} must be between {min} and {max}")
            }
        }
    }
}

/// The numeric query parameter `name`, if present.
pub(crate) fn number<T: FromStr>(
    pairs: &[(String, String)],
    name: &str,
) -> Result<Option<T>, BadParameter> {
    param(pairs, name)
        .map(|value| {
            value.parse().map_err(|_| BadParameter::NotANumber {
                name: name.to_owned(),
                value: value.to_owned(),
            })
        })
        .transpose()
}

/// The numeric query parameter `name` within `min..=max`, `fallback` when absent.
pub(crate) fn bounded(
    pairs: &[(String, String)],
    name: &str,
    fallback: usize,
    (min, max): (usize, usize),
) -> Result<usize, BadParameter> {
    let value = number(pairs, name)?.unwrap_or(fallback);
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(BadParameter::OutOfRange {
            name: name.to_owned(),
            min,
            max,
        })
    }
}

/// How a list names its page size: the parameter, its default and its maximum.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageSize {
    pub(crate) name: &'static str,
    pub(crate) default: usize,
    pub(crate) max: usize,
}

/// The slice of a list one page holds: where it starts and how many items it holds at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) offset: usize,
    pub(crate) size: usize,
}

impl Window {
    /// A window read from an offset parameter (`0` when absent) and a page size.
    pub(crate) fn by_offset(
        pairs: &[(String, String)],
        offset: &str,
        size: PageSize,
    ) -> Result<Self, BadParameter> {
        Ok(Self {
            offset: number(pairs, offset)?.unwrap_or(0),
            size: bounded(pairs, size.name, size.default, (1, size.max))?,
        })
    }

    /// A window read from a page number counted from 1 (`1` when absent) and a page size; the
    /// page number comes back too, as such lists echo it.
    pub(crate) fn by_page_number(
        pairs: &[(String, String)],
        page: &str,
        size: PageSize,
    ) -> Result<(usize, Self), BadParameter> {
        let number = bounded(pairs, page, 1, (1, usize::MAX))?;
        let size = bounded(pairs, size.name, size.default, (1, size.max))?;
        Ok((
            number,
            Self {
                offset: (number - 1).saturating_mul(size),
                size,
            },
        ))
    }

    /// The page out of `items`.
    pub(crate) fn slice<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        items
            .into_iter()
            .skip(self.offset)
            .take(self.size)
            .collect()
    }

    /// Whether items follow this page in a list of `total`.
    pub(crate) fn more_after(self, total: usize) -> bool {
        self.offset.saturating_add(self.size) < total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query_string: &str) -> Vec<(String, String)> {
        query(Some(query_string))
    }

    const SIZE: PageSize = PageSize {
        name: "pageSize",
        default: 25,
        max: 100,
    };

    #[test]
    fn windows_read_offsets_and_page_numbers_within_the_vendors_bounds() {
        assert_eq!(
            Window::by_offset(&pairs(""), "offset", SIZE),
            Ok(Window {
                offset: 0,
                size: 25
            })
        );
        assert_eq!(
            Window::by_page_number(&pairs("page=3&pageSize=10"), "page", SIZE),
            Ok((
                3,
                Window {
                    offset: 20,
                    size: 10
                }
            ))
        );
        let refused = Window::by_offset(&pairs("offset=x"), "offset", SIZE).unwrap_err();
        assert_eq!(refused.to_string(), "offset must be a number, got \"x\"");
        let refused = Window::by_page_number(&pairs("pageSize=101"), "page", SIZE).unwrap_err();
        assert_eq!(refused.to_string(), "pageSize must be between 1 and 100");
        assert!(Window::by_page_number(&pairs("page=0"), "page", SIZE).is_err());
        assert!(Window::by_offset(&pairs("pageSize=0"), "offset", SIZE).is_err());
    }

    #[test]
    fn a_window_slices_its_page_and_knows_whether_more_follow() {
        let window = Window { offset: 2, size: 2 };
        assert_eq!(window.slice(1..=5), vec![3, 4]);
        assert!(window.more_after(5));
        assert!(!window.more_after(4));
        assert_eq!(window.slice(1..=2), Vec::<i32>::new());
    }

    fn presenting(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_token_names_its_customer_and_scopes_until_it_expires_or_is_revoked() {
        let tokens = Tokens::default();
        let (acme, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let token = tokens
            .issue(acme, vec!["monitoring".to_owned()], Duration::from_secs(60))
            .unwrap();
        let holder = tokens.holder(&presenting(&token)).unwrap();
        assert_eq!(holder.tenant, acme);
        assert!(holder.may("monitoring", &[]));
        assert!(!holder.may("control", &[]));
        assert!(holder.may("control", &["monitoring"]), "a covering scope");
        assert_eq!(tokens.holder(&presenting("forged")), None);
        assert_eq!(tokens.holder(&HeaderMap::new()), None);
        tokens.revoke(other);
        assert!(
            tokens.holder(&presenting(&token)).is_some(),
            "another's revoked"
        );
        tokens.revoke(acme);
        assert_eq!(tokens.holder(&presenting(&token)), None, "revoked");
        let spent = tokens.issue(acme, Vec::new(), Duration::ZERO).unwrap();
        assert_eq!(tokens.holder(&presenting(&spent)), None, "expired");
    }
}
