//! Microsoft Defender advanced hunting through Microsoft Graph: `POST /security/runHuntingQuery`
//! (application permission `ThreatHunting.Read.All`) over the process, file and registry events
//! Defender for Endpoint records on each device (`DeviceProcessEvents`, `DeviceFileEvents`,
//! `DeviceRegistryEvents`). The older `api/advancedqueries/run` of the Defender for Endpoint
//! API is being retired, so Steward does not use it.
//!
//! Quotas, as documented for advanced hunting: 45 calls per minute per tenant, 10 minutes of
//! query time per hour, 100,000 rows and 3 minutes per query. Steward reads each table from an
//! hour before the newest event it stored, in pages of at most [`MAX_ROWS`] rows, oldest
//! first: a full page is followed by the rows from its newest row's time on (that row read
//! twice, stored once), for at most [`MAX_PAGES`] pages a synchronization, so a busy hour is
//! read whole rather than its first rows over and over (up to 100,000 rows a table).
//!
//! Advanced hunting needs Microsoft Defender for Endpoint Plan 2 or Microsoft Defender XDR (a
//! Microsoft 365 E5 or E5 Security licence); Plan 1 and Defender for Business do not include
//! it, and the API refuses the query (403).
//!
//! A row becomes the OCSF event a Sysmon log of the same activity would (the same classes and
//! attributes, so the same Sigma rules match it), with Microsoft Defender for Endpoint as the
//! product, the table as the log name, and the row's own columns under `unmapped` together
//! with their Sysmon names (`Image`, `CommandLine`, `ParentImage`, `OriginalFileName`, …).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use steward_domain::observations::{EntityRef, EventStream, ObservedEvent};

use crate::telemetry::windows::{SYSMON, WindowsEvent};

/// The telemetry advanced hunting brings, as a withheld stream is named
/// ([`steward_domain::integrations::MissingTelemetry`]).
pub const STREAM: &str = "advanced_hunting";

/// What advanced hunting needs. Defender for Business (in Microsoft 365 Business Premium, what
/// many MSPs' customers hold) and Defender for Endpoint Plan 1 do not include it.
pub const REMEDY: &str = "advanced hunting needs Microsoft Defender for Endpoint Plan 2 (in \
    Microsoft 365 E5 and E5 Security) or Microsoft Defender XDR — Defender for Business and \
    Defender for Endpoint Plan 1 do not include it — and the app's ThreatHunting.Read.All \
    permission";

/// The most rows one query asks for (the API's limit is 100,000).
pub const MAX_ROWS: usize = 10_000;

/// The most pages of one table a synchronization reads (three tables of this many pages stay
/// within the 45 queries a minute). The next synchronization reads on from the table's own
/// newest stored row (each table is a stream with its own cursor), less an hour and ten minutes.
pub const MAX_PAGES: usize = 10;

/// How far back the first synchronization reads: a day, of the 30 days advanced hunting keeps.
pub const FIRST_LOOKBACK: chrono::Duration = chrono::Duration::days(1);

/// How much further back than the table's cursor (its newest stored row, less the usual
/// overlap) each later synchronization reads again:
/// Defender takes device events in with a delay, so a row can arrive after a newer one was
/// read. Rows read twice are stored once (by device and report id).
pub const INGESTION_OVERLAP: chrono::Duration = chrono::Duration::hours(1);

/// The advanced hunting tables Steward reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    DeviceProcessEvents,
    DeviceFileEvents,
    DeviceRegistryEvents,
}

impl Table {
    pub const ALL: [Table; 3] = [
        Table::DeviceProcessEvents,
        Table::DeviceFileEvents,
        Table::DeviceRegistryEvents,
    ];

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Table::DeviceProcessEvents => "DeviceProcessEvents",
            Table::DeviceFileEvents => "DeviceFileEvents",
            Table::DeviceRegistryEvents => "DeviceRegistryEvents",
        }
    }

    /// The stream the table's rows are read as, each from its own cursor.
    #[must_use]
    pub const fn stream(self) -> EventStream {
        match self {
            Table::DeviceProcessEvents => EventStream::HuntingProcessEvents,
            Table::DeviceFileEvents => EventStream::HuntingFileEvents,
            Table::DeviceRegistryEvents => EventStream::HuntingRegistryEvents,
        }
    }

    /// The `ActionType`s Steward normalizes (the others are left in Defender).
    const fn action_types(self) -> &'static [&'static str] {
        match self {
            Table::DeviceProcessEvents => &["ProcessCreated"],
            Table::DeviceFileEvents => &["FileCreated", "FileDeleted"],
            Table::DeviceRegistryEvents => &[
                "RegistryKeyCreated",
                "RegistryKeyDeleted",
                "RegistryValueSet",
                "RegistryValueDeleted",
            ],
        }
    }
}

