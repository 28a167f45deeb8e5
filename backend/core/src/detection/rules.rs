//! The detection rules: pure functions over OCSF events, each tested on its own.

use chrono::{DateTime, Utc};
use serde_json::json;
use steward_domain::{incidents::FindingSource, inventory::StoredEvent, observations::OcsfClass};

use super::Detected;

/// The fastest a person can plausibly travel between two sign-ins, in km/h (a long-haul flight
/// is about 900).
pub const IMPOSSIBLE_TRAVEL_KMH: f64 = 1000.0;

/// Below this distance a jump in geolocation is more likely IP-geolocation noise than travel.
pub const IMPOSSIBLE_TRAVEL_MIN_KM: f64 = 500.0;

/// How far apart two sign-ins may be and still be compared.
pub const IMPOSSIBLE_TRAVEL_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// The rule name of Steward's impossible-travel detection.
pub const IMPOSSIBLE_TRAVEL: &str = "impossible-travel";

/// The rule of a finding that an integration went silent.
pub const SOURCE_SILENT: &str = "source-silent";

/// An integration that has not reported successfully for longer than `cadence`: a blind spot
/// opening, since nothing it would see reaches Steward. One finding per silence (keyed by its
/// last success), so a long outage is one incident.
#[must_use]
pub fn source_silent(
    integration: &steward_domain::integrations::Integration,
    now: DateTime<Utc>,
    cadence: chrono::Duration,
) -> Option<Detected> {
    let since = integration
        .last_success_at
        .unwrap_or(integration.created_at);
    let silent = now - since;
    if silent <= cadence {
        return None;
    }
    let hours = silent.num_hours();
    let length = if hours >= 48 {
        format!("{} days", silent.num_days())
    } else {
        format!("{} hours", hours.max(1))
    };
    Some(Detected {
        source: FindingSource::Detection,
        rule: SOURCE_SILENT.to_owned(),
        dedup_key: format!("{SOURCE_SILENT}:{}:{}", integration.id, since.timestamp()),
        title: format!(
            "{} ({}) has not reported for {length}",
            integration.name,
            integration.vendor.display_name()
        ),
        severity_id: 3,
        time: now,
        events: Vec::new(),
        details: json!({
            "integration_id": integration.id,
            "vendor": integration.vendor,
            "silent_since": since,
            "expected_every_minutes": cadence.num_minutes(),
            "last_error": integration.last_error,
        }),
    })
}

/// A vendor's alert (an OCSF Detection Finding) that is not closed.
#[must_use]
pub fn vendor_alert(event: &StoredEvent) -> Option<Detected> {
    if event.class != OcsfClass::DetectionFinding {
        return None;
    }
    let ocsf = &event.ocsf;
    // status_id 4 Resolved, 5 Archived: the vendor closed it.
    if matches!(ocsf["status_id"].as_u64(), Some(4 | 5)) {
        return None;
    }
    let product = ocsf["metadata"]["product"]["name"]
        .as_str()
        .unwrap_or("vendor");
    let title = ocsf["finding_info"]["title"]
        .as_str()
        .or_else(|| ocsf["message"].as_str())
        .unwrap_or("Vendor alert")
        .to_owned();
    let mut details = json!({"product": product, "vendor_id": event.external_id});
    if let Some(types) = ocsf["finding_info"]["types"].as_array() {
        details["categories"] = json!(types);
    }
    if let Some(malware) = ocsf["malware"].as_array() {
        details["malware"] = json!(
            malware
                .iter()
                .filter_map(|m| m["name"].as_str())
                .collect::<Vec<_>>()
        );
    }
    if let Some(attacks) = ocsf["finding_info"]["attacks"].as_array() {
        details["mitre_techniques"] = json!(
            attacks
                .iter()
                .filter_map(|a| a["technique"]["uid"].as_str())
                .collect::<Vec<_>>()
        );
    }
    Some(Detected {
        source: FindingSource::VendorAlert,
        rule: format!("vendor-alert:{product}"),
        dedup_key: format!("alert:{}:{}", event.integration_id, event.external_id),
        title,
        severity_id: event.severity_id,
        time: event.time,
        events: vec![event.id],
        details,
    })
}

