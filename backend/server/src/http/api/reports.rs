//! Outcome reports, as JSON or as a PDF.

use axum::{
    Json,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use steward_core::reports::MAX_PERIOD;
use steward_domain::{TenantId, reports::OutcomeReport};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::ReadErrors;
use crate::http::scoped::InTenant;
use crate::{
    http::{ApiError, extract::ApiQuery},
    reports_pdf,
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(outcome_report))
}

/// The period a report covers.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Start (RFC 3339); 30 days before `to` when absent.
    #[serde(default, deserialize_with = "rfc3339")]
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive (RFC 3339); now when absent.
    #[serde(default, deserialize_with = "rfc3339")]
    pub to: Option<DateTime<Utc>>,
}

/// An RFC 3339 date-time, refused with an example of one.
pub(crate) fn rfc3339<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not an RFC 3339 date-time, such as 2026-12-01T00:00:00Z"
            ))
        })
}

impl ReportQuery {
    /// The period, or a 400 saying what is wrong with it.
    pub fn period(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - chrono::Duration::days(30));
        if from >= to {
            return Err(ApiError::bad_request(
                "invalid-period",
                "`from` must be before `to`",
            ));
        }
        if to - from > MAX_PERIOD {
            return Err(ApiError::bad_request(
                "invalid-period",
                format!("a report covers at most {} days", MAX_PERIOD.num_days()),
            ));
        }
        Ok((from, to))
    }
}

/// Whether the client asked for a PDF.
fn wants_pdf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|kind| kind.trim().starts_with("application/pdf"))
}

/// The tenant's outcome report: incidents, time to detect and respond, actions with their
/// approvals and results, and risk before and after. JSON by default; a PDF (with the risk
/// chart) with `Accept: application/pdf`. Customer owners read their own tenant's.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/reports/outcome",
    tag = "reports",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), ReportQuery),
    responses(
        (status = OK, description = "The report", content(
            (OutcomeReport = "application/json"),
            (Vec<u8> = "application/pdf"),
        )),
        ReadErrors,
    ),
)]
async fn outcome_report(
    ctx: InTenant,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let now = ctx.clock.now();
    let (from, to) = query.period(now)?;
    let scope = ctx.scope();
    let report = steward_core::reports::outcome_report(&scope, from, to, now).await?;
    if wants_pdf(&headers) {
        let filename = format!(
            "attachment; filename=\"outcome-{}-{}.pdf\"",
            scope.tenant().slug,
            to.format("%Y-%m-%d")
        );
        return Ok((
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, filename),
            ],
            reports_pdf::render(&report),
        )
            .into_response());
    }
    Ok(Json(report).into_response())
}
