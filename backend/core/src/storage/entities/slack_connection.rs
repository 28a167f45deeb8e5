use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "slack_connections")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub msp_id: Uuid,
    pub api_base_url: String,
    pub channel: String,
    pub bot_token_sealed: String,
    pub signing_secret_sealed: String,
    pub users: Json,
    pub updated_at: DateTimeUtc,
    /// Tenant id → the channel shared with that customer; `None` for none.
    pub tenant_channels: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
