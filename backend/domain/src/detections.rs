//! Tuning detection rules per tenant: suppressions, which keep a rule's matches on events that
//! meet all of their conditions from becoming findings in one tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{TenantId, UserId};

/// The most conditions one suppression may hold.
pub const MAX_CONDITIONS: usize = 10;

/// How a condition compares an event's field with its value. Both ignore case, as Windows
/// paths and command lines do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    /// The field's whole value is the value.
    Equals,
    /// The field's value holds the value.
    Contains,
}

impl ConditionOp {
    /// The word for it, in JSON and in the console's condition lines.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::Contains => "contains",
        }
    }
}

/// One field condition of a suppression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// A field of the OCSF event as a dotted path (`process.cmd_line`,
    /// `process.parent_process.file.path`, `device.hostname`, `actor.user.name`); the raw
    /// Windows fields are under `unmapped` (`unmapped.CommandLine`).
    pub field: String,
    pub op: ConditionOp,
    pub value: String,
}

impl Condition {
    /// Whether `event` (an OCSF event) meets this condition; a field the event lacks never
    /// does.
    #[must_use]
    pub fn matches(&self, event: &Value) -> bool {
        let Some(found) = field_text(event, &self.field) else {
            return false;
        };
        let found = found.to_lowercase();
        let wanted = self.value.to_lowercase();
        match self.op {
            ConditionOp::Equals => found == wanted,
            ConditionOp::Contains => found.contains(&wanted),
        }
    }
}

/// A condition as one line of the console's form: `field equals value`, the value written as a
/// JSON string when it would not read back as it is (space at either end, a line break, a
/// leading quote).
impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = &self.value;
        let plain =
            value.trim() == value && !value.contains(['\n', '\r']) && !value.starts_with('"');
        if plain {
            write!(f, "{} {} {value}", self.field, self.op.as_str())
        } else {
            let quoted = serde_json::to_string(value).map_err(|_| std::fmt::Error)?;
            write!(f, "{} {} {quoted}", self.field, self.op.as_str())
        }
    }
}

/// Reads conditions written one per line as `field equals value` or `field contains value`
/// (the console's form; blank lines are skipped, the value is the rest of the line, or a JSON
/// string when it begins with `"`), then checks them as [`check_conditions`] does.
///
/// # Errors
/// [`SuppressionError::Unreadable`] naming the first line that is neither, or what
/// [`check_conditions`] finds.
pub fn parse_conditions(text: &str) -> Result<Vec<Condition>, SuppressionError> {
    let mut conditions = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, char::is_whitespace);
        let field = parts.next().unwrap_or_default();
        let op = match parts.next() {
            Some("equals") => ConditionOp::Equals,
            Some("contains") => ConditionOp::Contains,
            _ => return Err(SuppressionError::Unreadable(index + 1)),
        };
        let value = parts.next().unwrap_or_default().trim_start();
        let value = if value.starts_with('"') {
            serde_json::from_str::<String>(value)
                .map_err(|_| SuppressionError::Unreadable(index + 1))?
        } else {
            value.to_owned()
        };
        conditions.push(Condition {
            field: field.to_owned(),
            op,
            value,
        });
    }
    check_conditions(&conditions)?;
    Ok(conditions)
}

/// The text of a field of `event` at a dotted path: strings as they are, numbers and booleans
/// written out; `None` for an absent field, `null`, an object or a list.
#[must_use]
pub fn field_text(event: &Value, path: &str) -> Option<String> {
    let mut value = event;
    for part in path.split('.') {
        value = value.get(part)?;
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Why a suppression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    #[error(
        "a suppression needs at least one condition; to silence a rule everywhere in the \
         tenant, turn it off instead"
    )]
    NoConditions,
    #[error("at most {MAX_CONDITIONS} conditions")]
    TooManyConditions,
    #[error("condition {0}: name a field as a dotted path such as process.cmd_line")]
    BadField(usize),
    #[error("condition {0}: give a value to compare with")]
    EmptyValue(usize),
    #[error("line {0}: write a condition as `field equals value` or `field contains value`")]
    Unreadable(usize),
    #[error("give a reason: the people after you will want to know why")]
    NoReason,
    #[error("the expiry is already past")]
    Expired,
}

/// A suppression as asked for, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionRequest {
    pub conditions: Vec<Condition>,
    pub reason: String,
    pub expires_at: Option<DateTime<Utc>>,
}

