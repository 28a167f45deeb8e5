//! Sigma rules evaluated over Steward's OCSF events, with rsigma (parsing, compilation and
//! matching are the crate's; Steward adds where fields are and which rules can see which event).
//!
//! - [`RuleSet::load`] parses rule documents, maps their fields onto OCSF with the declarative
//!   table `ocsf.yml`, and compiles each rule once per [`Source`] it can match; every rule that
//!   cannot load is kept in [`RuleSet::skipped`] with its reason — none is dropped silently.
//! - [`RuleSet::evaluate`] tests an event only against the rules of its source, and rsigma's
//!   per-rule witness index and cross-rule Aho–Corasick prefilter narrow those further, so cost
//!   grows far slower than rule count.
//! - [`pack`] is the built-in rule pack, curated from SigmaHQ.

mod correlation;
mod event;
mod finding;
mod logsource;
pub mod pack;

use std::collections::{BTreeMap, HashMap};

use rsigma_eval::{Engine, Pipeline};
use rsigma_parser::{CorrelationRule, SigmaRule};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use steward_domain::observations::OcsfClass;

pub use self::{
    correlation::{CorrelationMatch, Correlator, LoadedCorrelation},
    finding::{correlation_finding, finding, rule_name, severity_id},
    logsource::{LogSource, Source},
};

/// The field mapping, as an rsigma processing pipeline.
const OCSF_PIPELINE: &str = include_str!("ocsf.yml");

/// One YAML file of rules (it may hold several documents).
#[derive(Debug, Clone)]
pub struct RuleDocument {
    /// Where the rules came from, for people: a path, `built-in:…`, an upload.
    pub origin: String,
    pub yaml: String,
}

/// A rule that loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadedRule {
    pub id: String,
    pub title: String,
    /// Sigma's level: `informational`, `low`, `medium`, `high` or `critical`.
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub origin: String,
    /// A digest of the rule's canonical form: it changes when, and only when, what the rule
    /// says changes.
    pub version: String,
    /// The sources whose events the rule is tested against.
    #[serde(skip)]
    pub sources: Vec<Source>,
}

/// A rule, or a document, that did not load, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub origin: String,
    /// The rule's title, when the document got that far.
    pub rule: Option<String>,
    pub reason: String,
}

/// A rule's match on one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SigmaMatch {
    pub rule_id: String,
    /// The version of the rule that matched ([`LoadedRule::version`]).
    pub rule_version: String,
    pub title: String,
    pub level: Option<String>,
    pub tags: Vec<String>,
    /// The fields that matched, as the engine read them (OCSF paths).
    pub fields: Vec<(String, Value)>,
}

