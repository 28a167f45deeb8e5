//! Telemetry that reaches Steward as logs rather than through a connector's pull: Windows event
//! logs in the shapes log shippers send ([`windows`]) and events already in OCSF, normalized into
//! the events Steward stores. The log ingest endpoint takes them in batches; `steward rules test`
//! reads them from files.

pub mod windows;
mod windows_ocsf;

use chrono::{TimeZone, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use steward_domain::observations::{
    EntityRef, EventStream, INGESTED_EVENT_PREFIX, ObservedEvent, OcsfClass,
};

pub use self::windows_ocsf::SUPPORTED as SUPPORTED_WINDOWS_EVENTS;
pub(crate) use self::windows_ocsf::to_ocsf;

/// One event of a log batch, normalized: a Windows event of any shape, or an OCSF event.
///
/// # Errors
/// A message saying why the event cannot be stored: not a shape Steward reads, a Windows event
/// with fields missing or one Steward does not normalize, or an OCSF event of a class Steward
/// does not store or without a time.
pub fn normalize(raw: &Value) -> Result<ObservedEvent, String> {
    if !raw.is_object() {
        return Err("an event is a JSON object".to_owned());
    }
    if let Some(event) = windows::read(raw)? {
        let (class, ocsf) = to_ocsf(&event)?;
        let external_id = event.record_id.map_or_else(
            || fingerprint(raw),
            |record| format!("{}:{}:{record}", event.computer, event.channel),
        );
        return Ok(ObservedEvent {
            external_id,
            class,
            time: event.time,
            severity_id: 1,
            entities: vec![EntityRef::Host {
                hostname: event.computer,
            }],
            ocsf,
            raw: raw.clone(),
            stream: EventStream::Ingested,
        });
    }
    if raw.get("class_uid").is_some() {
        return ocsf(raw);
    }
    Err("not a Windows event (evtx JSON, Winlogbeat or flat) nor an OCSF event".to_owned())
}

/// How far ahead of Steward's clock an ingested event's time may be (clocks drift).
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// One event sent to the log ingest endpoint, normalized as [`normalize`] does, with the rules
/// of that door: vendors' alerts (Detection Finding) come from vendors' integrations only, an
/// event may not claim a time after `now` (beyond clock skew), and its external id is in the
/// ingest's own namespace ([`INGESTED_EVENT_PREFIX`]), so it can never overwrite a vendor's
/// record.
///
/// # Errors
/// Why the event is refused.
pub fn ingested(raw: &Value, now: chrono::DateTime<Utc>) -> Result<ObservedEvent, String> {
    let mut event = normalize(raw)?;
    if event.class == OcsfClass::DetectionFinding {
        return Err(
            "Detection Finding events come from the vendors' integrations, not the log ingest"
                .to_owned(),
        );
    }
    if event.time > now + MAX_CLOCK_SKEW {
        return Err(format!(
            "the event's time {} is in the future",
            event.time.to_rfc3339()
        ));
    }
    event.external_id = format!("{INGESTED_EVENT_PREFIX}{}", event.external_id);
    Ok(event)
}

/// An event that arrived in OCSF already.
fn ocsf(raw: &Value) -> Result<ObservedEvent, String> {
    let uid = raw["class_uid"]
        .as_u64()
        .ok_or("class_uid is not a number")?;
    let class = u32::try_from(uid)
        .ok()
        .and_then(OcsfClass::from_class_uid)
        .ok_or_else(|| {
            let stored: Vec<String> = OcsfClass::ALL
                .iter()
                .map(|c| format!("{} ({})", c.class_uid(), c.name()))
                .collect();
            format!(
                "OCSF class {uid} is not one Steward stores (it stores: {})",
                stored.join(", ")
            )
        })?;
    let time = raw["time"]
        .as_i64()
        .and_then(|millis| Utc.timestamp_millis_opt(millis).single())
        .ok_or("time is missing or not epoch milliseconds")?;
    let severity_id = raw["severity_id"]
        .as_u64()
        .and_then(|s| u8::try_from(s).ok())
        .filter(|s| *s <= 6)
        .unwrap_or(0);
    let mut entities = Vec::new();
    if let Some(host) = raw["device"]["hostname"].as_str() {
        entities.push(EntityRef::Host {
            hostname: host.to_owned(),
        });
    }
    let external_id = raw["metadata"]["uid"]
        .as_str()
        .map_or_else(|| fingerprint(raw), str::to_owned);
    Ok(ObservedEvent {
        external_id,
        class,
        time,
        severity_id,
        entities,
        ocsf: raw.clone(),
        raw: raw.clone(),
        stream: EventStream::Ingested,
    })
}

/// An id for an event that carries none: the SHA-256 of its JSON, so the same event sent twice
/// is stored once.
fn fingerprint(raw: &Value) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(raw.to_string())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ocsf_events_pass_through_and_others_are_refused_with_a_reason() {
        let event = normalize(&json!({
            "class_uid": 1007, "activity_id": 1, "time": 1_764_580_500_000_i64,
            "device": {"hostname": "LAPTOP-7"}, "metadata": {"uid": "e-1"},
        }))
        .unwrap();
        assert_eq!(event.class, OcsfClass::ProcessActivity);
        assert_eq!(event.external_id, "e-1");
        let refused = normalize(&json!({"class_uid": 4001, "time": 0})).unwrap_err();
        assert!(refused.starts_with("OCSF class 4001 is not one Steward stores"));
        assert_eq!(
            normalize(&json!([1])).unwrap_err(),
            "an event is a JSON object"
        );
        assert!(normalize(&json!({"hello": "world"})).is_err());
    }

    #[test]
    fn the_ingest_refuses_alerts_and_future_times_and_keeps_its_own_ids() {
        let now = Utc.timestamp_millis_opt(1_764_580_500_000).unwrap();
        let alert =
            json!({"class_uid": 2004, "time": 1_764_580_400_000_i64, "metadata": {"uid": "da1"}});
        assert!(
            ingested(&alert, now)
                .unwrap_err()
                .starts_with("Detection Finding")
        );
        let later = json!({"class_uid": 1007, "activity_id": 1, "time": 4_102_444_800_000_i64});
        assert!(ingested(&later, now).unwrap_err().contains("in the future"));
        let launch = json!({"class_uid": 1007, "activity_id": 1, "time": 1_764_580_400_000_i64, "metadata": {"uid": "e-1"}});
        assert_eq!(ingested(&launch, now).unwrap().external_id, "ingest:e-1");
    }

    #[test]
    fn an_event_without_an_id_is_known_by_its_content() {
        let raw = json!({"class_uid": 3002, "time": 1_764_580_500_000_i64});
        let (a, b) = (normalize(&raw).unwrap(), normalize(&raw).unwrap());
        assert_eq!(a.external_id, b.external_id);
        assert!(a.external_id.starts_with("sha256:"));
    }
}
