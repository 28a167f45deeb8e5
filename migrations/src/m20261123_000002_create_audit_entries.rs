//! The audit chains: append-only, hash-linked entries and their signed checkpoints.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Msps, Tenants, foreign_key, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One chain per tenant (chain_id = tenant_id) and one per MSP for MSP-level changes
        // (chain_id = msp_id, tenant_id empty). `before` and `after` hold canonical JSON as text,
        // exactly the bytes that were hashed, so no database re-encoding can alter them.
        manager
            .create_table(
                Table::create()
                    .table(AuditEntries::Table)
                    .col(pk_uuid(AuditEntries::Id))
                    .col(uuid(AuditEntries::ChainId))
                    .col(big_integer(AuditEntries::Seq))
                    .col(uuid(AuditEntries::MspId))
                    .col(uuid_null(AuditEntries::TenantId))
                    .col(timestamp_with_time_zone(AuditEntries::OccurredAt))
                    .col(text(AuditEntries::ActorKind))
                    .col(uuid_null(AuditEntries::ActorId))
                    .col(text(AuditEntries::ActorLabel))
                    .col(text(AuditEntries::Action))
                    .col(text(AuditEntries::SubjectKind))
                    .col(text_null(AuditEntries::SubjectId))
                    .col(text_null(AuditEntries::Before))
                    .col(text_null(AuditEntries::After))
                    .col(text_null(AuditEntries::RequestId))
                    .col(text(AuditEntries::PrevHash))
                    .col(text(AuditEntries::Hash))
                    .check(Expr::cust(
                        "(tenant_id IS NULL AND chain_id = msp_id) \
                         OR (tenant_id IS NOT NULL AND chain_id = tenant_id)",
                    ))
                    .check(Expr::cust("seq >= 1"))
                    .foreign_key(&mut foreign_key(
                        AuditEntries::Table,
                        AuditEntries::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .foreign_key(&mut foreign_key(
                        AuditEntries::Table,
                        AuditEntries::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        // Appending takes the next sequence number; the unique index makes two concurrent
        // appends to one chain collide instead of forking it.
        manager
            .create_index(unique_index(
                "audit_entries_chain_id_seq_key",
                AuditEntries::Table,
                [AuditEntries::ChainId, AuditEntries::Seq],
            ))
            .await?;

        // A signed statement "chain X had length N with head hash H", so truncating the newest
        // entries or recomputing the whole chain is detected.
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(pk_uuid(AuditCheckpoints::Id))
                    .col(uuid(AuditCheckpoints::ChainId))
                    .col(big_integer(AuditCheckpoints::Seq))
                    .col(text(AuditCheckpoints::HeadHash))
                    .col(text(AuditCheckpoints::KeyId))
                    .col(text(AuditCheckpoints::Signature))
                    .col(timestamp_with_time_zone(AuditCheckpoints::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "audit_checkpoints_chain_id_seq_key",
                AuditCheckpoints::Table,
                [AuditCheckpoints::ChainId, AuditCheckpoints::Seq],
            ))
            .await?;

        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuditEntries {
    Table,
    Id,
    ChainId,
    Seq,
    MspId,
    TenantId,
    OccurredAt,
    ActorKind,
    ActorId,
    ActorLabel,
    Action,
    SubjectKind,
    SubjectId,
    Before,
    After,
    RequestId,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Id,
    ChainId,
    Seq,
    HeadHash,
    KeyId,
    Signature,
    CreatedAt,
}
