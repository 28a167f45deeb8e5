//! Suppressions of detection rules, each in one tenant. Persistence only: what a suppression
//! keeps from becoming a finding, and the replay over history before one is saved, are the
//! detection stage's (`crate::detection::tuning`). Every suppression made or removed is in the
//! tenant's audit chain.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use steward_domain::{
    MspId, TenantId, UserId,
    detections::{Condition, HiddenFinding, Suppression, SuppressionRequest},
};

use super::{
    StorageError, WriteContext, entities::detection_suppression, new_id, scoping::InTenant,
};
use crate::audit::{self, ChainRef, Change};

fn suppression(row: detection_suppression::Model) -> Result<Suppression, StorageError> {
    let conditions: Vec<Condition> = serde_json::from_value(row.conditions)
        .map_err(|e| StorageError::corrupt("suppression conditions", &e))?;
    Ok(Suppression {
        id: row.id,
        tenant_id: TenantId::from_uuid(row.tenant_id),
        rule_id: row.rule_id,
        conditions,
        reason: row.reason,
        author: row.author,
        author_id: row.author_id.map(UserId::from_uuid),
        expires_at: row.expires_at,
        created_at: row.created_at,
    })
}

/// Reads one tenant's suppressions.
#[derive(Debug, Clone, Copy)]
pub struct SuppressionReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> SuppressionReader<'c, C> {
    #[must_use]
    pub fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    /// The tenant's suppressions, of one rule when `rule_id` is given, oldest first; expired
    /// ones too (they are history).
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn list(&self, rule_id: Option<&str>) -> Result<Vec<Suppression>, StorageError> {
        let mut query = detection_suppression::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .order_by_asc(detection_suppression::Column::Id);
        if let Some(rule_id) = rule_id {
            query = query.filter(detection_suppression::Column::RuleId.eq(rule_id));
        }
        query
            .all(self.conn)
            .await?
            .into_iter()
            .map(suppression)
            .collect()
    }
}

/// Stores a checked suppression of `rule_id` in the tenant, made by the context's actor; the
/// true positives its replay showed it would have hidden, accepted by that actor, go into the
/// audit entry with it.
pub(crate) async fn create(
    ctx: &WriteContext<'_>,
    tenant: (MspId, TenantId),
    rule_id: &str,
    request: &SuppressionRequest,
    accepted_hidden: &[HiddenFinding],
) -> Result<Suppression, StorageError> {
    let (msp_id, tenant_id) = tenant;
    let row = detection_suppression::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(tenant_id.as_uuid()),
        rule_id: Set(rule_id.to_owned()),
        conditions: Set(json!(request.conditions)),
        reason: Set(request.reason.trim().to_owned()),
        author: Set(ctx.actor.label.clone()),
        author_id: Set(ctx.actor.user_id.map(|id| id.as_uuid())),
        expires_at: Set(request.expires_at),
        created_at: Set(ctx.clock.now()),
    }
    .insert(ctx.txn)
    .await?;
    let made = suppression(row)?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("detection_rule.suppressed", "detection_rule", &rule_id).after(&json!({
            "suppression": made,
            "accepted_hidden_true_positives": accepted_hidden,
        })),
    )
    .await?;
    Ok(made)
}

/// Removes one of the tenant's suppressions; `None` when it has no such suppression.
pub(crate) async fn remove(
    ctx: &WriteContext<'_>,
    tenant: (MspId, TenantId),
    id: uuid::Uuid,
) -> Result<Option<Suppression>, StorageError> {
    let (msp_id, tenant_id) = tenant;
    let Some(row) = detection_suppression::Entity::find_by_id(id)
        .in_tenant(msp_id, tenant_id)
        .one(ctx.txn)
        .await?
    else {
        return Ok(None);
    };
    detection_suppression::Entity::delete_many()
        .in_tenant(msp_id, tenant_id)
        .filter(detection_suppression::Column::Id.eq(id))
        .exec(ctx.txn)
        .await?;
    let removed = suppression(row)?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new(
            "detection_rule.suppression_removed",
            "detection_rule",
            &removed.rule_id,
        )
        .before(&removed),
    )
    .await?;
    Ok(Some(removed))
}