/// The KQL query for `table`'s rows after `since`, oldest first.
#[must_use]
pub fn query(table: Table, since: DateTime<Utc>) -> String {
    page(table, since, false, MAX_ROWS)
}

/// The KQL query for a page of `table`'s rows, oldest first, at most `take`: those after `at`,
/// or from `at` on when `inclusive` — the page after a full one whose newest row was at `at`
/// (that row comes again, and is stored once).
#[must_use]
pub fn page(table: Table, at: DateTime<Utc>, inclusive: bool, take: usize) -> String {
    let actions: Vec<String> = table
        .action_types()
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect();
    format!(
        "{} | where Timestamp {} datetime({}) | where ActionType in ({}) | order by Timestamp asc | take {take}",
        table.name(),
        if inclusive { ">=" } else { ">" },
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        actions.join(", "),
    )
}

/// When a row happened (its `Timestamp`).
#[must_use]
pub fn row_time(row: &Value) -> Option<DateTime<Utc>> {
    row["Timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The answer of `runHuntingQuery`: the columns, and a row per result.
#[derive(Debug, Deserialize)]
pub struct HuntingResults {
    #[serde(default)]
    pub results: Vec<Value>,
}

/// The OCSF event of one row of `table`.
///
/// # Errors
/// Why the row cannot be read: a column Steward needs is missing, or its `ActionType` is not
/// one Steward normalizes.
pub fn event(table: Table, row: Value) -> Result<ObservedEvent, String> {
    let text = |name: &str| row[name].as_str().filter(|s| !s.is_empty());
    let time = row_time(&row).ok_or("a row without a Timestamp")?;
    let device = text("DeviceName").ok_or("a row without a DeviceName")?;
    let action = text("ActionType").unwrap_or_default();
    let (event_id, mut data) = sysmon_fields(table, action, &row)?;
    data.retain(|_, value| !value.is_null());
    let windows = WindowsEvent {
        channel: SYSMON.to_owned(),
        provider: None,
        event_id,
        computer: device.to_owned(),
        time,
        record_id: None,
        data,
    };
    let (class, mut ocsf) = crate::telemetry::to_ocsf(&windows)?;
    ocsf["metadata"]["product"] = json!({
        "name": "Microsoft Defender for Endpoint",
        "vendor_name": "Microsoft",
    });
    ocsf["metadata"]["log_name"] = json!(table.name());
    ocsf["metadata"]["event_code"] = json!(action);
    let uid = format!(
        "{}:{}:{}",
        text("DeviceId").unwrap_or(device),
        row["ReportId"],
        time.timestamp_micros()
    );
    ocsf["metadata"]["uid"] = json!(uid);
    if let Some(id) = text("DeviceId") {
        ocsf["device"]["uid"] = json!(id);
    }
    // The row's own columns join the Sysmon names; what only Sysmon logs (its channel and
    // event id) is not claimed for Defender.
    if let (Some(unmapped), Some(columns)) = (ocsf["unmapped"].as_object_mut(), row.as_object()) {
        for key in ["EventID", "Channel", "Computer"] {
            unmapped.remove(key);
        }
        for (name, value) in columns {
            unmapped
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    Ok(ObservedEvent {
        external_id: format!("{}:{uid}", table.name()),
        class,
        time,
        severity_id: 1,
        entities: vec![EntityRef::Host {
            hostname: device.to_owned(),
        }],
        ocsf,
        raw: row,
        stream: table.stream(),
    })
}

/// The Sysmon event id and data fields that say what a row of `table` says.
fn sysmon_fields(
    table: Table,
    action: &str,
    row: &Value,
) -> Result<(u32, Map<String, Value>), String> {
    let column = |name: &str| row.get(name).cloned().unwrap_or(Value::Null);
    let path = |folder: &str, file: &str| -> Value {
        match (row[folder].as_str(), row[file].as_str()) {
            // `FolderPath` is the whole path for processes, the folder for files; either way
            // the file's path ends with its name.
            (Some(folder), Some(file))
                if folder
                    .to_ascii_lowercase()
                    .ends_with(&file.to_ascii_lowercase()) =>
            {
                json!(folder)
            }
            (Some(folder), Some(file)) => {
                json!(format!("{}\\{file}", folder.trim_end_matches('\\')))
            }
            (Some(folder), None) => json!(folder),
            _ => Value::Null,
        }
    };
    let account = |domain: &str, name: &str| -> Value {
        match (row[domain].as_str(), row[name].as_str()) {
            (Some(domain), Some(name)) if !domain.is_empty() => json!(format!("{domain}\\{name}")),
            (_, Some(name)) => json!(name),
            _ => Value::Null,
        }
    };
    let actor = || {
        [
            (
                "Image",
                path("InitiatingProcessFolderPath", "InitiatingProcessFileName"),
            ),
            ("ProcessId", column("InitiatingProcessId")),
            (
                "User",
                account(
                    "InitiatingProcessAccountDomain",
                    "InitiatingProcessAccountName",
                ),
            ),
        ]
    };
    let fields = |pairs: Vec<(&str, Value)>| -> Map<String, Value> {
        pairs
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    };
    let refused = || {
        format!(
            "{} rows of ActionType {action:?} are not normalized (Steward reads {})",
            table.name(),
            table.action_types().join(", ")
        )
    };
    match (table, action) {
        (Table::DeviceProcessEvents, "ProcessCreated") => {
            let hashes = row["SHA256"].as_str().map_or(Value::Null, |h| {
                json!(format!("SHA256={}", h.to_uppercase()))
            });
            Ok((
                1,
                fields(vec![
                    ("Image", path("FolderPath", "FileName")),
                    ("CommandLine", column("ProcessCommandLine")),
                    ("ProcessId", column("ProcessId")),
                    ("User", account("AccountDomain", "AccountName")),
                    ("IntegrityLevel", column("ProcessIntegrityLevel")),
                    (
                        "OriginalFileName",
                        column("ProcessVersionInfoOriginalFileName"),
                    ),
                    ("Company", column("ProcessVersionInfoCompanyName")),
                    ("Product", column("ProcessVersionInfoProductName")),
                    ("Description", column("ProcessVersionInfoFileDescription")),
                    ("Hashes", hashes),
                    (
                        "ParentImage",
                        path("InitiatingProcessFolderPath", "InitiatingProcessFileName"),
                    ),
                    ("ParentCommandLine", column("InitiatingProcessCommandLine")),
                    ("ParentProcessId", column("InitiatingProcessId")),
                    (
                        "ParentUser",
                        account(
                            "InitiatingProcessAccountDomain",
                            "InitiatingProcessAccountName",
                        ),
                    ),
                ]),
            ))
        }
        (Table::DeviceFileEvents, "FileCreated" | "FileDeleted") => {
            let mut data = fields(actor().into());
            data.insert("TargetFilename".to_owned(), path("FolderPath", "FileName"));
            Ok((if action == "FileCreated" { 11 } else { 23 }, data))
        }
        (Table::DeviceRegistryEvents, _) => {
            let key = registry_key(row["RegistryKey"].as_str().unwrap_or_default());
            let value = row["RegistryValueName"].as_str().unwrap_or_default();
            let target = if value.is_empty() || action.starts_with("RegistryKey") {
                key
            } else {
                format!("{key}\\{value}")
            };
            let (event_id, event_type) = match action {
                "RegistryKeyCreated" => (12, "CreateKey"),
                "RegistryKeyDeleted" => (12, "DeleteKey"),
                "RegistryValueDeleted" => (12, "DeleteValue"),
                "RegistryValueSet" => (13, "SetValue"),
                _ => return Err(refused()),
            };
            let mut data = fields(actor().into());
            data.insert("TargetObject".to_owned(), json!(target));
            data.insert("EventType".to_owned(), json!(event_type));
            data.insert("Details".to_owned(), column("RegistryValueData"));
            Ok((event_id, data))
        }
        _ => Err(refused()),
    }
}

/// A registry key as Sysmon writes it: `HKEY_LOCAL_MACHINE\…` becomes `HKLM\…`, the form
/// Sigma's registry rules are written against.
fn registry_key(key: &str) -> String {
    for (long, short) in [
        ("HKEY_LOCAL_MACHINE", "HKLM"),
        ("HKEY_CURRENT_USER", "HKCU"),
        ("HKEY_USERS", "HKU"),
        ("HKEY_CLASSES_ROOT", "HKCR"),
    ] {
        if let Some(rest) = key.strip_prefix(long) {
            return format!("{short}{rest}");
        }
    }
    key.to_owned()
}

#[cfg(test)]
mod tests {
    use steward_domain::observations::OcsfClass;

    use super::*;

    fn launch() -> Value {
        json!({
            "Timestamp": "2026-12-01T09:15:00.1234567Z",
            "DeviceId": "c4a8f7f2e1",
            "DeviceName": "acme-lt01.acme-dental.example",
            "ActionType": "ProcessCreated",
            "FileName": "powershell.exe",
            "FolderPath": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "SHA256": "9f914d42706fe215501044acd85a32d58aaef1419d404fddfa5d3b48f66ccd9f",
            "ProcessId": 4242,
            "ProcessCommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgA",
            "ProcessVersionInfoOriginalFileName": "PowerShell.EXE",
            "AccountDomain": "acme",
            "AccountName": "avery",
            "InitiatingProcessFileName": "WINWORD.EXE",
            "InitiatingProcessFolderPath": "c:\\program files\\microsoft office\\root\\office16\\winword.exe",
            "InitiatingProcessId": 812,
            "InitiatingProcessCommandLine": "\"WINWORD.EXE\" /n invoice.docm",
            "ReportId": 1771,
        })
    }

    #[test]
    fn a_process_row_reads_like_the_sysmon_event_of_the_same_launch() {
        let event = event(Table::DeviceProcessEvents, launch()).unwrap();
        assert_eq!(event.class, OcsfClass::ProcessActivity);
        let ocsf = &event.ocsf;
        assert_eq!(ocsf["activity_id"], 1);
        assert_eq!(
            ocsf["metadata"]["product"]["name"],
            "Microsoft Defender for Endpoint"
        );
        assert_eq!(ocsf["metadata"]["log_name"], "DeviceProcessEvents");
        assert_eq!(ocsf["process"]["cmd_line"], launch()["ProcessCommandLine"]);
        assert_eq!(ocsf["process"]["pid"], 4242);
        assert_eq!(
            ocsf["actor"]["process"]["file"]["path"],
            launch()["InitiatingProcessFolderPath"]
        );
        assert_eq!(ocsf["unmapped"]["OriginalFileName"], "PowerShell.EXE");
        assert_eq!(ocsf["unmapped"]["ReportId"], 1771);
        assert!(ocsf["unmapped"].get("Channel").is_none());
        assert_eq!(
            event.entities,
            vec![EntityRef::Host {
                hostname: "acme-lt01.acme-dental.example".to_owned()
            }]
        );
        assert_eq!(
            event.external_id,
            super::event(Table::DeviceProcessEvents, launch())
                .unwrap()
                .external_id,
            "the same row is the same event"
        );
    }

    #[test]
    fn file_and_registry_rows_and_refusals() {
        let file = event(
            Table::DeviceFileEvents,
            json!({"Timestamp": "2026-12-01T09:16:00Z", "DeviceName": "pc", "ActionType": "FileCreated",
                   "FileName": "u.exe", "FolderPath": "C:\\Users\\Public", "InitiatingProcessFileName": "powershell.exe",
                   "InitiatingProcessFolderPath": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                   "InitiatingProcessId": 4242}),
        )
        .unwrap();
        assert_eq!(file.class, OcsfClass::FileSystemActivity);
        assert_eq!(file.ocsf["file"]["path"], "C:\\Users\\Public\\u.exe");
        let registry = event(
            Table::DeviceRegistryEvents,
            json!({"Timestamp": "2026-12-01T09:17:00Z", "DeviceName": "pc", "ActionType": "RegistryValueSet",
                   "RegistryKey": "HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
                   "RegistryValueName": "updater", "RegistryValueData": "C:\\Users\\Public\\u.exe",
                   "InitiatingProcessFileName": "u.exe", "InitiatingProcessFolderPath": "C:\\Users\\Public\\u.exe",
                   "InitiatingProcessId": 77}),
        )
        .unwrap();
        assert_eq!(registry.class, OcsfClass::RegistryValueActivity);
        assert_eq!(
            registry.ocsf["reg_value"]["path"],
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\updater"
        );
        let refused = event(
            Table::DeviceProcessEvents,
            json!({"Timestamp": "2026-12-01T09:17:00Z", "DeviceName": "pc", "ActionType": "OpenProcessApiCall"}),
        )
        .unwrap_err();
        assert!(refused.contains("ProcessCreated"), "{refused}");
        assert!(
            query(
                Table::DeviceFileEvents,
                DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
            .starts_with(
                "DeviceFileEvents | where Timestamp > datetime(2026-12-01T00:00:00.000000Z) | where ActionType in (\"FileCreated\", \"FileDeleted\")"
            )
        );
    }
}
