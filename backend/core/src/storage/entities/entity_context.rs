use sea_orm::entity::prelude::*;

/// What the MSP says about a device or identity.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "entity_contexts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    /// `device` or `identity`.
    pub entity_kind: String,
    pub entity_id: Uuid,
    pub criticality: Option<String>,
    pub owner: Option<String>,
    pub business_process: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
