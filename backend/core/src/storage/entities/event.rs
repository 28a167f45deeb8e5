use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub integration_id: Uuid,
    pub external_id: String,
    pub class_uid: i32,
    pub time: DateTimeUtc,
    pub severity_id: i16,
    pub entities: Json,
    pub ocsf: Json,
    pub raw: Json,
    pub received_at: DateTimeUtc,
    /// The vendor feed it was read from (`EventStream::as_str`); `NULL` only for an event
    /// stored before feeds were kept that none of its vendor's feeds yields.
    pub stream: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
