//! Checking an MSP admin's own authority policy for one tenant before it is stored.
//!
//! A policy is refused unless it is small, shallow, compiles, and decides a sample action
//! without failing, so a typo never turns every action of a tenant into a deny. Compiling is
//! CPU work whose cost grows with the source: [`check_off_executor`] runs it on the blocking
//! pool, one check at a time per process, so uploads never hold an async worker thread nor take
//! every core; callers run it before they open a write transaction.

use std::time::Duration;

use sha2::{Digest, Sha256};
use steward_domain::actions::{
    ActionParameters, ActionType, Criticality, ProposerKind, TargetKind,
};

use super::{
    AuthorityInput, AuthorityPolicy, PolicySet,
    input::{
        ActionInput, GuardrailsInput, MaintenanceInput, ProposerInput, RiskInput, TargetInput,
        TenantInput,
    },
    nesting::{self, MAX_NESTING, TooComplex},
};

pub use crate::storage::CheckedPolicy;

/// The longest policy source accepted.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;

/// How long the sample decision may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a tenant policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRejection {
    #[error("the policy is empty")]
    Empty,
    #[error("the policy is larger than {MAX_POLICY_BYTES} bytes")]
    TooLarge,
    #[error(
        "the policy nests brackets deeper than {MAX_NESTING} levels (line {line}); flatten it \
         into helper rules"
    )]
    TooDeep { line: usize },
    #[error(
        "the policy holds too many deeply nested brackets to parse safely (past line {line}); \
         flatten them into helper rules"
    )]
    TooCostly { line: usize },
    #[error("the policy cannot be used: {0}")]
    Invalid(String),
}

/// Checks a tenant policy: size, nesting, compilation and a sample decision. CPU-bound; in async
/// code use [`check_off_executor`].
///
/// # Errors
/// [`PolicyRejection`] saying what is wrong.
pub fn check(source: String) -> Result<CheckedPolicy, PolicyRejection> {
    if source.trim().is_empty() {
        return Err(PolicyRejection::Empty);
    }
    if source.len() > MAX_POLICY_BYTES {
        return Err(PolicyRejection::TooLarge);
    }
    nesting::check(&source).map_err(|refused| match refused {
        TooComplex::Deep { line } => PolicyRejection::TooDeep { line },
        TooComplex::Costly { line } => PolicyRejection::TooCostly { line },
    })?;
    let policy = AuthorityPolicy::new(&PolicySet::tenant_override(&source), SAMPLE_TIMEOUT);
    if let Some(failure) = policy.decide(&sample_input()).failure {
        return Err(PolicyRejection::Invalid(failure));
    }
    let sha256 = hex::encode(Sha256::digest(source.as_bytes()));
    Ok(CheckedPolicy::passed(source, sha256))
}

/// [`check`] on the blocking thread pool, so the async executor keeps serving other requests.
///
/// # Errors
/// [`PolicyRejection`] saying what is wrong.
pub async fn check_off_executor(source: String) -> Result<CheckedPolicy, PolicyRejection> {
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let _turn = ONE_AT_A_TIME
        .acquire()
        .await
        .expect("the semaphore is never closed");
    match tokio::task::spawn_blocking(move || check(source)).await {
        Ok(checked) => checked,
        Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(PolicyRejection::Invalid(
            "the check was cancelled while Steward shut down".to_owned(),
        )),
    }
}

/// The action every tenant policy must decide without failing.
fn sample_input() -> AuthorityInput {
    AuthorityInput {
        action: ActionInput {
            kind: ActionType::IsolateDevice,
            reversible: true,
            target_count: 1,
            parameters: ActionParameters::default(),
        },
        target: TargetInput {
            kind: TargetKind::Device,
            name: "sample-laptop".into(),
            criticality: Criticality::Medium,
            privileged: false,
            tags: vec![],
        },
        risk: RiskInput {
            score: 50,
            factors: vec![],
        },
        tenant: TenantInput {
            automation_level: 2,
            maintenance: MaintenanceInput::default(),
        },
        proposer: ProposerInput {
            kind: ProposerKind::Worker,
        },
        guardrails: GuardrailsInput::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW_ALL: &str = "package steward.authority\n\ndecision := {\"outcome\": \"auto\", \"reasons\": [\"tenant-says-so\"]}\n";

    #[test]
    fn a_policy_that_decides_is_accepted_with_its_digest() {
        let checked = check(ALLOW_ALL.to_owned()).unwrap();
        assert_eq!(checked.source(), ALLOW_ALL);
        assert_eq!(checked.sha256().len(), 64);
    }

    #[test]
    fn empty_large_deep_and_broken_policies_are_refused() {
        assert_eq!(check("  \n".to_owned()), Err(PolicyRejection::Empty));
        assert_eq!(
            check(format!("{ALLOW_ALL}#{}", "x".repeat(MAX_POLICY_BYTES))),
            Err(PolicyRejection::TooLarge)
        );
        let deep = format!(
            "package steward.authority\nx := {}1{}\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(check(deep), Err(PolicyRejection::TooDeep { line: 2 }));
        assert!(matches!(
            check("package steward.authority\ndecision := \n".to_owned()),
            Err(PolicyRejection::Invalid(_))
        ));
    }

    /// The check runs on the blocking pool: while a policy at the edge of the parse bounds is
    /// being parsed, this single-threaded runtime still runs other tasks.
    #[tokio::test]
    async fn a_costly_check_leaves_the_executor_free() {
        use std::{future::Future, task::Poll};

        let costly = format!(
            "package steward.authority\n\n{}",
            format!("x := {}1{}\n", "[".repeat(12), "]".repeat(12)).repeat(4)
        );
        let mut check = Box::pin(check_off_executor(costly));
        let first = std::future::poll_fn(|cx| Poll::Ready(check.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "the parse ran on the executor");
        assert_eq!(tokio::spawn(async { 42 }).await.unwrap(), 42);
        assert!(matches!(check.await, Err(PolicyRejection::Invalid(_))));
    }
}
