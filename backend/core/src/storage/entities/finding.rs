use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "findings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    pub source: String,
    pub rule: String,
    pub dedup_key: String,
    pub title: String,
    pub severity_id: i16,
    pub time: DateTimeUtc,
    pub entities: Json,
    pub event_ids: Json,
    pub details: Json,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
