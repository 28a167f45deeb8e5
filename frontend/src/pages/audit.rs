//! An audit chain, oldest first.

use leptos::prelude::*;
use steward_domain::audit::AuditEntry;

use crate::{
    Chrome,
    layout::render_document,
    parts::{NextPage, when},
};

/// What an audit page shows.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Whose chain: `Acme Dental` or `Harbor IT Services (MSP)`.
    pub chain_name: String,
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
    /// This page's path, for the next-page link.
    pub path: String,
}

/// Renders an audit chain page.
pub fn render(chrome: Chrome, page: AuditPage) -> String {
    let rows = page
        .entries
        .into_iter()
        .map(|entry| {
            let change = describe(entry.before.as_ref(), entry.after.as_ref());
            let hash = entry.hash.chars().take(12).collect::<String>();
            view! {
                <tr>
                    <td class="mono">{entry.seq}</td>
                    <td>{when(entry.occurred_at)}</td>
                    <td>{entry.actor.label}</td>
                    <td class="mono">{entry.action}</td>
                    <td class="change">{change}</td>
                    <td class="mono" title=entry.hash>{hash}"…"</td>
                </tr>
            }
        })
        .collect_view();
    let title = format!("Audit chain of {}", page.chain_name);
    let body = view! {
        <h1>{title.clone()}</h1>
        <section class="card">
            <p class="hint">
                "Every change, hash-linked and signed. Run "
                <code>"steward audit verify"</code>
                " to check that nothing was altered, removed or reordered."
            </p>
            <div class="table-wrap">
                <table>
                    <thead>
                        <tr>
                            <th>"#"</th><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Change"</th><th>"Hash"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <NextPage base=page.path cursor=page.next_cursor/>
        </section>
    };
    render_document(&title, Some(chrome), body)
}

/// The fields that changed, as `name: old → new`; the whole state for creations.
fn describe(before: Option<&serde_json::Value>, after: Option<&serde_json::Value>) -> String {
    match (before, after) {
        (Some(before), Some(after)) => {
            let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
                return String::new();
            };
            after
                .iter()
                .filter(|(key, value)| {
                    before.get(*key) != Some(value) && key.as_str() != "updated_at"
                })
                .map(|(key, value)| {
                    let old = before.get(key).map_or_else(|| "—".to_owned(), short);
                    format!("{key}: {old} → {}", short(value))
                })
                .collect::<Vec<_>>()
                .join("; ")
        }
        (None, Some(after)) => ["name", "email", "slug", "role"]
            .iter()
            .filter_map(|key| {
                after
                    .get(*key)
                    .map(|value| format!("{key}: {}", short(value)))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => String::new(),
    }
}

fn short(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
