//! One tenant: its details and who has access.

use leptos::prelude::*;
use steward_domain::{
    IntegrationId,
    coverage::Coverage,
    inventory::{AttributeConflict, Device, Identity},
    tenancy::{Tenant, TenantStatus, User},
};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, TenantBadge, UserBadge, role_label, when},
};

/// What the tenant page shows.
#[derive(Debug, Clone)]
pub struct TenantPage {
    pub tenant: Tenant,
    pub members: Vec<User>,
    /// Whether the caller may rename and offboard it.
    pub can_manage: bool,
    /// Whether the caller may read its audit chain (shows the link).
    pub can_read_audit: bool,
    /// Whether the caller may see its integrations (shows the link).
    pub can_read_integrations: bool,
    /// Whether the caller may see its actions and approvals (shows the link).
    pub can_read_actions: bool,
    /// Whether the caller may read its outcome reports (shows the link).
    pub can_read_reports: bool,
    /// Whether the caller may see the detection rules (shows the link).
    pub can_read_detections: bool,
    /// Whether the caller may read its devices and identities (shows them).
    pub can_read_inventory: bool,
    pub devices: Vec<Device>,
    pub identities: Vec<Identity>,
    /// Names of the tenant's integrations, for conflicts to say who reported what; empty for
    /// callers who may not see integrations.
    pub source_names: Vec<(IntegrationId, String)>,
    /// Blind spots, for callers who may see integrations.
    pub coverage: Option<Coverage>,
    pub csrf_token: String,
}

