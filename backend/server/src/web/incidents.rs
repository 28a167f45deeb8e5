//! The response page's incident form: status and verdict.

use axum::{extract::Path, response::Response};
use serde::Deserialize;
use steward_domain::{
    IncidentId, TenantId,
    incidents::{IncidentStatus, IncidentUpdate, Verdict},
};

use super::UiError;
use super::scoped::WebTenantForm;

#[derive(Debug, Deserialize)]
pub struct IncidentForm {
    status: String,
    #[serde(default)]
    verdict: String,
}

pub async fn update_incident(
    Path((_, incident_id)): Path<(TenantId, IncidentId)>,
    WebTenantForm { session: s, form }: WebTenantForm<IncidentForm>,
) -> Result<Response, UiError> {
    let status = IncidentStatus::parse(&form.status)
        .ok_or_else(|| UiError::BadForm(format!("unknown status {:?}", form.status)))?;
    let verdict = match form.verdict.as_str() {
        "" => None,
        other => Some(
            Verdict::parse(other)
                .ok_or_else(|| UiError::BadForm(format!("unknown verdict {other:?}")))?,
        ),
    };
    s.in_work(async |work| {
        steward_core::incidents::update_incident(
            work,
            incident_id,
            &IncidentUpdate {
                status: Some(status),
                verdict,
                ..IncidentUpdate::default()
            },
        )
        .await?;
        Ok("incident-updated")
    })
    .await
}
