//! The approvals stage: requests for a person's decision, and their answers.
//!
//! - [`answer`](mod@answer): who may answer what, the quorum, and recording an answer — through
//!   the API and web UI ([`answer()`]), an email link ([`answer_link`]) or Slack
//!   ([`answer_in_slack`]).
//! - [`expiry`]: requests whose time is up, escalated or expired.
//!
//! Sending the requests (email, Slack) is the workers' (`steward_workers::request_approval`);
//! the links themselves and the Slack connection are stored by `crate::storage::approval_links`
//! and `crate::storage::slack`.

pub mod answer;
pub mod expiry;
mod links;
mod slack;

pub use self::{
    answer::{ApprovalAnswer, MAX_COMMENT, answer},
    expiry::{Settled, settle_due},
    links::answer_link,
    slack::{SlackAnswerError, answer_in_slack},
};
