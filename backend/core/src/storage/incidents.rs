//! A tenant's findings and incidents.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use steward_domain::{
    IncidentId, MspId, TenantId, UserId,
    incidents::{EntityKey, Finding, FindingSource, Incident, IncidentStatus, Verdict},
};

use super::{
    Page, PageRequest, StorageError, WriteContext,
    entities::{finding, incident},
    new_id,
};
use crate::audit::{self, ChainRef, Change};

/// Something a detection found, before it is attached to an incident: what storage records as
/// a finding.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    pub source: FindingSource,
    pub rule: String,
    /// Same key, same finding: triage running twice stores it once.
    pub dedup_key: String,
    pub title: String,
    pub severity_id: u8,
    pub time: chrono::DateTime<chrono::Utc>,
    /// The events it rests on; the entities they name are the finding's entities.
    pub events: Vec<uuid::Uuid>,
    pub details: serde_json::Value,
}

/// Findings about the same entities within this time of an open incident's latest activity
/// join it instead of opening a new one.
pub const GROUPING_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Reads one tenant's incidents.
#[derive(Debug, Clone, Copy)]
pub struct IncidentReader<'c, C> {
    conn: &'c C,
    msp_id: MspId,
    tenant_id: TenantId,
}

impl<'c, C: ConnectionTrait> IncidentReader<'c, C> {
    pub(crate) fn new(conn: &'c C, msp_id: MspId, tenant_id: TenantId) -> Self {
        Self {
            conn,
            msp_id,
            tenant_id,
        }
    }

