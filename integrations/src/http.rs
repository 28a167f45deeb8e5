//! The one HTTP layer every connector sends through.
//!
//! It carries the retry rules vendors publish and that are easy to get wrong one connector at a
//! time:
//!
//! - **429** means the vendor did not process the request, so it is retried whatever the method,
//!   after the `Retry-After` the vendor asked for (integer or fractional seconds, or an HTTP date),
//!   or exponential backoff when it sent none.
//! - **5xx, timeouts and dropped connections** are retried with backoff only for idempotent
//!   requests. For a non-idempotent one the outcome is unknown; the caller gets
//!   [`HttpError::OutcomeUnknown`] and must find out at the vendor before trying again.
//! - A request that never reached the vendor (connection refused) is safe to retry for any method.
//!
//! When the process shuts down, waits between retries end at once and no retry starts: the
//! job that sent the request fails and runs again after the restart (jobs are idempotent).
//!
//! Every request first passes the deployment's [`EgressPolicy`]: its URL and every address its
//! host resolves to are checked, and the request goes to those addresses only.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, Once},
    time::Duration,
};

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Client, ClientBuilder, Method, Request, Response, StatusCode, header::HeaderMap};
use tokio::sync::watch;

use crate::egress::{CheckedTarget, EgressError, EgressPolicy};

/// Whether sending a request twice has the same effect as sending it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    Idempotent,
    NonIdempotent,
}

impl Idempotency {
    /// The HTTP semantics of `method` (RFC 9110 §9.2.2).
    #[must_use]
    pub fn of(method: &Method) -> Idempotency {
        if matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
        ) {
            Idempotency::Idempotent
        } else {
            Idempotency::NonIdempotent
        }
    }
}

/// How hard to try.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for throttling and transient failures together.
    pub max_retries: usize,
    /// First backoff when the vendor gave no `Retry-After`.
    pub min_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured; a vendor asking for more ends the attempt as throttled.
    pub max_retry_after: Duration,
    /// Timeout of one attempt.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a request failed after the retries allowed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The vendor kept throttling.
    #[error("the vendor is throttling requests (HTTP 429), retry after {retry_after:?}")]
    Throttled { retry_after: Option<Duration> },
    /// The vendor failed (5xx) or could not be reached, for an idempotent request.
    #[error("the vendor is unavailable: {0}")]
    Unavailable(String),
    /// A non-idempotent request may or may not have taken effect.
    #[error("the vendor's answer was lost, so it is unknown whether the request took effect: {0}")]
    OutcomeUnknown(String),
    /// The request could not be built or sent (bad URL, body not replayable).
    #[error("the request could not be sent: {0}")]
    Request(String),
    /// The deployment's egress rule forbids the target; nothing was sent.
    #[error("Steward does not send requests there: {0}")]
    Refused(#[from] EgressError),
}

/// The failure of one attempt, before the retry decision.
#[derive(Debug)]
enum Attempt {
    Throttled(Option<Duration>),
    ServerError(StatusCode, Option<Duration>),
    NotSent(String),
    Lost(String),
}

impl Attempt {
    fn retryable(&self, idempotency: Idempotency) -> bool {
        match self {
            Attempt::Throttled(_) | Attempt::NotSent(_) => true,
            Attempt::ServerError(..) | Attempt::Lost(_) => idempotency == Idempotency::Idempotent,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Attempt::Throttled(after) | Attempt::ServerError(_, after) => *after,
            Attempt::NotSent(_) | Attempt::Lost(_) => None,
        }
    }

    fn into_error(self, idempotency: Idempotency) -> HttpError {
        match (self, idempotency) {
            (Attempt::Throttled(retry_after), _) => HttpError::Throttled { retry_after },
            (Attempt::NotSent(e), _) => HttpError::Unavailable(e),
            (Attempt::ServerError(status, _), Idempotency::Idempotent) => {
                HttpError::Unavailable(format!("HTTP {status}"))
            }
            (Attempt::Lost(e), Idempotency::Idempotent) => HttpError::Unavailable(e),
            (Attempt::ServerError(status, _), Idempotency::NonIdempotent) => {
                HttpError::OutcomeUnknown(format!("HTTP {status}"))
            }
            (Attempt::Lost(e), Idempotency::NonIdempotent) => HttpError::OutcomeUnknown(e),
        }
    }
}

/// An HTTP client with the vendor retry rules, sending only where the [`EgressPolicy`] allows.
#[derive(Debug, Clone)]
pub struct VendorHttp {
    client: Client,
    policy: RetryPolicy,
    egress: EgressPolicy,
    /// Clients whose host is pinned to the addresses checked for it.
    pinned: Arc<Mutex<HashMap<PinnedHost, Client>>>,
    /// Turns true when the process shuts down: waits between retries end, and no retry starts.
    shutdown: Option<watch::Receiver<bool>>,
}

