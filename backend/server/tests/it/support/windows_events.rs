//! Windows events as log shippers send them, for the detection tests.

use serde_json::{Value, json};
use steward_domain::clock::{Clock, SystemClock};

/// How long ago [`office_starts_encoded_powershell`] happened: inside the default window rules
/// are measured over (90 days), outside a window of five days.
pub const OFFICE_MACRO_DAYS_AGO: i64 = 6;

/// An Office document starting an encoded PowerShell on `computer` six days ago, as Sysmon
/// logs it (evtx JSON).
pub fn office_starts_encoded_powershell(computer: &str, record: u64) -> Value {
    let time = (SystemClock.now() - chrono::Duration::days(OFFICE_MACRO_DAYS_AGO))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "EventRecordID": record,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": computer,
            "TimeCreated": {"#attributes": {"SystemTime": time}},
        },
        "EventData": {
            "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
            "OriginalFileName": "PowerShell.EXE",
            "CommandLine": "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
            "ParentImage": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            "ProcessId": 4242,
            "ParentProcessId": 812,
            "User": "ACME\\avery",
        },
    }})
}
