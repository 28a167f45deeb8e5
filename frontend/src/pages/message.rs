//! Pages that only say something: not found, forbidden, too many attempts, SSO refused.

use leptos::prelude::*;

use crate::{Chrome, layout::render_document};

/// Renders a page with a heading, a sentence and a way on.
pub fn render(chrome: Option<Chrome>, title: &str, message: &str, link: (&str, &str)) -> String {
    let (href, label) = (link.0.to_owned(), link.1.to_owned());
    let heading = title.to_owned();
    let message = message.to_owned();
    let body = view! {
        <section class="card narrow message">
            <h1>{heading}</h1>
            <p>{message}</p>
            <p><a class="button" href=href>{label}</a></p>
        </section>
    };
    render_document(title, chrome, body)
}