impl SuppressionRequest {
    /// Checks the request as of `now`.
    ///
    /// # Errors
    /// [`SuppressionError`] naming the first thing wrong.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), SuppressionError> {
        check_conditions(&self.conditions)?;
        if self.reason.trim().is_empty() {
            return Err(SuppressionError::NoReason);
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(SuppressionError::Expired);
        }
        Ok(())
    }
}

/// Checks a suppression's conditions on their own (a replay needs no reason).
///
/// # Errors
/// [`SuppressionError`] naming the first condition that is wrong.
pub fn check_conditions(conditions: &[Condition]) -> Result<(), SuppressionError> {
    if conditions.is_empty() {
        return Err(SuppressionError::NoConditions);
    }
    if conditions.len() > MAX_CONDITIONS {
        return Err(SuppressionError::TooManyConditions);
    }
    for (index, condition) in conditions.iter().enumerate() {
        let well_formed = !condition.field.is_empty()
            && condition.field.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            });
        if !well_formed {
            return Err(SuppressionError::BadField(index));
        }
        if condition.value.trim().is_empty() {
            return Err(SuppressionError::EmptyValue(index));
        }
    }
    Ok(())
}

/// A rule's suppression in one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suppression {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    pub tenant_id: TenantId,
    /// The Sigma id of the rule it tunes.
    pub rule_id: String,
    /// All of them must hold for a match to be suppressed.
    pub conditions: Vec<Condition>,
    pub reason: String,
    /// Who made it, as the audit chain names them.
    pub author: String,
    pub author_id: Option<UserId>,
    /// When it stops applying; `null` for never.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl Suppression {
    /// Whether it applies at `now`.
    #[must_use]
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// Whether it keeps a match of its rule on `event` from being a finding.
    #[must_use]
    pub fn suppresses(&self, event: &Value) -> bool {
        self.conditions
            .iter()
            .all(|condition| condition.matches(event))
    }
}

/// A finding a suppression would have hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HiddenFinding {
    pub finding_id: uuid::Uuid,
    pub incident_id: uuid::Uuid,
    pub title: String,
    pub time: DateTime<Utc>,
}

/// How many findings of each verdict a suppression would have hidden.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HiddenCounts {
    pub true_positive: usize,
    pub benign_true_positive: usize,
    pub false_positive: usize,
    /// In incidents without a verdict yet.
    pub unjudged: usize,
}

/// A suppression replayed over the rule's findings in the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Replay {
    /// The rule's findings in the tenant.
    pub considered: usize,
    /// Those it would have hidden, by verdict.
    pub hidden: HiddenCounts,
    /// The true positives it would have hidden: attacks it would have kept from anyone.
    pub hidden_true_positives: Vec<HiddenFinding>,
}

