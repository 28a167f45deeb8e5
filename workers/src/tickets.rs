//! Incidents and their PSA tickets, kept in step both ways.
//!
//! For each PSA integration of a tenant, each open incident has a ticket. Reconciling one
//! incident with one PSA first reads the ticket: if its closed state changed at the PSA since
//! Steward last recorded it (a technician closed or reopened it), the incident follows.
//! Otherwise, if the incident's status changed since both sides last agreed, Steward notes the
//! new status on the ticket and closes or reopens it to match. Every step is safe to repeat:
//! the ticket is found again by the incident's reference, and a status both sides agree on is
//! not written twice.

use std::sync::Arc;

use steward_core::storage::TicketSeen;
use steward_domain::{
    IncidentId, IntegrationId, TenantId,
    incidents::{Incident, IncidentStatus, IncidentTicket},
};
use steward_integrations::{
    contract::ConnectorError,
    registry::{self, AnyConnector},
    tickets::{self, TicketDesk, TicketDraft, TicketState},
};

use crate::{
    JobError, Shared,
    handlers::{Finish, as_steward, open_integration},
};

/// A closed ticket is still read this long after Steward last saw it change, so a ticket
/// reopened in the PSA reopens its incident.
const REOPEN_WINDOW: chrono::Duration = chrono::Duration::days(30);

/// What reconciling one incident with one PSA found to record.
enum Outcome {
    /// Nothing to record (a resolved incident that never had a ticket).
    Nothing,
    /// Steward wrote the incident's status to the ticket, or the ticket already agreed.
    Pushed(TicketSeen, IncidentStatus),
    /// The ticket was closed or reopened at the PSA: the incident follows.
    Followed(TicketSeen),
}

/// `Job::SyncTickets`: brings one incident's tickets, in every PSA of the tenant, in step.
///
/// # Errors
/// When the database fails, or a PSA is not answering yet (the job runs again).
pub(crate) async fn sync_incident(
    shared: &Shared,
    tenant_id: TenantId,
    incident_id: IncidentId,
) -> Result<(), JobError> {
    let psa = as_steward(
        shared,
        "sync_tickets",
        tenant_id,
        Finish::Discard,
        async |work| {
            work.tickets()
                .psa_integrations()
                .await
                .map_err(JobError::from)
        },
    )
    .await?
    .unwrap_or_default();
    let mut outcome = Ok(());
    for integration_id in psa {
        if let Err(error) = reconcile(shared, tenant_id, integration_id, Some(incident_id)).await? {
            let failed = JobError::from(error).context("a PSA did not bring the ticket in step");
            outcome = crate::job_error::both(outcome, Err(failed));
        }
    }
    outcome
}

/// Part of a PSA integration's synchronization: every open incident gets its ticket, and every
/// ticket closed or reopened at the PSA moves its incident.
///
/// # Errors
/// When the database fails; the PSA's own error is returned inside.
pub(crate) async fn sync_integration(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
) -> Result<Result<(), ConnectorError>, JobError> {
    reconcile(shared, tenant_id, integration_id, None).await
}

/// Reconciles `only` (or every open and recently ticketed incident) with one PSA integration.
/// The PSA's first error stops the round and is returned inside; the database's fails the job.
async fn reconcile(
    shared: &Shared,
    tenant_id: TenantId,
    integration_id: IntegrationId,
    only: Option<IncidentId>,
) -> Result<Result<(), ConnectorError>, JobError> {
    let now = shared.clock.now();
    let read = as_steward(
        shared,
        "sync_tickets",
        tenant_id,
        Finish::Discard,
        async |work| {
            let Some(opened) = open_integration(work, &shared.secrets, integration_id).await?
            else {
                return Ok(None);
            };
            let links = work
                .tickets()
                .of_integration(integration_id)
                .await
                .map_err(JobError::from)?;
            let mut wanted: Vec<IncidentId> = match only {
                Some(id) => vec![id],
                None => {
                    let mut ids = work.incidents().open_ids().await.map_err(JobError::from)?;
                    ids.extend(
                        links
                            .iter()
                            .filter(|l| !l.ticket_closed || now - l.updated_at < REOPEN_WINDOW)
                            .map(|l| l.incident_id),
                    );
                    ids
                }
            };
            wanted.sort();
            wanted.dedup();
            let mut incidents = Vec::new();
            for id in wanted {
                if let Some(incident) = work.incidents().get(id).await.map_err(JobError::from)? {
                    let link = links.iter().find(|l| l.incident_id == id).cloned();
                    incidents.push((incident, link));
                }
            }
            Ok(Some((opened, incidents)))
        },
    )
    .await?;
    let Some(Some(((integration, credential), incidents))) = read else {
        return Ok(Ok(()));
    };
    let http = shared
        .vendor_http(shared.vendor_retries.clone())
        .map_err(JobError::from)?;
    let connector = match registry::connect(
        integration.vendor,
        &integration.settings,
        credential,
        http,
        Arc::clone(&shared.clock),
    ) {
        Ok(connector) => connector,
        Err(error) => return Ok(Err(error)),
    };
    for (incident, link) in incidents {
        let outcome = match reconcile_one(&connector, &incident, link.as_ref()).await {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::warn!(%tenant_id, %integration_id, incident = %incident.id, %error, "ticket not in step");
                return Ok(Err(error));
            }
        };
        as_steward(shared, "sync_tickets", tenant_id, Finish::Commit, async |work| {
            match outcome {
                Outcome::Nothing => {}
                Outcome::Pushed(seen, synced) => {
                    work.record_ticket(incident.id, integration_id, &seen, synced)
                        .await
                        .map_err(JobError::from)?;
                }
                Outcome::Followed(seen) => {
                    let followed =
                        steward_core::incidents::follow_ticket(work, incident.id, seen.closed)
                            .await
                        .map_err(JobError::from)?;
                    let synced = followed.map_or(incident.status, |i| i.status);
                    tracing::info!(%tenant_id, incident = %incident.id, status = %synced.as_str(), "incident follows its ticket");
                    work.record_ticket(incident.id, integration_id, &seen, synced)
                        .await
                        .map_err(JobError::from)?;
                }
            }
            Ok(())
        })
        .await?;
    }
    Ok(Ok(()))
}

