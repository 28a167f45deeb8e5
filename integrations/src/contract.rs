//! The connector contract: what every vendor connector can do.
//!
//! A connector pulls inventory and events, and carries out actions in four steps the action engine
//! drives and records: **snapshot** the state the action will change, **execute**, **verify** at
//! the vendor that it took effect (which may take several polls), and, if the action is
//! reversible, **roll back** to the snapshot. Every step is safe to repeat: an execution carries
//! an idempotency key the connector uses to find an earlier attempt at the vendor instead of
//! acting twice.

use std::{collections::BTreeMap, future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_domain::{
    actions::{ActionParameters, ActionType},
    integrations::MissingTelemetry,
    observations::{EventStream, ObservedEvent, ObservedInventory, Vendor},
};

/// A request to change something at the vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRequest {
    pub action: ActionType,
    /// The vendor's identifier of the target (Defender machine id, Entra object id).
    pub target: String,
    /// What the action needs besides its target (the group of a group action).
    pub parameters: ActionParameters,
    /// Unique per attempt of one Steward action; lets the connector recognise its own earlier
    /// request at the vendor after a crash or a lost answer.
    pub idempotency_key: String,
    /// Why, recorded at the vendor where it keeps a comment.
    pub comment: String,
    /// When this attempt began (its snapshot was taken), if it did before this request: a
    /// connector whose vendor keeps no request key tells by the target's state whether an
    /// earlier run of the same attempt already landed, and then does not send it again.
    pub attempt_started_at: Option<DateTime<Utc>>,
}

/// The state an action changes, as it was before; opaque to everything but its connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot(pub serde_json::Value);

/// What the vendor said when it accepted a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// The vendor's handle on the work, where it has one (a Defender machine action id).
    pub vendor_reference: Option<String>,
    /// When Steward asked, so verification can tell its own change from older state.
    pub requested_at: DateTime<Utc>,
    /// False when the target was already in the requested state and nothing was sent.
    pub changed: bool,
}

/// Where an action stands at the vendor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum Verification {
    /// Still in progress; ask again later.
    Pending(String),
    /// The vendor shows the intended state.
    Confirmed(String),
    /// The vendor says it failed, or shows a different state.
    Failed(String),
}

/// What a connection test found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// One line per capability checked, for the integration's page.
    pub checks: Vec<String>,
}

/// Why a connector call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConnectorError {
    /// The integration's settings are unusable (bad URL, missing value).
    #[error("configuration: {0}")]
    Configuration(String),
    /// The vendor refused the credentials.
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The credentials are valid but lack a permission.
    #[error("permission denied by the vendor: {0}")]
    Forbidden(String),
    /// The target does not exist at the vendor.
    #[error("not found at the vendor: {0}")]
    NotFound(String),
    /// The vendor rejected the request (4xx) with its own code.
    #[error("the vendor rejected the request ({code}): {message}")]
    Rejected { code: String, message: String },
    /// The vendor kept throttling after every retry allowed.
    #[error("the vendor is throttling requests")]
    Throttled { retry_after: Option<Duration> },
    /// The vendor could not be reached or kept failing.
    #[error("the vendor is unavailable: {0}")]
    Unavailable(String),
    /// A non-idempotent request may have taken effect; verify before repeating.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(String),
    /// The vendor answered something this connector cannot read.
    #[error("unexpected answer from the vendor: {0}")]
    Protocol(String),
    /// The connector does not perform this action.
    #[error("{0} is not an action this connector performs")]
    Unsupported(ActionType),
}

impl From<crate::http::HttpError> for ConnectorError {
    /// The connector error for a transport-level failure.
    fn from(error: crate::http::HttpError) -> Self {
        use crate::http::HttpError;
        match error {
            HttpError::Throttled { retry_after } => ConnectorError::Throttled { retry_after },
            HttpError::Unavailable(detail) => ConnectorError::Unavailable(detail),
            HttpError::OutcomeUnknown(detail) => ConnectorError::OutcomeUnknown(detail),
            HttpError::Request(detail) => ConnectorError::Configuration(detail),
            refused @ HttpError::Refused(_) => ConnectorError::Configuration(refused.to_string()),
        }
    }
}

