//! The MSP dashboard: every tenant the caller can see.

use leptos::prelude::*;
use steward_domain::{guardrails::AutomationHalt, tenancy::Tenant};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, NextPage, TenantBadge, when},
};

/// What the dashboard shows.
#[derive(Debug, Clone)]
pub struct DashboardPage {
    pub msp_name: String,
    pub tenants: Vec<Tenant>,
    pub next_cursor: Option<String>,
    /// Whether the caller may create tenants (shows the form).
    pub can_create: bool,
    /// The MSP-wide kill switch, when pulled.
    pub msp_halt: Option<AutomationHalt>,
    /// Whether the caller may pull the MSP-wide kill switch.
    pub can_halt_all: bool,
    /// Whether the caller may release it.
    pub can_release: bool,
    pub csrf_token: String,
}

/// The MSP-wide kill switch: whether automation runs in the customers' tenants, and the form
/// to stop it in all of them at once (or to release it).
fn kill_switch_card(page: &DashboardPage) -> impl IntoView + use<> {
    let state = match &page.msp_halt {
        None => view! {
            <p class="automation-state" data-paused="false">"Automatic execution is on in every customer where its policy and guardrails allow it."</p>
        }
        .into_any(),
        Some(halt) => view! {
            <p class="automation-state flash flash-error" data-paused="true">{format!(
                "Automatic execution is stopped in every customer. {}. Actions wait for a technician.",
                super::response::halt_line(halt)
            )}</p>
        }
        .into_any(),
    };
    let pull = (page.can_halt_all && page.msp_halt.is_none()).then(|| {
        view! {
            <form method="post" action="/kill-switch" class="row-form" id="pull-msp-kill-switch">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Reason" <input type="text" name="reason" maxlength="500"/></label>
                <button type="submit" class="button button-danger">"Stop automation in every customer"</button>
            </form>
        }
    });
    let release = (page.can_release && page.msp_halt.is_some()).then(|| {
        view! {
            <form method="post" action="/kill-switch/release" class="row-form" id="release-msp-kill-switch">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Your password or authenticator code" <input type="password" name="confirm" autocomplete="current-password" maxlength="200"/></label>
                <button type="submit" class="button button-secondary">"Release the MSP-wide kill switch"</button>
            </form>
        }
    });
    view! {
        <section class="card" id="msp-kill-switch">
            <h2>"Automation"</h2>
            {state}
            {pull}
            {release}
        </section>
    }
}

/// Renders the dashboard.
pub fn render(chrome: Chrome, page: DashboardPage) -> String {
    let count = page.tenants.len();
    let kill_switch = kill_switch_card(&page);
    let rows = page
        .tenants
        .into_iter()
        .map(|tenant| {
            let href = format!("/tenants/{}", tenant.id);
            view! {
                <tr>
                    <td><a href=href>{tenant.name}</a></td>
                    <td class="mono">{tenant.slug.to_string()}</td>
                    <td><TenantBadge status=tenant.status/></td>
                    <td>{when(tenant.created_at)}</td>
                </tr>
            }
        })
        .collect_view();
    let create = page.can_create.then(|| {
        view! {
            <section class="card">
                <h2>"Add a customer"</h2>
                <form method="post" action="/tenants" class="row-form">
                    <Csrf token=page.csrf_token.clone()/>
                    <label>"Name" <input type="text" name="name" required maxlength="200"/></label>
                    <label>"Slug (optional)" <input type="text" name="slug" pattern="[a-z0-9]+(-[a-z0-9]+)*" maxlength="63"/></label>
                    <button type="submit" class="button">"Add tenant"</button>
                </form>
            </section>
        }
    });
    let body = view! {
        <h1>{page.msp_name}</h1>
        {kill_switch}
        <section class="card">
            <h2>"Customers " <span class="count">{count}</span></h2>
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Tenant"</th><th>"Slug"</th><th>"Status"</th><th>"Added"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <NextPage base="/".to_owned() cursor=page.next_cursor/>
        </section>
        {create}
    };
    render_document("Dashboard", Some(chrome), body)
}