/// Rules compiled for evaluation, indexed by the source of the events they can match.
pub struct RuleSet {
    engines: BTreeMap<Source, Engine>,
    rules: Vec<LoadedRule>,
    correlations: Vec<LoadedCorrelation>,
    /// Where each rule id is in `rules`.
    by_id: HashMap<String, usize>,
    skipped: Vec<Skipped>,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("correlations", &self.correlations.len())
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

impl RuleSet {
    /// Parses and compiles every rule of `documents`.
    #[must_use]
    pub fn load(documents: impl IntoIterator<Item = RuleDocument>) -> Self {
        let pipeline = ocsf_pipeline();
        let mut engines: BTreeMap<Source, Engine> = Source::ALL
            .into_iter()
            .map(|source| (source, Engine::new_with_pipeline(pipeline.clone())))
            .collect();
        let mut rules: Vec<LoadedRule> = Vec::new();
        let mut skipped = Vec::new();
        let mut ids: HashMap<String, String> = HashMap::new();
        // A rule's name is only known within its own document: another upload's rule of the
        // same name is not what a correlation meant.
        let mut names: HashMap<(String, String), String> = HashMap::new();
        let mut pending = Vec::new();
        for document in documents {
            let collection = match rsigma_parser::parse_sigma_yaml(&document.yaml) {
                Ok(collection) => collection,
                Err(error) => {
                    skipped.push(Skipped {
                        origin: document.origin,
                        rule: None,
                        reason: format!("not a Sigma document: {error}"),
                    });
                    continue;
                }
            };
            for error in &collection.errors {
                skipped.push(Skipped {
                    origin: document.origin.clone(),
                    rule: None,
                    reason: error.clone(),
                });
            }
            pending.extend(
                collection
                    .correlations
                    .iter()
                    .map(|c| (document.origin.clone(), c.clone())),
            );
            for rule in &collection.rules {
                match load_rule(rule, &document.origin, &mut engines, &ids) {
                    Ok(loaded) => {
                        ids.insert(loaded.id.clone(), document.origin.clone());
                        if let Some(name) = &rule.name {
                            names
                                .insert((document.origin.clone(), name.clone()), loaded.id.clone());
                        }
                        rules.push(loaded);
                    }
                    Err(reason) => skipped.push(Skipped {
                        origin: document.origin.clone(),
                        rule: Some(rule.title.clone()),
                        reason,
                    }),
                }
            }
            for filter in &collection.filters {
                for engine in engines.values_mut() {
                    if let Err(error) = engine.apply_filter(filter) {
                        skipped.push(Skipped {
                            origin: document.origin.clone(),
                            rule: Some(filter.title.clone()),
                            reason: format!("filter does not apply: {error}"),
                        });
                        break;
                    }
                }
            }
        }
        let correlations = load_correlations(pending, &rules, &names, &mut skipped);
        // Most rules a process launch reaches look for substrings of its command line and
        // paths: one Aho–Corasick pass over the event's values tells which rules' substrings
        // occur at all, so the others are not evaluated. Turned on once every rule is in, as
        // each change of an engine's rules rebuilds the automaton.
        for engine in engines.values_mut() {
            engine.set_cross_rule_ac(true);
        }
        let by_id = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| (rule.id.clone(), index))
            .collect();
        Self {
            engines,
            rules,
            correlations,
            by_id,
            skipped,
        }
    }

    /// The correlation rules that loaded, in load order.
    #[must_use]
    pub fn correlations(&self) -> &[LoadedCorrelation] {
        &self.correlations
    }

    /// The loaded correlation rule with this id.
    #[must_use]
    pub fn correlation(&self, id: &str) -> Option<&LoadedCorrelation> {
        self.correlations.iter().find(|c| c.id == id)
    }

    /// A correlator of the set's correlation rules with no windows open; `None` when the set
    /// has none.
    #[must_use]
    pub fn correlator(&self) -> Option<Correlator> {
        Correlator::new(&self.correlations)
    }

    /// The rules that loaded, in load order.
    #[must_use]
    pub fn rules(&self) -> &[LoadedRule] {
        &self.rules
    }

    /// The loaded rule with this id.
    #[must_use]
    pub fn rule(&self, id: &str) -> Option<&LoadedRule> {
        self.by_id.get(id).map(|index| &self.rules[*index])
    }

    /// What did not load, and why.
    #[must_use]
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The matches of the rules that can see an event of `class` (its OCSF form, with the
    /// source's own fields under `unmapped`).
    #[must_use]
    pub fn evaluate(&self, class: OcsfClass, ocsf: &Value) -> Vec<SigmaMatch> {
        let Some(engine) = Source::of(class, ocsf).and_then(|source| self.engines.get(&source))
        else {
            return Vec::new();
        };
        engine
            .evaluate(&event::OcsfEvent::new(ocsf))
            .into_iter()
            .filter_map(|result| {
                let detection = result.as_detection()?;
                let rule = self.rule(result.header.rule_id.as_deref()?)?;
                Some(SigmaMatch {
                    rule_id: rule.id.clone(),
                    rule_version: rule.version.clone(),
                    title: result.header.rule_title.clone(),
                    level: result.header.level.map(|l| level_name(l).to_owned()),
                    tags: result.header.tags.clone(),
                    fields: detection
                        .matched_fields
                        .iter()
                        .map(|m| (m.field.clone(), m.value.clone()))
                        .collect(),
                })
            })
            .collect()
    }
}

/// A spec violation in a rule document, and where it is (1-based line and column), for the
/// person fixing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// rsigma's lint rule that found it.
    pub check: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, "{line}:{column}: ")?;
        }
        write!(f, "{} [{}]", self.message, self.check)
    }
}