impl ConnectorError {
    /// The error for a vendor's refusal with HTTP `status`: its own error `code` where it gives
    /// one (else `HTTP {status}`) and `message`.
    #[must_use]
    pub(crate) fn refusal(
        status: reqwest::StatusCode,
        code: Option<String>,
        message: &str,
    ) -> Self {
        let code = code.unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        match status {
            reqwest::StatusCode::UNAUTHORIZED => {
                ConnectorError::Authentication(format!("{code}: {message}"))
            }
            reqwest::StatusCode::FORBIDDEN => {
                ConnectorError::Forbidden(format!("{code}: {message}"))
            }
            _ => ConnectorError::Rejected {
                code,
                message: message.to_owned(),
            },
        }
    }

    /// Whether trying again later may succeed without anyone changing anything.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ConnectorError::Throttled { .. }
                | ConnectorError::Unavailable(_)
                | ConnectorError::OutcomeUnknown(_)
        )
    }
}

/// A vendor connector.
pub trait Connector: Send + Sync {
    fn vendor(&self) -> Vendor;

    /// Authenticates and reads one item of each kind the connector needs.
    fn test_connection(
        &self,
    ) -> impl Future<Output = Result<ConnectionReport, ConnectorError>> + Send;

    /// Every device and identity the vendor knows, all pages.
    fn inventory(&self) -> impl Future<Output = Result<ObservedInventory, ConnectorError>> + Send;

    /// The same complete inventory, read incrementally where the vendor offers it: `state` is
    /// what the previous call returned (Steward keeps it per integration, opaque), `None` the
    /// first time. Returns the inventory and the state for the next call. By default a full
    /// read, with no state.
    fn inventory_from(
        &self,
        state: Option<serde_json::Value>,
    ) -> impl Future<Output = Result<(ObservedInventory, Option<serde_json::Value>), ConnectorError>>
    + Send {
        let _ = state;
        async move { Ok((self.inventory().await?, None)) }
    }

    /// Events of each of the vendor's streams ([`Vendor::event_streams`]) since that stream's
    /// cursor (all retained events of a stream without one), normalized to OCSF.
    fn events(
        &self,
        cursors: &EventCursors,
    ) -> impl Future<Output = Result<Vec<ObservedEvent>, ConnectorError>> + Send;

    /// What the vendor withheld from the last [`Connector::events`] although it answered the
    /// rest (a licence without advanced hunting): a blind spot the tenant's coverage shows.
    fn missing_telemetry(&self) -> Vec<MissingTelemetry> {
        Vec::new()
    }

    /// The actions this connector can carry out.
    fn actions(&self) -> &'static [ActionType];

    /// The state `request` would change, read before executing it.
    fn snapshot(
        &self,
        request: &ActionRequest,
    ) -> impl Future<Output = Result<Snapshot, ConnectorError>> + Send;

    /// Asks the vendor to carry out `request`. Repeating it with the same idempotency key does
    /// not act twice.
    fn execute(
        &self,
        request: &ActionRequest,
    ) -> impl Future<Output = Result<Execution, ConnectorError>> + Send;

    /// Whether `execution` of `request` has taken effect at the vendor.
    fn verify(
        &self,
        request: &ActionRequest,
        execution: &Execution,
    ) -> impl Future<Output = Result<Verification, ConnectorError>> + Send;

