//! The detection content in force: the built-in Sigma pack and the MSP's own rules, each on or
//! off MSP-wide and per tenant (the choices are kept by `storage::detection_rules`); and the
//! checks a rule passes before it is stored — it lints clean, loads, and is one rule with an id
//! of its own.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use steward_domain::{MspId, TenantId, detections::Suppression, observations::OcsfClass};

use super::sigma::{
    self, Correlator, LoadedCorrelation, LoadedRule, Problem, RuleDocument, RuleSet, SigmaMatch,
    pack,
};
use crate::storage::{
    StorageError, TenantWork,
    detection_rules::{
        DetectionContent, DetectionContentWriter, NewRule, RuleStates, Saved, StoredRule,
        VerdictCounts,
    },
    suppressions::SuppressionReader,
};

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// The built-in pack, curated from SigmaHQ.
    BuiltIn,
    /// Uploaded by the MSP.
    Custom,
}

/// A rule as an MSP sees it: what it is, and whether it is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleView {
    pub rule_id: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub origin: Origin,
    pub version: String,
    /// Whether it is evaluated: the tenant's choice, else the MSP's, else on.
    pub enabled: bool,
    /// What the MSP chose, when it chose.
    pub msp_enabled: Option<bool>,
    /// What was chosen for the tenant asked about, when something was.
    pub tenant_enabled: Option<bool>,
    /// Its findings, and what people concluded about them (in the tenant asked about, or
    /// across the MSP).
    pub verdicts: VerdictCounts,
}

impl RuleView {
    /// The share of its judged findings that were real attacks; see [`precision`].
    #[must_use]
    pub fn precision(&self) -> Option<f64> {
        precision(self.verdicts)
    }
}

/// The share of judged findings that were real attacks: true positives over every verdict
/// (benign true positives count against it too: they were right but needed no one). `None`
/// before any verdict.
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "counts of findings are far below 2^52"
)]
pub fn precision(v: VerdictCounts) -> Option<f64> {
    let judged = v.true_positive + v.benign_true_positive + v.false_positive;
    (judged > 0).then(|| v.true_positive as f64 / judged as f64)
}

/// How many days back a rule's findings and verdicts are counted unless asked otherwise: long
/// enough for a quarter's verdicts, short enough that a rule tuned months ago is judged on what
/// it does now.
pub const DEFAULT_WINDOW_DAYS: u16 = 90;

/// The longest window a rule's findings are counted over.
pub const MAX_WINDOW_DAYS: u16 = 365;

/// Which rules a list shows and in what order (the API's and the console's rule lists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFilter {
    /// Words the id, title or a tag must all contain (ignoring case).
    pub search: Vec<String>,
    pub origin: Option<Origin>,
    /// Only rules on (`true`) or off (`false`).
    pub enabled: Option<bool>,
    /// Only rules of this Sigma level.
    pub level: Option<String>,
    /// Only rules with findings in the window.
    pub matched: bool,
    /// The rules with the most findings first (the noisiest); else the MSP's own rules first,
    /// then the built-in ones, each in the order they were loaded.
    pub by_findings: bool,
}

impl RuleFilter {
    /// Splits `text` into the words a rule must contain.
    #[must_use]
    pub fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_lowercase).collect()
    }

    /// The rules of `rules` this filter keeps, in its order.
    #[must_use]
    pub fn select(&self, rules: Vec<RuleView>) -> Vec<RuleView> {
        let mut kept: Vec<RuleView> = rules
            .into_iter()
            .filter(|rule| self.origin.is_none_or(|o| rule.origin == o))
            .filter(|rule| self.enabled.is_none_or(|e| rule.enabled == e))
            .filter(|rule| {
                self.level
                    .as_deref()
                    .is_none_or(|level| rule.level.as_deref() == Some(level))
            })
            .filter(|rule| !self.matched || rule.verdicts.findings > 0)
            .filter(|rule| {
                let text = format!("{} {} {}", rule.rule_id, rule.title, rule.tags.join(" "))
                    .to_lowercase();
                self.search.iter().all(|word| text.contains(word))
            })
            .collect();
        if self.by_findings {
            // Stable: rules with as many findings keep their order.
            kept.sort_by_key(|rule| std::cmp::Reverse(rule.verdicts.findings));
        }
        kept
    }
}

