//! Steward's configuration: defaults, then a TOML file (`--config`), then environment variables
//! (`STEWARD_…`), then command-line flags; each layer overrides the one before.
//!
//! Environment variables name keys with `__` between levels: `STEWARD_HTTP__LISTEN` sets
//! `http.listen`. `STEWARD_DATABASE_URL` is accepted as a shorter name for
//! `STEWARD_DATABASE__URL`.
//!
//! (About 880 lines of code on purpose: every configuration key with its default, its
//! environment variable and its validation in one place, as the README's configuration table
//! lists them.)

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
    value::{Uncased, UncasedStr},
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use steward_core::{
    audit::AuditConfig, auth::AuthConfig, decisions::policy::PolicyConfig, secrets::SecretsConfig,
    settings::InvalidSetting, storage::DatabaseConfig,
};
use steward_integrations::egress::{AllowedTarget, EgressPolicy};
use url::Url;

/// The prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "STEWARD_";

/// Environment variables with the prefix that are not configuration keys.
const NON_CONFIG_VARIABLES: [&str; 3] = ["config", "test_database_url", "test_backend"];

/// The effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where Steward keeps local state: the SQLite database (unless `database.url` points
    /// elsewhere) and, later, keys and generated files.
    pub data_dir: PathBuf,
    /// The externally visible base URL (`https://steward.example.com`): the OIDC redirect and
    /// links in messages are built from it, and cookies are marked `Secure` when it is https.
    /// Defaults to `http://` and the listen address.
    pub public_url: Option<Url>,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub audit: AuditConfig,
    pub auth: AuthConfig,
    pub oidc: OidcConfig,
    pub policy: PolicyConfig,
    pub secrets: SecretsConfig,
    pub sandbox: SandboxConfig,
    pub egress: EgressConfig,
    pub worker: WorkerConfig,
    pub guardrails: GuardrailsConfig,
    pub approvals: ApprovalsConfig,
    pub email: EmailConfig,
    pub ingest: IngestConfig,
    pub log: LogConfig,
}

/// The `[ingest]` section: limits of the log ingest endpoint
/// (`POST /api/v1/ingest/{integration_id}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Events one request may carry; a larger batch is refused with 413.
    pub max_batch_events: u32,
    /// Events one tenant may send per minute, across its integrations; a batch beyond it is
    /// refused with 429 and `Retry-After`, and nothing of it is stored.
    pub events_per_minute: u32,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_batch_events: 5_000,
            events_per_minute: 60_000,
        }
    }
}

impl IngestConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems: Vec<InvalidSetting> = [
            ("ingest.max_batch_events", self.max_batch_events),
            ("ingest.events_per_minute", self.events_per_minute),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(key, _)| InvalidSetting::new(key, "must be at least 1"))
        .collect();
        // A batch larger than a minute's budget could never be taken.
        if self.max_batch_events > self.events_per_minute {
            problems.push(InvalidSetting::new(
                "ingest.max_batch_events",
                "must not exceed ingest.events_per_minute",
            ));
        }
        problems
    }
}

/// The `[email]` section: approval requests by email over SMTP. Off until `smtp_host` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (the submission port, 587), `tls` (465) or `none` (a local relay).
    pub security: String,
    pub username: Option<String>,
    #[serde(serialize_with = "steward_core::settings::redact_secret")]
    pub password: Option<SecretString>,
    /// The sender: `Steward <steward@msp.example>`.
    pub from: String,
    /// How long an approval link works at most, in hours (never past the request's expiry).
    pub link_ttl_hours: u32,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_host: None,
            smtp_port: 587,
            security: "starttls".to_owned(),
            username: None,
            password: None,
            from: "Steward <steward@localhost>".to_owned(),
            link_ttl_hours: 24,
        }
    }
}

impl EmailConfig {
    fn security(&self) -> Option<steward_workers::SmtpSecurity> {
        match self.security.as_str() {
            "starttls" => Some(steward_workers::SmtpSecurity::StartTls),
            "tls" => Some(steward_workers::SmtpSecurity::Tls),
            "none" => Some(steward_workers::SmtpSecurity::None),
            _ => None,
        }
    }

    fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems = Vec::new();
        if self.security().is_none() {
            problems.push(InvalidSetting::new(
                "email.security",
                "must be starttls, tls or none",
            ));
        }
        if self.link_ttl_hours == 0 {
            problems.push(InvalidSetting::new(
                "email.link_ttl_hours",
                "must be at least 1",
            ));
        }
        if self.username.is_some() != self.password.is_some() {
            problems.push(InvalidSetting::new(
                "email",
                "set both email.username and email.password, or neither",
            ));
        }
        problems
    }

    /// The mail settings, when email is configured.
    #[must_use]
    pub fn settings(&self, public_base: &str) -> Option<steward_workers::MailSettings> {
        let host = self.smtp_host.clone()?;
        Some(steward_workers::MailSettings {
            host,
            port: self.smtp_port,
            security: self.security()?,
            username: self.username.clone(),
            password: self.password.clone(),
            from: self.from.clone(),
            public_base: public_base.to_owned(),
            link_ttl: std::time::Duration::from_secs(u64::from(self.link_ttl_hours) * 3600),
        })
    }
}

/// The `[approvals]` section: how long approval requests stay open.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    /// Minutes until an unanswered request expires, which rejects the action (never approves
    /// it).
    pub expire_after_minutes: u32,
    /// Minutes until an unanswered request also goes to the next approvers (MSP admins after
    /// technicians, the customer's owner after its approvers).
    pub escalate_after_minutes: u32,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        let timing = steward_domain::actions::ApprovalTiming::default();
        Self {
            expire_after_minutes: timing.expire_after_minutes,
            escalate_after_minutes: timing.escalate_after_minutes,
        }
    }
}

impl ApprovalsConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        [
            ("approvals.expire_after_minutes", self.expire_after_minutes),
            (
                "approvals.escalate_after_minutes",
                self.escalate_after_minutes,
            ),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(key, _)| InvalidSetting::new(key, "must be at least 1"))
        .collect()
    }

    /// The deadlines of approval requests.
    #[must_use]
    pub fn timing(&self) -> steward_domain::actions::ApprovalTiming {
        steward_domain::actions::ApprovalTiming {
            expire_after_minutes: self.expire_after_minutes,
            escalate_after_minutes: self.escalate_after_minutes,
        }
    }
}

/// The `[guardrails]` section: when automatic execution falls back to asking a person,
/// whatever the authority policy says. Counted over the last hour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailsConfig {
    /// Automatic actions per tenant per hour.
    pub tenant_automatic_per_hour: u32,
    /// Automatic actions per MSP (all its tenants) per hour.
    pub msp_automatic_per_hour: u32,
    /// Failed actions in a tenant within an hour that open its circuit breaker.
    pub tenant_failures_to_open: u32,
    /// Failed actions across an MSP within an hour that open every tenant's breaker.
    pub msp_failures_to_open: u32,
}

impl Default for GuardrailsConfig {
    fn default() -> Self {
        let limits = steward_domain::guardrails::AutomationLimits::default();
        Self {
            tenant_automatic_per_hour: limits.tenant_automatic_per_hour,
            msp_automatic_per_hour: limits.msp_automatic_per_hour,
            tenant_failures_to_open: limits.tenant_failures_to_open,
            msp_failures_to_open: limits.msp_failures_to_open,
        }
    }
}

impl GuardrailsConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        [
            (
                "guardrails.tenant_automatic_per_hour",
                self.tenant_automatic_per_hour,
            ),
            (
                "guardrails.msp_automatic_per_hour",
                self.msp_automatic_per_hour,
            ),
            (
                "guardrails.tenant_failures_to_open",
                self.tenant_failures_to_open,
            ),
            ("guardrails.msp_failures_to_open", self.msp_failures_to_open),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(key, _)| InvalidSetting::new(key, "must be at least 1"))
        .collect()
    }

    /// The limits the policies hold automation to.
    #[must_use]
    pub fn limits(&self) -> steward_domain::guardrails::AutomationLimits {
        steward_domain::guardrails::AutomationLimits {
            tenant_automatic_per_hour: self.tenant_automatic_per_hour,
            msp_automatic_per_hour: self.msp_automatic_per_hour,
            tenant_failures_to_open: self.tenant_failures_to_open,
            msp_failures_to_open: self.msp_failures_to_open,
        }
    }
}

