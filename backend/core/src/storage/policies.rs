//! Per-tenant authority policies: an MSP admin's Rego replacing the deployment's policy for
//! one tenant. Only a [`CheckedPolicy`] is stored; the authority policy's stage makes one.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::json;
use steward_domain::{MspId, TenantId, actions::TenantPolicy};

use super::{StorageError, WriteContext, entities::tenant_policy, scoping::InTenant};
use crate::audit::{self, ChainRef, Change};

/// A tenant policy that passed the authority policy's checks (`crate::decisions::policy::tenant::check`,
/// the only maker of one): the only thing storage accepts as a tenant policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPolicy {
    source: String,
    sha256: String,
}

impl CheckedPolicy {
    /// For the check, once `source` passed it; `sha256` is its hex-encoded SHA-256.
    pub(crate) fn passed(source: String, sha256: String) -> Self {
        Self { source, sha256 }
    }

    /// The Rego source.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The SHA-256 of the source, hex-encoded: the policy's identity in decisions and audit.
    #[must_use]
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

/// The tenant's own policy, if it has one.
pub(crate) async fn find<C: ConnectionTrait>(
    conn: &C,
    msp_id: MspId,
    tenant_id: TenantId,
) -> Result<Option<TenantPolicy>, StorageError> {
    Ok(tenant_policy::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .one(conn)
        .await?
        .map(|row| TenantPolicy {
            tenant_id: row.tenant_id.into(),
            source: row.source,
            sha256: row.sha256,
            updated_at: row.updated_at,
        }))
}

/// Why a tenant policy was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PolicyUpdateError {
    #[error("the MSP has no active tenant {0}")]
    UnknownTenant(TenantId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Stores (or replaces) the tenant's policy, checked beforehand.
pub(crate) async fn set(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    policy: &CheckedPolicy,
) -> Result<TenantPolicy, PolicyUpdateError> {
    let tenant = super::TenantDirectory::new(ctx.txn, msp_id, None)
        .lookup(tenant_id)
        .await?
        .filter(|t| t.status == steward_domain::tenancy::TenantStatus::Active);
    if tenant.is_none() {
        return Err(PolicyUpdateError::UnknownTenant(tenant_id));
    }
    let before = find(ctx.txn, msp_id, tenant_id).await?;
    let source = policy.source();
    let sha256 = policy.sha256().to_owned();
    let now = ctx.clock.now();
    let row = tenant_policy::ActiveModel {
        tenant_id: Set(tenant_id.as_uuid()),
        msp_id: Set(msp_id.as_uuid()),
        source: Set(source.to_owned()),
        sha256: Set(sha256.clone()),
        updated_at: Set(now),
    };
    if before.is_some() {
        row.update(ctx.txn).await.map_err(StorageError::from)?;
    } else {
        row.insert(ctx.txn).await.map_err(StorageError::from)?;
    }
    let after = TenantPolicy {
        tenant_id,
        source: source.to_owned(),
        sha256,
        updated_at: now,
    };
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("policy.updated", "tenant", &tenant_id)
            .before(&before.as_ref().map(|p| json!({"sha256": p.sha256})))
            .after(&after),
    )
    .await?;
    Ok(after)
}

/// Removes the tenant's policy: the deployment's applies again. Returns whether there was one.
pub(crate) async fn remove(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
) -> Result<bool, StorageError> {
    let Some(before) = find(ctx.txn, msp_id, tenant_id).await? else {
        return Ok(false);
    };
    tenant_policy::Entity::delete_many()
        .in_tenant(msp_id, tenant_id)
        .exec(ctx.txn)
        .await?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("policy.removed", "tenant", &tenant_id)
            .before(&json!({"sha256": before.sha256})),
    )
    .await?;
    Ok(true)
}
