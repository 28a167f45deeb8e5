//! The inventory (devices, identities, and which integration reported what) and stored events.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Tenants, drop_tables, foreign_key, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .col(pk_uuid(Devices::Id))
                    .col(uuid(Devices::MspId))
                    .col(uuid(Devices::TenantId))
                    .col(text(Devices::Hostname))
                    .col(text_null(Devices::OsPlatform))
                    .col(text_null(Devices::Health))
                    .col(timestamp_with_time_zone_null(Devices::LastSeen))
                    .col(text_null(Devices::EntraDeviceId))
                    .col(json_binary(Devices::Tags))
                    .col(timestamp_with_time_zone(Devices::FirstSeenAt))
                    .col(timestamp_with_time_zone(Devices::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        Devices::Table,
                        Devices::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "devices_tenant_id_hostname_idx",
                Devices::Table,
                [Devices::TenantId, Devices::Hostname],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Identities::Table)
                    .col(pk_uuid(Identities::Id))
                    .col(uuid(Identities::MspId))
                    .col(uuid(Identities::TenantId))
                    .col(text(Identities::UserPrincipalName))
                    .col(text_null(Identities::DisplayName))
                    .col(text_null(Identities::Department))
                    .col(text_null(Identities::JobTitle))
                    .col(boolean_null(Identities::Enabled))
                    .col(json_binary(Identities::AdminRoles))
                    .col(timestamp_with_time_zone(Identities::FirstSeenAt))
                    .col(timestamp_with_time_zone(Identities::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        Identities::Table,
                        Identities::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "identities_tenant_id_upn_key",
                Identities::Table,
                [Identities::TenantId, Identities::UserPrincipalName],
            ))
            .await?;

        // Provenance: one row per (integration, kind, vendor id), pointing at the merged entity.
        manager
            .create_table(
                Table::create()
                    .table(EntitySources::Table)
                    .col(pk_uuid(EntitySources::Id))
                    .col(uuid(EntitySources::MspId))
                    .col(uuid(EntitySources::TenantId))
                    .col(text(EntitySources::EntityKind))
                    .col(uuid(EntitySources::EntityId))
                    .col(uuid(EntitySources::IntegrationId))
                    .col(text(EntitySources::ExternalId))
                    .col(json_binary(EntitySources::Attributes))
                    .col(timestamp_with_time_zone(EntitySources::FirstSeenAt))
                    .col(timestamp_with_time_zone(EntitySources::LastSeenAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "entity_sources_integration_kind_external_key",
                EntitySources::Table,
                [
                    EntitySources::TenantId,
                    EntitySources::IntegrationId,
                    EntitySources::EntityKind,
                    EntitySources::ExternalId,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "entity_sources_entity_idx",
                EntitySources::Table,
                [EntitySources::TenantId, EntitySources::EntityId],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(pk_uuid(Events::Id))
                    .col(uuid(Events::MspId))
                    .col(uuid(Events::TenantId))
                    .col(uuid(Events::IntegrationId))
                    .col(text(Events::ExternalId))
                    .col(integer(Events::ClassUid))
                    .col(timestamp_with_time_zone(Events::Time))
                    .col(small_integer(Events::SeverityId))
                    .col(json_binary(Events::Entities))
                    .col(json_binary(Events::Ocsf))
                    .col(json_binary(Events::Raw))
                    .col(timestamp_with_time_zone(Events::ReceivedAt))
                    .foreign_key(&mut foreign_key(
                        Events::Table,
                        Events::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "events_integration_class_external_key",
                Events::Table,
                [
                    Events::TenantId,
                    Events::IntegrationId,
                    Events::ClassUid,
                    Events::ExternalId,
                ],
            ))
            .await?;
        manager
            .create_index(index(
                "events_tenant_id_time_idx",
                Events::Table,
                [Events::TenantId, Events::Time],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                Events::Table.into_iden(),
                EntitySources::Table.into_iden(),
                Identities::Table.into_iden(),
                Devices::Table.into_iden(),
            ],
        )
        .await
    }
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    MspId,
    TenantId,
    Hostname,
    OsPlatform,
    Health,
    LastSeen,
    EntraDeviceId,
    Tags,
    FirstSeenAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Identities {
    Table,
    Id,
    MspId,
    TenantId,
    UserPrincipalName,
    DisplayName,
    Department,
    JobTitle,
    Enabled,
    AdminRoles,
    FirstSeenAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EntitySources {
    Table,
    Id,
    MspId,
    TenantId,
    EntityKind,
    EntityId,
    IntegrationId,
    ExternalId,
    Attributes,
    FirstSeenAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    MspId,
    TenantId,
    IntegrationId,
    ExternalId,
    ClassUid,
    Time,
    SeverityId,
    Entities,
    Ocsf,
    Raw,
    ReceivedAt,
}
