//! Why a job did not finish, and when it runs again.
//!
//! A job fails in one of two ways. A *retryable* failure (the database, a vendor, the mail
//! server or Slack unavailable, a concurrent change) is rescheduled after a delay that doubles
//! with each attempt; the worker's slot is free meanwhile. A *permanent* failure (a stored value
//! Steward cannot read, a refusal another try would meet again) is recorded in the queue with
//! its reason and the job does not run again; `steward jobs` lists both kinds.

use std::{fmt::Display, time::Duration};

use steward_core::{
    inventory::SyncError,
    storage::{
        DbErr, IntegrationAdminError, StorageError, WorkError, outbound_webhooks::OutgoingError,
    },
};
use steward_integrations::{ConnectorError, http::HttpError};

/// Why a job could not finish, and whether another try may succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Another try later may succeed: the job is rescheduled.
    #[error("{0}")]
    Retryable(String),
    /// Another try would fail the same way: the job is recorded as failed for good.
    #[error("{0}")]
    Permanent(String),
}

impl JobError {
    pub fn retryable(reason: impl Display) -> Self {
        Self::Retryable(reason.to_string())
    }

    pub fn permanent(reason: impl Display) -> Self {
        Self::Permanent(reason.to_string())
    }

    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }

    /// The same failure, its reason preceded by what the job was doing.
    #[must_use]
    pub fn context(self, doing: &str) -> Self {
        match self {
            Self::Retryable(reason) => Self::Retryable(format!("{doing}: {reason}")),
            Self::Permanent(reason) => Self::Permanent(format!("{doing}: {reason}")),
        }
    }

    /// The failure of a job that did two independent things and failed at both: it runs again
    /// (and redoes only what is left) when either part may succeed on another try.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Permanent(first), Self::Permanent(second)) => {
                Self::Permanent(format!("{first}; {second}"))
            }
            (Self::Retryable(first), Self::Permanent(second))
            | (Self::Permanent(second), Self::Retryable(first)) => {
                Self::Retryable(format!("{first}; {second}"))
            }
            (Self::Retryable(first), Self::Retryable(second)) => {
                Self::Retryable(format!("{first}; {second}"))
            }
        }
    }
}

/// Combines the outcomes of two independent parts of one job.
pub(crate) fn both(
    first: Result<(), JobError>,
    second: Result<(), JobError>,
) -> Result<(), JobError> {
    match (first, second) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
        (Err(first), Err(second)) => Err(first.and(second)),
    }
}

impl From<StorageError> for JobError {
    fn from(error: StorageError) -> Self {
        let reason = error_chain(&error);
        match error {
            // A row Steward cannot interpret stays so until someone repairs it.
            StorageError::Corrupt { .. } => Self::Permanent(reason),
            // Unavailable, busy, or a concurrent writer: the next try re-reads the state.
            StorageError::DataDir { .. }
            | StorageError::Connect { .. }
            | StorageError::Migrate(_)
            | StorageError::Conflict { .. }
            | StorageError::Database(_) => Self::Retryable(reason),
        }
    }
}

impl From<DbErr> for JobError {
    fn from(error: DbErr) -> Self {
        StorageError::Database(error).into()
    }
}

impl From<SyncError> for JobError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::Storage(error) => error.into(),
            // Removed since the job was enqueued: it stays removed.
            error @ SyncError::UnknownIntegration(_) => Self::permanent(error),
        }
    }
}

impl From<crate::sync::SyncRunError> for JobError {
    fn from(error: crate::sync::SyncRunError) -> Self {
        use crate::sync::SyncRunError;
        match error {
            SyncRunError::Integration(error) => error.into(),
            SyncRunError::Record(error) => error.into(),
            SyncRunError::Storage(error) => error.into(),
            // A person's refusal or a TLS stack that cannot start meets the same next time.
            error @ (SyncRunError::Forbidden(_)
            | SyncRunError::Client(_)
            | SyncRunError::UnknownTenant(_)) => Self::permanent(error_chain(&error)),
        }
    }
}

impl From<IntegrationAdminError> for JobError {
    fn from(error: IntegrationAdminError) -> Self {
        match error {
            IntegrationAdminError::Storage(error) => error.into(),
            // Gone, offboarded, or a credential the deployment's key cannot open.
            error => Self::permanent(error_chain(&error)),
        }
    }
}

