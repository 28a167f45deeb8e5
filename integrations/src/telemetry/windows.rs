//! Windows event logs, as log shippers and evtx-to-JSON tools send them, read into one
//! [`WindowsEvent`] whatever the shape:
//!
//! - **evtx JSON** (the `evtx` crate, `evtx_dump -o json`): `{"Event": {"System": {…},
//!   "EventData": {…}}}`, attributes under `#attributes`, text under `#text`;
//! - **Winlogbeat**: `{"@timestamp", "winlog": {"channel", "event_id", "computer_name",
//!   "provider_name", "record_id", "event_data": {…}}}`;
//! - **flat** (NXLog `to_json()`, Fluent Bit's `winevtlog`, most SIEM exports): `EventID`,
//!   `Channel`, `Computer` or `Hostname`, `TimeCreated` or `EventTime`, with the event data at
//!   the top level or under `EventData`, `ExtraEventData` or `event_data`.
//!
//! The Sysmon and Security events that describe processes, files, registry changes, sign-ins
//! and account changes become OCSF events ([`super::windows_ocsf`]); the rest are refused with a
//! reason, never guessed at.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

/// The Sysmon channel.
pub const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
/// The Security channel.
pub const SECURITY: &str = "Security";

/// One Windows event, whatever shape it arrived in.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowsEvent {
    pub channel: String,
    pub provider: Option<String>,
    pub event_id: u32,
    pub computer: String,
    pub time: DateTime<Utc>,
    pub record_id: Option<u64>,
    /// The event's data fields by name (`Image`, `CommandLine`, `TargetUserName`, …).
    pub data: Map<String, Value>,
}

impl WindowsEvent {
    /// The data field `name` as text, if present and not empty (`-` is Windows' empty).
    #[must_use]
    pub fn text(&self, name: &str) -> Option<&str> {
        self.data
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && *v != "-")
    }

    /// The data field `name` as a number: decimal, or hexadecimal as Security events write
    /// process ids (`0x1f4`).
    #[must_use]
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.data.get(name)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s
                .strip_prefix("0x")
                .map_or_else(|| s.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok()),
            _ => None,
        }
    }
}

/// Reads a Windows event in any of the shapes above; `None` when `raw` is none of them.
///
/// # Errors
/// A message naming what is missing or unreadable when `raw` looks like a Windows event but is
/// not a complete one.
pub fn read(raw: &Value) -> Result<Option<WindowsEvent>, String> {
    if let Some(event) = raw.get("Event").filter(|e| e.get("System").is_some()) {
        return evtx(event).map(Some);
    }
    if let Some(winlog) = raw.get("winlog").filter(|w| w.is_object()) {
        return winlogbeat(raw, winlog).map(Some);
    }
    if raw.get("EventID").is_some() && raw.get("Channel").is_some() {
        return flat(raw).map(Some);
    }
    Ok(None)
}

fn evtx(event: &Value) -> Result<WindowsEvent, String> {
    let system = &event["System"];
    let event_id = event_id(&text_of(&system["EventID"]))
        .ok_or("Event.System.EventID is missing or not a number")?;
    let time = system["TimeCreated"]["#attributes"]["SystemTime"]
        .as_str()
        .and_then(time)
        .ok_or("Event.System.TimeCreated.SystemTime is missing or not a time")?;
    let mut data = Map::new();
    // `EventData` holds the named data; `UserData` holds it for some providers.
    for section in ["EventData", "UserData"] {
        if let Some(fields) = event[section].as_object() {
            for (name, value) in fields {
                if name == "#attributes" {
                    continue;
                }
                data.insert(name.clone(), text_of(value));
            }
        }
    }
    Ok(WindowsEvent {
        channel: required_text(&system["Channel"], "Event.System.Channel")?,
        provider: system["Provider"]["#attributes"]["Name"]
            .as_str()
            .map(str::to_owned),
        event_id,
        computer: required_text(&system["Computer"], "Event.System.Computer")?,
        time,
        record_id: number(&text_of(&system["EventRecordID"])),
        data,
    })
}

