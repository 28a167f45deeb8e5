//! The sandbox's inbox, for demos: the approval emails Steward sent for the viewer's MSP (their
//! links work) and its messages in the simulated Slack channel, whose buttons the viewer clicks
//! as the Slack user linked to them — Slack's signed request then reaches Steward as it would
//! from Slack.

use chrono::{DateTime, Utc};
use leptos::prelude::*;

use crate::{
    Chrome,
    layout::render_document,
    parts::{Csrf, when},
};

/// An email in the sandbox's mailbox.
#[derive(Debug, Clone)]
pub struct InboxMail {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// A message in the simulated Slack channel.
#[derive(Debug, Clone)]
pub struct InboxSlackMessage {
    /// The channel it was posted in.
    pub channel: String,
    pub ts: String,
    pub text: String,
    /// The `action_id`s of its buttons (none once answered).
    pub buttons: Vec<String>,
    pub updates: u32,
}

/// What the inbox page shows.
#[derive(Debug, Clone)]
pub struct InboxPage {
    pub mails: Vec<InboxMail>,
    pub slack: Vec<InboxSlackMessage>,
    /// The Slack user linked to the viewer, whom their clicks are from (none: no clicking).
    pub linked_as: Option<String>,
    pub csrf_token: String,
}

fn mail_body(body: &str) -> impl IntoView + use<> {
    body.lines()
        .map(|line| {
            if line.starts_with("http://") || line.starts_with("https://") {
                let href = line.trim().to_owned();
                let text = href.clone();
                view! { <a href=href>{text}</a><br/> }.into_any()
            } else {
                view! { {line.to_owned()}<br/> }.into_any()
            }
        })
        .collect_view()
}

/// Renders the inbox.
pub fn render(chrome: Chrome, page: InboxPage) -> String {
    let mails = if page.mails.is_empty() {
        view! { <p>"No email yet."</p> }.into_any()
    } else {
        page.mails
            .iter()
            .rev()
            .map(|mail| {
                view! {
                    <article class="card mail">
                        <h3>{mail.subject.clone()}</h3>
                        <p class="muted">{format!("To {} · {}", mail.to, when(mail.received_at))}</p>
                        <div class="mail-body mono">{mail_body(&mail.body)}</div>
                    </article>
                }
            })
            .collect_view()
            .into_any()
    };
    let slack = if page.slack.is_empty() {
        view! { <p>"No Slack message yet."</p> }.into_any()
    } else {
        page.slack
            .iter()
            .rev()
            .map(|message| {
                let forms = page.linked_as.clone().filter(|_| !message.buttons.is_empty()).map(|me| {
                    let buttons = message
                        .buttons
                        .iter()
                        .map(|action| {
                            view! {
                                <button type="submit" name="action_id" value=action.clone() class="button">{action.clone()}</button>
                            }
                        })
                        .collect_view();
                    view! {
                        <form method="post" action="/sandbox/inbox/slack" class="row-form">
                            <Csrf token=page.csrf_token.clone()/>
                            <input type="hidden" name="ts" value=message.ts.clone()/>
                            <span class="muted">{format!("Click as Slack user {me}:")}</span>
                            {buttons}
                        </form>
                    }
                });
                view! {
                    <article class="card slack-message" data-ts=message.ts.clone() data-channel=message.channel.clone()>
                        <p class="muted mono">{format!("#{}", message.channel)}</p>
                        <p>{message.text.clone()}</p>
                        <p class="muted">{if message.updates > 0 { "updated by Steward" } else { "" }}</p>
                        {forms}
                    </article>
                }
            })
            .collect_view()
            .into_any()
    };
    let body = view! {
        <h1>"Sandbox inbox"</h1>
        <p>"What Steward sent to approvers in this demo: the emails (follow their links) and the messages in the simulated Slack workspace's channels."</p>
        <section class="card" id="slack"><h2>"Slack"</h2>{slack}</section>
        <section class="card" id="mail"><h2>"Email"</h2>{mails}</section>
    };
    render_document("Sandbox inbox", Some(chrome), body)
}
