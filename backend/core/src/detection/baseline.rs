//! Adaptive sign-in baselines: each identity's usual countries, networks, devices and hours,
//! learned from its own successful sign-ins, and the comparison of a new sign-in with them.
//!
//! Pure: [`super::detect`] loads and stores the baselines. A sign-in is compared before it is
//! learned, and one that broke an established baseline is not learned at all: an attacker's
//! sign-ins must not teach Steward that their country is usual. It is learned when a person
//! settles its incident as benign or a false positive.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde_json::json;
use steward_domain::{
    baselines::{Seen, SignInBaseline},
    incidents::FindingSource,
    inventory::StoredEvent,
    observations::OcsfClass,
};

use super::Detected;

/// The rule of a finding that a sign-in broke its identity's baseline.
pub const UNUSUAL_SIGN_IN: &str = "unusual-sign-in";

/// A value not seen again for this long is forgotten, and days older than this do not count
/// towards learning.
pub const BASELINE_MEMORY: chrono::Duration = chrono::Duration::days(90);

/// Sign-ins on this many different days before the sign-in's own are needed before a baseline
/// is trusted to tell the unusual apart.
pub const BASELINE_MIN_DAYS: usize = 5;

/// What each broken part adds to a sign-in's unusualness, and the sum at which it becomes a
/// finding: a new country alone is enough; a new network, device or hour alone is everyday
/// life (a hotel, a new phone, a late evening), two of them together are not.
const COUNTRY_POINTS: u8 = 40;
const NETWORK_POINTS: u8 = 20;
const DEVICE_POINTS: u8 = 20;
const HOUR_POINTS: u8 = 15;
const FINDING_POINTS: u8 = 40;
/// From here the finding is of high severity rather than medium.
const HIGH_POINTS: u8 = 75;

/// What a successful sign-in says about its circumstances.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInTraits {
    pub time: DateTime<Utc>,
    /// Who signed in, as the identity provider names them.
    pub user: String,
    pub country: Option<String>,
    pub network: Option<String>,
    /// The device's id and name, when the identity provider knows the device.
    pub device: Option<(String, Option<String>)>,
}

impl SignInTraits {
    /// The traits of a successful sign-in; `None` for any other event.
    #[must_use]
    pub fn of(event: &StoredEvent) -> Option<Self> {
        let ocsf = &event.ocsf;
        if event.class != OcsfClass::Authentication || ocsf["status_id"].as_u64() != Some(1) {
            return None;
        }
        let user = ocsf["user"]["name"]
            .as_str()
            .or_else(|| ocsf["user"]["uid"].as_str())?
            .to_owned();
        let text = |value: &serde_json::Value| {
            value
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let device =
            text(&ocsf["device"]["uid"]).map(|uid| (uid, text(&ocsf["device"]["hostname"])));
        Some(Self {
            // A sign-in dated after Steward received it (a vendor's clock ahead) counts as
            // received: a future date would make everything before it look forgotten.
            time: event.time.min(event.received_at),
            user,
            country: text(&ocsf["src_endpoint"]["location"]["country"]).map(|c| c.to_uppercase()),
            network: ocsf["src_endpoint"]["ip"]
                .as_str()
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .map(network_of),
            device,
        })
    }

    fn hour(&self) -> u8 {
        u8::try_from(self.time.hour()).unwrap_or(0)
    }

    fn day(&self) -> NaiveDate {
        self.time.date_naive()
    }
}

/// The network an address is in: its /24 (IPv4) or /48 (IPv6), where one office, one home or
/// one mobile carrier's pool usually stays.
#[must_use]
pub fn network_of(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// One part of a baseline a sign-in broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// A country never seen, with the usual ones.
    Country {
        value: String,
        usual: Vec<String>,
    },
    Network {
        value: String,
    },
    /// A device never seen, by its name or id.
    Device {
        value: String,
    },
    /// An hour (UTC) with no usual sign-in within an hour of it.
    Hour {
        value: u8,
    },
}

impl Broken {
    const fn points(&self) -> u8 {
        match self {
            Self::Country { .. } => COUNTRY_POINTS,
            Self::Network { .. } => NETWORK_POINTS,
            Self::Device { .. } => DEVICE_POINTS,
            Self::Hour { .. } => HOUR_POINTS,
        }
    }

