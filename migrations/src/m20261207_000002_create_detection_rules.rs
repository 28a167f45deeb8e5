//! Detection content an MSP manages: its own Sigma rules (the YAML as uploaded, with the
//! version Steward computed), and whether a rule — built in or its own — is on for the whole
//! MSP (`scope` `msp`) or for one tenant (`scope` the tenant's id), overriding the MSP's choice.

use sea_orm_migration::{prelude::*, schema::*};

use crate::schema_kit::{Msps, drop_table, foreign_key, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DetectionRules::Table)
                    .col(uuid(DetectionRules::Id).primary_key())
                    .col(uuid(DetectionRules::MspId))
                    .col(text(DetectionRules::RuleId))
                    .col(text(DetectionRules::Title))
                    .col(text(DetectionRules::Version))
                    .col(text(DetectionRules::Yaml))
                    .col(timestamp_with_time_zone(DetectionRules::CreatedAt))
                    .col(timestamp_with_time_zone(DetectionRules::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        DetectionRules::Table,
                        DetectionRules::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "detection_rules_msp_rule_key",
                DetectionRules::Table,
                [DetectionRules::MspId, DetectionRules::RuleId],
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DetectionRuleStates::Table)
                    .col(uuid(DetectionRuleStates::Id).primary_key())
                    .col(uuid(DetectionRuleStates::MspId))
                    .col(text(DetectionRuleStates::Scope))
                    .col(text(DetectionRuleStates::RuleId))
                    .col(boolean(DetectionRuleStates::Enabled))
                    .col(timestamp_with_time_zone(DetectionRuleStates::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        DetectionRuleStates::Table,
                        DetectionRuleStates::MspId,
                        Msps::Table,
                        Msps::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(unique_index(
                "detection_rule_states_scope_key",
                DetectionRuleStates::Table,
                [
                    DetectionRuleStates::MspId,
                    DetectionRuleStates::Scope,
                    DetectionRuleStates::RuleId,
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(drop_table(DetectionRuleStates::Table))
            .await?;
        manager.drop_table(drop_table(DetectionRules::Table)).await
    }
}

#[derive(DeriveIden)]
enum DetectionRules {
    Table,
    Id,
    MspId,
    RuleId,
    Title,
    Version,
    Yaml,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DetectionRuleStates {
    Table,
    Id,
    MspId,
    Scope,
    RuleId,
    Enabled,
    UpdatedAt,
}
