//! The page an approval link opens: the action, why, its risk and what rollback would do, and
//! two buttons. Showing it decides nothing (mail scanners follow links); the buttons POST. It
//! needs no session and no JavaScript.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use steward_domain::actions::{Action, PolicyOutcome};

use crate::{layout::render_document, parts::when};

/// What the approval link page shows.
#[derive(Debug, Clone)]
pub struct ApprovalLinkPage {
    pub tenant_name: String,
    pub action: Action,
    /// Who the link is for.
    pub approver: String,
    /// When the link stops working.
    pub link_expires_at: DateTime<Utc>,
    /// Where the buttons post (the link itself).
    pub post_to: String,
}

/// Renders the page.
pub fn render(page: ApprovalLinkPage) -> String {
    let action = &page.action;
    let who = match action.decision.outcome {
        PolicyOutcome::CustomerApproval => "the customer's approval",
        _ => "an MSP technician's approval",
    };
    let factors = action.decision_input["risk"]["factors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            view! {
                <li>{format!(
                    "{} (+{})",
                    f["name"].as_str().unwrap_or_default(),
                    f["contribution"].as_u64().unwrap_or_default()
                )}</li>
            }
        })
        .collect_view();
    let targets = action.decision_input["action"]["target_count"]
        .as_u64()
        .unwrap_or(1);
    let title = format!(
        "{}: {} {}",
        page.tenant_name,
        action.kind.as_str().replace('_', " "),
        action.target.name
    );
    let body = view! {
        <section class="card narrow approval-link" data-action-id=action.id.to_string()>
            <h1>{title.clone()}</h1>
            <p>{format!("Steward asks for {who} before it acts, and this link is for {}.", page.approver)}</p>
            <p>{action.kind.describe()}</p>
            <dl class="facts">
                <div><dt>"Target"</dt><dd>{action.target.name.clone()}</dd></div>
                <div><dt>"Blast radius"</dt><dd>{format!("{targets} {}", if targets == 1 { "entity" } else { "entities" })}</dd></div>
                <div><dt>"Why"</dt><dd>{action.reasons.join(" · ")}</dd></div>
                <div><dt>"Policy reasons"</dt><dd class="mono">{action.decision.reasons.join(", ")}</dd></div>
                <div><dt>"Target risk"</dt><dd>{format!("{} / 100", action.decision_input["risk"]["score"].as_u64().unwrap_or(0))}<ul class="factors">{factors}</ul></dd></div>
                <div><dt>"Rollback"</dt><dd>{action.rollback_plan.clone()}</dd></div>
                <div><dt>"Link works until"</dt><dd>{when(page.link_expires_at)}</dd></div>
            </dl>
            <form method="post" action=page.post_to.clone() class="row-form">
                <input type="hidden" name="decision" value="approve"/>
                <label>"Comment" <input type="text" name="comment" maxlength="500"/></label>
                <button type="submit" class="button">"Approve"</button>
            </form>
            <form method="post" action=page.post_to.clone() class="row-form">
                <input type="hidden" name="decision" value="reject"/>
                <button type="submit" class="button button-danger">"Reject"</button>
            </form>
        </section>
    };
    render_document(&title, None, body)
}
