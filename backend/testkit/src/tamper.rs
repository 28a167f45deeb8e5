//! What an attacker with direct database access might do to an audit chain, so tests can show
//! that verification notices each of it.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set,
};
use steward_core::{
    Storage,
    audit::{AuditKeys, entry_hash},
    storage::entities::{audit_checkpoint, audit_entry},
};
use uuid::Uuid;

/// How many audit entries the database holds, across every chain.
///
/// # Panics
/// When the database cannot be read.
pub async fn audit_entry_count(storage: &Storage) -> u64 {
    use sea_orm::PaginatorTrait;
    audit_entry::Entity::find()
        .count(storage.conn())
        .await
        .expect("count audit entries")
}

/// Drops the triggers that make the audit tables append-only (the database owner can).
///
/// # Panics
/// When the statements fail.
pub async fn disable_audit_protection(storage: &Storage) {
    let conn = storage.conn();
    let statements: &[&str] = match conn.get_database_backend() {
        DbBackend::Postgres => &[
            "ALTER TABLE audit_entries DISABLE TRIGGER USER",
            "ALTER TABLE audit_checkpoints DISABLE TRIGGER USER",
        ],
        _ => &[
            "DROP TRIGGER audit_entries_no_update",
            "DROP TRIGGER audit_entries_no_delete",
            "DROP TRIGGER audit_checkpoints_no_update",
            "DROP TRIGGER audit_checkpoints_no_delete",
        ],
    };
    for statement in statements {
        conn.execute_unprepared(statement)
            .await
            .unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
}

async fn entry(storage: &Storage, chain_id: Uuid, seq: i64) -> audit_entry::Model {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::ChainId.eq(chain_id))
        .filter(audit_entry::Column::Seq.eq(seq))
        .one(storage.conn())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no entry #{seq} in chain {chain_id}"))
}

/// Changes who an entry says acted, leaving its hash as it was.
///
/// # Panics
/// When the entry does not exist or the update fails.
pub async fn edit_entry(storage: &Storage, chain_id: Uuid, seq: i64) {
    let mut row = entry(storage, chain_id, seq).await.into_active_model();
    row.actor_label = Set("someone else".to_owned());
    row.update(storage.conn()).await.unwrap();
}

/// Removes one entry (and leaves its checkpoint).
///
/// # Panics
/// When the delete fails.
pub async fn delete_entry(storage: &Storage, chain_id: Uuid, seq: i64) {
    let result = audit_entry::Entity::delete_many()
        .filter(audit_entry::Column::ChainId.eq(chain_id))
        .filter(audit_entry::Column::Seq.eq(seq))
        .exec(storage.conn())
        .await
        .unwrap();
    assert_eq!(result.rows_affected, 1);
}

/// Swaps the positions of two entries.
///
/// # Panics
/// When an entry does not exist or an update fails.
pub async fn swap_entries(storage: &Storage, chain_id: Uuid, a: i64, b: i64) {
    let first = entry(storage, chain_id, a).await;
    let second = entry(storage, chain_id, b).await;
    for (row, seq) in [(&first, 1_000_000), (&second, a), (&first, b)] {
        let mut active = row.clone().into_active_model();
        active.seq = Set(seq);
        active.update(storage.conn()).await.unwrap();
    }
}

/// Removes every entry after position `keep` (their checkpoints stay).
///
/// # Panics
/// When the delete fails.
pub async fn truncate_after(storage: &Storage, chain_id: Uuid, keep: i64) {
    audit_entry::Entity::delete_many()
        .filter(audit_entry::Column::ChainId.eq(chain_id))
        .filter(audit_entry::Column::Seq.gt(keep))
        .exec(storage.conn())
        .await
        .unwrap();
}

/// Edits entry `from` and recomputes the hash and link of it and every later entry, so the
/// chain is consistent in itself. With `resign`, the checkpoints are rewritten and signed with
/// that (the attacker's) key; without, they are left alone.
///
/// # Panics
/// When a read or update fails.
pub async fn rewrite_chain(
    storage: &Storage,
    chain_id: Uuid,
    from: i64,
    resign: Option<&AuditKeys>,
) {
    let conn = storage.conn();
    let entries = audit_entry::Entity::find()
        .filter(audit_entry::Column::ChainId.eq(chain_id))
        .order_by_asc(audit_entry::Column::Seq)
        .all(conn)
        .await
        .unwrap();
    let mut prev_hash: Option<String> = None;
    for mut row in entries {
        if row.seq < from {
            prev_hash = Some(row.hash.clone());
            continue;
        }
        if row.seq == from {
            row.actor_label = "someone else".to_owned();
        }
        if let Some(prev) = &prev_hash {
            row.prev_hash.clone_from(prev);
        }
        row.hash = entry_hash(&row);
        prev_hash = Some(row.hash.clone());
        row.clone()
            .into_active_model()
            .reset_all()
            .update(conn)
            .await
            .unwrap();

        if let Some(keys) = resign {
            let checkpoint = audit_checkpoint::Entity::find()
                .filter(audit_checkpoint::Column::ChainId.eq(chain_id))
                .filter(audit_checkpoint::Column::Seq.eq(row.seq))
                .one(conn)
                .await
                .unwrap()
                .expect("every entry has a checkpoint");
            let mut active = checkpoint.into_active_model();
            active.head_hash = Set(row.hash.clone());
            active.key_id = Set(keys.key_id().to_owned());
            active.signature = Set(keys.sign_checkpoint(chain_id, row.seq, &row.hash));
            active.update(conn).await.unwrap();
        }
    }
}
