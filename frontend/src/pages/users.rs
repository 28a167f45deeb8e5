//! The MSP's users, and one user with their API tokens.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use steward_domain::{
    credentials::{ApiToken, ApiTokenState},
    tenancy::{Role, Tenant, User, UserStatus},
};

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, NextPage, UserBadge, role_label, when},
};

/// What the user list shows.
#[derive(Debug, Clone)]
pub struct UsersPage {
    pub users: Vec<User>,
    pub next_cursor: Option<String>,
    /// The MSP's active tenants, to pick one for customer-side roles.
    pub tenants: Vec<Tenant>,
    /// Whether the caller may create users (shows the form).
    pub can_manage: bool,
    pub csrf_token: String,
}

/// Renders the user list.
pub fn render_list(chrome: Chrome, page: UsersPage) -> String {
    let tenant_names: Vec<(String, String)> = page
        .tenants
        .iter()
        .map(|tenant| (tenant.id.to_string(), tenant.name.clone()))
        .collect();
    let rows = page
        .users
        .into_iter()
        .map(|user| {
            let href = format!("/users/{}", user.id);
            let tenant = user
                .tenant_id
                .and_then(|id| tenant_names.iter().find(|(tid, _)| *tid == id.to_string()))
                .map_or_else(|| "all tenants".to_owned(), |(_, name)| name.clone());
            view! {
                <tr>
                    <td><a href=href>{user.display_name}</a></td>
                    <td>{user.email}</td>
                    <td>{role_label(user.role)}</td>
                    <td>{tenant}</td>
                    <td><UserBadge status=user.status/></td>
                </tr>
            }
        })
        .collect_view();
    let create = page.can_manage.then(|| {
        let roles = Role::ALL
            .into_iter()
            .map(|role| view! { <option value=role.as_str()>{role_label(role)}</option> })
            .collect_view();
        let tenants = page
            .tenants
            .into_iter()
            .map(|tenant| view! { <option value=tenant.id.to_string()>{tenant.name}</option> })
            .collect_view();
        view! {
            <section class="card">
                <h2>"Add a user"</h2>
                <form method="post" action="/users" class="grid-form">
                    <Csrf token=page.csrf_token.clone()/>
                    <label>"Email" <input type="email" name="email" required/></label>
                    <label>"Name" <input type="text" name="display_name" required maxlength="200"/></label>
                    <label>"Role" <select name="role">{roles}</select></label>
                    <label>
                        "Tenant (customer roles only)"
                        <select name="tenant_id">
                            <option value="">"—"</option>
                            {tenants}
                        </select>
                    </label>
                    <label>"Initial password (optional, 12+ characters)"
                        <input type="password" name="password" minlength="12" autocomplete="new-password"/>
                    </label>
                    <button type="submit" class="button">"Add user"</button>
                </form>
            </section>
        }
    });
    let body = view! {
        <h1>"Users"</h1>
        <section class="card">
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Tenant"</th><th>"Status"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            <NextPage base="/users".to_owned() cursor=page.next_cursor/>
        </section>
        {create}
    };
    render_document("Users", Some(chrome), body)
}

/// What a user's page shows.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub user: User,
    pub tokens: Vec<ApiToken>,
    pub now: DateTime<Utc>,
    /// Whether the caller may change the user and issue or revoke their tokens.
    pub can_manage: bool,
    /// A token secret issued by the request that led here, shown once.
    pub issued_secret: Option<String>,
    pub csrf_token: String,
}

/// Renders one user's page.
pub fn render_user(chrome: Chrome, page: UserPage) -> String {
    let user = page.user;
    let title = user.display_name.clone();
    let status_form = page.can_manage.then(|| {
        let action = format!("/users/{}/status", user.id);
        let (value, label, class) = match user.status {
            UserStatus::Active => ("disabled", "Disable user", "button button-danger"),
            UserStatus::Disabled => ("active", "Enable user", "button"),
        };
        view! {
            <form method="post" action=action class="inline">
                <Csrf token=page.csrf_token.clone()/>
                <input type="hidden" name="status" value=value/>
                <button type="submit" class=class>{label}</button>
            </form>
        }
    });
    let body = view! {
        <div class="title-row">
            <h1>{user.display_name.clone()}</h1>
            {status_form}
        </div>
        <section class="card">
            <dl class="facts">
                <div><dt>"Email"</dt><dd>{user.email.clone()}</dd></div>
                <div><dt>"Role"</dt><dd>{role_label(user.role)}</dd></div>
                <div><dt>"Status"</dt><dd><UserBadge status=user.status/></dd></div>
                <div><dt>"Added"</dt><dd>{when(user.created_at)}</dd></div>
            </dl>
        </section>
        <TokenSection
            tokens=page.tokens
            now=page.now
            can_revoke=page.can_manage
            issue_action=page.can_manage.then(|| format!("/users/{}/tokens", user.id))
            issued_secret=page.issued_secret
            csrf_token=page.csrf_token
        />
    };
    render_document(&title, Some(chrome), body)
}

/// A user's API tokens, with revoke buttons and (optionally) a form to issue one.
#[component]
pub fn TokenSection(
    tokens: Vec<ApiToken>,
    now: DateTime<Utc>,
    can_revoke: bool,
    issue_action: Option<String>,
    issued_secret: Option<String>,
    csrf_token: String,
) -> impl IntoView {
    let issued = issued_secret.map(|secret| {
        view! {
            <div class="secret" role="status">
                <p>"New API token. Copy it now: it is shown only once."</p>
                <code class="secret-value">{secret}</code>
            </div>
        }
    });
    let rows = tokens
        .into_iter()
        .map(|token| {
            let state = token.state(now);
            let state_label = match state {
                ApiTokenState::Active => "active",
                ApiTokenState::Expired => "expired",
                ApiTokenState::Revoked => "revoked",
            };
            let revoke = (can_revoke && state == ApiTokenState::Active).then(|| {
                let action = format!("/tokens/{}/revoke", token.id);
                view! {
                    <form method="post" action=action class="inline">
                        <Csrf token=csrf_token.clone()/>
                        <button type="submit" class="link-button danger">"Revoke"</button>
                    </form>
                }
            });
            view! {
                <tr>
                    <td>{token.name}</td>
                    <td>{state_label}</td>
                    <td>{when(token.created_at)}</td>
                    <td>{token.expires_at.map_or_else(|| "never".to_owned(), when)}</td>
                    <td>{token.last_used_at.map_or_else(|| "never".to_owned(), when)}</td>
                    <td>{revoke}</td>
                </tr>
            }
        })
        .collect_view();
    let issue = issue_action.map(|action| {
        view! {
            <form method="post" action=action class="row-form">
                <Csrf token=csrf_token.clone()/>
                <label>"Name" <input type="text" name="name" required maxlength="100" placeholder="backup script"/></label>
                <label>"Expires in days (optional)" <input type="number" name="expires_in_days" min="1" max="3650"/></label>
                <button type="submit" class="button">"Issue token"</button>
            </form>
        }
    });
    view! {
        <section class="card">
            <h2>"API tokens"</h2>
            {issued}
            <div class="table-wrap">
                <table>
                    <thead><tr><th>"Name"</th><th>"State"</th><th>"Issued"</th><th>"Expires"</th><th>"Last used"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {issue}
        </section>
    }
}
