use sea_orm::entity::prelude::*;

/// A Sigma rule an MSP uploaded, as uploaded.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "detection_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    /// The rule's own `id`.
    pub rule_id: String,
    pub title: String,
    /// A digest of the rule's canonical form.
    pub version: String,
    pub yaml: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
