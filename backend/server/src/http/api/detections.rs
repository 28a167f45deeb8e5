//! Detection rules as managed content: the built-in Sigma pack and the MSP's own rules, listed
//! with where each is on; uploads checked with line and column errors; rules turned on or off
//! for the whole MSP or one tenant. Every change is in the audit chain with its versions. See
//! `docs/detections.md`.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use steward_core::{
    detection::{
        content::{self, Origin, RuleView, UploadError},
        retro_hunt::{self as hunt, HuntError},
        sigma::Problem,
    },
    storage::detection_rules::Saved,
};
use steward_domain::TenantId;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::responses::{ReadErrors, WriteErrors};
use crate::{
    http::{
        ApiError, ErrorDetail,
        auth::CallerContext,
        extract::{ApiJson, ApiPath, ApiQuery},
        scoped::{AsMsp, InTenant, needs},
    },
    state::AppState,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, upload_rule))
        .routes(routes!(get_rule, replace_rule, remove_rule))
        .routes(routes!(rule_history))
        .routes(routes!(set_msp_state))
        .routes(routes!(list_tenant_rules))
        .routes(routes!(set_tenant_state))
        .routes(routes!(retro_hunt))
}

/// A detection rule and where it is on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rule {
    /// The rule's Sigma `id`.
    pub rule_id: String,
    pub title: String,
    /// Sigma's level: `informational`, `low`, `medium`, `high` or `critical`.
    pub level: Option<String>,
    /// Sigma tags, MITRE ATT&CK's among them (`attack.t1059.001`).
    pub tags: Vec<String>,
    /// `built_in` (curated from SigmaHQ) or `custom` (the MSP's own).
    pub origin: String,
    /// A digest of the rule's canonical form; findings name the version that matched.
    pub version: String,
    /// Whether it is evaluated where asked: the tenant's choice, else the MSP's, else on.
    pub enabled: bool,
    /// The MSP's choice, when it made one.
    pub msp_enabled: Option<bool>,
    /// The tenant's choice, when one was made (tenant lists only).
    pub tenant_enabled: Option<bool>,
    /// Its findings in the window (in the tenant, or across the MSP).
    pub findings: u64,
    /// Verdicts of the incidents its findings are in.
    pub true_positives: u64,
    pub benign_true_positives: u64,
    pub false_positives: u64,
    /// True positives over every verdict; `null` before any.
    pub precision: Option<f64>,
    /// When its newest finding happened; `null` without any.
    pub last_match: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<RuleView> for Rule {
    fn from(rule: RuleView) -> Self {
        let precision = rule.precision();
        Self {
            findings: rule.verdicts.findings,
            true_positives: rule.verdicts.true_positive,
            benign_true_positives: rule.verdicts.benign_true_positive,
            false_positives: rule.verdicts.false_positive,
            last_match: rule.verdicts.last_match,
            precision,
            rule_id: rule.rule_id,
            title: rule.title,
            level: rule.level,
            tags: rule.tags,
            origin: match rule.origin {
                Origin::BuiltIn => "built_in",
                Origin::Custom => "custom",
            }
            .to_owned(),
            version: rule.version,
            enabled: rule.enabled,
            msp_enabled: rule.msp_enabled,
            tenant_enabled: rule.tenant_enabled,
        }
    }
}

/// One page of rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    pub items: Vec<Rule>,
    /// Rules matching the filters, on every page.
    pub total: usize,
    /// The days back findings and verdicts were counted.
    pub window_days: u16,
}

/// Which rules to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RuleQuery {
    /// Words the id, title or a tag contains (ignoring case).
    pub search: Option<String>,
    /// `built_in` or `custom`.
    pub origin: Option<String>,
    /// Only rules on (`true`) or off (`false`).
    pub enabled: Option<bool>,
    /// Only rules of this level.
    pub level: Option<String>,
    /// Rules to skip, default 0.
    pub offset: Option<usize>,
    /// 1–500, default 100.
    pub limit: Option<usize>,
    /// `findings`: the rules with the most findings first (the noisiest); by default the
    /// MSP's own rules first, then the built-in ones.
    pub sort: Option<String>,
    /// Only rules with findings in the window (`true`).
    pub matched: Option<bool>,
    /// How many days back findings and verdicts are counted: 1–365, default 90.
    pub window_days: Option<u16>,
}