    /// Restores the state in `snapshot` by executing the inverse of `request`; the returned
    /// request and execution are verified like any other. `None` when the snapshot shows there
    /// is nothing to undo (the target was already in the requested state).
    fn rollback(
        &self,
        request: &ActionRequest,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<Option<(ActionRequest, Execution)>, ConnectorError>> + Send;
}

/// The action methods of a connector that only reads (inventory and events): it declares no
/// actions, and each step refuses with [`ConnectorError::Unsupported`].
macro_rules! read_only_connector {
    () => {
        fn actions(&self) -> &'static [steward_domain::actions::ActionType] {
            &[]
        }

        async fn snapshot(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Snapshot, $crate::contract::ConnectorError> {
            Err($crate::contract::ConnectorError::Unsupported(
                request.action,
            ))
        }

        async fn execute(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Execution, $crate::contract::ConnectorError> {
            Err($crate::contract::ConnectorError::Unsupported(
                request.action,
            ))
        }

        async fn verify(
            &self,
            request: &$crate::contract::ActionRequest,
            _execution: &$crate::contract::Execution,
        ) -> Result<$crate::contract::Verification, $crate::contract::ConnectorError> {
            Err($crate::contract::ConnectorError::Unsupported(
                request.action,
            ))
        }

        async fn rollback(
            &self,
            request: &$crate::contract::ActionRequest,
            _snapshot: &$crate::contract::Snapshot,
        ) -> Result<
            Option<($crate::contract::ActionRequest, $crate::contract::Execution)>,
            $crate::contract::ConnectorError,
        > {
            Err($crate::contract::ConnectorError::Unsupported(
                request.action,
            ))
        }
    };
}
pub(crate) use read_only_connector;

/// The action methods of an RMM connector that runs script pairs: its vendor's script actions,
/// through the connector module's `scripts` (`snapshot`, `execute`, `verify`). A script's
/// effect is its own, so the rollback always runs the other script of the pair.
macro_rules! script_connector {
    () => {
        fn actions(&self) -> &'static [steward_domain::actions::ActionType] {
            $crate::contract::Connector::vendor(self).actions()
        }

        async fn snapshot(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Snapshot, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            scripts::snapshot(self, request).await
        }

        async fn execute(
            &self,
            request: &$crate::contract::ActionRequest,
        ) -> Result<$crate::contract::Execution, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            scripts::execute(self, request).await
        }

        async fn verify(
            &self,
            request: &$crate::contract::ActionRequest,
            execution: &$crate::contract::Execution,
        ) -> Result<$crate::contract::Verification, $crate::contract::ConnectorError> {
            $crate::contract::ensure_supported(self, request.action)?;
            scripts::verify(self, request, execution).await
        }

        async fn rollback(
            &self,
            request: &$crate::contract::ActionRequest,
            _snapshot: &$crate::contract::Snapshot,
        ) -> Result<
            Option<($crate::contract::ActionRequest, $crate::contract::Execution)>,
            $crate::contract::ConnectorError,
        > {
            $crate::contract::ensure_supported(self, request.action)?;
            let inverse = $crate::contract::inverse_request(request)?;
            let execution = scripts::execute(self, &inverse).await?;
            Ok(Some((inverse, execution)))
        }
    };
}
pub(crate) use script_connector;

/// Refuses actions `connector` does not carry out.
///
/// # Errors
/// [`ConnectorError::Unsupported`].
pub fn ensure_supported(
    connector: &impl Connector,
    action: ActionType,
) -> Result<(), ConnectorError> {
    if connector.actions().contains(&action) {
        Ok(())
    } else {
        Err(ConnectorError::Unsupported(action))
    }
}

/// The request that undoes `request`, if the action is reversible.
///
/// # Errors
/// [`ConnectorError::Unsupported`] for irreversible actions.
pub fn inverse_request(request: &ActionRequest) -> Result<ActionRequest, ConnectorError> {
    let action = request
        .action
        .inverse()
        .ok_or(ConnectorError::Unsupported(request.action))?;
    Ok(ActionRequest {
        action,
        target: request.target.clone(),
        parameters: request.parameters.clone(),
        idempotency_key: format!("{}-rollback", request.idempotency_key),
        comment: format!("Rollback of {}: {}", request.action, request.comment),
        attempt_started_at: None,
    })
}

/// Reads a vendor's JSON answer; one that does not parse is a [`ConnectorError::Protocol`]
/// naming the URL.
///
/// # Errors
/// [`ConnectorError::Unavailable`] when the body cannot be read, else `Protocol`.
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ConnectorError> {
    let url = response.url().clone();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ConnectorError::Unavailable(e.to_string()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ConnectorError::Protocol(format!("unreadable answer from {url}: {e}")))
}

