//! The page frame: head, navigation, flash message, main content.

use leptos::prelude::*;

use crate::{CSRF_FIELD, STYLESHEET_PATH};

/// What the frame shows around a page for a signed-in user.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The signed-in user's name and email.
    pub user_name: String,
    pub user_email: String,
    /// Their role, as shown to people (`MSP admin`, `Customer owner`).
    pub role_label: String,
    /// The MSP's name, or the customer's tenant name for customer users.
    pub organization: String,
    pub nav: Vec<NavItem>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf_token: String,
    pub flash: Option<Flash>,
}

/// One navigation link.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// A one-off message at the top of a page.
#[derive(Debug, Clone)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Error,
}

/// Renders a full HTML document: `title`, the frame (when `chrome` is given) and `body`.
pub fn render_document(
    title: &str,
    chrome: Option<Chrome>,
    body: impl IntoView + 'static,
) -> String {
    let title = format!("{title} · Steward");
    let page = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>{title}</title>
                <link rel="stylesheet" href=STYLESHEET_PATH/>
            </head>
            <body>
                {chrome.clone().map(|chrome| view! { <Header chrome=chrome/> })}
                <main class="page">
                    {chrome.and_then(|chrome| chrome.flash).map(|flash| view! { <FlashBox flash=flash/> })}
                    {body}
                </main>
            </body>
        </html>
    };
    let owner = Owner::new();
    let html = owner.with(|| page.to_html());
    format!("<!DOCTYPE html>{html}")
}

#[component]
fn Header(chrome: Chrome) -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="brand" href="/">"Steward"</a>
            <nav class="nav" aria-label="Main">
                {chrome
                    .nav
                    .into_iter()
                    .map(|item| {
                        let class = if item.current { "nav-link current" } else { "nav-link" };
                        view! { <a class=class href=item.href>{item.label}</a> }
                    })
                    .collect_view()}
            </nav>
            <div class="who">
                <span class="who-name" title=chrome.user_email>{chrome.user_name}</span>
                <span class="who-meta">{chrome.role_label}" · "{chrome.organization}</span>
                <form method="post" action="/logout" class="inline">
                    <input type="hidden" name=CSRF_FIELD value=chrome.csrf_token/>
                    <button type="submit" class="link-button">"Sign out"</button>
                </form>
            </div>
        </header>
    }
}

#[component]
fn FlashBox(flash: Flash) -> impl IntoView {
    let class = match flash.kind {
        FlashKind::Success => "flash flash-success",
        FlashKind::Error => "flash flash-error",
    };
    view! { <p class=class role="status">{flash.message}</p> }
}
