//! What text people may enter: names and free text, checked the same way everywhere.
//!
//! - **Control characters** (C0 and C1, NUL among them) are refused everywhere except a line
//!   break or tab in free text: PostgreSQL cannot store NUL, and none of them belongs in a name
//!   or a reason an approver reads.
//! - **Bidirectional controls** (the embeddings, overrides and isolates U+202A–U+202E and
//!   U+2066–U+2069) are refused in names and free text: they reorder what follows them, so a
//!   name shown to an approver could read as something else ("invoice", U+202E, "fdp.exe"
//!   reads "invoiceexe.pdf"). Right-to-left text itself is welcome, and so are the invisible
//!   marks LRM, RLM and ALM, which change no order but their neighbours'.
//! - **Lengths** are bounded, in characters.
//!
//! Names that come from vendors (device and person names) cannot be refused: [`neutralize`]
//! makes their controls harmless before they are stored.

use std::borrow::Cow;

/// The longest name of a tenant, MSP, person, integration or token.
pub const MAX_NAME: usize = 200;

/// The longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// Why a text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    Control,
    #[error("must be one line")]
    LineBreak,
    #[error(
        "must not contain bidirectional control characters (U+202A–U+202E, U+2066–U+2069), \
         which reorder what an approver reads"
    )]
    Bidi,
}

/// Whether `c` is a control character no text may hold: C0 and C1 controls and DEL, except
/// the line breaks and tab that free text may contain.
#[must_use]
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\r' | '\t')
}

/// Whether `c` is a bidirectional embedding, override or isolate.
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A name: one line, trimmed, not empty, at most `max` characters, no control characters.
///
/// # Errors
/// [`TextError`] saying what is wrong.
pub fn name(value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    if value.contains(['\n', '\r', '\t']) {
        return Err(TextError::LineBreak);
    }
    checked(value, max)
}

/// Free text (a reason, a description): trimmed, at most `max` characters, line breaks and
/// tabs allowed, no other control characters. May be empty; callers that need it filled check.
///
/// # Errors
/// [`TextError`] saying what is wrong.
pub fn free_text(value: &str, max: usize) -> Result<String, TextError> {
    checked(value.trim(), max)
}

fn checked(value: &str, max: usize) -> Result<String, TextError> {
    if value.chars().any(is_forbidden_control) {
        return Err(TextError::Control);
    }
    if value.chars().any(is_bidi_control) {
        return Err(TextError::Bidi);
    }
    if value.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    Ok(value.to_owned())
}