/// Every rule, built in and the MSP's own, with its state for the MSP and, when given, for
/// `tenant`, and its findings of the `window_days` days before `now` with their verdicts.
///
/// # Errors
/// When the database cannot be read.
pub async fn rules<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant: Option<TenantId>,
    (now, window_days): (chrono::DateTime<chrono::Utc>, u16),
) -> Result<Vec<RuleView>, StorageError> {
    let content = DetectionContent::new(conn, msp_id);
    let custom = compiled_custom(msp_id, &content.custom_rules().await?);
    let states = content.states(tenant).await?;
    let since = now - chrono::Duration::days(i64::from(window_days));
    let verdicts = content.verdicts(tenant, Some(since)).await?;
    let view = |rule: &LoadedRule, origin| RuleView {
        rule_id: rule.id.clone(),
        title: rule.title.clone(),
        level: rule.level.clone(),
        tags: rule.tags.clone(),
        origin,
        version: rule.version.clone(),
        enabled: states.enabled(&rule.id, true),
        msp_enabled: states.msp.get(&rule.id).copied(),
        tenant_enabled: states.tenant.get(&rule.id).copied(),
        verdicts: verdicts
            .get(&sigma::rule_name(&rule.id))
            .copied()
            .unwrap_or_default(),
    };
    let correlations: Vec<LoadedRule> = custom
        .correlations()
        .iter()
        .map(LoadedCorrelation::as_rule)
        .collect();
    Ok(custom
        .rules()
        .iter()
        .chain(&correlations)
        .map(|rule| view(rule, Origin::Custom))
        .chain(
            pack::compiled()
                .rules()
                .iter()
                .map(|r| view(r, Origin::BuiltIn)),
        )
        .collect())
}

/// Whether `rule_id` names a rule (built in or the MSP's own).
///
/// # Errors
/// When the database cannot be read.
pub async fn exists<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    rule_id: &str,
) -> Result<bool, StorageError> {
    Ok(pack::compiled().rule(rule_id).is_some()
        || DetectionContent::new(conn, msp_id)
            .custom_rule(rule_id)
            .await?
            .is_some())
}

/// Why a rule was not stored.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// It breaks the Sigma specification or does not load; each problem says where and why.
    #[error("the rule has {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    /// A document holds one rule, or one correlation with the rules it correlates; this holds
    /// another number.
    #[error(
        "an upload is one rule, or one correlation with the rules it correlates; this holds {0}"
    )]
    NotOne(usize),
    /// Its id is a built-in rule's: turn that one off and give yours an id of its own.
    #[error("{0} is the id of a built-in rule; give your rule an id of its own")]
    BuiltIn(String),
    /// Replacing a rule, the upload's id is another rule's.
    #[error("the upload's id is {found}, not {expected}")]
    OtherId { expected: String, found: String },
    /// Every version says why it was made.
    #[error("give a reason for this version: the people after you will want to know why")]
    NoReason,
    /// Its id names it in links and in the audit chain: letters, digits, `.`, `_` and `-`,
    /// beginning with a letter or digit (a UUID, as Sigma recommends, always is).
    #[error(
        "the id {0:?} is not usable: use a UUID, or letters, digits, '.', '_' and '-' starting \
         with a letter or digit, at most 128 characters"
    )]
    BadId(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A rule as uploaded: its YAML and why this version was made.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'u> {
    pub yaml: &'u str,
    pub reason: &'u str,
    /// The id the upload must keep (replacing a rule), if any.
    pub expected: Option<&'u str>,
}

