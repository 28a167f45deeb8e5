//! The incidents stage: findings grouped into incidents, and an incident's life to its verdict.
//!
//! - [`grouping`]: which open incident a finding joins ([`grouping::joins`], within
//!   [`GROUPING_WINDOW`]), or the new one it opens.
//! - [`lifecycle`]: statuses, assignees and verdicts set by people, and by their PSA tickets.
//!
//! Reading incidents is storage's (`crate::storage::IncidentReader`); an action that took effect
//! marks its incident contained as part of the action's own transition (storage).

pub mod grouping;
pub mod lifecycle;

pub use self::{
    grouping::{GROUPING_WINDOW, Recorded, record_finding, record_finding_into},
    lifecycle::{follow_ticket, update_incident},
};
