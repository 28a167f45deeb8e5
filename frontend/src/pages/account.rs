//! The signed-in user's own account: password and API tokens.

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use steward_domain::{credentials::ApiToken, tenancy::User};

use super::users::TokenSection;
use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, role_label},
};

/// What the account page shows.
#[derive(Debug, Clone)]
pub struct AccountPage {
    pub user: User,
    pub tokens: Vec<ApiToken>,
    pub now: DateTime<Utc>,
    /// Whether the user has a password (else the form sets one only through an admin).
    pub has_password: bool,
    pub csrf_token: String,
}

/// Renders the account page.
pub fn render(chrome: Chrome, page: AccountPage) -> String {
    let password = if page.has_password {
        view! {
            <form method="post" action="/account/password" class="stack narrow-form">
                <Csrf token=page.csrf_token.clone()/>
                <label>"Current password"
                    <input type="password" name="current_password" required autocomplete="current-password"/>
                </label>
                <label>"New password (12+ characters)"
                    <input type="password" name="new_password" required minlength="12" autocomplete="new-password"/>
                </label>
                <label>"New password again"
                    <input type="password" name="confirm_password" required minlength="12" autocomplete="new-password"/>
                </label>
                <button type="submit" class="button">"Change password"</button>
            </form>
        }
        .into_any()
    } else {
        view! { <p class="hint">"You sign in with single sign-on; there is no password to change."</p> }
            .into_any()
    };
    let body = view! {
        <h1>"Your account"</h1>
        <section class="card">
            <dl class="facts">
                <div><dt>"Name"</dt><dd>{page.user.display_name.clone()}</dd></div>
                <div><dt>"Email"</dt><dd>{page.user.email.clone()}</dd></div>
                <div><dt>"Role"</dt><dd>{role_label(page.user.role)}</dd></div>
            </dl>
        </section>
        <section class="card">
            <h2>"Password"</h2>
            {password}
        </section>
        <TokenSection
            tokens=page.tokens
            now=page.now
            can_revoke=true
            issue_action=None
            issued_secret=None
            csrf_token=page.csrf_token
        />
    };
    render_document("Your account", Some(chrome), body)
}
