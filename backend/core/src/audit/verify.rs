//! Checking a chain against its hashes and its signed checkpoints.

use std::fmt;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_domain::AuditEntryId;

use super::{
    ChainRef, chains,
    hashing::{self, GENESIS_HASH},
    keys::{AuditKeys, Verification},
};
use crate::storage::{
    StorageError,
    entities::{audit_checkpoint, audit_entry},
};

/// Rows read per query while walking a chain, so memory stays flat however long it is.
const BATCH: u64 = 1_000;

/// The outcome of verifying one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainVerification {
    pub chain: ChainRef,
    /// Entries found.
    pub entries: u64,
    /// Checkpoints found.
    pub checkpoints: u64,
    /// The first problem, by position in the chain; `None` when the chain is intact.
    pub first_break: Option<ChainBreak>,
}

impl ChainVerification {
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.first_break.is_none()
    }
}

/// Where a chain is broken and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The position of the first broken entry.
    pub seq: u64,
    /// The entry found at that position, if any.
    pub entry_id: Option<AuditEntryId>,
    pub reason: BreakReason,
}

/// How a chain can be broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// The entry's contents do not match its hash: it was edited.
    HashMismatch,
    /// The entry does not link to the one before it: entries were removed or reordered.
    BrokenLink,
    /// No entry holds this position, though later ones exist: an entry was removed.
    Missing,
    /// A signed checkpoint names a different hash for this position: the chain was rewritten.
    CheckpointMismatch,
    /// The entry has no checkpoint, though every append writes one.
    CheckpointMissing,
    /// A checkpoint's signature does not verify.
    BadSignature,
    /// A checkpoint is signed by a key Steward does not trust.
    UnknownKey { key_id: String },
    /// A signed checkpoint covers a position past the chain's end: newest entries were removed.
    Truncated { checkpoint_seq: u64 },
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = match self.entry_id {
            Some(id) => format!("entry #{} ({id})", self.seq),
            None => format!("entry #{}", self.seq),
        };
        match &self.reason {
            BreakReason::HashMismatch => {
                write!(f, "{entry} does not match its hash: it was altered")
            }
            BreakReason::BrokenLink => write!(
                f,
                "{entry} does not link to the entry before it: entries were removed or reordered"
            ),
            BreakReason::Missing => write!(f, "{entry} is missing: it was removed"),
            BreakReason::CheckpointMismatch => write!(
                f,
                "{entry} differs from its signed checkpoint: the chain was rewritten"
            ),
            BreakReason::CheckpointMissing => write!(f, "{entry} has no signed checkpoint"),
            BreakReason::BadSignature => {
                write!(f, "the checkpoint of {entry} has an invalid signature")
            }
            BreakReason::UnknownKey { key_id } => write!(
                f,
                "the checkpoint of {entry} is signed by untrusted key {key_id}"
            ),
            BreakReason::Truncated { checkpoint_seq } => write!(
                f,
                "{entry} is missing, though a signed checkpoint covers entry #{checkpoint_seq}: \
                 the newest entries were removed"
            ),
        }
    }
}

