//! The MSP dashboard: every tenant the caller can see.

use leptos::prelude::*;
use steward_domain::tenancy::Tenant;

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
    pub csrf_token: String,
}

/// Renders the dashboard.
pub fn render(chrome: Chrome, page: DashboardPage) -> String {
    let count = page.tenants.len();
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