/// A suppression built from what a rule's noise shares, with its replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Suggestion {
    pub conditions: Vec<Condition>,
    /// The findings judged noise it was built from.
    pub noise: usize,
    pub replay: Replay,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn condition(field: &str, op: ConditionOp, value: &str) -> Condition {
        Condition {
            field: field.to_owned(),
            op,
            value: value.to_owned(),
        }
    }

    #[test]
    fn condition_lines_read_back_what_they_show() {
        let written = [
            condition(
                "process.cmd_line",
                ConditionOp::Equals,
                "powershell.exe -File C:\\a b.ps1",
            ),
            condition("device.hostname", ConditionOp::Contains, "LAPTOP"),
        ];
        let text = format!("{}\n\n  {}\r\n", written[0], written[1]);
        assert_eq!(parse_conditions(&text).unwrap(), written);
        // Values that would not read back as they are go as JSON strings.
        let awkward = [
            condition("process.cmd_line", ConditionOp::Equals, "run.cmd  "),
            condition("process.cmd_line", ConditionOp::Equals, "first\nsecond"),
            condition(
                "process.cmd_line",
                ConditionOp::Contains,
                "\"C:\\a b\\c.exe\" -x",
            ),
        ];
        let text: Vec<String> = awkward.iter().map(ToString::to_string).collect();
        assert!(text[0].ends_with("\"run.cmd  \""), "{}", text[0]);
        assert_eq!(parse_conditions(&text.join("\n")).unwrap(), awkward);
        assert_eq!(
            parse_conditions("process.cmd_line equals \"unterminated\n"),
            Err(SuppressionError::Unreadable(1))
        );
        assert_eq!(
            parse_conditions("process.cmd_line is x\n"),
            Err(SuppressionError::Unreadable(1))
        );
        assert_eq!(
            parse_conditions("device.hostname equals a\nprocess.cmd_line\n"),
            Err(SuppressionError::Unreadable(2))
        );
        assert_eq!(
            parse_conditions("device.hostname equals   \n"),
            Err(SuppressionError::EmptyValue(0))
        );
        assert_eq!(parse_conditions(" \n"), Err(SuppressionError::NoConditions));
    }

    #[test]
    fn conditions_compare_fields_at_dotted_paths_ignoring_case() {
        let event = json!({
            "process": {"cmd_line": "powershell.exe -ExecutionPolicy Bypass -File inventory.ps1",
                        "pid": 5300,
                        "parent_process": {"file": {"path": "C:\\Program Files\\NinjaRMMAgent.exe"}}},
        });
        assert!(
            condition("process.cmd_line", ConditionOp::Contains, "INVENTORY.ps1").matches(&event)
        );
        assert!(
            condition(
                "process.parent_process.file.path",
                ConditionOp::Equals,
                "c:\\program files\\ninjarmmagent.exe"
            )
            .matches(&event)
        );
        assert!(condition("process.pid", ConditionOp::Equals, "5300").matches(&event));
        assert!(
            !condition("process.cmd_line", ConditionOp::Equals, "powershell.exe").matches(&event)
        );
        assert!(!condition("device.hostname", ConditionOp::Contains, "").matches(&event));
        assert!(!condition("process", ConditionOp::Contains, "power").matches(&event));
    }

    #[test]
    fn a_suppression_needs_conditions_a_reason_and_a_future_expiry() {
        let now = Utc.timestamp_opt(1_764_580_500, 0).unwrap();
        let request = |conditions: Vec<Condition>, reason: &str, expires_at| SuppressionRequest {
            conditions,
            reason: reason.to_owned(),
            expires_at,
        };
        let good = vec![condition(
            "process.cmd_line",
            ConditionOp::Contains,
            "inventory.ps1",
        )];
        assert_eq!(
            request(good.clone(), "RMM inventory", None).check(now),
            Ok(())
        );
        assert_eq!(
            request(Vec::new(), "RMM inventory", None).check(now),
            Err(SuppressionError::NoConditions)
        );
        assert_eq!(
            request(good.clone(), "  ", None).check(now),
            Err(SuppressionError::NoReason)
        );
        assert_eq!(
            request(good.clone(), "RMM", Some(now)).check(now),
            Err(SuppressionError::Expired)
        );
        assert_eq!(
            request(
                vec![condition("process..cmd", ConditionOp::Equals, "x")],
                "RMM",
                None
            )
            .check(now),
            Err(SuppressionError::BadField(0))
        );
        assert_eq!(
            request(
                vec![
                    good[0].clone(),
                    condition("device.hostname", ConditionOp::Equals, " ")
                ],
                "RMM",
                None
            )
            .check(now),
            Err(SuppressionError::EmptyValue(1))
        );
        assert_eq!(
            request(vec![good[0].clone(); MAX_CONDITIONS + 1], "RMM", None).check(now),
            Err(SuppressionError::TooManyConditions)
        );
    }

    #[test]
    fn a_suppression_holds_until_it_expires_and_needs_every_condition() {
        let now = Utc.timestamp_opt(1_764_580_500, 0).unwrap();
        let suppression = Suppression {
            id: uuid::Uuid::nil(),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            rule_id: "r".to_owned(),
            conditions: vec![
                condition("process.file.name", ConditionOp::Equals, "powershell.exe"),
                condition("actor.user.name", ConditionOp::Equals, "SYSTEM"),
            ],
            reason: "RMM".to_owned(),
            author: "tech@example.com".to_owned(),
            author_id: None,
            expires_at: Some(now + chrono::Duration::days(1)),
            created_at: now,
        };
        assert!(suppression.active(now));
        assert!(!suppression.active(now + chrono::Duration::days(2)));
        let system = json!({"process": {"file": {"name": "powershell.exe"}}, "actor": {"user": {"name": "system"}}});
        let person = json!({"process": {"file": {"name": "powershell.exe"}}, "actor": {"user": {"name": "dana"}}});
        assert!(suppression.suppresses(&system));
        assert!(!suppression.suppresses(&person));
    }
}
