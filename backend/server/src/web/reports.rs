//! The outcome report, as a page and as a PDF.

use axum::{
    extract::{Path, Query},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use steward_domain::TenantId;

use super::scoped::WebTenant;
use super::{UiError, pages::chrome};

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    #[serde(default, deserialize_with = "crate::http::api::reports::rfc3339")]
    from: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, deserialize_with = "crate::http::api::reports::rfc3339")]
    to: Option<chrono::DateTime<chrono::Utc>>,
}

async fn build_report(
    s: &WebTenant,
    query: &ReportQuery,
) -> Result<steward_domain::reports::OutcomeReport, UiError> {
    let now = s.clock.now();
    let to = query.to.unwrap_or(now);
    let from = query.from.unwrap_or(to - chrono::Duration::days(30));
    if from >= to || to - from > steward_core::reports::MAX_PERIOD {
        return Err(UiError::BadForm(
            "the report's period must start before it ends and span at most 366 days".into(),
        ));
    }
    let scope = s.scope();
    steward_core::reports::outcome_report(&scope, from, to, now)
        .await
        .map_err(|err| match err {
            steward_core::storage::TenantScopeError::Forbidden(forbidden) => {
                UiError::Forbidden(forbidden)
            }
            steward_core::storage::TenantScopeError::Storage(storage) => storage.into(),
        })
}

/// The outcome report as a page.
pub async fn report(
    s: WebTenant,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, UiError> {
    let report = build_report(&s, &query).await?;
    let pdf = format!(
        "/tenants/{tenant_id}/report.pdf?from={}&to={}",
        report
            .from
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        report.to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let chrome = chrome(&s, &format!("/tenants/{tenant_id}"), None).await?;
    Ok(Html(steward_frontend::pages::report::render(
        chrome,
        report,
        pdf,
        format!("/tenants/{tenant_id}"),
    ))
    .into_response())
}

/// The outcome report as a PDF download.
pub async fn report_pdf(
    s: WebTenant,
    Query(query): Query<ReportQuery>,
) -> Result<Response, UiError> {
    let report = build_report(&s, &query).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "application/pdf".to_owned(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"outcome-{}.pdf\"",
                    report.to.format("%Y-%m-%d")
                ),
            ),
        ],
        crate::reports_pdf::render(&report),
    )
        .into_response())
}
