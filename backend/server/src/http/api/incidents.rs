//! Incidents (findings grouped by entity and time) and entity risk. Everyone who sees a
//! tenant's incidents reads them; MSP admins and technicians work them.

use axum::Json;
use serde::{Deserialize, Serialize};
use steward_core::storage::{IncidentUpdateError, WorkError};
use steward_domain::{
    IncidentId, TenantId,
    actions::Action,
    incidents::{Incident, IncidentStatus, IncidentTicket, IncidentUpdate},
    risk::RiskScore,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::pagination::{PageQuery, list_body, page_in_memory, page_request};
use super::responses::{ReadErrors, WriteErrors};
use crate::http::scoped::InTenant;
use crate::{
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(list_risk))
}

list_body!(
    /// A page of incidents, newest first, each with its findings.
    IncidentList,
    Incident
);
list_body!(
    /// A page of entities' current risk scores, highest first.
    RiskList,
    RiskScore
);

/// An incident with the actions taken in it and its tickets in the tenant's PSAs.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    #[serde(flatten)]
    pub incident: Incident,
    pub actions: Vec<Action>,
    pub tickets: Vec<IncidentTicket>,
}

/// Which incidents to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IncidentQuery {
    /// Only incidents with this status.
    pub status: Option<IncidentStatus>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

impl From<WorkError> for ApiError {
    fn from(err: WorkError) -> Self {
        match err {
            WorkError::Forbidden(forbidden) => forbidden.into(),
            WorkError::Incident(incident) => incident.into(),
            WorkError::Action(action) => action.into(),
            WorkError::Guardrail(guardrail) => guardrail.into(),
            WorkError::Suppression(suppression) => suppression.into(),
            WorkError::Storage(storage) => storage.into(),
        }
    }
}

impl From<IncidentUpdateError> for ApiError {
    fn from(err: IncidentUpdateError) -> Self {
        let message = err.to_string();
        match err {
            IncidentUpdateError::NotFound(_) => ApiError::not_found(message),
            IncidentUpdateError::VerdictRequired => {
                ApiError::unprocessable("verdict-required", message)
            }
            IncidentUpdateError::VerdictWithoutResolution => {
                ApiError::unprocessable("verdict-without-resolution", message)
            }
            IncidentUpdateError::InvalidAssignee(_) => {
                ApiError::unprocessable("invalid-assignee", message)
            }
            IncidentUpdateError::Storage(storage) => storage.into(),
        }
    }
}

/// The tenant's incidents, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/incidents",
    tag = "incidents",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), IncidentQuery),
    responses((status = OK, body = IncidentList), ReadErrors),
)]
async fn list_incidents(
    ctx: InTenant,
    ApiQuery(query): ApiQuery<IncidentQuery>,
) -> Result<Json<IncidentList>, ApiError> {
    let request = page_request(query.limit, query.cursor.as_deref())?;
    let scope = ctx.scope();
    Ok(Json(
        scope.incidents()?.list(query.status, request).await?.into(),
    ))
}

/// One incident with its findings and the actions taken in it.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/incidents/{incident_id}",
    tag = "incidents",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("incident_id" = IncidentId, Path, description = "The incident's id"),
    ),
    responses((status = OK, body = IncidentDetail), ReadErrors),
)]
async fn get_incident(
    ctx: InTenant,
    ApiPath((_, incident_id)): ApiPath<(TenantId, IncidentId)>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let scope = ctx.scope();
    let incident = scope
        .incidents()?
        .get(incident_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no incident {incident_id}")))?;
    let actions = if scope.allows(steward_domain::access::Permission::ReadActions) {
        scope.actions()?.of_incident(incident_id).await?
    } else {
        Vec::new()
    };
    let tickets = scope.incident_tickets()?.of_incident(incident_id).await?;
    Ok(Json(IncidentDetail {
        incident,
        actions,
        tickets,
    }))
}

/// Works an incident (MSP admins and technicians): its status (`new`, `investigating`,
/// `contained`, `resolved`), its assignee, and on resolution its verdict (`true_positive`,
/// `benign_true_positive`, `false_positive`).
#[utoipa::path(
    patch,
    path = "/api/v1/tenants/{tenant_id}/incidents/{incident_id}",
    tag = "incidents",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("incident_id" = IncidentId, Path, description = "The incident's id"),
    ),
    request_body = IncidentUpdate,
    responses((status = OK, body = Incident), WriteErrors),
)]
async fn update_incident(
    ctx: InTenant,
    ApiPath((_, incident_id)): ApiPath<(TenantId, IncidentId)>,
    ApiJson(body): ApiJson<IncidentUpdate>,
) -> Result<Json<Incident>, ApiError> {
    ctx.work(async |work| {
        Ok(steward_core::incidents::update_incident(work, incident_id, &body).await?)
    })
    .await
    .map(Json)
}

/// Every scored device and identity of the tenant, highest risk first, with the factors that
/// make each score.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/risk",
    tag = "incidents",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), PageQuery),
    responses((status = OK, body = RiskList), ReadErrors),
)]
async fn list_risk(
    ctx: InTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<RiskList>, ApiError> {
    let request = page.request::<usize>()?;
    let scope = ctx.scope();
    let scores = scope.risk()?.current().await?;
    let numbered: Vec<(usize, RiskScore)> = scores.into_iter().enumerate().collect();
    let page = page_in_memory(numbered, request, |(index, _)| *index + 1);
    Ok(Json(RiskList {
        items: page.items.into_iter().map(|(_, score)| score).collect(),
        next_cursor: page.next.map(|n| n.to_string()),
    }))
}
