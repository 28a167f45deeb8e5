//! Steward's web UI: server-rendered Leptos pages.
//!
//! Every page is a pure function of the data it shows, rendered to HTML on the server. Every
//! core flow works as plain HTML forms and links, with no JavaScript; every form that changes
//! something carries the session's CSRF token. The server crate fetches the data (through the
//! caller's scoped handles) and answers with these pages.

#![expect(
    clippy::needless_pass_by_value,
    reason = "Leptos components take their props by value"
)]

mod layout;
pub mod pages;
mod parts;

pub use layout::{Chrome, Flash, FlashKind, NavItem, render_document};
pub use parts::role_label;

/// The stylesheet every page links to, served by the server at [`STYLESHEET_PATH`].
pub const STYLESHEET: &str = include_str!("../assets/steward.css");

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/steward.css";

/// The name of the hidden form field carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
