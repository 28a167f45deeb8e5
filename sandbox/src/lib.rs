//! The sandbox: Steward's own simulation of the vendor APIs its connectors call, with the
//! mailbox and Slack workspace a demo's approvals go to.
//!
//! Vendor clouds are unreachable from demos and tests, so the sandbox serves the Microsoft
//! identity platform's token endpoint, Defender for Endpoint and Microsoft Graph on Steward's own
//! listener under `/sandbox`, over one generated customer environment per Steward tenant. It
//! behaves like the vendors where connectors can go wrong: client-credentials tokens that expire
//! and are checked per resource, OData paging (`$top`/`$skip` for Defender, `@odata.nextLink`
//! for Graph), each vendor's throttling with `Retry-After`, each vendor's error bodies, machine
//! actions that take several polls to finish. Scenarios add the vendor records of an incident;
//! faults make actions fail or get reverted so failure paths can be shown.
//!
//! Environments are kept in memory and written through to a [`EnvironmentStore`] after every
//! change, so they survive restarts. One process owns the sandbox (the one serving HTTP).

// The vendor records are large `json!` literals.
#![recursion_limit = "256"]
#![expect(
    clippy::result_large_err,
    reason = "handlers and their helpers short-circuit with the vendor's error response, which \
              lives for one request"
)]

pub mod connectwise;
pub mod datto;
pub mod environment;
pub mod falcon;
pub mod halopsa;
mod kit;
pub mod mailbox;
mod microsoft;
pub mod ninjaone;
pub mod odata;
pub mod okta;
pub mod scenarios;
pub mod slack;
pub mod tactical;
mod throttle;
pub mod veeam;

use std::{collections::HashMap, fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use steward_domain::clock::Clock;
use tokio::sync::Mutex;
use uuid::Uuid;

pub(crate) use self::kit::{param, query};
use self::throttle::Throttle;
pub use self::{
    environment::{AuthMethodKind, Environment, Fault},
    scenarios::{Scenario, ScenarioRun},
    throttle::{Api, ThrottleLimits},
};

/// A boxed future, for the object-safe store trait.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where environments are persisted.
pub trait EnvironmentStore: Send + Sync + fmt::Debug {
    /// Every stored environment document.
    fn load_all(&self) -> StoreFuture<'_, Result<Vec<serde_json::Value>, String>>;
    /// Replaces the document of `tenant_id`'s environment.
    fn save(
        &self,
        tenant_id: Uuid,
        document: serde_json::Value,
    ) -> StoreFuture<'_, Result<(), String>>;
}

/// Why a sandbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("no sandbox environment for tenant {0}")]
    NoEnvironment(Uuid),
    #[error("{0}")]
    NotApplicable(String),
    #[error("sandbox storage failed: {0}")]
    Store(String),
}

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    pub limits: ThrottleLimits,
    /// Lifetime of issued access tokens (the identity platform issues one-hour tokens).
    pub token_lifetime: Duration,
    /// The simulated Slack workspace's credentials.
    pub slack: slack::SlackWorkspaceSecrets,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            limits: ThrottleLimits::default(),
            token_lifetime: Duration::from_secs(3599),
            slack: slack::SlackWorkspaceSecrets::generate(),
        }
    }
}

