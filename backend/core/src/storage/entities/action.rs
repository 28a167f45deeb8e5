use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "actions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub msp_id: Uuid,
    pub tenant_id: Uuid,
    pub incident_id: Option<Uuid>,
    pub action_type: String,
    pub target_kind: String,
    pub target_id: Uuid,
    pub target_name: String,
    pub reversible: bool,
    pub status: String,
    pub proposer_kind: String,
    pub proposer_user_id: Option<Uuid>,
    pub dedup_key: String,
    pub reasons: Json,
    pub decision: Json,
    pub decision_input: Json,
    pub version: String,
    pub approvals: Json,
    pub integration_id: Option<Uuid>,
    pub snapshot: Option<Json>,
    pub vendor_reference: Option<String>,
    pub detail: Option<String>,
    pub attempt: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub executed_at: Option<DateTimeUtc>,
    pub verified_at: Option<DateTimeUtc>,
    pub rolled_back_at: Option<DateTimeUtc>,
    /// The policy let it run without a person (counted by the hourly rate limits).
    pub automatic: bool,
    /// When it failed or its rollback failed (counted by the circuit breaker).
    pub failed_at: Option<DateTimeUtc>,
    /// Bumped by every change: answers compare-and-set on it.
    pub revision: i32,
    /// When an unanswered approval request expires (rejecting the action).
    pub expires_at: Option<DateTimeUtc>,
    /// When an unanswered approval request also goes to the next approvers.
    pub escalate_at: Option<DateTimeUtc>,
    pub escalation_level: i32,
    /// The batch it was proposed in, with several targets at once.
    pub batch_id: Option<Uuid>,
    /// Its target's place in the batch's request.
    pub batch_position: Option<i32>,
    /// How many targets the batch has.
    pub batch_size: Option<i32>,
    /// What the action needs besides its target; `None` for none.
    pub parameters: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
