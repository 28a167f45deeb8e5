//! The events connectors build are valid OCSF: checked against the schema files (copied under
//! `tests/data/ocsf-schema`) for class and category ids, required attributes at every level,
//! `at_least_one` constraints, and no attribute the class does not define.

use std::{collections::BTreeMap, path::PathBuf};

use chrono::{TimeZone, Utc};
use serde_json::{Map, Value};
use steward_integrations::{
    ocsf::{self, AccountActivity, Actor, ApiVerb, AuditEntry, Detection, Product, SignIn},
    telemetry,
};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ocsf-schema")
}

fn load(relative: &str) -> Value {
    let path = schema_dir().join(relative);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}")),
    )
    .unwrap()
}

/// An attribute's requirement and type.
#[derive(Debug, Clone)]
struct Attribute {
    required: bool,
    object_type: Option<String>,
}

struct Schema {
    dictionary: Map<String, Value>,
}

impl Schema {
    fn new() -> Self {
        let mut dictionary = load("dictionary.json")["attributes"]
            .as_object()
            .unwrap()
            .clone();
        // The Windows extension adds its attributes (reg_key, reg_value, …) to the dictionary.
        dictionary.extend(
            load("extensions/windows/dictionary.json")["attributes"]
                .as_object()
                .unwrap()
                .clone(),
        );
        Self { dictionary }
    }

    /// The attributes a definition, its parents and its included profiles define.
    fn attributes(
        &self,
        definition: &Value,
        base_dir: &str,
    ) -> (BTreeMap<String, Attribute>, Vec<Vec<String>>) {
        let mut attributes = BTreeMap::new();
        let mut constraints = Vec::new();
        if let Some(parent) = definition["extends"].as_str() {
            let parent_file = if base_dir == "objects" {
                object_file(parent)
            } else {
                find_event(parent)
            };
            let parent_dir = if base_dir == "objects" {
                "objects"
            } else {
                "events"
            };
            let (inherited, inherited_constraints) =
                self.attributes(&load(&parent_file), parent_dir);
            attributes.extend(inherited);
            constraints.extend(inherited_constraints);
        }
        for (name, spec) in definition["attributes"].as_object().into_iter().flatten() {
            if name == "$include" {
                for include in spec.as_array().unwrap() {
                    let included = load(include.as_str().unwrap());
                    // Profile attributes bind only events that apply the profile; Steward's
                    // events apply none, so they are allowed but never required.
                    for (name, spec) in included["attributes"].as_object().unwrap() {
                        let attribute = Attribute {
                            required: false,
                            ..self.attribute(name, spec)
                        };
                        attributes.entry(name.clone()).or_insert(attribute);
                    }
                }
                continue;
            }
            let attribute = self.attribute(name, spec);
            let inherited_required = attributes.get(name).is_some_and(|a| a.required);
            attributes.insert(
                name.clone(),
                Attribute {
                    required: attribute.required
                        || (inherited_required && spec.get("requirement").is_none()),
                    ..attribute
                },
            );
        }
        // A definition's own constraints replace those it inherits.
        if let Some(at_least_one) = definition["constraints"]["at_least_one"].as_array() {
            constraints.clear();
            constraints.push(
                at_least_one
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect(),
            );
        }
        (attributes, constraints)
    }

    fn attribute(&self, name: &str, spec: &Value) -> Attribute {
        let object_type = self.dictionary[name]["type"]
            .as_str()
            .filter(|t| !t.ends_with("_t"))
            .map(str::to_owned);
        Attribute {
            required: spec["requirement"].as_str() == Some("required"),
            object_type,
        }
    }

