//! Outbound webhooks: the URLs an MSP subscribes to Steward's events, and their deliveries.
//!
//! Events come from the audit chain: when a change that is one of the subscribable events is
//! appended to a tenant's chain, a delivery is written for every enabled subscription of the
//! MSP that wants it, in the same transaction, and a job to send it is queued through the
//! outbox — so an event is delivered if and only if the change it reports was committed.
//! A failed delivery is attempted again when the worker that sent it says (its retry schedule,
//! `workers/src/outbound_webhooks.rs`; the scheduler hands out the due ones) or given up; an MSP
//! admin can send any of them again. Targets follow the deployment's egress rule (`steward_integrations::egress`), checked
//! by the caller before a URL is saved and by the worker before each attempt.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use steward_domain::{
    ActionId, IncidentId, MspId, TenantId,
    outbound_webhooks::{DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription},
};
use url::Url;

use super::{
    ActionReader, IncidentReader, StorageError, WriteContext,
    entities::{tenant, webhook_delivery, webhook_subscription},
    new_id,
};
use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
    secrets::{OpenError, SecretBox},
};

/// The longest description of a subscription, in characters.
const MAX_DESCRIPTION: usize = 500;
/// How long a delivery handed to a worker is not handed out again, unless the attempt
/// reschedules it first.
pub const ATTEMPT_LEASE: chrono::Duration = chrono::Duration::minutes(5);

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// Checked against the deployment's egress rule.
    pub url: Url,
    pub description: String,
    pub events: Vec<WebhookEvent>,
    pub tenant_id: Option<TenantId>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionChanges {
    /// Checked against the deployment's egress rule.
    pub url: Option<Url>,
    pub description: Option<String>,
    pub events: Option<Vec<WebhookEvent>>,
    pub enabled: Option<bool>,
}

/// Why a subscription change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("no webhook subscription {0}")]
    NotFound(uuid::Uuid),
    #[error("no delivery {0} of this subscription")]
    DeliveryNotFound(String),
    #[error("a subscription needs at least one event")]
    NoEvents,
    #[error("the description {0}")]
    InvalidDescription(#[source] steward_domain::text::TextError),
    #[error("no tenant {0} of this MSP")]
    UnknownTenant(TenantId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn to_subscription(row: webhook_subscription::Model) -> Result<WebhookSubscription, StorageError> {
    let events: Vec<String> = serde_json::from_value(row.events.clone())
        .map_err(|e| StorageError::corrupt("webhook events", &e))?;
    Ok(WebhookSubscription {
        id: row.id,
        msp_id: row.msp_id.into(),
        url: row.url,
        description: row.description,
        events: events
            .iter()
            .map(|e| {
                WebhookEvent::parse(e).ok_or_else(|| StorageError::corrupt("webhook event", e))
            })
            .collect::<Result<_, _>>()?,
        tenant_id: row.tenant_id.map(Into::into),
        enabled: row.enabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn to_delivery(row: webhook_delivery::Model) -> Result<WebhookDelivery, StorageError> {
    Ok(WebhookDelivery {
        event: WebhookEvent::parse(&row.event)
            .ok_or_else(|| StorageError::corrupt("webhook event", &row.event))?,
        status: DeliveryStatus::parse(&row.status)
            .ok_or_else(|| StorageError::corrupt("delivery status", &row.status))?,
        id: row.id,
        subscription_id: row.subscription_id,
        tenant_id: row.tenant_id.into(),
        payload: row.payload,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: row.last_error,
        delivered_at: row.delivered_at,
        created_at: row.created_at,
    })
}

fn events_json(events: &[WebhookEvent]) -> Result<serde_json::Value, SubscriptionError> {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(SubscriptionError::NoEvents);
    }
    Ok(json!(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()))
}

fn secret_context(id: uuid::Uuid) -> Vec<u8> {
    format!("webhook-subscription:{id}").into_bytes()
}

/// Reads an MSP's webhook subscriptions and their delivery logs.
#[derive(Debug, Clone, Copy)]
pub struct WebhookReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
}

impl<'c, C: ConnectionTrait> WebhookReader<'c, C> {
    #[must_use]
    pub fn new(conn: &'c C, msp_id: MspId) -> Self {
        Self { conn, msp_id }
    }

    /// Every subscription of the MSP, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn list(&self) -> Result<Vec<WebhookSubscription>, StorageError> {
        webhook_subscription::Entity::find()
            .filter(webhook_subscription::Column::MspId.eq(self.msp_id.as_uuid()))
            .order_by_asc(webhook_subscription::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_subscription)
            .collect()
    }

    /// One subscription of the MSP.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn get(&self, id: uuid::Uuid) -> Result<Option<WebhookSubscription>, StorageError> {
        self.row(id).await?.map(to_subscription).transpose()
    }

    async fn row(
        &self,
        id: uuid::Uuid,
    ) -> Result<Option<webhook_subscription::Model>, StorageError> {
        Ok(webhook_subscription::Entity::find_by_id(id)
            .filter(webhook_subscription::Column::MspId.eq(self.msp_id.as_uuid()))
            .one(self.conn)
            .await?)
    }

    /// A subscription's latest deliveries, newest first.
    ///
    /// # Errors
    /// [`SubscriptionError::NotFound`] for a subscription of another MSP or none.
    pub async fn deliveries(
        &self,
        id: uuid::Uuid,
        limit: u64,
    ) -> Result<Vec<WebhookDelivery>, SubscriptionError> {
        self.row(id).await?.ok_or(SubscriptionError::NotFound(id))?;
        webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(webhook_delivery::Column::SubscriptionId.eq(id))
            .order_by_desc(webhook_delivery::Column::CreatedAt)
            .order_by_desc(webhook_delivery::Column::Id)
            .limit(limit)
            .all(self.conn)
            .await
            .map_err(StorageError::from)?
            .into_iter()
            .map(|row| to_delivery(row).map_err(SubscriptionError::from))
            .collect()
    }
}

/// An MSP admin's changes to the MSP's webhook subscriptions, each in the MSP's audit chain.
#[derive(Debug)]
pub struct WebhookAdmin<'a> {
    ctx: &'a WriteContext<'a>,
    msp_id: MspId,
    secrets: &'a SecretBox,
}

