//! The sign-in page.

use leptos::prelude::*;

use crate::{Flash, FlashKind, layout::render_document, parts::Csrf};

/// What the sign-in page shows.
#[derive(Debug, Clone, Default)]
pub struct LoginPage {
    /// The pre-session CSRF token (also in a cookie).
    pub csrf_token: String,
    /// The email typed last time, so a failed attempt need not retype it.
    pub email: String,
    /// Why the last attempt failed, or a notice (signed out, password changed).
    pub flash: Option<Flash>,
    /// The label of the single sign-on button; `None` when SSO is not configured.
    pub sso_label: Option<String>,
}

/// Renders the sign-in page.
pub fn render(page: LoginPage) -> String {
    let flash = page.flash.map(|flash| {
        let class = match flash.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Error => "flash flash-error",
        };
        view! { <p class=class role="alert">{flash.message}</p> }
    });
    let sso = page.sso_label.map(|label| {
        view! {
            <div class="divider"><span>"or"</span></div>
            <a class="button button-secondary button-wide" href="/auth/oidc/login">{label}</a>
        }
    });
    let body = view! {
        <section class="card narrow login">
            <h1>"Sign in to Steward"</h1>
            {flash}
            <form method="post" action="/login" class="stack">
                <Csrf token=page.csrf_token/>
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="username" required value=page.email/>
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <button type="submit" class="button button-wide">"Sign in"</button>
            </form>
            {sso}
        </section>
    };
    render_document("Sign in", None, body)
}
