//! Tickets in the MSP's simulated PSAs (HaloPSA, ConnectWise Manage).

use super::*;

/// The PSA a simulated ticket lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PsaSystem {
    HaloPsa,
    ConnectWise,
}

/// A ticket in one of the MSP's PSAs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimTicket {
    pub system: PsaSystem,
    pub id: u64,
    pub summary: String,
    pub details: String,
    /// ConnectWise Manage's `externalXRef`; HaloPSA keeps none.
    pub external_reference: Option<String>,
    pub status_id: u32,
    /// HaloPSA's `priority_id`, or ConnectWise Manage's severity (`High`, `Medium`, `Low`).
    pub priority: String,
    /// Internal notes (HaloPSA actions, ConnectWise Manage ticket notes), oldest first.
    pub notes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Environment {
    /// The customer's ticket `id` in `system`, to change: both PSAs' writes look tickets up so.
    pub(crate) fn ticket_mut(&mut self, system: PsaSystem, id: u64) -> Option<&mut SimTicket> {
        self.psa_tickets
            .iter_mut()
            .find(|t| t.system == system && t.id == id)
    }
}
