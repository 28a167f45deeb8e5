//! The governed loop: findings and incidents, entity risk, actions with their decisions and
//! approvals, the job outbox, and each tenant's automation level.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Creates `(tenant_id, cols…)` indexes, unique or not.
async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + Copy + 'static,
    cols: &[DynIden],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col.clone());
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(small_integer(Tenants::AutomationLevel).default(2))
                    .to_owned(),
            )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(Incidents::Table, Incidents::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "incidents_tenant_id_created_at_idx",
            Incidents::Table,
            &[
                Incidents::TenantId.into_iden(),
                Incidents::CreatedAt.into_iden(),
            ],
            false,
        )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(Findings::Table, Findings::IncidentId)
                            .to(Incidents::Table, Incidents::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "findings_tenant_id_dedup_key_key",
            Findings::Table,
            &[
                Findings::TenantId.into_iden(),
                Findings::DedupKey.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "findings_tenant_id_incident_id_idx",
            Findings::Table,
            &[
                Findings::TenantId.into_iden(),
                Findings::IncidentId.into_iden(),
            ],
            false,
        )
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
        index(
            manager,
            "risk_scores_tenant_id_entity_idx",
            RiskScores::Table,
            &[
                RiskScores::TenantId.into_iden(),
                RiskScores::EntityKind.into_iden(),
                RiskScores::EntityId.into_iden(),
                RiskScores::ComputedAt.into_iden(),
            ],
            false,
        )
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
                    .foreign_key(
                        ForeignKey::create()
                            .from(Actions::Table, Actions::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "actions_tenant_id_dedup_key_key",
            Actions::Table,
            &[Actions::TenantId.into_iden(), Actions::DedupKey.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "actions_tenant_id_created_at_idx",
            Actions::Table,
            &[
                Actions::TenantId.into_iden(),
                Actions::CreatedAt.into_iden(),
            ],
            false,
        )
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
        index(
            manager,
            "outbox_dispatched_at_idx",
            Outbox::Table,
            &[Outbox::DispatchedAt.into_iden(), Outbox::Id.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            Actions::Table.into_iden(),
            RiskScores::Table.into_iden(),
            Findings::Table.into_iden(),
            Incidents::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .drop_column(Tenants::AutomationLevel)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    AutomationLevel,
}

#[derive(DeriveIden, Clone, Copy)]
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

#[derive(DeriveIden, Clone, Copy)]
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

#[derive(DeriveIden, Clone, Copy)]
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

#[derive(DeriveIden, Clone, Copy)]
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

#[derive(DeriveIden, Clone, Copy)]
enum Outbox {
    Table,
    Id,
    MspId,
    TenantId,
    Job,
    CreatedAt,
    DispatchedAt,
}