    fn check(&self, value: &Map<String, Value>, definition: &Value, base_dir: &str, path: &str) {
        let (attributes, constraints) = self.attributes(definition, base_dir);
        for (name, attribute) in &attributes {
            if attribute.required {
                assert!(
                    value.contains_key(name),
                    "{path}: required attribute `{name}` missing"
                );
            }
        }
        for group in constraints {
            assert!(
                group.iter().any(|name| value.contains_key(name)),
                "{path}: needs at least one of {group:?}"
            );
        }
        for (name, item) in value {
            let attribute = attributes.get(name).unwrap_or_else(|| {
                panic!("{path}: `{name}` is not an attribute of this class or object")
            });
            // `object` is OCSF's free-form object (`unmapped`): anything goes inside.
            if let Some(object_type) = attribute.object_type.as_ref().filter(|t| *t != "object") {
                let definition = load(&object_file(object_type));
                let items: Vec<&Value> = match item {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for item in items {
                    let object = item
                        .as_object()
                        .unwrap_or_else(|| panic!("{path}.{name}: expected an object"));
                    self.check(object, &definition, "objects", &format!("{path}.{name}"));
                }
            }
        }
    }

    fn check_event(&self, event: &Value, class_file: &str) {
        let definition = load(class_file);
        let category = load("categories.json");
        let category_name = inherited(&definition, "category");
        let category_name = category_name.as_str().unwrap();
        let category_uid = category["attributes"][category_name]["uid"]
            .as_u64()
            .unwrap();
        // An extension's classes are numbered after the extension: 201001 is the Windows
        // extension's (2) System Activity (1) class 1.
        let extension = if class_file.starts_with("extensions/windows/") {
            load("extensions/windows/extension.json")["uid"]
                .as_u64()
                .unwrap()
        } else {
            0
        };
        let class_uid =
            extension * 100_000 + category_uid * 1000 + definition["uid"].as_u64().unwrap();
        assert_eq!(event["class_uid"].as_u64(), Some(class_uid), "class_uid");
        assert_eq!(
            event["category_uid"].as_u64(),
            Some(category_uid),
            "category_uid"
        );
        assert_eq!(
            event["type_uid"].as_u64(),
            Some(class_uid * 100 + event["activity_id"].as_u64().unwrap()),
            "type_uid"
        );
        assert_eq!(event["class_name"], definition["caption"]);
        self.check(event.as_object().unwrap(), &definition, "events", "event");
    }
}

/// `key` of a class definition or, when it has none, of its nearest parent.
fn inherited(definition: &Value, key: &str) -> Value {
    match (definition.get(key), definition["extends"].as_str()) {
        (Some(value), _) => value.clone(),
        (None, Some(parent)) => inherited(&load(&find_event(parent)), key),
        (None, None) => Value::Null,
    }
}

/// The file of an object, in the core schema or the Windows extension.
fn object_file(name: &str) -> String {
    let core = format!("objects/{name}.json");
    if schema_dir().join(&core).exists() {
        return core;
    }
    // The extension's files are named in full (`registry_key.json` defines `reg_key`).
    let dir = schema_dir().join("extensions/windows/objects");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = format!(
            "extensions/windows/objects/{}",
            entry.unwrap().file_name().to_str().unwrap()
        );
        if load(&file)["name"] == name {
            return file;
        }
    }
    panic!("object {name} not among the copied schema files");
}

/// The file of an event class named `name` among the copied ones.
fn find_event(name: &str) -> String {
    for candidate in [
        "events/base_event.json".to_owned(),
        format!("events/findings/{name}.json"),
        format!("events/iam/{name}.json"),
        format!("events/system/{name}.json"),
        format!("events/application/{name}.json"),
    ] {
        if schema_dir().join(&candidate).exists() && load(&candidate)["name"] == name {
            return candidate;
        }
    }
    panic!("event class {name} not among the copied schema files");
}

const PRODUCT: Product = Product {
    name: "Microsoft Defender for Endpoint",
    vendor_name: "Microsoft",
};

#[test]
fn detection_findings_are_valid_ocsf() {
    let schema = Schema::new();
    let techniques = vec!["T1204.002".to_owned()];
    let created = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let full = ocsf::detection_finding(&Detection {
        product: PRODUCT,
        uid: "da638000000000000000_1234567890",
        title: "'Emotet' malware was detected",
        description: Some("An active 'Emotet' process was detected."),
        category: Some("Malware"),
        severity: "High",
        status: "InProgress",
        created,
        updated: Some(created + chrono::Duration::minutes(5)),
        device: Some((
            "1e5bc9d7e413ddd7902c2932e418702b84d0cc07",
            Some("acme-lt04.acme-dental.example"),
        )),
        user: Some(("0b4f4892-e94e-4ac4-b067-5e3d2e4562ae", Some("morgan"))),
        malware: Some("Emotet"),
        mitre_techniques: &techniques,
    });
    schema.check_event(&full, "events/findings/detection_finding.json");
    assert_eq!(
        full["activity_id"], 2,
        "an alert updated after creation is an Update"
    );
    assert_eq!(full["severity_id"], 4);

    let minimal = ocsf::detection_finding(&Detection {
        product: PRODUCT,
        uid: "x",
        title: "t",
        description: None,
        category: None,
        severity: "unknown",
        status: "resolved",
        created,
        updated: None,
        device: None,
        user: None,
        malware: None,
        mitre_techniques: &[],
    });
    schema.check_event(&minimal, "events/findings/detection_finding.json");
    assert_eq!(minimal["activity_id"], 3, "a resolved alert is a Close");
}

