//! Integrations: a tenant's connections to its vendors. MSP staff see them and their health;
//! MSP admins create, change, test and remove them. Credentials go in and never come out.

use axum::{Json, extract::State, http::StatusCode};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use steward_core::storage::{IntegrationAdminError, IntegrationChanges, NewIntegration};
use steward_domain::{
    IntegrationId, TenantId, integrations::Integration, inventory::SyncCounts, observations::Vendor,
};
use steward_integrations::{egress::EgressPolicy, registry};
use steward_workers::sync::{Requester, SyncOutcome, SyncRunError};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::http::scoped::{InTenant, needs};
use crate::{
    http::{
        ApiError,
        extract::{ApiJson, ApiPath},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_integrations, create_integration))
        .routes(routes!(
            get_integration,
            update_integration,
            remove_integration
        ))
        .routes(routes!(test_integration))
        .routes(routes!(sync_integration))
        .routes(routes!(create_webhook_secret))
        .routes(routes!(create_ingest_key))
}

/// An integration's inbound webhook endpoint and its new signing secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    /// Where the vendor (or any tool) posts messages signed per Standard Webhooks: this path
    /// on Steward's public URL.
    pub path: String,
    /// The signing secret (`whsec_…`): stored encrypted, never shown again. Any earlier secret
    /// stopped working.
    pub secret: String,
}

/// An integration's log ingest endpoint and its new ingest key, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestKey {
    /// Where log shippers post batches of events: this path on Steward's public URL.
    pub path: String,
    /// The ingest key (`sik_…`), sent as `Authorization: Bearer …`: only its SHA-256 is
    /// stored, it is never shown again, and any earlier key stopped working.
    pub key: String,
}

/// The integrations of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    pub items: Vec<Integration>,
}

/// A new integration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    pub vendor: Vendor,
    /// Unique within the tenant.
    pub name: String,
    /// For Microsoft vendors: `directory_id`, `client_id`, and optionally `api_base_url` and
    /// `login_base_url` (default: the vendor's production endpoints). For Okta: `org_url`
    /// (`https://{org}.okta.com`).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// The secret Steward signs in with: the app registration's client secret for Microsoft
    /// vendors, an API token for Okta. Stored encrypted, never returned. (`client_secret` is
    /// accepted as its earlier name.)
    #[serde(alias = "client_secret")]
    #[schema(value_type = String, format = Password)]
    pub credential: String,
}

/// Changes to an integration; absent fields stay as they are. Any change sets its health back
/// to `unknown` until the next test or synchronization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// A new credential (client secret or API token).
    #[serde(alias = "client_secret")]
    #[schema(value_type = Option<String>, format = Password)]
    pub credential: Option<String>,
}

/// What a connection test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionTest {
    /// Whether Steward could sign in and read what it needs.
    pub ok: bool,
    /// What was checked, in order, when it worked.
    pub checks: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The integration with its updated health.
    pub integration: Integration,
}

/// What a synchronization did.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncReport {
    /// Whether the vendor could be read.
    pub ok: bool,
    pub counts: SyncCounts,
    /// Why the vendor could not be read, or why it was not called (it asked Steward to wait
    /// after a recent failure, or its budget of concurrent synchronizations is in use).
    pub error: Option<String>,
    /// When the vendor was throttling, unavailable or busy: in how many seconds Steward
    /// synchronizes the integration by itself.
    pub retry_in_secs: Option<u64>,
    /// The integration with its updated health.
    pub integration: Integration,
}

impl From<SyncOutcome> for SyncReport {
    fn from(outcome: SyncOutcome) -> Self {
        let secs = |wait: std::time::Duration| wait.as_secs().max(1);
        match outcome {
            SyncOutcome::Synchronized {
                counts,
                integration,
            } => Self {
                ok: true,
                counts,
                error: None,
                retry_in_secs: None,
                integration,
            },
            SyncOutcome::Failed {
                error,
                retry_in,
                integration,
            } => Self {
                ok: false,
                counts: SyncCounts::default(),
                error: Some(error),
                retry_in_secs: retry_in.map(secs),
                integration,
            },
            SyncOutcome::Postponed {
                reason,
                retry_in,
                integration,
            } => Self {
                ok: false,
                counts: SyncCounts::default(),
                error: Some(format!("not synchronized now: {reason}")),
                retry_in_secs: Some(secs(retry_in)),
                integration,
            },
        }
    }
}

