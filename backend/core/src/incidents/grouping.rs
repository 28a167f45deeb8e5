//! Grouping findings into incidents: a finding joins the open incident about the same entities
//! while it is recent, so one attack is one incident; otherwise it opens a new one.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use steward_domain::{
    IncidentId, MspId, TenantId,
    incidents::{EntityKey, IncidentStatus},
};

use crate::{
    audit::{self, ChainRef, Change},
    storage::{
        Detected, IncidentReader, StorageError, TenantWork, WorkError, WriteContext,
        entities::{finding, incident},
        incidents::{source_str, to_finding, to_incident},
        new_id, tickets,
    },
};

/// Findings about the same entities within this time of an open incident's latest activity
/// join it instead of opening a new one.
pub const GROUPING_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// What recording a detection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub finding_id: uuid::Uuid,
    pub incident_id: IncidentId,
    pub new_incident: bool,
}

/// Stores a detection as a finding in its incident (Steward only). `None` when the finding was
/// stored before (triage ran again).
///
/// # Errors
/// [`WorkError::Forbidden`] for a user; [`WorkError::Storage`] when the database fails.
pub async fn record_finding(
    work: &TenantWork<'_>,
    detected: &Detected,
    entities: &[EntityKey],
) -> Result<Option<Recorded>, WorkError> {
    record_as_steward(work, detected, entities, None).await
}

/// As [`record_finding`], joining incident `incident` when it is still open and recent (for
/// findings that name no known entity but belong together, such as several rules matching one
/// device's logs before any tool reported the device).
///
/// # Errors
/// As [`record_finding`].
pub async fn record_finding_into(
    work: &TenantWork<'_>,
    detected: &Detected,
    entities: &[EntityKey],
    incident: IncidentId,
) -> Result<Option<Recorded>, WorkError> {
    record_as_steward(work, detected, entities, Some(incident)).await
}

async fn record_as_steward(
    work: &TenantWork<'_>,
    detected: &Detected,
    entities: &[EntityKey],
    into: Option<IncidentId>,
) -> Result<Option<Recorded>, WorkError> {
    work.require_steward()?;
    let tenant = work.tenant();
    Ok(record(
        work.context(),
        tenant.msp_id,
        tenant.id,
        detected,
        entities,
        into,
    )
    .await?)
}

/// Whether a finding about `entities` at `found_at` joins an open incident about `known`
/// entities whose first activity was at `first_activity` and last change at `updated`: it must
/// share an entity, and be within [`GROUPING_WINDOW`] of the incident's first activity, or the
/// incident must have changed within that window (a long attack stays one incident).
#[must_use]
pub fn joins(
    known: &[EntityKey],
    first_activity: DateTime<Utc>,
    updated: DateTime<Utc>,
    entities: &[EntityKey],
    found_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    known.iter().any(|e| entities.contains(e))
        && ((found_at - first_activity).abs() <= GROUPING_WINDOW
            || (now - updated) <= GROUPING_WINDOW)
}

