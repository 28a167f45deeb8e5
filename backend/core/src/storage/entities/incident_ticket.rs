use sea_orm::entity::prelude::*;

/// An incident's ticket in one PSA integration.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Uuid,
    pub integration_id: Uuid,
    /// The PSA's ticket id.
    pub ticket_id: String,
    /// The status name the PSA last showed.
    pub ticket_status: String,
    pub ticket_closed: bool,
    /// The incident status last written to the ticket (or taken from it).
    pub synced_status: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
