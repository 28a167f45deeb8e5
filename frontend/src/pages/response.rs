//! A tenant's response work: actions awaiting approval (with the policy's reasons, the
//! target's risk and what rollback would do), every action and its outcome, the incidents,
//! and each entity's risk with its factors.

use std::collections::HashMap;

use leptos::prelude::*;
use steward_domain::{
    ActionId, UserId,
    actions::{
        Action, ActionStatus, ActionType, ApproverSide, PolicyDecision, PolicyOutcome, TargetKind,
    },
    guardrails::{AutomationHalt, HaltScope, Pause, TenantGuardrails},
    incidents::{EntityKey, Finding, Incident, IncidentStatus, Verdict},
    risk::RiskScore,
    tenancy::{Role, Tenant},
};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, when},
};

/// What the response page shows.
#[derive(Debug, Clone)]
pub struct ResponsePage {
    pub tenant: Tenant,
    pub incidents: Vec<Incident>,
    pub actions: Vec<Action>,
    pub risk: Vec<RiskScore>,
    /// The side the viewer approves on, if any.
    pub approver_side: Option<ApproverSide>,
    /// Who is looking, to tell whether they already approved and have the role asked for.
    pub viewer_id: UserId,
    pub viewer_role: Role,
    /// Whether the viewer may work incidents.
    pub can_work_incidents: bool,
    /// Whether the viewer may ask for rollbacks.
    pub can_roll_back: bool,
    /// Whether the viewer may see incidents and risk (else those sections are left out).
    pub can_read_incidents: bool,
    /// Whether the viewer may read outcome reports (shows the link).
    pub can_read_reports: bool,
    /// Whether the viewer may see detection rules (links findings to their rule).
    pub can_read_detections: bool,
    /// Kill switches, maintenance windows and what pauses automation now.
    pub guardrails: TenantGuardrails,
    /// What the governing policy would decide now for each action waiting for approval.
    pub what_if: HashMap<ActionId, PolicyDecision>,
    /// Whether the viewer may pull the tenant's kill switch.
    pub can_halt: bool,
    /// Whether the viewer may release it (MSP admins).
    pub can_release: bool,
    /// What the viewer may propose actions on (empty unless they may propose): the tenant's
    /// devices and identities, by id and name.
    pub proposable: Vec<(EntityKey, String)>,
    pub csrf_token: String,
}

fn pause_label(pause: Pause) -> &'static str {
    match pause {
        Pause::KillSwitch => "the kill switch is pulled",
        Pause::CircuitOpen => "too many actions failed in the last hour (circuit breaker open)",
        Pause::RateLimited => "the hourly number of automatic actions is reached",
    }
}

/// Who pulled a kill switch, when and why.
pub(crate) fn halt_line(halt: &AutomationHalt) -> String {
    let whose = match halt.scope {
        HaltScope::Tenant => "This tenant's kill switch",
        HaltScope::Msp => "The MSP-wide kill switch",
    };
    let reason = if halt.reason.is_empty() {
        String::new()
    } else {
        format!(": “{}”", halt.reason)
    };
    format!(
        "{whose} was pulled by {} on {}{reason}",
        halt.engaged_by_label,
        when(halt.engaged_at)
    )
}

