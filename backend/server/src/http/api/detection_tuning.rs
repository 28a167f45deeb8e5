//! Tuning a detection rule for one tenant: suppressions (field conditions under which the
//! rule's matches are not findings there), each replayed over the rule's past findings before it
//! is saved, and the suppression Steward suggests from what the rule's noise shares. See
//! `docs/detections.md`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_core::detection::{
    content,
    tuning::{self, NOISE_FOR_SUGGESTION, Refusal},
};
use steward_domain::{
    TenantId,
    detections::{
        Condition, Replay, Suggestion, Suppression, SuppressionError, SuppressionRequest,
        check_conditions,
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::detections::no_rule;
use super::responses::{ReadErrors, WriteErrors};
use crate::{
    http::{
        ApiError, ErrorDetail,
        extract::{ApiJson, ApiPath},
        scoped::{InTenant, Needs, needs},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_suppressions, suppress))
        .routes(routes!(remove_suppression))
        .routes(routes!(replay))
        .routes(routes!(suggestion))
}

/// A suppression to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    /// All must hold for a match to be suppressed (1 to 10).
    pub conditions: Vec<Condition>,
    /// Why: required (422 `reason-required` when absent or blank), kept in the audit chain.
    #[serde(default)]
    pub reason: String,
    /// When it stops applying; absent for never.
    pub expires_at: Option<DateTime<Utc>>,
    /// Save it even though the replay shows it would have hidden true positives.
    #[serde(default)]
    pub accept_hidden_true_positives: bool,
}

/// Conditions to replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    pub conditions: Vec<Condition>,
}

/// A suppression as saved, with what its replay showed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Suppressed {
    pub suppression: Suppression,
    pub replay: Replay,
}

/// A suppression refused because it would have hidden true positives: which ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionRefusal {
    pub error: ErrorDetail,
    pub replay: Replay,
}

/// The rule's suppressions in the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionList {
    /// Oldest first; expired ones too, marked.
    pub items: Vec<ListedSuppression>,
}

/// A suppression and whether it applies now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedSuppression {
    #[serde(flatten)]
    pub suppression: Suppression,
    pub active: bool,
}

/// What Steward suggests for the rule in the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionAnswer {
    /// `null` when there is nothing to suggest; `reason` says why.
    pub suggestion: Option<Suggestion>,
    pub reason: Option<String>,
}

impl From<SuppressionError> for ApiError {
    fn from(error: SuppressionError) -> Self {
        let code = match error {
            SuppressionError::NoReason => "reason-required",
            SuppressionError::Expired => "invalid-expiry",
            _ => "invalid-conditions",
        };
        ApiError::unprocessable(code, error.to_string())
    }
}

async fn known_rule<N: Needs>(ctx: &InTenant<N>, rule_id: &str) -> Result<(), ApiError> {
    if content::exists(ctx.conn(), ctx.caller.msp_id(), rule_id).await? {
        Ok(())
    } else {
        Err(no_rule(rule_id))
    }
}

/// The rule's suppressions in this tenant (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    responses((status = OK, body = SuppressionList), ReadErrors),
)]
async fn list_suppressions(
    ctx: InTenant<needs::ReadDetections>,
    ApiPath((_, rule_id)): ApiPath<(TenantId, String)>,
) -> Result<Json<SuppressionList>, ApiError> {
    known_rule(&ctx, &rule_id).await?;
    let now = ctx.clock.now();
    let items = ctx
        .scope()
        .suppressions()?
        .list(Some(&rule_id))
        .await?
        .into_iter()
        .map(|suppression| ListedSuppression {
            active: suppression.active(now),
            suppression,
        })
        .collect();
    Ok(Json(SuppressionList { items }))
}