/// The app-registration credentials of a simulated customer, to configure integrations with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxCredentials {
    pub directory_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// The Okta org, served under `/sandbox/okta/{okta_org}/`.
    pub okta_org: String,
    /// Its SSWS API token.
    pub okta_api_token: String,
    /// The CrowdStrike customer id of the customer's Falcon, served under `/sandbox/falcon/`.
    pub falcon_cid: String,
    /// The Falcon API client's id and secret.
    pub falcon_client_id: String,
    pub falcon_client_secret: String,
    /// The customer's organization in the MSP's NinjaOne, served under `/sandbox/ninjaone/`.
    pub ninja_organization_id: u32,
    /// The NinjaOne API client's id and secret.
    pub ninja_client_id: String,
    pub ninja_client_secret: String,
    /// The customer's client on the MSP's Tactical RMM server, served under
    /// `/sandbox/tactical/`, and the API key of a user limited to it.
    pub tactical_client_id: u32,
    pub tactical_api_key: String,
    /// The customer's company in the MSP's Veeam Service Provider Console, served under
    /// `/sandbox/veeam/api/v3/`, and the API key Steward uses.
    pub veeam_company_uid: Uuid,
    pub veeam_api_key: String,
    /// The customer's client in the MSP's HaloPSA, served under `/sandbox/halopsa/`, and the
    /// API application (client credentials) Steward uses.
    pub halo_client_id: u32,
    pub halo_application_id: String,
    pub halo_application_secret: String,
    /// The customer's company record in the MSP's ConnectWise Manage, served under
    /// `/sandbox/connectwise/`, and the API member's keys and integrator `clientId`.
    pub cw_company_record_id: u32,
    pub cw_public_key: String,
    pub cw_private_key: String,
    pub cw_client_id: String,
    /// The MSP's Datto partner API keys (one pair for every customer), served under
    /// `/sandbox/datto/v1/`, and the customer's company as the partner portal names it.
    pub datto_public_key: String,
    pub datto_secret_key: String,
    pub datto_client_company_name: String,
}

/// The vendor-side state of one simulated customer, for people and tests to check what
/// actions really did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxState {
    pub tenant_id: Uuid,
    pub directory_id: String,
    pub domain: String,
    pub devices: Vec<DeviceState>,
    pub users: Vec<UserState>,
    pub groups: Vec<GroupState>,
    pub machine_actions: Vec<MachineActionState>,
    pub defender_alerts: usize,
    pub security_alerts: usize,
    pub sign_ins: usize,
    /// The customer's tickets in the MSP's PSAs.
    #[serde(default)]
    pub tickets: Vec<TicketState>,
    pub faults: Vec<Fault>,
}

