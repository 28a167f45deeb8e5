//! The ticket contract: what a PSA connector does for Steward's incidents.
//!
//! Every open incident has a ticket in the customer's PSA, found again by the incident's
//! reference so that a retried job never opens a second one; Steward notes each status change
//! on it and closes it when the incident is resolved. The other way round, a ticket closed by a
//! technician in the PSA resolves its incident, and a reopened ticket reopens it.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::contract::ConnectorError;

/// What Steward asks a PSA to open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDraft {
    /// Unique per incident (`STEWARD-{incident id}`), kept at the vendor so an earlier ticket is
    /// found instead of a second one opened.
    pub reference: String,
    pub summary: String,
    pub description: String,
    /// The incident's OCSF severity (1 informational … 5 critical, 6 fatal).
    pub severity_id: u8,
}

/// A ticket as the PSA shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketState {
    /// The vendor's ticket id.
    pub id: String,
    /// The status name the PSA shows (`New`, `In Progress`, `Closed`).
    pub status: String,
    /// Whether the PSA counts the ticket as closed.
    pub closed: bool,
}

/// A PSA connector's ticket operations.
pub trait TicketDesk: Send + Sync {
    /// The ticket with `draft.reference`, opened if the PSA has none yet.
    fn open_ticket(
        &self,
        draft: &TicketDraft,
    ) -> impl Future<Output = Result<TicketState, ConnectorError>> + Send;

    /// The customer's ticket with `reference`, if the PSA has one.
    fn find_ticket(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<Option<TicketState>, ConnectorError>> + Send;

    /// The ticket's current state; `None` when the PSA no longer has it.
    fn ticket(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<TicketState>, ConnectorError>> + Send;

    /// Adds an internal note to the ticket.
    fn add_note(
        &self,
        id: &str,
        text: &str,
    ) -> impl Future<Output = Result<(), ConnectorError>> + Send;

    /// Closes the ticket, or reopens it.
    fn set_closed(
        &self,
        id: &str,
        closed: bool,
    ) -> impl Future<Output = Result<TicketState, ConnectorError>> + Send;
}

/// The reference of an incident's ticket, or of a device's or person's ticket (opened by the
/// `open_ticket` action): Steward's id of what the ticket is about.
#[must_use]
pub fn reference(incident_id: uuid::Uuid) -> String {
    format!("STEWARD-{incident_id}")
}

/// Ticket summaries are short at every PSA (ConnectWise Manage allows 100 characters): the
/// reference first, then as much of the title as fits.
#[must_use]
pub fn summary(reference: &str, title: &str, limit: usize) -> String {
    let full = format!("[{reference}] {title}");
    if full.chars().count() <= limit {
        return full;
    }
    let mut cut: String = full.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_keep_the_reference_and_fit_the_limit() {
        let reference = reference(uuid::Uuid::nil());
        let short = summary(&reference, "Malware on FIN-LT01", 100);
        assert_eq!(
            short,
            "[STEWARD-00000000-0000-0000-0000-000000000000] Malware on FIN-LT01"
        );
        let long = summary(&reference, &"x".repeat(200), 100);
        assert_eq!(long.chars().count(), 100);
        assert!(long.starts_with(&format!("[{reference}]")));
        assert!(long.ends_with('…'));
    }
}