    /// One page of incidents, newest first, optionally of one status.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn list(
        &self,
        status: Option<IncidentStatus>,
        page: PageRequest,
    ) -> Result<Page<Incident>, StorageError> {
        let mut select = incident::Entity::find()
            .filter(incident::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(incident::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .order_by_desc(incident::Column::Id)
            .limit(page.limit.saturating_add(1));
        if let Some(status) = status {
            select = select.filter(incident::Column::Status.eq(status.as_str()));
        }
        if let Some(after) = page.after {
            select = select.filter(incident::Column::Id.lt(after));
        }
        let mut incidents = Vec::new();
        for row in select.all(self.conn).await? {
            let findings = self.findings_of(row.id).await?;
            incidents.push(to_incident(row, findings)?);
        }
        Ok(Page::from_overfetch(incidents, page.limit, |i| {
            i.id.as_uuid()
        }))
    }

    /// Every incident created in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn created_between(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Incident>, StorageError> {
        let rows = incident::Entity::find()
            .filter(incident::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(incident::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(incident::Column::CreatedAt.gte(from))
            .filter(incident::Column::CreatedAt.lt(to))
            .order_by_asc(incident::Column::Id)
            .all(self.conn)
            .await?;
        let mut incidents = Vec::new();
        for row in rows {
            let findings = self.findings_of(row.id).await?;
            incidents.push(to_incident(row, findings)?);
        }
        Ok(incidents)
    }

    /// One incident with its findings.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn get(&self, id: IncidentId) -> Result<Option<Incident>, StorageError> {
        let Some(row) = self.row(id).await? else {
            return Ok(None);
        };
        let findings = self.findings_of(row.id).await?;
        to_incident(row, findings).map(Some)
    }

    async fn row(&self, id: IncidentId) -> Result<Option<incident::Model>, StorageError> {
        Ok(incident::Entity::find_by_id(id.as_uuid())
            .filter(incident::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(incident::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .one(self.conn)
            .await?)
    }

    async fn findings_of(&self, incident_id: uuid::Uuid) -> Result<Vec<Finding>, StorageError> {
        finding::Entity::find()
            .filter(finding::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(finding::Column::IncidentId.eq(incident_id))
            .order_by_asc(finding::Column::Id)
            .all(self.conn)
            .await?
            .into_iter()
            .map(to_finding)
            .collect()
    }

    /// Every finding of the tenant that names the entity, with its incident's status.
    ///
    /// # Errors
    /// When the database cannot be read or holds an invalid row.
    pub async fn findings_about(
        &self,
        entity: EntityKey,
    ) -> Result<Vec<(Finding, IncidentStatus)>, StorageError> {
        let incidents = self.open_and_recent().await?;
        let mut found = Vec::new();
        for row in incidents {
            let status = parse_status(&row.status)?;
            for finding in self.findings_of(row.id).await? {
                if finding.entities.contains(&entity) {
                    found.push((finding, status));
                }
            }
        }
        Ok(found)
    }

    /// The ids of the tenant's open (unresolved) incidents, oldest first.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn open_ids(&self) -> Result<Vec<IncidentId>, StorageError> {
        Ok(self
            .open_and_recent()
            .await?
            .into_iter()
            .map(|row| IncidentId::from_uuid(row.id))
            .collect())
    }

    async fn open_and_recent(&self) -> Result<Vec<incident::Model>, StorageError> {
        Ok(incident::Entity::find()
            .filter(incident::Column::MspId.eq(self.msp_id.as_uuid()))
            .filter(incident::Column::TenantId.eq(self.tenant_id.as_uuid()))
            .filter(incident::Column::Status.ne(IncidentStatus::Resolved.as_str()))
            .order_by_asc(incident::Column::Id)
            .all(self.conn)
            .await?)
    }
}

/// What recording a detection did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub finding_id: uuid::Uuid,
    pub incident_id: IncidentId,
    pub new_incident: bool,
}

/// Stores a detection as a finding, in the open incident about the same entities or a new
/// one. `None` when the finding was stored before (triage ran again).
pub(crate) async fn record_finding(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    detected: &Detected,
    entities: &[EntityKey],
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
            let shares = serde_json::from_value::<Vec<EntityKey>>(row.entities.clone())
                .is_ok_and(|known| known.iter().any(|e| entities.contains(e)));
            shares
                && ((detected.time - row.first_activity_at).abs() <= GROUPING_WINDOW
                    || (now - row.updated_at) <= GROUPING_WINDOW)
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
            super::tickets::queue_sync(ctx, msp_id, tenant_id, incident.id).await?;
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

/// Why an incident change was refused.
#[derive(Debug, thiserror::Error)]
pub enum IncidentUpdateError {
    #[error("no incident {0} in this tenant")]
    NotFound(IncidentId),
    #[error("a verdict is required to resolve an incident")]
    VerdictRequired,
    #[error("a verdict is only recorded when the incident is resolved")]
    VerdictWithoutResolution,
    #[error("user {0} is not MSP staff who can work incidents")]
    InvalidAssignee(UserId),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Changes an incident's status, assignee or verdict, recording the change.
pub(crate) async fn update_incident(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: IncidentId,
    update: &steward_domain::incidents::IncidentUpdate,
) -> Result<Incident, IncidentUpdateError> {
    let reader = IncidentReader::new(ctx.txn, msp_id, tenant_id);
    let before = reader
        .get(id)
        .await?
        .ok_or(IncidentUpdateError::NotFound(id))?;
    let mut after = before.clone();
    if let Some(status) = update.status {
        after.status = status;
    }
    match (after.status, update.verdict) {
        (IncidentStatus::Resolved, Some(verdict)) => after.verdict = Some(verdict),
        (IncidentStatus::Resolved, None) if before.verdict.is_none() => {
            return Err(IncidentUpdateError::VerdictRequired);
        }
        (IncidentStatus::Resolved, None) => {}
        (_, Some(_)) => return Err(IncidentUpdateError::VerdictWithoutResolution),
        (_, None) => after.verdict = None,
    }
    if update.unassign {
        after.assignee = None;
    } else if let Some(assignee) = update.assignee {
        let staff = super::UserDirectory::new(ctx.txn, msp_id)
            .lookup(assignee)
            .await?
            .filter(|user| {
                user.role
                    .allows(steward_domain::access::Permission::WorkIncidents)
                    && user.is_active()
            });
        if staff.is_none() {
            return Err(IncidentUpdateError::InvalidAssignee(assignee));
        }
        after.assignee = Some(assignee);
    }
    if after == before {
        return Ok(before);
    }
    set_status_times(&mut after, before.status, ctx.clock.now());
    save(ctx, msp_id, tenant_id, &after).await?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("incident.updated", "incident", &id)
            .before(&summary(&before))
            .after(&summary(&after)),
    )
    .await?;
    if after.status != before.status {
        status_changed(ctx, msp_id, tenant_id, &after).await?;
    }
    Ok(after)
}

/// Follows a PSA ticket of the incident: a closed ticket resolves an open incident (its
/// verdict left for a technician), a reopened ticket reopens a resolved one. `None` when the
/// incident already agrees with the ticket, or no longer exists.
pub(crate) async fn follow_ticket(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: IncidentId,
    ticket_closed: bool,
) -> Result<Option<Incident>, StorageError> {
    let Some(before) = IncidentReader::new(ctx.txn, msp_id, tenant_id)
        .get(id)
        .await?
    else {
        return Ok(None);
    };
    let status = match (ticket_closed, before.status) {
        (true, status) if status.is_open() => IncidentStatus::Resolved,
        (false, IncidentStatus::Resolved) => IncidentStatus::Investigating,
        _ => return Ok(None),
    };
    let mut after = before.clone();
    after.status = status;
    if status.is_open() {
        after.verdict = None;
    }
    set_status_times(&mut after, before.status, ctx.clock.now());
    save(ctx, msp_id, tenant_id, &after).await?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("incident.updated_from_ticket", "incident", &id)
            .before(&summary(&before))
            .after(&summary(&after)),
    )
    .await?;
    status_changed(ctx, msp_id, tenant_id, &after).await?;
    Ok(Some(after))
}

/// What follows a status a person (or their PSA) gave an incident: its tickets are brought in
/// step, and its entities' risk is recomputed, since an incident's findings count towards risk
/// only while it is open.
async fn status_changed(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    incident: &Incident,
) -> Result<(), StorageError> {
    super::tickets::queue_sync(ctx, msp_id, tenant_id, incident.id).await?;
    for entity in &incident.entities {
        crate::jobs::enqueue(
            ctx,
            msp_id,
            &crate::jobs::Job::RefreshRisk {
                tenant_id,
                entity: *entity,
            },
        )
        .await?;
    }
    Ok(())
}

/// Marks an incident contained (an action took effect), unless it is further along already.
pub(crate) async fn mark_contained(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: IncidentId,
) -> Result<(), StorageError> {
    let Some(before) = IncidentReader::new(ctx.txn, msp_id, tenant_id)
        .get(id)
        .await?
    else {
        return Ok(());
    };
    if !matches!(
        before.status,
        IncidentStatus::New | IncidentStatus::Investigating
    ) {
        return Ok(());
    }
    let mut after = before.clone();
    after.status = IncidentStatus::Contained;
    set_status_times(&mut after, before.status, ctx.clock.now());
    save(ctx, msp_id, tenant_id, &after).await?;
    audit::append(
        ctx,
        ChainRef::Tenant { msp_id, tenant_id },
        Change::new("incident.contained", "incident", &id)
            .before(&summary(&before))
            .after(&summary(&after)),
    )
    .await?;
    super::tickets::queue_sync(ctx, msp_id, tenant_id, id).await
}

fn set_status_times(
    incident: &mut Incident,
    previous: IncidentStatus,
    now: chrono::DateTime<chrono::Utc>,
) {
    incident.updated_at = now;
    if incident.status != previous {
        match incident.status {
            IncidentStatus::Contained if incident.contained_at.is_none() => {
                incident.contained_at = Some(now);
            }
            IncidentStatus::Resolved => incident.resolved_at = Some(now),
            _ => {}
        }
        if previous == IncidentStatus::Resolved {
            incident.resolved_at = None;
        }
    }
}

/// The incident without its findings, for audit entries.
fn summary(incident: &Incident) -> serde_json::Value {
    let mut value = serde_json::to_value(incident).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("findings");
    }
    value
}

async fn save(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    incident: &Incident,
) -> Result<(), StorageError> {
    incident::Entity::update_many()
        .set(incident::ActiveModel {
            status: Set(incident.status.as_str().to_owned()),
            assignee: Set(incident.assignee.map(UserId::as_uuid)),
            verdict: Set(incident.verdict.map(|v| v.as_str().to_owned())),
            contained_at: Set(incident.contained_at),
            resolved_at: Set(incident.resolved_at),
            updated_at: Set(incident.updated_at),
            ..Default::default()
        })
        .filter(incident::Column::Id.eq(incident.id.as_uuid()))
        .filter(incident::Column::MspId.eq(msp_id.as_uuid()))
        .filter(incident::Column::TenantId.eq(tenant_id.as_uuid()))
        .exec(ctx.txn)
        .await?;
    Ok(())
}

const fn source_str(source: FindingSource) -> &'static str {
    match source {
        FindingSource::VendorAlert => "vendor_alert",
        FindingSource::Detection => "detection",
    }
}