/// A vendor's name made safe to store and show: every control character and bidirectional
/// control becomes U+FFFD, so it is visible and reorders nothing.
#[must_use]
pub fn neutralize(value: &str) -> Cow<'_, str> {
    let harmful = |c: char| c.is_control() || is_bidi_control(c);
    if value.chars().any(harmful) {
        Cow::Owned(
            value
                .chars()
                .map(|c| if harmful(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(value)
    }
}

/// [`neutralize`]s every string (and key) of a JSON document in place; returns whether any
/// changed.
pub fn neutralize_json(value: &mut serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => match neutralize(text) {
            Cow::Owned(safe) => {
                *text = safe;
                true
            }
            Cow::Borrowed(_) => false,
        },
        serde_json::Value::Array(items) => {
            // Every item, not up to the first that changed.
            let mut changed = false;
            for item in items {
                changed |= neutralize_json(item);
            }
            changed
        }
        serde_json::Value::Object(fields) => {
            let mut changed = false;
            if fields
                .keys()
                .any(|key| matches!(neutralize(key), Cow::Owned(_)))
            {
                let renamed: serde_json::Map<String, serde_json::Value> = std::mem::take(fields)
                    .into_iter()
                    .map(|(key, item)| (neutralize(&key).into_owned(), item))
                    .collect();
                *fields = renamed;
                changed = true;
            }
            for item in fields.values_mut() {
                changed |= neutralize_json(item);
            }
            changed
        }
        _ => false,
    }
}

/// A vendor's record with every string [`neutralize`]d: borrowed when there was nothing to
/// change (the common case), a cleaned copy otherwise.
#[must_use]
pub fn neutralized<T>(record: &T) -> Cow<'_, T>
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    let Ok(mut json) = serde_json::to_value(record) else {
        return Cow::Borrowed(record);
    };
    if !neutralize_json(&mut json) {
        return Cow::Borrowed(record);
    }
    serde_json::from_value(json).map_or(Cow::Borrowed(record), Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_trimmed_line_without_controls() {
        assert_eq!(name("  Acme Dental ", MAX_NAME).unwrap(), "Acme Dental");
        assert_eq!(name("שיניים אקמה", MAX_NAME).unwrap(), "שיניים אקמה");
        assert_eq!(
            name("a\u{200F}b", MAX_NAME).unwrap(),
            "a\u{200F}b",
            "RLM is fine"
        );
        assert_eq!(name("   ", MAX_NAME), Err(TextError::Empty));
        assert_eq!(name("a\u{0}b", MAX_NAME), Err(TextError::Control));
        assert_eq!(name("a\u{85}b", MAX_NAME), Err(TextError::Control));
        assert_eq!(name("a\u{7f}b", MAX_NAME), Err(TextError::Control));
        assert_eq!(name("a\nb", MAX_NAME), Err(TextError::LineBreak));
        assert_eq!(name("a\tb", MAX_NAME), Err(TextError::LineBreak));
        assert_eq!(
            name("invoice\u{202E}fdp.exe", MAX_NAME),
            Err(TextError::Bidi)
        );
        assert_eq!(name("x\u{2066}y", MAX_NAME), Err(TextError::Bidi));
        assert_eq!(
            name(&"x".repeat(MAX_NAME + 1), MAX_NAME),
            Err(TextError::TooLong { max: MAX_NAME })
        );
        assert_eq!(name(&"é".repeat(MAX_NAME), MAX_NAME).unwrap().len(), 400);
    }

    #[test]
    fn free_text_keeps_line_breaks_and_tabs_only() {
        assert_eq!(free_text(" one\n\ttwo ", 100).unwrap(), "one\n\ttwo");
        assert_eq!(free_text("", 100).unwrap(), "");
        assert_eq!(free_text("a\u{0}", 100), Err(TextError::Control));
        assert_eq!(free_text("a\u{1b}[31m", 100), Err(TextError::Control));
        assert_eq!(free_text("a\u{202D}b", 100), Err(TextError::Bidi));
    }

    #[test]
    fn vendor_names_are_neutralized() {
        assert_eq!(neutralize("ACME-LT04"), "ACME-LT04");
        assert!(matches!(neutralize("ACME-LT04"), Cow::Borrowed(_)));
        assert_eq!(neutralize("evil\u{202E}fdp.exe"), "evil\u{FFFD}fdp.exe");
        assert_eq!(neutralize("a\u{0}b\nc"), "a\u{FFFD}b\u{FFFD}c");
        let mut raw = serde_json::json!({"name": "lt\u{0}04", "tags": ["ok", "b\u{202E}ad"], "n": 1, "k\u{7}": "v"});
        assert!(neutralize_json(&mut raw));
        assert_eq!(
            raw,
            serde_json::json!({"name": "lt\u{FFFD}04", "tags": ["ok", "b\u{FFFD}ad"], "n": 1, "k\u{FFFD}": "v"})
        );
        assert!(!neutralize_json(&mut raw), "nothing left to change");
        let clean = vec!["a".to_owned()];
        assert!(matches!(neutralized(&clean), Cow::Borrowed(_)));
        let dirty = vec!["a\u{0}".to_owned()];
        assert_eq!(neutralized(&dirty).as_ref(), &["a\u{FFFD}".to_owned()]);
    }
}