/// A ticket in one of the MSP's PSAs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TicketState {
    /// `halo_psa` or `connect_wise`.
    pub system: environment::PsaSystem,
    pub id: u64,
    pub summary: String,
    pub status_id: u32,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceState {
    pub id: String,
    pub computer_dns_name: String,
    pub tags: Vec<String>,
    pub isolated: bool,
    /// The machine's CrowdStrike Falcon host id and containment status (`normal`,
    /// `containment_pending`, `contained`, `lift_containment_pending`).
    pub falcon_id: String,
    pub falcon_status: String,
    /// Whether an EDR sensor runs on it (Defender and Falcon list only machines with one).
    pub edr_sensor: bool,
    /// Its NinjaOne device id and the agent's last contact, when the RMM manages it.
    pub ninja_id: Option<u64>,
    pub ninja_last_contact: Option<DateTime<Utc>>,
    /// Its Tactical RMM agent id (the same machines are on both RMMs).
    #[serde(default)]
    pub tactical_agent_id: Option<String>,
    pub serial_number: String,
    /// What the RMMs' library scripts switched on the device (`smb1`, `usb_storage`,
    /// `print_spooler`: `false` once turned off); a setting not listed is on.
    pub settings: std::collections::BTreeMap<String, bool>,
    /// Its Veeam backup agent's id and newest restore point, when the MSP backs it up.
    pub veeam_agent: Option<Uuid>,
    pub latest_restore_point: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserState {
    pub id: String,
    pub user_principal_name: String,
    pub department: String,
    pub admin_roles: Vec<String>,
    pub account_enabled: bool,
    pub sign_in_sessions_valid_from: DateTime<Utc>,
    /// The second factors the user has registered (kinds), without the password.
    pub mfa_methods: Vec<AuthMethodKind>,
    /// The user's Okta id and status (`ACTIVE` or `SUSPENDED`).
    pub okta_id: String,
    pub okta_status: String,
    /// The names of the security groups the user is a member of.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupState {
    pub id: String,
    pub display_name: String,
    /// Member user ids.
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineActionState {
    pub id: String,
    pub kind: String,
    pub machine_id: String,
    pub status: String,
    pub requestor_comment: String,
}

#[derive(Debug)]
struct IssuedToken {
    tenant_id: Uuid,
    api: Api,
    expires: tokio::time::Instant,
}

/// The simulated vendors. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn EnvironmentStore>,
    clock: Arc<dyn Clock>,
    settings: SandboxSettings,
    environments: Mutex<HashMap<Uuid, Environment>>,
    tokens: std::sync::Mutex<HashMap<String, IssuedToken>>,
    throttle: Throttle,
    slack: Mutex<slack::Workspace>,
    mailbox: Mutex<Vec<mailbox::SandboxMail>>,
    okta_limits: okta::RateLimits,
    falcon: falcon::FalconState,
    ninja: ninjaone::NinjaState,
    /// The Veeam console's injected storms (it throttles nothing else).
    veeam: throttle::Storms,
    halo: halopsa::HaloState,
    /// ConnectWise Manage's injected storms (it throttles nothing else).
    connectwise: throttle::Storms,
    datto: datto::DattoState,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// The simulated Slack workspace's credentials, to connect an MSP to it.
    #[must_use]
    pub fn slack_secrets(&self) -> &slack::SlackWorkspaceSecrets {
        &self.inner.settings.slack
    }

    /// Opens the sandbox with the environments `store` holds.
    ///
    /// # Errors
    /// [`SandboxError::Store`] when the store cannot be read or holds an unreadable document.
    pub async fn open(
        store: Arc<dyn EnvironmentStore>,
        clock: Arc<dyn Clock>,
        settings: SandboxSettings,
    ) -> Result<Self, SandboxError> {
        let mut environments = HashMap::new();
        for document in store.load_all().await.map_err(SandboxError::Store)? {
            let environment: Environment = serde_json::from_value(document)
                .map_err(|e| SandboxError::Store(format!("unreadable environment: {e}")))?;
            environments.insert(environment.tenant_id, environment);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                throttle: Throttle::new(settings.limits.clone()),
                settings,
                environments: Mutex::new(environments),
                tokens: std::sync::Mutex::default(),
                slack: Mutex::default(),
                mailbox: Mutex::default(),
                okta_limits: okta::RateLimits::default(),
                falcon: falcon::FalconState::default(),
                ninja: ninjaone::NinjaState::default(),
                veeam: throttle::Storms::default(),
                halo: halopsa::HaloState::default(),
                connectwise: throttle::Storms::default(),
                datto: datto::DattoState::default(),
            }),
        })
    }

    /// The vendor APIs, to be nested under `/sandbox`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        microsoft::router(self.clone())
            .merge(okta::router(self.clone()))
            .merge(falcon::router(self.clone()))
            .merge(ninjaone::router(self.clone()))
            .merge(tactical::router(self.clone()))
            .merge(veeam::router(self.clone()))
            .merge(halopsa::router(self.clone()))
            .merge(connectwise::router(self.clone()))
            .merge(datto::router(self.clone()))
            .merge(slack::router(self.clone()))
    }

    /// Makes sure Steward tenant `tenant_id` has a simulated customer, generating it on first
    /// use, and returns the credentials of its app registration.
    ///
    /// # Errors
    /// [`SandboxError::Store`] when a new environment cannot be saved.
    pub async fn ensure(
        &self,
        tenant_id: Uuid,
        name: &str,
        slug: &str,
    ) -> Result<SandboxCredentials, SandboxError> {
        let mut environments = self.inner.environments.lock().await;
        if let Some(existing) = environments.get(&tenant_id) {
            return Ok(credentials(existing));
        }
        let environment = Environment::generate(tenant_id, name, slug, self.inner.clock.now());
        self.persist(&environment).await?;
        let credentials = credentials(&environment);
        environments.insert(tenant_id, environment);
        Ok(credentials)
    }

    /// Grows `tenant_id`'s customer to `machines` machines and `users` people (see
    /// [`Environment::scale`]), for benchmarks.
    ///
    /// # Errors
    /// [`SandboxError::NoEnvironment`] for a tenant without one.
    pub async fn scale(
        &self,
        tenant_id: Uuid,
        machines: usize,
        users: usize,
    ) -> Result<(), SandboxError> {
        self.mutate(tenant_id, |environment| environment.scale(machines, users))
            .await
    }

    /// Whether `tenant_id` has a simulated customer.
    pub async fn has_environment(&self, tenant_id: Uuid) -> bool {
        self.inner
            .environments
            .lock()
            .await
            .contains_key(&tenant_id)
    }

    /// The vendor-side state of `tenant_id`'s customer.
    pub async fn state(&self, tenant_id: Uuid) -> Option<SandboxState> {
        let now = self.inner.clock.now();
        let environments = self.inner.environments.lock().await;
        environments.get(&tenant_id).map(|e| state_of(e, now))
    }

    /// Adds the vendor records of `scenario` to `tenant_id`'s customer.
    ///
    /// # Errors
    /// [`SandboxError::NoEnvironment`] for a tenant without one.
    pub async fn run_scenario(
        &self,
        tenant_id: Uuid,
        scenario: Scenario,
    ) -> Result<ScenarioRun, SandboxError> {
        let now = self.inner.clock.now();
        self.mutate(tenant_id, |environment| scenario.run(environment, now))
            .await?
    }

    /// Makes the next `requests` calls of `tenant_id` to `api` answer 429.
    pub fn throttle(&self, tenant_id: Uuid, api: Api, requests: u32) {
        self.inner.throttle.storm(tenant_id, api, requests);
    }

    /// How many 429s of a storm started with [`Sandbox::throttle`] are still to be answered.
    #[must_use]
    pub fn throttling_left(&self, tenant_id: Uuid, api: Api) -> u32 {
        self.inner.throttle.storm_left(tenant_id, api)
    }

    /// Switches a fault on.
    ///
    /// # Errors
    /// [`SandboxError::NoEnvironment`] for a tenant without one.
    pub async fn inject(&self, tenant_id: Uuid, fault: Fault) -> Result<(), SandboxError> {
        self.mutate(tenant_id, |environment| environment.faults.push(fault))
            .await
    }

    /// Whether the customer's Defender licence includes advanced hunting (Plan 2 or Defender
    /// XDR; it does unless changed here): without it, Graph refuses hunting queries with 403.
    ///
    /// # Errors
    /// [`SandboxError::NoEnvironment`] for a tenant without one.
    pub async fn set_advanced_hunting(
        &self,
        tenant_id: Uuid,
        licensed: bool,
    ) -> Result<(), SandboxError> {
        self.mutate(tenant_id, |environment| {
            environment.hunting_unlicensed = !licensed;
        })
        .await
    }

    /// How long after a sign-in Microsoft Entra ID lists it in the customer's sign-in log (none
    /// unless changed here).
    ///
    /// # Errors
    /// [`SandboxError::NoEnvironment`] for a tenant without one.
    pub async fn set_sign_in_latency(
        &self,
        tenant_id: Uuid,
        latency: chrono::Duration,
    ) -> Result<(), SandboxError> {
        self.mutate(tenant_id, |environment| {
            environment.sign_in_latency_seconds = latency.num_seconds();
        })
        .await
    }

    /// Ends every access token issued for `tenant_id`, as a revoked app secret would.
    pub fn expire_tokens(&self, tenant_id: Uuid) {
        let mut tokens = self.inner.tokens.lock().expect("token map poisoned");
        tokens.retain(|_, token| token.tenant_id != tenant_id);
    }

    /// Runs `change` on an environment and writes the result through to the store.
    async fn mutate<T>(
        &self,
        tenant_id: Uuid,
        change: impl FnOnce(&mut Environment) -> T,
    ) -> Result<T, SandboxError> {
        let mut environments = self.inner.environments.lock().await;
        let environment = environments
            .get_mut(&tenant_id)
            .ok_or(SandboxError::NoEnvironment(tenant_id))?;
        let result = change(environment);
        self.persist(environment).await?;
        Ok(result)
    }

    /// Runs `change` on an environment with the next id of a ticket in `system`: a PSA numbers
    /// tickets across all its customers, so the id is one above every customer's tickets (and
    /// above `first`).
    async fn with_next_ticket_id<T>(
        &self,
        tenant_id: Uuid,
        system: environment::PsaSystem,
        first: u64,
        change: impl FnOnce(&mut Environment, u64) -> T,
    ) -> Result<T, SandboxError> {
        let mut environments = self.inner.environments.lock().await;
        let next = environments
            .values()
            .flat_map(|e| &e.psa_tickets)
            .filter(|t| t.system == system)
            .map(|t| t.id)
            .max()
            .unwrap_or(first)
            .max(first)
            + 1;
        let environment = environments
            .get_mut(&tenant_id)
            .ok_or(SandboxError::NoEnvironment(tenant_id))?;
        let result = change(environment, next);
        self.persist(environment).await?;
        Ok(result)
    }

    async fn persist(&self, environment: &Environment) -> Result<(), SandboxError> {
        let document =
            serde_json::to_value(environment).map_err(|e| SandboxError::Store(e.to_string()))?;
        self.inner
            .store
            .save(environment.tenant_id, document)
            .await
            .map_err(SandboxError::Store)
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }
}

