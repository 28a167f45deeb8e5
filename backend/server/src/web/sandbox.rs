//! The sandbox in the web UI: its simulated customer beside the integrations page, and its
//! scenarios. (Its mailbox and Slack workspace are `inbox.rs`.)

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;
use steward_core::storage::{DatabaseConnection, TenantScope};
use steward_domain::{TenantId, access::Permission};
use steward_frontend::pages::integrations::{SandboxDevice, SandboxUser, SandboxView};
use steward_sandbox::Scenario;

use super::{UiError, pages::back, scoped::WebTenantForm};
use crate::{http::scoped::needs, state::AppState};

/// What the sandbox simulates for the tenant, for those who may see it; `None` otherwise.
///
/// # Errors
/// When the tenant's simulated customer cannot be set up.
pub(super) async fn view(
    state: &AppState,
    scope: &TenantScope<'_, DatabaseConnection>,
) -> Result<Option<SandboxView>, UiError> {
    let tenant = scope.tenant();
    Ok(
        match (&state.sandbox, scope.allows(Permission::ReadSandbox)) {
            (Some(sandbox), true) => {
                sandbox
                    .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
                    .await
                    .map_err(|_| UiError::Internal)?;
                sandbox
                    .state(tenant.id.as_uuid())
                    .await
                    .map(|state| SandboxView {
                        alerts: state.defender_alerts + state.security_alerts,
                        devices: state
                            .devices
                            .into_iter()
                            .map(|d| SandboxDevice {
                                name: d.computer_dns_name,
                                tags: d.tags,
                                isolated: d.isolated,
                            })
                            .collect(),
                        users: state
                            .users
                            .into_iter()
                            .map(|u| SandboxUser {
                                user_principal_name: u.user_principal_name,
                                department: u.department,
                                admin_roles: u.admin_roles,
                                account_enabled: u.account_enabled,
                            })
                            .collect(),
                        scenarios: if scope.allows(Permission::RunSandboxScenarios) {
                            Scenario::ALL
                                .iter()
                                .map(|s| (s.as_str(), s.description()))
                                .collect()
                        } else {
                            Vec::new()
                        },
                    })
            }
            _ => None,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct ScenarioForm {
    scenario: String,
}

pub async fn run_scenario(
    State(state): State<AppState>,
    Path(tenant_id): Path<TenantId>,
    WebTenantForm { session: s, form }: WebTenantForm<ScenarioForm, needs::RunSandboxScenarios>,
) -> Result<Response, UiError> {
    let path = super::integrations::page_path(tenant_id);
    let scope = s.scope();
    let (Some(sandbox), Some(scenario)) = (&state.sandbox, Scenario::parse(&form.scenario)) else {
        return Err(UiError::NotFound);
    };
    let tenant = scope.tenant();
    sandbox
        .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
        .await
        .map_err(|_| UiError::Internal)?;
    let run = match sandbox.run_scenario(tenant.id.as_uuid(), scenario).await {
        Ok(run) => run,
        Err(steward_sandbox::SandboxError::NotApplicable(_)) => {
            return Ok(back(&path, Err("scenario-not-applicable")));
        }
        Err(_) => return Err(UiError::Internal),
    };
    let txn = s.storage.begin().await?;
    scope
        .record_sandbox_run(&s.write(&txn), scenario.as_str(), &run)
        .await
        .map_err(|err| match err {
            steward_core::storage::TenantScopeError::Forbidden(forbidden) => {
                UiError::Forbidden(forbidden)
            }
            steward_core::storage::TenantScopeError::Storage(storage) => storage.into(),
        })?;
    txn.commit().await?;
    Ok(back(&path, Ok("scenario-run")))
}