impl From<IntegrationAdminError> for ApiError {
    fn from(err: IntegrationAdminError) -> Self {
        let message = err.to_string();
        match err {
            IntegrationAdminError::NotFound(_) | IntegrationAdminError::UnknownTenant(_) => {
                ApiError::not_found(message)
            }
            IntegrationAdminError::NameTaken(_) => ApiError::conflict("name-taken", message),
            IntegrationAdminError::InvalidName(_) => {
                ApiError::unprocessable("invalid-name", message)
            }
            IntegrationAdminError::TenantOffboarded => {
                ApiError::conflict("tenant-offboarded", message)
            }
            IntegrationAdminError::Secret(_) => ApiError::new(
                StatusCode::CONFLICT,
                "credential-unreadable",
                format!("{message}; enter the credential again"),
            ),
            IntegrationAdminError::Storage(storage) => storage.into(),
        }
    }
}

impl From<SyncRunError> for ApiError {
    fn from(err: SyncRunError) -> Self {
        match err {
            SyncRunError::Forbidden(forbidden) => forbidden.into(),
            SyncRunError::Integration(integration) => integration.into(),
            SyncRunError::Storage(storage) => storage.into(),
            SyncRunError::Client(client) => ApiError::internal(&client),
            SyncRunError::Record(steward_core::inventory::SyncError::UnknownIntegration(id)) => {
                ApiError::not_found(format!("no integration {id}"))
            }
            SyncRunError::Record(steward_core::inventory::SyncError::Storage(storage)) => {
                storage.into()
            }
            SyncRunError::UnknownTenant(id) => ApiError::not_found(format!("no tenant {id}")),
        }
    }
}

fn secret(value: String) -> Result<SecretString, ApiError> {
    if value.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "invalid-secret",
            "credential must not be empty",
        ));
    }
    Ok(SecretString::from(value))
}

/// Checks and completes settings, and checks every URL in them against the deployment's egress
/// rule (public https addresses, or the operator's allow-list).
async fn settings(
    vendor: Vendor,
    value: serde_json::Value,
    egress: &EgressPolicy,
) -> Result<serde_json::Value, ApiError> {
    let settings = registry::normalize_settings(vendor, value)
        .map_err(|message| ApiError::unprocessable("invalid-settings", message))?;
    registry::check_endpoints(&settings, egress)
        .await
        .map_err(|message| ApiError::unprocessable("forbidden-target", message))?;
    Ok(settings)
}

/// The tenant's integrations (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/integrations",
    tag = "integrations",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    responses((status = OK, body = IntegrationList), ListErrors, ReadErrors),
)]
async fn list_integrations(ctx: InTenant) -> Result<Json<IntegrationList>, ApiError> {
    let scope = ctx.scope();
    let items = scope.integrations()?.list().await?;
    Ok(Json(IntegrationList { items }))
}

