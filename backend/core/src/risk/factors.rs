//! How an entity's risk score is made: named factors, each with its contribution and evidence.
//!
//! Pure: triage gathers the inputs (the entity, its open findings, its incidents' status) and
//! stores the result whenever it changes.

use steward_domain::{
    TenantId,
    actions::Criticality,
    incidents::{FindingSource, IncidentStatus},
    inventory::{Device, Identity},
    risk::RiskFactor,
};

use crate::detection::{IMPOSSIBLE_TRAVEL, baseline::UNUSUAL_SIGN_IN};

/// How much the business depends on a device: set by the MSP with a
/// `steward:criticality=<low|medium|high|critical>` tag; otherwise servers are high and
/// everything else medium.
#[must_use]
pub fn device_criticality(device: &Device) -> Criticality {
    if let Some(criticality) = device.context.as_ref().and_then(|c| c.criticality) {
        return criticality;
    }
    Criticality::from_tags(&device.tags)
}

/// How much the business depends on an identity: administrators are high.
#[must_use]
pub fn identity_criticality(identity: &Identity) -> Criticality {
    if let Some(criticality) = identity.context.as_ref().and_then(|c| c.criticality) {
        return criticality;
    }
    if identity.is_privileged() {
        Criticality::High
    } else {
        Criticality::Medium
    }
}

/// A finding about the entity, with where its incident stands.
#[derive(Debug, Clone)]
pub struct FindingInput<'a> {
    pub source: FindingSource,
    pub rule: &'a str,
    pub title: &'a str,
    pub severity_id: u8,
    pub incident_id: uuid::Uuid,
    pub incident_status: IncidentStatus,
}

/// Points an open alert of this OCSF severity adds.
const fn alert_points(severity_id: u8) -> u8 {
    match severity_id {
        5 | 6 => 45,
        4 => 35,
        3 => 20,
        2 => 10,
        _ => 0,
    }
}

fn incident_link(tenant_id: TenantId, incident_id: uuid::Uuid) -> String {
    format!("/api/v1/tenants/{tenant_id}/incidents/{incident_id}")
}

/// The factors of a device's or identity's risk.
#[must_use]
pub fn factors(
    tenant_id: TenantId,
    findings: &[FindingInput<'_>],
    criticality: Criticality,
    privileged_roles: &[String],
    entity_link: &str,
) -> Vec<RiskFactor> {
    let mut factors = Vec::new();
    let mut contained = std::collections::BTreeSet::new();
    for finding in findings {
        match finding.incident_status {
            IncidentStatus::Resolved => continue,
            IncidentStatus::Contained => {
                contained.insert(finding.incident_id);
                continue;
            }
            IncidentStatus::New | IncidentStatus::Investigating => {}
        }
        let (name, contribution) = match finding.source {
            FindingSource::Detection if finding.rule == IMPOSSIBLE_TRAVEL => {
                ("anomalous-sign-in".to_owned(), 25)
            }
            // The title says which part of the identity's baseline the sign-in broke.
            FindingSource::Detection if finding.rule == UNUSUAL_SIGN_IN => (
                "unusual-sign-in".to_owned(),
                alert_points(finding.severity_id),
            ),
            FindingSource::Detection => (
                format!("detection:{}", finding.rule),
                alert_points(finding.severity_id),
            ),
            FindingSource::VendorAlert => {
                ("active-alert".to_owned(), alert_points(finding.severity_id))
            }
        };
        if contribution > 0 {
            factors.push(RiskFactor {
                name,
                contribution,
                detail: finding.title.to_owned(),
                evidence: Some(incident_link(tenant_id, finding.incident_id)),
            });
        }
    }
    // A contained threat still matters a little until the incident is resolved.
    for incident_id in contained {
        factors.push(RiskFactor {
            name: "contained-threat".to_owned(),
            contribution: 5,
            detail: "An incident about it is contained but not yet resolved".to_owned(),
            evidence: Some(incident_link(tenant_id, incident_id)),
        });
    }
    if !privileged_roles.is_empty() {
        factors.push(RiskFactor {
            name: "privileged-identity".to_owned(),
            contribution: 20,
            detail: format!("Holds {}", privileged_roles.join(", ")),
            evidence: Some(entity_link.to_owned()),
        });
    }
    let criticality_points = match criticality {
        Criticality::Low | Criticality::Medium => 0,
        Criticality::High => 10,
        Criticality::Critical => 20,
    };
    if criticality_points > 0 {
        factors.push(RiskFactor {
            name: "asset-criticality".to_owned(),
            contribution: criticality_points,
            detail: format!(
                "The business depends on it ({})",
                serde_json::to_value(criticality)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ),
            evidence: Some(entity_link.to_owned()),
        });
    }
    factors
}

#[cfg(test)]
mod tests {
    use steward_domain::risk::RiskScore;

    use super::*;

    fn finding(
        status: IncidentStatus,
        source: FindingSource,
        rule: &str,
        severity: u8,
    ) -> FindingInput<'_> {
        FindingInput {
            source,
            rule,
            title: "t",
            severity_id: severity,
            incident_id: uuid::Uuid::nil(),
            incident_status: status,
        }
    }

    #[test]
    fn open_alerts_privilege_and_criticality_add_up() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let findings = [
            finding(
                IncidentStatus::New,
                FindingSource::VendorAlert,
                "vendor-alert:x",
                4,
            ),
            finding(
                IncidentStatus::New,
                FindingSource::Detection,
                IMPOSSIBLE_TRAVEL,
                3,
            ),
            finding(
                IncidentStatus::Investigating,
                FindingSource::Detection,
                "sigma:ca2092a1",
                3,
            ),
        ];
        let roles = vec!["Global Administrator".to_owned()];
        let factors = factors(tenant, &findings, Criticality::High, &roles, "/x");
        let names: Vec<_> = factors.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "active-alert",
                "anomalous-sign-in",
                "detection:sigma:ca2092a1",
                "privileged-identity",
                "asset-criticality"
            ]
        );
        let points: Vec<u8> = factors.iter().map(|f| f.contribution).collect();
        assert_eq!(points, [35, 25, 20, 20, 10]);
        assert_eq!(RiskScore::total(&factors), 100, "a score is at most 100");
    }

    #[test]
    fn containment_and_resolution_lower_the_score() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let open = [finding(
            IncidentStatus::New,
            FindingSource::VendorAlert,
            "a",
            5,
        )];
        let contained = [finding(
            IncidentStatus::Contained,
            FindingSource::VendorAlert,
            "a",
            5,
        )];
        let resolved = [finding(
            IncidentStatus::Resolved,
            FindingSource::VendorAlert,
            "a",
            5,
        )];
        let score = |f: &[FindingInput<'_>]| {
            RiskScore::total(&factors(tenant, f, Criticality::Medium, &[], "/x"))
        };
        assert_eq!(score(&open), 45);
        assert_eq!(score(&contained), 5);
        assert_eq!(score(&resolved), 0);
    }

    #[test]
    fn the_score_is_capped_at_100() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let many: Vec<_> = (0..5)
            .map(|_| finding(IncidentStatus::New, FindingSource::VendorAlert, "a", 5))
            .collect();
        let factors = factors(tenant, &many, Criticality::Critical, &[], "/x");
        assert_eq!(RiskScore::total(&factors), 100);
    }
}
