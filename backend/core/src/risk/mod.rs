//! The risk stage: each entity's score, made of named factors with their evidence
//! ([`factors`]), recomputed when its findings, its incidents or its primary user's risk change,
//! and stored whenever it changes.

mod factors;

use steward_domain::{
    actions::TargetKind,
    graph,
    incidents::EntityKey,
    risk::{RiskFactor, RiskScore},
};

pub use self::factors::{FindingInput, device_criticality, factors, identity_criticality};
use crate::{
    inventory::profile::profile,
    storage::{StorageError, TenantWork, WorkError},
};

/// A user's risk at or above this carries over to the devices they are the primary user of.
pub const PRIMARY_USER_RISK: u8 = 40;
/// What a risky primary user adds to a device's risk.
const PRIMARY_USER_POINTS: u8 = 20;

/// Recomputes an entity's risk and stores it if it changed; returns the new score then. A
/// changed identity's devices (those it is the primary user of) are recomputed too, since
/// their risk follows it.
///
/// # Errors
/// When the database cannot be read or written.
pub async fn refresh_risk(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<RiskScore>, WorkError> {
    let refreshed = refresh_one(work, entity).await?;
    if refreshed.is_some() && entity.kind == TargetKind::Identity {
        for device in devices_of_primary_user(work, entity.id).await? {
            refresh_one(
                work,
                EntityKey {
                    kind: TargetKind::Device,
                    id: device,
                },
            )
            .await?;
        }
    }
    Ok(refreshed)
}

/// The devices `identity` is the primary user of (who signs in from them most).
async fn devices_of_primary_user(
    work: &TenantWork<'_>,
    identity: uuid::Uuid,
) -> Result<Vec<uuid::Uuid>, StorageError> {
    let sightings = work
        .inventory()
        .sign_in_sightings(work.context().now() - graph::SIGHTING_WINDOW)
        .await?;
    if sightings.is_empty() {
        return Ok(Vec::new());
    }
    let devices = work.inventory().devices().await?;
    let identities = work.inventory().identities().await?;
    Ok(graph::primary_users(&devices, &identities, &sightings)
        .into_iter()
        .filter(|(_, (user, _))| *user == identity)
        .map(|(device, _)| device)
        .collect())
}

/// The factor a device's risky primary user adds to it, if its primary user is at risk.
async fn primary_user_factor(
    work: &TenantWork<'_>,
    device: uuid::Uuid,
) -> Result<Option<RiskFactor>, StorageError> {
    // Usually nobody is at risk: then the sign-ins are not read at all.
    let risky: Vec<RiskScore> = work
        .risk()
        .current()
        .await?
        .into_iter()
        .filter(|r| r.entity.kind == TargetKind::Identity && r.score >= PRIMARY_USER_RISK)
        .collect();
    if risky.is_empty() {
        return Ok(None);
    }
    let Some(found) = work.inventory().device(device).await? else {
        return Ok(None);
    };
    let sightings = work
        .inventory()
        .sign_in_sightings(work.context().now() - graph::SIGHTING_WINDOW)
        .await?;
    if sightings.is_empty() {
        return Ok(None);
    }
    let identities = work.inventory().identities().await?;
    let Some((user, count)) =
        graph::primary_users(std::slice::from_ref(&found), &identities, &sightings).remove(&device)
    else {
        return Ok(None);
    };
    let Some(risk) = risky.into_iter().find(|r| r.entity.id == user) else {
        return Ok(None);
    };
    Ok(Some(RiskFactor {
        name: "primary-user-at-risk".to_owned(),
        contribution: PRIMARY_USER_POINTS,
        detail: format!(
            "Its primary user {} ({count} sign-in(s) from it) is at risk ({}/100)",
            risk.entity_name, risk.score
        ),
        evidence: Some(graph_link(
            work.tenant().id,
            EntityKey {
                kind: TargetKind::Identity,
                id: user,
            },
        )),
    }))
}

/// The entity with its neighbourhood in the tenant's context graph: what it is, what it holds,
/// what it connects to.
fn graph_link(tenant_id: steward_domain::TenantId, entity: EntityKey) -> String {
    let node = match entity.kind {
        TargetKind::Device => graph::device_node(entity.id),
        TargetKind::Identity => graph::identity_node(entity.id),
    };
    format!("/api/v1/tenants/{tenant_id}/graph?center={node}")
}

async fn refresh_one(
    work: &TenantWork<'_>,
    entity: EntityKey,
) -> Result<Option<RiskScore>, WorkError> {
    let tenant = work.tenant();
    let findings = work.incidents().findings_about(entity).await?;
    let inputs: Vec<FindingInput<'_>> = findings
        .iter()
        .map(|(finding, status)| FindingInput {
            source: finding.source,
            rule: &finding.rule,
            title: &finding.title,
            severity_id: finding.severity_id,
            incident_id: finding.incident_id.as_uuid(),
            incident_status: *status,
        })
        .collect();
    let Some(profile) = profile(work, entity).await? else {
        return Ok(None);
    };
    let link = graph_link(tenant.id, entity);
    let mut factors = factors(
        tenant.id,
        &inputs,
        profile.criticality,
        &profile.admin_roles,
        &link,
    );
    if entity.kind == TargetKind::Device
        && let Some(factor) = primary_user_factor(work, entity.id).await?
    {
        factors.push(factor);
    }
    let score = RiskScore {
        tenant_id: tenant.id,
        entity,
        entity_name: profile.name,
        score: RiskScore::total(&factors),
        factors,
        computed_at: work.context().now(),
    };
    Ok(work.record_risk(&score).await?.then_some(score))
}