impl<'a> WebhookAdmin<'a> {
    pub(crate) fn new(ctx: &'a WriteContext<'a>, msp_id: MspId, secrets: &'a SecretBox) -> Self {
        Self {
            ctx,
            msp_id,
            secrets,
        }
    }

    fn reader(&self) -> WebhookReader<'a, sea_orm::DatabaseTransaction> {
        WebhookReader::new(self.ctx.txn, self.msp_id)
    }

    async fn record(&self, change: Change) -> Result<(), StorageError> {
        audit::append(self.ctx, ChainRef::Msp(self.msp_id), change)
            .await
            .map(drop)
    }

    /// Subscribes a URL; returns it with its signing secret (`whsec_…`), shown only now.
    ///
    /// # Errors
    /// [`SubscriptionError`] for a refused target, no events, or a tenant of another MSP.
    pub async fn create(
        &self,
        new: NewSubscription,
    ) -> Result<(WebhookSubscription, SecretString), SubscriptionError> {
        let url = new.url;
        let events = events_json(&new.events)?;
        let description = steward_domain::text::free_text(&new.description, MAX_DESCRIPTION)
            .map_err(SubscriptionError::InvalidDescription)?;
        if let Some(tenant_id) = new.tenant_id {
            tenant::Entity::find_by_id(tenant_id.as_uuid())
                .filter(tenant::Column::MspId.eq(self.msp_id.as_uuid()))
                .one(self.ctx.txn)
                .await
                .map_err(StorageError::from)?
                .ok_or(SubscriptionError::UnknownTenant(tenant_id))?;
        }
        let secret = super::inbound_webhooks::new_signing_secret()?;
        let id = new_id(self.ctx.clock);
        let now = self.ctx.clock.now();
        let row = webhook_subscription::ActiveModel {
            id: Set(id),
            msp_id: Set(self.msp_id.as_uuid()),
            url: Set(url.to_string()),
            description: Set(description),
            events: Set(events),
            tenant_id: Set(new.tenant_id.map(TenantId::as_uuid)),
            enabled: Set(true),
            sealed_secret: Set(self
                .secrets
                .seal(secret.expose_secret().as_bytes(), &secret_context(id))),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(self.ctx.txn)
        .await
        .map_err(StorageError::from)?;
        let subscription = to_subscription(row)?;
        self.record(
            Change::new("webhook_subscription.created", "webhook_subscription", &id)
                .after(&subscription),
        )
        .await?;
        Ok((subscription, secret))
    }

    /// Changes a subscription.
    ///
    /// # Errors
    /// [`SubscriptionError`] for an unknown subscription or an invalid change.
    pub async fn update(
        &self,
        id: uuid::Uuid,
        changes: SubscriptionChanges,
    ) -> Result<WebhookSubscription, SubscriptionError> {
        let row = self
            .reader()
            .row(id)
            .await?
            .ok_or(SubscriptionError::NotFound(id))?;
        let before = to_subscription(row.clone())?;
        let mut active = row.into_active_model();
        if let Some(url) = &changes.url {
            active.url = Set(url.to_string());
        }
        if let Some(events) = &changes.events {
            active.events = Set(events_json(events)?);
        }
        if let Some(description) = &changes.description {
            let description = steward_domain::text::free_text(description, MAX_DESCRIPTION)
                .map_err(SubscriptionError::InvalidDescription)?;
            active.description = Set(description);
        }
        if let Some(enabled) = changes.enabled {
            active.enabled = Set(enabled);
        }
        active.updated_at = Set(self.ctx.clock.now());
        let after = to_subscription(
            active
                .update(self.ctx.txn)
                .await
                .map_err(StorageError::from)?,
        )?;
        self.record(
            Change::new("webhook_subscription.updated", "webhook_subscription", &id)
                .before(&before)
                .after(&after),
        )
        .await?;
        Ok(after)
    }

    /// Removes a subscription and its delivery log.
    ///
    /// # Errors
    /// [`SubscriptionError::NotFound`].
    pub async fn remove(&self, id: uuid::Uuid) -> Result<(), SubscriptionError> {
        let row = self
            .reader()
            .row(id)
            .await?
            .ok_or(SubscriptionError::NotFound(id))?;
        let before = to_subscription(row)?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(webhook_delivery::Column::SubscriptionId.eq(id))
            .exec(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        webhook_subscription::Entity::delete_by_id(id)
            .exec(self.ctx.txn)
            .await
            .map_err(StorageError::from)?;
        self.record(
            Change::new("webhook_subscription.removed", "webhook_subscription", &id)
                .before(&before),
        )
        .await?;
        Ok(())
    }

    /// Sends a delivery again now, whatever became of it, with the same message id.
    ///
    /// # Errors
    /// [`SubscriptionError`] for an unknown subscription or delivery.
    pub async fn redeliver(
        &self,
        id: uuid::Uuid,
        delivery_id: &str,
    ) -> Result<WebhookDelivery, SubscriptionError> {
        self.reader()
            .row(id)
            .await?
            .ok_or(SubscriptionError::NotFound(id))?;
        let row = webhook_delivery::Entity::find_by_id(delivery_id.to_owned())
            .filter(webhook_delivery::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(webhook_delivery::Column::SubscriptionId.eq(id))
            .one(self.ctx.txn)
            .await
            .map_err(StorageError::from)?
            .ok_or_else(|| SubscriptionError::DeliveryNotFound(delivery_id.to_owned()))?;
        let tenant_id = TenantId::from(row.tenant_id);
        let before = to_delivery(row.clone())?;
        let mut active = row.into_active_model();
        active.status = Set(DeliveryStatus::Pending.as_str().to_owned());
        active.next_attempt_at = Set(Some(self.ctx.clock.now() + ATTEMPT_LEASE));
        let after = to_delivery(
            active
                .update(self.ctx.txn)
                .await
                .map_err(StorageError::from)?,
        )?;
        jobs::enqueue(
            self.ctx,
            self.msp_id,
            &Job::DeliverWebhook {
                tenant_id,
                delivery_id: after.id.clone(),
            },
        )
        .await?;
        self.record(
            Change::new(
                "webhook_delivery.redelivery_requested",
                "webhook_delivery",
                &after.id,
            )
            .before(&json!({"status": before.status, "attempts": before.attempts}))
            .after(&json!({"status": after.status})),
        )
        .await?;
        Ok(after)
    }
}

/// The subscribable event an audited change is, if any.
fn event_of(change: &Change) -> Option<WebhookEvent> {
    let status = |state: &Option<serde_json::Value>| {
        state
            .as_ref()
            .and_then(|s| s.get("status"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let policy_failed = change
        .after
        .as_ref()
        .and_then(|after| after.get("policy_failure"))
        .is_some_and(|failure| !failure.is_null());
    match change.action {
        "action.decided" | "action.redecided" if policy_failed => Some(WebhookEvent::PolicyFailed),
        "incident.created" => Some(WebhookEvent::IncidentCreated),
        "incident.updated" | "incident.updated_from_ticket"
            if status(&change.after).as_deref() == Some("resolved")
                && status(&change.before).as_deref() != Some("resolved") =>
        {
            Some(WebhookEvent::IncidentResolved)
        }
        "action.proposed" => Some(WebhookEvent::ActionProposed),
        "action.verified" => Some(WebhookEvent::ActionExecuted),
        "action.rolled_back" => Some(WebhookEvent::ActionRolledBack),
        // A new action the policy sends to approvers is decided straight into waiting; a
        // re-decided one moves there.
        "action.decided" | "action.awaiting_approval" => Some(WebhookEvent::ApprovalRequested),
        _ => None,
    }
}

/// Writes a delivery for each subscription that wants the event `change` is, with the
/// incident's or action's current state, and queues sending it. Called for every change
/// appended to a tenant's audit chain.
pub(crate) async fn emit(
    ctx: &WriteContext<'_>,
    chain: ChainRef,
    change: &Change,
) -> Result<(), StorageError> {
    let ChainRef::Tenant { msp_id, tenant_id } = chain else {
        return Ok(());
    };
    let Some(event) = event_of(change) else {
        return Ok(());
    };
    let subscriptions: Vec<WebhookSubscription> = webhook_subscription::Entity::find()
        .filter(webhook_subscription::Column::MspId.eq(msp_id.as_uuid()))
        .filter(webhook_subscription::Column::Enabled.eq(true))
        .all(ctx.txn)
        .await?
        .into_iter()
        .map(to_subscription)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|s| s.events.contains(&event) && s.tenant_id.is_none_or(|t| t == tenant_id))
        .collect();
    if subscriptions.is_empty() {
        return Ok(());
    }
    let Some(subject) = change
        .subject_id
        .as_deref()
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
    else {
        return Ok(());
    };
    let data = if change.subject_kind == "incident" {
        let Some(mut incident) = IncidentReader::new(ctx.txn, msp_id, tenant_id)
            .get(IncidentId::from_uuid(subject))
            .await?
        else {
            return Ok(());
        };
        incident.findings.clear();
        json!({"tenant_id": tenant_id, "incident": incident})
    } else {
        let Some(action) = ActionReader::new(ctx.txn, msp_id, tenant_id)
            .get(ActionId::from_uuid(subject))
            .await?
        else {
            return Ok(());
        };
        if event == WebhookEvent::ApprovalRequested
            && action.status != steward_domain::actions::ActionStatus::AwaitingApproval
        {
            return Ok(());
        }
        json!({"tenant_id": tenant_id, "action": action})
    };
    let now = ctx.clock.now();
    let payload = json!({
        "type": event.as_str(),
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    });
    for subscription in subscriptions {
        let id = format!("msg_{}", new_id(ctx.clock).simple());
        webhook_delivery::ActiveModel {
            id: Set(id.clone()),
            msp_id: Set(msp_id.as_uuid()),
            subscription_id: Set(subscription.id),
            tenant_id: Set(tenant_id.as_uuid()),
            event: Set(event.as_str().to_owned()),
            payload: Set(payload.clone()),
            status: Set(DeliveryStatus::Pending.as_str().to_owned()),
            attempts: Set(0),
            next_attempt_at: Set(Some(now + ATTEMPT_LEASE)),
            last_attempt_at: Set(None),
            last_status: Set(None),
            last_error: Set(None),
            delivered_at: Set(None),
            created_at: Set(now),
        }
        .insert(ctx.txn)
        .await?;
        jobs::enqueue(
            ctx,
            msp_id,
            &Job::DeliverWebhook {
                tenant_id,
                delivery_id: id,
            },
        )
        .await?;
    }
    Ok(())
}

/// A delivery ready to send: the message, where to, and the key to sign it with.
#[derive(Debug)]
pub struct Outgoing {
    pub delivery: WebhookDelivery,
    pub msp_id: MspId,
    pub url: Url,
    pub secret: SecretString,
}

/// Why an outgoing delivery could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OutgoingError {
    #[error(transparent)]
    Secret(#[from] OpenError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The delivery `id` if it is still to be sent (pending, its subscription enabled).
///
/// # Errors
/// When the database cannot be read or the sealed secret does not open.
pub async fn outgoing<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    id: &str,
) -> Result<Option<Outgoing>, OutgoingError> {
    let Some(row) = webhook_delivery::Entity::find_by_id(id.to_owned())
        .one(conn)
        .await
        .map_err(StorageError::from)?
    else {
        return Ok(None);
    };
    let msp_id = MspId::from(row.msp_id);
    let Some(subscription) = webhook_subscription::Entity::find_by_id(row.subscription_id)
        .filter(webhook_subscription::Column::MspId.eq(row.msp_id))
        .one(conn)
        .await
        .map_err(StorageError::from)?
    else {
        return Ok(None);
    };
    let delivery = to_delivery(row)?;
    if delivery.status != DeliveryStatus::Pending || !subscription.enabled {
        return Ok(None);
    }
    let secret = secrets.open(
        &subscription.sealed_secret,
        &secret_context(subscription.id),
    )?;
    let secret = String::from_utf8(secret).map_err(|_| OpenError)?;
    let url = Url::parse(&subscription.url)
        .map_err(|e| StorageError::corrupt("webhook subscription URL", &e))?;
    Ok(Some(Outgoing {
        delivery,
        msp_id,
        url,
        secret: SecretString::from(secret),
    }))
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered 2xx.
    Delivered(u16),
    /// It answered otherwise, or could not be reached (`status` is `None`); tried again at
    /// `retry_at`, or given up without one.
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// Records an attempt of delivery `id`: delivered, rescheduled, or given up. Delivered and
/// given-up deliveries are in the MSP's audit chain.
///
/// # Errors
/// When the database cannot be written.
pub async fn record_attempt(
    ctx: &WriteContext<'_>,
    id: &str,
    attempt: &Attempt,
) -> Result<Option<WebhookDelivery>, StorageError> {
    let Some(row) = webhook_delivery::Entity::find_by_id(id.to_owned())
        .one(ctx.txn)
        .await?
    else {
        return Ok(None);
    };
    let msp_id = MspId::from(row.msp_id);
    let now = ctx.clock.now();
    let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
    let mut active = row.into_active_model();
    active.attempts = Set(i32::try_from(attempts).unwrap_or(i32::MAX));
    active.last_attempt_at = Set(Some(now));
    let final_action = match attempt {
        Attempt::Delivered(status) => {
            active.status = Set(DeliveryStatus::Delivered.as_str().to_owned());
            active.last_status = Set(Some(i32::from(*status)));
            active.last_error = Set(None);
            active.delivered_at = Set(Some(now));
            active.next_attempt_at = Set(None);
            Some("webhook_delivery.delivered")
        }
        Attempt::Failed {
            status,
            error,
            retry_at,
        } => {
            active.last_status = Set(status.map(i32::from));
            active.last_error = Set(Some(error.chars().take(500).collect()));
            active.next_attempt_at = Set(*retry_at);
            if retry_at.is_none() {
                active.status = Set(DeliveryStatus::Failed.as_str().to_owned());
                Some("webhook_delivery.failed")
            } else {
                None
            }
        }
    };
    let delivery = to_delivery(active.update(ctx.txn).await?)?;
    if let Some(action) = final_action {
        audit::append(
            ctx,
            ChainRef::Msp(msp_id),
            Change::new(action, "webhook_delivery", &delivery.id).after(&json!({
                "subscription_id": delivery.subscription_id,
                "event": delivery.event,
                "attempts": delivery.attempts,
                "last_status": delivery.last_status,
                "last_error": delivery.last_error,
            })),
        )
        .await?;
    }
    Ok(Some(delivery))
}

/// Hands out deliveries due for another attempt: each is leased for [`ATTEMPT_LEASE`] so the
/// next round does not hand it out again while its job waits. Returns (tenant, delivery id).
///
/// # Errors
/// When the database cannot be read or written.
pub async fn claim_due(
    txn: &sea_orm::DatabaseTransaction,
    now: chrono::DateTime<chrono::Utc>,
    limit: u64,
) -> Result<Vec<(TenantId, String)>, StorageError> {
    let due = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(txn)
        .await?;
    let mut claimed = Vec::new();
    for row in due {
        let (tenant, id) = (TenantId::from(row.tenant_id), row.id.clone());
        let mut active = row.into_active_model();
        active.next_attempt_at = Set(Some(now + ATTEMPT_LEASE));
        active.update(txn).await?;
        claimed.push((tenant, id));
    }
    Ok(claimed)
}
