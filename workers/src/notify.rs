//! Approval requests by email: each approver of an action waiting for them gets a message
//! stating the action, its target, the reasons, the risk, the blast radius and what rollback
//! would do, with a single-use link to a page that works without JavaScript.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use secrecy::{ExposeSecret, SecretString};
use steward_core::storage::approval_links::ApprovalRequest;
use steward_domain::{
    ActionId, MspId, TenantId,
    actions::{Action, ActionStatus, ApproverSide, PolicyOutcome},
    integrations::SlackConnection,
    tenancy::Tenant,
};
use steward_integrations::slack::SlackClient;

use crate::{
    JobError, Shared,
    handlers::{Finish, as_steward},
    job_error::both,
};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the same host or network, or tests).
    None,
    /// STARTTLS on the submission port (587).
    StartTls,
    /// TLS from the first byte (465).
    Tls,
}

/// Where and how approval emails are sent.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The sender, as `Steward <steward@msp.example>`.
    pub from: String,
    /// Links in messages start with this (Steward's public base URL).
    pub public_base: String,
    /// How long a link works at most (never past the request's own expiry).
    pub link_ttl: Duration,
}

/// Why mail could not be set up or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the sender address {0:?} is not valid: {1}")]
    From(String, String),
    #[error("cannot reach the SMTP server: {0}")]
    Transport(String),
    /// The server answered 5xx: it will not take this message, however often it is sent.
    #[error("the SMTP server refused the message: {0}")]
    Refused(String),
    /// The server answered 4xx: it cannot take the message now, and may later.
    #[error("the SMTP server could not take the message now: {0}")]
    Deferred(String),
    #[error("the message could not be built: {0}")]
    Message(String),
}

impl From<MailError> for JobError {
    /// A server that cannot take the message now may take it later; one that refused it, or a
    /// message that cannot be built, will fail the same way again.
    fn from(error: MailError) -> Self {
        match error {
            MailError::Transport(_) | MailError::Deferred(_) => Self::retryable(error),
            MailError::From(..) | MailError::Refused(_) | MailError::Message(_) => {
                Self::permanent(error)
            }
        }
    }
}

/// Where a deployment without an SMTP server delivers its email instead: a demo's simulated
/// mailbox, whose messages (and their approval links) can be read in the UI.
pub trait MailDrop: Send + Sync + std::fmt::Debug {
    /// Files one message sent on behalf of `msp_id`.
    fn deliver<'a>(
        &'a self,
        msp_id: MspId,
        to: &'a str,
        subject: &'a str,
        body: &'a str,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// Where messages go.
#[derive(Debug, Clone)]
enum Transport {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    Drop(Arc<dyn MailDrop>),
}

/// Sends approval emails over SMTP (or, in a demo, to a mail drop).
#[derive(Debug, Clone)]
pub struct Mailer {
    transport: Transport,
    public_base: String,
    link_ttl: Duration,
}

impl Mailer {
    /// A mailer for these settings; nothing is sent until a message is.
    ///
    /// # Errors
    /// [`MailError`] for an invalid sender or host.
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| {
                MailError::From(settings.from.clone(), e.to_string())
            })?;
        let host = settings.host.as_str();
        let builder = match settings.security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
        };
        let mut builder = builder
            .port(settings.port)
            .timeout(Some(Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        Ok(Self {
            transport: Transport::Smtp {
                transport: builder.build(),
                from,
            },
            public_base: settings.public_base.trim_end_matches('/').to_owned(),
            link_ttl: settings.link_ttl,
        })
    }

    /// A mailer delivering to `drop`, for `steward demo` without SMTP.
    #[must_use]
    pub fn to_drop(drop: Arc<dyn MailDrop>, public_base: &str, link_ttl: Duration) -> Self {
        Self {
            transport: Transport::Drop(drop),
            public_base: public_base.trim_end_matches('/').to_owned(),
            link_ttl,
        }
    }

    /// Sends a message on behalf of an MSP (which a mail drop files it under).
    async fn send(
        &self,
        msp_id: MspId,
        to: &str,
        subject: &str,
        body: String,
    ) -> Result<(), MailError> {
        let (transport, from) = match &self.transport {
            Transport::Smtp { transport, from } => (transport, from),
            Transport::Drop(drop) => {
                drop.deliver(msp_id, to, subject, &body).await;
                return Ok(());
            }
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Message(e.to_string()))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError::Message(e.to_string()))?;
        transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                MailError::Refused(e.to_string())
            } else if e.is_transient() {
                MailError::Deferred(e.to_string())
            } else {
                MailError::Transport(e.to_string())
            }
        })
    }
}