/// A successful sign-in with a known place, ready to compare.
#[derive(Debug, Clone, Copy, PartialEq)]
struct SignInPoint<'e> {
    event: &'e StoredEvent,
    user: &'e str,
    lat: f64,
    long: f64,
}

fn sign_in_point(event: &StoredEvent) -> Option<SignInPoint<'_>> {
    if event.class != OcsfClass::Authentication || event.ocsf["status_id"].as_u64() != Some(1) {
        return None;
    }
    let location = &event.ocsf["src_endpoint"]["location"];
    Some(SignInPoint {
        event,
        user: event.ocsf["user"]["uid"].as_str()?,
        lat: location["lat"].as_f64()?,
        long: location["long"].as_f64()?,
    })
}

/// Great-circle distance in km (haversine, mean Earth radius).
#[must_use]
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlong = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlong / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

/// Pairs of successful sign-ins by the same user, at least one of them in `new`, whose
/// distance over time implies more than [`IMPOSSIBLE_TRAVEL_KMH`].
///
/// `history` holds the user's other recent sign-ins (it may include the new ones too).
#[must_use]
pub fn impossible_travel(new: &[StoredEvent], history: &[StoredEvent]) -> Vec<Detected> {
    let new_points: Vec<_> = new.iter().filter_map(sign_in_point).collect();
    let mut all: Vec<_> = history
        .iter()
        .chain(new.iter())
        .filter_map(sign_in_point)
        .collect();
    all.sort_by_key(|p| (p.event.time, p.event.id));
    all.dedup_by_key(|p| p.event.id);
    let mut found = Vec::new();
    for later in &new_points {
        // The latest earlier sign-in of the same user within the window is the one to
        // compare with: the question is how they got from there to here.
        let earlier = all.iter().rfind(|p| {
            p.user == later.user
                && p.event.id != later.event.id
                && p.event.time <= later.event.time
                && later.event.time - p.event.time <= IMPOSSIBLE_TRAVEL_WINDOW
        });
        if let Some(earlier) = earlier
            && let Some(detected) = compare(earlier, later)
        {
            found.push(detected);
        }
        // A new sign-in may also be the earlier half of a pair with a later stored one.
        if let Some(next) = all.iter().find(|p| {
            p.user == later.user
                && p.event.id != later.event.id
                && p.event.time > later.event.time
                && p.event.time - later.event.time <= IMPOSSIBLE_TRAVEL_WINDOW
        }) && let Some(detected) = compare(later, next)
        {
            found.push(detected);
        }
    }
    found.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
    found.dedup_by(|a, b| a.dedup_key == b.dedup_key);
    found
}

