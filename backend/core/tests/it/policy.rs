//! The authority policy: the built-in Rego, its tests, and failing safe.

use std::time::Duration;

use steward_core::decisions::policy::{
    AuthorityInput, AuthorityPolicy, PolicySet, authority_input_schema, constrain, input::*,
    run_tests,
};
use steward_domain::actions::{
    ActionType, Criticality, PolicyOutcome, ProposerKind, ReasonCode, TargetKind,
};

fn laptop_isolation(level: u8) -> AuthorityInput {
    AuthorityInput {
        action: ActionInput {
            kind: ActionType::IsolateDevice,
            reversible: true,
            target_count: 1,
            parameters: steward_domain::actions::ActionParameters::default(),
        },
        target: TargetInput {
            kind: TargetKind::Device,
            name: "FIN-LT-07".into(),
            criticality: Criticality::Medium,
            privileged: false,
            tags: vec!["finance".into()],
        },
        risk: RiskInput {
            score: 85,
            factors: vec![RiskFactorInput {
                name: "active_high_severity_alert".into(),
                contribution: 45,
            }],
        },
        tenant: TenantInput {
            automation_level: level,
            maintenance: MaintenanceInput::default(),
        },
        proposer: ProposerInput {
            kind: ProposerKind::Worker,
        },
        guardrails: GuardrailsInput::default(),
    }
}

fn on_admin(action: ActionType) -> AuthorityInput {
    let mut input = laptop_isolation(2);
    input.action = ActionInput {
        kind: action,
        reversible: action.is_reversible(),
        target_count: 1,
        parameters: steward_domain::actions::ActionParameters::default(),
    };
    input.target = TargetInput {
        kind: TargetKind::Identity,
        name: "it-admin@acme.example".into(),
        criticality: Criticality::High,
        privileged: true,
        tags: Vec::new(),
    };
    input
}

fn builtin() -> AuthorityPolicy {
    AuthorityPolicy::new(&PolicySet::builtin(), Duration::from_millis(500))
}

#[test]
fn the_builtin_policy_passes_its_own_tests() {
    let results = run_tests(&PolicySet::builtin()).unwrap();
    assert!(results.len() >= 2, "{results:?}");
    for result in &results {
        assert!(result.passed, "{result:?}");
    }
}

#[test]
fn the_scenarios_decide_as_designed() {
    let policy = builtin();
    let auto = policy.decide(&laptop_isolation(2));
    assert_eq!(auto.decision.outcome, PolicyOutcome::Auto, "{auto:?}");
    assert_eq!(auto.failure, None);

    let disable = policy.decide(&on_admin(ActionType::DisableUser));
    assert_eq!(disable.decision.outcome, PolicyOutcome::CustomerApproval);
    assert!(
        disable
            .decision
            .reasons
            .contains(&"privileged-identity".to_owned())
    );

    let revoke = policy.decide(&on_admin(ActionType::RevokeSessions));
    assert_eq!(revoke.decision.outcome, PolicyOutcome::TechnicianApproval);
    assert_eq!(revoke.decision.reasons, ["irreversible-action"]);

    for level in [0, 1] {
        assert_eq!(
            policy.decide(&laptop_isolation(level)).decision.outcome,
            PolicyOutcome::TechnicianApproval
        );
    }
}

#[test]
fn the_builtin_policy_only_gives_known_reasons() {
    let policy = builtin();
    for action in ActionType::ALL {
        for level in 0..=3 {
            for privileged in [false, true] {
                for criticality in [Criticality::Low, Criticality::High, Criticality::Critical] {
                    let mut input = on_admin(action);
                    input.tenant.automation_level = level;
                    input.target.privileged = privileged;
                    input.target.criticality = criticality;
                    input.target.kind = action.target_kind();
                    let decided = policy.decide(&input);
                    assert_eq!(decided.failure, None);
                    for reason in &decided.decision.reasons {
                        assert!(
                            ReasonCode::parse(reason).is_some(),
                            "unknown reason {reason}"
                        );
                    }
                }
            }
        }
    }
}

fn policy_dir(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("authority")).unwrap();
    std::fs::write(dir.path().join("authority/authority.rego"), source).unwrap();
    dir
}

fn assert_fails_safe(source: &str, expected: &str) {
    let dir = policy_dir(source);
    let set = PolicySet::from_dir(dir.path()).unwrap();
    let policy = AuthorityPolicy::new(&set, Duration::from_millis(100));
    let decided = policy.decide(&laptop_isolation(3));
    assert_eq!(decided.decision.outcome, PolicyOutcome::Deny, "{decided:?}");
    assert_eq!(decided.decision.reasons, ["policy-error"]);
    let failure = decided.failure.expect("the failure is reported");
    assert!(failure.contains(expected), "{failure}");
}