    /// The part's name in findings and the API.
    #[must_use]
    pub const fn part(&self) -> &'static str {
        match self {
            Self::Country { .. } => "country",
            Self::Network { .. } => "network",
            Self::Device { .. } => "device",
            Self::Hour { .. } => "hour",
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Country { value, usual } => {
                format!("first sign-in from {value} (usually {})", usual.join(", "))
            }
            Self::Network { value } => format!("a network never used before ({value})"),
            Self::Device { value } => format!("a device never used before ({value})"),
            Self::Hour { value } => format!("at {value:02}:00 UTC, outside their usual hours"),
        }
    }
}

/// How a sign-in departed from its identity's established baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deviation {
    pub broken: Vec<Broken>,
    /// The sum of the broken parts' points.
    pub score: u8,
}

impl Deviation {
    /// Whether it is unusual enough to be a finding.
    #[must_use]
    pub const fn is_finding(&self) -> bool {
        self.score >= FINDING_POINTS
    }
}

/// The days with a learned sign-in before `at`'s day that are still remembered at `at`.
#[must_use]
pub fn days_learned(baseline: &SignInBaseline, at: DateTime<Utc>) -> usize {
    let oldest = (at - BASELINE_MEMORY).date_naive();
    baseline.days.range(oldest..at.date_naive()).count()
}

/// Whether the baseline is trusted at `at`.
#[must_use]
pub fn is_established(baseline: &SignInBaseline, at: DateTime<Utc>) -> bool {
    days_learned(baseline, at) >= BASELINE_MIN_DAYS
}

/// The values of `seen` that were usual at `at`: seen before it, and not forgotten by then. A
/// value first seen later does not make an earlier sign-in usual (a batch triaged again, a
/// sign-in listed late).
fn usual<K: Clone>(seen: &std::collections::BTreeMap<K, Seen>, at: DateTime<Utc>) -> Vec<K> {
    seen.iter()
        .filter(|(_, s)| s.first <= at && s.last >= at - BASELINE_MEMORY)
        .map(|(k, _)| k.clone())
        .collect()
}

/// How the sign-in departs from the baseline; `None` while the baseline is still learning. A
/// part the sign-in does not tell (no address, no known device), or the baseline never held,
/// is not compared.
#[must_use]
pub fn compare(baseline: &SignInBaseline, sign_in: &SignInTraits) -> Option<Deviation> {
    let at = sign_in.time;
    if !is_established(baseline, at) {
        return None;
    }
    let mut broken = Vec::new();
    if let Some(country) = &sign_in.country {
        let usual = usual(&baseline.countries, at);
        if !usual.is_empty() && !usual.contains(country) {
            broken.push(Broken::Country {
                value: country.clone(),
                usual,
            });
        }
    }
    if let Some(network) = &sign_in.network {
        let usual = usual(&baseline.networks, at);
        if !usual.is_empty() && !usual.contains(network) {
            broken.push(Broken::Network {
                value: network.clone(),
            });
        }
    }
    if let Some((uid, name)) = &sign_in.device {
        let usual = usual(&baseline.devices, at);
        if !usual.is_empty() && !usual.contains(uid) {
            broken.push(Broken::Device {
                value: name.clone().unwrap_or_else(|| uid.clone()),
            });
        }
    }
    let hours = usual(&baseline.hours, at);
    let hour = sign_in.hour();
    let near = [(hour + 23) % 24, hour, (hour + 1) % 24];
    if !hours.is_empty() && !near.iter().any(|h| hours.contains(h)) {
        broken.push(Broken::Hour { value: hour });
    }
    let score = broken.iter().map(Broken::points).sum();
    Some(Deviation { broken, score })
}

/// Learns a sign-in into the baseline, then forgets what has not been seen within
/// [`BASELINE_MEMORY`] of the newest sign-in learned.
pub fn learn(baseline: &mut SignInBaseline, sign_in: &SignInTraits) {
    let at = sign_in.time;
    let include =
        |map: &mut std::collections::BTreeMap<String, Seen>, key: &str, label: Option<&str>| {
            map.entry(key.to_owned())
                .or_insert_with(|| Seen {
                    first: at,
                    last: at,
                    label: label.map(str::to_owned),
                })
                .include(at, label);
        };
    if let Some(country) = &sign_in.country {
        include(&mut baseline.countries, country, None);
    }
    if let Some(network) = &sign_in.network {
        include(&mut baseline.networks, network, None);
    }
    if let Some((uid, name)) = &sign_in.device {
        include(&mut baseline.devices, uid, name.as_deref());
    }
    baseline
        .hours
        .entry(sign_in.hour())
        .or_insert_with(|| Seen {
            first: at,
            last: at,
            label: None,
        })
        .include(at, None);
    baseline.days.insert(sign_in.day());
    forget(baseline);
}

