use sea_orm::entity::prelude::*;

/// One version of one of an MSP's own detection rules, kept after it is replaced or removed.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "detection_rule_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub rule_id: String,
    pub version: String,
    pub title: String,
    pub yaml: String,
    pub reason: String,
    pub author: String,
    pub author_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