/// Runs `read` on `tenant_id`'s customer; `None` when there is none.
async fn with_environment<T>(
    sandbox: &Sandbox,
    tenant_id: Uuid,
    read: impl FnOnce(&mut Environment) -> T,
) -> Option<T> {
    let mut environments = sandbox.inner.environments.lock().await;
    environments.get_mut(&tenant_id).map(read)
}

fn credentials(environment: &Environment) -> SandboxCredentials {
    SandboxCredentials {
        directory_id: environment.directory_id.clone(),
        client_id: environment.client_id.clone(),
        client_secret: environment.client_secret.clone(),
        okta_org: environment.okta_org().to_owned(),
        okta_api_token: environment.okta_api_token(),
        falcon_cid: environment.falcon_cid(),
        falcon_client_id: environment.falcon_client().0,
        falcon_client_secret: environment.falcon_client().1,
        ninja_organization_id: environment.ninja_organization_id(),
        ninja_client_id: environment.ninja_client().0,
        ninja_client_secret: environment.ninja_client().1,
        tactical_client_id: environment.tactical_client_id(),
        tactical_api_key: environment.tactical_api_key(),
        veeam_company_uid: environment.veeam_company_uid(),
        veeam_api_key: environment.veeam_api_key(),
        halo_client_id: environment.halo_client_id(),
        halo_application_id: environment.halo_application().0,
        halo_application_secret: environment.halo_application().1,
        cw_company_record_id: environment.cw_company_record_id(),
        cw_public_key: environment.cw_api_keys().0,
        cw_private_key: environment.cw_api_keys().1,
        cw_client_id: environment.cw_api_keys().2,
        datto_public_key: datto::partner_keys().0,
        datto_secret_key: datto::partner_keys().1,
        datto_client_company_name: environment.tenant_name.clone(),
    }
}

