//! Guardrails on automatic execution: maintenance windows, the kill switch, and the limits
//! that make automation fall back to asking a person.

use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::{TenantId, UserId, actions::ReasonCode};

/// The longest list of maintenance windows a tenant may have.
pub const MAX_MAINTENANCE_WINDOWS: usize = 28;

/// One weekly maintenance window in the tenant's time zone. A window whose end is not after
/// its start runs past midnight into the next day (`22:00`–`04:00`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Days the window starts on: `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun`.
    pub days: Vec<String>,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM`.
    pub end: String,
}

/// When a tenant accepts disruptive automatic changes: weekly windows in one IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSchedule {
    /// An IANA time zone such as `Europe/Berlin` or `America/Chicago`.
    pub timezone: String,
    pub windows: Vec<MaintenanceWindow>,
}

/// Why a maintenance schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0:?} is not an IANA time zone (such as Europe/Berlin)")]
    UnknownTimezone(String),
    #[error("a schedule needs at least one window; remove the schedule to have none")]
    NoWindows,
    #[error("at most {MAX_MAINTENANCE_WINDOWS} windows")]
    TooManyWindows,
    #[error("window {0}: {1:?} is not a day (use mon, tue, wed, thu, fri, sat or sun)")]
    UnknownDay(usize, String),
    #[error("window {0}: name at least one day")]
    NoDays(usize),
    #[error("window {0}: {1:?} is not a time of day as HH:MM")]
    BadTime(usize, String),
    #[error("window {0}: the start and end are the same")]
    Empty(usize),
}

/// A validated window.
#[derive(Debug, Clone, Copy)]
struct Window {
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
}

impl Window {
    fn starts_on(&self, day: Weekday) -> bool {
        self.days[day.num_days_from_monday() as usize]
    }

    fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.starts_on(day) && self.start <= time && time < self.end
        } else {
            // Past midnight: the evening part belongs to today, the morning part to yesterday.
            (self.starts_on(day) && time >= self.start)
                || (self.starts_on(day.pred()) && time < self.end)
        }
    }
}

fn parse_day(day: &str) -> Option<Weekday> {
    let day = day.trim().to_ascii_lowercase();
    [
        ("mon", Weekday::Mon),
        ("tue", Weekday::Tue),
        ("wed", Weekday::Wed),
        ("thu", Weekday::Thu),
        ("fri", Weekday::Fri),
        ("sat", Weekday::Sat),
        ("sun", Weekday::Sun),
    ]
    .into_iter()
    .find(|(name, _)| day == *name)
    .map(|(_, weekday)| weekday)
}

impl MaintenanceSchedule {
    fn parsed(&self) -> Result<(chrono_tz::Tz, Vec<Window>), ScheduleError> {
        let tz = chrono_tz::Tz::from_str(self.timezone.trim())
            .map_err(|_| ScheduleError::UnknownTimezone(self.timezone.clone()))?;
        if self.windows.is_empty() {
            return Err(ScheduleError::NoWindows);
        }
        if self.windows.len() > MAX_MAINTENANCE_WINDOWS {
            return Err(ScheduleError::TooManyWindows);
        }
        let mut windows = Vec::with_capacity(self.windows.len());
        for (index, window) in self.windows.iter().enumerate() {
            let number = index + 1;
            let mut days = [false; 7];
            for day in &window.days {
                let weekday =
                    parse_day(day).ok_or_else(|| ScheduleError::UnknownDay(number, day.clone()))?;
                days[weekday.num_days_from_monday() as usize] = true;
            }
            if !days.contains(&true) {
                return Err(ScheduleError::NoDays(number));
            }
            let time = |text: &str| {
                NaiveTime::parse_from_str(text.trim(), "%H:%M")
                    .map_err(|_| ScheduleError::BadTime(number, text.to_owned()))
            };
            let (start, end) = (time(&window.start)?, time(&window.end)?);
            if start == end {
                return Err(ScheduleError::Empty(number));
            }
            windows.push(Window { days, start, end });
        }
        Ok((tz, windows))
    }

    /// Checks the schedule.
    ///
    /// # Errors
    /// [`ScheduleError`] naming the first problem.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.parsed().map(|_| ())
    }

    /// Whether a window is open at `now`. An invalid schedule (never stored) has none open.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let Ok((tz, windows)) = self.parsed() else {
            return false;
        };
        let local = now.with_timezone(&tz);
        let (day, time) = (local.weekday(), local.time());
        windows.iter().any(|w| w.contains(day, time))
    }
}

/// Whose automation a kill switch stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HaltScope {
    /// One tenant.
    Tenant,
    /// Every tenant of the MSP.
    Msp,
}

/// A pulled kill switch: no action runs automatically in its scope until an MSP admin
/// releases it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationHalt {
    pub scope: HaltScope,
    /// The tenant, for a tenant's switch.
    pub tenant_id: Option<TenantId>,
    pub reason: String,
    pub engaged_by: UserId,
    /// The person, as the audit chain names them.
    pub engaged_by_label: String,
    pub engaged_at: DateTime<Utc>,
}

/// How much automation happened lately, counted over the last hour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationActivity {
    /// Actions the policy let run without a person, in this tenant.
    pub tenant_automatic: u32,
    /// Actions that failed or whose rollback failed, in this tenant.
    pub tenant_failures: u32,
    /// Automatic actions across the MSP's tenants.
    pub msp_automatic: u32,
    /// Failures across the MSP's tenants.
    pub msp_failures: u32,
}

/// When automation falls back to asking a person (per hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AutomationLimits {
    /// Automatic actions per tenant per hour.
    pub tenant_automatic_per_hour: u32,
    /// Automatic actions per MSP per hour.
    pub msp_automatic_per_hour: u32,
    /// Failed actions in a tenant within an hour that open its circuit breaker.
    pub tenant_failures_to_open: u32,
    /// Failed actions across the MSP within an hour that open every tenant's breaker.
    pub msp_failures_to_open: u32,
}

impl Default for AutomationLimits {
    fn default() -> Self {
        Self {
            tenant_automatic_per_hour: 20,
            msp_automatic_per_hour: 200,
            tenant_failures_to_open: 3,
            msp_failures_to_open: 10,
        }
    }
}

/// Why automatic execution is paused for a tenant; empty when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Pause {
    /// The tenant's or the MSP's kill switch is pulled.
    KillSwitch,
    /// Too many recent failures.
    CircuitOpen,
    /// The hourly number of automatic actions is reached.
    RateLimited,
}

impl Pause {
    /// The reason code an action decision carries for this pause.
    #[must_use]
    pub const fn reason(self) -> ReasonCode {
        match self {
            Pause::KillSwitch => ReasonCode::KillSwitchEngaged,
            Pause::CircuitOpen => ReasonCode::CircuitBreakerOpen,
            Pause::RateLimited => ReasonCode::AutomationRateLimit,
        }
    }
}

impl AutomationLimits {
    /// What pauses automation given the switches and the last hour's activity.
    #[must_use]
    pub fn pauses(&self, halted: bool, activity: &AutomationActivity) -> Vec<Pause> {
        let mut pauses = Vec::new();
        if halted {
            pauses.push(Pause::KillSwitch);
        }
        if activity.tenant_failures >= self.tenant_failures_to_open
            || activity.msp_failures >= self.msp_failures_to_open
        {
            pauses.push(Pause::CircuitOpen);
        }
        if activity.tenant_automatic >= self.tenant_automatic_per_hour
            || activity.msp_automatic >= self.msp_automatic_per_hour
        {
            pauses.push(Pause::RateLimited);
        }
        pauses
    }
}

/// A tenant's guardrails as technicians and owners see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantGuardrails {
    pub tenant_id: TenantId,
    pub automation_level: u8,
    pub maintenance: Option<MaintenanceSchedule>,
    /// Whether a maintenance window is open now.
    pub maintenance_open: bool,
    /// The tenant's own kill switch, if pulled.
    pub tenant_halt: Option<AutomationHalt>,
    /// The MSP-wide kill switch, if pulled.
    pub msp_halt: Option<AutomationHalt>,
    pub activity: AutomationActivity,
    pub limits: AutomationLimits,
    /// Why automatic execution is paused now; empty when actions the policy allows run.
    pub paused: Vec<Pause>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn schedule(days: &[&str], start: &str, end: &str) -> MaintenanceSchedule {
        MaintenanceSchedule {
            timezone: "Europe/Berlin".into(),
            windows: vec![MaintenanceWindow {
                days: days.iter().map(|d| (*d).to_owned()).collect(),
                start: start.into(),
                end: end.into(),
            }],
        }
    }

    #[test]
    fn windows_are_read_in_the_tenants_time_zone() {
        let nightly = schedule(&["mon", "tue", "wed", "thu", "fri"], "22:00", "04:00");
        // Monday 2026-11-30 21:30 UTC is 22:30 in Berlin (CET, UTC+1).
        assert!(nightly.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 21, 30, 0).unwrap()));
        // 20:30 UTC is 21:30 in Berlin: not yet.
        assert!(!nightly.is_open(Utc.with_ymd_and_hms(2026, 11, 30, 20, 30, 0).unwrap()));
        // Saturday 02:00 Berlin belongs to Friday's window.
        assert!(nightly.is_open(Utc.with_ymd_and_hms(2026, 12, 5, 1, 0, 0).unwrap()));
        // Sunday 02:00 Berlin would belong to Saturday's, which there is none of.
        assert!(!nightly.is_open(Utc.with_ymd_and_hms(2026, 12, 6, 1, 0, 0).unwrap()));
        // Summer time: 22:30 in Berlin on Monday 2026-06-01 is 20:30 UTC.
        assert!(nightly.is_open(Utc.with_ymd_and_hms(2026, 6, 1, 20, 30, 0).unwrap()));
    }

    #[test]
    fn invalid_schedules_name_the_problem() {
        let mut bad = schedule(&["mon"], "22:00", "04:00");
        bad.timezone = "Mars/Olympus".into();
        assert_eq!(
            bad.validate(),
            Err(ScheduleError::UnknownTimezone("Mars/Olympus".into()))
        );
        assert_eq!(
            schedule(&["someday"], "22:00", "04:00").validate(),
            Err(ScheduleError::UnknownDay(1, "someday".into()))
        );
        assert_eq!(
            schedule(&["mon"], "25:00", "04:00").validate(),
            Err(ScheduleError::BadTime(1, "25:00".into()))
        );
        assert_eq!(
            schedule(&[], "22:00", "04:00").validate(),
            Err(ScheduleError::NoDays(1))
        );
        assert_eq!(
            schedule(&["mon"], "04:00", "04:00").validate(),
            Err(ScheduleError::Empty(1))
        );
        assert!(
            schedule(&["Sat", "sun"], "08:00", "12:30")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn limits_pause_automation_at_their_thresholds() {
        let limits = AutomationLimits::default();
        let quiet = AutomationActivity::default();
        assert!(limits.pauses(false, &quiet).is_empty());
        assert_eq!(limits.pauses(true, &quiet), vec![Pause::KillSwitch]);
        let failing = AutomationActivity {
            tenant_failures: 3,
            ..quiet
        };
        assert_eq!(limits.pauses(false, &failing), vec![Pause::CircuitOpen]);
        let busy_msp = AutomationActivity {
            msp_automatic: 200,
            ..quiet
        };
        assert_eq!(limits.pauses(false, &busy_msp), vec![Pause::RateLimited]);
    }
}