/// The `[worker]` section: background jobs (vendor sync, triage, executing actions).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Run the workers inside `steward serve` (and `steward demo`), so one process does
    /// everything. Turn off when running `steward worker` processes of their own.
    pub embedded: bool,
    /// Jobs one worker runs at once.
    pub concurrency: usize,
    /// How often every integration is synchronized, in seconds.
    pub sync_interval_secs: u64,
    /// How often an idle worker looks for jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// How often a worker reports it is alive, in seconds.
    pub heartbeat_secs: u64,
    /// Reports a worker may miss before its running jobs go to another worker.
    pub missed_heartbeats: usize,
    /// How long an action's verification may take before it counts as failed (and a
    /// reversible action is rolled back), in seconds.
    pub verify_timeout_secs: u64,
    /// Pause between two verification polls, in milliseconds.
    pub verify_interval_ms: u64,
    /// An action in flight that has not moved for this long (seconds) is handed to a worker
    /// again.
    pub stall_after_secs: u64,
    /// How often approval requests are checked for escalation and expiry, in seconds.
    pub approval_check_secs: u64,
    /// Synchronizations of one vendor that may call it at once, across every worker process
    /// (a tenant takes at most one of them at a time).
    pub vendor_concurrency: u32,
    /// Wait before a job whose try failed retryably runs again, in seconds; it doubles with
    /// each further failed try.
    pub retry_first_secs: u64,
    /// The longest wait between two tries of a failing job, in seconds.
    pub retry_max_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            concurrency: 4,
            sync_interval_secs: 300,
            poll_interval_ms: 500,
            heartbeat_secs: 10,
            missed_heartbeats: 3,
            verify_timeout_secs: 120,
            verify_interval_ms: 2000,
            stall_after_secs: 600,
            approval_check_secs: 30,
            vendor_concurrency: 4,
            retry_first_secs: 5,
            retry_max_secs: 600,
        }
    }
}

impl WorkerConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        [
            ("worker.concurrency", self.concurrency as u64),
            ("worker.sync_interval_secs", self.sync_interval_secs),
            ("worker.poll_interval_ms", self.poll_interval_ms),
            ("worker.heartbeat_secs", self.heartbeat_secs),
            ("worker.missed_heartbeats", self.missed_heartbeats as u64),
            ("worker.verify_timeout_secs", self.verify_timeout_secs),
            ("worker.verify_interval_ms", self.verify_interval_ms),
            ("worker.stall_after_secs", self.stall_after_secs),
            ("worker.approval_check_secs", self.approval_check_secs),
            (
                "worker.vendor_concurrency",
                u64::from(self.vendor_concurrency),
            ),
            ("worker.retry_first_secs", self.retry_first_secs),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(key, _)| InvalidSetting::new(key, "must be at least 1"))
        .chain(
            // An action still being verified would look stalled and go to a second worker.
            (self.stall_after_secs <= self.verify_timeout_secs).then(|| {
                InvalidSetting::new(
                    "worker.stall_after_secs",
                    "must be longer than worker.verify_timeout_secs",
                )
            }),
        )
        .chain((self.retry_max_secs < self.retry_first_secs).then(|| {
            InvalidSetting::new(
                "worker.retry_max_secs",
                "must be at least worker.retry_first_secs",
            )
        }))
        .collect()
    }

    /// The workers' settings.
    #[must_use]
    pub fn settings(&self) -> steward_workers::WorkerSettings {
        use std::time::Duration;
        steward_workers::WorkerSettings {
            concurrency: self.concurrency,
            poll_interval: Duration::from_millis(self.poll_interval_ms),
            sync_interval: Duration::from_secs(self.sync_interval_secs),
            liveness: steward_workers::Liveness {
                heartbeat: Duration::from_secs(self.heartbeat_secs),
                missed_heartbeats: self.missed_heartbeats,
            },
            verify_timeout: Duration::from_secs(self.verify_timeout_secs),
            verify_interval: Duration::from_millis(self.verify_interval_ms),
            stall_after: Duration::from_secs(self.stall_after_secs),
            approval_check: Duration::from_secs(self.approval_check_secs),
            vendor_concurrency: self.vendor_concurrency,
            job_retry: steward_workers::JobRetry {
                first: Duration::from_secs(self.retry_first_secs),
                max: Duration::from_secs(self.retry_max_secs),
            },
        }
    }
}