/// The most networks, devices or countries a baseline keeps; beyond it the longest unseen go
/// first, so a roaming account's baseline stays small.
const MAX_VALUES: usize = 50;

fn forget(baseline: &mut SignInBaseline) {
    let Some(newest) = baseline.hours.values().map(|s| s.last).max() else {
        return;
    };
    let horizon = newest - BASELINE_MEMORY;
    for values in [
        &mut baseline.countries,
        &mut baseline.networks,
        &mut baseline.devices,
    ] {
        values.retain(|_, s| s.last >= horizon);
        while values.len() > MAX_VALUES {
            let Some(stalest) = values
                .iter()
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            values.remove(&stalest);
        }
    }
    baseline.hours.retain(|_, s| s.last >= horizon);
    let oldest_day = horizon.date_naive();
    baseline.days.retain(|d| *d >= oldest_day);
}

/// The finding of a sign-in that broke its identity's baseline. One finding per identity,
/// day and circumstances: the same unusual place and device through the day is one finding,
/// however many sign-ins (and identity providers reporting them) there are.
#[must_use]
pub fn finding(
    event: &StoredEvent,
    identity_id: uuid::Uuid,
    sign_in: &SignInTraits,
    deviation: &Deviation,
    days_learned: usize,
) -> Detected {
    let parts: Vec<String> = deviation.broken.iter().map(Broken::describe).collect();
    let broken: Vec<serde_json::Value> = deviation
        .broken
        .iter()
        .map(|b| match b {
            Broken::Country { value, usual } => {
                json!({"part": b.part(), "value": value, "usual": usual})
            }
            Broken::Network { value } | Broken::Device { value } => {
                json!({"part": b.part(), "value": value})
            }
            Broken::Hour { value } => json!({"part": b.part(), "value": value}),
        })
        .collect();
    let circumstances = [
        sign_in.country.as_deref().unwrap_or("-"),
        sign_in.network.as_deref().unwrap_or("-"),
        sign_in.device.as_ref().map_or("-", |(uid, _)| uid.as_str()),
    ]
    .join("|");
    Detected {
        source: FindingSource::Detection,
        rule: UNUSUAL_SIGN_IN.to_owned(),
        dedup_key: format!(
            "{UNUSUAL_SIGN_IN}:{identity_id}:{}:{circumstances}",
            sign_in.day()
        ),
        title: format!("Unusual sign-in for {}: {}", sign_in.user, parts.join("; ")),
        severity_id: if deviation.score >= HIGH_POINTS { 4 } else { 3 },
        time: event.time,
        events: vec![event.id],
        details: json!({
            "identity_id": identity_id,
            "user": sign_in.user,
            "broken": broken,
            "score": deviation.score,
            "days_learned": days_learned,
        }),
    }
}

