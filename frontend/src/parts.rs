//! Small pieces several pages share.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use steward_domain::tenancy::{Role, TenantStatus, UserStatus};

use crate::CSRF_FIELD;

/// A timestamp as people read it: `2026-11-23 17:20 UTC`.
pub fn when(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::MspAdmin => "MSP admin",
        Role::Technician => "Technician",
        Role::Auditor => "Auditor",
        Role::CustomerOwner => "Customer owner",
        Role::CustomerApprover => "Customer approver",
    }
}

#[component]
pub fn TenantBadge(status: TenantStatus) -> impl IntoView {
    match status {
        TenantStatus::Active => view! { <span class="badge badge-ok">"active"</span> },
        TenantStatus::Offboarded => view! { <span class="badge badge-muted">"offboarded"</span> },
    }
}

#[component]
pub fn UserBadge(status: UserStatus) -> impl IntoView {
    match status {
        UserStatus::Active => view! { <span class="badge badge-ok">"active"</span> },
        UserStatus::Disabled => view! { <span class="badge badge-warn">"disabled"</span> },
    }
}

/// The hidden CSRF field every state-changing form carries.
#[component]
pub fn Csrf(token: String) -> impl IntoView {
    view! { <input type="hidden" name=CSRF_FIELD value=token/> }
}

/// A "next page" link when there is one.
#[component]
pub fn NextPage(base: String, cursor: Option<String>) -> impl IntoView {
    cursor.map(|cursor| {
        let separator = if base.contains('?') { '&' } else { '?' };
        let href = format!("{base}{separator}cursor={cursor}");
        view! {
            <p class="pager"><a href=href>"Next page →"</a></p>
        }
    })
}
