//! One record per real thing: how the reports of several integrations about the same identity or
//! device merge into its attributes, and which disagreements stay visible as conflicts.
//!
//! Identity rules, chosen so the merged record never looks safer than one of its sources says:
//! - `enabled`: true when any identity provider lets the account sign in (locked out at one but
//!   not another is still a live account), false when every one that says refuses it.
//! - `mfa_registered`: false when any provider says no second factor is registered (that sign-in
//!   path has none), true when every one that says has one.
//! - `admin_roles`: every role any provider grants; roles of different providers are different
//!   things, so differing lists are not a conflict.
//! - Descriptive attributes (`display_name`, `department`, `job_title`): the earliest source's
//!   value that is not empty.
//!
//! A conflict is recorded whenever two sources give different non-empty values of an attribute
//! other than `admin_roles`.
//!
//! Device rules: the hostname, OS and sensor health of the earliest source that gives them; the
//! latest `last_seen` of any source; the Microsoft Entra device id and hardware serial number
//! any source knows; every MAC address and tag. Vendors spell OS versions and sensor states
//! their own way, so only disagreements about identity are conflicts: a different host name
//! (compared without the DNS domain, which some tools report and others do not), Entra device
//! id or serial number.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use steward_domain::{
    IntegrationId,
    inventory::{AttributeConflict, SourcedValue},
    observations::{ObservedDevice, ObservedIdentity},
};

/// An identity's attributes merged from every source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReconciledIdentity {
    pub display_name: Option<String>,
    pub department: Option<String>,
    pub job_title: Option<String>,
    pub enabled: Option<bool>,
    pub admin_roles: Vec<String>,
    pub mfa_registered: Option<bool>,
    /// Every group any source reports, in the order first reported.
    pub groups: Vec<String>,
    pub conflicts: Vec<AttributeConflict>,
}

/// Merges `reports`, given in the order their sources were first seen.
#[must_use]
pub fn identity(reports: &[(IntegrationId, ObservedIdentity)]) -> ReconciledIdentity {
    let mut merged = ReconciledIdentity::default();
    let text = |field: fn(&ObservedIdentity) -> &Option<String>| {
        reports
            .iter()
            .filter_map(|(id, r)| {
                field(r)
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(|v| (*id, v.to_owned()))
            })
            .collect::<Vec<_>>()
    };
    for (attribute, values, slot) in [
        (
            "display_name",
            text(|r| &r.display_name),
            &mut merged.display_name,
        ),
        (
            "department",
            text(|r| &r.department),
            &mut merged.department,
        ),
        ("job_title", text(|r| &r.job_title), &mut merged.job_title),
    ] {
        *slot = values.first().map(|(_, v)| v.clone());
        let sourced = values.iter().map(|(id, v)| (*id, json!(v))).collect();
        merged.conflicts.extend(conflict(attribute, sourced));
    }

    let flags = |field: fn(&ObservedIdentity) -> Option<bool>| {
        reports
            .iter()
            .filter_map(|(id, r)| field(r).map(|v| (*id, v)))
            .collect::<Vec<_>>()
    };
    let enabled = flags(|r| r.enabled);
    merged.enabled = combine(&enabled, true);
    merged
        .conflicts
        .extend(conflict("enabled", sourced_flags(&enabled)));
    let mfa = flags(|r| r.mfa_registered);
    merged.mfa_registered = combine(&mfa, false);
    merged
        .conflicts
        .extend(conflict("mfa_registered", sourced_flags(&mfa)));

    for (_, report) in reports {
        for role in &report.admin_roles {
            if !merged.admin_roles.contains(role) {
                merged.admin_roles.push(role.clone());
            }
        }
        for group in &report.groups {
            if !merged.groups.contains(group) {
                merged.groups.push(group.clone());
            }
        }
    }
    merged
}