impl RuleQuery {
    /// The window findings are counted over, checked.
    fn window_days(&self) -> Result<u16, ApiError> {
        let days = self.window_days.unwrap_or(content::DEFAULT_WINDOW_DAYS);
        if !(1..=content::MAX_WINDOW_DAYS).contains(&days) {
            return Err(ApiError::bad_request(
                "invalid-window",
                format!("window_days is from 1 to {}", content::MAX_WINDOW_DAYS),
            ));
        }
        Ok(days)
    }

    fn filter(&self) -> Result<content::RuleFilter, ApiError> {
        let origin = match self.origin.as_deref() {
            None => None,
            Some("built_in") => Some(Origin::BuiltIn),
            Some("custom") => Some(Origin::Custom),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid-origin",
                    "origin is built_in or custom",
                ));
            }
        };
        let by_findings = match self.sort.as_deref() {
            None => false,
            Some("findings") => true,
            Some(_) => return Err(ApiError::bad_request("invalid-sort", "sort is findings")),
        };
        Ok(content::RuleFilter {
            search: content::RuleFilter::words(self.search.as_deref().unwrap_or_default()),
            origin,
            enabled: self.enabled,
            level: self.level.clone(),
            matched: self.matched.unwrap_or(false),
            by_findings,
        })
    }
}

/// The page of `tenant`'s rules (the MSP's without one) `query` asks for.
async fn list(
    ctx: &CallerContext,
    tenant: Option<TenantId>,
    query: &RuleQuery,
) -> Result<RuleList, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-limit",
            "limit is from 1 to 500",
        ));
    }
    let filter = query.filter()?;
    let window_days = query.window_days()?;
    let rules = content::rules(
        ctx.conn(),
        ctx.caller.msp_id(),
        tenant,
        (ctx.clock.now(), window_days),
    )
    .await?;
    let matching = filter.select(rules);
    let total = matching.len();
    let items = matching
        .into_iter()
        .skip(query.offset.unwrap_or(0))
        .take(limit)
        .map(Rule::from)
        .collect();
    Ok(RuleList {
        items,
        total,
        window_days,
    })
}

/// Every detection rule, built in and the MSP's own, with the MSP's choices (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/msp/detection-rules",
    tag = "detections",
    params(RuleQuery),
    responses((status = OK, body = RuleList), ReadErrors),
)]
async fn list_rules(
    ctx: AsMsp<needs::ReadDetections>,
    ApiQuery(query): ApiQuery<RuleQuery>,
) -> Result<Json<RuleList>, ApiError> {
    Ok(Json(list(&ctx, None, &query).await?))
}

/// One rule, with the MSP's choice (MSP staff); the YAML of the MSP's own rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleDetail {
    #[serde(flatten)]
    pub rule: Rule,
    /// The rule as uploaded (the MSP's own rules only).
    pub yaml: Option<String>,
}

/// One detection rule (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/msp/detection-rules/{rule_id}",
    tag = "detections",
    params(("rule_id" = String, Path, description = "The rule's Sigma id")),
    responses((status = OK, body = RuleDetail), ReadErrors),
)]
async fn get_rule(
    ctx: AsMsp<needs::ReadDetections>,
    ApiPath(rule_id): ApiPath<String>,
) -> Result<Json<RuleDetail>, ApiError> {
    let rule = one_rule(&ctx, None, &rule_id).await?;
    let yaml = steward_core::storage::detection_rules::DetectionContent::new(
        ctx.conn(),
        ctx.caller.msp_id(),
    )
    .custom_rule(&rule_id)
    .await?
    .map(|stored| stored.yaml);
    Ok(Json(RuleDetail {
        rule: rule.into(),
        yaml,
    }))
}

/// One version in a rule's lineage.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleVersion {
    pub version: String,
    pub title: String,
    /// Why it was made.
    pub reason: String,
    /// Who made it, as the audit chain names them.
    pub author: String,
    /// When it was stored; `null` for a built-in rule.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A unified diff from the version before; `null` for the first.
    pub diff: Option<String>,
    /// Whether it is the version evaluated now.
    pub current: bool,
    /// What this version found across the MSP, and the verdicts on it.
    pub findings: u64,
    pub true_positives: u64,
    pub benign_true_positives: u64,
    pub false_positives: u64,
    pub precision: Option<f64>,
}

/// A rule's lineage, newest version first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleHistory {
    pub rule_id: String,
    pub items: Vec<RuleVersion>,
}