#[test]
fn sign_ins_are_valid_ocsf_authentication_events() {
    let schema = Schema::new();
    let time = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    let product = Product {
        name: "Microsoft Entra ID",
        vendor_name: "Microsoft",
    };
    let success = ocsf::authentication(&SignIn {
        product,
        uid: "66ea54eb-6301-4ee5-be62-ff5a759b0100",
        time,
        user_uid: "26be570a-ae82-4189-b4e2-a37c6808512d",
        user_name: "testaccount1@contoso.com",
        success: true,
        failure_reason: None,
        ip: Some("131.107.159.37"),
        city: Some("Redmond"),
        country: Some("US"),
        coordinates: Some((47.68, -122.12)),
        application: Some("Graph explorer"),
        risk_level: None,
        device: Some(ocsf::SignInDevice {
            uid: "0c8f7a5e-4a8b-4c1e-9a3b-5d2f6e7c8b9a",
            name: "DESKTOP-7HQ2K9M",
            managed: false,
        }),
    });
    schema.check_event(&success, "events/iam/authentication.json");
    assert_eq!(ocsf::sign_in_coordinates(&success), Some((47.68, -122.12)));
    assert_eq!(
        ocsf::sign_in_device(&success),
        Some((
            "0c8f7a5e-4a8b-4c1e-9a3b-5d2f6e7c8b9a".to_owned(),
            Some("DESKTOP-7HQ2K9M".to_owned()),
            false
        ))
    );

    let failure = ocsf::authentication(&SignIn {
        product,
        uid: "f",
        time,
        user_uid: "u",
        user_name: "u@contoso.com",
        success: false,
        failure_reason: Some("Invalid username or password."),
        ip: None,
        city: None,
        country: None,
        coordinates: None,
        application: None,
        risk_level: Some("high"),
        device: None,
    });
    schema.check_event(&failure, "events/iam/authentication.json");
    assert_eq!(failure["status_id"], 2);
    assert_eq!(failure["severity_id"], 4);
}

/// The OCSF class file of a class uid the telemetry normalizer produces.
fn class_file(class_uid: u64) -> &'static str {
    match class_uid {
        1001 => "events/system/file_activity.json",
        1007 => "events/system/process_activity.json",
        3001 => "events/iam/account_change.json",
        3002 => "events/iam/authentication.json",
        6003 => "events/application/api_activity.json",
        201_001 => "extensions/windows/events/registry_key_activity.json",
        201_002 => "extensions/windows/events/registry_value_activity.json",
        other => panic!("no class file for {other}"),
    }
}

