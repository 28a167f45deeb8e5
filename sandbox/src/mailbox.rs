//! The sandbox's mailbox: where Steward's email goes when it runs as a demo without an SMTP
//! server, so the approval emails can be read (and their links followed) in the UI.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Sandbox;

/// One email delivered to the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxMail {
    /// The MSP whose Steward sent it: the inbox shows each MSP its own.
    pub msp_id: uuid::Uuid,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// The most mails kept; the oldest go first.
const KEPT: usize = 500;

impl Sandbox {
    /// Delivers an email to the sandbox's mailbox.
    pub async fn deliver_mail(&self, msp_id: uuid::Uuid, to: &str, subject: &str, body: &str) {
        let mut mailbox = self.inner.mailbox.lock().await;
        if mailbox.len() >= KEPT {
            mailbox.remove(0);
        }
        mailbox.push(SandboxMail {
            msp_id,
            to: to.to_owned(),
            subject: subject.to_owned(),
            body: body.to_owned(),
            received_at: self.inner.clock.now(),
        });
    }

    /// The emails delivered so far, oldest first.
    pub async fn mailbox(&self) -> Vec<SandboxMail> {
        self.inner.mailbox.lock().await.clone()
    }
}