/// Learns the successful sign-ins behind an incident's findings (an unusual sign-in, impossible
/// travel, a Sigma rule on sign-ins), held out of their baselines until now, when a person
/// settled the incident as benign or a false positive: the next sign-in like them is usual. Each
/// baseline taught is recorded in the tenant's audit chain with what it learned. The caller
/// holds the MSP's decisions lock, as triage does while it learns sign-ins.
pub(crate) async fn learn_settled(
    ctx: &crate::storage::WriteContext<'_>,
    tenant: (steward_domain::MspId, steward_domain::TenantId),
    incident: &steward_domain::incidents::Incident,
) -> Result<(), crate::storage::StorageError> {
    use crate::{
        audit::{self, ChainRef, Change},
        storage::{BaselineReader, InventoryReader, baselines},
    };
    let (msp_id, tenant_id) = tenant;
    let inventory = InventoryReader::new(ctx.txn, msp_id, tenant_id);
    let event_ids: Vec<uuid::Uuid> = incident
        .findings
        .iter()
        .flat_map(|f| f.event_ids.iter().copied())
        .collect();
    let mut taught: std::collections::BTreeMap<uuid::Uuid, Vec<SignInTraits>> =
        std::collections::BTreeMap::new();
    let mut resolved = super::Resolved::new();
    for event in inventory.events_by_id(&event_ids).await? {
        let Some(sign_in) = SignInTraits::of(&event) else {
            continue;
        };
        if let Some(identity) = super::identity_of(&inventory, &event, &mut resolved).await? {
            taught.entry(identity).or_default().push(sign_in);
        }
    }
    for (identity, sign_ins) in taught {
        let reader = BaselineReader::new(ctx.txn, msp_id, tenant_id);
        let mut learned = reader
            .of(identity)
            .await?
            .map(|(b, _)| b)
            .unwrap_or_default();
        let before = learned.clone();
        for sign_in in &sign_ins {
            learn(&mut learned, sign_in);
        }
        if learned == before {
            continue;
        }
        baselines::save(ctx, tenant, identity, &learned).await?;
        let what: Vec<serde_json::Value> = sign_ins
            .iter()
            .map(|s| {
                json!({
                    "time": s.time,
                    "country": s.country,
                    "network": s.network,
                    "device": s.device.as_ref().map(|(uid, name)| name.as_deref().unwrap_or(uid)),
                })
            })
            .collect();
        audit::append(
            ctx,
            ChainRef::Tenant { msp_id, tenant_id },
            Change::new("sign_in_baseline.learned", "identity", &identity)
                .after(&json!({"incident_id": incident.id, "sign_ins": what})),
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use steward_domain::{IntegrationId, TenantId};

    use super::*;

    fn at(day: i64, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, hour, 5, 0).unwrap() + Duration::days(day)
    }

    fn sign_in(time: DateTime<Utc>, country: &str, ip: &str, device: Option<&str>) -> SignInTraits {
        SignInTraits {
            time,
            user: "ana@example.com".to_owned(),
            country: Some(country.to_owned()),
            network: ip.parse().ok().map(network_of),
            device: device.map(|d| (d.to_owned(), Some(format!("{d}-name")))),
        }
    }

    /// A week of office sign-ins from London on the same laptop, in the morning.
    fn office_week() -> SignInBaseline {
        let mut baseline = SignInBaseline::default();
        for day in 0..7 {
            learn(
                &mut baseline,
                &sign_in(at(day, 8), "GB", "81.2.69.10", Some("laptop")),
            );
        }
        baseline
    }

    #[test]
    fn nothing_is_judged_while_the_baseline_is_learning() {
        let mut baseline = SignInBaseline::default();
        for day in 0..4 {
            learn(
                &mut baseline,
                &sign_in(at(day, 8), "GB", "81.2.69.10", None),
            );
        }
        let abroad = sign_in(at(4, 3), "NG", "102.89.4.7", Some("other"));
        assert!(!is_established(&baseline, abroad.time));
        assert_eq!(compare(&baseline, &abroad), None);
        // Several sign-ins on one day are one day of learning.
        learn(&mut baseline, &sign_in(at(4, 9), "GB", "81.2.69.11", None));
        learn(&mut baseline, &sign_in(at(4, 10), "GB", "81.2.69.12", None));
        assert_eq!(days_learned(&baseline, at(5, 8)), 5);
        assert!(is_established(&baseline, at(5, 8)));
    }

    #[test]
    fn a_first_sign_in_from_a_new_country_names_the_usual_one() {
        let baseline = office_week();
        let abroad = sign_in(at(8, 8), "NG", "102.89.4.7", None);
        let deviation = compare(&baseline, &abroad).expect("established");
        assert_eq!(
            deviation.broken,
            vec![
                Broken::Country {
                    value: "NG".into(),
                    usual: vec!["GB".into()]
                },
                Broken::Network {
                    value: "102.89.4.0/24".into()
                },
            ]
        );
        assert_eq!(deviation.score, 60);
        assert!(deviation.is_finding());
        let event = StoredEvent {
            id: uuid::Uuid::nil(),
            tenant_id: TenantId::from_uuid(uuid::Uuid::nil()),
            integration_id: IntegrationId::from_uuid(uuid::Uuid::nil()),
            external_id: "x".into(),
            class: OcsfClass::Authentication,
            time: abroad.time,
            severity_id: 1,
            entities: Vec::new(),
            ocsf: json!({}),
            received_at: abroad.time,
        };
        let found = finding(&event, uuid::Uuid::nil(), &abroad, &deviation, 7);
        assert_eq!(found.severity_id, 3);
        assert!(
            found.title.contains("first sign-in from NG (usually GB)"),
            "{}",
            found.title
        );
        assert_eq!(found.details["broken"][0]["part"], "country");
    }

    #[test]
    fn one_everyday_change_is_not_a_finding_but_several_are() {
        let baseline = office_week();
        // Same office, a new laptop.
        let new_laptop = sign_in(at(8, 8), "GB", "81.2.69.40", Some("laptop-2"));
        let deviation = compare(&baseline, &new_laptop).unwrap();
        assert_eq!(deviation.score, 20);
        assert!(!deviation.is_finding());
        // Within an hour of the usual time is usual.
        let early = sign_in(at(8, 7), "GB", "81.2.69.40", Some("laptop"));
        assert!(compare(&baseline, &early).unwrap().broken.is_empty());
        // Home network, new device, three in the morning: not one habit kept but the country.
        let odd = sign_in(at(8, 3), "GB", "86.1.1.1", Some("unknown-pc"));
        let deviation = compare(&baseline, &odd).unwrap();
        assert_eq!(deviation.score, 55);
        assert!(deviation.is_finding());
        // A sign-in that does not name its device is not judged on it.
        let no_device = sign_in(at(8, 8), "GB", "81.2.69.40", None);
        assert!(compare(&baseline, &no_device).unwrap().broken.is_empty());
    }

    #[test]
    fn learning_is_idempotent_and_forgets_what_was_not_seen_for_a_season() {
        let mut baseline = office_week();
        let again = baseline.clone();
        learn(
            &mut baseline,
            &sign_in(at(3, 8), "GB", "81.2.69.10", Some("laptop")),
        );
        assert_eq!(baseline, again, "a sign-in learned twice changes nothing");

        learn(&mut baseline, &sign_in(at(8, 8), "FR", "90.1.1.1", None));
        assert!(baseline.countries.contains_key("FR"));
        // A hundred days later, with only British sign-ins since, France is forgotten.
        for day in 100..106 {
            learn(
                &mut baseline,
                &sign_in(at(day, 8), "GB", "81.2.69.10", Some("laptop")),
            );
        }
        assert!(!baseline.countries.contains_key("FR"));
        assert_eq!(
            baseline.days.len(),
            6,
            "only the days of the last season count"
        );
        let deviation = compare(&baseline, &sign_in(at(107, 8), "FR", "90.1.1.1", None)).unwrap();
        assert_eq!(deviation.broken[0].part(), "country");
    }

    #[test]
    fn what_was_first_seen_later_does_not_make_an_earlier_sign_in_usual() {
        let mut baseline = office_week();
        // A hotel network and a new phone at 09:00 (a finding: not learned), then the same
        // hotel at 10:00 with the laptop (usual enough: learned).
        let phone = sign_in(at(8, 9), "GB", "90.1.1.1", Some("phone"));
        let first = compare(&baseline, &phone).unwrap();
        assert!(first.is_finding(), "{first:?}");
        learn(
            &mut baseline,
            &sign_in(at(8, 10), "GB", "90.1.1.2", Some("laptop")),
        );
        // Judged again (the batch triaged twice, or listed late), it breaks as much as before.
        assert_eq!(compare(&baseline, &phone).unwrap(), first);
    }

    #[test]
    fn a_roaming_account_keeps_its_most_recent_networks() {
        let mut baseline = office_week();
        for n in 0..120_i64 {
            let ip = format!("10.{}.{}.1", n / 200, n % 200);
            learn(
                &mut baseline,
                &sign_in(at(8, 8) + Duration::minutes(n), "GB", &ip, None),
            );
        }
        assert_eq!(baseline.networks.len(), MAX_VALUES);
        assert!(baseline.networks.contains_key("10.0.119.0/24"));
        assert!(!baseline.networks.contains_key("81.2.69.0/24"));
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        assert_eq!(network_of("81.2.69.160".parse().unwrap()), "81.2.69.0/24");
        assert_eq!(
            network_of("2001:db8:85a3:8d3:1319:8a2e:370:7348".parse().unwrap()),
            "2001:db8:85a3::/48"
        );
    }
}
