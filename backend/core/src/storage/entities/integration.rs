use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "integrations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub vendor: String,
    pub name: String,
    pub settings: Json,
    pub sealed_secret: String,
    pub health: String,
    pub last_error: Option<String>,
    pub last_checked_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The inbound webhook signing secret, sealed; `None` until an MSP admin creates one.
    pub sealed_webhook_secret: Option<String>,
    /// What the connector keeps between synchronizations to read incrementally; opaque.
    pub sync_state: Option<Json>,
    /// SHA-256 (hex) of the log ingest key; `None` until an MSP admin creates one.
    pub ingest_key_sha256: Option<String>,
    /// What the vendor withheld at the last synchronization (`MissingTelemetry` list); `None`
    /// when nothing was.
    pub missing_telemetry: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
