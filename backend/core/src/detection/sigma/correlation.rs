//! Sigma correlation rules: the matches of the rules a correlation names, counted
//! (`event_count`), their distinct values counted (`value_count`), or seen together
//! (`temporal`, `temporal_ordered`) within its timespan, per group. rsigma's correlation engine
//! keeps the windows; Steward feeds it the matches its per-source engines found, so a
//! correlation sees rules of every source, and keeps the windows as a snapshot between
//! batches and restarts.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use rsigma_eval::{
    CorrelationAction, CorrelationConfig, CorrelationEngine, CorrelationEventMode,
    CorrelationSnapshot, DetectionBody, EvaluationResult, JsonEvent, ResultBody, RuleHeader,
    TimestampFallback,
};
use rsigma_parser::CorrelationRule;
use serde::Serialize;
use serde_json::Value;

use super::{SigmaMatch, level_name};

/// The most contributing events a correlation finding names.
const MAX_EVENTS: usize = 50;

/// The most groups with an open window one tenant keeps, and the most entries one group's
/// window holds: a group-by on a field an attacker chooses (sprayed account names) cannot grow
/// the kept state without bound. Beyond them the oldest go first, which can only under-count.
const MAX_GROUPS: usize = 10_000;
const MAX_GROUP_ENTRIES: usize = 1_000;

/// The most events remembered as counted.
const MAX_COUNTED: usize = 20_000;

/// A correlation rule that loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedCorrelation {
    pub id: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub origin: String,
    /// A digest of the rule's canonical form and of the versions of the rules it correlates.
    pub version: String,
    /// `event_count`, `value_count`, `temporal`, `temporal_ordered`, …
    pub kind: &'static str,
    /// The ids of the rules (or correlations) whose matches it correlates.
    pub rules: Vec<String>,
    /// The fields its matches are grouped by: OCSF paths (`user.name`, `src_endpoint.ip`) or
    /// the source's own fields (`TargetUserName`, read from `unmapped`).
    pub group_by: Vec<String>,
    pub timespan_secs: u64,
    /// Whether the rules it names also make findings of their own (Sigma's `generate`; by
    /// default they only feed the correlation).
    pub generate: bool,
    /// The rule, its references rewritten to ids, as the engine takes it.
    #[serde(skip)]
    pub(super) rule: CorrelationRule,
}

/// A correlation's firing: what fired, for which group, on which events.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrelationMatch {
    pub rule_id: String,
    pub rule_version: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub kind: &'static str,
    /// The group's fields and values.
    pub group: Vec<(String, String)>,
    /// The count (or other aggregate) that met the condition.
    pub value: f64,
    pub timespan_secs: u64,
    /// The ids of the events that made it, oldest first (at most 50).
    pub events: Vec<String>,
}

/// The state of a set's correlations over one stream of events (one tenant's).
pub struct Correlator {
    engine: CorrelationEngine,
    correlations: Vec<LoadedCorrelation>,
    /// The rules any correlation names: other matches need no correlation work.
    referenced: HashSet<String>,
    /// Group-by fields without a dot, copied from `unmapped` to the top of the event.
    raw_fields: Vec<String>,
    /// The events already counted, by id, with their time (epoch seconds), for as long as a
    /// window may hold them: an event seen again (a batch triaged twice) is not counted twice.
    counted: BTreeMap<String, i64>,
    /// The longest timespan of the correlations, in seconds.
    longest: i64,
    /// Whether anything was counted since the windows were restored.
    changed: bool,
}

/// What a correlator keeps between batches.
#[derive(Serialize, serde::Deserialize)]
struct Kept {
    windows: CorrelationSnapshot,
    counted: BTreeMap<String, i64>,
}

impl std::fmt::Debug for Correlator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Correlator")
            .field("correlations", &self.correlations.len())
            .field("groups", &self.engine.state_count())
            .finish_non_exhaustive()
    }
}

