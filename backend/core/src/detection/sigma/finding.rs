//! A Sigma match as a finding: the rule and its version, its level as OCSF severity, its MITRE
//! ATT&CK tags, and the event that matched.

use serde_json::json;
use steward_domain::{incidents::FindingSource, inventory::StoredEvent};

use super::{CorrelationMatch, SigmaMatch};
use crate::storage::Detected;

/// The finding rule name of a Sigma rule: `sigma:` and the rule's id.
#[must_use]
pub fn rule_name(rule_id: &str) -> String {
    format!("sigma:{rule_id}")
}

/// OCSF `severity_id` for a Sigma level: informational 1, low 2, medium 3, high 4, critical 5;
/// a rule without a level is of unknown severity (0).
#[must_use]
pub fn severity_id(level: Option<&str>) -> u8 {
    match level {
        Some("informational") => 1,
        Some("low") => 2,
        Some("medium") => 3,
        Some("high") => 4,
        Some("critical") => 5,
        _ => 0,
    }
}

/// The MITRE ATT&CK techniques (`T1059.001`, upper case) or, when `techniques` is false, the
/// tactics (`execution`) among a rule's tags.
fn attack(tags: &[String], techniques: bool) -> Vec<String> {
    tags.iter()
        .filter_map(|tag| tag.strip_prefix("attack."))
        .filter(|name| {
            let technique = name.len() > 1
                && name.starts_with(['t', 'T'])
                && name[1..].starts_with(|c: char| c.is_ascii_digit());
            technique == techniques
        })
        .map(|name| {
            if techniques {
                name.to_ascii_uppercase()
            } else {
                name.to_owned()
            }
        })
        .collect()
}

/// The finding of rule match `found` on `event`; one per rule and event, however often triage
/// runs.
#[must_use]
pub fn finding(event: &StoredEvent, found: &SigmaMatch) -> Detected {
    let matched: serde_json::Map<String, serde_json::Value> = found
        .fields
        .iter()
        .map(|(field, value)| (field.clone(), value.clone()))
        .collect();
    Detected {
        source: FindingSource::Detection,
        rule: rule_name(&found.rule_id),
        dedup_key: format!("sigma:{}:{}", found.rule_id, event.id),
        title: found.title.clone(),
        severity_id: severity_id(found.level.as_deref()),
        time: event.time,
        events: vec![event.id],
        details: json!({
            "rule_id": found.rule_id,
            "rule_version": found.rule_version,
            "level": found.level,
            "mitre_techniques": attack(&found.tags, true),
            "mitre_tactics": attack(&found.tags, false),
            "matched": matched,
            // The computer the event names, for grouping while no tool has reported it.
            "host": event.ocsf["device"]["hostname"],
        }),
    }
}

/// The finding of a correlation's firing on `last`, the event that completed it; one per
/// firing, named by that event, however often triage runs.
#[must_use]
pub fn correlation_finding(last: &StoredEvent, fired: &CorrelationMatch) -> Detected {
    let events: Vec<uuid::Uuid> = fired
        .events
        .iter()
        .filter_map(|id| id.parse().ok())
        .collect();
    let group: serde_json::Map<String, serde_json::Value> = fired
        .group
        .iter()
        .map(|(field, value)| (field.clone(), json!(value)))
        .collect();
    let described: Vec<String> = fired
        .group
        .iter()
        .map(|(field, value)| format!("{field} {value}"))
        .collect();
    let title = if described.is_empty() {
        fired.title.clone()
    } else {
        format!("{} ({})", fired.title, described.join(", "))
    };
    Detected {
        source: FindingSource::Detection,
        rule: rule_name(&fired.rule_id),
        dedup_key: format!("sigma:{}:{}", fired.rule_id, last.id),
        title,
        severity_id: severity_id(fired.level.as_deref()),
        time: last.time,
        events: if events.is_empty() {
            vec![last.id]
        } else {
            events
        },
        details: json!({
            "rule_id": fired.rule_id,
            "rule_version": fired.rule_version,
            "level": fired.level,
            "correlation": fired.kind,
            "group": group,
            "value": fired.value,
            "timespan_seconds": fired.timespan_secs,
            "mitre_techniques": attack(&fired.tags, true),
            "mitre_tactics": attack(&fired.tags, false),
            "host": last.ocsf["device"]["hostname"],
        }),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use steward_domain::{IntegrationId, TenantId, observations::OcsfClass};

    use super::*;

    #[test]
    fn a_match_names_its_rule_version_severity_and_attack_techniques() {
        let event = StoredEvent {
            id: uuid::Uuid::from_u128(7),
            tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            integration_id: IntegrationId::from_uuid(uuid::Uuid::from_u128(2)),
            external_id: "LAPTOP-7:Sysmon:12".to_owned(),
            class: OcsfClass::ProcessActivity,
            time: chrono::Utc.timestamp_opt(1_764_580_500, 0).unwrap(),
            severity_id: 1,
            entities: Vec::new(),
            ocsf: json!({}),
            received_at: chrono::Utc.timestamp_opt(1_764_580_501, 0).unwrap(),
        };
        let found = SigmaMatch {
            rule_id: "ca2092a1-c273-4878-9b4b-0d60115bf5ea".to_owned(),
            rule_version: "00ff".to_owned(),
            title: "Suspicious Encoded PowerShell Command Line".to_owned(),
            level: Some("high".to_owned()),
            tags: vec![
                "attack.execution".to_owned(),
                "attack.t1059.001".to_owned(),
                "detection.threat-hunting".to_owned(),
            ],
            fields: vec![("process.cmd_line".to_owned(), json!("powershell -enc"))],
        };
        let detected = finding(&event, &found);
        assert_eq!(detected.rule, "sigma:ca2092a1-c273-4878-9b4b-0d60115bf5ea");
        assert_eq!(detected.severity_id, 4);
        assert_eq!(detected.events, vec![event.id]);
        assert_eq!(detected.details["mitre_techniques"], json!(["T1059.001"]));
        assert_eq!(detected.details["mitre_tactics"], json!(["execution"]));
        assert_eq!(detected.details["rule_version"], "00ff");
        assert_eq!(
            detected.details["matched"]["process.cmd_line"],
            "powershell -enc"
        );
        assert_eq!(
            detected.dedup_key,
            format!("sigma:{}:{}", found.rule_id, event.id),
            "the same match on the same event is one finding"
        );
        assert_eq!(severity_id(None), 0);
        assert_eq!(severity_id(Some("critical")), 5);
    }
}
