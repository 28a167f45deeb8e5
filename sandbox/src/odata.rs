//! The slice of OData query options the simulated APIs accept: `$filter` with comparisons joined
//! by `and`, `$top`, `$skip`, `$skiptoken` and `$select`.
//!
//! Anything else in `$filter` is refused with a 400, as the vendors refuse what they do not
//! support, so a connector that sends a query the real API would reject fails here too.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Time(DateTime<Utc>),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    path: Vec<String>,
    op: Op,
    value: Literal,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<Clause>,
}

impl Filter {
    /// Parses `expression`, accepting only properties in `allowed` (paths with `/`).
    ///
    /// # Errors
    /// A message for the vendor's error body.
    pub fn parse(expression: &str, allowed: &[&str]) -> Result<Filter, String> {
        let mut clauses = Vec::new();
        for part in split_and(expression) {
            let clause = parse_clause(part.trim())?;
            let path = clause.path.join("/");
            if !allowed.iter().any(|a| a.eq_ignore_ascii_case(&path)) {
                return Err(format!(
                    "Invalid filter clause: property '{path}' cannot be filtered on"
                ));
            }
            clauses.push(clause);
        }
        Ok(Filter { clauses })
    }

    /// Whether `item` satisfies every clause.
    #[must_use]
    pub fn matches(&self, item: &Value) -> bool {
        self.clauses.iter().all(|clause| {
            let Some(actual) = lookup(item, &clause.path) else {
                return clause.op == Op::Ne;
            };
            let Some(ordering) = compare(actual, &clause.value) else {
                return false;
            };
            match clause.op {
                Op::Eq => ordering == Ordering::Equal,
                Op::Ne => ordering != Ordering::Equal,
                Op::Gt => ordering == Ordering::Greater,
                Op::Ge => ordering != Ordering::Less,
                Op::Lt => ordering == Ordering::Less,
                Op::Le => ordering != Ordering::Greater,
            }
        })
    }
}

/// Splits on ` and ` outside quotes.
fn split_and(expression: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted
            && expression[i..].len() >= 5
            && expression[i..i + 5].eq_ignore_ascii_case(" and ")
        {
            parts.push(&expression[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    parts.push(&expression[start..]);
    parts
}

fn parse_clause(text: &str) -> Result<Clause, String> {
    let invalid = || format!("Invalid filter clause: '{text}'");
    let (path, rest) = text.split_once(' ').ok_or_else(invalid)?;
    let (op, literal) = rest.trim_start().split_once(' ').ok_or_else(invalid)?;
    let op = match op.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        _ => return Err(invalid()),
    };
    let literal = literal.trim();
    let value = if let Some(inner) = literal
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
    {
        Literal::Text(inner.replace("''", "'"))
    } else if literal.eq_ignore_ascii_case("true") || literal.eq_ignore_ascii_case("false") {
        Literal::Bool(literal.eq_ignore_ascii_case("true"))
    } else if let Ok(time) = parse_time(literal) {
        Literal::Time(time)
    } else if let Ok(number) = literal.parse::<f64>() {
        Literal::Number(number)
    } else {
        return Err(invalid());
    };
    Ok(Clause {
        path: path.split('/').map(str::to_owned).collect(),
        op,
        value,
    })
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Looks a property path up, ignoring case as OData property names in filters are matched.
fn lookup<'a>(item: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(item, |value, key| {
        let object = value.as_object()?;
        object.get(key).or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    })
}

fn compare(actual: &Value, literal: &Literal) -> Option<Ordering> {
    match literal {
        Literal::Text(text) => Some(actual.as_str()?.cmp(text.as_str())),
        Literal::Time(time) => Some(parse_time(actual.as_str()?).ok()?.cmp(time)),
        Literal::Number(number) => actual.as_f64()?.partial_cmp(number),
        Literal::Bool(flag) => Some(actual.as_bool()?.cmp(flag)),
    }
}

/// Keeps only the `$select`ed properties (and `id`, which Graph always returns).
#[must_use]
pub fn select(item: &Value, properties: &[&str]) -> Value {
    let Some(object) = item.as_object() else {
        return item.clone();
    };
    let kept = object
        .iter()
        .filter(|(key, _)| {
            key.as_str() == "id" || properties.iter().any(|p| p.eq_ignore_ascii_case(key))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

/// Encodes a page offset as an opaque `$skiptoken`.
#[must_use]
pub fn skip_token(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("steward-sandbox:{offset}"))
}

/// Decodes a `$skiptoken` made by [`skip_token`].
#[must_use]
pub fn read_skip_token(token: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("steward-sandbox:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn filters_compare_text_times_numbers_and_nested_properties() {
        let item = json!({
            "machineId": "abc", "status": {"errorCode": 0},
            "createdDateTime": "2026-05-01T10:00:00Z", "name": "O'Brien"
        });
        let allowed = ["machineId", "status/errorCode", "createdDateTime", "name"];
        let parse = |f: &str| Filter::parse(f, &allowed).unwrap();
        assert!(parse("machineId eq 'abc'").matches(&item));
        assert!(!parse("machineId eq 'abd'").matches(&item));
        assert!(parse("status/errorCode eq 0").matches(&item));
        assert!(parse("createdDateTime ge 2026-05-01T10:00:00Z").matches(&item));
        assert!(!parse("createdDateTime gt 2026-05-01T10:00:00Z").matches(&item));
        assert!(
            parse("machineId eq 'abc' and createdDateTime lt 2026-06-01T00:00:00Z").matches(&item)
        );
        assert!(parse("name eq 'O''Brien'").matches(&item));
        assert!(
            parse("name eq 'x and y' and machineId ne 'zzz'")
                .clauses
                .len()
                == 2
        );
    }

    #[test]
    fn filters_refuse_unknown_properties_and_syntax() {
        assert!(Filter::parse("secret eq 'x'", &["machineId"]).is_err());
        assert!(Filter::parse("machineId like 'x'", &["machineId"]).is_err());
        assert!(Filter::parse("startswith(machineId,'x')", &["machineId"]).is_err());
    }

    #[test]
    fn skip_tokens_round_trip_and_reject_garbage() {
        assert_eq!(read_skip_token(&skip_token(42)), Some(42));
        assert_eq!(read_skip_token("bm9wZQ"), None);
    }
}