/// The `[sandbox]` section: Steward's simulation of vendor APIs, for demos and trials.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Serve simulated Microsoft Defender for Endpoint and Microsoft Graph APIs under
    /// `/sandbox`, with a generated customer per tenant, and allow running scenarios. Never
    /// enable on a deployment that manages real customers. `steward demo` turns it on.
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            public_url: None,
            http: HttpConfig::default(),
            database: DatabaseConfig::default(),
            audit: AuditConfig::default(),
            auth: AuthConfig::default(),
            oidc: OidcConfig::default(),
            policy: PolicyConfig::default(),
            secrets: SecretsConfig::default(),
            sandbox: SandboxConfig::default(),
            egress: EgressConfig::default(),
            worker: WorkerConfig::default(),
            guardrails: GuardrailsConfig::default(),
            approvals: ApprovalsConfig::default(),
            email: EmailConfig::default(),
            ingest: IngestConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// The `[egress]` section: private destinations the deployment's operator lets Steward call.
///
/// Vendor integrations and outbound webhooks otherwise reach public `https` addresses only
/// (see `steward_integrations::egress`); an MSP admin cannot widen that, only the operator can,
/// here. The sandbox's own listener is added when `[sandbox] enabled`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgressConfig {
    /// Addresses (`10.0.0.5`), networks (`10.0.0.0/8`) or addresses with a port
    /// (`10.0.0.5:8443`) that may be called although they are private, loopback or link-local,
    /// over https or plain http.
    pub allow: Vec<String>,
}

impl EgressConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        self.allow
            .iter()
            .filter_map(|entry| entry.parse::<AllowedTarget>().err())
            .map(|problem| InvalidSetting::new("egress.allow", problem))
            .collect()
    }
}

impl Config {
    /// Where the sandbox is reached from inside this deployment: the listener, on loopback
    /// when it listens on every interface. Integrations pointed at the sandbox use it, not the
    /// public URL, because the sandbox is served by this very process.
    #[must_use]
    pub fn sandbox_base(&self) -> String {
        format!("http://{}", loopback_form(self.http.listen))
    }

    /// The deployment's egress rule: `[egress] allow`, and the sandbox's listener when the
    /// sandbox is enabled.
    #[must_use]
    pub fn egress(&self) -> EgressPolicy {
        let mut allow: Vec<AllowedTarget> = self
            .egress
            .allow
            .iter()
            .filter_map(|entry| entry.parse().ok())
            .collect();
        if self.sandbox.enabled {
            let listener = loopback_form(self.http.listen);
            allow.push(AllowedTarget::address(listener.ip(), Some(listener.port())));
        }
        EgressPolicy::allowing(allow)
    }

    /// The base URL people reach Steward at, without a trailing slash.
    #[must_use]
    pub fn public_base(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.http.listen),
        }
    }
}

/// The `[oidc]` section: single sign-on with an OpenID Connect provider. All of issuer,
/// client id and client secret, or none.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// The provider's issuer URL; its discovery document is at
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<Url>,
    pub client_id: Option<String>,
    #[serde(serialize_with = "steward_core::settings::redact_secret")]
    pub client_secret: Option<SecretString>,
    /// The sign-in button's label.
    pub button_label: String,
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            button_label: "Sign in with SSO".to_owned(),
        }
    }
}

impl OidcConfig {
    /// Whether single sign-on is configured.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.issuer.is_some()
    }

    fn validate(&self) -> Vec<InvalidSetting> {
        let set = [
            self.issuer.is_some(),
            self.client_id.is_some(),
            self.client_secret.is_some(),
        ];
        if set.iter().any(|s| *s) && !set.iter().all(|s| *s) {
            return vec![InvalidSetting::new(
                "oidc",
                "set all of oidc.issuer, oidc.client_id and oidc.client_secret, or none",
            )];
        }
        match &self.issuer {
            Some(url) if !matches!(url.scheme(), "https" | "http") => vec![InvalidSetting::new(
                "oidc.issuer",
                "must be an https (or, for testing, http) URL",
            )],
            _ => Vec::new(),
        }
    }
}