/// Verifies one chain.
///
/// # Errors
/// When the database cannot be read. A broken chain is not an error: it is reported in
/// [`ChainVerification::first_break`].
pub async fn verify_chain<C: ConnectionTrait>(
    conn: &C,
    keys: &AuditKeys,
    chain: ChainRef,
) -> Result<ChainVerification, StorageError> {
    let chain_id = chain.chain_id();
    let mut entries = Batches::new(|after| {
        audit_entry::Entity::find()
            .filter(audit_entry::Column::ChainId.eq(chain_id))
            .filter(audit_entry::Column::Seq.gt(after))
            .order_by_asc(audit_entry::Column::Seq)
            .limit(BATCH)
            .all(conn)
    });
    let mut checkpoints = Batches::new(|after| {
        audit_checkpoint::Entity::find()
            .filter(audit_checkpoint::Column::ChainId.eq(chain_id))
            .filter(audit_checkpoint::Column::Seq.gt(after))
            .order_by_asc(audit_checkpoint::Column::Seq)
            .limit(BATCH)
            .all(conn)
    });

    let mut report = ChainVerification {
        chain,
        entries: 0,
        checkpoints: 0,
        first_break: None,
    };
    let mut expected_seq: i64 = 1;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut pending_checkpoint = checkpoints.next(|c| c.seq).await?;
    let found_break = |report: &mut ChainVerification, seq: i64, entry_id, reason| {
        if report.first_break.is_none() {
            report.first_break = Some(ChainBreak {
                seq: u64::try_from(seq).unwrap_or_default(),
                entry_id,
                reason,
            });
        }
    };

    while let Some(entry) = entries.next(|e| e.seq).await? {
        report.entries += 1;
        let entry_id = Some(AuditEntryId::from(entry.id));
        if entry.seq != expected_seq {
            found_break(&mut report, expected_seq, None, BreakReason::Missing);
        } else if entry.prev_hash != prev_hash {
            found_break(&mut report, entry.seq, entry_id, BreakReason::BrokenLink);
        } else if hashing::entry_hash(&entry) != entry.hash {
            found_break(&mut report, entry.seq, entry_id, BreakReason::HashMismatch);
        }

        // Checkpoints for positions that have no entry of their own are caught by `Missing`.
        while pending_checkpoint
            .as_ref()
            .is_some_and(|checkpoint| checkpoint.seq < entry.seq)
        {
            report.checkpoints += 1;
            pending_checkpoint = checkpoints.next(|c| c.seq).await?;
        }
        match pending_checkpoint.take_if(|checkpoint| checkpoint.seq == entry.seq) {
            None => found_break(
                &mut report,
                entry.seq,
                entry_id,
                BreakReason::CheckpointMissing,
            ),
            Some(checkpoint) => {
                report.checkpoints += 1;
                let message =
                    hashing::checkpoint_message(chain_id, checkpoint.seq, &checkpoint.head_hash);
                match keys.verify(&checkpoint.key_id, &message, &checkpoint.signature) {
                    Verification::Valid if checkpoint.head_hash == entry.hash => {}
                    Verification::Valid => found_break(
                        &mut report,
                        entry.seq,
                        entry_id,
                        BreakReason::CheckpointMismatch,
                    ),
                    Verification::Invalid => {
                        found_break(&mut report, entry.seq, entry_id, BreakReason::BadSignature);
                    }
                    Verification::UnknownKey => found_break(
                        &mut report,
                        entry.seq,
                        entry_id,
                        BreakReason::UnknownKey {
                            key_id: checkpoint.key_id.clone(),
                        },
                    ),
                }
                pending_checkpoint = checkpoints.next(|c| c.seq).await?;
            }
        }

        expected_seq = entry.seq + 1;
        prev_hash = entry.hash;
    }

    // Checkpoints past the last entry: the newest entries are gone. The last such checkpoint
    // shows how far the chain reached.
    let mut last_covered = None;
    while let Some(checkpoint) = pending_checkpoint {
        report.checkpoints += 1;
        let message = hashing::checkpoint_message(chain_id, checkpoint.seq, &checkpoint.head_hash);
        if keys.verify(&checkpoint.key_id, &message, &checkpoint.signature) == Verification::Valid {
            last_covered = Some(checkpoint.seq);
        }
        pending_checkpoint = checkpoints.next(|c| c.seq).await?;
    }
    if let Some(checkpoint_seq) = last_covered {
        found_break(
            &mut report,
            expected_seq,
            None,
            BreakReason::Truncated {
                checkpoint_seq: u64::try_from(checkpoint_seq).unwrap_or_default(),
            },
        );
    }
    Ok(report)
}

/// Verifies every chain in the database.
///
/// # Errors
/// When the database cannot be read.
pub async fn verify_all<C: ConnectionTrait>(
    conn: &C,
    keys: &AuditKeys,
) -> Result<Vec<ChainVerification>, StorageError> {
    let mut reports = Vec::new();
    for chain in chains(conn).await? {
        reports.push(verify_chain(conn, keys, chain).await?);
    }
    Ok(reports)
}

/// Reads rows in batches by increasing sequence number and hands them out one at a time.
struct Batches<T, F> {
    fetch: F,
    buffer: std::vec::IntoIter<T>,
    after: i64,
    exhausted: bool,
}

impl<T, F, Fut> Batches<T, F>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<Vec<T>, sea_orm::DbErr>>,
{
    fn new(fetch: F) -> Self {
        Self {
            fetch,
            buffer: Vec::new().into_iter(),
            after: 0,
            exhausted: false,
        }
    }

    async fn next(&mut self, seq_of: impl Fn(&T) -> i64) -> Result<Option<T>, StorageError> {
        if let Some(row) = self.buffer.next() {
            return Ok(Some(row));
        }
        if self.exhausted {
            return Ok(None);
        }
        let rows = (self.fetch)(self.after).await?;
        self.exhausted = (rows.len() as u64) < BATCH;
        if let Some(last) = rows.last() {
            self.after = seq_of(last);
        }
        self.buffer = rows.into_iter();
        Ok(self.buffer.next())
    }
}
