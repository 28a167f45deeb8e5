//! A tenant's detections in the console: the rules with what each found there, and one rule's
//! page with its lineage and the tuning flow (turn it on or off here, replay a suppression over
//! the rule's history, save or remove one). The same core calls as the API's
//! `detections` and `detection_tuning` routes; see `docs/detections.md`.

use axum::{
    extract::{Path, Query},
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use steward_core::{
    detection::{
        content::{self, Origin, RuleFilter, RuleView, UploadError},
        tuning::{self, NOISE_FOR_SUGGESTION, Refusal},
    },
    storage::detection_rules::DetectionContent,
};
use steward_domain::{
    TenantId,
    access::Permission,
    detections::{Replay, SuppressionError, SuppressionRequest, parse_conditions},
};
use steward_frontend::{
    Flash, FlashKind,
    pages::detections::{
        self as page, Counts, DetectionsPage, Draft, MspRulePage, MspRulesPage, RuleDraft,
        RulePage, RuleSummary, Show, VersionRow,
    },
};

use super::{
    UiError,
    pages::{PageQuery, back, chrome, error_message},
    response::refusal,
    scoped::{WebTenant, WebTenantForm},
    session::{WebForm, WebSession},
};
use crate::http::scoped::{Needs, needs};

/// Rules per page of the list.
const PER_PAGE: usize = 100;

fn counts(v: steward_core::storage::detection_rules::VerdictCounts) -> Counts {
    Counts {
        findings: v.findings,
        true_positives: v.true_positive,
        benign_true_positives: v.benign_true_positive,
        false_positives: v.false_positive,
        precision: content::precision(v),
        last_match: v.last_match,
    }
}

fn summary(rule: RuleView) -> RuleSummary {
    RuleSummary {
        counts: counts(rule.verdicts),
        rule_id: rule.rule_id,
        title: rule.title,
        level: rule.level,
        origin: match rule.origin {
            Origin::BuiltIn => "built in",
            Origin::Custom => "custom",
        },
        version: rule.version,
        tags: rule.tags,
        enabled: rule.enabled,
        msp_enabled: rule.msp_enabled,
        tenant_enabled: rule.tenant_enabled,
    }
}

fn rule_path(tenant_id: TenantId, rule_id: &str) -> String {
    format!("/tenants/{tenant_id}/detections/{rule_id}")
}

/// The flash code for a malformed suppression.
pub(super) fn suppression_refusal(error: &SuppressionError) -> &'static str {
    match error {
        SuppressionError::NoReason => "reason-required",
        SuppressionError::Expired => "invalid-expiry",
        _ => "invalid-conditions",
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(flatten)]
    page: PageQuery,
    #[serde(default)]
    search: String,
    show: Option<String>,
}

/// The tenant's rules, those that found something first.
pub async fn list(
    s: WebTenant<needs::ReadDetections>,
    Path(tenant_id): Path<TenantId>,
    Query(query): Query<ListQuery>,
) -> Result<Response, UiError> {
    let show = match query.show.as_deref() {
        None | Some("matched") => Show::Matched,
        Some("all") => Show::All,
        Some("off") => Show::Off,
        Some(_) => return Err(UiError::BadForm("show is matched, all or off".to_owned())),
    };
    let offset = match query.page.cursor.as_deref() {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .map_err(|_| UiError::BadForm("the page cursor is not valid".to_owned()))?,
    };
    let filter = RuleFilter {
        search: RuleFilter::words(&query.search),
        enabled: (show == Show::Off).then_some(false),
        matched: show == Show::Matched,
        by_findings: true,
        ..RuleFilter::default()
    };
    let window_days = content::DEFAULT_WINDOW_DAYS;
    let rules = filter.select(
        content::rules(
            s.storage.conn(),
            s.caller.msp_id(),
            Some(tenant_id),
            (s.clock.now(), window_days),
        )
        .await?,
    );
    let total = rules.len();
    let next = (offset + PER_PAGE < total).then(|| {
        let filter = serde_urlencoded::to_string([
            ("search", query.search.as_str()),
            ("show", show.as_str()),
        ])
        .unwrap_or_default();
        (
            format!("/tenants/{tenant_id}/detections?{filter}"),
            (offset + PER_PAGE).to_string(),
        )
    });
    let rules = rules
        .into_iter()
        .skip(offset)
        .take(PER_PAGE)
        .map(summary)
        .collect();
    let chrome = chrome(&s, "", query.page.flash()).await?;
    Ok(Html(page::render_list(
        chrome,
        DetectionsPage {
            tenant_id: tenant_id.to_string(),
            tenant_name: s.scope().tenant().name.clone(),
            rules,
            total,
            search: query.search,
            show,
            window_days,
            next,
        },
    ))
    .into_response())
}

