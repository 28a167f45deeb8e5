//! An OCSF event as the rules read it: rsigma's JSON event, with each field path resolved once
//! per event. Hundreds of rules read the same few fields of a process launch
//! (`process.cmd_line`, `process.file.path`); resolving a dotted path parses it and walks the
//! event's ordered maps every time, which was most of an event's evaluation time.

use std::{borrow::Cow, cell::RefCell, collections::HashMap};

use rsigma_eval::{Event, EventValue, JsonEvent};
use serde_json::Value;

/// An event whose plain dotted paths (no array steps, no escapes) are resolved once.
pub(super) struct OcsfEvent<'a> {
    json: &'a Value,
    inner: JsonEvent<'a>,
    /// Each plain path asked for, and the value it found.
    resolved: RefCell<HashMap<String, Option<&'a Value>>>,
}

impl<'a> OcsfEvent<'a> {
    pub(super) fn new(json: &'a Value) -> Self {
        Self {
            json,
            inner: JsonEvent::borrow(json),
            resolved: RefCell::new(HashMap::new()),
        }
    }

    /// The value at a plain dotted path; `Err` when the path steps into an array, which only
    /// rsigma's own walk answers (with every element's value).
    fn walk(&self, path: &str) -> Result<Option<&'a Value>, ()> {
        // A key that is the whole path wins, as in rsigma's own walk.
        if let Some(whole) = self.json.as_object().and_then(|map| map.get(path)) {
            return if whole.is_array() {
                Err(())
            } else {
                Ok(Some(whole))
            };
        }
        let mut at = self.json;
        for segment in path.split('.') {
            match at {
                Value::Object(map) => match map.get(segment) {
                    Some(next) => at = next,
                    None => return Ok(None),
                },
                Value::Array(_) => return Err(()),
                _ => return Ok(None),
            }
        }
        if at.is_array() {
            return Err(());
        }
        Ok(Some(at))
    }
}

impl Event for OcsfEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if path.contains('[') || path.contains('\\') {
            return self.inner.get_field(path);
        }
        if let Some(found) = self.resolved.borrow().get(path) {
            return found.map(EventValue::from);
        }
        let Ok(found) = self.walk(path) else {
            return self.inner.get_field(path);
        };
        self.resolved.borrow_mut().insert(path.to_owned(), found);
        found.map(EventValue::from)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.inner.any_string_value(pred)
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.inner.all_string_values()
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        self.inner.visit_string_values(visit);
    }

    fn to_json(&self) -> Value {
        self.inner.to_json()
    }

    fn field_keys(&self) -> Vec<Cow<'_, str>> {
        self.inner.field_keys()
    }

    fn top_level_keys(&self) -> Option<Vec<Cow<'_, str>>> {
        self.inner.top_level_keys()
    }

    fn visit_top_level_keys(&self, visit: &mut dyn FnMut(&str)) -> bool {
        self.inner.visit_top_level_keys(visit)
    }
}

#[cfg(test)]
mod tests {
    use rsigma_eval::{Event, EventValue, JsonEvent};
    use serde_json::json;

    use super::OcsfEvent;

    fn text(value: Option<&EventValue<'_>>) -> String {
        format!("{value:?}")
    }

    #[test]
    fn every_path_reads_what_rsigmas_own_walk_reads() {
        let event = json!({
            "process": {"cmd_line": "powershell -enc AAA", "file": {"path": "C:\\p.exe"}, "pid": 7},
            "actor": {"process": {"file": {"path": "C:\\winword.exe"}}},
            "observables": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}],
            "unmapped": {"EventID": 1, "Hashes": "SHA256=AB", "Tags": ["x", "y"]},
            "dotted.key": "whole",
            "empty": null,
        });
        let ours = OcsfEvent::new(&event);
        let theirs = JsonEvent::borrow(&event);
        for path in [
            "process.cmd_line",
            "process.file.path",
            "process.pid",
            "actor.process.file.path",
            "observables.value",
            "observables[0].name",
            "unmapped.EventID",
            "unmapped.Tags",
            "dotted.key",
            "empty",
            "process.missing",
            "missing.entirely",
            "process.cmd_line.deeper",
        ] {
            // Twice: the second answer comes from what the first resolved.
            for _ in 0..2 {
                assert_eq!(
                    text(ours.get_field(path).as_ref()),
                    text(theirs.get_field(path).as_ref()),
                    "{path}"
                );
            }
        }
    }
}
