//! Inbound webhooks and log ingest: the endpoint of an integration (its tenant, signing secret
//! and ingest key), found by the integration's id alone because the sender is authenticated by
//! its signature or key, not by a user; and the receipt of a message, which refuses a message
//! id seen before and queues the integration's synchronization in the same transaction.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use secrecy::SecretString;
use steward_domain::{IntegrationId, MspId, TenantId};

use super::{
    StorageError, WriteContext,
    entities::{integration, tenant, webhook_receipt},
    integrations::webhook_context,
    new_id,
};
use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
    secrets::{OpenError, SecretBox},
};

/// A new Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64.
pub(crate) fn new_signing_secret() -> Result<SecretString, StorageError> {
    use base64::Engine;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StorageError::corrupt("randomness", &e))?;
    Ok(SecretString::from(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )))
}

/// A new log ingest key: `sik_` and 32 random bytes in URL-safe base64.
pub(crate) fn new_ingest_key() -> Result<SecretString, StorageError> {
    use base64::Engine;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StorageError::corrupt("randomness", &e))?;
    Ok(SecretString::from(format!(
        "sik_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
    )))
}

/// What is stored of an ingest key: its SHA-256, in hex. The key has 256 random bits, so a
/// plain digest is enough (there is nothing to guess that a slow hash would protect).
#[must_use]
pub fn ingest_key_digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Where an integration's webhook messages and logs go, and what authenticates their senders.
#[derive(Debug)]
pub struct WebhookEndpoint {
    pub msp_id: MspId,
    pub tenant_id: TenantId,
    pub integration_id: IntegrationId,
    /// The Standard Webhooks secret (`whsec_…`), when an MSP admin created one.
    pub secret: Option<SecretString>,
    /// The SHA-256 of the log ingest key, when an MSP admin created one.
    pub ingest_key_sha256: Option<String>,
}

impl WebhookEndpoint {
    /// Whether `key` is the integration's ingest key (compared in constant time).
    #[must_use]
    pub fn accepts_ingest_key(&self, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        self.ingest_key_sha256.as_ref().is_some_and(|stored| {
            bool::from(stored.as_bytes().ct_eq(ingest_key_digest(key).as_bytes()))
        })
    }
}

/// Why an endpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(transparent)]
    Secret(#[from] OpenError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The webhook endpoint of integration `id`: `None` when there is no such integration, it has
/// neither a webhook secret nor an ingest key, or its tenant is not active.
///
/// # Errors
/// [`EndpointError::Secret`] when the sealed secret does not open.
pub async fn endpoint<C: ConnectionTrait>(
    conn: &C,
    secrets: &SecretBox,
    id: IntegrationId,
) -> Result<Option<WebhookEndpoint>, EndpointError> {
    let Some(row) = integration::Entity::find_by_id(id.as_uuid())
        .one(conn)
        .await
        .map_err(StorageError::from)?
    else {
        return Ok(None);
    };
    if row.sealed_webhook_secret.is_none() && row.ingest_key_sha256.is_none() {
        return Ok(None);
    }
    let active = tenant::Entity::find_by_id(row.tenant_id)
        .filter(tenant::Column::MspId.eq(row.msp_id))
        .filter(tenant::Column::Status.eq("active"))
        .one(conn)
        .await
        .map_err(StorageError::from)?
        .is_some();
    if !active {
        return Ok(None);
    }
    let secret = match &row.sealed_webhook_secret {
        Some(sealed) => {
            let secret = secrets.open(sealed, &webhook_context(id))?;
            Some(SecretString::from(
                String::from_utf8(secret).map_err(|_| OpenError)?,
            ))
        }
        None => None,
    };
    Ok(Some(WebhookEndpoint {
        msp_id: row.msp_id.into(),
        tenant_id: row.tenant_id.into(),
        integration_id: id,
        secret,
        ingest_key_sha256: row.ingest_key_sha256,
    }))
}

/// What became of a verified message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// First seen: recorded, and the integration's synchronization is queued.
    Accepted,
    /// Its id was received before: a replay, or the sender's retry of a delivered message.
    Replayed,
}

/// Records message `message_id` for `endpoint` and queues the integration's synchronization,
/// in the audit chain of its tenant; a message id received before changes nothing.
///
/// # Errors
/// When the database cannot be written.
pub async fn receive(
    ctx: &WriteContext<'_>,
    endpoint: &WebhookEndpoint,
    message_id: &str,
) -> Result<Receipt, StorageError> {
    let integration_id = endpoint.integration_id.as_uuid();
    let seen = webhook_receipt::Entity::find()
        .filter(webhook_receipt::Column::IntegrationId.eq(integration_id))
        .filter(webhook_receipt::Column::MessageId.eq(message_id))
        .one(ctx.txn)
        .await?
        .is_some();
    if seen {
        return Ok(Receipt::Replayed);
    }
    let inserted = webhook_receipt::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(endpoint.msp_id.as_uuid()),
        tenant_id: Set(endpoint.tenant_id.as_uuid()),
        integration_id: Set(integration_id),
        message_id: Set(message_id.to_owned()),
        received_at: Set(ctx.clock.now()),
    }
    .insert(ctx.txn)
    .await;
    // Two deliveries of one message can race past the check above; the unique key decides.
    if let Err(err) = inserted {
        return match StorageError::from_write("a webhook message with this id", err) {
            StorageError::Conflict { .. } => Ok(Receipt::Replayed),
            other => Err(other),
        };
    }
    audit::append(
        ctx,
        ChainRef::Tenant {
            msp_id: endpoint.msp_id,
            tenant_id: endpoint.tenant_id,
        },
        Change::new(
            "integration.webhook_received",
            "integration",
            &endpoint.integration_id,
        )
        .after(&serde_json::json!({"message_id": message_id})),
    )
    .await?;
    jobs::enqueue(
        ctx,
        endpoint.msp_id,
        &Job::Sync {
            tenant_id: endpoint.tenant_id,
            integration_id: endpoint.integration_id,
        },
    )
    .await?;
    Ok(Receipt::Accepted)
}