/// Automatic execution: whether it runs, why not, the switches and the windows.
fn guardrails_card(page: &ResponsePage) -> impl IntoView + use<> {
    let g = &page.guardrails;
    let state = if g.paused.is_empty() {
        view! { <p class="automation-state" data-paused="false">"Automatic execution is on: actions the policy allows run without waiting."</p> }
            .into_any()
    } else {
        let why = g
            .paused
            .iter()
            .map(|p| pause_label(*p))
            .collect::<Vec<_>>()
            .join("; ");
        view! { <p class="automation-state flash flash-error" data-paused="true">{format!("Automatic execution is paused: {why}. Actions wait for a technician.")}</p> }
            .into_any()
    };
    let halts = [&g.tenant_halt, &g.msp_halt]
        .into_iter()
        .flatten()
        .map(|halt| view! { <li>{halt_line(halt)}</li> })
        .collect_view();
    let base = format!("/tenants/{}/kill-switch", page.tenant.id);
    let pull = (page.can_halt && g.tenant_halt.is_none()).then(|| {
        view! {
            <form method="post" action=base.clone() class="row-form" id="pull-kill-switch">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Reason" <input type="text" name="reason" maxlength="500"/></label>
                <button type="submit" class="button button-danger">"Pull the kill switch"</button>
            </form>
        }
    });
    let release = (page.can_release && g.tenant_halt.is_some()).then(|| {
        view! {
            <form method="post" action=format!("{base}/release") class="row-form" id="release-kill-switch">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Your password or authenticator code" <input type="password" name="confirm" autocomplete="current-password" maxlength="200"/></label>
                <button type="submit" class="button button-secondary">"Release the kill switch"</button>
            </form>
        }
    });
    let maintenance = match &g.maintenance {
        None => "none: disruptive actions are not tied to a window".to_owned(),
        Some(schedule) => {
            let windows = schedule
                .windows
                .iter()
                .map(|w| format!("{} {}–{}", w.days.join(", "), w.start, w.end))
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "{windows} ({}); {}",
                schedule.timezone,
                if g.maintenance_open {
                    "open now"
                } else {
                    "closed now"
                }
            )
        }
    };
    view! {
        <section class="card" id="guardrails">
            <h2>"Automation"</h2>
            {state}
            <ul class="halts">{halts}</ul>
            <dl class="facts">
                <div><dt>"Automation level"</dt><dd>{g.automation_level}</dd></div>
                <div><dt>"Maintenance windows"</dt><dd>{maintenance}</dd></div>
                <div><dt>"Automatic actions, last hour"</dt><dd>{format!(
                    "{} of {} (MSP: {} of {})",
                    g.activity.tenant_automatic,
                    g.limits.tenant_automatic_per_hour,
                    g.activity.msp_automatic,
                    g.limits.msp_automatic_per_hour
                )}</dd></div>
                <div><dt>"Failures, last hour"</dt><dd>{format!(
                    "{} (breaker opens at {})",
                    g.activity.tenant_failures,
                    g.limits.tenant_failures_to_open
                )}</dd></div>
            </dl>
            {pull}
            {release}
        </section>
    }
}

fn outcome_label(outcome: PolicyOutcome) -> &'static str {
    match outcome {
        PolicyOutcome::Auto => "automatic",
        PolicyOutcome::TechnicianApproval => "needs a technician's approval",
        PolicyOutcome::CustomerApproval => "needs the customer's approval",
        PolicyOutcome::Deny => "denied by policy",
    }
}

fn status_badge(status: ActionStatus) -> impl IntoView {
    let class = match status {
        ActionStatus::Verified | ActionStatus::RolledBack => "badge badge-ok",
        ActionStatus::Failed
        | ActionStatus::RollbackFailed
        | ActionStatus::Denied
        | ActionStatus::Rejected
        | ActionStatus::Cancelled => "badge badge-warn",
        _ => "badge badge-muted",
    };
    view! { <span class=class data-status=status.as_str()>{status.as_str().replace('_', " ")}</span> }
}

/// How many targets the action's request touched, for approvers weighing its blast radius.
fn blast_radius(action: &Action) -> String {
    match action.batch {
        Some(batch) if batch.size > 1 => format!(
            "Target {} of {} in one request; the first target the policy allows runs first as a canary, and the rest stop if it fails",
            batch.position + 1,
            batch.size
        ),
        _ => "This target only".to_owned(),
    }
}

fn severity_label(severity: u8) -> &'static str {
    match severity {
        5 | 6 => "critical",
        4 => "high",
        3 => "medium",
        2 => "low",
        _ => "informational",
    }
}

