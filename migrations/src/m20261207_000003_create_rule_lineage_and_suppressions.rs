//! The lineage of the MSP's own detection rules (every version kept with who made it, when and
//! why), and suppressions that tune a rule in one tenant: the field conditions under which the
//! rule's matches are not findings there, why, who decided it and until when.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Msps, Tenants, drop_tables, foreign_key, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DetectionRuleVersions::Table)
                    .col(uuid(DetectionRuleVersions::Id).primary_key())
                    .col(uuid(DetectionRuleVersions::MspId))
                    .col(text(DetectionRuleVersions::RuleId))
                    .col(text(DetectionRuleVersions::Version))
                    .col(text(DetectionRuleVersions::Title))
                    .col(text(DetectionRuleVersions::Yaml))
                    .col(text(DetectionRuleVersions::Reason))
                    .col(text(DetectionRuleVersions::Author))
                    .col(uuid_null(DetectionRuleVersions::AuthorId))
                    .col(timestamp_with_time_zone(DetectionRuleVersions::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        DetectionRuleVersions::Table,
                        DetectionRuleVersions::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "detection_rule_versions_msp_rule_idx",
                DetectionRuleVersions::Table,
                [DetectionRuleVersions::MspId, DetectionRuleVersions::RuleId],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DetectionSuppressions::Table)
                    .col(uuid(DetectionSuppressions::Id).primary_key())
                    .col(uuid(DetectionSuppressions::MspId))
                    .col(uuid(DetectionSuppressions::TenantId))
                    .col(text(DetectionSuppressions::RuleId))
                    .col(json_binary(DetectionSuppressions::Conditions))
                    .col(text(DetectionSuppressions::Reason))
                    .col(text(DetectionSuppressions::Author))
                    .col(uuid_null(DetectionSuppressions::AuthorId))
                    .col(timestamp_with_time_zone_null(
                        DetectionSuppressions::ExpiresAt,
                    ))
                    .col(timestamp_with_time_zone(DetectionSuppressions::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        DetectionSuppressions::Table,
                        DetectionSuppressions::TenantId,
                        Tenants::Table,
                        Tenants::Id,
                        ForeignKeyAction::Restrict,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "detection_suppressions_tenant_rule_idx",
                DetectionSuppressions::Table,
                [
                    DetectionSuppressions::TenantId,
                    DetectionSuppressions::RuleId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            manager,
            [
                DetectionSuppressions::Table.into_iden(),
                DetectionRuleVersions::Table.into_iden(),
            ],
        )
        .await
    }
}

#[derive(DeriveIden)]
enum DetectionRuleVersions {
    Table,
    Id,
    MspId,
    RuleId,
    Version,
    Title,
    Yaml,
    Reason,
    Author,
    AuthorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum DetectionSuppressions {
    Table,
    Id,
    MspId,
    TenantId,
    RuleId,
    Conditions,
    Reason,
    Author,
    AuthorId,
    ExpiresAt,
    CreatedAt,
}