/// The address this process is reached at from itself: a listener on every interface
/// (`0.0.0.0`, `::`) is reached on loopback.
fn loopback_form(listen: SocketAddr) -> SocketAddr {
    match listen.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], listen.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), listen.port())
        }
        _ => listen,
    }
}

/// The data directory when none is configured, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./steward-data";

/// The `[http]` section: the listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Requests taking longer are answered with 408 and their work is cancelled.
    pub request_timeout_seconds: u64,
    /// Larger request bodies are refused with 413 before they are read.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            request_timeout_seconds: 30,
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl HttpConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        let mut problems = Vec::new();
        if self.request_timeout_seconds == 0 {
            problems.push(InvalidSetting::new(
                "http.request_timeout_seconds",
                "must be at least 1",
            ));
        }
        if self.max_body_bytes < 1024 {
            problems.push(InvalidSetting::new(
                "http.max_body_bytes",
                "must be at least 1024",
            ));
        }
        problems
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Which events to log, in `tracing` filter syntax (`info`, `steward=debug,info`).
    /// `RUST_LOG`, when set, takes precedence.
    pub filter: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info,sea_orm_migration=warn,sqlx::postgres::notice=warn".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogConfig {
    fn validate(&self) -> Vec<InvalidSetting> {
        match tracing_subscriber::EnvFilter::builder().parse(&self.filter) {
            Ok(_) => Vec::new(),
            Err(err) => vec![InvalidSetting::new("log.filter", err.to_string())],
        }
    }
}

/// Values given on the command line, which override every other source.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
}

/// A configuration that cannot be used, with every problem found.
#[derive(Debug)]
pub struct ConfigError {
    problems: Vec<String>,
}

impl ConfigError {
    /// Each problem on its own, naming its key and where the value came from.
    #[must_use]
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid configuration")?;
        for problem in &self.problems {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Loads the configuration from every source and validates it.
    ///
    /// # Errors
    /// Every problem found: unreadable or malformed file, unknown keys, values of the wrong
    /// type, values that make no sense. Each names its key.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_from(file, overrides, Env::prefixed(ENV_PREFIX))
    }

    fn load_from(
        file: Option<&Path>,
        overrides: &Overrides,
        env: Env,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError {
                    problems: vec![format!(
                        "the configuration file {} does not exist or is not a file",
                        file.display()
                    )],
                });
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(env.filter_map(config_key_of_variable));
        if let Some(data_dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("data_dir", data_dir));
        }
        if let Some(listen) = overrides.listen {
            figment = figment.merge(Serialized::default("http.listen", listen));
        }

        // Every unknown key at once (deserializing stops at the first): a file with several
        // typos is mended in one go.
        let unknown = unknown_keys(&figment);
        if !unknown.is_empty() {
            return Err(ConfigError { problems: unknown });
        }
        let config: Config = figment.extract().map_err(|err| ConfigError {
            problems: err
                .into_iter()
                .map(|err| describe_figment_error(&err))
                .collect(),
        })?;
        let problems: Vec<String> = config
            .http
            .validate()
            .into_iter()
            .chain(config.database.validate())
            .chain(config.audit.validate())
            .chain(config.auth.validate())
            .chain(config.oidc.validate())
            .chain(config.policy.validate())
            .chain(config.secrets.validate())
            .chain(config.egress.validate())
            .chain(config.worker.validate())
            .chain(config.guardrails.validate())
            .chain(config.approvals.validate())
            .chain(config.email.validate())
            .chain(config.ingest.validate())
            .chain(config.log.validate())
            .map(|problem| problem.to_string())
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The configuration as TOML with secrets redacted, for `steward config`.
    ///
    /// # Panics
    /// Never: every field has a TOML form.
    #[must_use]
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes to TOML")
    }

    /// Environment variables with the `STEWARD_` prefix that match no configuration key; these
    /// are ignored and worth a warning (a typo in a top-level name).
    #[must_use]
    pub fn unknown_variables() -> Vec<String> {
        std::env::vars()
            .filter_map(|(name, _)| {
                let key = name.strip_prefix(ENV_PREFIX)?.to_ascii_lowercase();
                let known = NON_CONFIG_VARIABLES.contains(&key.as_str())
                    || config_key_of_variable(UncasedStr::new(&key)).is_some();
                (!known).then_some(name)
            })
            .collect()
    }
}

