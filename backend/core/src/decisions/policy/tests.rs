//! Running the `test_*` rules of a policy set (regorus has no test runner of its own).

use regorus::Value;

use super::set::{PolicyError, PolicySet};

/// The outcome of one `test_*` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyTestResult {
    /// `data.<package>.<rule>`.
    pub rule: String,
    pub passed: bool,
    /// Why it failed: an evaluation error, or the package's `failing_cases`.
    pub detail: Option<String>,
}

/// Runs every rule whose name starts with `test_`, each on its own.
///
/// # Errors
/// When the policies do not compile.
pub fn run_tests(set: &PolicySet) -> Result<Vec<PolicyTestResult>, PolicyError> {
    let engine = set.engine()?;
    let mut results = Vec::new();
    for (_, source) in set.sources() {
        let Some(package) = package_of(source) else {
            continue;
        };
        for rule in test_rules(source) {
            let path = format!("data.{package}.{rule}");
            let mut run = engine.clone();
            let outcome = run.eval_rule(path.clone());
            let (passed, detail) = match outcome {
                Ok(Value::Bool(true)) => (true, None),
                Ok(_) => (false, failing_cases(&engine, &package)),
                Err(err) => (false, Some(err.to_string())),
            };
            results.push(PolicyTestResult {
                rule: path,
                passed,
                detail,
            });
        }
    }
    Ok(results)
}

fn package_of(source: &str) -> Option<String> {
    source.lines().find_map(|line| {
        line.trim()
            .strip_prefix("package ")
            .map(|name| name.trim().to_owned())
    })
}

/// Names of rules declared at the start of a line as `test_…`.
fn test_rules(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .lines()
        .filter_map(|line| {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            name.starts_with("test_").then_some(name)
        })
        .collect();
    names.dedup();
    names
}

fn failing_cases(engine: &regorus::Engine, package: &str) -> Option<String> {
    let mut run = engine.clone();
    let value = run
        .eval_rule(format!("data.{package}.failing_cases"))
        .ok()?;
    value
        .to_json_str()
        .ok()
        .map(|cases| format!("failing cases: {cases}"))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn finds_packages_and_test_rules() {
        let source = "package steward.x_test\n\nimport rego.v1\n\ntest_a if true\n\ntest_b if {\n\ttrue\n}\n\nhelper if true\n";
        assert_eq!(package_of(source).as_deref(), Some("steward.x_test"));
        assert_eq!(test_rules(source), ["test_a", "test_b"]);
    }
}