/// One rule's page.
pub async fn rule(
    s: WebTenant<needs::ReadDetections>,
    Path((tenant_id, rule_id)): Path<(TenantId, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    let flash = query.flash();
    let page = rule_page(&s, tenant_id, &rule_id, None, None).await?;
    Ok(Html(page::render_rule(chrome(&s, "", flash).await?, page)).into_response())
}

/// Gathers a rule's page, with a draft suppression (else the suggestion, when there is one) and
/// its replay.
async fn rule_page<N: Needs>(
    s: &WebTenant<N>,
    tenant_id: TenantId,
    rule_id: &str,
    draft: Option<Draft>,
    replay: Option<Replay>,
) -> Result<RulePage, UiError> {
    let conn = s.storage.conn();
    let msp_id = s.caller.msp_id();
    let window_days = content::DEFAULT_WINDOW_DAYS;
    let rule = content::rules(conn, msp_id, Some(tenant_id), (s.clock.now(), window_days))
        .await?
        .into_iter()
        .find(|rule| rule.rule_id == rule_id)
        .ok_or(UiError::NotFound)?;
    let versions = versions(conn, msp_id, rule_id).await?;
    let now = s.clock.now();
    let suppressions: Vec<_> = s
        .scope()
        .suppressions()?
        .list(Some(rule_id))
        .await?
        .into_iter()
        .map(|suppression| {
            let active = suppression.active(now);
            (suppression, active)
        })
        .collect();
    let can_manage = s.caller.allows(Permission::ManageDetections);
    let suggestion = if can_manage {
        tuning::suggest(conn, msp_id, tenant_id, rule_id).await?
    } else {
        None
    };
    // Once saved, the suggestion is not offered again.
    let saved = suggestion.as_ref().is_some_and(|suggestion| {
        suppressions
            .iter()
            .any(|(saved, active)| *active && saved.conditions == suggestion.conditions)
    });
    let suggestion = suggestion.filter(|_| !saved);
    let no_suggestion = suggestion.is_none().then(|| {
        if saved {
            "An active suppression here is the suggestion.".to_owned()
        } else {
            format!(
                "Steward suggests a suppression once at least {NOISE_FOR_SUGGESTION} of this \
                 rule's findings here are judged false or benign and share a command line, \
                 image, parent, user or host."
            )
        }
    });
    let draft = draft.unwrap_or_else(|| Draft {
        conditions: suggestion
            .as_ref()
            .map(|s| {
                s.conditions
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default(),
        ..Draft::default()
    });
    Ok(RulePage {
        tenant_id: tenant_id.to_string(),
        tenant_name: s.scope().tenant().name.clone(),
        rule: summary(rule),
        window_days,
        versions,
        suppressions,
        suggestion,
        no_suggestion,
        draft,
        replay,
        can_manage,
        csrf_token: s.session.csrf_token.clone(),
    })
}

#[derive(Debug, Deserialize)]
pub struct StateForm {
    /// `on`, `off`, or `default` (the MSP's choice).
    state: String,
}

/// Turns the rule on or off in the tenant, or back to the MSP's choice.
pub async fn set_state(
    Path((tenant_id, rule_id)): Path<(TenantId, String)>,
    WebTenantForm { session: s, form }: WebTenantForm<StateForm, needs::ManageDetections>,
) -> Result<Response, UiError> {
    let enabled = parse_state(&form.state)?;
    if !content::exists(s.storage.conn(), s.caller.msp_id(), &rule_id).await? {
        return Err(UiError::NotFound);
    }
    s.in_work_back_to(
        &rule_path(tenant_id, &rule_id),
        async |work| {
            work.set_rule_state(&rule_id, enabled).await?;
            Ok("rule-state-saved")
        },
        refusal,
    )
    .await
}

/// A rule's lineage, newest first.
async fn versions(
    conn: &steward_core::storage::DatabaseConnection,
    msp_id: steward_domain::MspId,
    rule_id: &str,
) -> Result<Vec<VersionRow>, UiError> {
    Ok(content::history(conn, msp_id, rule_id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(|v| VersionRow {
            counts: counts(v.verdicts),
            version: v.version,
            title: v.title,
            reason: v.reason,
            author: v.author,
            created_at: v.created_at,
            diff: v.diff,
            current: v.current,
        })
        .collect())
}

/// A state form's choice: `on`, `off`, or `default` (no choice at this level).
fn parse_state(state: &str) -> Result<Option<bool>, UiError> {
    match state {
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        "default" => Ok(None),
        _ => Err(UiError::BadForm("state is on, off or default".to_owned())),
    }
}

#[derive(Debug, Deserialize)]
pub struct SuppressionForm {
    #[serde(default)]
    conditions: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    expires_days: String,
    #[serde(default)]
    accept_hidden_true_positives: bool,
    /// `replay` (show what it would hide, save nothing) or `save`.
    intent: String,
}

/// Replays a draft suppression, or saves it when its replay hides no true positive (or the
/// person accepted that it does). A refused draft is shown again with why.
pub async fn suppress(
    Path((tenant_id, rule_id)): Path<(TenantId, String)>,
    WebTenantForm { session: s, form }: WebTenantForm<SuppressionForm, needs::ManageDetections>,
) -> Result<Response, UiError> {
    if !content::exists(s.storage.conn(), s.caller.msp_id(), &rule_id).await? {
        return Err(UiError::NotFound);
    }
    let draft = Draft {
        conditions: form.conditions.clone(),
        reason: form.reason.clone(),
        expires_days: form.expires_days.clone(),
    };
    let now = s.clock.now();
    let shown_again = async |status: StatusCode, code: &str, replay: Option<Replay>| {
        let flash = Flash {
            kind: FlashKind::Error,
            message: error_message(code).to_owned(),
        };
        let page = rule_page(&s, tenant_id, &rule_id, Some(draft.clone()), replay).await?;
        let html = page::render_rule(chrome(&s, "", Some(flash)).await?, page);
        Ok::<_, UiError>((status, Html(html)).into_response())
    };
    let conditions = match parse_conditions(&form.conditions) {
        Ok(conditions) => conditions,
        Err(error) => {
            return shown_again(
                StatusCode::UNPROCESSABLE_ENTITY,
                suppression_refusal(&error),
                None,
            )
            .await;
        }
    };
    let Ok(expires_at) = expiry(&form.expires_days, now) else {
        return shown_again(StatusCode::UNPROCESSABLE_ENTITY, "invalid-expiry", None).await;
    };
    let msp_id = s.caller.msp_id();
    match form.intent.as_str() {
        "replay" => {
            let replay =
                tuning::replay(s.storage.conn(), msp_id, tenant_id, &rule_id, &conditions).await?;
            let page = rule_page(&s, tenant_id, &rule_id, Some(draft), Some(replay)).await?;
            Ok(Html(page::render_rule(chrome(&s, "", None).await?, page)).into_response())
        }
        "save" => {
            let request = SuppressionRequest {
                conditions,
                reason: form.reason,
                expires_at,
            };
            let vetted = tuning::vet(
                s.storage.conn(),
                (msp_id, tenant_id),
                &rule_id,
                &request,
                now,
                form.accept_hidden_true_positives,
            )
            .await?;
            let replay = match vetted {
                Ok(replay) => replay,
                Err(Refusal::Invalid(error)) => {
                    return shown_again(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        suppression_refusal(&error),
                        None,
                    )
                    .await;
                }
                Err(Refusal::HidesTruePositives(replay)) => {
                    return shown_again(StatusCode::CONFLICT, "hides-true-positives", Some(replay))
                        .await;
                }
            };
            s.in_work_back_to(
                &rule_path(tenant_id, &rule_id),
                async |work| {
                    work.suppress_rule(&rule_id, &request, &replay.hidden_true_positives)
                        .await?;
                    Ok("suppression-saved")
                },
                refusal,
            )
            .await
        }
        _ => Err(UiError::BadForm("intent is replay or save".to_owned())),
    }
}

/// When a suppression given `days` to live expires; `None` for never (an empty field).
fn expiry(days: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ()> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(None);
    }
    match days.parse::<i64>() {
        Ok(days @ 1..=3650) => Ok(Some(now + chrono::Duration::days(days))),
        _ => Err(()),
    }
}

/// Removes one of the rule's suppressions in the tenant.
pub async fn remove_suppression(
    Path((tenant_id, rule_id, suppression_id)): Path<(TenantId, String, uuid::Uuid)>,
    WebTenantForm { session: s, .. }: WebTenantForm<NoFields, needs::ManageDetections>,
) -> Result<Response, UiError> {
    let of_rule = s.scope().suppressions()?.list(Some(&rule_id)).await?;
    if !of_rule
        .iter()
        .any(|suppression| suppression.id == suppression_id)
    {
        return Err(UiError::NotFound);
    }
    s.in_work_back_to(
        &rule_path(tenant_id, &rule_id),
        async |work| {
            work.remove_suppression(suppression_id).await?;
            Ok("suppression-removed")
        },
        refusal,
    )
    .await
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

// ---- The MSP's rules ---------------------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct MspRulesQuery {
    #[serde(flatten)]
    page: PageQuery,
    #[serde(default)]
    search: String,
}

/// How many rules a search on the MSP's page lists.
const FOUND_SHOWN: usize = 100;

/// The MSP's rules: its own, the built-in ones it turned off, a search, and the upload form.
pub async fn msp_rules(
    s: WebSession,
    Query(query): Query<MspRulesQuery>,
) -> Result<Response, UiError> {
    needs::ReadDetections::check(&s.caller)?;
    let flash = query.page.flash();
    let page = msp_rules_page(&s, &query.search, RuleDraft::default()).await?;
    let chrome = chrome(&s, "/detections", flash).await?;
    Ok(Html(page::render_msp_rules(chrome, page)).into_response())
}

async fn msp_rules_page(
    s: &WebSession,
    search: &str,
    upload: RuleDraft,
) -> Result<MspRulesPage, UiError> {
    let window_days = content::DEFAULT_WINDOW_DAYS;
    let rules = content::rules(
        s.storage.conn(),
        s.caller.msp_id(),
        None,
        (s.clock.now(), window_days),
    )
    .await?;
    let own = RuleFilter {
        origin: Some(Origin::Custom),
        ..RuleFilter::default()
    }
    .select(rules.clone());
    let turned_off: Vec<RuleView> = rules
        .iter()
        .filter(|rule| rule.origin == Origin::BuiltIn && rule.msp_enabled == Some(false))
        .cloned()
        .collect();
    let found = if search.trim().is_empty() {
        Vec::new()
    } else {
        RuleFilter {
            search: RuleFilter::words(search),
            by_findings: true,
            ..RuleFilter::default()
        }
        .select(rules)
    };
    Ok(MspRulesPage {
        own: own.into_iter().map(summary).collect(),
        turned_off: turned_off.into_iter().map(summary).collect(),
        found_total: found.len(),
        found: found.into_iter().take(FOUND_SHOWN).map(summary).collect(),
        search: search.to_owned(),
        window_days,
        upload,
        can_manage: s.caller.allows(Permission::ManageDetections),
        csrf_token: s.session.csrf_token.clone(),
    })
}

#[derive(Debug, Deserialize)]
pub struct RuleForm {
    #[serde(default)]
    yaml: String,
    #[serde(default)]
    reason: String,
}

/// Stores an uploaded rule or a new version (of `expected`); the refusal as problems to show.
async fn store_rule(
    s: &WebSession,
    form: &RuleForm,
    expected: Option<&str>,
) -> Result<Result<String, Vec<String>>, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let writer = s.caller.detection_content(&write)?;
    let upload = content::Upload {
        yaml: &form.yaml,
        reason: &form.reason,
        expected,
    };
    let stored = content::upload(&writer, upload).await;
    drop(write);
    match stored {
        Ok((rule, _)) => {
            txn.commit().await?;
            Ok(Ok(rule.rule_id))
        }
        Err(UploadError::Storage(error)) => Err(error.into()),
        Err(UploadError::Invalid(problems)) => Ok(Err(problems
            .iter()
            .map(|problem| match (problem.line, problem.column) {
                (Some(line), Some(column)) => {
                    format!("line {line}, column {column}: {}", problem.message)
                }
                _ => problem.message.clone(),
            })
            .collect())),
        Err(refused) => Ok(Err(vec![refused.to_string()])),
    }
}

/// Uploads one of the MSP's own rules; a refused one is shown again with each problem.
pub async fn upload(
    WebForm {
        session: s, form, ..
    }: WebForm<RuleForm, needs::ManageDetections>,
) -> Result<Response, UiError> {
    match store_rule(&s, &form, None).await? {
        Ok(rule_id) => Ok(back(&format!("/detections/{rule_id}"), Ok("rule-saved"))),
        Err(problems) => {
            let draft = RuleDraft {
                yaml: form.yaml,
                reason: form.reason,
                problems,
            };
            let page = msp_rules_page(&s, "", draft).await?;
            let flash = refused_flash("rule-refused");
            let chrome = chrome(&s, "/detections", Some(flash)).await?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(page::render_msp_rules(chrome, page)),
            )
                .into_response())
        }
    }
}