impl From<OutgoingError> for JobError {
    fn from(error: OutgoingError) -> Self {
        match error {
            OutgoingError::Storage(error) => error.into(),
            error @ OutgoingError::Secret(_) => Self::permanent(error_chain(&error)),
        }
    }
}

impl From<WorkError> for JobError {
    fn from(error: WorkError) -> Self {
        match error {
            WorkError::Storage(error) => error.into(),
            WorkError::Action(steward_core::storage::ActionRequestError::Storage(error))
            | WorkError::Incident(steward_core::storage::IncidentUpdateError::Storage(error))
            | WorkError::Guardrail(steward_core::storage::GuardrailError::Storage(error)) => {
                error.into()
            }
            // Another writer moved the action at the same moment: the next try sees its state.
            error @ WorkError::Action(steward_core::storage::ActionRequestError::Contended) => {
                Self::retryable(error)
            }
            // Steward's own rules refused: they will refuse the same request again.
            error => Self::permanent(error),
        }
    }
}

impl From<ConnectorError> for JobError {
    fn from(error: ConnectorError) -> Self {
        if error.is_transient() {
            Self::retryable(error)
        } else {
            Self::permanent(error)
        }
    }
}

impl From<HttpError> for JobError {
    /// Throttled or unavailable vendors are retried; a request that cannot be built or that the
    /// egress rule forbids is not.
    fn from(error: HttpError) -> Self {
        ConnectorError::from(error).into()
    }
}

/// An error with its sources, as one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// When a job whose last try failed retryably runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobRetry {
    /// The wait after the first failed try; it doubles with each further one.
    pub first: Duration,
    /// The longest wait between two tries.
    pub max: Duration,
}

impl Default for JobRetry {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            max: Duration::from_secs(600),
        }
    }
}

impl JobRetry {
    /// The wait before the try after `attempt` (1 for the first try) failed.
    #[must_use]
    pub fn after(&self, attempt: usize) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(31);
        self.first.saturating_mul(1_u32 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_steward_cannot_read_fails_the_job_for_good() {
        let corrupt = JobError::from(StorageError::Corrupt {
            what: "action",
            detail: "unknown status \"exploded\"".into(),
        });
        assert!(!corrupt.is_retryable());
        assert!(corrupt.to_string().contains("exploded"), "{corrupt}");
    }

    #[test]
    fn an_unavailable_database_is_worth_another_try() {
        let unavailable = JobError::from(DbErr::Custom("connection refused".into()));
        assert!(unavailable.is_retryable());
        assert!(
            unavailable.to_string().contains("connection refused"),
            "{unavailable}"
        );
    }

    #[test]
    fn vendors_that_may_answer_later_are_retried_and_refusals_are_not() {
        assert!(JobError::from(ConnectorError::Throttled { retry_after: None }).is_retryable());
        assert!(
            !JobError::from(ConnectorError::Authentication("invalid_auth".into())).is_retryable()
        );
    }

    #[test]
    fn steward_refusing_its_own_request_is_permanent_but_contention_is_not() {
        use steward_core::storage::ActionRequestError;
        assert!(JobError::from(WorkError::Action(ActionRequestError::Contended)).is_retryable());
        assert!(!JobError::from(WorkError::Action(ActionRequestError::OwnProposal)).is_retryable());
    }

    #[test]
    fn a_job_with_one_part_worth_retrying_runs_again() {
        let mail = Err(JobError::permanent("the SMTP server refused the message"));
        let slack = Err(JobError::retryable("Slack is not answering"));
        let combined = both(mail, slack).unwrap_err();
        assert!(combined.is_retryable());
        assert!(combined.to_string().contains("refused"), "{combined}");
        assert!(combined.to_string().contains("Slack"), "{combined}");
        let refused = both(
            Err(JobError::permanent("refused")),
            Err(JobError::permanent("channel_not_found")),
        )
        .unwrap_err();
        assert!(!refused.is_retryable());
        assert_eq!(
            both(Ok(()), Err(JobError::retryable("x"))),
            Err(JobError::retryable("x"))
        );
        assert_eq!(both(Ok(()), Ok(())), Ok(()));
    }

    #[test]
    fn the_wait_doubles_from_the_first_and_stops_at_the_longest() {
        let retry = JobRetry {
            first: Duration::from_secs(5),
            max: Duration::from_secs(60),
        };
        let waits: Vec<u64> = (1..=6)
            .map(|attempt| retry.after(attempt).as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(retry.after(0), Duration::from_secs(5));
        assert_eq!(retry.after(usize::MAX), Duration::from_secs(60));
    }
}
