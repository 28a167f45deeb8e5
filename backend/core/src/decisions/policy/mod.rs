//! Authority policies in Rego, evaluated in-process with regorus.
//!
//! The default policies (`policies/` in the repository) are built into the binary; a folder
//! from configuration replaces them. Whatever goes wrong — a policy that does not load, an
//! evaluation that errors or runs too long, an answer of the wrong shape — the decision is
//! deny, with the reason `policy-error`, and the failure is reported so someone is told.

pub mod input;
pub mod nesting;
mod set;
pub mod tenant;
mod tests;

use std::{sync::Arc, time::Duration};

use regorus::{Engine, utils::limits::ExecutionTimerConfig};
use serde::{Deserialize, Serialize};
use steward_domain::{
    actions::{ApprovalTiming, PolicyDecision, PolicyOutcome, ReasonCode},
    guardrails::AutomationLimits,
};

pub use self::{
    input::{AuthorityInput, authority_input_schema},
    set::{PolicyError, PolicySet},
    tenant::{CheckedPolicy, MAX_POLICY_BYTES, PolicyRejection},
    tests::{PolicyTestResult, run_tests},
};
pub use steward_domain::authority::Decided;

use crate::settings::InvalidSetting;

/// Holds an automatic decision back for a technician when a guardrail is tripped (the kill
/// switch, the circuit breaker, the rate limits), whatever the policy answered: a tenant's own
/// policy cannot opt out of them. Decisions that already ask a person, or deny, stand.
#[must_use]
pub fn constrain(decided: Decided, guardrails: &input::GuardrailsInput) -> Decided {
    if decided.decision.outcome != PolicyOutcome::Auto {
        return decided;
    }
    let tripped: Vec<String> = [
        (guardrails.kill_switch, ReasonCode::KillSwitchEngaged),
        (guardrails.circuit_open, ReasonCode::CircuitBreakerOpen),
        (guardrails.rate_limited, ReasonCode::AutomationRateLimit),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .map(|(_, code)| code.as_str().to_owned())
    .collect();
    if tripped.is_empty() {
        return decided;
    }
    let automatic = ReasonCode::ReversibleActionWithinAutomationLevel.as_str();
    let mut reasons: Vec<String> = decided
        .decision
        .reasons
        .into_iter()
        .filter(|r| r != automatic)
        .chain(tripped)
        .collect();
    reasons.sort();
    reasons.dedup();
    Decided {
        decision: PolicyDecision::new(PolicyOutcome::TechnicianApproval, reasons),
        failure: decided.failure,
    }
}

/// The rule holding the authority decision.
pub const AUTHORITY_RULE: &str = "data.steward.authority.decision";

/// The `[policy]` configuration section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// A folder replacing the built-in policies (same layout: `authority/authority.rego`).
    pub dir: Option<std::path::PathBuf>,
    /// How long one evaluation may run before it counts as failed (and so denies).
    pub timeout_ms: u64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            dir: None,
            timeout_ms: 200,
        }
    }
}

impl PolicyConfig {
    #[must_use]
    pub fn validate(&self) -> Vec<InvalidSetting> {
        if self.timeout_ms == 0 {
            vec![InvalidSetting::new(
                "policy.timeout_ms",
                "must be at least 1",
            )]
        } else {
            Vec::new()
        }
    }
}

/// The deployment's authority policy and the tenants' own, each compiled once per source,
/// with the limits on automatic execution that hold whatever a policy says.
#[derive(Debug, Clone)]
pub struct Policies {
    deployment: AuthorityPolicy,
    timeout: Duration,
    limits: AutomationLimits,
    timing: ApprovalTiming,
    tenants: Arc<std::sync::Mutex<std::collections::HashMap<String, AuthorityPolicy>>>,
}

impl Policies {
    /// The policies, with the default [`AutomationLimits`].
    #[must_use]
    pub fn new(deployment: AuthorityPolicy, timeout: Duration) -> Self {
        Self {
            deployment,
            timeout,
            limits: AutomationLimits::default(),
            timing: ApprovalTiming::default(),
            tenants: Arc::default(),
        }
    }

    /// The same policies under other limits.
    #[must_use]
    pub fn with_limits(mut self, limits: AutomationLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The same policies with other approval deadlines.
    #[must_use]
    pub fn with_approval_timing(mut self, timing: ApprovalTiming) -> Self {
        self.timing = timing;
        self
    }

    /// How long approval requests stay open and when they escalate.
    #[must_use]
    pub fn approval_timing(&self) -> ApprovalTiming {
        self.timing
    }

    /// When automation falls back to asking a person.
    #[must_use]
    pub fn limits(&self) -> AutomationLimits {
        self.limits
    }

    /// The policy that governs a tenant: its own if it has one, else the deployment's.
    #[must_use]
    pub fn for_tenant(
        &self,
        own: Option<&steward_domain::actions::TenantPolicy>,
    ) -> AuthorityPolicy {
        let Some(own) = own else {
            return self.deployment.clone();
        };
        let mut tenants = self
            .tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tenants
            .entry(own.sha256.clone())
            .or_insert_with(|| {
                AuthorityPolicy::new(&PolicySet::tenant_override(&own.source), self.timeout)
            })
            .clone()
    }
}

/// The authority policy, loaded and ready to evaluate; cheap to clone and share.
#[derive(Debug, Clone)]
pub struct AuthorityPolicy {
    prepared: Result<Arc<Engine>, String>,
}

impl AuthorityPolicy {
    /// Loads the policies. A policy that does not load does not stop Steward: every decision
    /// is then deny, with the load error as the failure.
    #[must_use]
    pub fn new(set: &PolicySet, timeout: Duration) -> Self {
        let prepared = set
            .engine()
            .map(|mut engine| {
                engine.set_execution_timer_config(ExecutionTimerConfig {
                    limit: timeout,
                    check_interval: std::num::NonZeroU32::MIN,
                });
                Arc::new(engine)
            })
            .map_err(|err| err.to_string());
        if let Err(err) = &prepared {
            tracing::error!(error = %err, "the authority policy did not load: every action will be denied");
        }
        Self { prepared }
    }

    /// Asks the policy about one action. Never fails: anything that goes wrong is a deny.
    #[must_use]
    pub fn decide(&self, input: &AuthorityInput) -> Decided {
        match self.evaluate(input) {
            Ok(decision) => Decided {
                decision,
                failure: None,
            },
            Err(failure) => {
                tracing::error!(%failure, "the authority policy failed: denying");
                Decided {
                    decision: PolicyDecision::policy_error(),
                    failure: Some(failure),
                }
            }
        }
    }

    fn evaluate(&self, input: &AuthorityInput) -> Result<PolicyDecision, String> {
        let template = self.prepared.as_ref().map_err(Clone::clone)?;
        let mut engine = Engine::clone(template);
        let input = serde_json::to_string(input).map_err(|err| err.to_string())?;
        engine
            .set_input_json(&input)
            .map_err(|err| format!("the input was refused: {err}"))?;
        let value = engine
            .eval_rule(AUTHORITY_RULE.to_owned())
            .map_err(|err| format!("evaluating {AUTHORITY_RULE} failed: {err}"))?;
        let json = value
            .to_json_str()
            .map_err(|err| format!("the decision is not JSON: {err}"))?;
        let decision = serde_json::from_str::<PolicyDecision>(&json).map_err(|err| {
            format!("the decision {json} does not have the expected shape: {err}")
        })?;
        match decision.problem() {
            Some(problem) => Err(format!("the decision {json} cannot be followed: {problem}")),
            None => Ok(decision),
        }
    }
}