/// Maps the part of a variable's name after `STEWARD_` to a configuration key, or `None` when
/// it names none.
fn config_key_of_variable(name: &UncasedStr) -> Option<Uncased<'_>> {
    const TOP_LEVEL: [&str; 17] = [
        "data_dir",
        "public_url",
        "http",
        "database",
        "audit",
        "auth",
        "oidc",
        "policy",
        "secrets",
        "sandbox",
        "egress",
        "worker",
        "guardrails",
        "approvals",
        "email",
        "ingest",
        "log",
    ];
    if name == "database_url" {
        return Some("database.url".into());
    }
    let key = name.as_str().to_ascii_lowercase().replace("__", ".");
    let top = key.split('.').next().unwrap_or_default();
    TOP_LEVEL.contains(&top).then(|| key.into())
}

/// Every key the sources set that no configuration section has, each with where it was set.
fn unknown_keys(figment: &Figment) -> Vec<String> {
    fn walk(
        figment: &Figment,
        provided: &serde_json::Value,
        known: &serde_json::Value,
        prefix: &str,
        problems: &mut Vec<String>,
    ) {
        let (Some(provided), Some(known)) = (provided.as_object(), known.as_object()) else {
            return;
        };
        for (key, value) in provided {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match known.get(key) {
                Some(section @ serde_json::Value::Object(_)) => {
                    walk(figment, value, section, &path, problems);
                }
                Some(_) => {}
                None => {
                    let mut expected: Vec<&str> = known.keys().map(String::as_str).collect();
                    expected.sort_unstable();
                    let origin = figment
                        .find_metadata(&path)
                        .map(|metadata| origin_of(metadata, &path));
                    problems.push(format!(
                        "{path}: unknown key; expected one of: {}{}",
                        expected.join(", "),
                        origin.map(|o| format!(" (from {o})")).unwrap_or_default()
                    ));
                }
            }
        }
    }
    let (Ok(provided), Ok(known)) = (
        figment.extract::<serde_json::Value>(),
        serde_json::to_value(Config::default()),
    ) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    walk(figment, &provided, &known, "", &mut problems);
    problems
}

/// Where a key's value came from: a file, or the environment variable that set it.
fn origin_of(metadata: &figment::Metadata, key: &str) -> String {
    if metadata.name.contains("environment") {
        format!(
            "environment variable {ENV_PREFIX}{}",
            key.replace('.', "__").to_ascii_uppercase()
        )
    } else {
        match &metadata.source {
            Some(source) => format!("{} {source}", metadata.name),
            None => metadata.name.to_string(),
        }
    }
}

fn describe_figment_error(err: &figment::Error) -> String {
    use figment::error::Kind;

    let mut key = err.path.join(".");
    let problem = match &err.kind {
        Kind::UnknownField(field, expected) => {
            // figment puts the unknown field at the end of the path already.
            if key.is_empty() {
                key.clone_from(field);
            }
            if expected.is_empty() {
                "unknown key".to_owned()
            } else {
                format!("unknown key; expected one of: {}", expected.join(", "))
            }
        }
        Kind::InvalidType(actual, expected) => format!("found {actual}, expected {expected}"),
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value {actual}, expected {expected}")
        }
        Kind::UnknownVariant(actual, expected) => {
            format!(
                "unknown value {actual:?}; expected one of: {}",
                expected.join(", ")
            )
        }
        other => other.to_string(),
    };
    let origin = err
        .metadata
        .as_ref()
        .map(|metadata| origin_of(metadata, &key));
    match (key.is_empty(), origin) {
        (true, Some(origin)) => format!("{origin}: {problem}"),
        (true, None) => problem,
        (false, Some(origin)) => format!("{key}: {problem} (from {origin})"),
        (false, None) => format!("{key}: {problem}"),
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment's Jail returns its own error type"
)]
mod tests {
    use std::io::Write;

    use figment::Jail;

    use super::*;

    fn load_in_jail(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load(file, &Overrides::default())
    }

