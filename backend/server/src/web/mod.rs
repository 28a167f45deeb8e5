//! The web UI: server-rendered pages (from `steward-frontend`) and plain HTML forms.
//!
//! Pages are reached with a session cookie. Every state-changing form carries the session's
//! CSRF token and is checked before anything is read from it; a form without a valid token is
//! refused with 403 and changes nothing.

mod account;
mod actions;
mod approval_links;
mod detections;
mod error;
mod graph;
mod guardrails;
#[cfg(feature = "sandbox")]
mod inbox;
mod incidents;
mod integrations;
mod login;
pub mod oidc;
mod pages;
mod reports;
mod response;
#[cfg(feature = "sandbox")]
mod sandbox;
mod scoped;
mod second_factor;
mod session;
mod users;

use axum::{
    Router,
    http::header,
    response::IntoResponse,
    routing::{get, post},
};

pub use self::{error::UiError, session::SESSION_COOKIE};
use crate::state::AppState;

/// Every UI route.
pub fn routes() -> Router<AppState> {
    let routes = Router::new()
        .route(steward_frontend::STYLESHEET_PATH, get(stylesheet))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/auth/oidc/login", get(oidc::start))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route("/", get(pages::dashboard))
        .route("/tenants", post(pages::create_tenant))
        .route("/kill-switch", post(pages::pull_msp_kill_switch))
        .route("/kill-switch/release", post(pages::release_msp_kill_switch))
        .route("/tenants/{tenant_id}", get(pages::tenant))
        .route("/tenants/{tenant_id}/rename", post(pages::rename_tenant))
        .route(
            "/tenants/{tenant_id}/offboard",
            post(pages::offboard_tenant),
        )
        .route("/tenants/{tenant_id}/audit", get(pages::tenant_audit))
        .route("/tenants/{tenant_id}/graph", get(graph::show))
        .route(
            "/tenants/{tenant_id}/integrations",
            get(integrations::page).post(integrations::create),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/test",
            post(integrations::test),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/sync",
            post(integrations::sync),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/credential",
            post(integrations::replace_credential),
        )
        .route(
            "/tenants/{tenant_id}/integrations/{integration_id}/remove",
            post(integrations::remove),
        )
        .route("/tenants/{tenant_id}/response", get(response::page))
        .route("/tenants/{tenant_id}/detections", get(detections::list))
        .route(
            "/tenants/{tenant_id}/detections/{rule_id}",
            get(detections::rule),
        )
        .route(
            "/tenants/{tenant_id}/detections/{rule_id}/state",
            post(detections::set_state),
        )
        .route(
            "/tenants/{tenant_id}/detections/{rule_id}/suppressions",
            post(detections::suppress),
        )
        .route(
            "/tenants/{tenant_id}/detections/{rule_id}/suppressions/{suppression_id}/remove",
            post(detections::remove_suppression),
        )
        .route("/tenants/{tenant_id}/actions", post(actions::propose))
        .route(
            "/tenants/{tenant_id}/kill-switch",
            post(guardrails::pull_kill_switch),
        )
        .route(
            "/tenants/{tenant_id}/kill-switch/release",
            post(guardrails::release_kill_switch),
        )
        .route("/tenants/{tenant_id}/report", get(reports::report))
        .route("/tenants/{tenant_id}/report.pdf", get(reports::report_pdf))
        .route(
            "/tenants/{tenant_id}/actions/{action_id}/approve",
            post(actions::approve),
        )
        .route(
            "/tenants/{tenant_id}/actions/{action_id}/reject",
            post(actions::reject),
        )
        .route(
            "/tenants/{tenant_id}/actions/{action_id}/rollback",
            post(actions::roll_back),
        )
        .route(
            "/tenants/{tenant_id}/incidents/{incident_id}",
            post(incidents::update_incident),
        )
        .route(
            "/approvals/{secret}",
            get(approval_links::show).post(approval_links::decide),
        )
        .route("/audit", get(pages::msp_audit))
        .route(
            "/detections",
            get(detections::msp_rules).post(detections::upload),
        )
        .route(
            "/detections/{rule_id}",
            get(detections::msp_rule).post(detections::new_version),
        )
        .route(
            "/detections/{rule_id}/state",
            post(detections::set_msp_state),
        )
        .route(
            "/detections/{rule_id}/remove",
            post(detections::remove_rule),
        )
        .route("/users", get(users::users).post(users::create_user))
        .route("/users/{user_id}", get(users::user))
        .route("/users/{user_id}/status", post(users::set_user_status))
        .route("/users/{user_id}/tokens", post(users::issue_token))
        .route("/tokens/{token_id}/revoke", post(users::revoke_token))
        .route("/account", get(account::account))
        .route(
            "/login/second-factor",
            get(second_factor::show).post(second_factor::submit),
        )
        .route("/account/second-factor/start", post(second_factor::start))
        .route(
            "/account/second-factor/confirm",
            post(second_factor::confirm),
        )
        .route("/account/second-factor/remove", post(second_factor::remove))
        .route("/account/password", post(account::change_password));
    // The sandbox's scenarios and its mailbox and Slack workspace, where this build has them.
    #[cfg(feature = "sandbox")]
    let routes = routes
        .route(
            "/tenants/{tenant_id}/sandbox/run",
            post(sandbox::run_scenario),
        )
        .route("/sandbox/inbox", get(inbox::page))
        .route("/sandbox/inbox/slack", post(inbox::click));
    routes
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        steward_frontend::STYLESHEET,
    )
}
