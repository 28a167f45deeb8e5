//! The governed loop: findings and incidents, entity risk, actions with their decisions and
//! approvals, the job outbox, and each tenant's automation level.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{add_column, drop_column, drop_tables, foreign_key, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(add_column(
                Tenants::Table,
                small_integer(Tenants::AutomationLevel).default(2),
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Incidents::Table)
                    .col(pk_uuid(Incidents::Id))
                    .col(uuid(Incidents::MspId))
                    .col(uuid(Incidents::TenantId))
                    .col(text(Incidents::Title))
                    .col(small_integer(Incidents::SeverityId))
                    .col(text(Incidents::Status))
                    .col(uuid_null(Incidents::Assignee))
                    .col(text_null(Incidents::Verdict))
                    .col(json_binary(Incidents::Entities))
                    .col(timestamp_with_time_zone(Incidents::FirstActivityAt))
                    .col(timestamp_with_time_zone(Incidents::CreatedAt))
                    .col(timestamp_with_time_zone_null(Incidents::ContainedAt))
                    .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
                    .col(timestamp_with_time_zone(Incidents::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        Incidents::Table,
                        Incidents::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "incidents_tenant_id_created_at_idx",
                Incidents::Table,
                [Incidents::TenantId, Incidents::CreatedAt],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Findings::Table)
                    .col(pk_uuid(Findings::Id))
                    .col(uuid(Findings::MspId))
                    .col(uuid(Findings::TenantId))
                    .col(uuid(Findings::IncidentId))
                    .col(text(Findings::Source))
                    .col(text(Findings::Rule))
                    // What makes a finding the same one when triage runs again: the vendor
                    // alert's id, or the detection and the events it rests on.
                    .col(text(Findings::DedupKey))
                    .col(text(Findings::Title))
                    .col(small_integer(Findings::SeverityId))
                    .col(timestamp_with_time_zone(Findings::Time))
                    .col(json_binary(Findings::Entities))
                    .col(json_binary(Findings::EventIds))
                    .col(json_binary(Findings::Details))
                    .col(timestamp_with_time_zone(Findings::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        Findings::Table,
                        Findings::IncidentId,
                        Incidents::Table,
                        Incidents::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "findings_tenant_id_dedup_key_key",
                Findings::Table,
                [Findings::TenantId, Findings::DedupKey],
            ))
            .await?;
        manager
            .create_index(index(
                "findings_tenant_id_incident_id_idx",
                Findings::Table,
                [Findings::TenantId, Findings::IncidentId],
            ))
            .await?;

        // Append-only: one row each time an entity's score or factors change, so reports can
        // show risk before and after.
        manager
            .create_table(
                Table::create()
                    .table(RiskScores::Table)
                    .col(pk_uuid(RiskScores::Id))
                    .col(uuid(RiskScores::MspId))
                    .col(uuid(RiskScores::TenantId))
                    .col(text(RiskScores::EntityKind))
                    .col(uuid(RiskScores::EntityId))
                    .col(text(RiskScores::EntityName))
                    .col(small_integer(RiskScores::Score))
                    .col(json_binary(RiskScores::Factors))
                    .col(timestamp_with_time_zone(RiskScores::ComputedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "risk_scores_tenant_id_entity_idx",
                RiskScores::Table,
                [
                    RiskScores::TenantId,
                    RiskScores::EntityKind,
                    RiskScores::EntityId,
                    RiskScores::ComputedAt,
                ],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Actions::Table)
                    .col(pk_uuid(Actions::Id))
                    .col(uuid(Actions::MspId))
                    .col(uuid(Actions::TenantId))
                    .col(uuid_null(Actions::IncidentId))
                    .col(text(Actions::ActionType))
                    .col(text(Actions::TargetKind))
                    .col(uuid(Actions::TargetId))
                    .col(text(Actions::TargetName))
                    .col(boolean(Actions::Reversible))
                    .col(text(Actions::Status))
                    .col(text(Actions::ProposerKind))
                    .col(uuid_null(Actions::ProposerUserId))
                    // The same proposal twice (a retried triage job) is one action.
                    .col(text(Actions::DedupKey))
                    .col(json_binary(Actions::Reasons))
                    .col(json_binary(Actions::Decision))
                    .col(json_binary(Actions::DecisionInput))
                    .col(text(Actions::Version))
                    .col(json_binary(Actions::Approvals))
                    .col(uuid_null(Actions::IntegrationId))
                    .col(json_binary_null(Actions::Snapshot))
                    .col(text_null(Actions::VendorReference))
                    .col(text_null(Actions::Detail))
                    // Each attempt at the vendor gets a new key; a retried job reuses it.
                    .col(integer(Actions::Attempt).default(0))
                    .col(timestamp_with_time_zone(Actions::CreatedAt))
                    .col(timestamp_with_time_zone(Actions::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Actions::ExecutedAt))
                    .col(timestamp_with_time_zone_null(Actions::VerifiedAt))
                    .col(timestamp_with_time_zone_null(Actions::RolledBackAt))
                    .foreign_key(&mut foreign_key(
                        Actions::Table,
                        Actions::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "actions_tenant_id_dedup_key_key",
                Actions::Table,
                [Actions::TenantId, Actions::DedupKey],
            ))
            .await?;
        manager
            .create_index(index(
                "actions_tenant_id_created_at_idx",
                Actions::Table,
                [Actions::TenantId, Actions::CreatedAt],
            ))
            .await?;

        // Jobs to enqueue, written in the transaction of the change that causes them; a relay
        // hands them to the job queue and marks them dispatched.
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(pk_uuid(Outbox::Id))
                    .col(uuid(Outbox::MspId))
                    .col(uuid(Outbox::TenantId))
                    .col(json_binary(Outbox::Job))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::DispatchedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "outbox_dispatched_at_idx",
                Outbox::Table,
                [Outbox::DispatchedAt, Outbox::Id],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                Outbox::Table.into_iden(),
                Actions::Table.into_iden(),
                RiskScores::Table.into_iden(),
                Findings::Table.into_iden(),
                Incidents::Table.into_iden(),
            ],
        )
        .await?;
        manager
            .alter_table(drop_column(Tenants::Table, Tenants::AutomationLevel))
            .await
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    AutomationLevel,
}

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    MspId,
    TenantId,
    Title,
    SeverityId,
    Status,
    Assignee,
    Verdict,
    Entities,
    FirstActivityAt,
    CreatedAt,
    ContainedAt,
    ResolvedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Findings {
    Table,
    Id,
    MspId,
    TenantId,
    IncidentId,
    Source,
    Rule,
    DedupKey,
    Title,
    SeverityId,
    Time,
    Entities,
    EventIds,
    Details,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RiskScores {
    Table,
    Id,
    MspId,
    TenantId,
    EntityKind,
    EntityId,
    EntityName,
    Score,
    Factors,
    ComputedAt,
}

#[derive(DeriveIden)]
enum Actions {
    Table,
    Id,
    MspId,
    TenantId,
    IncidentId,
    ActionType,
    TargetKind,
    TargetId,
    TargetName,
    Reversible,
    Status,
    ProposerKind,
    ProposerUserId,
    DedupKey,
    Reasons,
    Decision,
    DecisionInput,
    Version,
    Approvals,
    IntegrationId,
    Snapshot,
    VendorReference,
    Detail,
    Attempt,
    CreatedAt,
    UpdatedAt,
    ExecutedAt,
    VerifiedAt,
    RolledBackAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    MspId,
    TenantId,
    Job,
    CreatedAt,
    DispatchedAt,
}
