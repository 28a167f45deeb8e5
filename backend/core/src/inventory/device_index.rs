//! The tenant's devices by the keys a report is matched on, loaded once per synchronization and
//! kept current while its reports are merged: matching a report is a few lookups, where reading
//! every device for every report made a first synchronization quadratic in the tenant's size.

use std::collections::{BTreeSet, HashMap};

use steward_domain::observations::{ObservedDevice, normalize_mac};

use super::reconcile;
use crate::storage::entities::device;

/// A value a report and a device can share, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MatchKey {
    /// The Microsoft Entra device id, case-insensitively.
    Entra(String),
    /// The hardware serial number, as [`reconcile::serial_key`] normalizes it.
    Serial(String),
    /// A MAC address, normalized.
    Mac(String),
    /// The host name, case-insensitively.
    Hostname(String),
    /// The host name without its DNS domain.
    ShortHostname(String),
}

fn keys(device: &device::Model) -> Vec<MatchKey> {
    let mut keys = Vec::new();
    if let Some(entra) = &device.entra_device_id {
        keys.push(MatchKey::Entra(entra.to_ascii_lowercase()));
    }
    if let Some(serial) = &device.serial_number {
        keys.push(MatchKey::Serial(serial.clone()));
    }
    if let Some(macs) = device
        .mac_addresses
        .as_ref()
        .and_then(serde_json::Value::as_array)
    {
        keys.extend(
            macs.iter()
                .filter_map(serde_json::Value::as_str)
                .map(|m| MatchKey::Mac(m.to_owned())),
        );
    }
    keys.push(MatchKey::Hostname(device.hostname.to_ascii_lowercase()));
    keys.push(MatchKey::ShortHostname(reconcile::short_hostname(
        &device.hostname,
    )));
    keys
}

/// The devices in the order they were loaded (oldest first), and where each key occurs.
#[derive(Debug, Default)]
pub(crate) struct DeviceIndex {
    devices: Vec<device::Model>,
    position: HashMap<uuid::Uuid, usize>,
    by_key: HashMap<MatchKey, BTreeSet<usize>>,
}

impl DeviceIndex {
    /// Indexes `devices`; where several share a key, the earliest of them matches.
    pub(crate) fn new(devices: Vec<device::Model>) -> Self {
        let mut index = Self::default();
        for device in devices {
            index.put(device);
        }
        index
    }

    /// Adds a device, or replaces the indexed one with the same id by its new state.
    pub(crate) fn put(&mut self, device: device::Model) {
        if let Some(&at) = self.position.get(&device.id) {
            for key in keys(&self.devices[at]) {
                if let Some(positions) = self.by_key.get_mut(&key) {
                    positions.remove(&at);
                }
            }
            for key in keys(&device) {
                self.by_key.entry(key).or_default().insert(at);
            }
            self.devices[at] = device;
        } else {
            let at = self.devices.len();
            for key in keys(&device) {
                self.by_key.entry(key).or_default().insert(at);
            }
            self.position.insert(device.id, at);
            self.devices.push(device);
        }
    }

    /// The earliest device holding `key`.
    fn first(&self, key: &MatchKey) -> Option<usize> {
        self.by_key.get(key).and_then(|p| p.first().copied())
    }

    /// Forgets a device (folded into another).
    pub(crate) fn remove(&mut self, id: uuid::Uuid) {
        let Some(at) = self.position.remove(&id) else {
            return;
        };
        for key in keys(&self.devices[at]) {
            if let Some(positions) = self.by_key.get_mut(&key) {
                positions.remove(&at);
            }
        }
    }

    /// The ids of the indexed devices, oldest first.
    pub(crate) fn ids(&self) -> Vec<uuid::Uuid> {
        let mut live: Vec<(usize, uuid::Uuid)> =
            self.position.iter().map(|(id, at)| (*at, *id)).collect();
        live.sort_unstable();
        live.into_iter().map(|(_, id)| id).collect()
    }

    /// The earlier device that `id` duplicates: one loaded before it that shares one of its
    /// match keys — the one its report would have matched, by the strongest key — had the two
    /// synchronizations that created them not run at once.
    pub(crate) fn twin_of(&self, id: uuid::Uuid) -> Option<&device::Model> {
        let &at = self.position.get(&id)?;
        keys(&self.devices[at])
            .iter()
            .find_map(|key| {
                self.by_key
                    .get(key)
                    .and_then(|positions| positions.iter().copied().find(|&p| p < at))
            })
            .map(|earlier| &self.devices[earlier])
    }

    /// The indexed state of a device.
    pub(crate) fn get(&self, id: uuid::Uuid) -> Option<&device::Model> {
        self.position.get(&id).map(|&at| &self.devices[at])
    }

