use sea_orm::entity::prelude::*;

/// One slot of a vendor's budget of concurrent synchronizations, shared by every worker.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "vendor_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vendor: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub slot: i32,
    /// Who holds it; `None` when free.
    pub holder: Option<Uuid>,
    /// The tenant the holder synchronizes.
    pub tenant_id: Option<Uuid>,
    /// When the hold lapses if its worker never lets go.
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