fn refused_flash(code: &str) -> Flash {
    Flash {
        kind: FlashKind::Error,
        message: error_message(code).to_owned(),
    }
}

/// One rule's page for the whole MSP.
pub async fn msp_rule(
    s: WebSession,
    Path(rule_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, UiError> {
    needs::ReadDetections::check(&s.caller)?;
    let page = msp_rule_page(&s, &rule_id, RuleDraft::default()).await?;
    let chrome = chrome(&s, "/detections", query.flash()).await?;
    Ok(Html(page::render_msp_rule(chrome, page)).into_response())
}

async fn msp_rule_page(
    s: &WebSession,
    rule_id: &str,
    new_version: RuleDraft,
) -> Result<MspRulePage, UiError> {
    let conn = s.storage.conn();
    let msp_id = s.caller.msp_id();
    let window_days = content::DEFAULT_WINDOW_DAYS;
    let rule = content::rules(conn, msp_id, None, (s.clock.now(), window_days))
        .await?
        .into_iter()
        .find(|rule| rule.rule_id == rule_id)
        .ok_or(UiError::NotFound)?;
    let yaml = DetectionContent::new(conn, msp_id)
        .custom_rule(rule_id)
        .await?
        .map(|stored| stored.yaml);
    Ok(MspRulePage {
        rule: summary(rule),
        yaml,
        window_days,
        versions: versions(conn, msp_id, rule_id).await?,
        new_version,
        can_manage: s.caller.allows(Permission::ManageDetections),
        csrf_token: s.session.csrf_token.clone(),
    })
}

/// Saves a new version of one of the MSP's rules; a refused one is shown again.
pub async fn new_version(
    Path(rule_id): Path<String>,
    WebForm {
        session: s, form, ..
    }: WebForm<RuleForm, needs::ManageDetections>,
) -> Result<Response, UiError> {
    if DetectionContent::new(s.storage.conn(), s.caller.msp_id())
        .custom_rule(&rule_id)
        .await?
        .is_none()
    {
        return Err(UiError::NotFound);
    }
    match store_rule(&s, &form, Some(&rule_id)).await? {
        Ok(_) => Ok(back(&format!("/detections/{rule_id}"), Ok("rule-saved"))),
        Err(problems) => {
            let draft = RuleDraft {
                yaml: form.yaml,
                reason: form.reason,
                problems,
            };
            let page = msp_rule_page(&s, &rule_id, draft).await?;
            let chrome = chrome(&s, "/detections", Some(refused_flash("rule-refused"))).await?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Html(page::render_msp_rule(chrome, page)),
            )
                .into_response())
        }
    }
}