/// A host name and the addresses a request to it may go to.
type PinnedHost = (String, Vec<SocketAddr>);

static TLS_PROVIDER: Once = Once::new();

/// Installs ring as the process's TLS provider, once. Two providers are linked (OpenID Connect's
/// HTTP client brings its own), and rustls refuses to guess between them.
pub fn install_tls_provider() {
    TLS_PROVIDER.call_once(|| {
        // An error means another part of the process installed one first; that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl VendorHttp {
    /// A client following `policy`.
    ///
    /// # Errors
    /// When the TLS stack cannot be initialised.
    /// Requests go to public `https` targets only until [`VendorHttp::with_egress`] says more.
    ///
    /// # Errors
    /// When the TLS stack cannot be initialised.
    pub fn new(policy: RetryPolicy) -> Result<Self, HttpError> {
        install_tls_provider();
        let client = builder(&policy)
            .build()
            .map_err(|e| HttpError::Request(e.to_string()))?;
        Ok(Self {
            client,
            policy,
            egress: EgressPolicy::public_only(),
            pinned: Arc::default(),
            shutdown: None,
        })
    }

    /// The same client, retrying no more once `shutdown` turns true.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    fn stopping(&self) -> bool {
        self.shutdown.as_ref().is_some_and(|stop| *stop.borrow())
    }

    /// The same client under the deployment's egress rule.
    #[must_use]
    pub fn with_egress(mut self, egress: EgressPolicy) -> Self {
        self.egress = egress;
        self
    }

    /// A client that sends to `target`'s checked addresses only.
    fn client_for(&self, target: &CheckedTarget) -> Result<Client, HttpError> {
        let Some(domain) = &target.domain else {
            // An address in the URL is never resolved again.
            return Ok(self.client.clone());
        };
        let key = (domain.clone(), target.addresses.clone());
        let mut pinned = self
            .pinned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(client) = pinned.get(&key) {
            return Ok(client.clone());
        }
        let client = builder(&self.policy)
            .resolve_to_addrs(domain, &target.addresses)
            .build()
            .map_err(|e| HttpError::Request(e.to_string()))?;
        pinned.insert(key, client.clone());
        Ok(client)
    }

    /// The underlying client, to build requests with.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `request`, retrying as the module documentation describes. Any response that is
    /// neither 429 nor 5xx is returned for the caller to interpret.
    ///
    /// # Errors
    /// [`HttpError`] when retries run out or the request may have taken effect without an answer.
    pub async fn send(
        &self,
        request: Request,
        idempotency: Idempotency,
    ) -> Result<Response, HttpError> {
        if request.try_clone().is_none() {
            return Err(HttpError::Request(
                "the request body cannot be replayed".into(),
            ));
        }
        let target = self.egress.check_url(request.url().clone()).await?;
        let client = self.client_for(&target)?;
        let max_retry_after = self.policy.max_retry_after;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.max_retries)
            .with_jitter();
        let method = request.method().clone();
        let url = request.url().clone();
        let sent_once = std::sync::atomic::AtomicBool::new(false);
        let attempt = || {
            let request = request.try_clone().expect("checked replayable above");
            let client = &client;
            let retry = sent_once.swap(true, std::sync::atomic::Ordering::Relaxed);
            async move {
                // Steward is stopping: no more retries; the job runs again after the restart.
                if retry && self.stopping() {
                    return Err(Attempt::NotSent("Steward is shutting down".to_owned()));
                }
                attempt(client, request).await
            }
        };
        let shutdown = self.shutdown.clone();
        attempt
            .retry(backoff)
            .sleep(move |wait| interruptible_sleep(wait, shutdown.clone()))
            .when(|failure: &Attempt| {
                !self.stopping()
                    && failure.retryable(idempotency)
                    && failure
                        .retry_after()
                        .is_none_or(|after| after <= max_retry_after)
            })
            // `planned` is `None` once the retries are spent; a Retry-After must not extend them.
            .adjust(|failure: &Attempt, planned: Option<Duration>| {
                planned.map(|backoff| failure.retry_after().unwrap_or(backoff))
            })
            .notify(|failure: &Attempt, wait| {
                tracing::info!(%method, %url, ?failure, ?wait, "vendor request will be retried");
            })
            .await
            .map_err(|failure| failure.into_error(idempotency))
    }
}

/// A wait between two attempts that ends early when Steward starts shutting down.
async fn interruptible_sleep(wait: Duration, shutdown: Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(mut shutdown) => {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
        }
        None => tokio::time::sleep(wait).await,
    }
}