    #[test]
    fn defaults_need_no_configuration() {
        Jail::expect_with(|_| {
            let config = load_in_jail(None).expect("defaults are valid");
            assert_eq!(config.http.listen, "127.0.0.1:8080".parse().unwrap());
            assert_eq!(config.data_dir, PathBuf::from("./steward-data"));
            assert!(config.database.url.is_none());
            Ok(())
        });
    }

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "steward.toml",
                "data_dir = \"/srv/from-file\"\n[http]\nlisten = \"0.0.0.0:9000\"\nrequest_timeout_seconds = 5\n",
            )?;
            jail.set_env("STEWARD_HTTP__LISTEN", "127.0.0.1:9100");
            jail.set_env(
                "STEWARD_DATABASE_URL",
                "postgres://steward:pw@db:5432/steward",
            );
            let overrides = Overrides {
                data_dir: Some("/srv/from-flag".into()),
                listen: None,
            };
            let config = Config::load(Some(Path::new("steward.toml")), &overrides).unwrap();
            assert_eq!(config.data_dir, PathBuf::from("/srv/from-flag"));
            assert_eq!(config.http.listen, "127.0.0.1:9100".parse().unwrap());
            assert_eq!(config.http.request_timeout_seconds, 5);
            assert_eq!(
                config.database.url.as_ref().map(|url| url.expose()),
                Some("postgres://steward:pw@db:5432/steward")
            );
            Ok(())
        });
    }

    #[test]
    fn nested_database_variable_works_too() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_DATABASE__URL", "sqlite:///tmp/x.db");
            jail.set_env("STEWARD_DATABASE__MAX_CONNECTIONS", "3");
            let config = load_in_jail(None).unwrap();
            assert_eq!(config.database.max_connections, 3);
            assert!(config.database.url.is_some());
            Ok(())
        });
    }

    fn problems_of(result: Result<Config, ConfigError>) -> Vec<String> {
        result
            .expect_err("the configuration must be refused")
            .problems
    }

    #[test]
    fn wrong_types_name_the_key_and_the_source() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_HTTP__LISTEN", "not-an-address");
            let problems = problems_of(load_in_jail(None));
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(problems[0].starts_with("http.listen: "), "{problems:?}");
            assert!(problems[0].contains("STEWARD_HTTP__LISTEN"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.create_file("steward.toml", "[database]\nmax_conections = 4\n")?;
            let problems = problems_of(load_in_jail(Some(Path::new("steward.toml"))));
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with("database.max_conections: unknown key; expected one of:"),
                "{problems:?}"
            );
            assert!(problems[0].contains("max_connections"), "{problems:?}");
            assert!(problems[0].contains("steward.toml"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn every_unknown_key_is_reported_at_once() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "steward.toml",
                "colour = \"blue\"\n[http]\nlissen = \"127.0.0.1:1\"\n[database]\nmax_conections = 4\n[shiny]\nx = 1\n",
            )?;
            jail.set_env("STEWARD_WORKER__CONCURENCY", "2");
            let problems = problems_of(load_in_jail(Some(Path::new("steward.toml"))));
            let keys: Vec<&str> = problems
                .iter()
                .map(|p| p.split(':').next().unwrap())
                .collect();
            assert_eq!(problems.len(), 5, "{problems:?}");
            for expected in [
                "colour",
                "http.lissen",
                "database.max_conections",
                "shiny",
                "worker.concurency",
            ] {
                assert!(keys.contains(&expected), "{expected} in {problems:?}");
            }
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("environment variable STEWARD_WORKER__CONCURENCY")),
                "{problems:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn values_that_make_no_sense_are_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_DATABASE__MAX_CONNECTIONS", "0");
            jail.set_env("STEWARD_LOG__FILTER", "info,[");
            let problems = problems_of(load_in_jail(None));
            assert_eq!(problems.len(), 2, "{problems:?}");
            assert!(problems[0].starts_with("database.max_connections: must be at least 1"));
            assert!(problems[1].starts_with("log.filter: "), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn an_action_cannot_look_stalled_while_it_may_still_be_verifying() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_WORKER__VERIFY_TIMEOUT_SECS", "300");
            jail.set_env("STEWARD_WORKER__STALL_AFTER_SECS", "300");
            let problems = problems_of(load_in_jail(None));
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].starts_with(
                    "worker.stall_after_secs: must be longer than worker.verify_timeout_secs"
                ),
                "{problems:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn unsupported_database_urls_are_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_DATABASE_URL", "mysql://root@localhost/steward");
            let problems = problems_of(load_in_jail(None));
            assert!(problems[0].starts_with("database.url: "), "{problems:?}");
            assert!(problems[0].contains("mysql"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn malformed_toml_is_refused_with_its_location() {
        Jail::expect_with(|jail| {
            let mut file = jail.create_file("steward.toml", "")?;
            file.write_all(b"[http\nlisten = 1\n").unwrap();
            let problems = problems_of(load_in_jail(Some(Path::new("steward.toml"))));
            assert!(problems[0].contains("steward.toml"), "{problems:?}");
            assert!(problems[0].contains("line 1"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_file_is_an_error() {
        Jail::expect_with(|_| {
            let problems = problems_of(load_in_jail(Some(Path::new("nope.toml"))));
            assert!(problems[0].contains("nope.toml"), "{problems:?}");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted_in_the_printed_configuration() {
        Jail::expect_with(|jail| {
            jail.set_env(
                "STEWARD_DATABASE_URL",
                "postgres://steward:hunter2@db/steward",
            );
            let printed = load_in_jail(None).unwrap().to_redacted_toml();
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(
                printed.contains("postgres://steward:***@db/steward"),
                "{printed}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_audit_signing_key_is_redacted_and_validated() {
        Jail::expect_with(|jail| {
            // 32 bytes of 0x07, base64.
            jail.set_env(
                "STEWARD_AUDIT__SIGNING_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            );
            let printed = load_in_jail(None).unwrap().to_redacted_toml();
            assert!(
                printed.contains("signing_key = \"[redacted]\""),
                "{printed}"
            );
            assert!(!printed.contains("BwcHBw"), "{printed}");

            jail.set_env("STEWARD_AUDIT__SIGNING_KEY", "dG9vIHNob3J0");
            let problems = problems_of(load_in_jail(None));
            assert!(
                problems[0].starts_with("audit.signing_key: expected 32 bytes"),
                "{problems:?}"
            );
            Ok(())
        });
    }

    #[test]
    fn single_sign_on_needs_all_three_settings() {
        Jail::expect_with(|jail| {
            jail.set_env("STEWARD_OIDC__ISSUER", "https://id.example.com");
            jail.set_env("STEWARD_OIDC__CLIENT_ID", "steward");
            let problems = problems_of(load_in_jail(None));
            assert!(problems[0].starts_with("oidc: set all of"), "{problems:?}");

            jail.set_env("STEWARD_OIDC__CLIENT_SECRET", "s3cret-value");
            jail.set_env("STEWARD_PUBLIC_URL", "https://steward.example.com/");
            let config = load_in_jail(None).unwrap();
            assert!(config.oidc.is_enabled());
            assert_eq!(config.public_base(), "https://steward.example.com");
            let printed = config.to_redacted_toml();
            assert!(!printed.contains("s3cret-value"), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn every_section_can_be_set_from_the_environment() {
        let printed: toml::Table = toml::from_str(&Config::default().to_redacted_toml()).unwrap();
        for key in printed.keys() {
            assert!(
                config_key_of_variable(UncasedStr::new(key)).is_some(),
                "STEWARD_{} would be ignored",
                key.to_ascii_uppercase()
            );
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("STEWARD_WORKER__EMBEDDED", "false");
            jail.set_env("STEWARD_WORKER__HEARTBEAT_SECS", "1");
            jail.set_env("STEWARD_SANDBOX__ENABLED", "true");
            let config = load_in_jail(None).unwrap();
            assert!(!config.worker.embedded);
            assert_eq!(config.worker.heartbeat_secs, 1);
            assert!(config.sandbox.enabled);
            assert!(Config::unknown_variables().is_empty());
            Ok(())
        });
    }

    #[test]
    fn variables_outside_the_configuration_are_reported_not_applied() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("STEWARD_DATABSE_URL", "postgres://typo@db/steward");
            jail.set_env("STEWARD_TEST_BACKEND", "sqlite");
            let config = load_in_jail(None).unwrap();
            assert!(config.database.url.is_none());
            assert_eq!(
                Config::unknown_variables(),
                vec!["STEWARD_DATABSE_URL".to_owned()]
            );
            Ok(())
        });
    }
}
