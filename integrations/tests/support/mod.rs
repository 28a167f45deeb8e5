//! A sandbox with one simulated customer, served on a loopback port, for the connector and
//! sandbox tests.

use std::{net::SocketAddr, sync::Arc};

use steward_domain::clock::SystemClock;
use steward_integrations::sandbox::{MemoryStore, Sandbox, SandboxCredentials, SandboxSettings};
use uuid::Uuid;

pub struct Served {
    pub sandbox: Sandbox,
    pub tenant: Uuid,
    pub credentials: SandboxCredentials,
    pub address: SocketAddr,
}

/// Starts the sandbox with the customer "Acme Dental" for `tenant`, nested under `/sandbox`.
pub async fn serve(tenant: Uuid) -> Served {
    let sandbox = Sandbox::open(
        Arc::new(MemoryStore::default()),
        Arc::new(SystemClock),
        SandboxSettings::default(),
    )
    .await
    .unwrap();
    let credentials = sandbox
        .ensure(tenant, "Acme Dental", "acme-dental")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().nest("/sandbox", sandbox.router());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served {
        sandbox,
        tenant,
        credentials,
        address,
    }
}
