//! The action steps every connector's contract test drives: a request as the action engine
//! builds one, and verification polled until it settles.

use steward_domain::actions::{ActionParameters, ActionType};
use steward_integrations::{ActionRequest, Connector, Execution, Verification};

/// A request for `action` on `target`.
pub fn request(action: ActionType, target: &str, key: &str) -> ActionRequest {
    ActionRequest {
        action,
        target: target.to_owned(),
        parameters: ActionParameters::default(),
        idempotency_key: key.to_owned(),
        comment: "Steward contract test".to_owned(),
        attempt_started_at: None,
    }
}

/// Polls `verify` until it is no longer pending; returns the verdict and the polls it took.
pub async fn settle<C: Connector>(
    connector: &C,
    request: &ActionRequest,
    execution: &Execution,
) -> (Verification, usize) {
    for polls in 1..=10 {
        match connector.verify(request, execution).await.unwrap() {
            Verification::Pending(_) => {}
            done => return (done, polls),
        }
    }
    panic!("verification still pending after 10 polls");
}
