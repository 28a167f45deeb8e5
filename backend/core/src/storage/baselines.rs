//! Learned sign-in baselines, one per identity in a tenant. What triage learns from sign-ins
//! is derived from the stored events, as an index is, so those updates make no audit entries;
//! what a person teaches a baseline (settling an unusual sign-in as benign) is audited where
//! they decide it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set,
};
use steward_domain::{MspId, TenantId, baselines::SignInBaseline};

use super::{StorageError, WriteContext, entities::sign_in_baseline, new_id, scoping::InTenant};

/// Reads one tenant's sign-in baselines.
#[derive(Debug, Clone, Copy)]
pub struct BaselineReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

fn baseline(row: &sign_in_baseline::Model) -> Result<SignInBaseline, StorageError> {
    serde_json::from_value(row.baseline.clone())
        .map_err(|e| StorageError::corrupt("sign-in baseline", &e))
}

impl<'c, C: ConnectionTrait> BaselineReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    /// One identity's baseline and when it last changed; `None` before its first sign-in is
    /// learned.
    ///
    /// # Errors
    /// When the database cannot be read or holds an unreadable baseline.
    pub async fn of(
        &self,
        identity_id: uuid::Uuid,
    ) -> Result<Option<(SignInBaseline, DateTime<Utc>)>, StorageError> {
        sign_in_baseline::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(sign_in_baseline::Column::IdentityId.eq(identity_id))
            .one(self.conn)
            .await?
            .map(|row| Ok((baseline(&row)?, row.updated_at)))
            .transpose()
    }

    /// The baselines of these identities; those without one are absent.
    ///
    /// # Errors
    /// As [`BaselineReader::of`].
    pub async fn of_identities(
        &self,
        identities: &[uuid::Uuid],
    ) -> Result<HashMap<uuid::Uuid, SignInBaseline>, StorageError> {
        let mut found = HashMap::new();
        // Bounded chunks: SQLite limits the parameters of one statement.
        for chunk in identities.chunks(500) {
            for row in sign_in_baseline::Entity::find()
                .in_tenant(self.msp_id, self.tenant_id)
                .filter(sign_in_baseline::Column::IdentityId.is_in(chunk.iter().copied()))
                .all(self.conn)
                .await?
            {
                found.insert(row.identity_id, baseline(&row)?);
            }
        }
        Ok(found)
    }
}

/// Stores an identity's baseline in the tenant, replacing the one it had.
pub(crate) async fn save(
    ctx: &WriteContext<'_>,
    tenant: (MspId, TenantId),
    identity_id: uuid::Uuid,
    learned: &SignInBaseline,
) -> Result<(), StorageError> {
    let (msp_id, tenant_id) = tenant;
    let value =
        serde_json::to_value(learned).map_err(|e| StorageError::corrupt("sign-in baseline", &e))?;
    let now = ctx.clock.now();
    let existing = sign_in_baseline::Entity::find()
        .in_tenant(msp_id, tenant_id)
        .filter(sign_in_baseline::Column::IdentityId.eq(identity_id))
        .one(ctx.txn)
        .await?;
    match existing {
        Some(row) => {
            let mut row = row.into_active_model();
            row.baseline = Set(value);
            row.updated_at = Set(now);
            row.update(ctx.txn).await?;
        }
        None => {
            sign_in_baseline::ActiveModel {
                id: Set(new_id(ctx.clock)),
                msp_id: Set(msp_id.as_uuid()),
                tenant_id: Set(tenant_id.as_uuid()),
                identity_id: Set(identity_id),
                baseline: Set(value),
                updated_at: Set(now),
            }
            .insert(ctx.txn)
            .await?;
        }
    }
    Ok(())
}