/// Suppresses the rule's matches on events meeting every condition, in this tenant (MSP admins
/// and technicians). The suppression is first replayed over the rule's past findings here;
/// when it would have hidden a true positive it is refused with 409 `hides-true-positives`
/// naming them, unless `accept_hidden_true_positives` is set (the audit entry then names the
/// true positives accepted as hidden).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    request_body = NewSuppression,
    responses(
        (status = CREATED, body = Suppressed),
        (status = CONFLICT, body = SuppressionRefusal, description = "It would have hidden true positives"),
        WriteErrors
    ),
)]
async fn suppress(
    ctx: InTenant<needs::ManageDetections>,
    ApiPath((tenant_id, rule_id)): ApiPath<(TenantId, String)>,
    ApiJson(body): ApiJson<NewSuppression>,
) -> Result<Response, ApiError> {
    known_rule(&ctx, &rule_id).await?;
    let request = SuppressionRequest {
        conditions: body.conditions,
        reason: body.reason,
        expires_at: body.expires_at,
    };
    let vetted = tuning::vet(
        ctx.conn(),
        (ctx.caller.msp_id(), tenant_id),
        &rule_id,
        &request,
        ctx.clock.now(),
        body.accept_hidden_true_positives,
    )
    .await?;
    let replay = match vetted {
        Ok(replay) => replay,
        Err(Refusal::Invalid(invalid)) => return Err(invalid.into()),
        Err(Refusal::HidesTruePositives(replay)) => {
            let refusal = SuppressionRefusal {
                error: ErrorDetail {
                    code: "hides-true-positives".to_owned(),
                    message: format!(
                        "this suppression would have hidden {} true positive(s); narrow its \
                         conditions, or set accept_hidden_true_positives",
                        replay.hidden_true_positives.len()
                    ),
                },
                replay,
            };
            return Ok((StatusCode::CONFLICT, Json(refusal)).into_response());
        }
    };
    let suppression = ctx
        .work(async |work| {
            Ok(work
                .suppress_rule(&rule_id, &request, &replay.hidden_true_positives)
                .await?)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Suppressed {
            suppression,
            replay,
        }),
    )
        .into_response())
}

/// Removes a suppression (MSP admins and technicians): the rule's matches it held back become
/// findings again from now on.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions/{suppression_id}",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
        ("suppression_id" = uuid::Uuid, Path, description = "The suppression's id"),
    ),
    responses((status = NO_CONTENT, description = "Removed"), WriteErrors),
)]
async fn remove_suppression(
    ctx: InTenant<needs::ManageDetections>,
    ApiPath((_, rule_id, id)): ApiPath<(TenantId, String, uuid::Uuid)>,
) -> Result<StatusCode, ApiError> {
    ctx.work(async |work| match work.remove_suppression(id).await? {
        Some(removed) if removed.rule_id == rule_id => Ok(StatusCode::NO_CONTENT),
        _ => Err(ApiError::not_found(format!(
            "no suppression {id} of rule {rule_id} in this tenant"
        ))),
    })
    .await
}

/// What a suppression with these conditions would have hidden of the rule's findings in this
/// tenant, by verdict, naming the true positives (MSP staff). Nothing is saved.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions/replay",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    request_body = ReplayRequest,
    responses((status = OK, body = Replay), ReadErrors),
)]
async fn replay(
    ctx: InTenant<needs::ReadDetections>,
    ApiPath((tenant_id, rule_id)): ApiPath<(TenantId, String)>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> Result<Json<Replay>, ApiError> {
    known_rule(&ctx, &rule_id).await?;
    check_conditions(&body.conditions)?;
    let replay = tuning::replay(
        ctx.conn(),
        ctx.caller.msp_id(),
        tenant_id,
        &rule_id,
        &body.conditions,
    )
    .await?;
    Ok(Json(replay))
}

/// The suppression Steward suggests for the rule in this tenant (MSP staff): every identifying
/// field (command line, image, parent, user, host, …) whose value all of the rule's findings
/// judged false or benign share, with its replay.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppression-suggestion",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    responses((status = OK, body = SuggestionAnswer), ReadErrors),
)]
async fn suggestion(
    ctx: InTenant<needs::ReadDetections>,
    ApiPath((tenant_id, rule_id)): ApiPath<(TenantId, String)>,
) -> Result<Json<SuggestionAnswer>, ApiError> {
    known_rule(&ctx, &rule_id).await?;
    let suggestion = tuning::suggest(ctx.conn(), ctx.caller.msp_id(), tenant_id, &rule_id).await?;
    let reason = suggestion.is_none().then(|| {
        format!(
            "a suggestion needs at least {NOISE_FOR_SUGGESTION} findings judged false or benign \
             that share a command line, image, parent, user or host"
        )
    });
    Ok(Json(SuggestionAnswer { suggestion, reason }))
}