fn state_of(environment: &Environment, now: DateTime<Utc>) -> SandboxState {
    SandboxState {
        tenant_id: environment.tenant_id,
        directory_id: environment.directory_id.clone(),
        domain: environment.domain.clone(),
        devices: environment
            .machines
            .iter()
            .map(|m| DeviceState {
                id: m.id.clone(),
                computer_dns_name: m.computer_dns_name.clone(),
                tags: m.machine_tags.clone(),
                isolated: m.isolated,
                falcon_id: environment.falcon_device_id(m),
                falcon_status: falcon::status(m).to_owned(),
                edr_sensor: m.edr_sensor,
                ninja_id: m.ninja.as_ref().map(|a| a.device_id),
                ninja_last_contact: m.ninja.as_ref().map(|a| a.last_contact(now)),
                tactical_agent_id: m.ninja.as_ref().map(|_| tactical::agent_id(environment, m)),
                serial_number: Environment::serial_number(m),
                settings: m
                    .ninja
                    .as_ref()
                    .map(|a| a.settings.clone())
                    .unwrap_or_default(),
                veeam_agent: m.backup.as_ref().map(|b| b.agent_uid),
                latest_restore_point: m.backup.as_ref().map(|b| b.latest_restore_point(now)),
            })
            .collect(),
        users: environment
            .users
            .iter()
            .map(|u| UserState {
                id: u.id.clone(),
                user_principal_name: u.user_principal_name.clone(),
                department: u.department.clone(),
                admin_roles: environment
                    .roles
                    .iter()
                    .filter(|r| r.members.contains(&u.id))
                    .map(|r| r.display_name.clone())
                    .collect(),
                account_enabled: u.account_enabled,
                sign_in_sessions_valid_from: u.sign_in_sessions_valid_from,
                mfa_methods: u
                    .authentication_methods
                    .iter()
                    .map(|m| m.kind)
                    .filter(|k| *k != AuthMethodKind::Password)
                    .collect(),
                okta_id: environment.okta_user_id(u),
                okta_status: okta::status(u).to_owned(),
                groups: environment
                    .groups
                    .iter()
                    .filter(|g| g.members.contains(&u.id))
                    .map(|g| g.display_name.clone())
                    .collect(),
            })
            .collect(),
        groups: environment
            .groups
            .iter()
            .map(|g| GroupState {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                members: g.members.clone(),
            })
            .collect(),
        machine_actions: environment
            .machine_actions
            .iter()
            .map(|a| MachineActionState {
                id: a.id.clone(),
                kind: a.kind.clone(),
                machine_id: a.machine_id.clone(),
                status: a.status.clone(),
                requestor_comment: a.requestor_comment.clone(),
            })
            .collect(),
        defender_alerts: environment.defender_alerts.len(),
        security_alerts: environment.security_alerts.len(),
        sign_ins: environment.sign_ins.len(),
        tickets: environment
            .psa_tickets
            .iter()
            .map(|t| TicketState {
                system: t.system,
                id: t.id,
                summary: t.summary.clone(),
                status_id: t.status_id,
                notes: t.notes.clone(),
            })
            .collect(),
        faults: environment.faults.clone(),
    }
}

/// An [`EnvironmentStore`] that keeps documents in memory; for tests and throwaway sandboxes.
#[derive(Debug, Default)]
pub struct MemoryStore {
    documents: std::sync::Mutex<HashMap<Uuid, serde_json::Value>>,
}

impl EnvironmentStore for MemoryStore {
    fn load_all(&self) -> StoreFuture<'_, Result<Vec<serde_json::Value>, String>> {
        let documents = self
            .documents
            .lock()
            .expect("document map poisoned")
            .values()
            .cloned()
            .collect();
        Box::pin(async move { Ok(documents) })
    }

    fn save(
        &self,
        tenant_id: Uuid,
        document: serde_json::Value,
    ) -> StoreFuture<'_, Result<(), String>> {
        self.documents
            .lock()
            .expect("document map poisoned")
            .insert(tenant_id, document);
        Box::pin(async { Ok(()) })
    }
}