/// A rule's lineage (MSP staff): every version of the MSP's own rule (kept after it is replaced
/// or removed) with who made it, when, why and the diff; for a built-in rule, the pack's
/// version. Each with the findings it produced and their verdicts.
#[utoipa::path(
    get,
    path = "/api/v1/msp/detection-rules/{rule_id}/history",
    tag = "detections",
    params(("rule_id" = String, Path, description = "The rule's Sigma id")),
    responses((status = OK, body = RuleHistory), ReadErrors),
)]
async fn rule_history(
    ctx: AsMsp<needs::ReadDetections>,
    ApiPath(rule_id): ApiPath<String>,
) -> Result<Json<RuleHistory>, ApiError> {
    let versions = content::history(ctx.conn(), ctx.caller.msp_id(), &rule_id)
        .await?
        .ok_or_else(|| no_rule(&rule_id))?;
    let items = versions
        .into_iter()
        .map(|view| RuleVersion {
            precision: content::precision(view.verdicts),
            findings: view.verdicts.findings,
            true_positives: view.verdicts.true_positive,
            benign_true_positives: view.verdicts.benign_true_positive,
            false_positives: view.verdicts.false_positive,
            version: view.version,
            title: view.title,
            reason: view.reason,
            author: view.author,
            created_at: view.created_at,
            diff: view.diff,
            current: view.current,
        })
        .collect();
    Ok(Json(RuleHistory { rule_id, items }))
}

/// Rule `rule_id` with where it is on (for the MSP, or in `tenant`); 404 when there is none.
async fn one_rule(
    ctx: &CallerContext,
    tenant: Option<TenantId>,
    rule_id: &str,
) -> Result<RuleView, ApiError> {
    let window = (ctx.clock.now(), content::DEFAULT_WINDOW_DAYS);
    content::rules(ctx.conn(), ctx.caller.msp_id(), tenant, window)
        .await?
        .into_iter()
        .find(|rule| rule.rule_id == rule_id)
        .ok_or_else(|| no_rule(rule_id))
}

pub(super) fn no_rule(rule_id: &str) -> ApiError {
    ApiError::not_found(format!("no detection rule {rule_id}"))
}

/// A rule to upload: one Sigma rule in YAML, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleUpload {
    pub yaml: String,
    /// Why this rule or this version: required (422 `reason-required` when absent or
    /// blank), kept in its lineage and the audit chain.
    #[serde(default)]
    pub reason: String,
}

/// A rule as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub rule: Rule,
    /// `created`, `replaced` (a new version of the MSP's rule) or `unchanged`.
    pub saved: String,
    /// The version it replaced.
    pub previous_version: Option<String>,
}

/// A refused upload: the error, and each problem with where it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleRefusal {
    pub error: ErrorDetail,
    pub problems: Vec<RuleProblem>,
}

/// A problem in an uploaded rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleProblem {
    /// 1-based, when the problem is at one place in the YAML.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The check that failed (`invalid_level`, `missing_detection`, `load`, …).
    pub check: String,
    pub message: String,
}

impl From<Problem> for RuleProblem {
    fn from(problem: Problem) -> Self {
        Self {
            line: problem.line,
            column: problem.column,
            check: problem.check,
            message: problem.message,
        }
    }
}

fn refused(error: UploadError) -> Response {
    let (status, code) = match &error {
        UploadError::Invalid(_) | UploadError::NotOne(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid-rule")
        }
        UploadError::BuiltIn(_) => (StatusCode::CONFLICT, "built-in-rule"),
        UploadError::OtherId { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "rule-id-mismatch"),
        UploadError::NoReason => (StatusCode::UNPROCESSABLE_ENTITY, "reason-required"),
        UploadError::BadId(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-rule-id"),
        UploadError::Storage(_) => {
            let UploadError::Storage(storage) = error else {
                unreachable!()
            };
            return ApiError::from(storage).into_response();
        }
    };
    let message = error.to_string();
    let problems = match error {
        UploadError::Invalid(problems) => problems.into_iter().map(RuleProblem::from).collect(),
        _ => Vec::new(),
    };
    (
        status,
        Json(RuleRefusal {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
            },
            problems,
        }),
    )
        .into_response()
}

