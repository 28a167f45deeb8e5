//! What every request handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use steward_core::{
    Clock, Storage, audit::AuditKeys, auth::AuthConfig, decisions::policy::Policies,
    secrets::SecretBox,
};
use steward_integrations::egress::EgressPolicy;

use crate::{http::metrics::Metrics, web::oidc::Oidc};

/// The application state shared by all handlers; each component is also an extractor of its
/// own through [`FromRef`].
#[derive(Debug, Clone)]
pub struct AppState {
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub metrics: Arc<Metrics>,
    pub web: Arc<WebSettings>,
    /// Seals and opens vendor credentials.
    pub secrets: Arc<SecretBox>,
    /// The simulated vendors, when `[sandbox] enabled`.
    #[cfg(feature = "sandbox")]
    pub sandbox: Option<steward_sandbox::Sandbox>,
    /// The authority policies, for what-if questions (the workers hold their own).
    pub policies: Policies,
    /// Where requests to vendors and webhook receivers may go.
    pub egress: EgressPolicy,
    /// Integrations waiting out their vendor: the embedded workers' own, so a person's
    /// "sync now" and the schedule wait out the same vendor.
    pub backoff: steward_workers::VendorBackoff,
    /// Synchronizations of one vendor that may call it at once, across every process.
    pub vendor_concurrency: u32,
    /// The log ingest endpoint's limits (batch size, events per minute per tenant).
    pub ingest: Arc<crate::http::ingest::IngestLimits>,
}

impl AppState {
    /// The sync stage, for a person's "sync now" and connection test.
    #[must_use]
    pub fn synchronizer(&self) -> steward_workers::sync::Synchronizer {
        steward_workers::sync::Synchronizer {
            storage: self.storage.clone(),
            clock: Arc::clone(&self.clock),
            keys: Arc::clone(&self.keys),
            secrets: Arc::clone(&self.secrets),
            egress: self.egress.clone(),
            backoff: self.backoff.clone(),
            vendor_concurrency: self.vendor_concurrency,
            retries: steward_workers::sync::interactive_retries(),
            shutdown: None,
        }
    }
}

/// How the web UI signs people in.
#[derive(Debug, Default)]
pub struct WebSettings {
    /// Mark cookies `Secure` (Steward is reached over https).
    pub secure_cookies: bool,
    pub auth: AuthConfig,
    /// Single sign-on, when configured.
    pub oidc: Option<Oidc>,
}

impl FromRef<AppState> for Storage {
    fn from_ref(state: &AppState) -> Self {
        state.storage.clone()
    }
}

impl FromRef<AppState> for Arc<Metrics> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.metrics)
    }
}
