//! A tenant's findings and incidents as stored. Grouping findings into incidents and an
//! incident's life are the incidents stage's (`crate::incidents`).

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use steward_domain::{
    IncidentId, MspId, TenantId, UserId,
    incidents::{EntityKey, Finding, FindingSource, Incident, IncidentStatus, Verdict},
};

use super::{
    Page, PageRequest, StorageError, WriteContext,
    entities::{finding, incident},
    scoping::InTenant,
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
            .in_tenant(self.msp_id, self.tenant_id)
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
            .in_tenant(self.msp_id, self.tenant_id)
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
            .in_tenant(self.msp_id, self.tenant_id)
            .one(self.conn)
            .await?)
    }

    async fn findings_of(&self, incident_id: uuid::Uuid) -> Result<Vec<Finding>, StorageError> {
        finding::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
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

    pub(crate) async fn open_and_recent(&self) -> Result<Vec<incident::Model>, StorageError> {
        Ok(incident::Entity::find()
            .in_tenant(self.msp_id, self.tenant_id)
            .filter(incident::Column::Status.ne(IncidentStatus::Resolved.as_str()))
            .order_by_asc(incident::Column::Id)
            .all(self.conn)
            .await?)
    }
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

/// What follows a status a person (or their PSA) gave an incident: its tickets are brought in
/// step, and its entities' risk is recomputed, since an incident's findings count towards risk
/// only while it is open.
pub(crate) async fn status_changed(
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

pub(crate) fn set_status_times(
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
pub(crate) fn summary(incident: &Incident) -> serde_json::Value {
    let mut value = serde_json::to_value(incident).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("findings");
    }
    value
}

pub(crate) async fn save(
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
        .in_tenant(msp_id, tenant_id)
        .exec(ctx.txn)
        .await?;
    Ok(())
}

pub(crate) const fn source_str(source: FindingSource) -> &'static str {
    match source {
        FindingSource::VendorAlert => "vendor_alert",
        FindingSource::Detection => "detection",
    }
}

fn parse_status(value: &str) -> Result<IncidentStatus, StorageError> {
    IncidentStatus::parse(value).ok_or_else(|| StorageError::corrupt("incident status", &value))
}

pub(crate) fn to_finding(row: finding::Model) -> Result<Finding, StorageError> {
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

pub(crate) fn to_incident(
    row: incident::Model,
    findings: Vec<Finding>,
) -> Result<Incident, StorageError> {
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