fn compare(earlier: &SignInPoint<'_>, later: &SignInPoint<'_>) -> Option<Detected> {
    let km = distance_km((earlier.lat, earlier.long), (later.lat, later.long));
    if km < IMPOSSIBLE_TRAVEL_MIN_KM {
        return None;
    }
    let seconds = (later.event.time - earlier.event.time).num_seconds().max(1);
    #[expect(
        clippy::cast_precision_loss,
        reason = "seconds within a day are exact in f64"
    )]
    let kmh = km / (seconds as f64 / 3600.0);
    if kmh <= IMPOSSIBLE_TRAVEL_KMH {
        return None;
    }
    let place = |p: &SignInPoint<'_>| {
        let location = &p.event.ocsf["src_endpoint"]["location"];
        match (location["city"].as_str(), location["country"].as_str()) {
            (Some(city), Some(country)) => format!("{city}, {country}"),
            (Some(city), None) => city.to_owned(),
            _ => format!("{:.2}, {:.2}", p.lat, p.long),
        }
    };
    let user_name = later.event.ocsf["user"]["name"]
        .as_str()
        .unwrap_or(later.user);
    let minutes = seconds / 60;
    Some(Detected {
        source: FindingSource::Detection,
        rule: IMPOSSIBLE_TRAVEL.to_owned(),
        dedup_key: format!(
            "{IMPOSSIBLE_TRAVEL}:{}:{}",
            earlier.event.id, later.event.id
        ),
        title: format!(
            "Impossible travel: {user_name} signed in from {} and {minutes} minutes later from {}",
            place(earlier),
            place(later)
        ),
        severity_id: 3,
        time: later.event.time,
        events: vec![earlier.event.id, later.event.id],
        details: json!({
            "from": place(earlier),
            "to": place(later),
            "distance_km": km.round(),
            "minutes": minutes,
            "speed_kmh": kmh.round(),
            "threshold_kmh": IMPOSSIBLE_TRAVEL_KMH,
        }),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use steward_domain::IntegrationId;

    use super::*;

    fn sign_in(minute: i64, user: &str, lat: f64, long: f64, success: bool) -> StoredEvent {
        let time = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
            + chrono::Duration::minutes(minute);
        StoredEvent {
            id: uuid::Uuid::from_u128(
                u128::try_from(minute).unwrap() << 64
                    | u128::from(user.len() as u64) << 32
                    | u128::from(success),
            ),
            tenant_id: uuid::Uuid::nil().into(),
            integration_id: IntegrationId::from_uuid(uuid::Uuid::nil()),
            external_id: format!("s{minute}"),
            class: OcsfClass::Authentication,
            time,
            severity_id: 1,
            entities: vec![],
            ocsf: json!({
                "status_id": if success { 1 } else { 2 },
                "user": {"uid": user, "name": format!("{user}@example.com")},
                "src_endpoint": {"location": {"lat": lat, "long": long, "city": "X", "country": "GB"}},
            }),
            received_at: time,
        }
    }

    const LONDON: (f64, f64) = (51.5072, -0.1276);
    const LAGOS: (f64, f64) = (6.5244, 3.3792);
    const READING: (f64, f64) = (51.4543, -0.9781);

    #[test]
    fn distance_matches_a_known_route() {
        // London–Lagos is about 5,000 km.
        let km = distance_km(LONDON, LAGOS);
        assert!((4950.0..5050.0).contains(&km), "{km}");
        assert!(distance_km(LONDON, LONDON) < 1e-6);
    }

    #[test]
    fn two_continents_in_half_an_hour_is_impossible() {
        let home = sign_in(0, "u1", LONDON.0, LONDON.1, true);
        let away = sign_in(32, "u1", LAGOS.0, LAGOS.1, true);
        let found = impossible_travel(std::slice::from_ref(&away), std::slice::from_ref(&home));
        assert_eq!(found.len(), 1);
        let finding = &found[0];
        assert_eq!(finding.rule, IMPOSSIBLE_TRAVEL);
        assert_eq!(finding.events, vec![home.id, away.id]);
        assert!(finding.details["speed_kmh"].as_f64().unwrap() > 9000.0);
        // The same pair seen from the other side is the same finding.
        let again = impossible_travel(std::slice::from_ref(&home), std::slice::from_ref(&away));
        assert_eq!(again[0].dedup_key, finding.dedup_key);
    }

    #[test]
    fn plausible_journeys_and_failures_are_not_findings() {
        let home = sign_in(0, "u1", LONDON.0, LONDON.1, true);
        // Close by: under the noise floor.
        let near = sign_in(5, "u1", READING.0, READING.1, true);
        assert!(impossible_travel(&[near], std::slice::from_ref(&home)).is_empty());
        // Far, but a flight's worth of time later (5,000 km in 7 hours ≈ 715 km/h).
        let flown = sign_in(7 * 60, "u1", LAGOS.0, LAGOS.1, true);
        assert!(impossible_travel(&[flown], std::slice::from_ref(&home)).is_empty());
        // A failed attempt from far away is not a sign-in.
        let failed = sign_in(10, "u1", LAGOS.0, LAGOS.1, false);
        assert!(impossible_travel(&[failed], std::slice::from_ref(&home)).is_empty());
        // Another user.
        let other = sign_in(10, "u2", LAGOS.0, LAGOS.1, true);
        assert!(impossible_travel(&[other], std::slice::from_ref(&home)).is_empty());
    }
}
