//! Entity risk scores: one row each time an entity's score or factors change.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use steward_domain::{
    MspId, TenantId,
    actions::TargetKind,
    incidents::EntityKey,
    risk::{RiskFactor, RiskScore},
};

use super::{StorageError, WriteContext, entities::risk_score, new_id, scoping::InTenant};
use crate::audit::{self, ChainRef, Change};

/// Reads one tenant's risk scores.
#[derive(Debug, Clone, Copy)]
pub struct RiskReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> RiskReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    /// Each entity's score as it stood at `at` (its latest before then), highest first;
    /// entities never scored before `at` are absent.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn as_of(&self, at: DateTime<Utc>) -> Result<Vec<RiskScore>, StorageError> {
        self.latest(Some(at)).await
    }

    async fn latest(&self, at: Option<DateTime<Utc>>) -> Result<Vec<RiskScore>, StorageError> {
        let mut select = risk_score::Entity::find().in_tenant(self.msp_id, self.tenant_id);
        if let Some(at) = at {
            select = select.filter(risk_score::Column::ComputedAt.lte(at));
        }
        let rows = select
            .order_by_asc(risk_score::Column::ComputedAt)
            .order_by_asc(risk_score::Column::Id)
            .all(self.conn)
            .await?;
        let mut latest: BTreeMap<(String, uuid::Uuid), risk_score::Model> = BTreeMap::new();
        for row in rows {
            latest.insert((row.entity_kind.clone(), row.entity_id), row);
        }
        let mut scores = latest
            .into_values()
            .map(to_score)
            .collect::<Result<Vec<_>, _>>()?;
        scores.sort_by(|a, b| {
            b.score
                .cmp(&a.score)
                .then(a.entity_name.cmp(&b.entity_name))
        });
        Ok(scores)
    }

    /// Every entity's current score, highest first.
    ///
    /// # Errors
    /// As [`RiskReader::as_of`].
    pub async fn current(&self) -> Result<Vec<RiskScore>, StorageError> {
        self.latest(None).await
    }

    /// One entity's current score.
    ///
    /// # Errors
    /// As [`RiskReader::as_of`].
    pub async fn of(&self, entity: EntityKey) -> Result<Option<RiskScore>, StorageError> {
        risk_score::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(risk_score::Column::EntityKind.eq(kind_str(entity.kind)))
            .filter(risk_score::Column::EntityId.eq(entity.id))
            .order_by_desc(risk_score::Column::ComputedAt)
            .order_by_desc(risk_score::Column::Id)
            .one(self.conn)
            .await?
            .map(to_score)
            .transpose()
    }
}

/// Stores a newly computed score when it differs from the entity's current one; returns
/// whether it did.
pub(crate) async fn record(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    score: &RiskScore,
) -> Result<bool, StorageError> {
    let current = RiskReader::new(ctx.txn, msp_id, score.tenant_id)
        .of(score.entity)
        .await?;
    let unchanged = current
        .as_ref()
        .is_some_and(|c| c.score == score.score && c.factors == score.factors);
    // An entity never at risk needs no row until it is.
    if unchanged || (current.is_none() && score.score == 0) {
        return Ok(false);
    }
    risk_score::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(score.tenant_id.as_uuid()),
        entity_kind: Set(kind_str(score.entity.kind).to_owned()),
        entity_id: Set(score.entity.id),
        entity_name: Set(score.entity_name.clone()),
        score: Set(i16::from(score.score)),
        factors: Set(serde_json::to_value(&score.factors).unwrap_or_default()),
        computed_at: Set(score.computed_at),
    }
    .insert(ctx.txn)
    .await?;
    audit::append(
        ctx,
        ChainRef::Tenant {
            msp_id,
            tenant_id: score.tenant_id,
        },
        Change::new(
            "risk.changed",
            kind_str(score.entity.kind),
            &score.entity.id,
        )
        .before(&current.map(|c| c.score))
        .after(score),
    )
    .await?;
    Ok(true)
}

pub(crate) const fn kind_str(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Device => "device",
        TargetKind::Identity => "identity",
    }
}

pub(crate) fn parse_kind(value: &str) -> Result<TargetKind, StorageError> {
    match value {
        "device" => Ok(TargetKind::Device),
        "identity" => Ok(TargetKind::Identity),
        other => Err(StorageError::corrupt("entity kind", &other)),
    }
}

fn to_score(row: risk_score::Model) -> Result<RiskScore, StorageError> {
    Ok(RiskScore {
        tenant_id: row.tenant_id.into(),
        entity: EntityKey {
            kind: parse_kind(&row.entity_kind)?,
            id: row.entity_id,
        },
        entity_name: row.entity_name,
        score: u8::try_from(row.score)
            .map_err(|_| StorageError::corrupt("risk score", &row.score))?,
        factors: serde_json::from_value::<Vec<RiskFactor>>(row.factors)
            .map_err(|e| StorageError::corrupt("risk factors", &e))?,
        computed_at: row.computed_at,
    })
}