async fn store(
    ctx: &AsMsp<needs::ManageDetections>,
    upload: content::Upload<'_>,
) -> Result<Uploaded, Response> {
    let txn = ctx.storage.begin().await.map_err(respond)?;
    let write = ctx.write(&txn);
    let writer = ctx.caller.detection_content(&write).map_err(respond)?;
    let (rule, saved) = content::upload(&writer, upload).await.map_err(refused)?;
    drop(write);
    txn.commit().await.map_err(respond)?;
    let (saved, previous_version) = match saved {
        Saved::Created => ("created", None),
        Saved::Replaced { previous_version } => ("replaced", Some(previous_version)),
        Saved::Unchanged => ("unchanged", None),
    };
    Ok(Uploaded {
        rule: rule.into(),
        saved: saved.to_owned(),
        previous_version,
    })
}

/// Uploads one of the MSP's own rules (MSP admins and technicians), or one correlation rule
/// with the rules it correlates: checked against the Sigma specification and loaded as
/// Steward evaluates it; refused with each problem's line and column (422), or when its id is
/// a built-in rule's (409). An id the MSP used before makes a new version of that rule.
#[utoipa::path(
    post,
    path = "/api/v1/msp/detection-rules",
    tag = "detections",
    request_body = RuleUpload,
    responses(
        (status = CREATED, body = Uploaded),
        (status = UNPROCESSABLE_ENTITY, body = RuleRefusal),
        WriteErrors
    ),
)]
async fn upload_rule(
    ctx: AsMsp<needs::ManageDetections>,
    ApiJson(body): ApiJson<RuleUpload>,
) -> Response {
    let upload = content::Upload {
        yaml: &body.yaml,
        reason: &body.reason,
        expected: None,
    };
    match store(&ctx, upload).await {
        Ok(uploaded) => (StatusCode::CREATED, Json(uploaded)).into_response(),
        Err(refusal) => refusal,
    }
}

/// Replaces one of the MSP's own rules with a new version (MSP admins and technicians); the
/// upload must keep the rule's id.
#[utoipa::path(
    put,
    path = "/api/v1/msp/detection-rules/{rule_id}",
    tag = "detections",
    params(("rule_id" = String, Path, description = "The rule's Sigma id")),
    request_body = RuleUpload,
    responses(
        (status = OK, body = Uploaded),
        (status = UNPROCESSABLE_ENTITY, body = RuleRefusal),
        WriteErrors
    ),
)]
async fn replace_rule(
    ctx: AsMsp<needs::ManageDetections>,
    ApiPath(rule_id): ApiPath<String>,
    ApiJson(body): ApiJson<RuleUpload>,
) -> Response {
    let upload = content::Upload {
        yaml: &body.yaml,
        reason: &body.reason,
        expected: Some(&rule_id),
    };
    match store(&ctx, upload).await {
        Ok(uploaded) => Json(uploaded).into_response(),
        Err(refusal) => refusal,
    }
}

/// Removes one of the MSP's own rules and every choice made about it (MSP admins and
/// technicians); built-in rules are turned off instead.
#[utoipa::path(
    delete,
    path = "/api/v1/msp/detection-rules/{rule_id}",
    tag = "detections",
    params(("rule_id" = String, Path, description = "The rule's Sigma id")),
    responses((status = NO_CONTENT), WriteErrors),
)]
async fn remove_rule(
    ctx: AsMsp<needs::ManageDetections>,
    ApiPath(rule_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    let removed = ctx
        .caller
        .detection_content(&write)?
        .remove_rule(&rule_id)
        .await?;
    if removed.is_none() {
        return Err(no_rule(&rule_id));
    }
    drop(write);
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a rule is on; `null` goes back to the default (the MSP's choice, for a tenant; on,
/// for the MSP).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleState {
    pub enabled: Option<bool>,
}

/// Turns a rule on or off for every tenant of the MSP (MSP admins and technicians); a tenant's
/// own choice still stands.
#[utoipa::path(
    put,
    path = "/api/v1/msp/detection-rules/{rule_id}/state",
    tag = "detections",
    params(("rule_id" = String, Path, description = "The rule's Sigma id")),
    request_body = RuleState,
    responses((status = OK, body = Rule), WriteErrors),
)]
async fn set_msp_state(
    ctx: AsMsp<needs::ManageDetections>,
    ApiPath(rule_id): ApiPath<String>,
    ApiJson(body): ApiJson<RuleState>,
) -> Result<Json<Rule>, ApiError> {
    if !content::exists(ctx.conn(), ctx.caller.msp_id(), &rule_id).await? {
        return Err(no_rule(&rule_id));
    }
    let txn = ctx.storage.begin().await?;
    let write = ctx.write(&txn);
    ctx.caller
        .detection_content(&write)?
        .set_msp_state(&rule_id, body.enabled)
        .await?;
    drop(write);
    txn.commit().await?;
    let rule = one_rule(&ctx, None, &rule_id).await?;
    Ok(Json(rule.into()))
}

