//! A simulated customer: its Microsoft Entra directory ([`directory`]), its devices as Defender
//! for Endpoint ([`devices`]), its RMM tools ([`rmm`]) and backup tools ([`backup`]) see them,
//! and the MSP's PSA tickets about it ([`psa`]).
//!
//! These are the facts several vendors share (a laptop is a Defender machine, a NinjaOne device,
//! a Falcon host and a Tactical agent at once), so they live here. What only one vendor keeps —
//! Defender's machine actions, NinjaOne's agents and activity log, Tactical RMM's script runs —
//! is defined in that vendor's module and only stored here, so one document holds (and
//! persists) the whole customer.
//!
//! Generated once per Steward tenant from the tenant's name, deterministically (the same tenant
//! gets the same people and devices), and persisted so actions taken against it survive
//! restarts. Ids look like the vendor's: GUIDs for Entra objects, 40 hex digits for Defender
//! machines.

mod backup;
mod devices;
mod directory;
mod psa;
mod rmm;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use self::{backup::*, devices::*, directory::*, psa::*, rmm::*};
pub use crate::microsoft::{SimDeviceEvent, SimMachineAction};
use crate::{
    ninjaone::{SimActivity, SimNinjaAgent, ninja_agent, ninja_organization_id},
    tactical::SimTacticalRun,
};

/// A place people sign in from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Place {
    pub city: String,
    pub state: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    /// First three octets of the addresses seen from there.
    pub network: String,
}

impl Place {
    fn new(
        (city, state, country, latitude, longitude, network): (&str, &str, &str, f64, f64, &str),
    ) -> Self {
        Self {
            city: city.to_owned(),
            state: state.to_owned(),
            country: country.to_owned(),
            latitude,
            longitude,
            network: network.to_owned(),
        }
    }

    /// Where a stolen session gets used from.
    #[must_use]
    pub fn far_away() -> Self {
        Self::new(("Lagos", "Lagos", "NG", 6.5244, 3.3792, "105.112.33"))
    }
}

/// Offices the generated customers are in.
const HOMES: [(&str, &str, &str, f64, f64, &str); 5] = [
    (
        "Seattle",
        "Washington",
        "US",
        47.6062,
        -122.3321,
        "73.118.40",
    ),
    ("Denver", "Colorado", "US", 39.7392, -104.9903, "67.176.12"),
    ("Chicago", "Illinois", "US", 41.8781, -87.6298, "98.226.77"),
    (
        "Boston",
        "Massachusetts",
        "US",
        42.3601,
        -71.0589,
        "24.61.9",
    ),
    ("Austin", "Texas", "US", 30.2672, -97.7431, "70.114.150"),
];

/// A misbehaviour the tests and demos can switch on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The next isolation action on this machine ends `Failed`.
    FailNextMachineAction { machine_id: String },
    /// The next isolation or release of this machine is refused with 403: the app registration
    /// lacks the `Machine.Isolate` permission (an admin withdrew consent).
    RefuseNextMachineAction { machine_id: String },
    /// The next `revokeSignInSessions` of this user answers 200 but never takes effect.
    DropNextRevocation { user_id: String },
    /// `PATCH /users/{id}` answers 204 but an on-premises sync puts the old value back.
    RevertAccountWrites { user_id: String },
    /// The next script run on this NinjaOne device ends `FAILURE`.
    FailNextScript { device_id: u64 },
    /// The next script run on this Tactical RMM agent exits with code 1.
    FailNextTacticalScript { agent_id: String },
}

