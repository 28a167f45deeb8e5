//! The audit chains: every state change, hash-linked and signed.
//!
//! Each tenant has a chain, and each MSP has one for MSP-level changes (users, tokens,
//! settings). An entry records who did what, when, to what, with the state before and after;
//! its hash covers its canonical encoding and the previous entry's hash, so editing, removing or
//! reordering an entry breaks every later link. Because a bare chain cannot notice its newest
//! entries being cut off, or the whole chain being recomputed, every append also stores a
//! checkpoint — "this chain had length N with head hash H" — signed with an Ed25519 key the
//! database does not hold. [`verify_chain`] checks all of it.
//!
//! Entries are written by the storage handles' write methods, in the same transaction as the
//! change they record, so a change without its entry cannot be committed. On both databases the
//! tables refuse `UPDATE` and `DELETE` by trigger.

mod hashing;
pub mod keys;
mod log;
mod verify;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder,
};
use serde_json::Value;
use steward_domain::{
    MspId, TenantId,
    audit::{AuditActor, AuditEntry},
};
use uuid::Uuid;

pub use self::{
    hashing::entry_hash,
    keys::{AuditConfig, AuditKeyError, AuditKeys},
    log::AuditLog,
    verify::{BreakReason, ChainBreak, ChainVerification, verify_all, verify_chain},
};
use crate::storage::{
    StorageError, WriteContext,
    entities::{audit_checkpoint, audit_entry},
    new_id,
};

/// Which chain an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainRef {
    /// The MSP's own chain: users, tokens, settings.
    Msp(MspId),
    /// One tenant's chain.
    Tenant { msp_id: MspId, tenant_id: TenantId },
}

impl ChainRef {
    /// The chain's key: the tenant's id, or the MSP's for its own chain.
    #[must_use]
    pub fn chain_id(self) -> Uuid {
        match self {
            ChainRef::Msp(msp_id) => msp_id.as_uuid(),
            ChainRef::Tenant { tenant_id, .. } => tenant_id.as_uuid(),
        }
    }

    #[must_use]
    pub fn msp_id(self) -> MspId {
        match self {
            ChainRef::Msp(msp_id) | ChainRef::Tenant { msp_id, .. } => msp_id,
        }
    }

    #[must_use]
    pub fn tenant_id(self) -> Option<TenantId> {
        match self {
            ChainRef::Msp(_) => None,
            ChainRef::Tenant { tenant_id, .. } => Some(tenant_id),
        }
    }
}

impl std::fmt::Display for ChainRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainRef::Msp(msp_id) => write!(f, "MSP {msp_id}"),
            ChainRef::Tenant { tenant_id, .. } => write!(f, "tenant {tenant_id}"),
        }
    }
}

/// A state change to record.
#[derive(Debug, Clone)]
pub struct Change {
    /// `<subject>.<verb>`: `tenant.created`, `user.disabled`, `api_token.revoked`.
    pub action: &'static str,
    /// `tenant`, `user`, `api_token`, …
    pub subject_kind: &'static str,
    pub subject_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    /// A change to the subject with this id.
    pub fn new(
        action: &'static str,
        subject_kind: &'static str,
        subject_id: &dyn std::fmt::Display,
    ) -> Self {
        Self {
            action,
            subject_kind,
            subject_id: Some(subject_id.to_string()),
            before: None,
            after: None,
        }
    }

    /// Records the state before the change.
    #[must_use]
    pub fn before(mut self, state: &impl serde::Serialize) -> Self {
        self.before = Some(to_value(state));
        self
    }

    /// Records the state after the change.
    #[must_use]
    pub fn after(mut self, state: &impl serde::Serialize) -> Self {
        self.after = Some(to_value(state));
        self
    }
}

fn to_value(state: &impl serde::Serialize) -> Value {
    // Steward's own types always serialize; a failure would be a bug worth seeing in the log.
    serde_json::to_value(state).unwrap_or_else(|err| {
        tracing::error!(error = %err, "an audited state does not serialize");
        Value::Null
    })
}

/// Appends an entry and its signed checkpoint to `chain`, inside the caller's transaction.
pub(crate) async fn append(
    ctx: &WriteContext<'_>,
    chain: ChainRef,
    change: Change,
) -> Result<AuditEntry, StorageError> {
    // A change that is a subscribable event is delivered to the MSP's webhooks if, and only
    // if, this transaction commits.
    crate::storage::outbound_webhooks::emit(ctx, chain, &change).await?;
    let txn = ctx.txn;
    let chain_id = chain.chain_id();
    if txn.get_database_backend() == DbBackend::Postgres {
        // Serializes appends to one chain until commit. (SQLite writers are already serialized
        // by `BEGIN IMMEDIATE`.)
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            hashing::lock_key(chain_id)
        ))
        .await?;
    }
    let last = audit_entry::Entity::find()
        .filter(audit_entry::Column::ChainId.eq(chain_id))
        .order_by_desc(audit_entry::Column::Seq)
        .one(txn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(last) => (last.seq + 1, last.hash),
        None => (1, hashing::GENESIS_HASH.to_owned()),
    };

    let canonical = |value: Option<Value>| -> Result<Option<String>, StorageError> {
        value
            .map(|value| hashing::canonical_json(&value))
            .transpose()
            .map_err(|err| StorageError::corrupt("audit payload", &err))
    };
    let actor: &AuditActor = &ctx.actor;
    let mut entry = audit_entry::Model {
        id: new_id(ctx.clock),
        chain_id,
        seq,
        msp_id: chain.msp_id().as_uuid(),
        tenant_id: chain.tenant_id().map(TenantId::as_uuid),
        occurred_at: ctx.clock.now(),
        actor_kind: actor.kind.as_str().to_owned(),
        actor_id: actor.user_id.map(|id| id.as_uuid()),
        actor_label: actor.label.clone(),
        action: change.action.to_owned(),
        subject_kind: change.subject_kind.to_owned(),
        subject_id: change.subject_id,
        before: canonical(change.before)?,
        after: canonical(change.after)?,
        request_id: ctx.request_id.clone(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry_hash(&entry);

    let checkpoint = audit_checkpoint::Model {
        id: new_id(ctx.clock),
        chain_id,
        seq,
        head_hash: entry.hash.clone(),
        key_id: ctx.keys.key_id().to_owned(),
        signature: ctx.keys.sign_checkpoint(chain_id, seq, &entry.hash),
        created_at: entry.occurred_at,
    };
    entry.clone().into_active_model().insert(txn).await?;
    checkpoint.into_active_model().insert(txn).await?;
    log::entry_from_row(entry)
}

/// Lists the chains that have entries, for verifying them all.
pub(crate) async fn chains<C: ConnectionTrait>(conn: &C) -> Result<Vec<ChainRef>, StorageError> {
    use sea_orm::QuerySelect;

    let rows: Vec<(Uuid, Option<Uuid>)> = audit_entry::Entity::find()
        .select_only()
        .column(audit_entry::Column::MspId)
        .column(audit_entry::Column::TenantId)
        .filter(audit_entry::Column::Seq.eq(1))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(msp_id, tenant_id)| match tenant_id {
            Some(tenant_id) => ChainRef::Tenant {
                msp_id: msp_id.into(),
                tenant_id: tenant_id.into(),
            },
            None => ChainRef::Msp(msp_id.into()),
        })
        .collect())
}
