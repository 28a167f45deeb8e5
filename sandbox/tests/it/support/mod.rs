//! Sandboxes served on a loopback port, for the connector and sandbox tests.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{extract::Request, middleware::Next, response::Response};
use steward_domain::clock::SystemClock;
use steward_sandbox::{MemoryStore, Sandbox, SandboxCredentials, SandboxSettings};
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

/// (method, path below the vendor's prefix, query pairs) of every request a vendor answered.
pub type Seen = Arc<Mutex<Vec<(String, String, Vec<(String, String)>)>>>;

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
