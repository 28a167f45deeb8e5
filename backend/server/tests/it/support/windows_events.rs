//! Windows events as log shippers send them, for the detection tests.

use serde_json::{Value, json};

/// An Office document starting an encoded PowerShell on `computer`, as Sysmon logs it (evtx
/// JSON).
pub fn office_starts_encoded_powershell(computer: &str, record: u64) -> Value {
    json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
            "EventID": 1,
            "EventRecordID": record,
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": computer,
            "TimeCreated": {"#attributes": {"SystemTime": "2026-12-01T09:15:00Z"}},
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