fn winlogbeat(raw: &Value, winlog: &Value) -> Result<WindowsEvent, String> {
    let event_id = event_id(&text_of(&winlog["event_id"])).ok_or("winlog.event_id is missing")?;
    let time = raw["@timestamp"]
        .as_str()
        .and_then(time)
        .ok_or("@timestamp is missing or not a time")?;
    Ok(WindowsEvent {
        channel: required_text(&winlog["channel"], "winlog.channel")?,
        provider: winlog["provider_name"].as_str().map(str::to_owned),
        event_id,
        computer: required_text(&winlog["computer_name"], "winlog.computer_name")?,
        time,
        record_id: number(&text_of(&winlog["record_id"])),
        data: winlog["event_data"]
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .map(|(k, v)| (k.clone(), text_of(v)))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Top-level names of the flat shape that describe the event rather than being its data.
const FLAT_HEADER: [&str; 20] = [
    "EventID",
    "Channel",
    "Computer",
    "Hostname",
    "TimeCreated",
    "EventTime",
    "EventReceivedTime",
    "ProviderName",
    "SourceName",
    "EventRecordID",
    "RecordNumber",
    "Level",
    "Message",
    "MessageTitle",
    "Keywords",
    "Opcode",
    "Task",
    "EventData",
    "ExtraEventData",
    "event_data",
];

fn flat(raw: &Value) -> Result<WindowsEvent, String> {
    let event_id = event_id(&text_of(&raw["EventID"])).ok_or("EventID is not a number")?;
    let time = ["TimeCreated", "EventTime"]
        .iter()
        .find_map(|name| raw[name].as_str().and_then(time))
        .ok_or("TimeCreated (or EventTime) is missing or not a time")?;
    let computer = ["Computer", "Hostname"]
        .iter()
        .find_map(|name| raw[name].as_str())
        .ok_or("Computer (or Hostname) is missing")?;
    let mut data = Map::new();
    for (name, value) in raw.as_object().into_iter().flatten() {
        if !FLAT_HEADER.contains(&name.as_str()) && !name.starts_with("p_") {
            data.insert(name.clone(), text_of(value));
        }
    }
    for section in ["EventData", "ExtraEventData", "event_data"] {
        if let Some(fields) = raw[section].as_object() {
            data.extend(fields.iter().map(|(k, v)| (k.clone(), text_of(v))));
        }
    }
    Ok(WindowsEvent {
        channel: required_text(&raw["Channel"], "Channel")?,
        provider: ["ProviderName", "SourceName"]
            .iter()
            .find_map(|name| raw[name].as_str())
            .map(str::to_owned),
        event_id,
        computer: computer.to_owned(),
        time,
        record_id: ["EventRecordID", "RecordNumber"]
            .iter()
            .find_map(|name| number(&text_of(&raw[name]))),
        data,
    })
}

/// A value as text: strings as they are, numbers written out, evtx's `{"#text": …}` unwrapped;
/// objects and arrays stay JSON.
fn text_of(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.contains_key("#text") => text_of(&map["#text"]),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

fn number(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

fn event_id(value: &Value) -> Option<u32> {
    number(value).and_then(|n| u32::try_from(n).ok())
}

fn required_text(value: &Value, name: &str) -> Result<String, String> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{name} is missing"))
}

/// A time as shippers write it: RFC 3339, `2024-01-15 10:30:45 +0000`, or a time without a
/// zone (NXLog's `EventTime`, Sysmon's `UtcTime`), read as UTC.
#[must_use]
pub fn time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f %z", "%Y-%m-%d %H:%M:%S %z"] {
        if let Ok(time) = DateTime::parse_from_str(text, format) {
            return Some(time.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(Utc.from_utc_datetime(&time));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn process_data() -> Value {
        json!({
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "CommandLine": "powershell.exe -enc SQBFAFgA",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "ProcessId": 4242,
        })
    }

    #[test]
    fn the_three_shapes_read_to_the_same_event() {
        let evtx = json!({"Event": {
            "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "EventRecordID": 9001,
                "Channel": SYSMON,
                "Computer": "LAPTOP-7.contoso.local",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-12-01T09:15:00.123456Z"}},
            },
            "EventData": process_data(),
        }});
        let winlogbeat = json!({
            "@timestamp": "2026-12-01T09:15:00.123456Z",
            "winlog": {
                "channel": SYSMON,
                "event_id": "1",
                "provider_name": "Microsoft-Windows-Sysmon",
                "computer_name": "LAPTOP-7.contoso.local",
                "record_id": 9001,
                "event_data": process_data(),
            },
        });
        let mut flat = json!({
            "EventID": 1,
            "Channel": SYSMON,
            "SourceName": "Microsoft-Windows-Sysmon",
            "Hostname": "LAPTOP-7.contoso.local",
            "EventTime": "2026-12-01 09:15:00.123456",
            "RecordNumber": 9001,
        });
        flat.as_object_mut()
            .unwrap()
            .extend(process_data().as_object().unwrap().clone());
        let events: Vec<WindowsEvent> = [evtx, winlogbeat, flat]
            .iter()
            .map(|raw| read(raw).unwrap().unwrap())
            .collect();
        assert_eq!(events[0], events[1]);
        assert_eq!(events[1], events[2]);
        let event = &events[0];
        assert_eq!((event.event_id, event.record_id), (1, Some(9001)));
        assert_eq!(event.number("ProcessId"), Some(4242));
        assert_eq!(
            event.text("CommandLine"),
            Some("powershell.exe -enc SQBFAFgA")
        );
    }

    #[test]
    fn an_incomplete_windows_event_says_what_is_missing_and_others_are_not_windows() {
        let missing_time = json!({"EventID": 4688, "Channel": "Security", "Computer": "X"});
        assert_eq!(
            read(&missing_time).unwrap_err(),
            "TimeCreated (or EventTime) is missing or not a time"
        );
        assert_eq!(read(&json!({"eventType": "user.session.start"})), Ok(None));
    }

    #[test]
    fn security_events_write_hexadecimal_process_ids_and_dashes_for_nothing() {
        let event = read(&json!({
            "EventID": "4688", "Channel": "Security", "Computer": "WS1",
            "TimeCreated": "2024-01-15 10:30:45 +0000",
            "ExtraEventData": {"NewProcessId": "0x1234", "TargetUserName": "-"},
        }))
        .unwrap()
        .unwrap();
        assert_eq!(event.number("NewProcessId"), Some(0x1234));
        assert_eq!(event.text("TargetUserName"), None);
        assert_eq!(event.time.to_rfc3339(), "2024-01-15T10:30:45+00:00");
    }
}
