//! The integrations page and its forms, and the sandbox's scenarios in the UI.

use axum::{
    extract::{Path, Query, State},
    response::{Html, IntoResponse, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use steward_core::{
    access::Forbidden,
    storage::{IntegrationAdminError, IntegrationChanges, NewIntegration},
};
use steward_domain::{IntegrationId, TenantId, access::Permission, observations::Vendor};
use steward_frontend::pages::integrations::{self, IntegrationsPage};
use steward_integrations::registry;

use super::scoped::{WebTenant, WebTenantForm};
use super::{
    UiError,
    pages::{PageQuery, back, chrome},
};
use crate::state::AppState;
use steward_workers::sync::{Requester, SyncOutcome, SyncRunError};

pub(super) fn page_path(tenant_id: TenantId) -> String {
    format!("/tenants/{tenant_id}/integrations")
}

/// Why a change to an integration was refused.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error(transparent)]
    Integration(#[from] IntegrationAdminError),
}

/// The flash code (or error page) of a refused change.
fn refusal(refused: Refused) -> Result<&'static str, UiError> {
    match refused {
        Refused::Forbidden(forbidden) => Err(UiError::Forbidden(forbidden)),
        Refused::Integration(err) => error_code(err),
    }
}

fn error_code(err: IntegrationAdminError) -> Result<&'static str, UiError> {
    Ok(match err {
        IntegrationAdminError::NotFound(_) | IntegrationAdminError::UnknownTenant(_) => {
            return Err(UiError::NotFound);
        }
        IntegrationAdminError::NameTaken(_) => "name-taken",
        IntegrationAdminError::InvalidName(_) => "invalid-name",
        IntegrationAdminError::TenantOffboarded => "tenant-offboarded",
        IntegrationAdminError::Secret(_) => "credential-unreadable",
        IntegrationAdminError::Storage(storage) => return Err(storage.into()),
    })
}