/// Checks one rule and stores it as the MSP's own (replacing its earlier version when the id is
/// taken by one of the MSP's rules), with the reason and the diff from the version it replaces.
///
/// # Errors
/// [`UploadError`] saying what is wrong; nothing is stored then.
pub async fn upload(
    writer: &DetectionContentWriter<'_>,
    upload: Upload<'_>,
) -> Result<(RuleView, Saved), UploadError> {
    let Upload {
        yaml,
        reason,
        expected,
    } = upload;
    if reason.trim().is_empty() {
        return Err(UploadError::NoReason);
    }
    let mut problems = sigma::lint(yaml);
    let set = RuleSet::load([RuleDocument {
        origin: "upload".to_owned(),
        yaml: yaml.to_owned(),
    }]);
    problems.extend(set.skipped().iter().map(|skipped| Problem {
        line: None,
        column: None,
        check: "load".to_owned(),
        message: skipped.reason.clone(),
    }));
    if !problems.is_empty() {
        return Err(UploadError::Invalid(problems));
    }
    let rule = uploaded(&set)?;
    if let Some(built_in) = set
        .rules()
        .iter()
        .map(|r| &r.id)
        .chain(std::iter::once(&rule.id))
        .find(|id| pack::compiled().rule(id).is_some())
    {
        return Err(UploadError::BuiltIn(built_in.clone()));
    }
    if let Some(bad) = set
        .rules()
        .iter()
        .map(|r| &r.id)
        .chain(std::iter::once(&rule.id))
        .find(|id| !usable_id(id))
    {
        return Err(UploadError::BadId(bad.clone()));
    }
    let problems = clashes(writer, &set, &rule.id).await?;
    if !problems.is_empty() {
        return Err(UploadError::Invalid(problems));
    }
    if let Some(expected) = expected
        && expected != rule.id
    {
        return Err(UploadError::OtherId {
            expected: expected.to_owned(),
            found: rule.id.clone(),
        });
    }
    let diff = writer
        .reader()
        .custom_rule(&rule.id)
        .await?
        .map(|previous| unified_diff(&previous.yaml, yaml));
    let saved = writer
        .save_rule(&NewRule {
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            version: rule.version.clone(),
            yaml: yaml.to_owned(),
            reason: reason.trim().to_owned(),
            diff,
        })
        .await?;
    Ok((
        RuleView {
            rule_id: rule.id.clone(),
            title: rule.title.clone(),
            level: rule.level.clone(),
            tags: rule.tags.clone(),
            origin: Origin::Custom,
            version: rule.version.clone(),
            enabled: true,
            msp_enabled: None,
            tenant_enabled: None,
            verdicts: VerdictCounts::default(),
        },
        saved,
    ))
}

/// What is wrong with an upload among the MSP's other rules: a rule of a correlation upload
/// that the correlation does not name (each rule is uploaded on its own), or an id another of
/// the MSP's uploads already holds (one of them would not load).
async fn clashes(
    writer: &DetectionContentWriter<'_>,
    set: &RuleSet,
    upload_id: &str,
) -> Result<Vec<Problem>, StorageError> {
    let problem = |message: String| Problem {
        line: None,
        column: None,
        check: "load".to_owned(),
        message,
    };
    let mut problems = Vec::new();
    if let [correlation] = set.correlations() {
        for rule in set.rules() {
            if !correlation.rules.contains(&rule.id) {
                problems.push(problem(format!(
                    "rule {} is not one the correlation names; upload it on its own",
                    rule.id
                )));
            }
        }
    }
    let reader = writer.reader();
    let others = compiled_custom(reader.msp_id(), &reader.custom_rules().await?);
    let mine = format!("custom:{upload_id}");
    let ids = set
        .rules()
        .iter()
        .map(|r| &r.id)
        .chain(set.correlations().iter().map(|c| &c.id));
    for id in ids {
        let holder = others
            .rule(id)
            .map(|r| &r.origin)
            .or_else(|| others.correlation(id).map(|c| &c.origin));
        if let Some(holder) = holder
            && *holder != mine
        {
            problems.push(problem(format!(
                "id {id} is already the id of a rule in the MSP's {}",
                holder.trim_start_matches("custom:")
            )));
        }
    }
    Ok(problems)
}

/// What an upload is known by: its one rule, or its one correlation (whose version covers the
/// rules it correlates).
fn uploaded(set: &RuleSet) -> Result<LoadedRule, UploadError> {
    match (set.rules(), set.correlations()) {
        ([rule], []) => Ok(rule.clone()),
        (_, [correlation]) => Ok(correlation.as_rule()),
        (rules, correlations) => Err(UploadError::NotOne(rules.len() + correlations.len())),
    }
}