/// A device's attributes merged from every source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReconciledDevice {
    pub hostname: String,
    pub os_platform: Option<String>,
    pub health: Option<String>,
    pub last_seen: Option<DateTime<Utc>>,
    pub entra_device_id: Option<String>,
    pub serial_number: Option<String>,
    pub mac_addresses: Vec<String>,
    pub tags: Vec<String>,
    pub conflicts: Vec<AttributeConflict>,
}

/// A serial number as tools compare it: trimmed, upper case; `None` for the placeholders
/// firmware reports when it has none.
#[must_use]
pub fn serial_key(serial: &str) -> Option<String> {
    let serial = serial.trim().to_uppercase();
    let placeholder = serial.is_empty()
        || serial.chars().all(|c| c == '0')
        || [
            "TO BE FILLED BY O.E.M.",
            "DEFAULT STRING",
            "SYSTEM SERIAL NUMBER",
            "NONE",
            "N/A",
        ]
        .contains(&serial.as_str());
    (!placeholder).then_some(serial)
}

/// A host name without its DNS domain, in lower case: `ACME-LT01` and
/// `acme-lt01.acme.example` are one machine.
#[must_use]
pub fn short_hostname(hostname: &str) -> String {
    hostname
        .split('.')
        .next()
        .unwrap_or(hostname)
        .trim()
        .to_lowercase()
}

/// Merges device `reports`, given in the order their sources were first seen.
#[must_use]
pub fn device(reports: &[(IntegrationId, ObservedDevice)]) -> ReconciledDevice {
    let first = |field: fn(&ObservedDevice) -> Option<&str>| {
        reports
            .iter()
            .find_map(|(_, r)| field(r).map(str::trim).filter(|v| !v.is_empty()))
            .map(str::to_owned)
    };
    let mut merged = ReconciledDevice {
        hostname: first(|r| Some(r.hostname.as_str())).unwrap_or_default(),
        os_platform: first(|r| r.os_platform.as_deref()),
        health: first(|r| r.health.as_deref()),
        entra_device_id: first(|r| r.entra_device_id.as_deref()),
        ..ReconciledDevice::default()
    };
    let serials = reports
        .iter()
        .filter_map(|(id, r)| {
            r.serial_number
                .as_deref()
                .and_then(serial_key)
                .map(|s| (*id, s))
        })
        .collect::<Vec<_>>();
    merged.serial_number = serials.first().map(|(_, s)| s.clone());
    merged.last_seen = reports.iter().filter_map(|(_, r)| r.last_seen).max();
    for (_, report) in reports {
        for tag in &report.tags {
            if !merged.tags.contains(tag) {
                merged.tags.push(tag.clone());
            }
        }
        for mac in report
            .mac_addresses
            .iter()
            .filter_map(|m| steward_domain::observations::normalize_mac(m))
        {
            if !merged.mac_addresses.contains(&mac) {
                merged.mac_addresses.push(mac);
            }
        }
    }
    let names = reports
        .iter()
        .map(|(id, r)| (*id, json!(r.hostname)))
        .collect::<Vec<_>>();
    if reports
        .iter()
        .any(|(_, r)| short_hostname(&r.hostname) != short_hostname(&merged.hostname))
    {
        merged.conflicts.extend(conflict("hostname", names));
    }
    let entra = reports
        .iter()
        .filter_map(|(id, r)| {
            r.entra_device_id
                .as_deref()
                .map(|v| (*id, json!(v.to_lowercase())))
        })
        .collect();
    merged.conflicts.extend(conflict("entra_device_id", entra));
    let serials = serials.into_iter().map(|(id, s)| (id, json!(s))).collect();
    merged.conflicts.extend(conflict("serial_number", serials));
    merged
}

/// `decisive` when any source says it, the other value when all say that, `None` when none say.
fn combine(values: &[(IntegrationId, bool)], decisive: bool) -> Option<bool> {
    if values.is_empty() {
        None
    } else {
        Some(if values.iter().any(|(_, v)| *v == decisive) {
            decisive
        } else {
            !decisive
        })
    }
}

