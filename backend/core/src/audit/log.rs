//! Reading a chain.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_domain::audit::{ActorKind, AuditActor, AuditEntry, AuditSubject};

use super::ChainRef;
use crate::storage::{Page, PageRequest, StorageError, entities::audit_entry};

/// One chain's entries, oldest first. Obtained through a scope that may read it.
#[derive(Debug, Clone, Copy)]
pub struct AuditLog<'c, C> {
    conn: &'c C,
    chain: ChainRef,
}

impl<'c, C: ConnectionTrait> AuditLog<'c, C> {
    pub(crate) fn new(conn: &'c C, chain: ChainRef) -> Self {
        Self { conn, chain }
    }

    #[must_use]
    pub fn chain(&self) -> ChainRef {
        self.chain
    }

    /// One page of entries in chain order; the cursor is a sequence number.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(
        &self,
        page: PageRequest<u64>,
    ) -> Result<Page<AuditEntry, u64>, StorageError> {
        let after = i64::try_from(page.after.unwrap_or(0)).unwrap_or(i64::MAX);
        let rows = audit_entry::Entity::find()
            .filter(audit_entry::Column::ChainId.eq(self.chain.chain_id()))
            .filter(audit_entry::Column::Seq.gt(after))
            .order_by_asc(audit_entry::Column::Seq)
            .limit(page.limit.saturating_add(1))
            .all(self.conn)
            .await?
            .into_iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_overfetch(rows, page.limit, |entry| entry.seq))
    }
}

pub(crate) fn entry_from_row(row: audit_entry::Model) -> Result<AuditEntry, StorageError> {
    let kind = match row.actor_kind.as_str() {
        "user" => ActorKind::User,
        "cli" => ActorKind::Cli,
        "system" => ActorKind::System,
        other => return Err(StorageError::corrupt("audit actor kind", &other)),
    };
    let json = |text: Option<String>| -> Result<Option<serde_json::Value>, StorageError> {
        text.map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|err| StorageError::corrupt("audit payload", &err))
    };
    Ok(AuditEntry {
        id: row.id.into(),
        msp_id: row.msp_id.into(),
        tenant_id: row.tenant_id.map(Into::into),
        seq: u64::try_from(row.seq).map_err(|err| StorageError::corrupt("audit seq", &err))?,
        occurred_at: row.occurred_at,
        actor: AuditActor {
            kind,
            user_id: row.actor_id.map(Into::into),
            label: row.actor_label,
        },
        action: row.action,
        subject: AuditSubject {
            kind: row.subject_kind,
            id: row.subject_id,
        },
        before: json(row.before)?,
        after: json(row.after)?,
        request_id: row.request_id,
        prev_hash: row.prev_hash,
        hash: row.hash,
    })
}