/// A tenant policy that lets everything run on its own.
const PERMISSIVE: &str = "package steward.authority\n\nimport rego.v1\n\n\
    decision := {\"outcome\": \"auto\", \"reasons\": [\"reversible-action-within-automation-level\"]}\n";

#[test]
fn guardrails_hold_back_automation_whatever_the_policy_says() {
    let permissive = AuthorityPolicy::new(
        &PolicySet::tenant_override(PERMISSIVE),
        Duration::from_millis(500),
    );
    let mut input = laptop_isolation(2);
    let free = constrain(permissive.decide(&input), &input.guardrails);
    assert_eq!(free.decision.outcome, PolicyOutcome::Auto);

    for (tripped, reason) in [
        (
            GuardrailsInput {
                kill_switch: true,
                ..GuardrailsInput::default()
            },
            "kill-switch-engaged",
        ),
        (
            GuardrailsInput {
                circuit_open: true,
                ..GuardrailsInput::default()
            },
            "circuit-breaker-open",
        ),
        (
            GuardrailsInput {
                rate_limited: true,
                ..GuardrailsInput::default()
            },
            "automation-rate-limit",
        ),
    ] {
        input.guardrails = tripped;
        let held = constrain(permissive.decide(&input), &input.guardrails);
        assert_eq!(
            held.decision.outcome,
            PolicyOutcome::TechnicianApproval,
            "{reason}"
        );
        assert_eq!(held.decision.reasons, [reason]);
    }
}

#[test]
fn guardrails_never_loosen_a_decision() {
    let policy = builtin();
    let mut input = on_admin(ActionType::DisableUser);
    input.guardrails.kill_switch = true;
    let decided = constrain(policy.decide(&input), &input.guardrails);
    assert_eq!(decided.decision.outcome, PolicyOutcome::CustomerApproval);

    let broken = AuthorityPolicy::new(
        &PolicySet::tenant_override("package steward.authority\n\ndecision := "),
        Duration::from_millis(100),
    );
    let decided = constrain(broken.decide(&input), &input.guardrails);
    assert_eq!(decided.decision.outcome, PolicyOutcome::Deny);
}

#[test]
fn a_policy_that_does_not_compile_denies_everything() {
    assert_fails_safe(
        "package steward.authority\n\nimport rego.v1\n\ndecision := {\"outcome\": \"auto\"\n",
        "does not compile",
    );
}

#[test]
fn a_policy_answering_the_wrong_shape_denies() {
    assert_fails_safe(
        "package steward.authority\n\nimport rego.v1\n\ndecision := \"auto\"\n",
        "does not have the expected shape",
    );
}

#[test]
fn a_policy_that_decides_nothing_denies() {
    assert_fails_safe(
        "package steward.authority\n\nimport rego.v1\n\nsomething_else := true\n",
        "evaluating data.steward.authority.decision failed",
    );
}

#[test]
fn a_policy_that_runs_too_long_denies() {
    assert_fails_safe(
        "package steward.authority\n\nimport rego.v1\n\n\
         decision := {\"outcome\": \"auto\", \"reasons\": [\"x\"]} if {\n\
         \tcount([1 | some x in numbers.range(1, 5000); some y in numbers.range(1, 5000); x != y]) > 0\n}\n",
        "evaluating",
    );
}

#[test]
fn failing_policy_tests_are_reported_with_their_cases() {
    let dir = policy_dir(
        "package steward.authority\n\nimport rego.v1\n\n\
         decision := {\"outcome\": \"auto\", \"reasons\": []}\n",
    );
    std::fs::write(
        dir.path().join("authority/authority_test.rego"),
        "package steward.authority_test\n\nimport rego.v1\n\nimport data.steward.authority\n\n\
         failing_cases contains \"always auto\" if authority.decision.outcome == \"auto\"\n\n\
         test_never_auto if count(failing_cases) == 0\n\n\
         test_passes if true\n",
    )
    .unwrap();
    let results = run_tests(&PolicySet::from_dir(dir.path()).unwrap()).unwrap();
    assert_eq!(results.len(), 2);
    let failed = results.iter().find(|r| !r.passed).unwrap();
    assert_eq!(failed.rule, "data.steward.authority_test.test_never_auto");
    assert!(
        failed.detail.as_deref().unwrap().contains("always auto"),
        "{failed:?}"
    );
    assert!(results.iter().any(|r| r.passed));
}

#[test]
fn the_committed_input_schema_is_up_to_date() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/schema/authority_input.json"
    );
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == authority_input_schema(),
        "policies/schema/authority_input.json is out of date: run `steward policy schema`"
    );
}
