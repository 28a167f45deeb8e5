//! The detection stage: what in newly stored events becomes a finding, and which inventory
//! entities each finding is about.
//!
//! Steward's own rules ([`rules`]) are pure functions over OCSF events, each tested on its own;
//! Sigma rules ([`sigma`]) are evaluated over each event as it arrives; sign-ins are compared
//! with what each identity's history taught ([`baseline`]); [`detect`] reads what they need
//! from the tenant's events (the batch, and the sign-ins around it for impossible travel),
//! keeps the baselines learned, and resolves the entities the findings' events name.

pub mod baseline;
pub mod content;
pub mod retro_hunt;
mod rules;
pub mod sigma;
pub mod tuning;

use std::collections::{HashMap, HashSet};

use steward_domain::{
    IntegrationId,
    incidents::EntityKey,
    inventory::StoredEvent,
    observations::{EntityRef, OcsfClass},
};

pub use self::rules::{
    IMPOSSIBLE_TRAVEL, IMPOSSIBLE_TRAVEL_KMH, IMPOSSIBLE_TRAVEL_MIN_KM, IMPOSSIBLE_TRAVEL_WINDOW,
    SOURCE_SILENT, distance_km, impossible_travel, source_silent, vendor_alert,
};
pub use crate::storage::Detected;
use crate::storage::{StorageError, TenantWork, WorkError};

/// What the rules found in a batch of stored events, each with the entities it is about; the
/// batch's sign-ins are learned into their identities' baselines.
///
/// # Errors
/// When the database cannot be read or written.
pub async fn detect(
    work: &TenantWork<'_>,
    event_ids: &[uuid::Uuid],
) -> Result<Vec<(Detected, Vec<EntityKey>)>, WorkError> {
    let inventory = work.inventory();
    let events = inventory.events_by_id(event_ids).await?;
    let mut detections: Vec<Detected> = events.iter().filter_map(vendor_alert).collect();
    let rules = content::in_force(work).await?;
    let mut correlator = rules.correlator();
    if let Some(correlator) = correlator.as_mut()
        && let Some(kept) = work.correlation_windows().await?
        && !correlator.restore(kept)
    {
        tracing::warn!("the correlation windows kept are unreadable; they start afresh");
    }
    // In time order, as correlations count matches within their timespan; a date after
    // Steward received the event (a clock ahead) counts as received.
    let counted_at = |e: &StoredEvent| e.time.min(e.received_at);
    let mut ordered: Vec<&StoredEvent> = events.iter().collect();
    ordered.sort_by_key(|e| (counted_at(e), e.id));
    for event in ordered {
        let found = rules.evaluate(event.class, &event.ocsf);
        if let Some(correlator) = correlator.as_mut() {
            let at = counted_at(event);
            for fired in correlator.observe(&event.id.to_string(), at, &event.ocsf, &found) {
                if rules.enabled(&fired.rule_id) {
                    detections.push(sigma::correlation_finding(event, &fired));
                }
            }
        }
        detections.extend(
            found
                .iter()
                .filter(|m| !rules.correlation_only(&m.rule_id))
                .map(|m| sigma::finding(event, m)),
        );
    }
    if let Some(correlator) = correlator.as_mut()
        && let Some(kept) = correlator.snapshot_if_changed()
    {
        work.record_correlation_windows(kept).await?;
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
    // Last: a sign-in behind any finding is not learned into its identity's baseline.
    let suspect: HashSet<uuid::Uuid> = detections
        .iter()
        .flat_map(|d| d.events.iter().copied())
        .collect();
    detections.extend(unusual_sign_ins(work, &events, &suspect).await?);
    // A correlation's findings name events of earlier batches too.
    let earlier: Vec<uuid::Uuid> = detections
        .iter()
        .flat_map(|d| d.events.iter())
        .filter(|id| !known.contains_key(*id))
        .copied()
        .collect();
    if !earlier.is_empty() {
        known.extend(
            inventory
                .events_by_id(&earlier)
                .await?
                .into_iter()
                .map(|e| (e.id, e)),
        );
    }
    let mut found = Vec::with_capacity(detections.len());
    for detected in detections {
        let entities = entities_of(work, &detected, &known).await?;
        found.push((detected, entities));
    }
    Ok(found)
}

/// Compares the batch's successful sign-ins, oldest first, with their identities' baselines,
/// and learns each that made no finding, here or among `suspect` (the events of the batch's
/// other findings).
async fn unusual_sign_ins(
    work: &TenantWork<'_>,
    events: &[StoredEvent],
    suspect: &HashSet<uuid::Uuid>,
) -> Result<Vec<Detected>, WorkError> {
    let mut sign_ins = Vec::new();
    // A first sync brings weeks of sign-ins by the same people: each resolved once.
    let mut resolved = HashMap::new();
    for event in events {
        let Some(traits) = baseline::SignInTraits::of(event) else {
            continue;
        };
        if let Some(identity) = identity_of(&work.inventory(), event, &mut resolved).await? {
            sign_ins.push((event, identity, traits));
        }
    }
    if sign_ins.is_empty() {
        return Ok(Vec::new());
    }
    sign_ins.sort_by_key(|(event, _, traits)| (traits.time, event.id));
    let mut identities: Vec<uuid::Uuid> = sign_ins.iter().map(|(_, id, _)| *id).collect();
    identities.sort_unstable();
    identities.dedup();
    let mut baselines = work.baselines().of_identities(&identities).await?;
    let mut changed = std::collections::BTreeSet::new();
    let mut found = Vec::new();
    for (event, identity, traits) in sign_ins {
        let learned = baselines.entry(identity).or_default();
        if let Some(deviation) = baseline::compare(learned, &traits)
            && deviation.is_finding()
        {
            let days = baseline::days_learned(learned, traits.time);
            found.push(baseline::finding(
                event, identity, &traits, &deviation, days,
            ));
            continue;
        }
        if suspect.contains(&event.id) {
            continue;
        }
        let before = learned.clone();
        baseline::learn(learned, &traits);
        if *learned != before {
            changed.insert(identity);
        }
    }
    for identity in changed {
        work.record_baseline(identity, &baselines[&identity])
            .await?;
    }
    Ok(found)
}

/// References already resolved to inventory entities, per integration.
pub(crate) type Resolved = HashMap<(IntegrationId, EntityRef), Option<EntityKey>>;

/// The inventory identity an event is about, if it names one Steward knows; `resolved` keeps
/// what was looked up, as a batch names the same people many times.
pub(crate) async fn identity_of<C: sea_orm::ConnectionTrait>(
    inventory: &crate::storage::InventoryReader<'_, C>,
    event: &StoredEvent,
    resolved: &mut Resolved,
) -> Result<Option<uuid::Uuid>, StorageError> {
    for reference in &event.entities {
        let cache_key = (event.integration_id, reference.clone());
        let key = match resolved.get(&cache_key) {
            Some(key) => *key,
            None => {
                let key = inventory.resolve(event.integration_id, reference).await?;
                resolved.insert(cache_key, key);
                key
            }
        };
        if let Some(key) = key
            && key.kind == steward_domain::actions::TargetKind::Identity
        {
            return Ok(Some(key.id));
        }
    }
    Ok(None)
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
