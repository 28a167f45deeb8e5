//! What Steward has learned of how one identity usually signs in: the countries, networks and
//! devices of its successful sign-ins and the hours they happen at, each with when it was
//! first and last seen. Sign-ins are compared with this rather than with fixed thresholds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// When one value (a country, a network, a device, an hour) was seen in a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// What people call it, where that differs from the key (a device's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Seen {
    /// Widens the span to include `at`; a label, once known, is kept up to date.
    pub fn include(&mut self, at: DateTime<Utc>, label: Option<&str>) {
        self.first = self.first.min(at);
        if at >= self.last {
            self.last = at;
            if let Some(label) = label {
                self.label = Some(label.to_owned());
            }
        }
    }
}

/// One identity's learned sign-in habits. Learning only widens spans and adds days, so the
/// same sign-in learned twice changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignInBaseline {
    /// By country or region code, as the identity provider names it (`GB`, `US`).
    pub countries: BTreeMap<String, Seen>,
    /// By network: the sign-in address's /24 (IPv4) or /48 (IPv6).
    pub networks: BTreeMap<String, Seen>,
    /// By the device's id at the identity provider (the Microsoft Entra device id), labelled
    /// with its name.
    pub devices: BTreeMap<String, Seen>,
    /// By hour of the day in UTC (0–23).
    pub hours: BTreeMap<u8, Seen>,
    /// The days with a learned sign-in (UTC).
    pub days: BTreeSet<NaiveDate>,
}

/// A learned baseline as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineView {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub identity_id: uuid::Uuid,
    /// `learning` until sign-ins on enough different days are learned, then `established`:
    /// only an established baseline makes findings.
    pub state: BaselineState,
    /// Days with a learned sign-in in the remembered window, and how many are needed.
    pub days_learned: usize,
    pub days_needed: usize,
    /// How long a value not seen again is remembered, in days.
    pub memory_days: i64,
    pub baseline: SignInBaseline,
    /// When a sign-in was last learned; `null` before the first.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Whether a baseline is still being learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BaselineState {
    Learning,
    Established,
}
