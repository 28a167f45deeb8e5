use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub title: String,
    pub severity_id: i16,
    pub status: String,
    pub assignee: Option<Uuid>,
    pub verdict: Option<String>,
    pub entities: Json,
    pub first_activity_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub contained_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