/// The subject of an approval email.
fn subject(tenant: &Tenant, action: &Action) -> String {
    format!(
        "Approval needed: {} {} ({})",
        action.kind.as_str().replace('_', " "),
        action.target.name,
        tenant.name
    )
}

/// The text of an approval email: everything an approver needs to decide, and the link.
fn body(tenant: &Tenant, action: &Action, link: &str) -> String {
    let who = match action.decision.outcome {
        PolicyOutcome::CustomerApproval => "your approval as the customer",
        _ => "an MSP technician's approval",
    };
    let factors: Vec<String> = action.decision_input["risk"]["factors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            format!(
                "  - {} (+{})",
                f["name"].as_str().unwrap_or_default(),
                f["contribution"].as_u64().unwrap_or_default()
            )
        })
        .collect();
    let targets = action.decision_input["action"]["target_count"]
        .as_u64()
        .unwrap_or(1);
    let expires = action
        .expires_at
        .map(|at| {
            format!(
                "Unanswered, the request expires at {} (UTC) and the action does not run.\n",
                at.format("%Y-%m-%d %H:%M")
            )
        })
        .unwrap_or_default();
    format!(
        "Steward asks for {who} before it acts for {tenant}.\n\n\
         Action: {kind} - {describe}\n\
         Target: {target} ({targets} {entities} affected)\n\
         Why: {reasons}\n\
         Policy reasons: {codes}\n\
         Risk of the target: {score} / 100\n{factors}\n\
         If it is rolled back: {rollback}\n\n\
         Review and decide (the page itself changes nothing; you decide with its buttons):\n{link}\n\n\
         {expires}The link works once, only for you, and only for this version of the action.\n",
        tenant = tenant.name,
        kind = action.kind.as_str().replace('_', " "),
        describe = action.kind.describe(),
        target = action.target.name,
        entities = if targets == 1 { "entity" } else { "entities" },
        reasons = action.reasons.join("; "),
        codes = action.decision.reasons.join(", "),
        score = action.decision_input["risk"]["score"].as_u64().unwrap_or(0),
        factors = factors.join("\n"),
        rollback = action.rollback_plan,
    )
}

