//! Steward's playbook: which actions a finding calls for, on which of its entities, each
//! proposed to the authority policy like anyone's.

use steward_domain::{
    ActionId,
    actions::{ActionType, TargetKind},
    incidents::{EntityKey, FindingSource},
};

use super::{
    performer,
    policy::{AuthorityPolicy, Policies},
    propose,
};
use crate::{
    detection::{Detected, IMPOSSIBLE_TRAVEL},
    incidents::Recorded,
    inventory::profile::profile,
    storage::{StorageError, TenantWork, WorkError},
};

/// Proposes what the playbook calls for on a recorded finding; returns the actions proposed
/// for the first time.
///
/// # Errors
/// When the database cannot be read or written.
pub async fn propose_for_finding(
    work: &TenantWork<'_>,
    policies: &Policies,
    policy: &AuthorityPolicy,
    detected: &Detected,
    entities: &[EntityKey],
    recorded: &Recorded,
) -> Result<Vec<ActionId>, WorkError> {
    let mut proposed = Vec::new();
    for (kind, entity, reason) in playbook(detected, entities) {
        let kinds = if kind == ActionType::DisableUser {
            lockouts(work, entity).await?
        } else {
            vec![kind]
        };
        for kind in kinds {
            let reason = reason.clone();
            if let Some(id) =
                propose(work, policies, policy, recorded, kind, entity, reason).await?
            {
                proposed.push(id);
            }
        }
    }
    Ok(proposed)
}

/// What to do about a finding: contain the device of a serious alert; lock out the identity
/// of a serious alert or an impossible-travel sign-in.
fn playbook(detected: &Detected, entities: &[EntityKey]) -> Vec<(ActionType, EntityKey, String)> {
    let serious = detected.severity_id >= 4;
    let travel = detected.source == FindingSource::Detection && detected.rule == IMPOSSIBLE_TRAVEL;
    let mut plan = Vec::new();
    for entity in entities {
        match entity.kind {
            TargetKind::Device if serious => plan.push((
                ActionType::IsolateDevice,
                *entity,
                format!("Contain the device: {}", detected.title),
            )),
            TargetKind::Identity if serious || travel => {
                let why = format!("Lock out the account: {}", detected.title);
                plan.push((ActionType::DisableUser, *entity, why.clone()));
                plan.push((
                    ActionType::RevokeSessions,
                    *entity,
                    format!("End the attacker's existing sessions: {}", detected.title),
                ));
            }
            TargetKind::Device | TargetKind::Identity => {}
        }
    }
    plan
}

/// How to lock the account out at every identity provider that reported it: disable it in
/// Microsoft Entra ID, suspend it in Okta. Disable when none can (the action then fails, saying
/// that no integration performs it).
async fn lockouts(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Vec<ActionType>, StorageError> {
    let mut kinds = Vec::new();
    if let Some(profile) = profile(work, entity).await? {
        for kind in [ActionType::DisableUser, ActionType::SuspendUser] {
            if performer(work, kind, &profile, None).await?.is_some() {
                kinds.push(kind);
            }
        }
    }
    if kinds.is_empty() {
        kinds.push(ActionType::DisableUser);
    }
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn finding(source: FindingSource, rule: &str, severity_id: u8) -> Detected {
        Detected {
            source,
            rule: rule.to_owned(),
            dedup_key: "key".to_owned(),
            title: "Suspicious activity".to_owned(),
            severity_id,
            time: chrono::Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
            events: Vec::new(),
            details: serde_json::Value::Null,
        }
    }

    fn entity(kind: TargetKind, n: u128) -> EntityKey {
        EntityKey {
            kind,
            id: uuid::Uuid::from_u128(n),
        }
    }

    fn planned(plan: &[(ActionType, EntityKey, String)]) -> Vec<(ActionType, EntityKey)> {
        plan.iter()
            .map(|(kind, target, _)| (*kind, *target))
            .collect()
    }

    #[test]
    fn a_serious_alert_contains_its_device_and_locks_out_its_identity() {
        let laptop = entity(TargetKind::Device, 1);
        let person = entity(TargetKind::Identity, 2);
        let alert = finding(FindingSource::VendorAlert, "vendor-alert:malware", 4);
        let plan = playbook(&alert, &[laptop, person]);
        assert_eq!(
            planned(&plan),
            [
                (ActionType::IsolateDevice, laptop),
                (ActionType::DisableUser, person),
                (ActionType::RevokeSessions, person),
            ]
        );
        assert!(
            plan.iter()
                .all(|(_, _, why)| why.ends_with("Suspicious activity")),
            "each proposal says which finding it answers: {plan:?}"
        );
    }

    #[test]
    fn a_minor_alert_proposes_nothing() {
        let alert = finding(FindingSource::VendorAlert, "vendor-alert:adware", 3);
        let targets = [
            entity(TargetKind::Device, 1),
            entity(TargetKind::Identity, 2),
        ];
        assert!(playbook(&alert, &targets).is_empty());
    }

    #[test]
    fn impossible_travel_locks_out_the_identity_whatever_its_severity_and_spares_devices() {
        let person = entity(TargetKind::Identity, 2);
        let laptop = entity(TargetKind::Device, 1);
        let travel = finding(FindingSource::Detection, IMPOSSIBLE_TRAVEL, 2);
        assert_eq!(
            planned(&playbook(&travel, &[laptop, person])),
            [
                (ActionType::DisableUser, person),
                (ActionType::RevokeSessions, person),
            ]
        );
        // The same rule name from a vendor is the vendor's alert, judged by its severity.
        let vendor = finding(FindingSource::VendorAlert, IMPOSSIBLE_TRAVEL, 2);
        assert!(playbook(&vendor, &[person]).is_empty());
    }
}