/// How Steward runs rsigma's correlation engine: the event's own time (never the clock), and
/// a firing starts the count again, so ten failed sign-ins are one finding, not one per
/// sign-in after the fifth.
fn config() -> CorrelationConfig {
    CorrelationConfig {
        timestamp_fallback: TimestampFallback::Skip,
        action_on_match: CorrelationAction::Reset,
        correlation_event_mode: CorrelationEventMode::Refs,
        max_correlation_events: MAX_EVENTS,
        max_state_entries: MAX_GROUPS,
        max_group_entries: Some(MAX_GROUP_ENTRIES),
        ..CorrelationConfig::default()
    }
}

/// Checks that a correlation can fire within the bounds Steward keeps: a window holds at most
/// [`MAX_GROUP_ENTRIES`] entries, so a threshold above that could never be reached.
pub(super) fn within_bounds(rule: &CorrelationRule) -> Result<(), String> {
    if let rsigma_parser::CorrelationCondition::Threshold { predicates, .. } = &rule.condition
        && let Some((_, too_high)) = predicates
            .iter()
            .find(|(_, value)| *value > MAX_GROUP_ENTRIES as u64)
    {
        return Err(format!(
            "its condition counts to {too_high}; a window holds at most {MAX_GROUP_ENTRIES} \
             entries per group"
        ));
    }
    Ok(())
}

/// Checks that a correlation compiles on its own.
pub(super) fn compiles(rule: &CorrelationRule) -> Result<(), String> {
    CorrelationEngine::new(config())
        .add_correlation(rule)
        .map_err(|error| format!("does not compile: {error}"))
}

/// The facts of a loaded correlation; `versions` are those of the rules it correlates.
pub(super) fn loaded(
    rule: CorrelationRule,
    id: String,
    origin: &str,
    versions: &[&str],
) -> LoadedCorrelation {
    use sha2::{Digest, Sha256};
    // Canonical JSON (sorted keys): the rule's maps (aliases, attributes) have no order of
    // their own, and the version must not change from one load to the next.
    let mut canonical = serde_json_canonicalizer::to_string(&rule).unwrap_or_default();
    for version in versions {
        canonical.push('\n');
        canonical.push_str(version);
    }
    LoadedCorrelation {
        id,
        title: rule.title.clone(),
        level: rule.level.map(|l| level_name(l).to_owned()),
        tags: rule.tags.clone(),
        origin: origin.to_owned(),
        version: hex::encode(&Sha256::digest(canonical.as_bytes())[..8]),
        kind: rule.correlation_type.as_str(),
        rules: rule.rules.clone(),
        group_by: rule.group_by.clone(),
        timespan_secs: rule.timespan.seconds,
        generate: rule.generate,
        rule,
    }
}

/// The fields a correlation reads from events: its group-by fields, the field its condition
/// aggregates, and the fields its aliases name.
fn read_fields(correlation: &LoadedCorrelation) -> Vec<String> {
    let mut fields = correlation.group_by.clone();
    if let rsigma_parser::CorrelationCondition::Threshold {
        field: Some(condition),
        ..
    } = &correlation.rule.condition
    {
        fields.extend(condition.iter().cloned());
    }
    for alias in &correlation.rule.aliases {
        fields.extend(alias.mapping.values().cloned());
    }
    fields
}

impl LoadedCorrelation {
    /// The correlation as a rule: what lists, states and lineage know it by.
    #[must_use]
    pub fn as_rule(&self) -> super::LoadedRule {
        super::LoadedRule {
            id: self.id.clone(),
            title: self.title.clone(),
            level: self.level.clone(),
            tags: self.tags.clone(),
            origin: self.origin.clone(),
            version: self.version.clone(),
            sources: Vec::new(),
        }
    }
}