fn parse_status(value: &str) -> Result<IncidentStatus, StorageError> {
    IncidentStatus::parse(value).ok_or_else(|| StorageError::corrupt("incident status", &value))
}

fn to_finding(row: finding::Model) -> Result<Finding, StorageError> {
    Ok(Finding {
        id: row.id,
        tenant_id: row.tenant_id.into(),
        incident_id: row.incident_id.into(),
        source: match row.source.as_str() {
            "vendor_alert" => FindingSource::VendorAlert,
            "detection" => FindingSource::Detection,
            other => return Err(StorageError::corrupt("finding source", &other)),
        },
        rule: row.rule,
        title: row.title,
        severity_id: u8::try_from(row.severity_id)
            .map_err(|_| StorageError::corrupt("finding severity", &row.severity_id))?,
        time: row.time,
        entities: serde_json::from_value(row.entities)
            .map_err(|e| StorageError::corrupt("finding entities", &e))?,
        event_ids: serde_json::from_value(row.event_ids)
            .map_err(|e| StorageError::corrupt("finding events", &e))?,
        details: row.details,
        created_at: row.created_at,
    })
}

fn to_incident(row: incident::Model, findings: Vec<Finding>) -> Result<Incident, StorageError> {
    Ok(Incident {
        id: row.id.into(),
        tenant_id: row.tenant_id.into(),
        title: row.title,
        severity_id: u8::try_from(row.severity_id)
            .map_err(|_| StorageError::corrupt("incident severity", &row.severity_id))?,
        status: parse_status(&row.status)?,
        assignee: row.assignee.map(Into::into),
        verdict: row
            .verdict
            .map(|v| {
                Verdict::parse(&v).ok_or_else(|| StorageError::corrupt("incident verdict", &v))
            })
            .transpose()?,
        entities: serde_json::from_value(row.entities)
            .map_err(|e| StorageError::corrupt("incident entities", &e))?,
        first_activity_at: row.first_activity_at,
        created_at: row.created_at,
        contained_at: row.contained_at,
        resolved_at: row.resolved_at,
        updated_at: row.updated_at,
        findings,
    })
}