/// One simulated customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// The Steward tenant this customer is.
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub domain: String,
    /// The Entra tenant (directory) id.
    pub directory_id: String,
    /// The app registration Steward signs in with.
    pub client_id: String,
    pub client_secret: String,
    pub home: Place,
    pub machines: Vec<SimMachine>,
    pub users: Vec<SimUser>,
    pub roles: Vec<SimRole>,
    /// Security groups (a customer created before groups were simulated has none).
    #[serde(default)]
    pub groups: Vec<SimGroup>,
    /// Defender alerts, as the vendor returns them.
    pub defender_alerts: Vec<Value>,
    /// Graph security alerts (alerts_v2), as the vendor returns them.
    pub security_alerts: Vec<Value>,
    /// Graph sign-in records, as the vendor returns them.
    pub sign_ins: Vec<Value>,
    /// Microsoft Entra directory audit records (`directoryAudit`), as Graph returns them.
    #[serde(default)]
    pub directory_audits: Vec<Value>,
    /// CrowdStrike Falcon alerts (alerts v2), as the vendor returns them.
    #[serde(default)]
    pub falcon_alerts: Vec<Value>,
    pub machine_actions: Vec<SimMachineAction>,
    /// Defender's advanced hunting rows (process, file and registry events), oldest first.
    #[serde(default)]
    pub device_events: Vec<SimDeviceEvent>,
    /// The customer's licence has no advanced hunting (Defender for Endpoint Plan 1 or
    /// Defender for Business): Graph refuses its queries.
    #[serde(default)]
    pub hunting_unlicensed: bool,
    /// How long after a sign-in Entra ID lists it: Microsoft documents sign-in logs arriving
    /// minutes and at times hours late. A sign-in shows in `auditLogs/signIns` only once this
    /// much time has passed since it happened.
    #[serde(default)]
    pub sign_in_latency_seconds: i64,
    /// Okta System Log events other than sign-ins (lifecycle changes, cleared sessions), as
    /// Okta returns them.
    #[serde(default)]
    pub okta_events: Vec<Value>,
    /// NinjaOne's activity log of script runs.
    #[serde(default)]
    pub ninja_activities: Vec<SimActivity>,
    /// Counts changes to users, for Graph's `users/delta`.
    #[serde(default)]
    pub user_generation: u64,
    /// Tactical RMM's history of script runs on the customer's agents.
    #[serde(default)]
    pub tactical_runs: Vec<SimTacticalRun>,
    /// Tickets in the MSP's PSAs (HaloPSA and ConnectWise Manage) for this customer.
    #[serde(default)]
    pub psa_tickets: Vec<SimTicket>,
    pub faults: Vec<Fault>,
    /// Counter for ids of records created after generation.
    pub sequence: u64,
}

/// What a simulated sign-in was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInFrom {
    /// The laptop the user is the primary user of (joined to Microsoft Entra ID, managed).
    OwnLaptop,
    /// The user's registered home computer, which nothing manages.
    PersonalDevice,
    /// A device Microsoft Entra ID does not know (an attacker's).
    Unknown,
}

/// A deterministic id source: SHA-256 of the tenant and a label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ids {
    seed: Uuid,
}

impl Ids {
    pub(crate) fn new(seed: Uuid) -> Self {
        Self { seed }
    }

    fn digest(self, label: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.seed.as_bytes());
        hasher.update(label.as_bytes());
        hasher.finalize().into()
    }

    /// A GUID, as Entra ids are.
    pub(crate) fn guid(self, label: &str) -> String {
        let digest = self.digest(label);
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// 40 hex digits, as Defender machine ids are.
    pub(crate) fn machine(self, label: &str) -> String {
        hex::encode(&self.digest(label)[..20])
    }

    /// A number in `0..n`.
    pub(crate) fn pick(self, label: &str, n: usize) -> usize {
        let digest = self.digest(label);
        (u64::from_le_bytes(digest[..8].try_into().expect("8 bytes")) % n as u64) as usize
    }

    /// A secret only this environment's tests and demo integrations know.
    pub(crate) fn secret(self, label: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.digest(label))
    }
}