/// The errors of a rule document by Sigma's specification (rsigma's linter; its warnings about
/// style are left out), with where each is.
#[must_use]
pub fn lint(yaml: &str) -> Vec<Problem> {
    rsigma_parser::lint_yaml_str(yaml)
        .into_iter()
        .filter(|warning| warning.severity == rsigma_parser::Severity::Error)
        .map(|warning| Problem {
            line: warning.span.map(|span| span.start_line + 1),
            column: warning.span.map(|span| span.start_col + 1),
            check: warning.rule.to_string(),
            message: warning.message,
        })
        .collect()
}

fn ocsf_pipeline() -> Pipeline {
    rsigma_eval::parse_pipeline(OCSF_PIPELINE).expect("the OCSF field table is a valid pipeline")
}

/// Loads the correlations once every rule is in: each names rules or other correlations of
/// the set by id, or of its own document by name, rewritten here to ids, which is how matches
/// reach it.
fn load_correlations(
    pending: Vec<(String, CorrelationRule)>,
    rules: &[LoadedRule],
    rule_names: &HashMap<(String, String), String>,
    skipped: &mut Vec<Skipped>,
) -> Vec<LoadedCorrelation> {
    let mut ids: std::collections::HashSet<String> = rules.iter().map(|r| r.id.clone()).collect();
    let mut names = rule_names.clone();
    for (origin, correlation) in &pending {
        if let Some(id) = &correlation.id {
            ids.insert(id.clone());
            if let Some(name) = &correlation.name {
                names.insert((origin.clone(), name.clone()), id.clone());
            }
        }
    }
    // A name of the correlation's own document first: another upload's rule whose id happens
    // to be that word is not what the correlation meant.
    let resolve = |origin: &str, reference: &str| -> Option<String> {
        names
            .get(&(origin.to_owned(), reference.to_owned()))
            .cloned()
            .or_else(|| ids.contains(reference).then(|| reference.to_owned()))
    };
    let mut loaded: Vec<LoadedCorrelation> = Vec::new();
    for (origin, mut rule) in pending {
        let title = rule.title.clone();
        let mut refuse = |reason: String| {
            skipped.push(Skipped {
                origin: origin.clone(),
                rule: Some(title.clone()),
                reason,
            });
        };
        let Some(id) = rule.id.clone() else {
            refuse(
                "a correlation needs an id: Steward keeps its findings and verdicts by it".into(),
            );
            continue;
        };
        if let Some(first) = rules.iter().find(|r| r.id == id) {
            refuse(format!(
                "id {id} is already the id of a rule in {}",
                first.origin
            ));
            continue;
        }
        if let Some(first) = loaded.iter().find(|c| c.id == id) {
            refuse(format!(
                "id {id} is already the id of a correlation in {}",
                first.origin
            ));
            continue;
        }
        let mut own_settings: Vec<&String> = rule
            .custom_attributes
            .keys()
            .filter(|key| key.starts_with("rsigma."))
            .collect();
        if !own_settings.is_empty() {
            own_settings.sort();
            refuse(format!(
                "sets {}: how correlations run (which events are kept, how many, what a \
                 firing does) is Steward's to decide, not a rule's",
                own_settings
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            continue;
        }
        let unknown: Vec<String> = rule
            .rules
            .iter()
            .filter(|r| resolve(&origin, r).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            refuse(format!(
                "names {}, which no rule loaded with it has as id or name: a correlation is \
                 loaded with the rules it correlates",
                unknown.join(", ")
            ));
            continue;
        }
        for reference in &mut rule.rules {
            if let Some(id) = resolve(&origin, reference) {
                *reference = id;
            }
        }
        for alias in &mut rule.aliases {
            alias.mapping = alias
                .mapping
                .drain()
                .map(|(reference, field)| {
                    (resolve(&origin, &reference).unwrap_or(reference), field)
                })
                .collect();
        }
        if let Err(reason) = correlation::within_bounds(&rule) {
            refuse(reason);
            continue;
        }
        if let Err(reason) = correlation::compiles(&rule) {
            refuse(reason);
            continue;
        }
        // Its version covers the rules it correlates: changing one changes what it finds.
        let versions: Vec<&str> = rule
            .rules
            .iter()
            .filter_map(|r| rules.iter().find(|loaded| loaded.id == *r))
            .map(|r| r.version.as_str())
            .collect();
        loaded.push(correlation::loaded(rule, id, &origin, &versions));
    }
    loaded
}

fn load_rule(
    rule: &SigmaRule,
    origin: &str,
    engines: &mut BTreeMap<Source, Engine>,
    ids: &HashMap<String, String>,
) -> Result<LoadedRule, String> {
    let id = rule
        .id
        .clone()
        .ok_or("a rule needs an id: Steward keeps each rule's versions and verdicts by it")?;
    if let Some(first) = ids.get(&id) {
        return Err(format!("id {id} is already the id of a rule in {first}"));
    }
    let wanted = (
        rule.logsource.product.as_deref(),
        rule.logsource.category.as_deref(),
        rule.logsource.service.as_deref(),
    );
    let sources: Vec<Source> = Source::ALL
        .into_iter()
        .filter(|source| {
            source
                .logsources()
                .iter()
                .any(|offered| logsource::satisfies(offered, wanted))
        })
        .collect();
    if sources.is_empty() {
        return Err(format!(
            "logsource {} is not one of the events Steward receives",
            describe(wanted)
        ));
    }
    for source in &sources {
        engines
            .get_mut(source)
            .expect("an engine per source")
            .add_rule(rule)
            .map_err(|error| format!("does not compile: {error}"))?;
    }
    let canonical = rsigma_parser::emit_rule_yaml(rule);
    Ok(LoadedRule {
        id,
        title: rule.title.clone(),
        level: rule.level.map(|l| level_name(l).to_owned()),
        tags: rule.tags.clone(),
        origin: origin.to_owned(),
        version: hex::encode(&Sha256::digest(canonical.as_bytes())[..8]),
        sources,
    })
}

fn describe((product, category, service): (Option<&str>, Option<&str>, Option<&str>)) -> String {
    let parts: Vec<String> = [
        ("product", product),
        ("category", category),
        ("service", service),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name}: {v}")))
    .collect();
    if parts.is_empty() {
        "(none)".to_owned()
    } else {
        parts.join(", ")
    }
}

fn level_name(level: rsigma_parser::Level) -> &'static str {
    level.as_str()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document(yaml: &str) -> RuleDocument {
        RuleDocument {
            origin: "test.yml".to_owned(),
            yaml: yaml.to_owned(),
        }
    }

    const OFFICE_MACRO: &str = r"
title: Office starts a shell with a known hash
id: 9a1f0c52-2d4e-4f8b-a1b7-3c5d6e7f8a90
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        ParentImage|endswith: '\WINWORD.EXE'
        Image|endswith:
            - '\powershell.exe'
            - '\cmd.exe'
        Hashes|contains: 'SHA256=ABC'
    condition: selection
level: high
tags:
    - attack.execution
";

    fn launch(parent: &str, hashes: &str) -> Value {
        json!({
            "class_uid": 1007, "activity_id": 1,
            "metadata": {"product": {"name": "Sysmon"}},
            "process": {"pid": 2, "file": {"path": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"}},
            "actor": {"process": {"pid": 1, "file": {"path": parent}}},
            "unmapped": {"Hashes": hashes, "EventID": 1},
        })
    }

    #[test]
    fn mapped_fields_read_ocsf_and_the_rest_read_the_events_own_fields() {
        let set = RuleSet::load([document(OFFICE_MACRO)]);
        assert!(set.skipped().is_empty(), "{:?}", set.skipped());
        let rule = &set.rules()[0];
        assert_eq!(rule.level.as_deref(), Some("high"));
        assert_eq!(
            rule.sources,
            vec![
                Source::SysmonProcessCreation,
                Source::SecurityProcessCreation,
                Source::DefenderProcessCreation
            ]
        );
        let word = "C:\\Program Files\\Microsoft Office\\WINWORD.EXE";
        let found = set.evaluate(
            OcsfClass::ProcessActivity,
            &launch(word, "SHA256=ABCDEF,MD5=01"),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule_id, "9a1f0c52-2d4e-4f8b-a1b7-3c5d6e7f8a90");
        assert_eq!(found[0].tags, vec!["attack.execution"]);
        assert!(
            found[0]
                .fields
                .iter()
                .any(|(field, _)| field == "actor.process.file.path")
        );
        let explorer = "C:\\Windows\\explorer.exe";
        assert!(
            set.evaluate(OcsfClass::ProcessActivity, &launch(explorer, "SHA256=ABC"))
                .is_empty()
        );
        assert!(
            set.evaluate(OcsfClass::ProcessActivity, &launch(word, "SHA256=FFF"))
                .is_empty()
        );
        // A sign-in is never tested against a process rule.
        assert!(
            set.evaluate(OcsfClass::Authentication, &launch(word, "SHA256=ABC"))
                .is_empty()
        );
    }

    #[test]
    fn a_changed_rule_has_a_new_version_and_a_reformatted_one_does_not() {
        let version = |yaml: &str| RuleSet::load([document(yaml)]).rules()[0].version.clone();
        let original = version(OFFICE_MACRO);
        assert_eq!(
            original,
            version(&OFFICE_MACRO.replace("    - attack.execution", "  - attack.execution")),
            "indentation is not a change"
        );
        assert_ne!(
            original,
            version(&OFFICE_MACRO.replace("SHA256=ABC", "SHA256=ABD"))
        );
    }

    #[test]
    fn rules_that_cannot_load_are_listed_with_their_reason() {
        let set = RuleSet::load([
            document("title: [unclosed"),
            document(OFFICE_MACRO),
            RuleDocument {
                origin: "again.yml".to_owned(),
                yaml: OFFICE_MACRO.to_owned(),
            },
        ]);
        assert_eq!(set.rules().len(), 1);
        let reasons: Vec<&str> = set.skipped().iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons.contains(
                &"id 9a1f0c52-2d4e-4f8b-a1b7-3c5d6e7f8a90 is already the id of a rule in test.yml"
            ),
            "{reasons:?}"
        );
    }

    #[test]
    fn lint_points_at_the_line_of_the_error() {
        let problems = lint(&OFFICE_MACRO.replace("level: high", "level: severe"));
        assert!(
            problems
                .iter()
                .any(|p| p.line == Some(15) && p.message.contains("level")),
            "{problems:?}"
        );
        assert!(lint(OFFICE_MACRO).is_empty());
    }

    #[test]
    fn the_built_in_pack_loads_and_says_why_for_each_rule_it_leaves_out() {
        let set = pack::compiled();
        assert!(set.rules().len() > 1500, "{} rules", set.rules().len());
        assert!(
            set.skipped().len() < set.rules().len() / 20,
            "{:?}",
            set.skipped()
        );
        assert!(set.skipped().iter().all(|s| !s.reason.is_empty()));
    }
}
