//! Builds a tenant's outcome report from its incidents, actions and risk history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use steward_domain::{
    actions::ActionStatus,
    incidents::{EntityKey, IncidentStatus},
    reports::{ActionOutcome, IncidentOutcome, OutcomeReport, ReportSummary, RiskChange},
    tenancy::Tenant,
};

use steward_domain::access::Permission;

use crate::storage::{
    ActionReader, IncidentReader, RiskReader, StorageError, TenantScope, TenantScopeError,
};

/// The longest period one report covers.
pub const MAX_PERIOD: chrono::Duration = chrono::Duration::days(366);

/// The outcome report of the scope's tenant for `[from, to)`.
///
/// # Errors
/// [`TenantScopeError::Forbidden`] without the permission to read reports.
pub async fn outcome_report<C: ConnectionTrait>(
    scope: &TenantScope<'_, C>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<OutcomeReport, TenantScopeError> {
    scope.require(Permission::ReadReports)?;
    Ok(build(scope.conn(), scope.tenant(), from, to, now).await?)
}

/// Builds the report of `tenant` for `[from, to)`.
async fn build<C: ConnectionTrait>(
    conn: &C,
    tenant: &Tenant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<OutcomeReport, StorageError> {
    let incidents = IncidentReader::new(conn, tenant.msp_id, tenant.id)
        .created_between(from, to)
        .await?;
    let actions = ActionReader::new(conn, tenant.msp_id, tenant.id)
        .created_between(from, to)
        .await?;
    let risk = RiskReader::new(conn, tenant.msp_id, tenant.id);
    let before = risk.as_of(from).await?;
    let after = risk.as_of(to).await?;

    let incidents: Vec<IncidentOutcome> = incidents
        .into_iter()
        .map(|incident| {
            let responded = incident.contained_at.or(incident.resolved_at);
            IncidentOutcome {
                time_to_detect_seconds: (incident.created_at - incident.first_activity_at)
                    .num_seconds()
                    .max(0),
                time_to_respond_seconds: responded
                    .map(|at| (at - incident.created_at).num_seconds().max(0)),
                id: incident.id,
                title: incident.title,
                severity_id: incident.severity_id,
                status: incident.status,
                verdict: incident.verdict,
                first_activity_at: incident.first_activity_at,
                detected_at: incident.created_at,
                contained_at: incident.contained_at,
                resolved_at: incident.resolved_at,
            }
        })
        .collect();
    let actions: Vec<ActionOutcome> = actions
        .into_iter()
        .map(|action| ActionOutcome {
            id: action.id,
            incident_id: action.incident_id,
            kind: action.kind,
            target_name: action.target.name,
            status: action.status,
            decision: action.decision,
            approvals: action.approvals,
            created_at: action.created_at,
            verified_at: action.verified_at,
            rolled_back_at: action.rolled_back_at,
            detail: action.detail,
        })
        .collect();

    let mut changes: BTreeMap<EntityKey, RiskChange> = BTreeMap::new();
    for score in &before {
        changes.insert(
            score.entity,
            RiskChange {
                entity: score.entity,
                entity_name: score.entity_name.clone(),
                before: score.score,
                after: 0,
            },
        );
    }
    for score in &after {
        changes
            .entry(score.entity)
            .or_insert_with(|| RiskChange {
                entity: score.entity,
                entity_name: score.entity_name.clone(),
                before: 0,
                after: 0,
            })
            .after = score.score;
    }
    let mut risk: Vec<RiskChange> = changes.into_values().collect();
    risk.sort_by(|a, b| {
        b.before
            .max(b.after)
            .cmp(&a.before.max(a.after))
            .then(a.entity_name.cmp(&b.entity_name))
    });

    let summary = ReportSummary {
        incidents: incidents.len(),
        incidents_contained: incidents
            .iter()
            .filter(|i| i.contained_at.is_some())
            .count(),
        incidents_resolved: incidents
            .iter()
            .filter(|i| i.status == IncidentStatus::Resolved)
            .count(),
        actions: actions.len(),
        actions_verified: actions.iter().filter(|a| a.verified_at.is_some()).count(),
        actions_rolled_back: actions
            .iter()
            .filter(|a| a.status == ActionStatus::RolledBack)
            .count(),
        actions_awaiting_approval: actions
            .iter()
            .filter(|a| a.status == ActionStatus::AwaitingApproval)
            .count(),
        actions_not_taken: actions
            .iter()
            .filter(|a| matches!(a.status, ActionStatus::Denied | ActionStatus::Rejected))
            .count(),
        mean_time_to_detect_seconds: mean(incidents.iter().map(|i| Some(i.time_to_detect_seconds))),
        mean_time_to_respond_seconds: mean(incidents.iter().map(|i| i.time_to_respond_seconds)),
        total_risk_before: risk.iter().map(|r| u32::from(r.before)).sum(),
        total_risk_after: risk.iter().map(|r| u32::from(r.after)).sum(),
    };
    Ok(OutcomeReport {
        tenant_id: tenant.id,
        tenant_name: tenant.name.clone(),
        from,
        to,
        generated_at: now,
        summary,
        incidents,
        actions,
        risk,
    })
}

/// The mean of the present values, if any.
fn mean(values: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    let present: Vec<i64> = values.flatten().collect();
    let count = i64::try_from(present.len()).ok().filter(|n| *n > 0)?;
    Some(present.iter().sum::<i64>() / count)
}

#[cfg(test)]
mod tests {
    use super::mean;

    #[test]
    fn the_mean_ignores_absent_values() {
        assert_eq!(mean([Some(10), None, Some(20)].into_iter()), Some(15));
        assert_eq!(mean([None, None].into_iter()), None);
    }
}