#[test]
fn windows_events_normalize_to_valid_ocsf_of_every_class() {
    let schema = Schema::new();
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    let events = [
        (
            sysmon,
            1,
            serde_json::json!({"Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c whoami", "ParentImage": "C:\\Windows\\explorer.exe", "ProcessId": "10", "ParentProcessId": "4", "User": "ACME\\avery", "ProcessGuid": "{1}", "IntegrityLevel": "Medium", "CurrentDirectory": "C:\\"}),
        ),
        (
            sysmon,
            5,
            serde_json::json!({"Image": "C:\\Windows\\System32\\cmd.exe", "ProcessId": "10", "User": "ACME\\avery"}),
        ),
        (
            sysmon,
            11,
            serde_json::json!({"TargetFilename": "C:\\Users\\avery\\a.exe", "Image": "C:\\x.exe", "ProcessId": "7"}),
        ),
        (
            sysmon,
            23,
            serde_json::json!({"TargetFilename": "C:\\Users\\avery\\a.exe", "Image": "C:\\x.exe", "ProcessId": "7"}),
        ),
        (
            sysmon,
            12,
            serde_json::json!({"EventType": "CreateKey", "TargetObject": "HKLM\\SOFTWARE\\X", "Image": "C:\\x.exe", "ProcessId": "7"}),
        ),
        (
            sysmon,
            12,
            serde_json::json!({"EventType": "DeleteValue", "TargetObject": "HKLM\\SOFTWARE\\X\\v", "ProcessId": "7"}),
        ),
        (
            sysmon,
            13,
            serde_json::json!({"EventType": "SetValue", "TargetObject": "HKLM\\SOFTWARE\\X\\v", "Details": "1", "ProcessId": "7"}),
        ),
        (
            sysmon,
            14,
            serde_json::json!({"EventType": "RenameKey", "TargetObject": "HKLM\\SOFTWARE\\X", "NewName": "HKLM\\SOFTWARE\\Y", "ProcessId": "7"}),
        ),
        (
            "Security",
            4688,
            serde_json::json!({"NewProcessName": "C:\\m.exe", "NewProcessId": "0x10", "ProcessId": "0x4", "ParentProcessName": "C:\\cmd.exe", "CommandLine": "m.exe", "SubjectUserName": "avery", "TargetUserName": "-"}),
        ),
        (
            "Security",
            4689,
            serde_json::json!({"ProcessName": "C:\\m.exe", "ProcessId": "0x10", "SubjectUserName": "avery"}),
        ),
        (
            "Security",
            4624,
            serde_json::json!({"TargetUserName": "avery", "TargetDomainName": "ACME", "IpAddress": "10.0.0.5", "LogonType": "10", "WorkstationName": "WS1"}),
        ),
        (
            "Security",
            4625,
            serde_json::json!({"TargetUserName": "admin", "FailureReason": "%%2313"}),
        ),
        (
            "Security",
            4657,
            serde_json::json!({"ObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\X", "ObjectValueName": "v", "NewValue": "1", "ProcessName": "C:\\r.exe", "ProcessId": "0x8"}),
        ),
        (
            "Security",
            4720,
            serde_json::json!({"TargetUserName": "backdoor", "TargetSid": "S-1-5-21-1", "SubjectUserName": "avery"}),
        ),
        (
            "Security",
            4740,
            serde_json::json!({"TargetUserName": "avery"}),
        ),
    ];
    for (n, (channel, id, data)) in events.into_iter().enumerate() {
        let mut raw = serde_json::json!({
            "EventID": id, "Channel": channel, "Computer": "ACME-LT07",
            "TimeCreated": "2026-12-01T09:15:00Z", "EventRecordID": n,
        });
        raw.as_object_mut()
            .unwrap()
            .extend(data.as_object().unwrap().clone());
        let event = telemetry::normalize(&raw).unwrap_or_else(|e| panic!("{channel} {id}: {e}"));
        let class_uid = u64::from(event.class.class_uid());
        assert_eq!(event.ocsf["class_uid"].as_u64(), Some(class_uid));
        schema.check_event(&event.ocsf, class_file(class_uid));
    }
    // A file event that names nobody who acted cannot be valid OCSF: it is refused, saying so.
    let anonymous = serde_json::json!({"EventID": 11, "Channel": sysmon, "Computer": "ACME-LT07",
        "TimeCreated": "2026-12-01T09:15:00Z", "TargetFilename": "C:\\a.exe"});
    assert_eq!(
        telemetry::normalize(&anonymous).unwrap_err(),
        "Windows event 11 of the Microsoft-Windows-Sysmon/Operational log names no process or \
         user that acted"
    );
}

#[test]
fn identity_provider_audit_events_are_valid_account_change_and_api_activity() {
    let schema = Schema::new();
    let time = Utc.with_ymd_and_hms(2026, 12, 1, 9, 20, 0).unwrap();
    let raw = serde_json::json!({"eventType": "user.account.lock", "displayMessage": "locked"});
    let entry = |actor, ip| AuditEntry {
        product: Product {
            name: "Okta",
            vendor_name: "Okta",
        },
        uid: "2b7f3c1e",
        time,
        operation: "user.account.lock",
        actor,
        ip,
        success: false,
        message: Some("locked"),
        raw: &raw,
    };
    let person = Actor::User {
        uid: "00u-admin",
        name: "it@contoso.com",
    };
    let app = Actor::App {
        uid: None,
        name: "Provisioning",
    };
    for activity in [
        AccountActivity::Create,
        AccountActivity::PasswordReset,
        AccountActivity::Lock,
        AccountActivity::MfaFactorDisable,
        AccountActivity::Other,
    ] {
        let event = ocsf::account_change(
            &entry(Some(person), Some("198.51.100.4")),
            activity,
            ("00u-dana", "dana@contoso.com"),
        );
        schema.check_event(&event, class_file(3001));
    }
    for (actor, ip, verb) in [
        (Some(person), Some("198.51.100.4"), ApiVerb::Create),
        (Some(app), None, ApiVerb::Update),
        (None, None, ApiVerb::Other),
    ] {
        let event = ocsf::api_activity(
            &entry(actor, ip),
            verb,
            &[("0bn-1", "ROLE_BINDING", Some("Super admin"))],
        );
        schema.check_event(&event, class_file(6003));
        assert_eq!(event["status_id"], 2);
    }
}