/// Sends the approval requests an action waiting for approval calls for: an email to each
/// approver of its tier (when a mailer is configured) and, for an MSP-side approval, a message
/// with buttons in the MSP's Slack channel (when it connected Slack). Approvers can always use
/// the web queue.
///
/// # Errors
/// When the database fails or a message cannot be sent (the job then runs again and sends
/// what is still unsent).
pub async fn request_approval(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<(), JobError> {
    let emailed = email_approvers(shared, tenant_id, action_id).await;
    let posted = post_to_slack(shared, tenant_id, action_id).await;
    both(emailed, posted)
}

async fn email_approvers(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<(), JobError> {
    let Some(mailer) = &shared.mailer else {
        return Ok(());
    };
    let ttl = chrono::Duration::from_std(mailer.link_ttl).unwrap_or(chrono::Duration::days(1));
    let prepared = as_steward(shared, "notify", tenant_id, Finish::Commit, async |work| {
        let Some(action) = work
            .actions()
            .get(action_id)
            .await
            .map_err(JobError::from)?
        else {
            return Ok(None);
        };
        let requests = work
            .prepare_approval_requests(&action, "email", ttl)
            .await
            .map_err(JobError::from)?;
        Ok(Some((work.tenant().clone(), action, requests)))
    })
    .await?;
    let Some(Some((tenant, action, requests))) = prepared else {
        return Ok(());
    };
    let mut outcome = Ok(());
    for request in requests {
        let link = format!("{}/approvals/{}", mailer.public_base, request.token);
        let sent = mailer
            .send(
                tenant.msp_id,
                &request.user.email,
                &subject(&tenant, &action),
                body(&tenant, &action, &link),
            )
            .await;
        let error = sent.as_ref().err().map(ToString::to_string);
        record(shared, tenant_id, &request, error.as_deref()).await?;
        if let Err(error) = sent {
            tracing::warn!(%tenant_id, %action_id, %error, "an approval email was not sent");
            let failed = JobError::from(error).context("an approval email was not sent");
            outcome = both(outcome, Err(failed));
        }
    }
    outcome
}

async fn record(
    shared: &Shared,
    tenant_id: TenantId,
    request: &ApprovalRequest,
    error: Option<&str>,
) -> Result<(), JobError> {
    as_steward(shared, "notify", tenant_id, Finish::Commit, async |work| {
        work.record_delivery(&request.dedup_key, error)
            .await
            .map_err(JobError::from)
    })
    .await
    .map(|_| ())
}

/// The Slack client of the tenant's MSP and the channel to post in, if it connected Slack.
async fn slack_of(
    shared: &Shared,
    tenant: &Tenant,
) -> Result<Option<(SlackClient, SlackConnection)>, JobError> {
    let Some((connection, token, _)) = steward_core::storage::slack::credentials(
        shared.storage.conn(),
        &shared.secrets,
        tenant.msp_id,
    )
    .await
    .map_err(JobError::from)?
    else {
        return Ok(None);
    };
    let base = url::Url::parse(&connection.api_base_url)
        .map_err(|e| JobError::permanent(format!("the Slack API address is not valid: {e}")))?;
    let http = shared
        .vendor_http(shared.vendor_retries.clone())
        .map_err(JobError::from)?;
    Ok(Some((SlackClient::new(http, &base, token), connection)))
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped as Slack asks, so a device name cannot
/// become a link or an `@channel` mention.
fn mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message asking for approval: what, why, the risk and the rollback, with the buttons.
fn approval_blocks(tenant: &Tenant, action: &Action) -> (String, serde_json::Value) {
    let text = mrkdwn(&format!(
        "Approval needed for {}: {} {}",
        tenant.name,
        action.kind.as_str().replace('_', " "),
        action.target.name
    ));
    let factors: Vec<String> = action.decision_input["risk"]["factors"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            format!(
                "{} +{}",
                f["name"].as_str().unwrap_or_default(),
                f["contribution"]
            )
        })
        .collect();
    let value = format!("{}:{}:{}", action.tenant_id, action.id, action.version);
    let approvals = action
        .approvals
        .iter()
        .filter(|a| a.approved && a.version == action.version)
        .count();
    let details = format!(
        "*{text}*\n{}\n*Why:* {}\n*Policy:* {}\n*Risk:* {} / 100 ({})\n*Rollback:* {}\n*Approvals:* {approvals} of {}",
        mrkdwn(action.kind.describe()),
        mrkdwn(&action.reasons.join("; ")),
        mrkdwn(&action.decision.reasons.join(", ")),
        action.decision_input["risk"]["score"],
        mrkdwn(&factors.join(", ")),
        mrkdwn(&action.rollback_plan),
        action.decision.quorum,
    );
    let blocks = serde_json::json!([
        {"type": "section", "block_id": "steward-request", "text": {"type": "mrkdwn", "text": details}},
        {"type": "actions", "block_id": "steward-answer", "elements": [
            {"type": "button", "action_id": "approve", "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "reject", "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Reject"}},
        ]},
    ]);
    (text, blocks)
}

/// The message once answered: the outcome, without buttons.
fn outcome_blocks(tenant: &Tenant, action: &Action) -> (String, serde_json::Value) {
    let outcome = match action.status {
        ActionStatus::AwaitingApproval => return approval_blocks(tenant, action),
        ActionStatus::Rejected => "Rejected: it will not run.",
        ActionStatus::Denied => "Denied by the policy.",
        ActionStatus::Cancelled => {
            "Cancelled: its batch's canary (the first target the policy allowed) did not succeed, so it will not run."
        }
        _ => "Approved: Steward runs it and verifies it took effect.",
    };
    let text = mrkdwn(&format!(
        "{} {} for {}: {outcome}",
        action.kind.as_str().replace('_', " "),
        action.target.name,
        tenant.name
    ));
    let blocks = serde_json::json!([
        {"type": "section", "block_id": "steward-outcome", "text": {"type": "mrkdwn", "text": text}},
    ]);
    (text, blocks)
}

/// Posts the approval request of an action needing an MSP technician to the MSP's Slack
/// channel, once per version of the action.
async fn post_to_slack(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<(), JobError> {
    let found = as_steward(shared, "notify", tenant_id, Finish::Discard, async |work| {
        let action = work
            .actions()
            .get(action_id)
            .await
            .map_err(JobError::from)?;
        Ok(action.map(|a| (work.tenant().clone(), a)))
    })
    .await?;
    let Some(Some((tenant, action))) = found else {
        return Ok(());
    };
    if action.status != ActionStatus::AwaitingApproval {
        return Ok(());
    }
    let Some((client, connection)) = slack_of(shared, &tenant).await? else {
        return Ok(());
    };
    // MSP-side requests go to the MSP's channel; the customer's to the channel shared with
    // that customer, when the MSP set one.
    let channel = match action.decision.approving_side() {
        Some(ApproverSide::Technician) => connection.channel,
        Some(ApproverSide::Customer) => match connection.tenant_channels.get(&tenant.id) {
            Some(channel) => channel.clone(),
            None => return Ok(()),
        },
        None => return Ok(()),
    };
    let claimed = as_steward(shared, "notify", tenant_id, Finish::Commit, async |work| {
        work.claim_slack_post(&action, &channel)
            .await
            .map_err(JobError::from)
    })
    .await?;
    if claimed != Some(true) {
        return Ok(());
    }
    let (text, blocks) = approval_blocks(&tenant, &action);
    let metadata = serde_json::json!({
        "event_type": "steward_approval_request",
        "event_payload": {"tenant_id": action.tenant_id, "action_id": action.id},
    });
    let posted = client
        .post_message(&channel, &text, &blocks, &metadata)
        .await
        .map_err(JobError::from)?;
    as_steward(shared, "notify", tenant_id, Finish::Commit, async |work| {
        work.record_slack_post(&action, &posted.channel, &posted.ts)
            .await
            .map_err(JobError::from)
    })
    .await
    .map(|_| ())
}

/// Shows an answered action's outcome in the Slack messages that asked for it.
///
/// # Errors
/// When the database fails or Slack cannot be reached (the job then runs again).
pub async fn update_slack(
    shared: &Shared,
    tenant_id: TenantId,
    action_id: ActionId,
) -> Result<(), JobError> {
    let found = as_steward(shared, "notify", tenant_id, Finish::Discard, async |work| {
        let Some(action) = work
            .actions()
            .get(action_id)
            .await
            .map_err(JobError::from)?
        else {
            return Ok(None);
        };
        let posts = work.slack_posts(action_id).await.map_err(JobError::from)?;
        Ok(Some((work.tenant().clone(), action, posts)))
    })
    .await?;
    let Some(Some((tenant, action, posts))) = found else {
        return Ok(());
    };
    let Some((client, _)) = slack_of(shared, &tenant).await? else {
        return Ok(());
    };
    let (text, blocks) = outcome_blocks(&tenant, &action);
    for (channel, ts) in posts {
        client
            .update_message(&channel, &ts, &text, &blocks)
            .await
            .map_err(JobError::from)?;
    }
    Ok(())
}