/// Whether `id` can name a rule: what is safe in a URL path segment as it is, and never a
/// relative path (`..`).
fn usable_id(id: &str) -> bool {
    id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// How `after` differs from `before`, as a unified diff with three lines of context.
#[must_use]
pub fn unified_diff(before: &str, after: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("before", "after")
        .to_string()
}

/// One version of a rule in its lineage, with what it produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionView {
    pub version: String,
    pub title: String,
    /// Why it was made; for a built-in rule, the pack it came with.
    pub reason: String,
    /// Who made it, as the audit chain names them.
    pub author: String,
    /// When it was stored; `None` for a built-in rule.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How it differs from the version before it; `None` for the first.
    pub diff: Option<String>,
    /// Whether it is the version evaluated now.
    pub current: bool,
    /// Its findings across the MSP, and the verdicts on them.
    pub verdicts: VerdictCounts,
}

/// A rule's lineage, newest version first: for the MSP's own rules every version stored (also
/// after the rule is removed), for a built-in rule the version the pack holds; each with the
/// findings it produced. `None` when no rule of that id exists or existed.
///
/// # Errors
/// When the database cannot be read.
pub async fn history<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    rule_id: &str,
) -> Result<Option<Vec<VersionView>>, StorageError> {
    let content = DetectionContent::new(conn, msp_id);
    let mut outcomes = content
        .verdicts_by_version(&sigma::rule_name(rule_id))
        .await?;
    if let Some(rule) = pack::compiled().rule(rule_id) {
        return Ok(Some(vec![VersionView {
            version: rule.version.clone(),
            title: rule.title.clone(),
            reason: "built in: curated from SigmaHQ".to_owned(),
            author: "Steward".to_owned(),
            created_at: None,
            diff: None,
            current: true,
            verdicts: outcomes.remove(&rule.version).unwrap_or_default(),
        }]));
    }
    let stored_rule = content.custom_rule(rule_id).await?;
    let versions = content.versions(rule_id).await?;
    if versions.is_empty() {
        // A rule stored before Steward kept lineage has only its current version.
        return Ok(stored_rule.map(|rule| {
            vec![VersionView {
                verdicts: outcomes.remove(&rule.version).unwrap_or_default(),
                version: rule.version,
                title: rule.title,
                reason: "stored before Steward kept the lineage of rules".to_owned(),
                author: "unknown".to_owned(),
                created_at: Some(rule.updated_at),
                diff: None,
                current: true,
            }]
        }));
    }
    let current = stored_rule.map(|rule| rule.version);
    let mut views = Vec::with_capacity(versions.len());
    let mut before: Option<&str> = None;
    for stored in &versions {
        views.push(VersionView {
            version: stored.version.clone(),
            title: stored.title.clone(),
            reason: stored.reason.clone(),
            author: stored.author.clone(),
            created_at: Some(stored.created_at),
            diff: before.map(|previous| unified_diff(previous, &stored.yaml)),
            current: false,
            verdicts: outcomes.remove(&stored.version).unwrap_or_default(),
        });
        before = Some(&stored.yaml);
    }
    // The current version is the newest stored one with its version (a rule may return to an
    // earlier text, making a version recur).
    if let Some(current) = current
        && let Some(view) = views.iter_mut().rev().find(|v| v.version == current)
    {
        view.current = true;
    }
    views.reverse();
    Ok(Some(views))
}

/// The rules in force in one tenant, with the tenant's suppressions in force.
#[derive(Debug)]
pub struct InForce {
    custom: Arc<RuleSet>,
    states: RuleStates,
    suppressions: Vec<Suppression>,
}

impl InForce {
    /// Whether rule `rule_id` is one of the rules and is on.
    #[must_use]
    pub fn enabled(&self, rule_id: &str) -> bool {
        (pack::compiled().rule(rule_id).is_some()
            || self.custom.rule(rule_id).is_some()
            || self.custom.correlation(rule_id).is_some())
            && self.states.enabled(rule_id, true)
    }

