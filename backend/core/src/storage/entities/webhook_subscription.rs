use sea_orm::entity::prelude::*;

/// A URL an MSP subscribed to Steward's events.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub url: String,
    pub description: String,
    /// The event names, a JSON array.
    pub events: Json,
    pub tenant_id: Option<Uuid>,
    pub enabled: bool,
    /// The Standard Webhooks signing secret, sealed.
    pub sealed_secret: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
