//! The second factor's pages: entering a code to finish signing in, and setting one up.

use leptos::prelude::*;

use crate::{Chrome, Flash, FlashKind, layout::render_document, parts::Csrf};

/// The second step of signing in.
#[derive(Debug, Clone, Default)]
pub struct CodePage {
    /// The waiting session's CSRF token.
    pub csrf_token: String,
    /// Where to go once signed in.
    pub next: String,
    pub flash: Option<Flash>,
}

fn flash_view(flash: Option<Flash>) -> impl IntoView {
    flash.map(|flash| {
        let class = match flash.kind {
            FlashKind::Success => "flash flash-success",
            FlashKind::Error => "flash flash-error",
        };
        view! { <p class=class role="alert">{flash.message}</p> }
    })
}

/// Renders the page asking for the authenticator's code (or a recovery code).
pub fn render_code(page: CodePage) -> String {
    let body = view! {
        <section class="card narrow login">
            <h1>"Enter your code"</h1>
            {flash_view(page.flash)}
            <p class="hint">"The six-digit code your authenticator app shows for Steward, or one of your recovery codes."</p>
            <form method="post" action="/login/second-factor" class="stack">
                <Csrf token=page.csrf_token/>
                <input type="hidden" name="next" value=page.next/>
                <label>
                    "Code"
                    <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="20" autofocus/>
                </label>
                <button type="submit" class="button button-wide">"Continue"</button>
            </form>
            <a class="button button-secondary button-wide" href="/login">"Cancel"</a>
        </section>
    };
    render_document("Enter your code", None, body)
}

/// Setting up a second factor: scan or type the secret, then prove it with a code.
#[derive(Debug, Clone)]
pub struct EnrollPage {
    /// The secret in base32, for typing in.
    pub secret: String,
    /// An image of the `otpauth://` URI as a QR code (a `data:` URI).
    pub qr_image: String,
    pub csrf_token: String,
    pub flash: Option<Flash>,
}

/// Renders the set-up page.
pub fn render_enroll(chrome: Chrome, page: EnrollPage) -> String {
    let body = view! {
        <h1>"Set up a second factor"</h1>
        {flash_view(page.flash)}
        <section class="card narrow-form">
            <p>"Add Steward to an authenticator app (such as Microsoft Authenticator, Google Authenticator, 1Password or Bitwarden): scan the code, or type the key."</p>
            <img class="qr" src=page.qr_image alt="QR code of the key" width="220" height="220"/>
            <p>"Key: "<code class="secret">{page.secret}</code></p>
            <form method="post" action="/account/second-factor/confirm" class="stack">
                <Csrf token=page.csrf_token/>
                <label>
                    "The code the app shows now"
                    <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required maxlength="6" minlength="6"/>
                </label>
                <button type="submit" class="button">"Turn on"</button>
            </form>
        </section>
    };
    render_document("Set up a second factor", Some(chrome), body)
}

/// The recovery codes, shown once after setting up.
pub fn render_recovery_codes(chrome: Chrome, codes: Vec<String>) -> String {
    let items = codes
        .into_iter()
        .map(|code| view! { <li><code>{code}</code></li> })
        .collect_view();
    let body = view! {
        <h1>"Your second factor is on"</h1>
        <section class="card narrow-form">
            <p>"Keep these recovery codes somewhere safe. Each signs you in once if you lose your authenticator; Steward will not show them again."</p>
            <ul class="plain recovery-codes">{items}</ul>
            <a class="button" href="/account">"Done"</a>
        </section>
    };
    render_document("Recovery codes", Some(chrome), body)
}