/// Every detection rule with where it is on in this tenant (MSP staff).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant_id}/detection-rules",
    tag = "detections",
    params(("tenant_id" = TenantId, Path, description = "The tenant's id"), RuleQuery),
    responses((status = OK, body = RuleList), ReadErrors),
)]
async fn list_tenant_rules(
    ctx: InTenant<needs::ReadDetections>,
    ApiPath(tenant_id): ApiPath<TenantId>,
    ApiQuery(query): ApiQuery<RuleQuery>,
) -> Result<Json<RuleList>, ApiError> {
    Ok(Json(list(&ctx, Some(tenant_id), &query).await?))
}

/// Turns a rule on or off in this tenant, whatever the MSP chose (MSP admins and technicians);
/// `null` goes back to the MSP's choice.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/state",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    request_body = RuleState,
    responses((status = OK, body = Rule), WriteErrors),
)]
async fn set_tenant_state(
    ctx: InTenant<needs::ManageDetections>,
    ApiPath((tenant_id, rule_id)): ApiPath<(TenantId, String)>,
    ApiJson(body): ApiJson<RuleState>,
) -> Result<Json<Rule>, ApiError> {
    if !content::exists(ctx.conn(), ctx.caller.msp_id(), &rule_id).await? {
        return Err(no_rule(&rule_id));
    }
    ctx.work(async |work| Ok(work.set_rule_state(&rule_id, body.enabled).await?))
        .await?;
    let rule = one_rule(&ctx, Some(tenant_id), &rule_id).await?;
    Ok(Json(rule.into()))
}

/// How far back a retro-hunt looks.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetroHuntRequest {
    /// The last 1 to 30 days.
    pub days: u32,
}

/// What a retro-hunt found; the matched events are being triaged.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetroHuntAnswer {
    /// Stored events of the window.
    pub scanned: usize,
    /// Events the rule matched, queued for triage (their findings appear as triage records
    /// them; a finding already recorded is not recorded again).
    pub matched: usize,
}

/// Runs a rule over the tenant's stored events of the last `days` days (MSP admins and
/// technicians): for a rule just uploaded, changed or turned on. What it matches is triaged like
/// new events. Refused with 409 when the rule is off in the tenant, 422 for a window beyond 30
/// days or 200,000 events.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/retro-hunt",
    tag = "detections",
    params(
        ("tenant_id" = TenantId, Path, description = "The tenant's id"),
        ("rule_id" = String, Path, description = "The rule's Sigma id"),
    ),
    request_body = RetroHuntRequest,
    responses((status = ACCEPTED, body = RetroHuntAnswer), WriteErrors),
)]
async fn retro_hunt(
    ctx: InTenant<needs::ManageDetections>,
    ApiPath((_, rule_id)): ApiPath<(TenantId, String)>,
    ApiJson(body): ApiJson<RetroHuntRequest>,
) -> Result<(StatusCode, Json<RetroHuntAnswer>), ApiError> {
    if !content::exists(ctx.conn(), ctx.caller.msp_id(), &rule_id).await? {
        return Err(no_rule(&rule_id));
    }
    let hunted = ctx
        .work(async |work| {
            hunt::retro_hunt(work, &rule_id, body.days)
                .await
                .map_err(|error| {
                    let message = error.to_string();
                    match error {
                        HuntError::Window => ApiError::unprocessable("invalid-window", message),
                        HuntError::TooManyEvents => {
                            ApiError::unprocessable("window-too-large", message)
                        }
                        HuntError::RuleOff => ApiError::conflict("rule-off", message),
                        HuntError::Correlation => {
                            ApiError::unprocessable("correlation-rule", message)
                        }
                        HuntError::Work(work) => work.into(),
                    }
                })
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RetroHuntAnswer {
            scanned: hunted.scanned,
            matched: hunted.matched,
        }),
    ))
}

/// An error as a response, for handlers that answer other bodies too.
fn respond(error: impl Into<ApiError>) -> Response {
    error.into().into_response()
}