impl Correlator {
    /// A correlator of these correlations, with no windows open; `None` without any.
    pub(super) fn new(correlations: &[LoadedCorrelation]) -> Option<Self> {
        if correlations.is_empty() {
            return None;
        }
        let mut engine = CorrelationEngine::new(config());
        let mut kept = Vec::new();
        for correlation in correlations {
            // Each compiled once already when the set loaded.
            if engine.add_correlation(&correlation.rule).is_ok() {
                kept.push(correlation.clone());
            }
        }
        let referenced = kept.iter().flat_map(|c| c.rules.iter().cloned()).collect();
        let mut raw_fields: Vec<String> = kept.iter().flat_map(read_fields).collect();
        raw_fields.retain(|f| !f.contains('.'));
        raw_fields.sort();
        raw_fields.dedup();
        let longest = kept
            .iter()
            .map(|c| i64::try_from(c.timespan_secs).unwrap_or(i64::MAX))
            .max()
            .unwrap_or(0);
        Some(Self {
            engine,
            correlations: kept,
            referenced,
            raw_fields,
            counted: BTreeMap::new(),
            longest,
            changed: false,
        })
    }

    /// Feeds one event's matches (found by the set's rules) at the event's time; what fired.
    pub fn observe(
        &mut self,
        event_id: &str,
        time: DateTime<Utc>,
        ocsf: &Value,
        matches: &[SigmaMatch],
    ) -> Vec<CorrelationMatch> {
        let detections: Vec<EvaluationResult> = matches
            .iter()
            .filter(|m| self.referenced.contains(&m.rule_id))
            .map(|m| EvaluationResult {
                header: RuleHeader {
                    rule_title: m.title.clone(),
                    rule_id: Some(m.rule_id.clone()),
                    level: None,
                    tags: Vec::new(),
                    custom_attributes: Arc::default(),
                    enrichments: None,
                },
                body: ResultBody::Detection(DetectionBody {
                    matched_selections: Vec::new(),
                    matched_fields: Vec::new(),
                    event: None,
                }),
            })
            .collect();
        if detections.is_empty() || self.counted.contains_key(event_id) {
            return Vec::new();
        }
        let at = time.timestamp();
        self.changed = true;
        self.counted.insert(event_id.to_owned(), at);
        let horizon = self.counted.values().max().copied().unwrap_or(at) - self.longest;
        self.counted.retain(|_, seen| *seen >= horizon);
        while self.counted.len() > MAX_COUNTED {
            let Some(oldest) = self
                .counted
                .iter()
                .min_by_key(|(_, seen)| **seen)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            self.counted.remove(&oldest);
        }
        let mut event = ocsf.clone();
        if let Some(object) = event.as_object_mut() {
            object.insert("id".to_owned(), Value::String(event_id.to_owned()));
            for field in &self.raw_fields {
                if !object.contains_key(field)
                    && let Some(value) = ocsf["unmapped"].get(field)
                {
                    object.insert(field.clone(), value.clone());
                }
            }
        }
        self.engine
            .process_with_detections(&JsonEvent::borrow(&event), detections, at)
            .into_iter()
            .filter_map(|result| {
                let body = result.as_correlation()?;
                let correlation = self
                    .correlations
                    .iter()
                    .find(|c| Some(&c.id) == result.header.rule_id.as_ref())?;
                Some(CorrelationMatch {
                    rule_id: correlation.id.clone(),
                    rule_version: correlation.version.clone(),
                    title: correlation.title.clone(),
                    level: correlation.level.clone(),
                    tags: correlation.tags.clone(),
                    kind: correlation.kind,
                    group: body.group_key.clone(),
                    value: body.aggregated_value,
                    timespan_secs: body.timespan_secs,
                    events: body
                        .event_refs
                        .iter()
                        .flatten()
                        .filter_map(|r| r.id.clone())
                        .collect(),
                })
            })
            .collect()
    }

    /// The open windows to keep, when anything was counted since they were restored; windows
    /// whose timespan has passed are closed first.
    pub fn snapshot_if_changed(&mut self) -> Option<Value> {
        if !self.changed {
            return None;
        }
        if let Some(newest) = self.counted.values().max() {
            self.engine.evict_expired(*newest);
        }
        self.changed = false;
        Some(self.snapshot())
    }

    /// The open windows and the events counted in them, to keep until the next batch.
    #[must_use]
    pub fn snapshot(&self) -> Value {
        serde_json::to_value(Kept {
            windows: self.engine.export_state(),
            counted: self.counted.clone(),
        })
        .unwrap_or(Value::Null)
    }

