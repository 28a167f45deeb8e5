//! The detection stage: what in newly stored events becomes a finding, and which inventory
//! entities each finding is about.
//!
//! Steward's own rules ([`rules`]) are pure functions over OCSF events, each tested on its own;
//! Sigma rules ([`sigma`]) are evaluated over each event as it arrives; [`detect`] reads what
//! they need from the tenant's events (the batch, and the sign-ins around it for impossible
//! travel) and resolves the entities the findings' events name.

pub mod content;
pub mod retro_hunt;
mod rules;
pub mod sigma;
pub mod tuning;

use std::collections::HashMap;

use steward_domain::{incidents::EntityKey, inventory::StoredEvent, observations::OcsfClass};

pub use self::rules::{
    IMPOSSIBLE_TRAVEL, IMPOSSIBLE_TRAVEL_KMH, IMPOSSIBLE_TRAVEL_MIN_KM, IMPOSSIBLE_TRAVEL_WINDOW,
    SOURCE_SILENT, distance_km, impossible_travel, source_silent, vendor_alert,
};
pub use crate::storage::Detected;
use crate::storage::{StorageError, TenantWork};

/// What the rules found in a batch of stored events, each with the entities it is about.
///
/// # Errors
/// When the database cannot be read.
pub async fn detect(
    work: &TenantWork<'_>,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<(Detected, Vec<EntityKey>)>, StorageError> {
    let inventory = work.inventory();
    let events = inventory.events_by_id(event_ids).await?;
    let mut detections: Vec<Detected> = events.iter().filter_map(vendor_alert).collect();
    let rules = content::in_force(work).await?;
    for event in &events {
        detections.extend(
            rules
                .evaluate(event.class, &event.ocsf)
                .iter()
                .map(|found| sigma::finding(event, found)),
        );
    }
    let mut known: HashMap<uuid::Uuid, StoredEvent> =
        events.iter().map(|e| (e.id, e.clone())).collect();
    let sign_ins: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.class == OcsfClass::Authentication)
        .cloned()
        .collect();
    if let (Some(first), Some(last)) = (
        sign_ins.iter().map(|e| e.time).min(),
        sign_ins.iter().map(|e| e.time).max(),
    ) {
        let history = inventory
            .events_between(
                OcsfClass::Authentication,
                first - IMPOSSIBLE_TRAVEL_WINDOW,
                last + IMPOSSIBLE_TRAVEL_WINDOW,
            )
            .await?;
        detections.extend(impossible_travel(&sign_ins, &history));
        known.extend(history.into_iter().map(|e| (e.id, e)));
    }
    let mut found = Vec::with_capacity(detections.len());
    for detected in detections {
        let entities = entities_of(work, &detected, &known).await?;
        found.push((detected, entities));
    }
    Ok(found)
}

/// The inventory entities the detection's events name.
async fn entities_of(
    work: &TenantWork<'_>,
    detected: &Detected,
    known: &HashMap<uuid::Uuid, StoredEvent>,
) -> Result<Vec<EntityKey>, StorageError> {
    let mut entities = Vec::new();
    for event in detected.events.iter().filter_map(|id| known.get(id)) {
        for reference in &event.entities {
            if let Some(key) = work
                .inventory()
                .resolve(event.integration_id, reference)
                .await?
                && !entities.contains(&key)
            {
                entities.push(key);
            }
        }
    }
    Ok(entities)
}
