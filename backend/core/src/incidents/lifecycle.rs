//! An incident's life: a person (or their PSA ticket) moves it through its statuses, and a
//! resolved incident carries a verdict, which is what Steward learns from.

use steward_domain::{
    IncidentId, MspId, TenantId,
    access::Permission,
    incidents::{Incident, IncidentStatus, IncidentUpdate, Verdict},
};

use crate::{
    audit::{self, ChainRef, Change},
    storage::{
        IncidentReader, IncidentUpdateError, StorageError, TenantWork, UserDirectory, WorkError,
        WriteContext,
        incidents::{save, set_status_times, status_changed, summary},
        locks::{self, Lock},
    },
};

/// Changes an incident's status, assignee or verdict, recording the change.
///
/// # Errors
/// [`WorkError::Forbidden`] without [`Permission::WorkIncidents`]; [`WorkError::Incident`]
/// for an unknown incident or an invalid change.
pub async fn update_incident(
    work: &TenantWork<'_>,
    id: IncidentId,
    change: &IncidentUpdate,
) -> Result<Incident, WorkError> {
    work.require(Permission::WorkIncidents)?;
    let tenant = work.tenant();
    Ok(update(work.context(), tenant.msp_id, tenant.id, id, change).await?)
}

/// Resolves or reopens an incident as its PSA ticket was closed or reopened. Steward only.
///
/// # Errors
/// [`WorkError::Forbidden`] for users.
pub async fn follow_ticket(
    work: &TenantWork<'_>,
    id: IncidentId,
    ticket_closed: bool,
) -> Result<Option<Incident>, WorkError> {
    work.require_steward()?;
    let tenant = work.tenant();
    Ok(follow(work.context(), tenant.msp_id, tenant.id, id, ticket_closed).await?)
}

/// The verdict an incident has after a change to `status`: resolving needs one (given now, or
/// kept from before), a verdict is only given with a resolution, and reopening clears it.
///
/// # Errors
/// [`IncidentUpdateError::VerdictRequired`], [`IncidentUpdateError::VerdictWithoutResolution`].
pub fn verdict_after(
    status: IncidentStatus,
    before: Option<Verdict>,
    given: Option<Verdict>,
) -> Result<Option<Verdict>, IncidentUpdateError> {
    match (status, given) {
        (IncidentStatus::Resolved, Some(verdict)) => Ok(Some(verdict)),
        (IncidentStatus::Resolved, None) if before.is_none() => {
            Err(IncidentUpdateError::VerdictRequired)
        }
        (IncidentStatus::Resolved, None) => Ok(before),
        (_, Some(_)) => Err(IncidentUpdateError::VerdictWithoutResolution),
        (_, None) => Ok(None),
    }
}

/// The status a ticket's state gives an incident: a closed ticket resolves an open incident, a
/// reopened one reopens a resolved incident; `None` when they agree already.
#[must_use]
pub fn status_from_ticket(ticket_closed: bool, status: IncidentStatus) -> Option<IncidentStatus> {
    match (ticket_closed, status) {
        (true, status) if status.is_open() => Some(IncidentStatus::Resolved),
        (false, IncidentStatus::Resolved) => Some(IncidentStatus::Investigating),
        _ => None,
    }
}

/// Changes an incident's status, assignee or verdict, recording the change.
async fn update(
    ctx: &WriteContext<'_>,
    msp_id: MspId,
    tenant_id: TenantId,
    id: IncidentId,
    update: &IncidentUpdate,
) -> Result<Incident, IncidentUpdateError> {
    let teaches = matches!(
        update.verdict,
        Some(Verdict::BenignTruePositive | Verdict::FalsePositive)
    );
    if teaches {
        // Settling as benign may teach sign-in baselines, which triage reads and writes under
        // this lock; taken first, as everywhere, so the two never interleave.
        locks::take(ctx.txn, Lock::Decisions(msp_id)).await?;
    }
    let reader = IncidentReader::new(ctx.txn, msp_id, tenant_id);
    let before = reader
        .get(id)
        .await?
        .ok_or(IncidentUpdateError::NotFound(id))?;
    let mut after = before.clone();
    if let Some(status) = update.status {
        after.status = status;
    }
    after.verdict = verdict_after(after.status, before.verdict, update.verdict)?;
    if update.unassign {
        after.assignee = None;
    } else if let Some(assignee) = update.assignee {
        let staff = UserDirectory::new(ctx.txn, msp_id)
            .lookup(assignee)
            .await?
            .filter(|user| user.role.allows(Permission::WorkIncidents) && user.is_active());
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
    let settled_benign = matches!(
        after.verdict,
        Some(Verdict::BenignTruePositive | Verdict::FalsePositive)
    );
    if settled_benign && after.verdict != before.verdict {
        crate::detection::baseline::learn_settled(ctx, (msp_id, tenant_id), &after).await?;
    }
    Ok(after)
}

/// Follows a PSA ticket of the incident: a closed ticket resolves an open incident (its
/// verdict left for a technician), a reopened ticket reopens a resolved one. `None` when the
/// incident already agrees with the ticket, or no longer exists.
async fn follow(
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
    let Some(status) = status_from_ticket(ticket_closed, before.status) else {
        return Ok(None);
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

#[cfg(test)]
mod tests {
    use super::*;

    const TP: Option<Verdict> = Some(Verdict::TruePositive);
    const FP: Option<Verdict> = Some(Verdict::FalsePositive);

    #[test]
    fn resolving_needs_a_verdict_given_now_or_kept_from_before() {
        assert!(matches!(
            verdict_after(IncidentStatus::Resolved, None, None),
            Err(IncidentUpdateError::VerdictRequired)
        ));
        assert_eq!(
            verdict_after(IncidentStatus::Resolved, None, TP).unwrap(),
            TP
        );
        assert_eq!(
            verdict_after(IncidentStatus::Resolved, TP, None).unwrap(),
            TP
        );
        assert_eq!(verdict_after(IncidentStatus::Resolved, TP, FP).unwrap(), FP);
    }

    #[test]
    fn a_verdict_comes_only_with_a_resolution_and_reopening_clears_it() {
        assert!(matches!(
            verdict_after(IncidentStatus::Investigating, None, TP),
            Err(IncidentUpdateError::VerdictWithoutResolution)
        ));
        assert_eq!(
            verdict_after(IncidentStatus::Investigating, TP, None).unwrap(),
            None
        );
    }

    #[test]
    fn a_ticket_resolves_an_open_incident_and_reopens_a_resolved_one() {
        for open in [
            IncidentStatus::New,
            IncidentStatus::Investigating,
            IncidentStatus::Contained,
        ] {
            assert_eq!(
                status_from_ticket(true, open),
                Some(IncidentStatus::Resolved)
            );
            assert_eq!(status_from_ticket(false, open), None, "{open:?}");
        }
        assert_eq!(
            status_from_ticket(false, IncidentStatus::Resolved),
            Some(IncidentStatus::Investigating)
        );
        assert_eq!(status_from_ticket(true, IncidentStatus::Resolved), None);
    }
}
