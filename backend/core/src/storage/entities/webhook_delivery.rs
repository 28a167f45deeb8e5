use sea_orm::entity::prelude::*;

/// One event for one webhook subscription, with its attempts.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// The message id, `msg_…`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub msp_id: Uuid,
    pub subscription_id: Uuid,
    pub tenant_id: Uuid,
    pub event: String,
    pub payload: Json,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_attempt_at: Option<DateTimeUtc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
