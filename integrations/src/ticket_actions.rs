//! `open_ticket` and `close_ticket` through a PSA: the device's or person's ticket, found by
//! its reference (`STEWARD-{entity id}`, the action's target at the vendor), opened, noted,
//! closed or reopened, and verified by reading the ticket back.
//!
//! The two are each other's rollback, and the snapshot (whether the ticket existed and was open)
//! decides whether a rollback has anything to do: rolling back an `open_ticket` closes a ticket
//! that was not open before, rolling back a `close_ticket` reopens one that was. Notes stay:
//! PSAs keep a ticket's history, and so does the rollback.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_domain::actions::ActionType;

use crate::{
    contract::{ActionRequest, ConnectorError, Execution, Snapshot, Verification},
    tickets::{TicketDesk, TicketDraft, TicketState},
};

/// What a ticket action's snapshot records.
#[derive(Debug, Serialize, Deserialize)]
struct Prior {
    reference: String,
    /// The ticket as it was, `None` when there was none.
    ticket: Option<TicketState>,
}

/// The request's target: a ticket reference Steward gives, never a free search term.
fn reference(request: &ActionRequest) -> Result<&str, ConnectorError> {
    request
        .target
        .strip_prefix("STEWARD-")
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .map(|_| request.target.as_str())
        .ok_or_else(|| {
            ConnectorError::Configuration(format!(
                "{:?} is not a Steward ticket reference",
                request.target
            ))
        })
}

/// The ticket as it is before the action.
///
/// # Errors
/// The PSA's [`ConnectorError`].
pub async fn snapshot(
    desk: &impl TicketDesk,
    request: &ActionRequest,
) -> Result<Snapshot, ConnectorError> {
    let reference = reference(request)?;
    let prior = Prior {
        reference: reference.to_owned(),
        ticket: desk.find_ticket(reference).await?,
    };
    serde_json::to_value(prior)
        .map(Snapshot)
        .map_err(|e| ConnectorError::Protocol(e.to_string()))
}

/// Opens (or notes, or reopens) the ticket, or closes it. The request's comment is the note:
/// its first line is the new ticket's title.
///
/// # Errors
/// The PSA's [`ConnectorError`]; closing a ticket that was never opened is
/// [`ConnectorError::NotFound`].
pub async fn execute(
    desk: &impl TicketDesk,
    request: &ActionRequest,
    now: DateTime<Utc>,
) -> Result<Execution, ConnectorError> {
    let reference = reference(request)?;
    let existing = desk.find_ticket(reference).await?;
    let (ticket, changed) = match (request.action, existing) {
        (ActionType::OpenTicket, None) => {
            let title = request.comment.lines().next().unwrap_or_default();
            let draft = TicketDraft {
                reference: reference.to_owned(),
                summary: title.to_owned(),
                description: request.comment.clone(),
                severity_id: 3,
            };
            (desk.open_ticket(&draft).await?, true)
        }
        (ActionType::OpenTicket, Some(ticket)) => {
            desk.add_note(&ticket.id, &request.comment).await?;
            if ticket.closed {
                (desk.set_closed(&ticket.id, false).await?, true)
            } else {
                (ticket, false)
            }
        }
        (ActionType::CloseTicket, None) => {
            return Err(ConnectorError::NotFound(format!(
                "ticket {reference}: the PSA has no ticket to close"
            )));
        }
        (ActionType::CloseTicket, Some(ticket)) if ticket.closed => (ticket, false),
        (ActionType::CloseTicket, Some(ticket)) => {
            desk.add_note(&ticket.id, &request.comment).await?;
            (desk.set_closed(&ticket.id, true).await?, true)
        }
        (other, _) => return Err(ConnectorError::Unsupported(other)),
    };
    Ok(Execution {
        vendor_reference: Some(ticket.id),
        requested_at: now,
        changed,
    })
}

/// Whether the ticket is open (`open_ticket`) or closed (`close_ticket`) at the PSA.
///
/// # Errors
/// The PSA's [`ConnectorError`].
pub async fn verify(
    desk: &impl TicketDesk,
    request: &ActionRequest,
    execution: &Execution,
) -> Result<Verification, ConnectorError> {
    let Some(id) = execution.vendor_reference.as_deref() else {
        return Ok(Verification::Failed("the PSA gave no ticket id".to_owned()));
    };
    let want_closed = request.action == ActionType::CloseTicket;
    Ok(match desk.ticket(id).await? {
        None => Verification::Failed(format!("the PSA no longer has ticket {id}")),
        Some(ticket) if ticket.closed == want_closed => Verification::Confirmed(format!(
            "ticket {id} ({}) is {}",
            request.target, ticket.status
        )),
        Some(ticket) => Verification::Failed(format!(
            "ticket {id} ({}) is {}, not {}",
            request.target,
            ticket.status,
            if want_closed { "closed" } else { "open" }
        )),
    })
}

/// Puts the ticket back as the snapshot found it: closes a ticket `open_ticket` opened or
/// reopened, reopens one `close_ticket` closed; `None` when it was already so.
///
/// # Errors
/// The PSA's [`ConnectorError`].
pub async fn rollback(
    desk: &impl TicketDesk,
    request: &ActionRequest,
    snapshot: &Snapshot,
    now: DateTime<Utc>,
) -> Result<Option<(ActionRequest, Execution)>, ConnectorError> {
    let prior: Prior = serde_json::from_value(snapshot.0.clone())
        .map_err(|e| ConnectorError::Protocol(format!("unreadable snapshot: {e}")))?;
    let was_open = prior.ticket.as_ref().is_some_and(|t| !t.closed);
    let undo = match request.action {
        ActionType::OpenTicket => !was_open,
        ActionType::CloseTicket => was_open,
        other => return Err(ConnectorError::Unsupported(other)),
    };
    if !undo {
        return Ok(None);
    }
    let inverse = crate::contract::inverse_request(request)?;
    let execution = execute(desk, &inverse, now).await?;
    Ok(Some((inverse, execution)))
}

/// The action methods of a PSA connector: its vendor's ticket actions, through
/// [`crate::ticket_actions`]. The connector has a `clock`.
macro_rules! ticket_connector {
    () => {
        fn actions(&self) -> &'static [steward_domain::actions::ActionType] {
            $crate::contract::Connector::vendor(self).actions()
        }

        async fn snapshot(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Snapshot, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            $crate::ticket_actions::snapshot(self, request).await
        }

        async fn execute(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Execution, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            $crate::ticket_actions::execute(self, request, self.clock.now()).await
        }

        async fn verify(
            &self,
            request: &$crate::contract::ActionRequest,
            execution: &$crate::contract::Execution,
        ) -> Result<$crate::contract::Verification, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            $crate::ticket_actions::verify(self, request, execution).await
        }

        async fn rollback(
            &self,
            request: &$crate::contract::ActionRequest,
            snapshot: &$crate::contract::Snapshot,
        ) -> Result<
            Option<($crate::contract::ActionRequest, $crate::contract::Execution)>,
            $crate::contract::ConnectorError,
        > {
            $crate::contract::ensure_supported(self, request.action)?;
            $crate::ticket_actions::rollback(self, request, snapshot, self.clock.now()).await
        }
    };
}
pub(crate) use ticket_connector;
