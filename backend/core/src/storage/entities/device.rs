use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub hostname: String,
    pub os_platform: Option<String>,
    pub health: Option<String>,
    pub last_seen: Option<DateTimeUtc>,
    pub entra_device_id: Option<String>,
    pub serial_number: Option<String>,
    /// MAC addresses (strings); `None` when no source reports one.
    pub mac_addresses: Option<Json>,
    pub tags: Json,
    pub first_seen_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// `AttributeConflict`s; `None` when the sources agree.
    pub conflicts: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
