//! A tenant's detections: the rules evaluated on its telemetry with what each found and what
//! people concluded about it, and one rule's page — where it is on, its lineage with what each
//! version produced, and the tuning flow: suppressions, the one Steward suggests, and a replay
//! over the rule's history before one is saved.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use steward_domain::detections::{Condition, Replay, Suggestion, Suppression};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, NextPage, when},
};

/// One rule as the lists and its page show it: where it is on in the tenant, and its findings
/// there over the window with the verdicts on them.
#[derive(Debug, Clone)]
pub struct RuleSummary {
    pub rule_id: String,
    pub title: String,
    pub level: Option<String>,
    /// `built in` or `custom`.
    pub origin: &'static str,
    pub version: String,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub msp_enabled: Option<bool>,
    pub tenant_enabled: Option<bool>,
    pub counts: Counts,
}

/// Findings and the verdicts of the incidents they are in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub findings: u64,
    pub true_positives: u64,
    pub benign_true_positives: u64,
    pub false_positives: u64,
    /// True positives over every verdict; `None` before any.
    pub precision: Option<f64>,
    pub last_match: Option<DateTime<Utc>>,
}

/// Which rules the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Those that found something in the window (the default: what is active here).
    Matched,
    All,
    /// Those turned off in the tenant.
    Off,
}

impl Show {
    pub const ALL: [Self; 3] = [Self::Matched, Self::All, Self::Off];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::All => "all",
            Self::Off => "off",
        }
    }

    const fn label(self) -> &'static str {
        match self {
            Self::Matched => "Rules that found something",
            Self::All => "Every rule",
            Self::Off => "Rules turned off",
        }
    }
}

/// The tenant's rule list.
#[derive(Debug, Clone)]
pub struct DetectionsPage {
    pub tenant_id: String,
    pub tenant_name: String,
    pub rules: Vec<RuleSummary>,
    /// Rules matching the filter, on every page.
    pub total: usize,
    pub search: String,
    pub show: Show,
    pub window_days: u16,
    /// The link to the next page, with the filter kept, when there is one.
    pub next: Option<(String, String)>,
}

/// One version of a rule in its lineage.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub version: String,
    pub title: String,
    pub reason: String,
    pub author: String,
    pub created_at: Option<DateTime<Utc>>,
    pub diff: Option<String>,
    pub current: bool,
    /// What it produced across the MSP.
    pub counts: Counts,
}

/// What the person typed into the suppression form, shown again with a replay or an error.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// One condition per line: `field equals value` or `field contains value`.
    pub conditions: String,
    pub reason: String,
    /// Days until it expires; empty for never.
    pub expires_days: String,
}

/// One rule's page in a tenant.
#[derive(Debug, Clone)]
pub struct RulePage {
    pub tenant_id: String,
    pub tenant_name: String,
    pub rule: RuleSummary,
    pub window_days: u16,
    /// Newest first.
    pub versions: Vec<VersionRow>,
    /// With whether each applies now.
    pub suppressions: Vec<(Suppression, bool)>,
    pub suggestion: Option<Suggestion>,
    /// Why there is no suggestion.
    pub no_suggestion: Option<String>,
    pub draft: Draft,
    /// The draft's replay, when asked for or when saving was refused.
    pub replay: Option<Replay>,
    /// Whether the viewer may turn the rule on or off and tune it here.
    pub can_manage: bool,
    pub csrf_token: String,
}

fn percent(precision: Option<f64>) -> String {
    precision.map_or_else(|| "—".to_owned(), |p| format!("{:.0}%", p * 100.0))
}

fn short(version: &str) -> String {
    version.chars().take(12).collect()
}

/// Where the rule is on, and whose choice that is.
fn state_text(rule: &RuleSummary) -> String {
    let state = if rule.enabled { "On" } else { "Off" };
    let whose = match (rule.tenant_enabled, rule.msp_enabled) {
        (Some(_), _) => "this customer's setting",
        (None, Some(_)) => "the MSP's setting",
        (None, None) => "default",
    };
    format!("{state} ({whose})")
}

fn rule_href(tenant_id: &str, rule_id: &str) -> String {
    format!("/tenants/{tenant_id}/detections/{rule_id}")
}

