//! The open windows of a tenant's correlation rules, one snapshot per tenant. Like the
//! sign-in baselines, derived from the stored events the rules saw, so keeping it up to date
//! makes no audit entries; the findings it leads to are audited.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::Value;
use steward_domain::{MspId, TenantId};

use super::{StorageError, WriteContext, entities::correlation_window, new_id, scoping::InTenant};

/// The tenant's snapshot, if one was kept.
pub(crate) async fn load(
    conn: &impl ConnectionTrait,
    msp_id: MspId,
    tenant_id: TenantId,
) -> Result<Option<Value>, StorageError> {
    Ok(correlation_window::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .one(conn)
        .await?
        .map(|row| row.snapshot))
}

/// Keeps the tenant's snapshot, replacing the one it had.
pub(crate) async fn save(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    snapshot: Value,
) -> Result<(), StorageError> {
    let now = ctx.clock.now();
    match correlation_window::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .one(ctx.txn)
        .await?
    {
        Some(row) => {
            let mut row = row.into_active_model();
            row.snapshot = Set(snapshot);
            row.updated_at = Set(now);
            row.update(ctx.txn).await?;
        }
        None => {
            correlation_window::ActiveModel {
                id: Set(new_id(ctx.clock)),
                msp_id: Set(msp_id.as_uuid()),
                tenant_id: Set(tenant_id.as_uuid()),
                snapshot: Set(snapshot),
                updated_at: Set(now),
            }
            .insert(ctx.txn)
            .await?;
        }
    }
    Ok(())
}
