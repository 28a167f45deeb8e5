use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "identities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub user_principal_name: String,
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub enabled: Option<bool>,
    pub admin_roles: Json,
    pub first_seen_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Whether a second factor is registered; `None` when no provider said.
    pub mfa_registered: Option<bool>,
    /// Names of the groups it is a member of; `None` when no provider reports groups.
    pub groups: Option<Json>,
    /// `AttributeConflict`s; `None` when the sources agree.
    pub conflicts: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
