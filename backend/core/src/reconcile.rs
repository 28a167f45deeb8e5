//! One record per real thing: how the reports of several integrations about the same identity
//! merge into its attributes, and which disagreements stay visible as conflicts.
//!
//! Rules, chosen so the merged record never looks safer than one of its sources says:
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

use serde_json::{Value, json};
use steward_domain::{
    IntegrationId,
    inventory::{AttributeConflict, SourcedValue},
    observations::ObservedIdentity,
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
    }
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
        }
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