impl Environment {
    /// Generates the customer for Steward tenant `tenant_id` named `name` with slug `slug`.
    #[must_use]
    pub fn generate(tenant_id: Uuid, name: &str, slug: &str, now: DateTime<Utc>) -> Self {
        let ids = Ids::new(tenant_id);
        let domain = format!("{slug}.example");
        let home = Place::new(HOMES[ids.pick("home", HOMES.len())]);
        let prefix: String = slug
            .split('-')
            .next()
            .unwrap_or(slug)
            .chars()
            .take(5)
            .collect::<String>()
            .to_uppercase();
        let first = ids.pick("given", GIVEN.len());
        let family = ids.pick("family", FAMILY.len());
        let mut users = Vec::new();
        let mut machines = Vec::new();
        let mut roles: Vec<SimRole> = Vec::new();
        for (n, (title, department, role, finance)) in ROSTER.iter().enumerate() {
            let given = GIVEN[(first + n * 3) % GIVEN.len()];
            let surname = FAMILY[(family + n * 5) % FAMILY.len()];
            let upn = format!(
                "{}.{}@{domain}",
                given.to_lowercase(),
                surname.to_lowercase().replace('\'', "")
            );
            let id = ids.guid(&format!("user-{n}"));
            let created = now - Duration::days(400 - n as i64 * 20);
            // The office manager, a user administrator, never registered a second factor.
            let mut methods = vec![(AuthMethodKind::Password, false)];
            if n != 2 {
                methods.push((AuthMethodKind::MicrosoftAuthenticator, true));
                if n % 2 == 0 {
                    methods.push((AuthMethodKind::Phone, false));
                } else if n == 1 {
                    methods.push((AuthMethodKind::SoftwareOath, false));
                }
            }
            let authentication_methods = methods
                .into_iter()
                .enumerate()
                .map(|(m, (kind, default))| SimAuthMethod {
                    id: if kind == AuthMethodKind::Password {
                        // Graph gives every password method this well-known id.
                        "28c10230-6103-485e-b985-444c60001490".to_owned()
                    } else {
                        ids.guid(&format!("auth-method-{n}-{m}"))
                    },
                    kind,
                    default,
                    created: created + Duration::days(1),
                })
                .collect();
            users.push(SimUser {
                id: id.clone(),
                user_principal_name: upn,
                display_name: format!("{given} {surname}"),
                given_name: given.to_owned(),
                surname: surname.to_owned(),
                job_title: (*title).to_owned(),
                department: (*department).to_owned(),
                account_enabled: true,
                created,
                sign_in_sessions_valid_from: created,
                authentication_methods,
                okta_suspended: false,
                changed: 0,
            });
            if let Some(role) = role {
                match roles.iter_mut().find(|r| r.display_name == *role) {
                    Some(existing) => existing.members.push(id.clone()),
                    None => roles.push(SimRole {
                        id: ids.guid(&format!("role-{role}")),
                        display_name: (*role).to_owned(),
                        role_template_id: role_template(role).to_owned(),
                        members: vec![id.clone()],
                    }),
                }
            }
            let mut tags = vec![(*department).to_owned()];
            if *finance {
                tags = vec!["Finance".to_owned()];
            }
            machines.push(SimMachine {
                id: ids.machine(&format!("laptop-{n}")),
                computer_dns_name: format!("{prefix}-LT{:02}.{domain}", n + 1).to_lowercase(),
                os_platform: "Windows11".to_owned(),
                version: "24H2".to_owned(),
                health_status: "Active".to_owned(),
                first_seen: created,
                last_seen: now - Duration::hours(1 + n as i64),
                last_ip_address: format!("192.168.10.{}", 20 + n),
                aad_device_id: ids.guid(&format!("entra-device-{n}")),
                machine_tags: tags,
                device_value: "Normal".to_owned(),
                primary_user: Some(id),
                isolated: false,
                falcon_contained: false,
                falcon_pending_reads: 0,
                edr_sensor: true,
                ninja: None,
                backup: None,
            });
        }
        machines.push(SimMachine {
            id: ids.machine("server-1"),
            computer_dns_name: format!("{prefix}-SRV01.{domain}").to_lowercase(),
            os_platform: "WindowsServer2022".to_owned(),
            version: "21H2".to_owned(),
            health_status: "Active".to_owned(),
            first_seen: now - Duration::days(700),
            last_seen: now - Duration::minutes(30),
            last_ip_address: "192.168.10.5".to_owned(),
            aad_device_id: ids.guid("entra-device-server"),
            machine_tags: vec!["Server".to_owned(), "File shares".to_owned()],
            device_value: "High".to_owned(),
            primary_user: None,
            isolated: false,
            falcon_contained: false,
            falcon_pending_reads: 0,
            edr_sensor: true,
            ninja: None,
            backup: None,
        });
        // The front-desk PC the RMM manages but no EDR sensor was ever installed on.
        machines.push(SimMachine {
            id: ids.machine("front-desk"),
            computer_dns_name: format!("{prefix}-FD01.{domain}").to_lowercase(),
            os_platform: "Windows11".to_owned(),
            version: "23H2".to_owned(),
            health_status: "Inactive".to_owned(),
            first_seen: now - Duration::days(200),
            last_seen: now - Duration::hours(2),
            last_ip_address: "192.168.10.40".to_owned(),
            aad_device_id: ids.guid("entra-device-front-desk"),
            machine_tags: vec!["Front desk".to_owned()],
            device_value: "Normal".to_owned(),
            primary_user: None,
            isolated: false,
            falcon_contained: false,
            falcon_pending_reads: 0,
            edr_sensor: false,
            ninja: None,
            backup: None,
        });
        let organization = ninja_organization_id(ids);
        for (n, machine) in machines.iter_mut().enumerate() {
            machine.ninja = Some(ninja_agent(ids, organization, n, machine, now));
            // The MSP backs up the server and the finance team's laptops; the server's job has
            // failed every night for nine days.
            let server = machine.machine_tags.iter().any(|t| t == "Server");
            let finance = machine.machine_tags.iter().any(|t| t == "Finance");
            if server || finance {
                machine.backup = Some(SimBackup {
                    agent_uid: Uuid::parse_str(&ids.guid(&format!("veeam-agent-{n}")))
                        .expect("a GUID"),
                    job_uid: Uuid::parse_str(&ids.guid(if server {
                        "veeam-job-server"
                    } else {
                        "veeam-job-finance"
                    }))
                    .expect("a GUID"),
                    job_name: if server {
                        "File server nightly".to_owned()
                    } else {
                        "Finance laptops nightly".to_owned()
                    },
                    failing_since: server.then(|| now - Duration::days(9)),
                    manual_run: None,
                    running_reads: 0,
                });
            }
        }
        let mut environment = Self {
            tenant_id,
            tenant_name: name.to_owned(),
            domain,
            directory_id: ids.guid("directory"),
            client_id: ids.guid("app-registration"),
            client_secret: ids.secret("client-secret"),
            home: home.clone(),
            machines,
            groups: vec![
                SimGroup {
                    id: ids.guid("group-all-staff"),
                    display_name: "All Staff".to_owned(),
                    description: "Everyone at the company".to_owned(),
                    members: users.iter().map(|u| u.id.clone()).collect(),
                },
                SimGroup {
                    id: ids.guid("group-finance"),
                    display_name: "Finance Team".to_owned(),
                    description: "Access to the accounting system and the finance share".to_owned(),
                    members: users
                        .iter()
                        .filter(|u| u.department == "Finance")
                        .map(|u| u.id.clone())
                        .collect(),
                },
                SimGroup {
                    id: ids.guid("group-vpn"),
                    display_name: "VPN Users".to_owned(),
                    description: "Remote access to the office network".to_owned(),
                    members: users.iter().take(4).map(|u| u.id.clone()).collect(),
                },
            ],
            users,
            roles,
            defender_alerts: Vec::new(),
            security_alerts: Vec::new(),
            sign_ins: Vec::new(),
            directory_audits: Vec::new(),
            falcon_alerts: Vec::new(),
            machine_actions: Vec::new(),
            device_events: Vec::new(),
            hunting_unlicensed: false,
            sign_in_latency_seconds: 0,
            okta_events: Vec::new(),
            ninja_activities: Vec::new(),
            tactical_runs: Vec::new(),
            user_generation: 0,
            psa_tickets: Vec::new(),
            faults: Vec::new(),
            sequence: 0,
        };
        // A week of ordinary sign-ins from the office: enough days for Steward to learn each
        // person's sign-in baseline. The oldest is a few minutes inside the seven days Okta's
        // System Log answers by default.
        for day in (1..=7).rev() {
            for n in 0..environment.users.len() {
                let at = now - Duration::days(day) + Duration::minutes(n as i64 * 7 + 5);
                let user = environment.users[n].id.clone();
                environment.record_sign_in(
                    &user,
                    at,
                    &home,
                    "Office 365 Exchange Online",
                    SignInFrom::OwnLaptop,
                );
            }
        }
        // One of them reads mail from a home computer too, which no tool of the MSP manages.
        if let Some(user) = environment.users.last().map(|u| u.id.clone()) {
            environment.record_sign_in(
                &user,
                now - Duration::hours(20),
                &home,
                "Office 365 Exchange Online",
                SignInFrom::PersonalDevice,
            );
        }
        environment
    }

