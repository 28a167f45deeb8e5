//! Windows events as OCSF 1.x events: Sysmon's process, file and registry events, and the
//! Security log's process, sign-in and account events. The event's own fields stay under OCSF's
//! `unmapped` (with `EventID`, `Channel`, `Provider_Name` and `Computer`), so a detection that
//! names a Windows field OCSF has no place for still finds it.

use serde_json::{Map, Value, json};
use steward_domain::observations::OcsfClass;

use super::windows::{SECURITY, SYSMON, WindowsEvent};

/// What a supported Windows event becomes: its class, activity and the class's own attributes.
struct Mapped {
    class: OcsfClass,
    activity: (u32, &'static str),
    attributes: Map<String, Value>,
    /// OCSF `status_id`, `status` when the event says whether something succeeded.
    status: Option<(u32, &'static str)>,
}

/// The Windows events Steward normalizes, for the refusal of the others.
pub const SUPPORTED: &str = "Sysmon 1, 5, 11, 12, 13, 14, 23, 26; Security 4624, 4625, 4657, \
                             4688, 4689, 4720, 4722, 4723, 4724, 4725, 4726, 4740, 4767";

/// The OCSF event of a Windows event Steward normalizes.
///
/// # Errors
/// A message naming the event and the events Steward does normalize, for any other.
pub fn to_ocsf(event: &WindowsEvent) -> Result<(OcsfClass, Value), String> {
    let mapped = match event.channel.as_str() {
        SYSMON => sysmon(event),
        SECURITY => security(event),
        _ => None,
    }
    .ok_or_else(|| {
        format!(
            "Windows event {} of the {} log is not one Steward normalizes (it does: {SUPPORTED})",
            event.event_id, event.channel
        )
    })?;
    let mut mapped = mapped;
    if mapped
        .attributes
        .get("actor")
        .is_some_and(|actor| actor == &json!({}))
    {
        // OCSF's System Activity classes (processes, files, registry) need to say who acted;
        // the others may leave it out.
        if mapped.class.category().0 == 1 {
            return Err(format!(
                "Windows event {} of the {} log names no process or user that acted",
                event.event_id, event.channel
            ));
        }
        mapped.attributes.remove("actor");
    }
    let class = mapped.class;
    let (category_uid, category_name) = class.category();
    let (activity_id, activity_name) = mapped.activity;
    let product = if event.channel == SYSMON {
        "Sysmon"
    } else {
        "Windows Security Auditing"
    };
    let mut ocsf = json!({
        "class_uid": class.class_uid(),
        "class_name": class.name(),
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": u64::from(class.class_uid()) * 100 + u64::from(activity_id),
        "time": event.time.timestamp_millis(),
        "severity_id": 1,
        "severity": "Informational",
        "metadata": {
            "version": crate::ocsf::OCSF_VERSION,
            "product": {"name": product, "vendor_name": "Microsoft"},
            "log_name": event.channel,
            "event_code": event.event_id.to_string(),
        },
        // OCSF device type 0: unknown; a Windows event does not say whether it is a server.
        "device": {"hostname": event.computer, "type_id": 0, "os": {"name": "Windows", "type_id": 100}},
        "unmapped": unmapped(event),
    });
    if let Some(record) = event.record_id {
        ocsf["metadata"]["uid"] = json!(record.to_string());
    }
    if let Some((status_id, status)) = mapped.status {
        ocsf["status_id"] = json!(status_id);
        ocsf["status"] = json!(status);
    }
    let object = ocsf.as_object_mut().expect("built as an object");
    object.extend(mapped.attributes);
    Ok((class, ocsf))
}

fn unmapped(event: &WindowsEvent) -> Value {
    let mut fields = event.data.clone();
    fields.insert("EventID".to_owned(), json!(event.event_id));
    fields.insert("Channel".to_owned(), json!(event.channel));
    fields.insert("Computer".to_owned(), json!(event.computer));
    if let Some(provider) = &event.provider {
        fields.insert("Provider_Name".to_owned(), json!(provider));
    }
    Value::Object(fields)
}

fn sysmon(event: &WindowsEvent) -> Option<Mapped> {
    let process = |activity| Mapped {
        class: OcsfClass::ProcessActivity,
        activity,
        attributes: process_attributes(
            event,
            ProcessFields {
                path: "Image",
                pid: "ProcessId",
                uid: Some("ProcessGuid"),
                cmd_line: "CommandLine",
                user: "User",
                parent_path: "ParentImage",
                parent_pid: "ParentProcessId",
                parent_cmd_line: Some("ParentCommandLine"),
                // A process that ends is ended by its own user.
                actor_user: if event.event_id == 5 {
                    "User"
                } else {
                    "ParentUser"
                },
            },
        ),
        status: None,
    };
    let file = |activity| Mapped {
        class: OcsfClass::FileSystemActivity,
        activity,
        attributes: attributes([
            ("file", file_object(event.text("TargetFilename"))),
            ("actor", actor(event, "Image", "ProcessId", "User")),
        ]),
        status: None,
    };
    match event.event_id {
        1 => Some(process((1, "Launch"))),
        5 => Some(process((2, "Terminate"))),
        11 => Some(file((1, "Create"))),
        23 | 26 => Some(file((4, "Delete"))),
        12..=14 => sysmon_registry(event),
        _ => None,
    }
}

/// Sysmon's registry events: 12 (a key or value created or deleted), 13 (a value set), 14 (a
/// key or value renamed).
fn sysmon_registry(event: &WindowsEvent) -> Option<Mapped> {
    let target = event.text("TargetObject");
    let kind = event.text("EventType").unwrap_or_default();
    let actor = actor(event, "Image", "ProcessId", "User");
    let key = |activity| Mapped {
        class: OcsfClass::RegistryKeyActivity,
        activity,
        attributes: attributes([
            ("reg_key", json!({"path": target})),
            ("actor", actor.clone()),
        ]),
        status: None,
    };
    let value = |activity, data: Option<&str>| {
        let mut reg_value = registry_value(target);
        if let Some(data) = data {
            reg_value["data"] = json!(data);
        }
        Mapped {
            class: OcsfClass::RegistryValueActivity,
            activity,
            attributes: attributes([("reg_value", reg_value), ("actor", actor.clone())]),
            status: None,
        }
    };
    Some(match (event.event_id, kind) {
        (12, "CreateKey") => key((1, "Create")),
        (12, "DeleteKey") => key((4, "Delete")),
        (12, "DeleteValue") => value((4, "Delete"), None),
        (13, _) => value((2, "Set"), event.text("Details")),
        (14, _) => {
            let mut renamed = key((5, "Rename"));
            renamed
                .attributes
                .insert("reg_key".to_owned(), json!({"path": event.text("NewName")}));
            renamed
                .attributes
                .insert("prev_reg_key".to_owned(), json!({"path": target}));
            renamed
        }
        _ => return None,
    })
}

fn security(event: &WindowsEvent) -> Option<Mapped> {
    let process = |activity| Mapped {
        class: OcsfClass::ProcessActivity,
        activity,
        attributes: process_attributes(
            event,
            ProcessFields {
                path: if event.event_id == 4688 {
                    "NewProcessName"
                } else {
                    "ProcessName"
                },
                pid: if event.event_id == 4688 {
                    "NewProcessId"
                } else {
                    "ProcessId"
                },
                uid: None,
                cmd_line: "CommandLine",
                user: "TargetUserName",
                parent_path: "ParentProcessName",
                parent_pid: "ProcessId",
                parent_cmd_line: None,
                actor_user: "SubjectUserName",
            },
        ),
        status: None,
    };
    let account = |activity| Mapped {
        class: OcsfClass::AccountChange,
        activity,
        attributes: attributes([
            (
                "user",
                user(event, "TargetUserName", "TargetDomainName", "TargetSid"),
            ),
            (
                "actor",
                json!({"user": user(event, "SubjectUserName", "SubjectDomainName", "SubjectUserSid")}),
            ),
        ]),
        status: None,
    };
    match event.event_id {
        4688 => Some(process((1, "Launch"))),
        // 4689 names the ending process `ProcessName`/`ProcessId` and no parent.
        4689 => {
            let mut ended = process((2, "Terminate"));
            if let Some(process) = ended.attributes.get_mut("process") {
                process.as_object_mut()?.remove("parent_process");
            }
            Some(ended)
        }
        4624 | 4625 => Some(logon(event)),
        4657 => {
            let path = match (event.text("ObjectName"), event.text("ObjectValueName")) {
                (Some(key), Some(name)) => Some(format!("{key}\\{name}")),
                (key, _) => key.map(str::to_owned),
            };
            let mut reg_value = registry_value(path.as_deref());
            if let Some(data) = event.text("NewValue") {
                reg_value["data"] = json!(data);
            }
            Some(Mapped {
                class: OcsfClass::RegistryValueActivity,
                activity: (3, "Modify"),
                attributes: attributes([
                    ("reg_value", reg_value),
                    (
                        "actor",
                        actor(event, "ProcessName", "ProcessId", "SubjectUserName"),
                    ),
                ]),
                status: None,
            })
        }
        4720 => Some(account((1, "Create"))),
        4722 => Some(account((2, "Enable"))),
        4723 => Some(account((3, "Password Change"))),
        4724 => Some(account((4, "Password Reset"))),
        4725 => Some(account((5, "Disable"))),
        4726 => Some(account((6, "Delete"))),
        4740 => Some(account((9, "Lock"))),
        4767 => Some(account((12, "Unlock"))),
        _ => None,
    }
}

/// Security 4624 (a logon) and 4625 (a failed one).
fn logon(event: &WindowsEvent) -> Mapped {
    let success = event.event_id == 4624;
    let mut attributes = attributes([
        (
            "user",
            user(event, "TargetUserName", "TargetDomainName", "TargetUserSid"),
        ),
        // The service signed in to is Windows itself on the computer.
        ("service", json!({"name": "Windows"})),
        ("dst_endpoint", json!({"hostname": event.computer})),
    ]);
    let mut source = Map::new();
    if let Some(ip) = event.text("IpAddress") {
        source.insert("ip".to_owned(), json!(ip));
    }
    if let Some(host) = event.text("WorkstationName") {
        source.insert("hostname".to_owned(), json!(host));
    }
    if !source.is_empty() {
        attributes.insert("src_endpoint".to_owned(), Value::Object(source));
    }
    if let Some(logon_type) = event.number("LogonType") {
        // OCSF's logon_type_id follows Windows' logon types one to one (2 interactive, 3
        // network, 10 remote interactive, …).
        attributes.insert("logon_type_id".to_owned(), json!(logon_type));
    }
    if let Some(reason) = event.text("FailureReason") {
        attributes.insert("status_detail".to_owned(), json!(reason));
    }
    Mapped {
        class: OcsfClass::Authentication,
        activity: (1, "Logon"),
        attributes,
        status: Some(if success {
            (1, "Success")
        } else {
            (2, "Failure")
        }),
    }
}

/// Which data fields of a process event say what.
#[derive(Clone, Copy)]
struct ProcessFields {
    path: &'static str,
    pid: &'static str,
    uid: Option<&'static str>,
    cmd_line: &'static str,
    user: &'static str,
    parent_path: &'static str,
    parent_pid: &'static str,
    parent_cmd_line: Option<&'static str>,
    actor_user: &'static str,
}

fn process_attributes(event: &WindowsEvent, fields: ProcessFields) -> Map<String, Value> {
    let mut process = process_object(event, fields.path, fields.pid).unwrap_or_else(|| json!({}));
    if let Some(uid) = fields.uid.and_then(|name| event.text(name)) {
        process["uid"] = json!(uid);
    }
    if let Some(cmd_line) = event.text(fields.cmd_line) {
        process["cmd_line"] = json!(cmd_line);
    }
    if let Some(user) = event.text(fields.user) {
        process["user"] = json!({"name": user});
    }
    if let Some(integrity) = event.text("IntegrityLevel") {
        process["integrity"] = json!(integrity);
    }
    if let Some(directory) = event.text("CurrentDirectory") {
        process["working_directory"] = json!(directory);
    }
    let mut actor = json!({});
    if let Some(mut parent) = process_object(event, fields.parent_path, fields.parent_pid) {
        if let Some(cmd_line) = fields.parent_cmd_line.and_then(|name| event.text(name)) {
            parent["cmd_line"] = json!(cmd_line);
        }
        process["parent_process"] = parent.clone();
        // The actor of a launch is the process that started the new one.
        actor["process"] = parent;
    }
    if let Some(user) = event.text(fields.actor_user) {
        actor["user"] = json!({"name": user});
    }
    attributes([("process", process), ("actor", actor)])
}

/// A process by its image path and id; OCSF needs the id, so without one there is no process
/// object (the path stays under `unmapped`).
fn process_object(event: &WindowsEvent, path: &str, pid: &str) -> Option<Value> {
    let pid = event.number(pid)?;
    let mut process = json!({"pid": pid});
    if let Some(path) = event.text(path) {
        process["file"] = file_object(Some(path));
        process["name"] = process["file"]["name"].clone();
    }
    Some(process)
}

/// A file by its path, with its name (the part after the last `\`).
fn file_object(path: Option<&str>) -> Value {
    let path = path.unwrap_or_default();
    let name = path.rsplit('\\').next().unwrap_or(path);
    // OCSF file type 1: regular file.
    json!({"path": path, "name": name, "type_id": 1})
}

fn registry_value(path: Option<&str>) -> Value {
    let path = path.unwrap_or_default();
    json!({"path": path, "name": path.rsplit('\\').next().unwrap_or(path)})
}

fn actor(event: &WindowsEvent, image: &str, pid: &str, user: &str) -> Value {
    let mut actor = json!({});
    if let Some(process) = process_object(event, image, pid) {
        actor["process"] = process;
    }
    if let Some(user) = event.text(user) {
        actor["user"] = json!({"name": user});
    }
    actor
}

fn user(event: &WindowsEvent, name: &str, domain: &str, sid: &str) -> Value {
    let mut user = json!({"name": event.text(name).unwrap_or_default()});
    if let Some(domain) = event.text(domain) {
        user["domain"] = json!(domain);
    }
    if let Some(sid) = event.text(sid) {
        user["uid"] = json!(sid);
    }
    user
}

fn attributes<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn event(channel: &str, event_id: u32, data: Value) -> WindowsEvent {
        WindowsEvent {
            channel: channel.to_owned(),
            provider: None,
            event_id,
            computer: "LAPTOP-7".to_owned(),
            time: Utc.with_ymd_and_hms(2026, 12, 1, 9, 15, 0).unwrap(),
            record_id: Some(7),
            data: match data {
                Value::Object(fields) => fields,
                other => panic!("event data is an object, not {other}"),
            },
        }
    }

    #[test]
    fn a_sysmon_process_creation_is_a_launch_by_its_parent() {
        let (class, ocsf) = to_ocsf(&event(
            SYSMON,
            1,
            json!({
                "Image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                "CommandLine": "powershell.exe -enc SQBFAFgA",
                "ParentImage": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                "ParentProcessId": "812",
                "ProcessId": "4242",
                "User": "CONTOSO\\avery",
            }),
        ))
        .unwrap();
        assert_eq!(class, OcsfClass::ProcessActivity);
        assert_eq!(ocsf["type_uid"], 100_701);
        assert_eq!(ocsf["process"]["file"]["name"], "powershell.exe");
        assert_eq!(ocsf["process"]["pid"], 4242);
        assert_eq!(ocsf["process"]["cmd_line"], "powershell.exe -enc SQBFAFgA");
        assert_eq!(ocsf["actor"]["process"]["file"]["name"], "WINWORD.EXE");
        assert_eq!(ocsf["actor"]["process"]["pid"], 812);
        assert_eq!(ocsf["unmapped"]["EventID"], 1);
        assert_eq!(ocsf["unmapped"]["User"], "CONTOSO\\avery");
        assert_eq!(ocsf["device"]["hostname"], "LAPTOP-7");
    }

    #[test]
    fn registry_events_split_into_key_and_value_activity() {
        let (class, ocsf) = to_ocsf(&event(
            SYSMON,
            13,
            json!({"EventType": "SetValue", "TargetObject": "HKLM\\SOFTWARE\\Run\\updater", "Details": "C:\\u.exe", "ProcessId": "77", "Image": "C:\\u.exe"}),
        ))
        .unwrap();
        assert_eq!(class, OcsfClass::RegistryValueActivity);
        assert_eq!(ocsf["reg_value"]["name"], "updater");
        assert_eq!(ocsf["reg_value"]["data"], "C:\\u.exe");
        let (class, ocsf) = to_ocsf(&event(
            SYSMON,
            12,
            json!({"EventType": "CreateKey", "TargetObject": "HKLM\\SOFTWARE\\Evil", "ProcessId": "77"}),
        ))
        .unwrap();
        assert_eq!(class, OcsfClass::RegistryKeyActivity);
        assert_eq!(ocsf["type_uid"], 20_100_101);
    }

    #[test]
    fn security_sign_ins_and_account_changes() {
        let (class, ocsf) = to_ocsf(&event(
            SECURITY,
            4625,
            json!({"TargetUserName": "admin", "IpAddress": "203.0.113.9", "LogonType": "3"}),
        ))
        .unwrap();
        assert_eq!(class, OcsfClass::Authentication);
        assert_eq!(
            (ocsf["status_id"].clone(), ocsf["logon_type_id"].clone()),
            (json!(2), json!(3))
        );
        assert_eq!(ocsf["src_endpoint"]["ip"], "203.0.113.9");
        let (class, ocsf) = to_ocsf(&event(
            SECURITY,
            4720,
            json!({"TargetUserName": "backdoor", "SubjectUserName": "avery"}),
        ))
        .unwrap();
        assert_eq!(class, OcsfClass::AccountChange);
        assert_eq!(ocsf["activity_name"], "Create");
        assert_eq!(ocsf["actor"]["user"]["name"], "avery");
    }

    #[test]
    fn other_events_are_refused_with_what_is_supported() {
        let refused = to_ocsf(&event("System", 7045, json!({}))).unwrap_err();
        assert!(refused.starts_with("Windows event 7045 of the System log is not one"));
        assert!(refused.contains("Security 4624"));
    }
}
