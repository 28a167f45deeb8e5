//! The response page's kill switch: pulled by staff and the customer's owner, released by an
//! MSP admin who confirmed who they are.

use axum::{
    extract::{Path, State},
    response::Response,
};
use serde::Deserialize;
use steward_domain::TenantId;

use super::scoped::WebTenantForm;
use crate::state::AppState;

use super::{UiError, pages::back};

#[derive(Debug, Deserialize)]
pub struct HaltForm {
    #[serde(default)]
    reason: String,
}

/// Pulls the tenant's kill switch.
pub async fn pull_kill_switch(
    WebTenantForm { session: s, form }: WebTenantForm<HaltForm>,
) -> Result<Response, UiError> {
    s.in_work(async |work| {
        work.halt_automation(&form.reason).await?;
        Ok("kill-switch-pulled")
    })
    .await
}

/// Releases the tenant's kill switch (MSP admins).
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    /// The password or second-factor code, when not confirmed in the last minutes.
    #[serde(default)]
    confirm: String,
}

pub async fn release_kill_switch(
    State(state): State<AppState>,
    Path(tenant_id): Path<TenantId>,
    WebTenantForm { session: s, form }: WebTenantForm<ConfirmForm>,
) -> Result<Response, UiError> {
    if let Err(code) = super::second_factor::step_up(&s, &state.secrets, &form.confirm).await? {
        return Ok(back(&format!("/tenants/{tenant_id}/response"), Err(code)));
    }
    s.in_work(async |work| {
        work.release_automation().await?;
        Ok("kill-switch-released")
    })
    .await
}
