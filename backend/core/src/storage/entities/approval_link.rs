use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approval_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub action_id: Uuid,
    pub user_id: Uuid,
    pub channel: String,
    pub version: String,
    pub token_hash: String,
    pub escalation_level: i32,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub viewed_at: Option<DateTimeUtc>,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