/// Connects the tenant to a vendor (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/integrations",
    tag = "integrations",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id")),
    request_body = CreateIntegration,
    responses((status = CREATED, body = Integration), WriteErrors),
)]
async fn create_integration(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> Result<(StatusCode, Json<Integration>), ApiError> {
    let new = NewIntegration {
        settings: settings(body.vendor, body.settings, &state.egress).await?,
        secret: secret(body.credential)?,
        vendor: body.vendor,
        name: body.name,
    };
    let integration = ctx
        .work(async |work| Ok(work.integrations(&state.secrets)?.create(new).await?))
        .await?;
    Ok((StatusCode::CREATED, Json(integration)))
}

/// One integration (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = OK, body = Integration), ReadErrors),
)]
async fn get_integration(
    ctx: InTenant,
    ApiPath((_, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<Json<Integration>, ApiError> {
    let scope = ctx.scope();
    scope
        .integrations()?
        .lookup(integration_id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no integration {integration_id}")))
}

/// Changes an integration's name, settings or credential (MSP admins).
#[utoipa::path(
    patch,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    request_body = UpdateIntegration,
    responses((status = OK, body = Integration), WriteErrors),
)]
async fn update_integration(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((_, integration_id)): ApiPath<(TenantId, IntegrationId)>,
    ApiJson(body): ApiJson<UpdateIntegration>,
) -> Result<Json<Integration>, ApiError> {
    let scope = ctx.scope();
    let current = scope
        .integrations()?
        .lookup(integration_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no integration {integration_id}")))?;
    let changes = IntegrationChanges {
        name: body.name,
        settings: match body.settings {
            Some(value) => Some(settings(current.vendor, value, &state.egress).await?),
            None => None,
        },
        secret: body.credential.map(secret).transpose()?,
    };
    let integration = ctx
        .work(async |work| {
            Ok(work
                .integrations(&state.secrets)?
                .update(integration_id, changes)
                .await?)
        })
        .await?;
    Ok(Json(integration))
}

/// Removes an integration (MSP admins): Steward stops talking to that vendor for the tenant.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn remove_integration(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((_, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<StatusCode, ApiError> {
    ctx.work(async |work| {
        Ok(work
            .integrations(&state.secrets)?
            .remove(integration_id)
            .await?)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Signs in at the vendor with the stored credential and reads one item of each kind Steward
/// needs; records the outcome as the integration's health (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/test",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = OK, body = ConnectionTest), WriteErrors),
)]
async fn test_integration(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((tenant_id, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let outcome = state
        .synchronizer()
        .test_connection(
            Requester::Person {
                caller: &ctx.caller,
                request_id: ctx.request_id.as_deref(),
            },
            tenant_id,
            integration_id,
        )
        .await?;
    Ok(Json(ConnectionTest {
        ok: outcome.error.is_none(),
        checks: outcome.checks,
        error: outcome.error,
        integration: outcome.integration,
    }))
}

/// Reads the vendor's devices, identities and new events now, merges them into the tenant's
/// inventory, and records the outcome as the integration's health (MSP admins).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/sync",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = OK, body = SyncReport), WriteErrors),
)]
async fn sync_integration(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((tenant_id, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<Json<SyncReport>, ApiError> {
    let outcome = state
        .synchronizer()
        .sync_now(
            &ctx.caller,
            ctx.request_id.as_deref(),
            tenant_id,
            integration_id,
        )
        .await?;
    Ok(Json(outcome.into()))
}

/// Creates the signing secret of the integration's inbound webhooks (MSP admins), replacing
/// any earlier one. Messages to `POST /api/v1/webhooks/{integration_id}` signed with it (per
/// Standard Webhooks) make Steward synchronize the integration at once.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/webhook-secret",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = OK, body = WebhookSecret), WriteErrors),
)]
async fn create_webhook_secret(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((_, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<Json<WebhookSecret>, ApiError> {
    let secret = ctx
        .work(async |work| {
            Ok(work
                .integrations(&state.secrets)?
                .rotate_webhook_secret(integration_id)
                .await?)
        })
        .await?;
    Ok(Json(WebhookSecret {
        path: format!("/api/v1/webhooks/{integration_id}"),
        secret: secrecy::ExposeSecret::expose_secret(&secret).to_owned(),
    }))
}

/// Creates the log ingest key of the integration (MSP admins), replacing any earlier one. Log
/// shippers that cannot sign their requests (Winlogbeat, NXLog, Fluent Bit) send it as a bearer
/// token with batches of events to `POST /api/v1/ingest/{integration_id}`; tools that can sign
/// use the webhook secret instead.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/ingest-key",
    tag = "integrations",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("integration_id" = IntegrationId, Path, description = "The integration's id"),
    ),
    responses((status = OK, body = IngestKey), WriteErrors),
)]
async fn create_ingest_key(
    State(state): State<AppState>,
    ctx: InTenant<needs::ManageIntegrations>,
    ApiPath((_, integration_id)): ApiPath<(TenantId, IntegrationId)>,
) -> Result<Json<IngestKey>, ApiError> {
    let key = ctx
        .work(async |work| {
            Ok(work
                .integrations(&state.secrets)?
                .rotate_ingest_key(integration_id)
                .await?)
        })
        .await?;
    Ok(Json(IngestKey {
        path: format!("/api/v1/ingest/{integration_id}"),
        key: secrecy::ExposeSecret::expose_secret(&key).to_owned(),
    }))
}