/// Whether the viewer may approve, and may reject, this action.
fn answers(page: &ResponsePage, action: &Action) -> (bool, bool) {
    let needed = action
        .decision
        .approving_side()
        .unwrap_or(ApproverSide::Technician);
    let already = action
        .approvals
        .iter()
        .any(|a| a.user_id == page.viewer_id && a.version == action.version);
    let role_fits = action
        .decision
        .approver_role
        .is_none_or(|role| role == page.viewer_role);
    match page.approver_side {
        None => (false, false),
        Some(side) => (
            side == needed && role_fits && !already,
            side == ApproverSide::Technician || needed == ApproverSide::Customer,
        ),
    }
}

/// "1 of 2 approvals (MSP admins)", what the request still needs.
fn quorum_line(action: &Action) -> String {
    let side = action.decision.approving_side();
    let given = action
        .approvals
        .iter()
        .filter(|a| a.approved && a.version == action.version && Some(a.side) == side)
        .filter(|a| {
            action
                .decision
                .approver_role
                .is_none_or(|role| a.role == Some(role))
        })
        .count();
    let who = action
        .decision
        .approver_role
        .map(|role| format!(" ({})", role.as_str().replace('_', " ")))
        .unwrap_or_default();
    format!(
        "{given} of {} approval{}{who}",
        action.decision.quorum,
        if action.decision.quorum == 1 { "" } else { "s" }
    )
}

fn approval_card(page: &ResponsePage, action: &Action) -> impl IntoView + use<> {
    let base = format!("/tenants/{}/actions/{}", page.tenant.id, action.id);
    let (can_approve, can_reject) = answers(page, action);
    let what_if = page.what_if.get(&action.id).map(|now| {
        let same = now.outcome == action.decision.outcome && now.reasons == action.decision.reasons;
        let text = format!(
            "{}{} ({})",
            outcome_label(now.outcome),
            if same { ", as recorded" } else { "" },
            now.reasons.join(", ")
        );
        view! { <div class="what-if"><dt>"Policy if proposed now"</dt><dd>{text}</dd></div> }
    });
    let deadline = action.expires_at.map(|at| {
        let escalated = if action.escalation_level > 0 {
            " — escalated to the next approvers"
        } else {
            ""
        };
        view! { <div><dt>"Expires"</dt><dd>{format!("{}{escalated}; unanswered, it is rejected", when(at))}</dd></div> }
    });
    let factors = action.decision_input["risk"]["factors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|factor| {
            view! {
                <li>{format!(
                    "{} (+{})",
                    factor["name"].as_str().unwrap_or_default(),
                    factor["contribution"].as_u64().unwrap_or_default()
                )}</li>
            }
        })
        .collect_view();
    let score = action.decision_input["risk"]["score"].as_u64().unwrap_or(0);
    let reasons = action.reasons.join(" · ");
    let codes = action.decision.reasons.join(", ");
    let csrf = page.csrf_token.clone();
    let version = action.version.clone();
    // Approving what cannot be undone asks who is approving (once in ten minutes).
    let confirm = (!action.reversible).then(|| {
        view! {
            <label>"Your password or authenticator code" <input type="password" name="confirm" autocomplete="current-password" maxlength="200"/></label>
        }
    });
    let approve = can_approve.then(|| {
        view! {
            <form method="post" action=format!("{base}/approve") class="row-form">
                <Csrf token=csrf.clone()/>
                <input type="hidden" name="version" value=version.clone()/>
                <label>"Comment" <input type="text" name="comment" maxlength="500"/></label>
                {confirm}
                <button type="submit" class="button">"Approve"</button>
            </form>
        }
    });
    let reject = can_reject.then(|| {
        view! {
            <form method="post" action=format!("{base}/reject") class="row-form">
                <Csrf token=csrf.clone()/>
                <input type="hidden" name="version" value=version.clone()/>
                <button type="submit" class="button button-danger">"Reject"</button>
            </form>
        }
    });
    let waiting = (!can_approve).then(|| {
        view! { <p>{format!("Waiting for approval: this action {}.", outcome_label(action.decision.outcome))}</p> }
    });
    view! {
        <section class="card approval" data-action-id=action.id.to_string()>
            <div class="title-row">
                <h3>{format!("{} — {}", action.kind.as_str().replace('_', " "), action.target.name)}</h3>
                <span class="badge badge-warn">{outcome_label(action.decision.outcome)}</span>
            </div>
            <p>{action.kind.describe()}</p>
            <dl class="facts">
                <div><dt>"Why"</dt><dd>{reasons}</dd></div>
                <div><dt>"Policy reasons"</dt><dd class="mono">{codes}</dd></div>
                <div><dt>"Target risk"</dt><dd>{format!("{score} / 100")}<ul class="factors">{factors}</ul></dd></div>
                <div><dt>"Blast radius"</dt><dd class="blast-radius">{blast_radius(action)}</dd></div>
                <div><dt>"Rollback"</dt><dd>{action.rollback_plan.clone()}</dd></div>
                <div><dt>"Approvals"</dt><dd class="quorum">{quorum_line(action)}</dd></div>
                {what_if}
                {deadline}
                <div><dt>"Version"</dt><dd class="mono">{action.version[..12].to_owned()}</dd></div>
            </dl>
            {waiting}
            {approve}
            {reject}
        </section>
    }
}

