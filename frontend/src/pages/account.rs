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
    /// Whether a second factor is in force.
    pub second_factor: bool,
    /// Whether the user's MSP requires one of them.
    pub second_factor_required: bool,
    /// What the user must do before anything else: `password-change-required` or
    /// `second-factor-required`.
    pub gate: Option<&'static str>,
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
    let gate = page.gate.map(|gate| {
        let message = match gate {
            "password-change-required" => {
                "Your password was chosen by someone else. Choose your own to continue."
            }
            _ => "Your MSP requires a second factor for your account. Set one up to continue.",
        };
        view! { <p class="flash flash-error" role="alert">{message}</p> }
    });
    let second_factor = match (page.has_password, page.second_factor) {
        (false, _) => view! {
            <p class="hint">"You sign in with single sign-on, which asks for your identity provider's second factor."</p>
        }
        .into_any(),
        (true, true) => {
            let remove = (!page.second_factor_required).then(|| {
                view! {
                    <form method="post" action="/account/second-factor/remove" class="stack narrow-form">
                        <Csrf token=page.csrf_token.clone()/>
                        <label>"A code from your authenticator, to turn it off"
                            <input type="text" name="confirm" inputmode="numeric" autocomplete="one-time-code" required maxlength="20"/>
                        </label>
                        <button type="submit" class="button button-secondary">"Turn off"</button>
                    </form>
                }
            });
            view! {
                <p>"On: signing in asks for a code from your authenticator app."</p>
                {remove}
            }
            .into_any()
        }
        (true, false) => view! {
            <p>{if page.second_factor_required {
                "Off — and your MSP requires it."
            } else {
                "Off: your password alone signs you in."
            }}</p>
            <form method="post" action="/account/second-factor/start" class="stack narrow-form">
                <Csrf token=page.csrf_token.clone()/>
                <button type="submit" class="button">"Set up a second factor"</button>
            </form>
        }
        .into_any(),
    };
    let body = view! {
        <h1>"Your account"</h1>
        {gate}
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
        <section class="card">
            <h2>"Second factor"</h2>
            {second_factor}
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
