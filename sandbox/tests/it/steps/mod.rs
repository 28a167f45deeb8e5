//! The action steps every connector's contract test drives: a request as the action engine
//! builds one, and verification polled until it settles.

use steward_domain::actions::{ActionParameters, ActionType};
use steward_integrations::{ActionRequest, Connector, ConnectorError, Execution, Verification};

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

/// Runs the RMM script "Disable SMBv1" and its undo through every step, as each RMM's contract
/// does; `smb1` reads the device's setting, `later` says why one poll is not enough.
pub async fn script_runs_and_is_undone<C: Connector>(
    connector: &C,
    run: &ActionRequest,
    smb1: impl AsyncFn() -> Option<bool>,
    later: &str,
) {
    let snapshot = connector.snapshot(run).await.unwrap();
    assert_eq!(snapshot.0["script"]["name"], "Disable SMBv1");
    assert_eq!(snapshot.0["undo_script"]["name"], "Enable SMBv1");
    let execution = connector.execute(run).await.unwrap();
    assert!(execution.changed);
    let (verdict, polls) = settle(connector, run, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(polls > 1, "{later}");
    assert_eq!(smb1().await, Some(false));

    let (undo, undo_execution) = connector.rollback(run, &snapshot).await.unwrap().unwrap();
    assert_eq!(undo.action, ActionType::RunUndoScript);
    let (verdict, _) = settle(connector, &undo, &undo_execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(smb1().await, Some(true));
}

/// Asserts a run asked of an agent that stopped reporting stays pending, however often verified.
pub async fn never_confirms<C: Connector>(connector: &C, run: &ActionRequest) {
    let execution = connector.execute(run).await.unwrap();
    for _ in 0..4 {
        let verdict = connector.verify(run, &execution).await.unwrap();
        assert!(matches!(verdict, Verification::Pending(_)), "{verdict:?}");
    }
}

/// Asserts `run` with script 999, outside the RMM's library, is not found at snapshot or run.
pub async fn unknown_script_is_not_found<C: Connector>(connector: &C, mut run: ActionRequest) {
    run.parameters.script_id = Some("999".into());
    let error = connector.snapshot(&run).await.unwrap_err();
    assert!(
        matches!(&error, ConnectorError::NotFound(detail) if detail.contains("999")),
        "{error:?}"
    );
    let error = connector.execute(&run).await.unwrap_err();
    assert!(matches!(error, ConnectorError::NotFound(_)), "{error:?}");
}