fn action_row(page: &ResponsePage, action: &Action) -> impl IntoView + use<> {
    let roll_back = (page.can_roll_back
        && action.reversible
        && action.status == ActionStatus::Verified)
        .then(|| {
            let href = format!("/tenants/{}/actions/{}/rollback", page.tenant.id, action.id);
            view! {
                <form method="post" action=href>
                    <Csrf token=page.csrf_token.clone()/>
                    <button type="submit" class="button button-secondary">"Roll back"</button>
                </form>
            }
        });
    let approvals = action
        .approvals
        .iter()
        .map(|a| {
            format!(
                "{} by the {} side",
                if a.approved { "approved" } else { "rejected" },
                match a.side {
                    ApproverSide::Technician => "MSP",
                    ApproverSide::Customer => "customer",
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    view! {
        <tr data-action-id=action.id.to_string()>
            <td>{action.kind.as_str().replace('_', " ")}</td>
            <td>
                {action.target.name.clone()}
                {action.batch.filter(|b| b.size > 1).map(|b| view! {
                    <span class="muted">{format!(" ({} of {})", b.position + 1, b.size)}</span>
                })}
            </td>
            <td>{status_badge(action.status)}</td>
            <td>{outcome_label(action.decision.outcome)}</td>
            <td>{approvals}</td>
            <td>{action.detail.clone().unwrap_or_default()}</td>
            <td>{when(action.updated_at)}</td>
            <td>{roll_back}</td>
        </tr>
    }
}

fn incident_card(page: &ResponsePage, incident: &Incident) -> impl IntoView + use<> {
    let findings = incident
        .findings
        .iter()
        .map(|finding| {
            view! {
                <li class="finding">
                    {format!("{} ({}, {})", finding.title, severity_label(finding.severity_id), when(finding.time))}
                    " · "{found_by(page, finding)}
                </li>
            }
        })
        .collect_view();
    let work = page.can_work_incidents.then(|| {
        let href = format!("/tenants/{}/incidents/{}", page.tenant.id, incident.id);
        let statuses = IncidentStatus::ALL
            .iter()
            .map(|status| {
                view! { <option value=status.as_str() selected=*status == incident.status>{status.as_str()}</option> }
            })
            .collect_view();
        let verdicts = Verdict::ALL
            .iter()
            .map(|verdict| view! { <option value=verdict.as_str()>{verdict.as_str().replace('_', " ")}</option> })
            .collect_view();
        view! {
            <form method="post" action=href class="row-form">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Status" <select name="status">{statuses}</select></label>
                <label>"Verdict (when resolving)" <select name="verdict"><option value="">"—"</option>{verdicts}</select></label>
                <button type="submit" class="button button-secondary">"Update"</button>
            </form>
        }
    });
    let contained = incident
        .contained_at
        .map(|at| view! { <div><dt>"Contained"</dt><dd>{when(at)}</dd></div> });
    let verdict = incident
        .verdict
        .map(|v| view! { <div><dt>"Verdict"</dt><dd>{v.as_str().replace('_', " ")}</dd></div> });
    view! {
        <section class="card incident" id=format!("incident-{}", incident.id) data-incident-id=incident.id.to_string()>
            <div class="title-row">
                <h3>{incident.title.clone()}</h3>
                <span class="badge badge-muted" data-status=incident.status.as_str()>{incident.status.as_str()}</span>
            </div>
            <dl class="facts">
                <div><dt>"Severity"</dt><dd>{severity_label(incident.severity_id)}</dd></div>
                <div><dt>"First activity"</dt><dd>{when(incident.first_activity_at)}</dd></div>
                <div><dt>"Detected"</dt><dd>{when(incident.created_at)}</dd></div>
                {contained}
                {verdict}
            </dl>
            <ul>{findings}</ul>
            {work}
        </section>
    }
}

/// What found it: a Sigma rule with the version that matched (linked to the rule's page for
/// those who may see rules), else the detection or the vendor's detector.
fn found_by(page: &ResponsePage, finding: &Finding) -> impl IntoView + use<> {
    let Some(rule_id) = finding.rule.strip_prefix("sigma:") else {
        return view! { <span class="mono">{finding.rule.clone()}</span> }.into_any();
    };
    let version: String = finding.details["rule_version"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .take(12)
        .collect();
    let text = format!("Sigma rule {rule_id} version {version}");
    if page.can_read_detections {
        let href = format!("/tenants/{}/detections/{rule_id}", page.tenant.id);
        view! { <a class="rule-link" href=href data-rule-version=version>{text}</a> }.into_any()
    } else {
        view! { <span class="mono">{text}</span> }.into_any()
    }
}

fn risk_table(risk: &[RiskScore]) -> impl IntoView + use<> {
    let rows = risk
        .iter()
        .map(|score| {
            let factors = score
                .factors
                .iter()
                .map(|f| {
                    let evidence = f.evidence.as_deref().and_then(evidence_href).map(
                        |href| view! { " " <a class="evidence" href=href>"evidence"</a> },
                    );
                    view! { <li>{format!("{} +{}: {}", f.name, f.contribution, f.detail)}{evidence}</li> }
                })
                .collect_view();
            view! {
                <tr>
                    <td>{score.entity_name.clone()}</td>
                    <td class="score">{score.score}</td>
                    <td><ul class="factors">{factors}</ul></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-wrap">
            <table>
                <thead><tr><th>"Entity"</th><th>"Risk"</th><th>"Factors"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// Where a risk factor's evidence is in the web UI: an incident on this page, or the entity in
/// its context graph. Its API address otherwise names nothing the UI shows.
fn evidence_href(api: &str) -> Option<String> {
    let path = api.strip_prefix("/api/v1")?;
    if path.contains("/graph?center=") {
        return Some(path.to_owned());
    }
    let (_, incident) = path.split_once("/incidents/")?;
    Some(format!("#incident-{incident}"))
}

/// The form to propose one action type for one or more of the tenant's devices or identities.
fn propose_card(page: &ResponsePage) -> Option<impl IntoView + use<>> {
    if page.proposable.is_empty() {
        return None;
    }
    let types = ActionType::ALL
        .iter()
        .map(|kind| {
            view! { <option value=kind.as_str()>{format!("{} — {}", kind.as_str().replace('_', " "), kind.describe())}</option> }
        })
        .collect_view();
    let targets = |wanted: TargetKind| {
        page.proposable
            .iter()
            .filter(|(entity, _)| entity.kind == wanted)
            .map(|(entity, name)| {
                view! {
                    <label class="check"><input type="checkbox" name="target" value=entity.id.to_string()/>" "{name.clone()}</label>
                }
            })
            .collect_view()
    };
    let action = format!("/tenants/{}/actions", page.tenant.id);
    Some(view! {
        <section class="card" id="propose">
            <h2>"Propose an action"</h2>
            <p>"Each target is decided by the tenant's authority policy, which sees how many targets the request has. With several, the first allowed target runs first as a canary; the rest stop if it fails."</p>
            <form method="post" action=action>
                <Csrf token=page.csrf_token.clone()/>
                <label>"Action " <select name="type">{types}</select></label>
                <fieldset><legend>"Devices"</legend>{targets(TargetKind::Device)}</fieldset>
                <fieldset><legend>"Identities"</legend>{targets(TargetKind::Identity)}</fieldset>
                <label>"Group id (for the group actions) " <input type="text" name="group_id" maxlength="200"/></label>
                <label>"Script id (for the script actions) " <input type="text" name="script_id" maxlength="40"/></label>
                <label>"Undo script id (for the script actions) " <input type="text" name="undo_script_id" maxlength="40"/></label>
                <label>"Through (where several tools could) "
                    <select name="vendor">
                        <option value="">"the first tool that knows the target"</option>
                        <option value="ninjaone">"NinjaOne"</option>
                        <option value="tactical_rmm">"Tactical RMM"</option>
                        <option value="microsoft_graph">"Microsoft Graph"</option>
                        <option value="okta">"Okta"</option>
                    </select>
                </label>
                <label>"Reason " <input type="text" name="reason" required maxlength="2000"/></label>
                <button type="submit" class="button">"Propose"</button>
            </form>
        </section>
    })
}

/// Renders the response page.
pub fn render(chrome: Chrome, page: ResponsePage) -> String {
    let pending: Vec<_> = page
        .actions
        .iter()
        .filter(|a| a.status == ActionStatus::AwaitingApproval)
        .collect();
    let approvals = if pending.is_empty() {
        view! { <p>"Nothing is waiting for approval."</p> }.into_any()
    } else {
        pending
            .iter()
            .map(|action| approval_card(&page, action))
            .collect_view()
            .into_any()
    };
    let actions = page
        .actions
        .iter()
        .map(|action| action_row(&page, action))
        .collect_view();
    let incidents = if page.incidents.is_empty() {
        view! { <p>"No incidents."</p> }.into_any()
    } else {
        page.incidents
            .iter()
            .map(|incident| incident_card(&page, incident))
            .collect_view()
            .into_any()
    };
    let risk = risk_table(&page.risk);
    let back = format!("/tenants/{}", page.tenant.id);
    let report = page.can_read_reports.then(|| {
        let href = format!("/tenants/{}/report", page.tenant.id);
        view! { <a class="button button-secondary" href=href>"Outcome report"</a> }
    });
    let incidents_and_risk = page.can_read_incidents.then(|| {
        view! {
            <section class="card" id="incidents">
                <h2>"Incidents"</h2>
                {incidents}
            </section>
            <section class="card" id="risk">
                <h2>"Risk"</h2>
                {risk}
            </section>
        }
    });
    let title = format!("{}: incidents and actions", page.tenant.name);
    let body = view! {
        <div class="title-row">
            <h1>{title.clone()}</h1>
            {report}
            <a class="button button-secondary" href=back>"Back to the tenant"</a>
        </div>
        {guardrails_card(&page)}
        <section class="card" id="approvals">
            <h2>"Waiting for approval"</h2>
            {approvals}
        </section>
        <section class="card" id="actions">
            <h2>"Actions"</h2>
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Action"</th><th>"Target"</th><th>"Status"</th><th>"Policy"</th><th>"Approvals"</th><th>"Detail"</th><th>"Updated"</th><th></th></tr></thead>
                    <tbody>{actions}</tbody>
                </table>
            </div>
        </section>
        {propose_card(&page)}
        {incidents_and_risk}
    };
    render_document(&title, Some(chrome), body)
}
