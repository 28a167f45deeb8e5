//! Sandboxes served on a loopback port, for the connector and sandbox tests.

use std::{
    fmt::Debug,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{extract::Request, middleware::Next, response::Response};
use chrono::{DateTime, Utc};
use steward_domain::{
    clock::SystemClock,
    observations::{ObservedIdentity, ObservedInventory},
};
use steward_integrations::ConnectorError;
use steward_sandbox::{MemoryStore, Sandbox, SandboxCredentials, SandboxSettings};
use url::Url;
use uuid::Uuid;

/// The egress rule of a deployment whose operator allow-listed loopback, where these tests serve
/// the sandbox.
/// A vendor HTTP client for the contract tests: quick retries, and loopback (where the
/// sandbox listens) allowed.
pub fn quick_http() -> steward_integrations::http::VendorHttp {
    steward_integrations::http::VendorHttp::new(steward_integrations::http::RetryPolicy {
        min_delay: std::time::Duration::from_millis(10),
        max_delay: std::time::Duration::from_millis(50),
        ..steward_integrations::http::RetryPolicy::default()
    })
    .unwrap()
    .with_egress(loopback_egress())
}

pub fn loopback_egress() -> steward_integrations::egress::EgressPolicy {
    steward_integrations::egress::EgressPolicy::allowing(["127.0.0.0/8"
        .parse()
        .expect("a network")])
}

pub struct Served {
    pub sandbox: Sandbox,
    pub tenant: Uuid,
    pub credentials: SandboxCredentials,
    pub address: SocketAddr,
}

impl Served {
    /// The URL of `path` below `/sandbox/`, where the vendors are served.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}/sandbox/{path}", self.address)).unwrap()
    }
}

/// Opens an empty sandbox and adds a simulated customer per `(tenant, name, slug)`; their
/// credentials, in order.
pub async fn open(customers: &[(Uuid, &str, &str)]) -> (Sandbox, Vec<SandboxCredentials>) {
    let sandbox = Sandbox::open(
        Arc::new(MemoryStore::default()),
        Arc::new(SystemClock),
        SandboxSettings::default(),
    )
    .await
    .unwrap();
    let mut credentials = Vec::new();
    for (tenant, name, slug) in customers {
        credentials.push(sandbox.ensure(*tenant, name, slug).await.unwrap());
    }
    (sandbox, credentials)
}

/// Starts the sandbox with the customer "Acme Dental" for `tenant`, nested under `/sandbox`.
pub async fn serve(tenant: Uuid) -> Served {
    let (sandbox, mut credentials) = open(&[(tenant, "Acme Dental", "acme-dental")]).await;
    let (address, _) = serve_recorded(sandbox.clone(), "none").await;
    Served {
        sandbox,
        tenant,
        credentials: credentials.remove(0),
        address,
    }
}

/// A request a vendor answered: (method, path below the vendor's prefix, query pairs).
pub type SeenRequest = (String, String, Vec<(String, String)>);

/// Every request a vendor answered, in order.
pub type Seen = Arc<Mutex<Vec<SeenRequest>>>;

/// A sandbox serving its customers, with the requests to one vendor recorded: what a vendor's
/// contract test starts from.
pub struct VendorServed {
    pub sandbox: Sandbox,
    /// The customers' credentials, in the order they were opened.
    pub credentials: Vec<SandboxCredentials>,
    /// The vendor's API: `http://{address}/sandbox/{vendor}/`.
    pub base: Url,
    pub seen: Seen,
}

/// Opens `customers` and serves them, recording the requests to `/sandbox/{vendor}/…`.
pub async fn serve_vendor(vendor: &'static str, customers: &[(Uuid, &str, &str)]) -> VendorServed {
    let (sandbox, credentials) = open(customers).await;
    let (address, seen) = serve_recorded(sandbox.clone(), vendor).await;
    VendorServed {
        sandbox,
        credentials,
        base: Url::parse(&format!("http://{address}/sandbox/{vendor}/")).unwrap(),
        seen,
    }
}

/// Serves `sandbox` under `/sandbox` on a loopback port, recording the requests to
/// `/sandbox/{vendor}/…`.
pub async fn serve_recorded(sandbox: Sandbox, vendor: &'static str) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let recorder = Arc::clone(&seen);
    let prefix = format!("/sandbox/{vendor}");
    let app = axum::Router::new()
        .nest("/sandbox", sandbox.router())
        .layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let recorder = Arc::clone(&recorder);
                let prefix = prefix.clone();
                async move {
                    let uri = request.uri().clone();
                    if let Some(path) = uri.path().strip_prefix(prefix.as_str()) {
                        let query = uri
                            .query()
                            .map(|q| serde_urlencoded::from_str(q).unwrap())
                            .unwrap_or_default();
                        recorder.lock().unwrap().push((
                            request.method().to_string(),
                            path.to_owned(),
                            query,
                        ));
                    }
                    let response: Response = next.run(request).await;
                    response
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

/// Asserts there were requests and each is one of the vendor's published `operations`.
pub fn assert_published(seen: &[SeenRequest], operations: &[(&str, &str)], vendor: &str) {
    assert!(!seen.is_empty());
    for (method, path, _) in seen {
        assert!(
            is_operation(operations, method, path),
            "{method} {path} is not a {vendor} operation"
        );
    }
}

/// The values of the query parameter `name` in the requests to `path`, in the order sent: the
/// pages a connector asked for.
pub fn query_values(seen: &[SeenRequest], path: &str, name: &str) -> Vec<String> {
    seen.iter()
        .filter(|(_, p, _)| p == path)
        .filter_map(|(_, _, query)| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
        .collect()
}

/// The identity a connector read for the vendor's `external_id`; it must be there.
pub fn identity<'i>(inventory: &'i ObservedInventory, external_id: &str) -> &'i ObservedIdentity {
    inventory
        .identities
        .iter()
        .find(|i| i.external_id == external_id)
        .unwrap_or_else(|| panic!("no identity {external_id}"))
}

/// Asserts a time a connector read and the sandbox's own agree within half a minute: the two
/// were read moments apart, and a live agent's clock moves on in between.
pub fn assert_close(read: DateTime<Utc>, expected: DateTime<Utc>) {
    assert!(
        (read - expected).num_seconds().abs() <= 30,
        "{read} vs {expected}"
    );
}

/// Asserts a connector was refused as unauthenticated, the vendor's answer containing `detail`.
pub fn assert_authentication<T: Debug>(result: &Result<T, ConnectorError>, detail: &str) {
    assert!(
        matches!(result, Err(ConnectorError::Authentication(message)) if message.contains(detail)),
        "expected an authentication error with {detail:?}, got {result:?}"
    );
}

/// Asserts a connector was refused as misconfigured, naming `record` (what its credentials do
/// not reach).
pub fn assert_configuration<T: Debug>(result: &Result<T, ConnectorError>, record: &str) {
    assert!(
        matches!(result, Err(ConnectorError::Configuration(message)) if message.contains(record)),
        "expected a configuration error naming {record:?}, got {result:?}"
    );
}

/// Whether `method path` is one of `operations`, where a `{…}` segment of an operation's path
/// matches any one segment.
pub fn is_operation(operations: &[(&str, &str)], method: &str, path: &str) -> bool {
    let actual: Vec<&str> = path.split('/').collect();
    operations.iter().any(|(m, p)| {
        let pattern: Vec<&str> = p.split('/').collect();
        *m == method
            && pattern.len() == actual.len()
            && pattern
                .iter()
                .zip(&actual)
                .all(|(p, a)| p == a || p.starts_with('{'))
    })
}