    /// The device a report of another integration describes, by the strongest key both know:
    /// the Microsoft Entra device id, else the hardware serial number, else a MAC address, else
    /// the host name, else the host name without its DNS domain (EDR and RMM tools disagree
    /// about reporting it).
    pub(crate) fn matching(&self, observed: &ObservedDevice) -> Option<&device::Model> {
        let entra = observed
            .entra_device_id
            .as_ref()
            .and_then(|e| self.first(&MatchKey::Entra(e.to_ascii_lowercase())));
        let serial = || {
            observed
                .serial_number
                .as_deref()
                .and_then(reconcile::serial_key)
                .and_then(|s| self.first(&MatchKey::Serial(s)))
        };
        let mac = || {
            observed
                .mac_addresses
                .iter()
                .filter_map(|m| normalize_mac(m))
                .filter_map(|m| self.first(&MatchKey::Mac(m)))
                .min()
        };
        let hostname = || self.first(&MatchKey::Hostname(observed.hostname.to_ascii_lowercase()));
        let short = || {
            self.first(&MatchKey::ShortHostname(reconcile::short_hostname(
                &observed.hostname,
            )))
        };
        entra
            .or_else(serial)
            .or_else(mac)
            .or_else(hostname)
            .or_else(short)
            .map(|at| &self.devices[at])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u128, hostname: &str) -> device::Model {
        device::Model {
            id: uuid::Uuid::from_u128(n),
            msp_id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            hostname: hostname.to_owned(),
            os_platform: None,
            health: None,
            last_seen: None,
            entra_device_id: None,
            serial_number: None,
            mac_addresses: None,
            tags: serde_json::json!([]),
            first_seen_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
            conflicts: None,
        }
    }

    fn report(hostname: &str) -> ObservedDevice {
        ObservedDevice {
            external_id: "x".to_owned(),
            hostname: hostname.to_owned(),
            ..ObservedDevice::default()
        }
    }

    #[test]
    fn a_later_device_sharing_a_key_is_the_twin_of_the_earlier() {
        let mut first = device(1, "ACME-LT04");
        first.serial_number = Some("PF4XK2".to_owned());
        let unrelated = device(2, "ACME-SRV01");
        let mut twin = device(3, "acme-lt04.acme.example");
        twin.serial_number = Some("PF4XK2".to_owned());
        let by_name = device(4, "acme-srv01");
        let mut index = DeviceIndex::new(vec![first, unrelated, twin, by_name]);
        assert!(index.twin_of(uuid::Uuid::from_u128(1)).is_none());
        assert!(index.twin_of(uuid::Uuid::from_u128(2)).is_none());
        assert_eq!(
            index
                .twin_of(uuid::Uuid::from_u128(3))
                .unwrap()
                .id
                .as_u128(),
            1
        );
        assert_eq!(
            index
                .twin_of(uuid::Uuid::from_u128(4))
                .unwrap()
                .id
                .as_u128(),
            2
        );
        index.remove(uuid::Uuid::from_u128(3));
        assert_eq!(index.ids().len(), 3);
        assert!(index.get(uuid::Uuid::from_u128(3)).is_none());
        assert_eq!(
            index
                .matching(&report("acme-lt04.acme.example"))
                .unwrap()
                .id
                .as_u128(),
            1,
            "a folded twin matches nothing"
        );
    }

    #[test]
    fn the_strongest_shared_key_wins_and_the_earliest_device_breaks_ties() {
        let mut by_serial = device(1, "fin-lt07.acme.example");
        by_serial.serial_number = Some("PF4XK2".to_owned());
        let mut by_entra = device(2, "FIN-LT07");
        by_entra.entra_device_id = Some("5F1E2C3A-7D4B-4E6F-9A8B-0C1D2E3F4A5B".to_owned());
        let twin = device(3, "fin-lt07.acme.example");
        let index = DeviceIndex::new(vec![by_serial, by_entra, twin]);

        let mut observed = report("FIN-LT07.acme.example");
        observed.entra_device_id = Some("5f1e2c3a-7d4b-4e6f-9a8b-0c1d2e3f4a5b".to_owned());
        observed.serial_number = Some(" pf4xk2 ".to_owned());
        assert_eq!(index.matching(&observed).unwrap().id.as_u128(), 2);
        observed.entra_device_id = None;
        assert_eq!(index.matching(&observed).unwrap().id.as_u128(), 1);
        observed.serial_number = None;
        assert_eq!(
            index.matching(&observed).unwrap().id.as_u128(),
            1,
            "two devices share the host name: the earliest"
        );
        assert_eq!(
            index.matching(&report("fin-lt07")).unwrap().id.as_u128(),
            2,
            "the exact host name before the short one"
        );
        assert!(index.matching(&report("fin-lt08")).is_none());
    }

    #[test]
    fn a_device_whose_keys_change_is_found_by_its_new_keys_only() {
        let mut index = DeviceIndex::new(vec![device(1, "old-name")]);
        let mut renamed = device(1, "new-name");
        renamed.mac_addresses = Some(serde_json::json!(["00:15:5d:00:00:01"]));
        index.put(renamed);
        assert!(index.matching(&report("old-name")).is_none());
        let mut observed = report("elsewhere");
        observed.mac_addresses = vec!["00-15-5D-00-00-01".to_owned()];
        assert_eq!(index.matching(&observed).unwrap().id.as_u128(), 1);
        index.put(device(2, "added"));
        assert_eq!(index.matching(&report("ADDED")).unwrap().id.as_u128(), 2);
    }
}