/// Renders the tenant's rule list.
pub fn render_list(chrome: Chrome, page: DetectionsPage) -> String {
    let rows = page
        .rules
        .iter()
        .map(|rule| {
            let href = rule_href(&page.tenant_id, &rule.rule_id);
            let c = rule.counts;
            view! {
                <tr data-rule-id=rule.rule_id.clone()>
                    <td><a href=href>{rule.title.clone()}</a></td>
                    <td>{rule.level.clone().unwrap_or_default()}</td>
                    <td>{rule.origin}</td>
                    <td>{state_text(rule)}</td>
                    <td class="score">{c.findings}</td>
                    <td>{format!("{} / {} / {}", c.true_positives, c.benign_true_positives, c.false_positives)}</td>
                    <td class="score">{percent(c.precision)}</td>
                    <td>{c.last_match.map(when).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let empty = page.rules.is_empty().then(|| {
        let all = format!("/tenants/{}/detections?show=all", page.tenant_id);
        view! {
            <p class="hint">"No rule here matches. "<a href=all>"Show every rule"</a></p>
        }
    });
    let options = Show::ALL
        .iter()
        .map(|show| view! { <option value=show.as_str() selected=*show == page.show>{show.label()}</option> })
        .collect_view();
    let action = format!("/tenants/{}/detections", page.tenant_id);
    let back = format!("/tenants/{}", page.tenant_id);
    let (next_base, next_cursor) = page.next.unzip();
    let body = view! {
        <h1>"Detections · "{page.tenant_name}</h1>
        <p><a href=back>"← Back to the customer"</a></p>
        <section class="card">
            <p class="hint">{format!(
                "Sigma rules evaluated on this customer's telemetry as it arrives. Findings and \
                 verdicts count the last {} days; precision is true positives over every verdict.",
                page.window_days
            )}</p>
            <form method="get" action=action class="row-form" role="search">
                <label>"Search" <input type="search" name="search" value=page.search maxlength="200"/></label>
                <label>"Show" <select name="show">{options}</select></label>
                <button type="submit" class="button button-secondary">"Filter"</button>
            </form>
            <h2>"Rules " <span class="count" id="rule-count">{page.total}</span></h2>
            {empty}
            <div class="table-wrap">
                <table id="rules">
                    <thead><tr>
                        <th>"Rule"</th><th>"Level"</th><th>"Origin"</th><th>"State"</th>
                        <th>"Findings"</th><th>"True / benign / false positives"</th>
                        <th>"Precision"</th><th>"Last match"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <NextPage base=next_base.unwrap_or_default() cursor=next_cursor/>
        </section>
    };
    render_document("Detections", Some(chrome), body)
}

fn counts_facts(counts: Counts, window_days: u16) -> impl IntoView + use<> {
    view! {
        <div><dt>{format!("Findings (last {window_days} days)")}</dt><dd id="rule-findings">{counts.findings}</dd></div>
        <div><dt>"True positives"</dt><dd>{counts.true_positives}</dd></div>
        <div><dt>"Benign true positives"</dt><dd>{counts.benign_true_positives}</dd></div>
        <div><dt>"False positives"</dt><dd>{counts.false_positives}</dd></div>
        <div><dt>"Precision"</dt><dd id="rule-precision">{percent(counts.precision)}</dd></div>
        <div><dt>"Last match"</dt><dd>{counts.last_match.map_or_else(|| "never".to_owned(), when)}</dd></div>
    }
}

/// What a rule is, where it is on (`state`: its label and element id) and what it found.
fn rule_facts(
    rule: &RuleSummary,
    (state_label, state_id): (&'static str, &'static str),
    window_days: u16,
) -> impl IntoView + use<> {
    view! {
        <dl class="facts">
            <div><dt>"Rule id"</dt><dd class="mono">{rule.rule_id.clone()}</dd></div>
            <div><dt>"Level"</dt><dd>{rule.level.clone().unwrap_or_default()}</dd></div>
            <div><dt>"Origin"</dt><dd>{rule.origin}</dd></div>
            <div><dt>"Version"</dt><dd class="mono" title=rule.version.clone()>{short(&rule.version)}</dd></div>
            <div><dt>{state_label}</dt><dd id=state_id>{state_text(rule)}</dd></div>
            {counts_facts(rule.counts, window_days)}
        </dl>
        <p class="hint">{rule.tags.join(", ")}</p>
    }
}

fn conditions_list(conditions: &[Condition]) -> impl IntoView + use<> {
    let items = conditions
        .iter()
        .map(|c| view! { <li class="mono">{c.to_string()}</li> })
        .collect_view();
    view! { <ul class="conditions">{items}</ul> }
}

fn replay_card(tenant_id: &str, replay: &Replay) -> impl IntoView + use<> {
    let hidden = replay
        .hidden_true_positives
        .iter()
        .map(|finding| {
            let href = format!(
                "/tenants/{tenant_id}/response#incident-{}",
                finding.incident_id
            );
            view! { <li><a href=href>{finding.title.clone()}</a>" · "{when(finding.time)}</li> }
        })
        .collect_view();
    let verdict = if replay.hidden_true_positives.is_empty() {
        view! { <p class="flash flash-success">"It would have hidden no true positive."</p> }
            .into_any()
    } else {
        view! {
            <p class="flash flash-error">{format!(
                "It would have hidden {} true positive(s) — attacks no one would have seen:",
                replay.hidden_true_positives.len()
            )}</p>
            <ul id="hidden-true-positives">{hidden}</ul>
        }
        .into_any()
    };
    let h = replay.hidden;
    view! {
        <section class="card" id="replay">
            <h2>"Replay over this customer's history"</h2>
            <p>{format!(
                "Of the rule's {} findings here, it would have hidden {}: {} true positive(s), {} \
                 benign, {} false positive(s), {} not judged yet.",
                replay.considered,
                h.true_positive + h.benign_true_positive + h.false_positive + h.unjudged,
                h.true_positive,
                h.benign_true_positive,
                h.false_positive,
                h.unjudged
            )}</p>
            {verdict}
        </section>
    }
}

fn suppressions_card(page: &RulePage) -> impl IntoView + use<> {
    let rows = page
        .suppressions
        .iter()
        .map(|(suppression, active)| {
            let remove = page.can_manage.then(|| {
                let href = format!(
                    "{}/suppressions/{}/remove",
                    rule_href(&page.tenant_id, &page.rule.rule_id),
                    suppression.id
                );
                view! {
                    <form method="post" action=href class="inline">
                        <Csrf token=page.csrf_token.clone()/>
                        <button type="submit" class="link-button">"Remove"</button>
                    </form>
                }
            });
            let state = if *active {
                view! { <span class="badge badge-ok">"active"</span> }
            } else {
                view! { <span class="badge badge-muted">"expired"</span> }
            };
            view! {
                <tr>
                    <td>{conditions_list(&suppression.conditions)}</td>
                    <td>{suppression.reason.clone()}</td>
                    <td>{suppression.author.clone()}" · "{when(suppression.created_at)}</td>
                    <td>{suppression.expires_at.map_or_else(|| "never".to_owned(), when)}</td>
                    <td>{state}</td>
                    <td>{remove}</td>
                </tr>
            }
        })
        .collect_view();
    let none = page
        .suppressions
        .is_empty()
        .then(|| view! { <p class="hint">"No suppression: every match here is a finding."</p> });
    view! {
        <section class="card" id="suppressions">
            <h2>"Suppressions here"</h2>
            {none}
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"When all of"</th><th>"Why"</th><th>"By"</th><th>"Expires"</th><th>"State"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
        </section>
    }
}

fn suggestion_card(page: &RulePage) -> impl IntoView + use<> {
    let content = match &page.suggestion {
        Some(suggestion) => {
            let r = &suggestion.replay;
            view! {
                <p>{format!(
                    "Built from what the rule's {} findings judged false or benign here share:",
                    suggestion.noise
                )}</p>
                {conditions_list(&suggestion.conditions)}
                <p>{format!(
                    "Replayed, it hides {} of {} findings and {} true positive(s). The form \
                     below starts from it.",
                    r.hidden.true_positive + r.hidden.benign_true_positive + r.hidden.false_positive + r.hidden.unjudged,
                    r.considered,
                    r.hidden.true_positive
                )}</p>
            }
            .into_any()
        }
        None => view! { <p class="hint">{page.no_suggestion.clone().unwrap_or_default()}</p> }
            .into_any(),
    };
    view! {
        <section class="card" id="suggestion">
            <h2>"Suggested suppression"</h2>
            {content}
        </section>
    }
}

fn suppression_form(page: &RulePage) -> impl IntoView + use<> {
    let action = format!(
        "{}/suppressions",
        rule_href(&page.tenant_id, &page.rule.rule_id)
    );
    let must_accept = page
        .replay
        .as_ref()
        .is_some_and(|r| !r.hidden_true_positives.is_empty());
    let accept = must_accept.then(|| {
        view! {
            <label class="stack-row"><input type="checkbox" name="accept_hidden_true_positives" value="true"/>
                " Save it although it would have hidden true positives"</label>
        }
    });
    view! {
        <section class="card" id="new-suppression">
            <h2>"Suppress matches here"</h2>
            <p class="hint">
                "One condition per line, "<code>"field equals value"</code>" or "
                <code>"field contains value"</code>", on the event's OCSF fields ("
                <code>"process.cmd_line"</code>", "<code>"process.parent_process.file.path"</code>", "
                <code>"device.hostname"</code>"; raw Windows fields under "<code>"unmapped."</code>
                "), ignoring case. A match is suppressed when all of them hold."
            </p>
            <form method="post" action=action class="stack">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Conditions" <textarea name="conditions" rows="4" cols="80" required>{page.draft.conditions.clone()}</textarea></label>
                <label>"Reason" <input type="text" name="reason" maxlength="500" value=page.draft.reason.clone()/></label>
                <label>"Expires after (days, empty for never)" <input type="number" name="expires_days" min="1" max="3650" value=page.draft.expires_days.clone()/></label>
                {accept}
                <div class="row-form">
                    <button type="submit" name="intent" value="replay" class="button button-secondary">"Replay over history"</button>
                    <button type="submit" name="intent" value="save" class="button">"Save suppression"</button>
                </div>
            </form>
        </section>
    }
}

fn state_form(page: &RulePage) -> impl IntoView + use<> {
    page.can_manage.then(|| {
        let action = format!("{}/state", rule_href(&page.tenant_id, &page.rule.rule_id));
        let choice = match page.rule.tenant_enabled {
            Some(true) => "on",
            Some(false) => "off",
            None => "default",
        };
        let options = [
            ("default", "As the MSP chose"),
            ("on", "On for this customer"),
            ("off", "Off for this customer"),
        ]
        .into_iter()
        .map(|(value, label)| view! { <option value=value selected=value == choice>{label}</option> })
        .collect_view();
        view! {
            <form method="post" action=action class="row-form" id="rule-state">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Here" <select name="state">{options}</select></label>
                <button type="submit" class="button button-secondary">"Save"</button>
            </form>
        }
    })
}

fn lineage_card(versions: &[VersionRow]) -> impl IntoView + use<> {
    let items = versions
        .iter()
        .map(|version| {
            let current = version
                .current
                .then(|| view! { " " <span class="badge badge-ok">"in force"</span> });
            let diff = version.diff.clone().map(|diff| {
                view! { <details><summary>"What changed"</summary><pre class="diff">{diff}</pre></details> }
            });
            let c = version.counts;
            view! {
                <li class="version" data-version=version.version.clone()>
                    <p><span class="mono" title=version.version.clone()>{short(&version.version)}</span>{current}
                        " · "{version.title.clone()}</p>
                    <p class="hint">{format!(
                        "{} · {} — “{}”",
                        version.created_at.map_or_else(|| "built in".to_owned(), when),
                        version.author,
                        version.reason
                    )}</p>
                    <p>{format!(
                        "Found {} across the MSP: {} true, {} benign, {} false positive(s); precision {}.",
                        c.findings, c.true_positives, c.benign_true_positives, c.false_positives,
                        percent(c.precision)
                    )}</p>
                    {diff}
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="lineage">
            <h2>"Lineage"</h2>
            <ol class="stack">{items}</ol>
        </section>
    }
}

/// Renders one rule's page in the tenant.
pub fn render_rule(chrome: Chrome, page: RulePage) -> String {
    let rule = &page.rule;
    let list = format!("/tenants/{}/detections", page.tenant_id);
    let replay = page
        .replay
        .as_ref()
        .map(|replay| replay_card(&page.tenant_id, replay));
    let tuning = page.can_manage.then(|| {
        view! {
            {suggestion_card(&page)}
            {suppression_form(&page)}
        }
    });
    let body = view! {
        <h1>{rule.title.clone()}</h1>
        <p><a href=list>{format!("← Detections · {}", page.tenant_name)}</a></p>
        <section class="card" id="rule">
            {rule_facts(rule, ("Here", "rule-state-text"), page.window_days)}
            {state_form(&page)}
        </section>
        {replay}
        {suppressions_card(&page)}
        {tuning}
        {lineage_card(&page.versions)}
    };
    render_document(&page.rule.title, Some(chrome), body)
}

/// The MSP's detection rules: its own, what it turned off for every customer, a search over
/// all of them, and the upload form.
#[derive(Debug, Clone)]
pub struct MspRulesPage {
    /// The MSP's own rules.
    pub own: Vec<RuleSummary>,
    /// Built-in rules the MSP turned off for every customer.
    pub turned_off: Vec<RuleSummary>,
    /// What a search found (empty without a search), and how many in all.
    pub found: Vec<RuleSummary>,
    pub found_total: usize,
    pub search: String,
    pub window_days: u16,
    pub upload: RuleDraft,
    pub can_manage: bool,
    pub csrf_token: String,
}

/// A rule as typed into the upload or new-version form, shown again with what is wrong.
#[derive(Debug, Clone, Default)]
pub struct RuleDraft {
    pub yaml: String,
    pub reason: String,
    /// Each problem as `line 13, column 8: …`.
    pub problems: Vec<String>,
}

/// One rule's page for the whole MSP.
#[derive(Debug, Clone)]
pub struct MspRulePage {
    pub rule: RuleSummary,
    /// The rule's YAML, for the MSP's own rules.
    pub yaml: Option<String>,
    pub window_days: u16,
    pub versions: Vec<VersionRow>,
    pub new_version: RuleDraft,
    pub can_manage: bool,
    pub csrf_token: String,
}

fn msp_rule_href(rule_id: &str) -> String {
    format!("/detections/{rule_id}")
}

fn msp_rules_table(rules: &[RuleSummary], id: &'static str) -> impl IntoView + use<> {
    let rows = rules
        .iter()
        .map(|rule| {
            let c = rule.counts;
            view! {
                <tr data-rule-id=rule.rule_id.clone()>
                    <td><a href=msp_rule_href(&rule.rule_id)>{rule.title.clone()}</a></td>
                    <td>{rule.level.clone().unwrap_or_default()}</td>
                    <td>{rule.origin}</td>
                    <td class="mono">{short(&rule.version)}</td>
                    <td>{state_text(rule)}</td>
                    <td class="score">{c.findings}</td>
                    <td class="score">{percent(c.precision)}</td>
                    <td>{c.last_match.map(when).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table id=id>
                <thead><tr>
                    <th>"Rule"</th><th>"Level"</th><th>"Origin"</th><th>"Version"</th><th>"State"</th>
                    <th>"Findings"</th><th>"Precision"</th><th>"Last match"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

fn problems_list(problems: &[String]) -> impl IntoView + use<> {
    (!problems.is_empty()).then(|| {
        let items = problems
            .iter()
            .map(|p| view! { <li class="mono">{p.clone()}</li> })
            .collect_view();
        view! { <ul class="error-text problems" id="rule-problems">{items}</ul> }
    })
}

/// Renders the MSP's rules page.
pub fn render_msp_rules(chrome: Chrome, page: MspRulesPage) -> String {
    let upload = page.can_manage.then(|| {
        view! {
            <section class="card" id="upload-rule">
                <h2>"Upload a rule"</h2>
                <p class="hint">"One Sigma rule in YAML, with an id of its own. It is checked against the Sigma specification and loaded as Steward evaluates it; an id you used before makes a new version of that rule."</p>
                {problems_list(&page.upload.problems)}
                <form method="post" action="/detections" class="stack">
                    <Csrf token=page.csrf_token.clone()/>
                    <label>"Rule (YAML)" <textarea name="yaml" rows="16" cols="80" required>{page.upload.yaml.clone()}</textarea></label>
                    <label>"Why (kept with this version)" <input type="text" name="reason" maxlength="500" value=page.upload.reason.clone()/></label>
                    <div class="row-form"><button type="submit" class="button">"Upload"</button></div>
                </form>
            </section>
        }
    });
    let found = (!page.search.is_empty()).then(|| {
        view! {
            <h3>"Found " <span class="count">{page.found_total}</span></h3>
            {msp_rules_table(&page.found, "found-rules")}
        }
    });
    let hint = format!(
        "Findings and precision count every customer over the last {} days.",
        page.window_days
    );
    let body = view! {
        <h1>"Detection rules"</h1>
        <section class="card">
            <h2>"Your rules " <span class="count">{page.own.len()}</span></h2>
            <p class="hint">{hint}</p>
            {msp_rules_table(&page.own, "own-rules")}
        </section>
        {upload}
        <section class="card">
            <h2>"Built-in rules off for every customer " <span class="count">{page.turned_off.len()}</span></h2>
            {msp_rules_table(&page.turned_off, "off-rules")}
        </section>
        <section class="card">
            <h2>"Every rule"</h2>
            <form method="get" action="/detections" class="row-form" role="search">
                <label>"Search by id, title or tag" <input type="search" name="search" value=page.search.clone() maxlength="200"/></label>
                <button type="submit" class="button button-secondary">"Search"</button>
            </form>
            {found}
        </section>
    };
    render_document("Detection rules", Some(chrome), body)
}

/// Renders one rule's page for the whole MSP.
pub fn render_msp_rule(chrome: Chrome, page: MspRulePage) -> String {
    let rule = &page.rule;
    let href = msp_rule_href(&rule.rule_id);
    let manage = page.can_manage.then(|| {
        let choice = match rule.msp_enabled {
            Some(true) => "on",
            Some(false) => "off",
            None => "default",
        };
        let options = [
            ("default", "On unless a customer turns it off"),
            ("on", "On for every customer"),
            ("off", "Off for every customer"),
        ]
        .into_iter()
        .map(|(value, label)| view! { <option value=value selected=value == choice>{label}</option> })
        .collect_view();
        view! {
            <form method="post" action=format!("{href}/state") class="row-form" id="msp-rule-state">
                <Csrf token=page.csrf_token.clone()/>
                <label>"For the MSP" <select name="state">{options}</select></label>
                <button type="submit" class="button button-secondary">"Save"</button>
            </form>
        }
    });
    let own = page.yaml.clone().map(|yaml| {
        let edit = page.can_manage.then(|| {
            let draft = if page.new_version.yaml.is_empty() {
                yaml.clone()
            } else {
                page.new_version.yaml.clone()
            };
            view! {
                <h3>"New version"</h3>
                {problems_list(&page.new_version.problems)}
                <form method="post" action=href.clone() class="stack" id="new-version">
                    <Csrf token=page.csrf_token.clone()/>
                    <label>"Rule (YAML)" <textarea name="yaml" rows="16" cols="80" required>{draft}</textarea></label>
                    <label>"Why (kept with this version)" <input type="text" name="reason" maxlength="500" value=page.new_version.reason.clone()/></label>
                    <div class="row-form"><button type="submit" class="button">"Save new version"</button></div>
                </form>
                <form method="post" action=format!("{href}/remove") class="row-form" id="remove-rule">
                    <Csrf token=page.csrf_token.clone()/>
                    <button type="submit" class="button button-danger">"Remove this rule"</button>
                </form>
            }
        });
        view! {
            <section class="card" id="rule-yaml">
                <h2>"The rule"</h2>
                <pre class="diff">{yaml}</pre>
                {edit}
            </section>
        }
    });
    let body = view! {
        <h1>{rule.title.clone()}</h1>
        <p><a href="/detections">"← Detection rules"</a></p>
        <section class="card" id="rule">
            {rule_facts(rule, ("For the MSP", "msp-state-text"), page.window_days)}
            {manage}
        </section>
        {own}
        {lineage_card(&page.versions)}
    };
    render_document(&page.rule.title, Some(chrome), body)
}
