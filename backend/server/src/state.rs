//! What every request handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use steward_core::{
    Clock, Storage, audit::AuditKeys, auth::AuthConfig, policy::Policies, secrets::SecretBox,
};
use steward_integrations::{egress::EgressPolicy, sandbox::Sandbox};

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
    pub sandbox: Option<Sandbox>,
    /// The authority policies, for what-if questions (the workers hold their own).
    pub policies: Policies,
    /// Where requests to vendors and webhook receivers may go.
    pub egress: EgressPolicy,
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