fn seen(state: TicketState) -> TicketSeen {
    TicketSeen {
        ticket_id: state.id,
        status: state.status,
        closed: state.closed,
    }
}

/// Brings one incident and its ticket in one PSA in step.
async fn reconcile_one(
    connector: &AnyConnector,
    incident: &Incident,
    link: Option<&IncidentTicket>,
) -> Result<Outcome, ConnectorError> {
    let current = match link {
        Some(link) => connector.ticket(&link.ticket_id).await?,
        None => None,
    };
    if let (Some(link), Some(state)) = (link, &current)
        && state.closed != link.ticket_closed
    {
        return Ok(Outcome::Followed(seen(state.clone())));
    }
    let agreed = link.map(|l| l.synced_status);
    let mut state = match current {
        Some(state) => state,
        // A resolved incident without a ticket needs none; a ticket deleted in the PSA is
        // opened again.
        None if link.is_none() && !incident.status.is_open() => return Ok(Outcome::Nothing),
        None => connector.open_ticket(&draft(incident)).await?,
    };
    let changed = agreed.map_or(incident.status != IncidentStatus::New, |a| {
        a != incident.status
    });
    if changed {
        connector.add_note(&state.id, &note(incident)).await?;
    }
    let want_closed = incident.status == IncidentStatus::Resolved;
    if changed && state.closed != want_closed {
        state = connector.set_closed(&state.id, want_closed).await?;
    }
    Ok(Outcome::Pushed(seen(state), incident.status))
}

fn severity_name(severity_id: u8) -> &'static str {
    match severity_id {
        6.. => "fatal",
        5 => "critical",
        4 => "high",
        3 => "medium",
        2 => "low",
        _ => "informational",
    }
}

/// The ticket Steward opens for an incident.
fn draft(incident: &Incident) -> TicketDraft {
    let mut description = format!(
        "Steward opened this ticket for incident {} ({} severity): {}.\n",
        incident.id,
        severity_name(incident.severity_id),
        incident.title
    );
    if !incident.findings.is_empty() {
        description.push_str("\nFindings:\n");
        for finding in &incident.findings {
            description.push_str(&format!(
                "- {} ({})\n",
                finding.title,
                finding.time.format("%Y-%m-%d %H:%M UTC")
            ));
        }
    }
    description.push_str(
        "\nSteward notes each change of the incident's status here and closes this ticket when the incident is resolved. Closing this ticket resolves the incident in Steward; reopening it reopens the incident.",
    );
    TicketDraft {
        reference: tickets::reference(incident.id.as_uuid()),
        summary: incident.title.clone(),
        description,
        severity_id: incident.severity_id,
    }
}

/// The note for an incident's new status.
fn note(incident: &Incident) -> String {
    match (incident.status, incident.verdict) {
        (IncidentStatus::Resolved, Some(verdict)) => format!(
            "Steward: the incident was resolved ({}).",
            verdict.as_str().replace('_', " ")
        ),
        (IncidentStatus::Resolved, None) => "Steward: the incident was resolved.".to_owned(),
        (status, _) => format!("Steward: the incident is now {}.", status.as_str()),
    }
}