pub async fn page(
    State(state): State<AppState>,
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let scope = s.scope();
    let list = scope.integrations()?.list().await?;
    let tenant = scope.tenant().clone();
    #[cfg(feature = "sandbox")]
    let sandbox = super::sandbox::view(&state, &scope).await?;
    #[cfg(not(feature = "sandbox"))]
    let sandbox = {
        let _ = (&state, &scope);
        None
    };
    let chrome = chrome(&s, &format!("/tenants/{tenant_id}"), query.flash()).await?;
    Ok(Html(integrations::render(
        chrome,
        IntegrationsPage {
            tenant,
            integrations: list,
            can_manage: s.caller.allows(Permission::ManageIntegrations),
            sandbox,
            csrf_token: s.session.csrf_token.clone(),
        },
    ))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ConnectForm {
    vendor: String,
    name: String,
    /// The client secret (Microsoft) or API token (Okta).
    #[serde(alias = "client_secret")]
    credential: String,
    #[serde(default)]
    directory_id: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    api_base_url: String,
    #[serde(default)]
    login_base_url: String,
    #[serde(default)]
    org_url: String,
    #[serde(default)]
    falcon_client_id: String,
    #[serde(default)]
    falcon_api_base_url: String,
    #[serde(default)]
    member_cid: String,
    #[serde(default)]
    ninja_client_id: String,
    #[serde(default)]
    ninja_organization_id: String,
    #[serde(default)]
    ninja_instance_url: String,
    #[serde(default)]
    tactical_api_url: String,
    #[serde(default)]
    tactical_client_id: String,
    #[serde(default)]
    veeam_api_url: String,
    #[serde(default)]
    veeam_company_uid: String,
    #[serde(default)]
    datto_api_url: String,
    #[serde(default)]
    datto_public_key: String,
    #[serde(default)]
    datto_client_company_name: String,
    #[serde(default)]
    halo_instance_url: String,
    #[serde(default)]
    halo_tenant: String,
    #[serde(default)]
    halo_client_id: String,
    #[serde(default)]
    halo_customer_client_id: String,
    #[serde(default)]
    cw_site_url: String,
    #[serde(default)]
    cw_company_id: String,
    #[serde(default)]
    cw_public_key: String,
    #[serde(default)]
    cw_client_id: String,
    #[serde(default)]
    cw_customer_company_id: String,
    #[serde(default)]
    cw_board_id: String,
}

impl ConnectForm {
    /// The settings of the chosen vendor from the fields filled in for it.
    fn settings(&self, vendor: Vendor) -> serde_json::Value {
        let fields: &[(&str, &String)] = match vendor {
            Vendor::MicrosoftDefender | Vendor::MicrosoftGraph => &[
                ("directory_id", &self.directory_id),
                ("client_id", &self.client_id),
                ("api_base_url", &self.api_base_url),
                ("login_base_url", &self.login_base_url),
            ],
            Vendor::Okta => &[("org_url", &self.org_url)],
            Vendor::CrowdStrikeFalcon => &[
                ("client_id", &self.falcon_client_id),
                ("api_base_url", &self.falcon_api_base_url),
                ("member_cid", &self.member_cid),
            ],
            Vendor::NinjaOne => &[
                ("client_id", &self.ninja_client_id),
                ("instance_url", &self.ninja_instance_url),
            ],
            Vendor::TacticalRmm => &[("api_url", &self.tactical_api_url)],
            Vendor::VeeamSpc => &[
                ("api_url", &self.veeam_api_url),
                ("company_uid", &self.veeam_company_uid),
            ],
            Vendor::DattoBcdr => &[
                ("api_url", &self.datto_api_url),
                ("public_key", &self.datto_public_key),
                ("client_company_name", &self.datto_client_company_name),
            ],
            Vendor::HaloPsa => &[
                ("instance_url", &self.halo_instance_url),
                ("tenant", &self.halo_tenant),
                ("client_id", &self.halo_client_id),
            ],
            Vendor::ConnectWiseManage => &[
                ("site_url", &self.cw_site_url),
                ("company_id", &self.cw_company_id),
                ("public_key", &self.cw_public_key),
                ("client_id", &self.cw_client_id),
            ],
        };
        let mut settings = serde_json::json!({});
        for (key, value) in fields {
            // Sent even when empty, so the vendor's help names what is missing; optional
            // fields are left out and take their defaults.
            let required = match (vendor, *key) {
                (Vendor::DattoBcdr, "api_url") | (Vendor::NinjaOne, "instance_url") => false,
                (
                    _,
                    "directory_id"
                    | "client_id"
                    | "org_url"
                    | "api_url"
                    | "company_uid"
                    | "instance_url"
                    | "site_url"
                    | "company_id"
                    | "public_key"
                    | "client_company_name",
                ) => true,
                _ => false,
            };
            if required || !value.trim().is_empty() {
                settings[*key] = serde_json::json!(value.trim());
            }
        }
        // Organization and client ids are numbers when they read as one; anything else is
        // refused with the vendor's help.
        let number = |value: &str| {
            let value = value.trim();
            value
                .parse::<u32>()
                .map_or_else(|_| serde_json::json!(value), |id| serde_json::json!(id))
        };
        match vendor {
            Vendor::NinjaOne => {
                settings["organization_id"] = number(&self.ninja_organization_id);
            }
            Vendor::TacticalRmm => settings["client_id"] = number(&self.tactical_client_id),
            Vendor::HaloPsa => {
                settings["customer_client_id"] = number(&self.halo_customer_client_id);
            }
            Vendor::ConnectWiseManage => {
                settings["customer_company_id"] = number(&self.cw_customer_company_id);
                settings["board_id"] = number(&self.cw_board_id);
            }
            _ => {}
        }
        settings
    }
}

pub async fn create(
    State(state): State<AppState>,
    Path(tenant_id): Path<TenantId>,
    WebTenantForm { session: s, form }: WebTenantForm<ConnectForm>,
) -> Result<Response, UiError> {
    let path = page_path(tenant_id);
    let Some(vendor) = Vendor::parse(&form.vendor) else {
        return Ok(back(&path, Err("invalid-settings")));
    };
    if form.credential.trim().is_empty() {
        return Ok(back(&path, Err("invalid-secret")));
    }
    let Ok(settings) = registry::normalize_settings(vendor, form.settings(vendor)) else {
        return Ok(back(&path, Err("invalid-settings")));
    };
    if registry::check_endpoints(&settings, &state.egress)
        .await
        .is_err()
    {
        return Ok(back(&path, Err("forbidden-target")));
    }
    let new = NewIntegration {
        vendor,
        name: form.name,
        settings,
        secret: SecretString::from(form.credential),
    };
    s.in_work_back_to(
        &path,
        async |work| {
            work.integrations(&state.secrets)?.create(new).await?;
            Ok("integration-created")
        },
        refusal,
    )
    .await
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn test(
    State(state): State<AppState>,
    Path((tenant_id, integration_id)): Path<(TenantId, IntegrationId)>,
    WebTenantForm { session: s, .. }: WebTenantForm<Empty>,
) -> Result<Response, UiError> {
    let path = page_path(tenant_id);
    let person = Requester::Person {
        caller: &s.caller,
        request_id: None,
    };
    let tested = state
        .synchronizer()
        .test_connection(person, tenant_id, integration_id)
        .await;
    match tested {
        Ok(outcome) if outcome.error.is_none() => Ok(back(&path, Ok("integration-tested"))),
        Ok(_) => Ok(back(&path, Err("connection-failed"))),
        Err(SyncRunError::Forbidden(forbidden)) => Err(UiError::Forbidden(forbidden)),
        Err(SyncRunError::Integration(err)) => Ok(back(&path, Err(error_code(err)?))),
        Err(other) => {
            tracing::error!(error = %other, "connection test could not run");
            Err(UiError::Internal)
        }
    }
}

pub async fn sync(
    State(state): State<AppState>,
    Path((tenant_id, integration_id)): Path<(TenantId, IntegrationId)>,
    WebTenantForm { session: s, .. }: WebTenantForm<Empty>,
) -> Result<Response, UiError> {
    let path = page_path(tenant_id);
    let synced = state
        .synchronizer()
        .sync_now(&s.caller, None, tenant_id, integration_id)
        .await;
    match synced {
        Ok(SyncOutcome::Synchronized { .. }) => Ok(back(&path, Ok("integration-synced"))),
        Ok(SyncOutcome::Postponed { .. }) => Ok(back(&path, Err("sync-postponed"))),
        Ok(SyncOutcome::Failed { .. }) => Ok(back(&path, Err("connection-failed"))),
        Err(SyncRunError::Forbidden(forbidden)) => Err(UiError::Forbidden(forbidden)),
        Err(SyncRunError::Integration(err)) => Ok(back(&path, Err(error_code(err)?))),
        Err(other) => {
            tracing::error!(error = %other, "synchronization could not run");
            Err(UiError::Internal)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CredentialForm {
    #[serde(alias = "client_secret")]
    credential: String,
}

pub async fn replace_credential(
    State(state): State<AppState>,
    Path((tenant_id, integration_id)): Path<(TenantId, IntegrationId)>,
    WebTenantForm { session: s, form }: WebTenantForm<CredentialForm>,
) -> Result<Response, UiError> {
    change(&state, &s, tenant_id, integration_id, Some(form.credential)).await
}

pub async fn remove(
    State(state): State<AppState>,
    Path((tenant_id, integration_id)): Path<(TenantId, IntegrationId)>,
    WebTenantForm { session: s, .. }: WebTenantForm<Empty>,
) -> Result<Response, UiError> {
    change(&state, &s, tenant_id, integration_id, None).await
}

/// Replaces the credential (with a secret) or removes the integration (without).
async fn change(
    state: &AppState,
    s: &WebTenant,
    tenant_id: TenantId,
    integration_id: IntegrationId,
    secret: Option<String>,
) -> Result<Response, UiError> {
    let path = page_path(tenant_id);
    if secret
        .as_ref()
        .is_some_and(|secret| secret.trim().is_empty())
    {
        return Ok(back(&path, Err("invalid-secret")));
    }
    s.in_work_back_to(
        &path,
        async |work| {
            let integrations = work.integrations(&state.secrets)?;
            match secret {
                Some(secret) => {
                    let changes = IntegrationChanges {
                        secret: Some(SecretString::from(secret)),
                        ..IntegrationChanges::default()
                    };
                    integrations.update(integration_id, changes).await?;
                    Ok("integration-credential")
                }
                None => {
                    integrations.remove(integration_id).await?;
                    Ok("integration-removed")
                }
            }
        },
        refusal,
    )
    .await
}
