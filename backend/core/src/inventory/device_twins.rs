//! Folding a twin device into the record it duplicates.
//!
//! Two records of one machine exist when two synchronizations of the same tenant ran at once
//! before they were serialized (each created the device the other had not committed yet). The
//! earlier record survives: the twin's vendor reports, the actions aimed at it, its business
//! context and every finding and incident naming it move to the survivor, its risk score
//! goes (the survivor's is computed again), and the twin is deleted — all in the caller's
//! transaction, recorded in the tenant's audit chain.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
    sea_query::Expr,
};
use serde_json::{Value, json};
use steward_domain::{MspId, TenantId};
use uuid::Uuid;

use crate::{
    audit::{self, ChainRef, Change},
    storage::{
        StorageError, WriteContext,
        entities::{action, device, entity_context, entity_source, finding, incident},
    },
};

const DEVICE: &str = "device";

/// Moves everything of `twin` to `survivor` and deletes `twin`.
///
/// # Errors
/// When the database cannot be read or written.
pub(crate) async fn fold(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    survivor: &device::Model,
    twin: &device::Model,
) -> Result<(), StorageError> {
    let txn = ctx.connection();
    let (msp, tenant) = (msp_id.as_uuid(), tenant_id.as_uuid());
    entity_source::Entity::update_many()
        .col_expr(entity_source::Column::EntityId, Expr::value(survivor.id))
        .filter(entity_source::Column::MspId.eq(msp))
        .filter(entity_source::Column::TenantId.eq(tenant))
        .filter(entity_source::Column::EntityKind.eq(DEVICE))
        .filter(entity_source::Column::EntityId.eq(twin.id))
        .exec(txn)
        .await?;
    action::Entity::update_many()
        .col_expr(action::Column::TargetId, Expr::value(survivor.id))
        .filter(action::Column::MspId.eq(msp))
        .filter(action::Column::TenantId.eq(tenant))
        .filter(action::Column::TargetKind.eq(DEVICE))
        .filter(action::Column::TargetId.eq(twin.id))
        .exec(txn)
        .await?;
    crate::storage::entities::risk_score::Entity::delete_many()
        .filter(crate::storage::entities::risk_score::Column::MspId.eq(msp))
        .filter(crate::storage::entities::risk_score::Column::TenantId.eq(tenant))
        .filter(crate::storage::entities::risk_score::Column::EntityKind.eq(DEVICE))
        .filter(crate::storage::entities::risk_score::Column::EntityId.eq(twin.id))
        .exec(txn)
        .await?;
    move_context(txn, msp, tenant, survivor.id, twin.id).await?;
    repoint_entities(txn, msp, tenant, survivor.id, twin.id).await?;
    device::Entity::delete_many()
        .filter(device::Column::MspId.eq(msp))
        .filter(device::Column::TenantId.eq(tenant))
        .filter(device::Column::Id.eq(twin.id))
        .exec(txn)
        .await?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("device.merged", DEVICE, &survivor.id)
            .before(&json!({"twin": twin.id, "hostname": twin.hostname}))
            .after(&json!({"id": survivor.id, "hostname": survivor.hostname})),
    )
    .await?;
    Ok(())
}

/// The twin's business context moves to the survivor unless the survivor has its own.
async fn move_context<C: ConnectionTrait>(
    txn: &C,
    msp: Uuid,
    tenant: Uuid,
    survivor: Uuid,
    twin: Uuid,
) -> Result<(), StorageError> {
    let of = |id: Uuid| {
        entity_context::Entity::find()
            .filter(entity_context::Column::MspId.eq(msp))
            .filter(entity_context::Column::TenantId.eq(tenant))
            .filter(entity_context::Column::EntityKind.eq(DEVICE))
            .filter(entity_context::Column::EntityId.eq(id))
    };
    let Some(moving) = of(twin).one(txn).await? else {
        return Ok(());
    };
    if of(survivor).one(txn).await?.is_some() {
        entity_context::Entity::delete_by_id(moving.id)
            .exec(txn)
            .await?;
    } else {
        let mut active = moving.into_active_model();
        active.entity_id = Set(survivor);
        active.update(txn).await?;
    }
    Ok(())
}

/// Findings and incidents name their entities in a JSON list: the twin's id becomes the
/// survivor's (once, where a list named both). Events name them by the vendor's id, which
/// resolves through the moved reports.
async fn repoint_entities<C: ConnectionTrait>(
    txn: &C,
    msp: Uuid,
    tenant: Uuid,
    survivor: Uuid,
    twin: Uuid,
) -> Result<(), StorageError> {
    let (from, to) = (twin.to_string(), survivor.to_string());
    // The same for each table: its rows of the tenant whose list names the twin.
    macro_rules! repoint {
        ($table:ident) => {
            for row in $table::Entity::find()
                .filter($table::Column::MspId.eq(msp))
                .filter($table::Column::TenantId.eq(tenant))
                .all(txn)
                .await?
            {
                if let Some(entities) = replaced(&row.entities, &from, &to) {
                    let mut active = row.into_active_model();
                    active.entities = Set(entities);
                    active.update(txn).await?;
                }
            }
        };
    }
    repoint!(finding);
    repoint!(incident);
    Ok(())
}

/// `entities` with every `from` id replaced by `to` and repeated entries dropped; `None` when
/// it did not name `from`.
fn replaced(entities: &Value, from: &str, to: &str) -> Option<Value> {
    fn swap(value: &mut Value, from: &str, to: &str) -> bool {
        match value {
            Value::String(text) if text == from => {
                to.clone_into(text);
                true
            }
            Value::Array(items) => {
                let mut changed = false;
                for item in items.iter_mut() {
                    changed |= swap(item, from, to);
                }
                if changed {
                    let mut seen = Vec::new();
                    items.retain(|item| {
                        let fresh = !seen.contains(item);
                        if fresh {
                            seen.push(item.clone());
                        }
                        fresh
                    });
                }
                changed
            }
            Value::Object(fields) => {
                let mut changed = false;
                for item in fields.values_mut() {
                    changed |= swap(item, from, to);
                }
                changed
            }
            _ => false,
        }
    }
    let mut entities = entities.clone();
    swap(&mut entities, from, to).then_some(entities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_twin_is_renamed_once_in_entity_lists() {
        let entities = json!([
            {"kind": "device", "id": "twin"},
            {"kind": "identity", "id": "someone"},
            {"kind": "device", "id": "survivor"},
        ]);
        assert_eq!(
            replaced(&entities, "twin", "survivor"),
            Some(json!([
                {"kind": "device", "id": "survivor"},
                {"kind": "identity", "id": "someone"},
            ]))
        );
        assert_eq!(replaced(&entities, "nobody", "survivor"), None);
    }
}