fn builder(policy: &RetryPolicy) -> ClientBuilder {
    Client::builder()
        .user_agent(concat!("Steward/", env!("CARGO_PKG_VERSION")))
        .timeout(policy.request_timeout)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
}

async fn attempt(client: &Client, request: Request) -> Result<Response, Attempt> {
    let response = match client.execute(request).await {
        Ok(response) => response,
        Err(e) if e.is_connect() => return Err(Attempt::NotSent(error_text(&e))),
        Err(e) => return Err(Attempt::Lost(error_text(&e))),
    };
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(Attempt::Throttled(retry_after(response.headers())));
    }
    if status.is_server_error() {
        return Err(Attempt::ServerError(
            status,
            retry_after(response.headers()),
        ));
    }
    Ok(response)
}

fn error_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How long a vendor asks to wait: `Retry-After` as seconds (integer or fractional, as
/// Microsoft Graph sends) or as an HTTP date (RFC 9110 §10.2.3); without it, the UTC epoch
/// second that CrowdStrike Falcon's `X-RateLimit-RetryAfter` or the end of the rate-limit window
/// that Okta's `X-Rate-Limit-Reset` names (neither sends `Retry-After`).
#[must_use]
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let Some(value) = headers.get(reqwest::header::RETRY_AFTER) else {
        return rate_limit_reset(headers);
    };
    let value = value.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    #[expect(
        clippy::disallowed_methods,
        reason = "an HTTP date is relative to the real clock, not the injected one"
    )]
    let now = chrono::Utc::now();
    Some(
        (date.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// The wait until `X-RateLimit-RetryAfter` or `X-Rate-Limit-Reset` (UTC epoch seconds), zero
/// once it has passed.
fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: i64 = headers
        .get("x-ratelimit-retryafter")
        .or_else(|| headers.get("x-rate-limit-reset"))?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let reset = chrono::DateTime::from_timestamp(reset, 0)?;
    #[expect(
        clippy::disallowed_methods,
        reason = "an epoch from the vendor is relative to the real clock, not the injected one"
    )]
    let now = chrono::Utc::now();
    Some((reset - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_integer_and_fractional_seconds() {
        assert_eq!(retry_after(&headers("7")), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after(&headers("2.128")),
            Some(Duration::from_secs_f64(2.128))
        );
        assert_eq!(retry_after(&headers("-1")), None);
        assert_eq!(retry_after(&headers("soon")), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn without_retry_after_the_rate_limit_reset_epoch_is_the_wait() {
        let mut okta = HeaderMap::new();
        #[expect(clippy::disallowed_methods, reason = "the header is a real epoch")]
        let in_a_minute = chrono::Utc::now().timestamp() + 60;
        okta.insert(
            "x-rate-limit-reset",
            HeaderValue::from_str(&in_a_minute.to_string()).unwrap(),
        );
        let wait = retry_after(&okta).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        okta.insert("x-rate-limit-reset", HeaderValue::from_static("1609459200"));
        assert_eq!(retry_after(&okta), Some(Duration::ZERO), "a past reset");
        okta.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(
            retry_after(&okta),
            Some(Duration::from_secs(3)),
            "Retry-After wins"
        );
        okta.remove(RETRY_AFTER);
        okta.insert("x-rate-limit-reset", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&okta), None);
    }

    #[test]
    fn falcons_retry_after_epoch_is_the_wait() {
        let mut falcon = HeaderMap::new();
        #[expect(clippy::disallowed_methods, reason = "the header is a real epoch")]
        let in_ten_seconds = chrono::Utc::now().timestamp() + 10;
        falcon.insert(
            "x-ratelimit-retryafter",
            HeaderValue::from_str(&in_ten_seconds.to_string()).unwrap(),
        );
        let wait = retry_after(&falcon).unwrap();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
    }

    #[test]
    fn retry_after_reads_a_past_http_date_as_now() {
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn only_idempotent_requests_retry_server_errors() {
        let failure = Attempt::ServerError(StatusCode::BAD_GATEWAY, None);
        assert!(failure.retryable(Idempotency::Idempotent));
        assert!(!failure.retryable(Idempotency::NonIdempotent));
        assert!(matches!(
            failure.into_error(Idempotency::NonIdempotent),
            HttpError::OutcomeUnknown(_)
        ));
        assert!(Attempt::Throttled(None).retryable(Idempotency::NonIdempotent));
        assert!(Attempt::NotSent("refused".into()).retryable(Idempotency::NonIdempotent));
        assert!(!Attempt::Lost("reset".into()).retryable(Idempotency::NonIdempotent));
        assert_eq!(Idempotency::of(&Method::PATCH), Idempotency::NonIdempotent);
        assert_eq!(Idempotency::of(&Method::GET), Idempotency::Idempotent);
    }
}