    /// Whether rule `rule_id` is a correlation rule of the MSP's.
    #[must_use]
    pub fn is_correlation(&self, rule_id: &str) -> bool {
        self.custom.correlation(rule_id).is_some()
    }

    /// Whether rule `rule_id`'s matches only feed correlations that are on in the tenant,
    /// rather than make findings.
    #[must_use]
    pub fn correlation_only(&self, rule_id: &str) -> bool {
        self.custom.correlations().iter().any(|c| {
            !c.generate && c.rules.iter().any(|r| r == rule_id) && self.states.enabled(&c.id, true)
        })
    }

    /// The MSP's correlation rules with no windows open; `None` when it has none. Correlations
    /// are the MSP's own: each is uploaded with the rules it correlates.
    #[must_use]
    pub fn correlator(&self) -> Option<Correlator> {
        self.custom.correlator()
    }

    /// The matches on one event of the rules that are on, but for those a suppression of
    /// their rule holds for.
    #[must_use]
    pub fn evaluate(&self, class: OcsfClass, ocsf: &Value) -> Vec<SigmaMatch> {
        let mut found = pack::compiled().evaluate(class, ocsf);
        found.extend(self.custom.evaluate(class, ocsf));
        found.retain(|m| {
            self.states.enabled(&m.rule_id, true)
                && !self
                    .suppressions
                    .iter()
                    .any(|s| s.rule_id == m.rule_id && s.suppresses(ocsf))
        });
        found
    }
}

/// The rules in force in `work`'s tenant.
///
/// # Errors
/// When the database cannot be read.
pub async fn in_force(work: &TenantWork<'_>) -> Result<InForce, StorageError> {
    let tenant = work.tenant();
    let txn = work.context().txn;
    let content = DetectionContent::new(txn, tenant.msp_id);
    let now = work.context().clock.now();
    let mut suppressions = SuppressionReader::new(txn, tenant.msp_id, tenant.id)
        .list(None)
        .await?;
    suppressions.retain(|s| s.active(now));
    Ok(InForce {
        custom: compiled_custom(tenant.msp_id, &content.custom_rules().await?),
        states: content.states(Some(tenant.id)).await?,
        suppressions,
    })
}

/// Each MSP's own rules compiled, with the digest of the versions they were compiled from.
type CompiledCustom = Mutex<HashMap<MspId, (String, Arc<RuleSet>)>>;

/// The MSP's own rules compiled, kept while they stay the same.
fn compiled_custom(msp_id: MspId, rules: &[StoredRule]) -> Arc<RuleSet> {
    static COMPILED: OnceLock<CompiledCustom> = OnceLock::new();
    let mut digest = Sha256::new();
    for rule in rules {
        digest.update(rule.rule_id.as_bytes());
        digest.update([0]);
        digest.update(rule.version.as_bytes());
        digest.update([0]);
    }
    let digest = hex::encode(digest.finalize());
    let cache = COMPILED.get_or_init(Mutex::default);
    if let Some((known, set)) = cache.lock().expect("rule cache poisoned").get(&msp_id)
        && *known == digest
    {
        return Arc::clone(set);
    }
    let set = Arc::new(RuleSet::load(rules.iter().map(|rule| RuleDocument {
        origin: format!("custom:{}", rule.rule_id),
        yaml: rule.yaml.clone(),
    })));
    cache
        .lock()
        .expect("rule cache poisoned")
        .insert(msp_id, (digest, Arc::clone(&set)));
    set
}

#[cfg(test)]
mod tests {
    use super::usable_id;

    #[test]
    fn rule_ids_are_safe_in_a_link() {
        for good in ["87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180", "harbor.assist_1"] {
            assert!(usable_id(good), "{good}");
        }
        for bad in [
            "..",
            ".hidden",
            "../tenants/x/remove",
            "a/b",
            "a?b",
            "a#b",
            "a b",
            "",
        ] {
            assert!(!usable_id(bad), "{bad}");
        }
        assert!(!usable_id(&"a".repeat(129)));
    }
}