/// How far before the newest stored event of a stream a synchronization asks again: a vendor
/// may record an event late, and storing is idempotent.
pub const EVENT_OVERLAP: chrono::Duration = chrono::Duration::minutes(10);

/// How far before its newest stored event `stream` is read again. Microsoft documents sign-ins
/// whose multifactor steps take up to two hours to be aggregated into the record, so sign-ins
/// are read again that far back; the others [`EVENT_OVERLAP`].
#[must_use]
pub fn overlap(stream: EventStream) -> chrono::Duration {
    match stream {
        EventStream::EntraSignIns => chrono::Duration::hours(2),
        _ => EVENT_OVERLAP,
    }
}

/// From when a synchronization reads each of an integration's event streams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventCursors {
    streams: BTreeMap<EventStream, DateTime<Utc>>,
    otherwise: Option<DateTime<Utc>>,
}

impl EventCursors {
    /// Every stream from `since` (from the oldest retained event when `None`).
    #[must_use]
    pub fn all_since(since: Option<DateTime<Utc>>) -> Self {
        Self {
            streams: BTreeMap::new(),
            otherwise: since,
        }
    }

    /// From what Steward stored: each stream from its [`overlap`] before its newest stored
    /// event; a stream with none stored as a first synchronization reads it (every retained
    /// event, or the last day of an advanced hunting table).
    #[must_use]
    pub fn after_stored(newest: impl IntoIterator<Item = (EventStream, DateTime<Utc>)>) -> Self {
        Self {
            streams: newest
                .into_iter()
                .map(|(stream, at)| (stream, at - overlap(stream)))
                .collect(),
            otherwise: None,
        }
    }

    /// From when to read `stream`; `None` for all its retained events.
    #[must_use]
    pub fn since(&self, stream: EventStream) -> Option<DateTime<Utc>> {
        self.streams.get(&stream).copied().or(self.otherwise)
    }
}

/// What one synchronization read.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub inventory: ObservedInventory,
    pub events: Vec<ObservedEvent>,
    /// The connector's incremental-read state to keep for the next synchronization.
    pub state: Option<serde_json::Value>,
    /// What the vendor withheld.
    pub missing_telemetry: Vec<MissingTelemetry>,
}

/// One synchronization's reads: the inventory (incrementally from `state`, where the connector
/// reads so), then each event stream from its cursor.
///
/// # Errors
/// The first [`ConnectorError`] the vendor answers.
pub async fn pull(
    connector: &impl Connector,
    cursors: &EventCursors,
    state: Option<serde_json::Value>,
) -> Result<Pulled, ConnectorError> {
    let (inventory, state) = connector.inventory_from(state).await?;
    let events = connector.events(cursors).await?;
    Ok(Pulled {
        inventory,
        events,
        state,
        missing_telemetry: connector.missing_telemetry(),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use steward_domain::observations::EventStream;

    use super::{EVENT_OVERLAP, EventCursors};

    #[test]
    fn each_stream_reads_from_its_own_newest_event() {
        let audited = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let hunted = Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap();
        let cursors = EventCursors::after_stored([
            (EventStream::EntraDirectoryAudits, audited),
            (EventStream::HuntingProcessEvents, hunted),
        ]);
        assert_eq!(
            cursors.since(EventStream::EntraDirectoryAudits),
            Some(audited - EVENT_OVERLAP)
        );
        assert_eq!(
            cursors.since(EventStream::HuntingProcessEvents),
            Some(hunted - EVENT_OVERLAP)
        );
        assert_eq!(cursors.since(EventStream::EntraSignIns), None);
    }

    #[test]
    fn sign_ins_are_read_again_as_far_back_as_entra_completes_them() {
        let signed_in = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let cursors = EventCursors::after_stored([(EventStream::EntraSignIns, signed_in)]);
        assert_eq!(
            cursors.since(EventStream::EntraSignIns),
            Some(signed_in - chrono::Duration::hours(2))
        );
        assert_eq!(
            EventCursors::all_since(Some(signed_in)).since(EventStream::FalconAlerts),
            Some(signed_in)
        );
    }
}