    /// Grows the customer to `machines` machines and `users` people by copying an ordinary
    /// laptop and person with fresh ids and names, for benchmarks of large tenants. The copies
    /// have no sign-ins, alerts or backups of their own.
    pub fn scale(&mut self, machines: usize, users: usize) {
        let ids = Ids::new(self.tenant_id);
        let domain = self.domain.clone();
        if let Some(template) = self
            .machines
            .iter()
            .find(|m| m.ninja.is_some() && m.backup.is_none() && m.edr_sensor)
            .cloned()
        {
            let prefix = template
                .computer_dns_name
                .split('-')
                .next()
                .unwrap_or("host")
                .to_owned();
            for n in self.machines.len()..machines {
                let mut machine = template.clone();
                machine.id = ids.machine(&format!("bulk-machine-{n}"));
                machine.computer_dns_name = format!("{prefix}-bk{n:05}.{domain}");
                machine.aad_device_id = ids.guid(&format!("bulk-entra-device-{n}"));
                machine.last_ip_address =
                    format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256);
                machine.primary_user = None;
                if let Some(agent) = machine.ninja.as_mut() {
                    agent.device_id = 100_000 + n as u64;
                }
                self.machines.push(machine);
            }
        }
        if let Some(template) = self
            .users
            .iter()
            .find(|u| !self.roles.iter().any(|r| r.members.contains(&u.id)))
            .cloned()
        {
            for n in self.users.len()..users {
                let mut user = template.clone();
                user.id = ids.guid(&format!("bulk-user-{n}"));
                user.given_name = format!("User{n:05}");
                user.display_name = format!("{} {}", user.given_name, user.surname);
                user.user_principal_name = format!("user{n:05}@{domain}");
                self.users.push(user);
            }
        }
    }

    /// Whether `fault` was injected; it is used up, so it hits the next request only.
    pub(crate) fn take_fault(&mut self, fault: &Fault) -> bool {
        match self.faults.iter().position(|f| f == fault) {
            Some(index) => {
                self.faults.remove(index);
                true
            }
            None => false,
        }
    }

    /// A fresh id for a record created at run time.
    pub(crate) fn next_guid(&mut self, label: &str) -> String {
        self.sequence += 1;
        Ids::new(self.tenant_id).guid(&format!("{label}-{}", self.sequence))
    }

    #[must_use]
    pub fn user(&self, id: &str) -> Option<&SimUser> {
        self.users
            .iter()
            .find(|u| u.id == id || u.user_principal_name.eq_ignore_ascii_case(id))
    }

    /// The Okta org of this customer: `https://{org}.okta.com`, served under
    /// `/sandbox/okta/{org}/`.
    #[must_use]
    pub fn okta_org(&self) -> &str {
        self.domain.strip_suffix(".example").unwrap_or(&self.domain)
    }

    /// The SSWS API token the org accepts.
    #[must_use]
    pub fn okta_api_token(&self) -> String {
        format!("00{}", Ids::new(self.tenant_id).secret("okta-api-token"))
    }

    /// The customer's CrowdStrike customer id (CID): 32 hex digits.
    #[must_use]
    pub fn falcon_cid(&self) -> String {
        Ids::new(self.tenant_id).machine("falcon-cid")[..32].to_owned()
    }

    /// The Falcon API client the customer created for Steward: its id and secret.
    #[must_use]
    pub fn falcon_client(&self) -> (String, String) {
        let ids = Ids::new(self.tenant_id);
        (
            ids.machine("falcon-client")[..32].to_owned(),
            ids.secret("falcon-client-secret"),
        )
    }

    /// A machine's Falcon host id (`device_id`, 32 hex digits).
    #[must_use]
    pub fn falcon_device_id(&self, machine: &SimMachine) -> String {
        Ids::new(self.tenant_id).machine(&format!("falcon-{}", machine.id))[..32].to_owned()
    }

    /// The machine with this Falcon host id.
    #[must_use]
    pub fn falcon_machine(&self, device_id: &str) -> Option<&SimMachine> {
        self.machines
            .iter()
            .filter(|m| m.edr_sensor)
            .find(|m| self.falcon_device_id(m) == device_id)
    }

    /// The customer's organization id in the MSP's NinjaOne.
    #[must_use]
    pub fn ninja_organization_id(&self) -> u32 {
        ninja_organization_id(Ids::new(self.tenant_id))
    }

    /// The NinjaOne API client the MSP created for Steward: its id and secret.
    #[must_use]
    pub fn ninja_client(&self) -> (String, String) {
        let ids = Ids::new(self.tenant_id);
        (
            ids.secret("ninja-client")[..24].to_owned(),
            ids.secret("ninja-client-secret"),
        )
    }

    /// The customer's client id in the MSP's HaloPSA.
    #[must_use]
    pub fn halo_client_id(&self) -> u32 {
        u32::try_from(10 + Ids::new(self.tenant_id).pick("halo-client", 900)).expect("small")
    }

    /// The HaloPSA API application (client credentials) the MSP created for Steward.
    #[must_use]
    pub fn halo_application(&self) -> (String, String) {
        let ids = Ids::new(self.tenant_id);
        (
            ids.guid("halo-application"),
            ids.secret("halo-application-secret"),
        )
    }

    /// The customer's company record id in the MSP's ConnectWise Manage.
    #[must_use]
    pub fn cw_company_record_id(&self) -> u32 {
        u32::try_from(250 + Ids::new(self.tenant_id).pick("cw-company", 5000)).expect("small")
    }

    /// The ConnectWise Manage API member's public and private keys, and the integrator's
    /// `clientId`.
    #[must_use]
    pub fn cw_api_keys(&self) -> (String, String, String) {
        let ids = Ids::new(self.tenant_id);
        (
            ids.secret("cw-public-key")[..16].to_owned(),
            ids.secret("cw-private-key")[..16].to_owned(),
            ids.guid("cw-client-id"),
        )
    }

    /// The customer's company (`instanceUid`) in the MSP's Veeam Service Provider Console.
    #[must_use]
    pub fn veeam_company_uid(&self) -> Uuid {
        Uuid::parse_str(&Ids::new(self.tenant_id).guid("veeam-company")).expect("a GUID")
    }

    /// The console API key Steward was given for this customer.
    #[must_use]
    pub fn veeam_api_key(&self) -> String {
        Ids::new(self.tenant_id).secret("veeam-api-key")
    }

    /// The customer's client id on the MSP's Tactical RMM server.
    #[must_use]
    pub fn tactical_client_id(&self) -> u32 {
        u32::try_from(1 + Ids::new(self.tenant_id).pick("tactical-client", 500)).expect("small")
    }

    /// The API key of the Tactical RMM user Steward was given for this customer: 32 upper-case
    /// letters and digits, as Tactical RMM generates them.
    #[must_use]
    pub fn tactical_api_key(&self) -> String {
        Ids::new(self.tenant_id)
            .secret("tactical-api-key")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .take(32)
            .collect()
    }

    /// A machine's hardware serial number, as every tool reads it from the firmware.
    #[must_use]
    pub fn serial_number(machine: &SimMachine) -> String {
        format!("SN{}", machine.id[..10].to_uppercase())
    }

    /// A machine's network adapter's MAC address (Hyper-V's `00:15:5d` prefix).
    #[must_use]
    pub fn mac_address(machine: &SimMachine) -> String {
        let id = machine.id.as_bytes();
        format!(
            "00:15:5d:{}{}:{}{}:{}{}",
            id[0] as char,
            id[1] as char,
            id[2] as char,
            id[3] as char,
            id[4] as char,
            id[5] as char
        )
    }

    /// A user's Okta id (`00u` and 17 characters, as Okta's are).
    #[must_use]
    pub fn okta_user_id(&self, user: &SimUser) -> String {
        let digest = Ids::new(self.tenant_id).machine(&format!("okta-{}", user.id));
        format!("00u{}", &digest[..17])
    }

    /// The user with this Okta id or login.
    #[must_use]
    pub fn okta_user(&self, id: &str) -> Option<&SimUser> {
        self.users
            .iter()
            .find(|u| self.okta_user_id(u) == id || u.user_principal_name.eq_ignore_ascii_case(id))
    }

    #[must_use]
    pub fn group(&self, id: &str) -> Option<&SimGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub(crate) fn user_mut(&mut self, id: &str) -> Option<&mut SimUser> {
        self.users
            .iter_mut()
            .find(|u| u.id == id || u.user_principal_name.eq_ignore_ascii_case(id))
    }

    /// A machine Defender for Endpoint knows (one with an EDR sensor), by id or DNS name.
    #[must_use]
    pub fn machine(&self, id: &str) -> Option<&SimMachine> {
        self.machines
            .iter()
            .filter(|m| m.edr_sensor)
            .find(|m| m.id == id || m.computer_dns_name.eq_ignore_ascii_case(id))
    }

    /// Whether a user holds any admin role.
    #[must_use]
    pub fn is_admin(&self, user_id: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.members.iter().any(|m| m == user_id))
    }

    /// The personal computer a user registered in Microsoft Entra ID (workplace join) and
    /// signs in from, which no tool of the MSP manages: its device id and name.
    #[must_use]
    pub fn personal_device(&self) -> (String, String) {
        let ids = Ids::new(self.tenant_id);
        (
            ids.guid("personal-device"),
            format!(
                "DESKTOP-{}",
                ids.machine("personal-device")[..7].to_uppercase()
            ),
        )
    }

    /// Appends a successful interactive sign-in record.
    pub(crate) fn record_sign_in(
        &mut self,
        user_id: &str,
        at: DateTime<Utc>,
        place: &Place,
        app: &str,
        from: SignInFrom,
    ) {
        let id = self.next_guid("sign-in");
        let correlation = self.next_guid("correlation");
        let device = match from {
            SignInFrom::OwnLaptop => self
                .machines
                .iter()
                .find(|m| m.primary_user.as_deref() == Some(user_id))
                .map_or_else(
                    || json!({"deviceId": "", "displayName": "", "operatingSystem": "Windows 10", "browser": "Edge 131.0.0", "isCompliant": false, "isManaged": false, "trustType": ""}),
                    |m| json!({
                        "deviceId": m.aad_device_id,
                        "displayName": m.host_name(),
                        "operatingSystem": "Windows",
                        "browser": "Edge 131.0.0",
                        "isCompliant": true,
                        "isManaged": true,
                        "trustType": "AzureAd",
                    }),
                ),
            SignInFrom::PersonalDevice => {
                let (device_id, name) = self.personal_device();
                json!({"deviceId": device_id, "displayName": name, "operatingSystem": "Windows 11", "browser": "Chrome 131.0.0", "isCompliant": false, "isManaged": false, "trustType": "Workplace"})
            }
            SignInFrom::Unknown => {
                json!({"deviceId": "", "displayName": "", "operatingSystem": "Linux", "browser": "Firefox 133.0", "isCompliant": false, "isManaged": false, "trustType": ""})
            }
        };
        let Some(user) = self.user(user_id) else {
            return;
        };
        let octet = 10 + self.sequence % 200;
        let record = json!({
            "id": id,
            "createdDateTime": at,
            "userDisplayName": user.display_name,
            "userPrincipalName": user.user_principal_name,
            "userId": user.id,
            "appId": "00000002-0000-0ff1-ce00-000000000000",
            "appDisplayName": app,
            "ipAddress": format!("{}.{octet}", place.network),
            "clientAppUsed": "Browser",
            "correlationId": correlation,
            "conditionalAccessStatus": "notApplied",
            "isInteractive": true,
            "riskDetail": "none",
            "riskLevelAggregated": "none",
            "riskLevelDuringSignIn": "none",
            "riskState": "none",
            "riskEventTypes_v2": [],
            "resourceDisplayName": app,
            "resourceId": "00000002-0000-0ff1-ce00-000000000000",
            "status": {"errorCode": 0, "failureReason": "Other.", "additionalDetails": null},
            "deviceDetail": device,
            "location": {
                "city": place.city,
                "state": place.state,
                "countryOrRegion": place.country,
                "geoCoordinates": {"altitude": null, "latitude": place.latitude, "longitude": place.longitude}
            },
            "appliedConditionalAccessPolicies": []
        });
        self.sign_ins.push(record);
    }
}
