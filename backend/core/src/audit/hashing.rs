//! The canonical encoding of entries and checkpoints, and their hashes.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::storage::entities::audit_entry;

/// The `prev_hash` of a chain's first entry.
pub(crate) const GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation: a hash of an entry can never be mistaken for a hash of anything else.
const ENTRY_DOMAIN: &[u8] = b"steward-audit-entry-v1\n";
const CHECKPOINT_DOMAIN: &str = "steward-audit-checkpoint-v1";

/// RFC 8785 canonical JSON of a payload.
pub(crate) fn canonical_json(value: &Value) -> serde_json::Result<String> {
    serde_json_canonicalizer::to_string(value)
}

/// Every stored field of an entry except its own hash.
#[derive(Serialize)]
struct HashedEntry<'a> {
    action: &'a str,
    actor_id: Option<Uuid>,
    actor_kind: &'a str,
    actor_label: &'a str,
    /// Canonical JSON text, exactly as stored.
    after: Option<&'a str>,
    before: Option<&'a str>,
    chain_id: Uuid,
    id: Uuid,
    msp_id: Uuid,
    /// RFC 3339 with microseconds, the precision both databases keep.
    occurred_at: String,
    prev_hash: &'a str,
    request_id: Option<&'a str>,
    seq: i64,
    subject_id: Option<&'a str>,
    subject_kind: &'a str,
    tenant_id: Option<Uuid>,
}

/// SHA-256 (hex) over the entry's canonical encoding, which includes the previous hash.
///
/// This is the published format, so an auditor can recompute a chain from an export: the hash
/// covers `steward-audit-entry-v1\n` followed by the RFC 8785 canonical JSON of every stored
/// field except `hash`, with `occurred_at` in RFC 3339 with microseconds.
#[must_use]
pub fn entry_hash(entry: &audit_entry::Model) -> String {
    let hashed = HashedEntry {
        action: &entry.action,
        actor_id: entry.actor_id,
        actor_kind: &entry.actor_kind,
        actor_label: &entry.actor_label,
        after: entry.after.as_deref(),
        before: entry.before.as_deref(),
        chain_id: entry.chain_id,
        id: entry.id,
        msp_id: entry.msp_id,
        occurred_at: entry
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        prev_hash: &entry.prev_hash,
        request_id: entry.request_id.as_deref(),
        seq: entry.seq,
        subject_id: entry.subject_id.as_deref(),
        subject_kind: &entry.subject_kind,
        tenant_id: entry.tenant_id,
    };
    let encoded = serde_json_canonicalizer::to_vec(&hashed)
        .expect("an entry of strings and integers always encodes");
    let mut hasher = Sha256::new();
    hasher.update(ENTRY_DOMAIN);
    hasher.update(&encoded);
    hex::encode(hasher.finalize())
}

/// The message a checkpoint signs.
pub(crate) fn checkpoint_message(chain_id: Uuid, seq: i64, head_hash: &str) -> Vec<u8> {
    format!("{CHECKPOINT_DOMAIN}\n{chain_id}\n{seq}\n{head_hash}").into_bytes()
}

/// The PostgreSQL advisory-lock key serializing appends to one chain.
pub(crate) fn lock_key(chain_id: Uuid) -> i64 {
    let (high, low) = chain_id.as_u64_pair();
    i64::from_ne_bytes((high ^ low).to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use serde_json::json;

    use super::*;

    fn entry() -> audit_entry::Model {
        audit_entry::Model {
            id: Uuid::from_u128(1),
            chain_id: Uuid::from_u128(2),
            seq: 1,
            msp_id: Uuid::from_u128(3),
            tenant_id: Some(Uuid::from_u128(2)),
            occurred_at: DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap(),
            actor_kind: "user".into(),
            actor_id: None,
            actor_label: "admin@example.com".into(),
            action: "tenant.created".into(),
            subject_kind: "tenant".into(),
            subject_id: Some("2".into()),
            before: None,
            after: Some(canonical_json(&json!({"name": "Acme", "id": 2})).unwrap()),
            request_id: None,
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn payloads_are_canonical_whatever_their_key_order() {
        let a = canonical_json(&json!({"b": 1, "a": [true, null], "c": {"y": 1.5, "x": "é"}}));
        let b = canonical_json(&json!({"c": {"x": "é", "y": 1.5}, "a": [true, null], "b": 1}));
        assert_eq!(a.unwrap(), b.unwrap());
    }

    #[test]
    fn every_field_changes_the_hash() {
        let base = entry_hash(&entry());
        assert_eq!(base.len(), 64);
        assert_eq!(base, entry_hash(&entry()), "hashing is deterministic");
        let variants: [fn(&mut audit_entry::Model); 8] = [
            |e| e.seq = 2,
            |e| e.action = "tenant.updated".into(),
            |e| e.actor_label = "someone@else".into(),
            |e| e.after = Some("{}".into()),
            |e| e.prev_hash = "1".repeat(64),
            |e| e.occurred_at += chrono::Duration::microseconds(1),
            |e| e.tenant_id = None,
            |e| e.id = Uuid::from_u128(9),
        ];
        for change in variants {
            let mut changed = entry();
            change(&mut changed);
            assert_ne!(entry_hash(&changed), base);
        }
    }
}
