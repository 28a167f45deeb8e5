//! What the MSP says about a tenant's devices and identities: business context.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use steward_domain::{
    MspId, TenantId,
    actions::{Criticality, TargetKind},
    incidents::EntityKey,
    inventory::BusinessContext,
};

use super::{
    StorageError, WriteContext,
    entities::{device, entity_context, identity},
    new_id,
    scoping::InTenant,
};
use crate::{
    audit::{self, ChainRef, Change},
    jobs::{self, Job},
};

/// The longest owner or business process accepted.
pub const MAX_CONTEXT_TEXT: usize = 200;

/// Why business context was refused.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("no {0} {1} in this tenant")]
    NotFound(&'static str, uuid::Uuid),
    #[error("{0} {1}")]
    Invalid(&'static str, #[source] steward_domain::text::TextError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

const fn kind_str(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Device => "device",
        TargetKind::Identity => "identity",
    }
}

fn to_context(row: &entity_context::Model) -> BusinessContext {
    BusinessContext {
        criticality: row
            .criticality
            .as_deref()
            .and_then(|c| serde_json::from_value(serde_json::json!(c)).ok()),
        owner: row.owner.clone(),
        business_process: row.business_process.clone(),
    }
}

/// The business context of every entity of `kind` in the tenant, by entity id.
pub(crate) async fn of_kind<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    kind: TargetKind,
) -> Result<HashMap<uuid::Uuid, BusinessContext>, StorageError> {
    Ok(entity_context::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(entity_context::Column::EntityKind.eq(kind_str(kind)))
        .all(conn)
        .await?
        .iter()
        .map(|row| (row.entity_id, to_context(row)))
        .collect())
}

/// The business context of one entity.
pub(crate) async fn of_entity<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    entity: EntityKey,
) -> Result<Option<BusinessContext>, StorageError> {
    Ok(row(conn, msp_id, tenant_id, entity)
        .await?
        .as_ref()
        .map(to_context))
}

async fn row<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
    entity: EntityKey,
) -> Result<Option<entity_context::Model>, StorageError> {
    Ok(entity_context::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(entity_context::Column::EntityKind.eq(kind_str(entity.kind)))
        .filter(entity_context::Column::EntityId.eq(entity.id))
        .one(conn)
        .await?)
}

fn cleaned(value: Option<&str>, what: &'static str) -> Result<Option<String>, ContextError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    steward_domain::text::name(value, MAX_CONTEXT_TEXT)
        .map(Some)
        .map_err(|problem| ContextError::Invalid(what, problem))
}

/// Sets an entity's business context (empty fields clear), audits it, and queues its risk to
/// be recomputed, since criticality is one of its inputs.
pub(crate) async fn set(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    entity: EntityKey,
    context: &BusinessContext,
) -> Result<BusinessContext, ContextError> {
    let exists = match entity.kind {
        TargetKind::Device => device::Entity::find_by_id(entity.id)
            .in_tenant(msp_id, tenant_id)
            .one(ctx.txn)
            .await
            .map_err(StorageError::from)?
            .is_some(),
        TargetKind::Identity => identity::Entity::find_by_id(entity.id)
            .in_tenant(msp_id, tenant_id)
            .one(ctx.txn)
            .await
            .map_err(StorageError::from)?
            .is_some(),
    };
    if !exists {
        return Err(ContextError::NotFound(kind_str(entity.kind), entity.id));
    }
    let after = BusinessContext {
        criticality: context.criticality,
        owner: cleaned(context.owner.as_deref(), "owner")?,
        business_process: cleaned(context.business_process.as_deref(), "business_process")?,
    };
    let criticality = after.criticality.map(|c: Criticality| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    let existing = row(ctx.txn, msp_id, tenant_id, entity).await?;
    let before = existing.as_ref().map(to_context);
    if before.as_ref() == Some(&after) {
        return Ok(after);
    }
    let now = ctx.clock.now();
    match existing {
        Some(row) => {
            let mut active = row.into_active_model();
            active.criticality = Set(criticality);
            active.owner = Set(after.owner.clone());
            active.business_process = Set(after.business_process.clone());
            active.updated_at = Set(now);
            active.update(ctx.txn).await.map_err(StorageError::from)?;
        }
        None => {
            entity_context::ActiveModel {
                id: Set(new_id(ctx.clock)),
                msp_id: Set(msp_id.as_uuid()),
                tenant_id: Set(tenant_id.as_uuid()),
                entity_kind: Set(kind_str(entity.kind).to_owned()),
                entity_id: Set(entity.id),
                criticality: Set(criticality),
                owner: Set(after.owner.clone()),
                business_process: Set(after.business_process.clone()),
                updated_at: Set(now),
            }
            .insert(ctx.txn)
            .await
            .map_err(StorageError::from)?;
        }
    }
    let action = match entity.kind {
        TargetKind::Device => "device.context_set",
        TargetKind::Identity => "identity.context_set",
    };
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new(action, kind_str(entity.kind), &entity.id)
            .before(&before)
            .after(&after),
    )
    .await?;
    jobs::enqueue(ctx, msp_id, &Job::RefreshRisk { tenant_id, entity }).await?;
    Ok(after)
}