/// Turns a rule on or off for every customer, or back to on unless a customer chose.
pub async fn set_msp_state(
    Path(rule_id): Path<String>,
    WebForm {
        session: s, form, ..
    }: WebForm<StateForm, needs::ManageDetections>,
) -> Result<Response, UiError> {
    let enabled = parse_state(&form.state)?;
    if !content::exists(s.storage.conn(), s.caller.msp_id(), &rule_id).await? {
        return Err(UiError::NotFound);
    }
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    s.caller
        .detection_content(&write)?
        .set_msp_state(&rule_id, enabled)
        .await?;
    drop(write);
    txn.commit().await?;
    Ok(back(
        &format!("/detections/{rule_id}"),
        Ok("rule-state-saved"),
    ))
}

/// Removes one of the MSP's rules (its lineage stays).
pub async fn remove_rule(
    Path(rule_id): Path<String>,
    WebForm { session: s, .. }: WebForm<NoFields, needs::ManageDetections>,
) -> Result<Response, UiError> {
    let txn = s.storage.begin().await?;
    let write = s.write(&txn);
    let removed = s
        .caller
        .detection_content(&write)?
        .remove_rule(&rule_id)
        .await?;
    drop(write);
    if removed.is_none() {
        return Err(UiError::NotFound);
    }
    txn.commit().await?;
    Ok(back("/detections", Ok("rule-removed")))
}