    /// Reopens the windows of an earlier snapshot; `false` (and nothing restored) when the
    /// snapshot is unreadable or of another engine version, which starts the windows afresh.
    /// The fresh windows then replace the unreadable ones when next kept.
    pub fn restore(&mut self, snapshot: Value) -> bool {
        let restored = serde_json::from_value::<Kept>(snapshot)
            .ok()
            .filter(|kept| self.engine.import_state(kept.windows.clone()));
        let Some(kept) = restored else {
            self.changed = true;
            return false;
        };
        self.counted = kept.counted;
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use serde_json::json;
    use steward_domain::observations::OcsfClass;

    use super::super::{RuleDocument, RuleSet};

    /// Failed Windows sign-ins (Security 4625), five for one account within ten minutes.
    const SPRAY: &str = r"
title: Failed logon
id: 5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a
name: failed_logon
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
level: low
---
title: Five failed logons for one account in ten minutes
id: 5b0c1a7e-2222-4c3e-9a51-0f1e2d3c4b5a
correlation:
    type: event_count
    rules:
        - failed_logon
    group-by:
        - TargetUserName
    timespan: 10m
    condition:
        gte: 5
level: high
tags:
    - attack.credential-access
";

    fn failed_logon(user: &str) -> serde_json::Value {
        json!({
            "class_uid": 3002, "activity_id": 1, "status_id": 2,
            "metadata": {"product": {"name": "Microsoft Windows"}, "log_name": "Security"},
            "user": {"name": user},
            "unmapped": {"EventID": 4625, "TargetUserName": user, "Channel": "Security"},
        })
    }

    fn load() -> RuleSet {
        load_yaml(SPRAY)
    }

    fn load_yaml(yaml: &str) -> RuleSet {
        RuleSet::load([RuleDocument {
            origin: "spray.yml".to_owned(),
            yaml: yaml.to_owned(),
        }])
    }

    #[test]
    fn a_count_within_the_timespan_fires_once_per_group_and_names_its_events() {
        let set = load();
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        let correlation = &set.correlations()[0];
        assert_eq!(correlation.kind, "event_count");
        assert_eq!(correlation.rules, ["5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a"]);
        let mut correlator = set.correlator().expect("one correlation");
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut fired = Vec::new();
        for n in 0..12 {
            let user = if n % 4 == 3 { "bob" } else { "ana" };
            let event = failed_logon(user);
            let found = set.evaluate(OcsfClass::Authentication, &event);
            assert_eq!(found.len(), 1, "{event}");
            let at = start + Duration::minutes(n);
            fired.extend(correlator.observe(&format!("e{n}"), at, &event, &found));
        }
        // Ana's fifth failure (event 6) fires; her count starts again and reaches five at
        // event 13, which never comes; Bob fails three times.
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(
            fired[0].group,
            [("TargetUserName".to_owned(), "ana".to_owned())]
        );
        assert_eq!(fired[0].events, ["e0", "e1", "e2", "e4", "e5"]);
        assert_eq!(fired[0].level.as_deref(), Some("high"));
        assert!((fired[0].value - 5.0).abs() < f64::EPSILON);
    }

    #[test]
    fn the_windows_outlive_the_correlator_through_its_snapshot() {
        let set = load();
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let event = failed_logon("ana");
        let found = set.evaluate(OcsfClass::Authentication, &event);
        let mut before = set.correlator().unwrap();
        for n in 0..4 {
            let at = start + Duration::minutes(n);
            assert!(
                before
                    .observe(&format!("e{n}"), at, &event, &found)
                    .is_empty()
            );
        }
        let snapshot = before.snapshot();
        drop(before);

        // A fresh correlator (a restarted worker) with the snapshot fires on the fifth.
        let mut after = set.correlator().unwrap();
        assert!(after.restore(snapshot));
        let fired = after.observe("e4", start + Duration::minutes(4), &event, &found);
        assert_eq!(fired.len(), 1);
        // Without it, the fifth is only the first.
        let mut forgetful = set.correlator().unwrap();
        assert!(
            forgetful
                .observe("e4", start + Duration::minutes(4), &event, &found)
                .is_empty()
        );
        // The same event seen again (a batch triaged twice) is not counted twice.
        let mut twice = set.correlator().unwrap();
        for _ in 0..5 {
            assert!(twice.observe("e0", start, &event, &found).is_empty());
        }
        // Failures spread over more than the timespan never fire.
        let mut slow = set.correlator().unwrap();
        for n in 0..6 {
            let at = start + Duration::minutes(n * 11);
            assert!(
                slow.observe(&format!("s{n}"), at, &event, &found)
                    .is_empty()
            );
        }
    }

    #[test]
    fn distinct_accounts_from_one_address_are_counted_from_the_events_own_fields() {
        let spray = r"
title: Failed logon
id: 5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a
name: failed_logon
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
---
title: One address failing as three accounts
id: 5b0c1a7e-3333-4c3e-9a51-0f1e2d3c4b5a
correlation:
    type: value_count
    rules:
        - failed_logon
    group-by:
        - IpAddress
    timespan: 10m
    condition:
        field: TargetUserName
        gte: 3
";
        let set = load_yaml(spray);
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        let mut correlator = set.correlator().unwrap();
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let mut fired = Vec::new();
        // The same account failing again is one value; the third account fires.
        for (n, user) in ["ana", "ana", "bob", "ana", "cy"].into_iter().enumerate() {
            let mut event = failed_logon(user);
            event["unmapped"]["IpAddress"] = json!("203.0.113.9");
            let found = set.evaluate(OcsfClass::Authentication, &event);
            let at = start + Duration::minutes(i64::try_from(n).unwrap());
            fired.extend(correlator.observe(&format!("e{n}"), at, &event, &found));
        }
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(
            fired[0].group,
            [("IpAddress".to_owned(), "203.0.113.9".to_owned())]
        );
        assert!((fired[0].value - 3.0).abs() < f64::EPSILON);
        // Its version does not change from one load to the next.
        let again = load_yaml(spray);
        assert_eq!(
            again.correlations()[0].version,
            set.correlations()[0].version
        );
    }

    #[test]
    fn a_correlation_cannot_change_how_steward_runs_correlations() {
        let own_settings = SPRAY.replace(
            "level: high\ntags:",
            "level: high\nrsigma.correlation_event_mode: full\ntags:",
        );
        assert_ne!(own_settings, SPRAY);
        let set = load_yaml(&own_settings);
        assert!(set.correlations().is_empty());
        assert!(
            set.skipped()[0]
                .reason
                .contains("rsigma.correlation_event_mode"),
            "{:?}",
            set.skipped()
        );
    }

    #[test]
    fn a_count_no_window_can_hold_is_refused() {
        let set = load_yaml(&SPRAY.replace("gte: 5", "gte: 5000"));
        assert!(set.correlations().is_empty());
        assert!(
            set.skipped()[0].reason.contains("counts to 5000"),
            "{:?}",
            set.skipped()
        );
    }

    #[test]
    fn a_name_means_the_rule_of_the_same_document() {
        // Another upload's rule whose id is the word the correlation names its rule by.
        let squatter = r"
title: Any successful logon
id: failed_logon
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4624
    condition: selection
";
        let set = RuleSet::load([
            RuleDocument {
                origin: "other.yml".to_owned(),
                yaml: squatter.to_owned(),
            },
            RuleDocument {
                origin: "spray.yml".to_owned(),
                yaml: SPRAY.to_owned(),
            },
        ]);
        assert_eq!(
            set.correlations()[0].rules,
            ["5b0c1a7e-1111-4c3e-9a51-0f1e2d3c4b5a"]
        );
    }

    #[test]
    fn a_correlation_of_rules_it_was_not_loaded_with_is_listed_with_its_reason() {
        let alone = SPRAY.split("---").nth(1).unwrap();
        let set = RuleSet::load([RuleDocument {
            origin: "alone.yml".to_owned(),
            yaml: alone.to_owned(),
        }]);
        assert!(set.correlations().is_empty());
        assert!(set.correlator().is_none());
        let reasons: Vec<&str> = set.skipped().iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].starts_with("names failed_logon, which no rule"),
            "{reasons:?}"
        );
    }
}