/// Renders the tenant page.
pub fn render(chrome: Chrome, page: TenantPage) -> String {
    let tenant = page.tenant;
    let audit_link = page.can_read_audit.then(|| {
        let href = format!("/tenants/{}/audit", tenant.id);
        view! { <a class="button button-secondary" href=href>"Audit chain"</a> }
    });
    let report_link = page.can_read_reports.then(|| {
        let href = format!("/tenants/{}/report", tenant.id);
        view! { <a class="button button-secondary" href=href>"Outcome report"</a> }
    });
    let response_link = page.can_read_actions.then(|| {
        let href = format!("/tenants/{}/response", tenant.id);
        view! { <a class="button" href=href>"Incidents and actions"</a> }
    });
    let detections_link = page.can_read_detections.then(|| {
        let href = format!("/tenants/{}/detections", tenant.id);
        view! { <a class="button button-secondary" href=href>"Detections"</a> }
    });
    let integrations_link = page.can_read_integrations.then(|| {
        let href = format!("/tenants/{}/integrations", tenant.id);
        let graph = format!("/tenants/{}/graph", tenant.id);
        view! {
            <a class="button button-secondary" href=href>"Integrations"</a>
            <a class="button button-secondary" href=graph>"Context graph"</a>
        }
    });
    let members = page
        .members
        .into_iter()
        .map(|user| {
            view! {
                <tr>
                    <td>{user.display_name}</td>
                    <td>{user.email}</td>
                    <td>{role_label(user.role)}</td>
                    <td><UserBadge status=user.status/></td>
                </tr>
            }
        })
        .collect_view();
    let manage = (page.can_manage && tenant.status == TenantStatus::Active).then(|| {
        let rename_action = format!("/tenants/{}/rename", tenant.id);
        let offboard_action = format!("/tenants/{}/offboard", tenant.id);
        view! {
            <section class="card">
                <h2>"Manage"</h2>
                <form method="post" action=rename_action class="row-form">
                    <Csrf token=page.csrf_token.clone()/>
                    <label>"Name" <input type="text" name="name" required maxlength="200" value=tenant.name.clone()/></label>
                    <button type="submit" class="button">"Rename"</button>
                </form>
                <form method="post" action=offboard_action class="row-form danger-zone">
                    <Csrf token=page.csrf_token.clone()/>
                    <p>"Offboarding stops managing this customer. Its history stays readable."</p>
                    <button type="submit" class="button button-danger">"Offboard tenant"</button>
                </form>
            </section>
        }
    });
    let source_name = |id: IntegrationId| {
        page.source_names
            .iter()
            .find(|(known, _)| *known == id)
            .map_or_else(|| "a source".to_owned(), |(_, name)| name.clone())
    };
    let conflict_list = |conflicts: &[AttributeConflict]| {
        conflicts
            .iter()
            .map(|conflict| {
                let said = conflict
                    .values
                    .iter()
                    .map(|v| format!("{} says {}", source_name(v.integration_id), v.value))
                    .collect::<Vec<_>>()
                    .join("; ");
                view! { <li class="conflict"><strong>{conflict.attribute.clone()}</strong>": "{said}</li> }
            })
            .collect_view()
    };
    let can_read_inventory = page.can_read_inventory;
    let devices = page
        .devices
        .iter()
        .map(|device| {
            view! {
                <tr>
                    <td class="mono">{device.hostname.clone()}</td>
                    <td>{device.os_platform.clone().unwrap_or_default()}</td>
                    <td>{device.health.clone().unwrap_or_default()}</td>
                    <td>{device.tags.join(", ")}</td>
                    <td>{device.last_seen.map(when).unwrap_or_default()}</td>
                    <td>{device.sources.len()}</td>
                    <td><ul class="plain">{conflict_list(&device.conflicts)}</ul></td>
                </tr>
            }
        })
        .collect_view();
    let identities = page
        .identities
        .iter()
        .map(|identity| {
            let enabled = match identity.enabled {
                Some(true) => "enabled",
                Some(false) => "disabled",
                None => "unknown",
            };
            let mfa = match identity.mfa_registered {
                Some(true) => "registered",
                Some(false) => "none",
                None => "unknown",
            };
            let conflicts = conflict_list(&identity.conflicts);
            view! {
                <tr>
                    <td>{identity.user_principal_name.clone()}</td>
                    <td>{identity.display_name.clone().unwrap_or_default()}</td>
                    <td>{identity.department.clone().unwrap_or_default()}</td>
                    <td>{identity.admin_roles.join(", ")}</td>
                    <td>{identity.groups.join(", ")}</td>
                    <td>{mfa}</td>
                    <td>{enabled}</td>
                    <td>{identity.sources.len()}</td>
                    <td><ul class="plain">{conflicts}</ul></td>
                </tr>
            }
        })
        .collect_view();
    let coverage = page.coverage.as_ref().map(|coverage| {
        let missing = if coverage.missing.is_empty() {
            "every kind of tool is connected".to_owned()
        } else {
            format!(
                "no {} connected",
                coverage
                    .missing
                    .iter()
                    .map(|c| c.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let device_gaps = coverage
            .devices
            .iter()
            .filter(|d| !d.gaps.is_empty())
            .count();
        let identity_gaps: Vec<String> = coverage
            .identities
            .iter()
            .filter(|i| !i.gaps.is_empty())
            .map(|i| format!("{}: {}", i.user_principal_name, i.gaps.join(", ")))
            .collect();
        let identity_items = identity_gaps
            .into_iter()
            .map(|gap| view! { <li>{gap}</li> })
            .collect_view();
        let unmanaged_items = coverage
            .unmanaged_devices
            .iter()
            .map(|d| {
                let line = format!(
                    "{} signs in from {}, which no tool manages (last {})",
                    d.users.join(", "),
                    d.name.clone().unwrap_or_else(|| d.device_uid.clone()),
                    d.last_seen.format("%Y-%m-%d %H:%M UTC")
                );
                view! { <li class="conflict">{line}</li> }
            })
            .collect_view();
        let failing_items = coverage
            .failing_sources
            .iter()
            .map(|source| {
                let since = source.last_success_at.map_or_else(
                    || "it never worked".to_owned(),
                    |at| format!("nothing since {}", at.format("%Y-%m-%d %H:%M UTC")),
                );
                let line = format!(
                    "{} ({}) cannot be read — {}: {}",
                    source.name,
                    source.vendor.display_name(),
                    since,
                    source.last_error.as_deref().unwrap_or("no reason given")
                );
                view! { <li class="conflict">{line}</li> }
            })
            .collect_view();
        let withheld_items = coverage
            .telemetry_gaps
            .iter()
            .map(|gap| {
                let line = format!(
                    "{} ({}) works, but the vendor withholds {}: {}. {}. (The vendor said: {})",
                    gap.name,
                    gap.vendor.display_name(),
                    gap.missing.stream.replace('_', " "),
                    gap.missing.consequence,
                    capitalized(&gap.missing.remedy),
                    gap.missing.reason
                );
                view! { <li class="conflict telemetry-gap">{line}</li> }
            })
            .collect_view();
        view! {
            <section class="card">
                <h2>"Coverage"</h2>
                <ul class="plain">{failing_items}{withheld_items}</ul>
                <dl class="facts">
                    <div><dt>"Score"</dt><dd>{format!("{}%", coverage.score)}</dd></div>
                    <div><dt>"Tools"</dt><dd>{missing}</dd></div>
                    <div><dt>"Devices with gaps"</dt><dd>{format!("{device_gaps} of {}", coverage.devices.len())}</dd></div>
                </dl>
                <ul class="plain">{identity_items}</ul>
                <ul class="plain">{unmanaged_items}</ul>
            </section>
        }
    });
    let offboarded = tenant.offboarded_at.map(|at| {
        view! { <div><dt>"Offboarded"</dt><dd>{when(at)}</dd></div> }
    });
    let title = tenant.name.clone();
    // A customer's approver decides actions; the inventory is not theirs to read.
    let inventory = can_read_inventory.then(|| {
        view! {
            <section class="card">
                <h2>"Devices"</h2>
                <div class="table-wrap">
                    <table>
                        <thead><tr><th>"Hostname"</th><th>"OS"</th><th>"Sensor"</th><th>"Tags"</th><th>"Last seen"</th><th>"Sources"</th><th>"Sources disagree"</th></tr></thead>
                        <tbody>{devices}</tbody>
                    </table>
                </div>
            </section>
            <section class="card">
                <h2>"Identities"</h2>
                <div class="table-wrap">
                    <table>
                        <thead><tr><th>"User"</th><th>"Name"</th><th>"Department"</th><th>"Admin roles"</th><th>"Groups"</th><th>"MFA"</th><th>"Account"</th><th>"Sources"</th><th>"Sources disagree"</th></tr></thead>
                        <tbody>{identities}</tbody>
                    </table>
                </div>
            </section>
        }
    });
    let body = view! {
        <div class="title-row">
            <h1>{tenant.name.clone()}</h1>
            {response_link}
            {report_link}
            {integrations_link}
            {detections_link}
            {audit_link}
        </div>
        <section class="card">
            <dl class="facts">
                <div><dt>"Slug"</dt><dd class="mono">{tenant.slug.to_string()}</dd></div>
                <div><dt>"Status"</dt><dd><TenantBadge status=tenant.status/></dd></div>
                <div><dt>"Added"</dt><dd>{when(tenant.created_at)}</dd></div>
                {offboarded}
                <div><dt>"Id"</dt><dd class="mono">{tenant.id.to_string()}</dd></div>
            </dl>
        </section>
        {coverage}
        <section class="card">
            <h2>"Who has access"</h2>
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Status"</th></tr></thead>
                    <tbody>{members}</tbody>
                </table>
            </div>
        </section>
        {inventory}
        {manage}
    };
    render_document(&title, Some(chrome), body)
}

/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}