/// Stores a detection as a finding, in the open incident about the same entities or a new
/// one. `None` when the finding was stored before (triage ran again).
async fn record(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    detected: &Detected,
    entities: &[EntityKey],
    into: Option<IncidentId>,
) -> Result<Option<Recorded>, StorageError> {
    let exists = finding::Entity::find()
        .filter(finding::Column::TenantId.eq(tenant_id.as_uuid()))
        .filter(finding::Column::DedupKey.eq(detected.dedup_key.as_str()))
        .one(ctx.txn)
        .await?;
    if exists.is_some() {
        return Ok(None);
    }
    let now = ctx.clock.now();
    let chain = ChainRef::Tenant { msp_id, tenant_id };
    let joined = IncidentReader::new(ctx.txn, msp_id, tenant_id)
        .open_and_recent()
        .await?
        .into_iter()
        .rev()
        .find(|row| {
            if let Some(into) = into {
                return row.id == into.as_uuid();
            }
            let known =
                serde_json::from_value::<Vec<EntityKey>>(row.entities.clone()).unwrap_or_default();
            joins(
                &known,
                row.first_activity_at,
                row.updated_at,
                entities,
                detected.time,
                now,
            )
        });
    let (incident_id, new_incident) = match joined {
        Some(row) => {
            let before = row.clone();
            let mut merged: Vec<EntityKey> =
                serde_json::from_value(row.entities.clone()).unwrap_or_default();
            for entity in entities {
                if !merged.contains(entity) {
                    merged.push(*entity);
                }
            }
            let id = row.id;
            let mut active = row.into_active_model();
            active.entities = Set(serde_json::to_value(&merged).unwrap_or_default());
            active.severity_id = Set(before.severity_id.max(i16::from(detected.severity_id)));
            active.first_activity_at = Set(before.first_activity_at.min(detected.time));
            active.updated_at = Set(now);
            active.update(ctx.txn).await?;
            (IncidentId::from_uuid(id), false)
        }
        None => {
            let id = new_id(ctx.clock);
            let row = incident::ActiveModel {
                id: Set(id),
                msp_id: Set(msp_id.as_uuid()),
                tenant_id: Set(tenant_id.as_uuid()),
                title: Set(detected.title.clone()),
                severity_id: Set(i16::from(detected.severity_id)),
                status: Set(IncidentStatus::New.as_str().to_owned()),
                assignee: Set(None),
                verdict: Set(None),
                entities: Set(serde_json::to_value(entities).unwrap_or_default()),
                first_activity_at: Set(detected.time),
                created_at: Set(now),
                contained_at: Set(None),
                resolved_at: Set(None),
                updated_at: Set(now),
            }
            .insert(ctx.txn)
            .await?;
            let incident = to_incident(row, Vec::new())?;
            audit::append(
                ctx,
                chain,
                Change::new("incident.created", "incident", &incident.id).after(&incident),
            )
            .await?;
            tickets::queue_sync(ctx, msp_id, tenant_id, incident.id).await?;
            (incident.id, true)
        }
    };
    let row = finding::ActiveModel {
        id: Set(new_id(ctx.clock)),
        msp_id: Set(msp_id.as_uuid()),
        tenant_id: Set(tenant_id.as_uuid()),
        incident_id: Set(incident_id.as_uuid()),
        source: Set(source_str(detected.source).to_owned()),
        rule: Set(detected.rule.clone()),
        dedup_key: Set(detected.dedup_key.clone()),
        title: Set(detected.title.clone()),
        severity_id: Set(i16::from(detected.severity_id)),
        time: Set(detected.time),
        entities: Set(serde_json::to_value(entities).unwrap_or_default()),
        event_ids: Set(serde_json::to_value(&detected.events).unwrap_or_default()),
        details: Set(detected.details.clone()),
        created_at: Set(now),
    }
    .insert(ctx.txn)
    .await?;
    let finding = to_finding(row)?;
    audit::append(
        ctx,
        chain,
        Change::new("finding.recorded", "finding", &finding.id).after(&finding),
    )
    .await?;
    Ok(Some(Recorded {
        finding_id: finding.id,
        incident_id,
        new_incident,
    }))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use steward_domain::actions::TargetKind;

    use super::*;

    fn entity(n: u128) -> EntityKey {
        EntityKey {
            kind: TargetKind::Device,
            id: uuid::Uuid::from_u128(n),
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + chrono::Duration::hours(hours)
    }

    #[test]
    fn a_finding_about_another_entity_opens_its_own_incident() {
        assert!(!joins(
            &[entity(1)],
            at(0),
            at(0),
            &[entity(2)],
            at(1),
            at(1)
        ));
        assert!(joins(
            &[entity(1), entity(2)],
            at(0),
            at(0),
            &[entity(2), entity(3)],
            at(1),
            at(1)
        ));
    }

    #[test]
    fn a_finding_joins_within_the_window_of_the_first_activity_either_side() {
        let known = [entity(1)];
        assert!(joins(&known, at(10), at(10), &known, at(34), at(40)));
        assert!(joins(&known, at(10), at(10), &known, at(-14), at(40)));
        assert!(!joins(&known, at(10), at(10), &known, at(35), at(40)));
    }

    #[test]
    fn an_incident_still_moving_keeps_a_long_attack_together() {
        let known = [entity(1)];
        // Days after the first activity, but the incident changed within the window.
        assert!(joins(&known, at(0), at(70), &known, at(80), at(90)));
        assert!(!joins(&known, at(0), at(60), &known, at(80), at(90)));
    }
}
