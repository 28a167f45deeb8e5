//! The vendor HTTP layer's retry rules, against a loopback server that fails on purpose:
//! 429 is retried for any method after `Retry-After`; 5xx only for idempotent requests.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    http::{HeaderMap, StatusCode},
    routing::any,
};
use reqwest::Method;
use steward_integrations::http::{HttpError, Idempotency, RetryPolicy, VendorHttp};

/// Serves `failures` failing answers of `status` (with `retry_after`), then 200; counts requests.
async fn flaky(
    status: StatusCode,
    failures: usize,
    retry_after: Option<&'static str>,
) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let app = Router::new().route(
        "/",
        any(move || {
            let seen = Arc::clone(&seen);
            async move {
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let mut headers = HeaderMap::new();
                if n < failures {
                    if let Some(after) = retry_after {
                        headers.insert("retry-after", after.parse().unwrap());
                    }
                    (status, headers, "failing")
                } else {
                    (StatusCode::OK, headers, "ok")
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/"), count)
}

fn http() -> VendorHttp {
    VendorHttp::new(RetryPolicy {
        max_retries: 4,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    })
    .unwrap()
    .with_egress(steward_integrations::egress::EgressPolicy::allowing([
        "127.0.0.0/8".parse().unwrap(),
    ]))
}

async fn send(
    url: &str,
    method: Method,
    idempotency: Idempotency,
) -> Result<reqwest::Response, HttpError> {
    let http = http();
    let request = http
        .client()
        .request(method, url)
        .body("{}")
        .build()
        .unwrap();
    http.send(request, idempotency).await
}

#[tokio::test]
async fn server_errors_are_retried_for_idempotent_requests() {
    let (url, count) = flaky(StatusCode::SERVICE_UNAVAILABLE, 2, None).await;
    let response = send(&url, Method::GET, Idempotency::Idempotent)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn server_errors_are_not_retried_for_non_idempotent_requests() {
    let (url, count) = flaky(StatusCode::BAD_GATEWAY, 1, None).await;
    let error = send(&url, Method::POST, Idempotency::NonIdempotent)
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::OutcomeUnknown(_)), "{error:?}");
    assert_eq!(count.load(Ordering::SeqCst), 1, "sent exactly once");
}

#[tokio::test]
async fn throttling_is_retried_for_any_method_after_retry_after() {
    let (url, count) = flaky(StatusCode::TOO_MANY_REQUESTS, 2, Some("0.3")).await;
    let started = Instant::now();
    let response = send(&url, Method::POST, Idempotency::NonIdempotent)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    // Two waits of the 0.3 s the server asked for, not the 5–20 ms backoff.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let (url, count) = flaky(StatusCode::TOO_MANY_REQUESTS, usize::MAX, Some("0")).await;
    let error = send(&url, Method::GET, Idempotency::Idempotent)
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Throttled { .. }), "{error:?}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        5,
        "one attempt and four retries"
    );
}

#[tokio::test]
async fn client_errors_are_returned_without_retrying() {
    let (url, count) = flaky(StatusCode::BAD_REQUEST, usize::MAX, None).await;
    let response = send(&url, Method::GET, Idempotency::Idempotent)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unreachable_vendor_is_unavailable_even_for_non_idempotent_requests() {
    // Nothing listens here: the request never left, so retrying it was safe and it is reported
    // as unavailable rather than as an unknown outcome.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let error = send(&url, Method::POST, Idempotency::NonIdempotent)
        .await
        .unwrap_err();
    assert!(matches!(error, HttpError::Unavailable(_)), "{error:?}");
}

/// A deployment that allow-lists nothing private sends nothing to a loopback vendor, by
/// address or by a name that resolves there, and says why; only its exact allow-listed
/// address and port are reachable.
#[tokio::test]
async fn requests_outside_the_egress_rule_are_never_sent() {
    use steward_integrations::egress::{AllowedTarget, EgressPolicy};

    let (url, count) = flaky(StatusCode::OK, 0, None).await;
    let by_name = url.replace("127.0.0.1", "localhost");
    for (egress, target) in [
        (EgressPolicy::public_only(), url.as_str()),
        (EgressPolicy::public_only(), by_name.as_str()),
        (
            EgressPolicy::allowing([AllowedTarget::address([127, 0, 0, 1].into(), Some(1))]),
            url.as_str(),
        ),
    ] {
        let http = http().with_egress(egress);
        let request = http.client().get(target).build().unwrap();
        let error = http
            .send(request, Idempotency::Idempotent)
            .await
            .unwrap_err();
        assert!(
            matches!(error, HttpError::Refused(_)),
            "{target}: {error:?}"
        );
        assert!(
            error.to_string().contains("not a public address"),
            "{error}"
        );
    }
    assert_eq!(
        count.load(Ordering::SeqCst),
        0,
        "nothing reached the vendor"
    );

    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let http = http().with_egress(EgressPolicy::allowing([AllowedTarget::address(
        [127, 0, 0, 1].into(),
        Some(port),
    )]));
    for target in [&url, &by_name] {
        let request = http.client().get(target.as_str()).build().unwrap();
        let response = http.send(request, Idempotency::Idempotent).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(count.load(Ordering::SeqCst), 2);
}

/// A process shutting down stops waiting to retry: the request ends with an error at once (the
/// job that sent it runs again after the restart) instead of sitting out its backoff.
#[tokio::test]
async fn shutting_down_ends_the_wait_between_retries() {
    let (url, count) = flaky(StatusCode::SERVICE_UNAVAILABLE, usize::MAX, None).await;
    let (shutdown, stopping) = tokio::sync::watch::channel(false);
    let http = VendorHttp::new(RetryPolicy {
        max_retries: 8,
        min_delay: Duration::from_secs(600),
        max_delay: Duration::from_secs(600),
        ..RetryPolicy::default()
    })
    .unwrap()
    .with_egress(steward_integrations::egress::EgressPolicy::allowing([
        "127.0.0.0/8".parse().unwrap(),
    ]))
    .with_shutdown(stopping);
    let request = http.client().get(&url).build().unwrap();
    let sending = tokio::spawn(async move { http.send(request, Idempotency::Idempotent).await });
    // The first attempt failed; the client now waits ten minutes before the next.
    while count.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    shutdown.send(true).unwrap();
    let error = tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("the wait ended when the shutdown began")
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, HttpError::Unavailable(_)), "{error:?}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "no retry after the shutdown began"
    );
}
