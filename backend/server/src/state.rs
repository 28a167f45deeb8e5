//! What every request handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use steward_core::{Clock, Storage, audit::AuditKeys};

use crate::http::metrics::Metrics;

/// The application state shared by all handlers; each component is also an extractor of its
/// own through [`FromRef`].
#[derive(Debug, Clone)]
pub struct AppState {
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub keys: Arc<AuditKeys>,
    pub metrics: Arc<Metrics>,
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