fn sourced_flags(values: &[(IntegrationId, bool)]) -> Vec<(IntegrationId, Value)> {
    values.iter().map(|(id, v)| (*id, json!(v))).collect()
}

fn conflict(attribute: &str, values: Vec<(IntegrationId, Value)>) -> Option<AttributeConflict> {
    let first = &values.first()?.1;
    values
        .iter()
        .any(|(_, v)| v != first)
        .then(|| AttributeConflict {
            attribute: attribute.to_owned(),
            values: values
                .into_iter()
                .map(|(integration_id, value)| SourcedValue {
                    integration_id,
                    value,
                })
                .collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(enabled: Option<bool>, mfa: Option<bool>, roles: &[&str]) -> ObservedIdentity {
        ObservedIdentity {
            external_id: "x".into(),
            user_principal_name: "ana@acme.example".into(),
            display_name: Some("Ana Silva".into()),
            department: None,
            job_title: Some("IT Administrator".into()),
            enabled,
            admin_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            mfa_registered: mfa,
            groups: Vec::new(),
        }
    }

    #[test]
    fn groups_are_the_union_of_every_source_in_the_order_first_reported() {
        let (graph, okta) = ids();
        let mut entra = report(Some(true), Some(true), &[]);
        entra.groups = vec!["Finance Team".into(), "VPN Users".into()];
        let mut mirrored = report(Some(true), Some(true), &[]);
        mirrored.groups = vec!["VPN Users".into(), "Okta Admins".into()];
        let merged = identity(&[(graph, entra), (okta, mirrored)]);
        assert_eq!(merged.groups, ["Finance Team", "VPN Users", "Okta Admins"]);
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
    }

    fn ids() -> (IntegrationId, IntegrationId) {
        (
            IntegrationId::from(uuid::Uuid::from_u128(1)),
            IntegrationId::from(uuid::Uuid::from_u128(2)),
        )
    }

    #[test]
    fn agreeing_sources_merge_without_conflicts_and_roles_add_up() {
        let (entra, okta) = ids();
        let merged = identity(&[
            (
                entra,
                report(Some(true), Some(true), &["Global Administrator"]),
            ),
            (okta, report(Some(true), None, &["Super Administrator"])),
        ]);
        assert_eq!(merged.enabled, Some(true));
        assert_eq!(merged.mfa_registered, Some(true));
        assert_eq!(
            merged.admin_roles,
            ["Global Administrator", "Super Administrator"]
        );
        assert_eq!(merged.display_name.as_deref(), Some("Ana Silva"));
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
    }

    #[test]
    fn an_account_suspended_at_one_provider_is_still_enabled_and_the_conflict_shows() {
        let (entra, okta) = ids();
        let merged = identity(&[
            (entra, report(Some(true), Some(true), &[])),
            (okta, report(Some(false), Some(false), &[])),
        ]);
        assert_eq!(merged.enabled, Some(true), "it can still sign in at one");
        assert_eq!(
            merged.mfa_registered,
            Some(false),
            "one sign-in path lacks MFA"
        );
        let attributes: Vec<_> = merged
            .conflicts
            .iter()
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(attributes, ["enabled", "mfa_registered"]);
        let enabled = &merged.conflicts[0];
        assert_eq!(enabled.values[0].integration_id, entra);
        assert_eq!(enabled.values[0].value, json!(true));
        assert_eq!(enabled.values[1].value, json!(false));
    }

    fn host(
        name: &str,
        seen_minutes_ago: i64,
        entra: Option<&str>,
        tags: &[&str],
    ) -> ObservedDevice {
        let now = DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        ObservedDevice {
            external_id: name.to_owned(),
            hostname: name.to_owned(),
            os_platform: Some(format!("{name} OS")),
            health: Some("Active".to_owned()),
            last_seen: Some(now - chrono::Duration::minutes(seen_minutes_ago)),
            last_ip: Some(format!("10.0.0.{seen_minutes_ago}")),
            entra_device_id: entra.map(str::to_owned),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..ObservedDevice::default()
        }
    }

    #[test]
    fn a_device_keeps_its_first_name_and_the_freshest_contact_without_spurious_conflicts() {
        let (defender, falcon) = ids();
        let merged = device(&[
            (
                defender,
                host("acme-lt01.acme.example", 30, Some("E1"), &["Finance"]),
            ),
            (falcon, host("ACME-LT01", 5, None, &["Finance", "Laptops"])),
        ]);
        assert_eq!(merged.hostname, "acme-lt01.acme.example");
        assert_eq!(
            merged.os_platform.as_deref(),
            Some("acme-lt01.acme.example OS")
        );
        assert_eq!(
            merged.last_seen,
            Some(
                DateTime::parse_from_rfc3339("2026-11-30T09:55:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            ),
            "the freshest contact"
        );
        assert_eq!(merged.entra_device_id.as_deref(), Some("E1"));
        assert_eq!(merged.tags, ["Finance", "Laptops"]);
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);
    }

    #[test]
    fn devices_disagreeing_about_name_or_entra_id_show_it() {
        let (defender, falcon) = ids();
        let merged = device(&[
            (defender, host("acme-lt01", 1, Some("E1"), &[])),
            (falcon, host("ACME-LT07", 2, Some("e2"), &[])),
        ]);
        let attributes: Vec<_> = merged
            .conflicts
            .iter()
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(attributes, ["hostname", "entra_device_id"]);
    }

    #[test]
    fn serial_numbers_and_mac_addresses_join_and_placeholders_do_not() {
        let (ninja, falcon) = ids();
        let mut rmm = host("acme-lt01", 1, None, &[]);
        rmm.serial_number = Some(" pf3abc12 ".into());
        rmm.mac_addresses = vec!["00-15-5D-0A-1B-2C".into()];
        let mut edr = host("ACME-LT01", 2, None, &[]);
        edr.serial_number = Some("PF3ABC12".into());
        edr.mac_addresses = vec!["00:15:5d:0a:1b:2c".into(), "00:15:5d:0a:1b:2d".into()];
        let merged = device(&[(ninja, rmm.clone()), (falcon, edr.clone())]);
        assert_eq!(merged.serial_number.as_deref(), Some("PF3ABC12"));
        assert_eq!(
            merged.mac_addresses,
            ["00:15:5d:0a:1b:2c", "00:15:5d:0a:1b:2d"]
        );
        assert!(merged.conflicts.is_empty(), "{:?}", merged.conflicts);

        edr.serial_number = Some("To Be Filled By O.E.M.".into());
        assert_eq!(
            device(&[(falcon, edr.clone())]).serial_number,
            None,
            "a firmware placeholder is no serial"
        );
        edr.serial_number = Some("PF3XYZ99".into());
        let merged = device(&[(ninja, rmm), (falcon, edr)]);
        assert_eq!(merged.conflicts[0].attribute, "serial_number");
    }

    #[test]
    fn disabled_everywhere_is_disabled_and_descriptions_come_from_the_first_source() {
        let (entra, okta) = ids();
        let mut second = report(Some(false), None, &[]);
        second.display_name = Some("Ana M. Silva".into());
        second.department = Some("IT".into());
        let merged = identity(&[(entra, report(Some(false), None, &[])), (okta, second)]);
        assert_eq!(merged.enabled, Some(false));
        assert_eq!(merged.mfa_registered, None);
        assert_eq!(merged.display_name.as_deref(), Some("Ana Silva"));
        assert_eq!(
            merged.department.as_deref(),
            Some("IT"),
            "the only one given"
        );
        let attributes: Vec<_> = merged
            .conflicts
            .iter()
            .map(|c| c.attribute.as_str())
            .collect();
        assert_eq!(attributes, ["display_name"]);
    }
}
