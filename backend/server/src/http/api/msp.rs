//! The caller's MSP and its settings.

use axum::Json;
use serde::Deserialize;
use steward_core::storage::MspSettingsError;
use steward_domain::tenancy::{Msp, SecondFactorPolicy, SsoAutoProvision};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ListErrors, WriteErrors};
use crate::{
    http::{ApiError, auth::CallerContext, extract::ApiJson},
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_msp, update_msp))
}

/// Changes to the MSP's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMsp {
    /// Whether single sign-on creates users on their first sign-in: `{"domain":
    /// "harbor-it.example", "role": "technician"}` (technician or auditor), or `null` for never.
    /// Absent leaves the setting as it is.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<SsoAutoProvision>)]
    pub sso_auto_provision: Option<Option<SsoAutoProvision>>,
    /// Whose password accounts must use a second factor: `off`, `msp_admins` (the default),
    /// `msp_staff` or `everyone`. Single sign-on accounts rely on the identity provider's.
    #[serde(default)]
    pub second_factor_policy: Option<SecondFactorPolicy>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`, by `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The caller's MSP.
#[utoipa::path(
    get,
    path = "/api/v1/msp",
    tag = "me",
    responses((status = OK, body = Msp), ListErrors),
)]
async fn get_msp(ctx: CallerContext) -> Result<Json<Msp>, ApiError> {
    ctx.caller
        .msp(ctx.conn())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("your MSP no longer exists"))
}

/// Changes the MSP's settings (MSP admins).
#[utoipa::path(
    patch,
    path = "/api/v1/msp",
    tag = "me",
    request_body = UpdateMsp,
    responses((status = OK, body = Msp), WriteErrors),
)]
async fn update_msp(
    ctx: CallerContext,
    ApiJson(body): ApiJson<UpdateMsp>,
) -> Result<Json<Msp>, ApiError> {
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    let admin = ctx.caller.admin(&write)?;
    if body.sso_auto_provision.is_none() && body.second_factor_policy.is_none() {
        drop(write);
        return get_msp(ctx.clone()).await;
    }
    if let Some(policy) = body.second_factor_policy {
        // Who must prove a second factor is itself a sensitive setting.
        ctx.require_confirmed()?;
        admin.set_second_factor_policy(policy).await?;
    }
    let Some(setting) = body.sso_auto_provision else {
        drop(write);
        txn.commit().await?;
        return get_msp(ctx.clone()).await;
    };
    let msp = admin
        .set_sso_auto_provision(setting)
        .await
        .map_err(|err| match err {
            MspSettingsError::Storage(storage) => storage.into(),
            MspSettingsError::DomainTaken(_) => ApiError::conflict("domain-taken", err.to_string()),
            MspSettingsError::PublicMailDomain(_) => {
                ApiError::unprocessable("public-mail-domain", err.to_string())
            }
            MspSettingsError::DomainNotVerified(_) => {
                ApiError::unprocessable("domain-not-verified", err.to_string())
            }
            other => ApiError::unprocessable("invalid-setting", other.to_string()),
        })?;
    txn.commit().await?;
    Ok(Json(msp))
}
