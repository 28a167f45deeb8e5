//! The governed loop's harness: the API with the sandbox, a tenant connected to the simulated
//! Microsoft Defender for Endpoint and Microsoft Graph, its people with tokens, and a real
//! worker running the jobs.

use std::{path::Path, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_core::{
    Clock,
    decisions::policy::{AuthorityPolicy, Policies, PolicySet},
};
use steward_domain::{
    actions::ApprovalTiming,
    guardrails::AutomationLimits,
    tenancy::{Role, Tenant},
};
use steward_integrations::http::RetryPolicy;
use steward_sandbox::SandboxCredentials;
use steward_testkit::{TestDatabase, World};
use steward_workers::{
    JobRetry, Liveness, MailSettings, Mailer, Shared, SmtpSecurity, WorkerSettings,
};
use tokio::sync::watch;

use super::{TestApp, test_secrets};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Loop {
    pub world: World,
    pub app: TestApp,
    pub tenant: Tenant,
    pub admin: String,
    pub technician: String,
    pub owner: String,
    pub approver: String,
    pub stranger: String,
    /// What the worker's jobs reach, to run a job's code directly once the worker is stopped.
    pub shared: Shared,
    stop: watch::Sender<bool>,
    worker: Option<tokio::task::JoinHandle<()>>,
    /// The database of a loop started over one of its own; dropped after everything else.
    db: Option<TestDatabase>,
}

pub fn fast_settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 2,
        poll_interval: Duration::from_millis(50),
        sync_interval: Duration::from_secs(3600),
        liveness: Liveness {
            heartbeat: Duration::from_secs(2),
            missed_heartbeats: 2,
        },
        verify_timeout: Duration::from_secs(5),
        verify_interval: Duration::from_millis(100),
        stall_after: Duration::from_secs(600),
        approval_check: Duration::from_millis(100),
        vendor_concurrency: 4,
        job_retry: JobRetry {
            first: Duration::from_millis(200),
            max: Duration::from_secs(2),
        },
    }
}

pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_retries: 6,
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ..RetryPolicy::default()
    }
}

pub async fn start(db: &TestDatabase, policy_dir: Option<&Path>) -> Loop {
    start_with(db, policy_dir, fast_settings(), None).await
}

/// The loop for a customer licensed for Defender's advanced hunting (which [`start`] leaves
/// off), its devices known, as they are once a customer is onboarded.
pub async fn start_with_hunting(db: &TestDatabase) -> Loop {
    let l = start(db, None).await;
    l.sandbox()
        .set_advanced_hunting(l.tenant.id.as_uuid(), true)
        .await
        .unwrap();
    l.sync_all().await;
    l
}

/// As [`start`] with the built-in policies, over a fresh migrated database the loop keeps.
pub async fn start_fresh() -> Loop {
    let db = TestDatabase::migrated().await;
    let mut l = start(&db, None).await;
    l.db = Some(db);
    l
}

/// As [`start_fresh`], every integration synchronized once: the inventory is known.
pub async fn start_synced() -> Loop {
    let l = start_fresh().await;
    l.sync_all().await;
    l
}

/// As [`start`], with these worker settings and, when given, another clock for the worker.
pub async fn start_with(
    db: &TestDatabase,
    policy_dir: Option<&Path>,
    settings: WorkerSettings,
    worker_clock: Option<Arc<dyn Clock>>,
) -> Loop {
    start_full(
        db,
        policy_dir,
        settings,
        worker_clock,
        |p| p,
        Mail::Nowhere,
        &[],
    )
    .await
}

/// Where the worker sends approval emails.
#[derive(Debug, Clone, Copy)]
pub enum Mail {
    Nowhere,
    /// An SMTP server on this loopback port.
    Smtp(u16),
    /// The sandbox's mailbox, as `steward demo` does.
    Sandbox,
}

/// As [`start`], sending approval requests by email to this SMTP port.
pub async fn start_mailing(db: &TestDatabase, smtp_port: u16) -> Loop {
    start_mailing_with(db, smtp_port, fast_settings()).await
}

/// As [`start_mailing`], with these worker settings.
pub async fn start_mailing_with(
    db: &TestDatabase,
    smtp_port: u16,
    settings: WorkerSettings,
) -> Loop {
    start_full(db, None, settings, None, |p| p, Mail::Smtp(smtp_port), &[]).await
}

/// As [`start`], sending approval emails to the sandbox's mailbox.
pub async fn start_with_sandbox_mail(db: &TestDatabase) -> Loop {
    start_full(db, None, fast_settings(), None, |p| p, Mail::Sandbox, &[]).await
}

/// As [`start`], with these limits on automatic execution (for the API and the worker).
pub async fn start_limited(db: &TestDatabase, limits: AutomationLimits) -> Loop {
    start_full(
        db,
        None,
        fast_settings(),
        None,
        |p| p.with_limits(limits),
        Mail::Nowhere,
        &[],
    )
    .await
}

/// As [`start`], with these approval deadlines.
pub async fn start_timed(db: &TestDatabase, timing: ApprovalTiming) -> Loop {
    start_full(
        db,
        None,
        fast_settings(),
        None,
        |p| p.with_approval_timing(timing),
        Mail::Nowhere,
        &[],
    )
    .await
}

/// As [`start`], the worker also reaching these loopback addresses (webhook receivers): the
/// worker's egress allow-list holds the sandbox's listener and these only, as an operator's
/// would.
pub async fn start_allowing(
    db: &TestDatabase,
    policy_dir: Option<&Path>,
    allowed: &[std::net::SocketAddr],
) -> Loop {
    start_full(
        db,
        policy_dir,
        fast_settings(),
        None,
        |p| p,
        Mail::Nowhere,
        allowed,
    )
    .await
}

async fn start_full(
    db: &TestDatabase,
    policy_dir: Option<&Path>,
    settings: WorkerSettings,
    worker_clock: Option<Arc<dyn Clock>>,
    configure: impl FnOnce(Policies) -> Policies,
    mail: Mail,
    allowed: &[std::net::SocketAddr],
) -> Loop {
    let world = World::new(db).await;
    let people = super::harbor_people(&world).await;
    let (msp, tenant) = (&people.msp, &people.tenant);
    let other_msp = world.msp("elsewhere").await;
    let approver = world
        .user(
            msp.id,
            "approver@acme.example",
            Role::CustomerApprover,
            Some(tenant.id),
        )
        .await;
    let stranger = world
        .user(
            other_msp.id,
            "admin@elsewhere.example",
            Role::MspAdmin,
            None,
        )
        .await;
    for user in [&people.admin, &people.technician, &people.owner, &approver] {
        world.set_password(user, PASSWORD).await;
    }
    let set = PolicySet::load(policy_dir).unwrap();
    let policies = configure(Policies::new(
        AuthorityPolicy::new(&set, Duration::from_secs(1)),
        Duration::from_secs(1),
    ));
    // As in `steward serve` with embedded workers: a person's "sync now" and the workers wait
    // out the same vendors.
    let backoff = steward_workers::VendorBackoff::default();
    let app = TestApp::for_world_with_sandbox_and(
        &world,
        test_secrets(),
        policies.clone(),
        backoff.clone(),
    )
    .await;
    let credentials = app.sandbox_customer(tenant).await;
    // The loop's tests follow one vendor alert at a time; the rows of Defender's advanced
    // hunting would add Sigma findings whose order against the alert depends on which vendor
    // answers first. `detections_in_the_loop.rs` turns it on.
    app.sandbox
        .as_ref()
        .unwrap()
        .set_advanced_hunting(tenant.id.as_uuid(), false)
        .await
        .unwrap();
    let [admin, technician, owner] = people.tokens(&world).await;
    for (vendor, api) in [
        ("microsoft_defender", "defender"),
        ("microsoft_graph", "graph"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                &format!("/api/v1/tenants/{}/integrations", tenant.id),
                Some(&admin),
                Some(&connect_body(&app, &credentials, vendor, api)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (stop, stopped) = watch::channel(false);
    let shared = Shared {
        storage: world.storage.clone(),
        clock: worker_clock.unwrap_or_else(|| world.shared_clock()),
        keys: Arc::clone(&world.keys),
        secrets: Arc::new(test_secrets()),
        policies,
        vendor_retries: quick_retries(),
        settings: Arc::new(settings),
        mailer: match mail {
            Mail::Nowhere => None,
            Mail::Smtp(port) => Some(Arc::new(
                Mailer::new(&MailSettings {
                    host: "127.0.0.1".to_owned(),
                    port,
                    security: SmtpSecurity::None,
                    username: None,
                    password: None,
                    from: "Steward <steward@harbor.example>".to_owned(),
                    public_base: app.base.clone(),
                    link_ttl: Duration::from_secs(24 * 3600),
                })
                .unwrap(),
            )),
            Mail::Sandbox => Some(Arc::new(Mailer::to_drop(
                Arc::new(steward_server::sandbox::SandboxMailbox(
                    app.sandbox.clone().unwrap(),
                )),
                &app.base,
                Duration::from_secs(24 * 3600),
            ))),
        },
        backoff,
        shutdown: stopped,
        rounds: steward_workers::Rounds::default(),
        egress: {
            let sandbox: std::net::SocketAddr = app
                .base
                .trim_start_matches("http://")
                .parse()
                .expect("the app listens on an address");
            steward_integrations::egress::EgressPolicy::allowing(
                std::iter::once(sandbox)
                    .chain(allowed.iter().copied())
                    .map(|address| {
                        steward_integrations::egress::AllowedTarget::address(
                            address.ip(),
                            Some(address.port()),
                        )
                    }),
            )
        },
    };
    let running = shared.clone();
    let worker = tokio::spawn(async move {
        steward_workers::run(running).await.unwrap();
    });
    Loop {
        approver: world.token(&approver, None).await,
        stranger: world.token(&stranger, None).await,
        admin,
        technician,
        owner,
        tenant: people.tenant,
        world,
        app,
        shared,
        stop,
        worker: Some(worker),
        db: None,
    }
}

/// A policy folder whose authority policy does not compile.
pub fn broken_policy_dir() -> tempfile::TempDir {
    policy_dir("package steward.authority\n\ndecision := {\"outcome\": \n")
}

/// A policy folder whose authority policy is `source`.
pub fn policy_dir(source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("authority")).unwrap();
    std::fs::write(dir.path().join("authority/authority.rego"), source).unwrap();
    dir
}

pub fn connect_body(
    app: &TestApp,
    credentials: &SandboxCredentials,
    vendor: &str,
    api: &str,
) -> Value {
    json!({
        "vendor": vendor,
        "name": vendor,
        "settings": {
            "directory_id": credentials.directory_id,
            "client_id": credentials.client_id,
            "api_base_url": app.url(&format!("/sandbox/{api}/")),
            "login_base_url": app.url("/sandbox/login/"),
        },
        "client_secret": credentials.client_secret,
    })
}

impl Loop {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.app.call(method, path, Some(token), body).await
    }

    /// Resolves the incident as a true positive, as the technician.
    pub async fn resolve_incident(&self, incident_id: &str) -> Value {
        self.resolve_incident_as(incident_id, "true_positive").await
    }

    /// Resolves the incident with this `verdict`, as the technician, who must succeed.
    pub async fn resolve_incident_as(&self, incident_id: &str, verdict: &str) -> Value {
        let (status, body) = self
            .call(
                Method::PATCH,
                &self.path(&format!("incidents/{incident_id}")),
                &self.technician,
                Some(&json!({"status": "resolved", "verdict": verdict})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub fn path(&self, rest: &str) -> String {
        format!("/api/v1/tenants/{}/{rest}", self.tenant.id)
    }

    /// GETs `rest` of the tenant's API (as [`Self::path`] names it) as whoever holds `token`.
    pub async fn get(&self, rest: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &self.path(rest), token, None).await
    }

    /// The body answering a bodiless `method` to the tenant's `rest`, whose status is `expected`.
    pub async fn send(
        &self,
        method: Method,
        rest: &str,
        token: &str,
        expected: StatusCode,
    ) -> Value {
        let (status, body) = self.call(method, &self.path(rest), token, None).await;
        assert_eq!(status, expected, "{body}");
        body
    }

    /// The items of the tenant's list at `rest`, as whoever holds `token`, who must succeed.
    pub async fn items(&self, rest: &str, token: &str) -> Vec<Value> {
        let list = self.send(Method::GET, rest, token, StatusCode::OK).await;
        super::list(&list, "items").to_vec()
    }

    /// The tenant's incidents, as the technician lists them.
    pub async fn incidents(&self) -> Vec<Value> {
        self.items("incidents", &self.technician).await
    }

    /// The tenant's risk entries (up to 200), as the technician lists them.
    pub async fn risks(&self) -> Vec<Value> {
        self.items("risk?limit=200", &self.technician).await
    }

    /// The tenant's integrations, as the MSP admin lists them.
    pub async fn integrations(&self) -> Vec<Value> {
        self.items("integrations", &self.admin).await
    }

    /// The id of the tenant's integration with `vendor`.
    pub async fn integration_id(&self, vendor: &str) -> String {
        let integrations = self.integrations().await;
        integrations
            .iter()
            .find(|i| i["vendor"] == vendor)
            .and_then(|i| i["id"].as_str())
            .unwrap_or_else(|| panic!("no {vendor} integration: {integrations:#?}"))
            .to_owned()
    }

    /// Creates an ingest key for the integration as the MSP admin; returns the answer.
    pub async fn create_ingest_key(&self, integration: &str) -> Value {
        let rest = format!("integrations/{integration}/ingest-key");
        self.send(Method::POST, &rest, &self.admin, StatusCode::OK)
            .await
    }

    /// Asks for the action's rollback as whoever holds `token`.
    pub async fn roll_back_as(&self, action: &Value, token: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &self.path(&format!(
                "actions/{}/rollback",
                action["id"].as_str().unwrap()
            )),
            token,
            None,
        )
        .await
    }

    /// Asks for the action's rollback as the technician.
    pub async fn roll_back(&self, action: &Value) -> (StatusCode, Value) {
        self.roll_back_as(action, &self.technician).await
    }

    /// Whether the sandbox's device `machine_id` is isolated now.
    pub async fn isolated(&self, machine_id: &str) -> Value {
        item(&self.sandbox_state().await, "devices", machine_id)["isolated"].clone()
    }

    pub async fn run_scenario(&self, scenario: &str) -> Value {
        let rest = format!("sandbox/scenarios/{scenario}/run");
        self.send(Method::POST, &rest, &self.technician, StatusCode::OK)
            .await
    }

    pub async fn actions(&self) -> Vec<Value> {
        self.items("actions", &self.technician).await
    }

    /// The action `id` as it is now, as the technician reads it (who must succeed).
    pub async fn action_by_id(&self, id: &str) -> Value {
        let rest = format!("actions/{id}");
        self.send(Method::GET, &rest, &self.technician, StatusCode::OK)
            .await
    }

    /// As [`Self::action_by_id`], for the action an earlier answer showed.
    pub async fn action(&self, action: &Value) -> Value {
        self.action_by_id(action["id"].as_str().unwrap()).await
    }

    /// The status of the (one) action of this type.
    pub async fn status_of(&self, kind: &str) -> Value {
        self.actions()
            .await
            .into_iter()
            .find(|a| a["type"] == kind)
            .unwrap_or_else(|| panic!("no {kind} action"))["status"]
            .clone()
    }

    /// The action of this type once the loop has settled; it must be in one of `statuses`.
    pub async fn settled_action(&self, kind: &str, statuses: &[&str]) -> Value {
        self.settled(&format!("a {kind} action"), |a| {
            a["type"] == kind && statuses.iter().any(|s| a["status"] == *s)
        })
        .await
    }

    /// The action `id` once the loop has settled; it must be in one of `statuses`.
    pub async fn settled_action_id(&self, id: &str, statuses: &[&str]) -> Value {
        self.settled(&format!("action {id} in {statuses:?}"), |a| {
            a["id"] == id && statuses.iter().any(|s| a["status"] == *s)
        })
        .await
    }

    /// The action that is as `wanted` says once the loop has settled; panics naming `what`
    /// when there is none.
    async fn settled(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.settle().await;
        let actions = self.actions().await;
        actions
            .iter()
            .find(|a| wanted(a))
            .cloned()
            .unwrap_or_else(|| panic!("no {what} once the loop settled; actions: {actions:#?}"))
    }

    /// Waits until the loop is quiet: every job due within ten seconds has run, and a round of
    /// the scheduler's chores began after the call (so a clock moved before it was acted on).
    /// Panics with what is left when that takes more than a minute.
    pub async fn settle(&self) -> steward_workers::Backlog {
        self.settle_within(Duration::from_secs(10)).await
    }

    /// As [`Self::settle`], waiting only for the jobs due within `horizon`.
    pub async fn settle_within(&self, horizon: Duration) -> steward_workers::Backlog {
        steward_workers::settle(&self.shared, horizon, Duration::from_secs(60))
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// The simulated vendors.
    pub fn sandbox(&self) -> &steward_sandbox::Sandbox {
        self.app
            .sandbox
            .as_ref()
            .expect("the loop serves the sandbox")
    }

    /// The tenant's simulated customer's credentials.
    pub async fn credentials(&self) -> SandboxCredentials {
        self.app.sandbox_customer(&self.tenant).await
    }

    /// Creates an integration as the MSP admin; returns it.
    async fn connect(&self, body: &Value) -> Value {
        let (status, created) = self
            .call(
                Method::POST,
                &self.path("integrations"),
                &self.admin,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created
    }

    /// Connects the tenant's simulated Okta org (with `credential`, the field's current name);
    /// returns the integration.
    pub async fn connect_okta(&self) -> Value {
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "okta",
            "name": "Okta",
            "settings": {
                "org_url": self.app.url(&format!("/sandbox/okta/{}", credentials.okta_org)),
            },
            "credential": credentials.okta_api_token,
        }))
        .await
    }

    /// Connects the tenant's simulated CrowdStrike Falcon (as the MSP's API client with the
    /// customer's member CID); returns the integration.
    pub async fn connect_falcon(&self) -> Value {
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "crowdstrike_falcon",
            "name": "Falcon",
            "settings": {
                "client_id": credentials.falcon_client_id,
                "api_base_url": self.app.url("/sandbox/falcon/"),
                "member_cid": credentials.falcon_cid.to_uppercase(),
            },
            "credential": credentials.falcon_client_secret,
        }))
        .await
    }

    /// Connects the MSP's simulated NinjaOne for the tenant's organization; returns the
    /// integration.
    pub async fn connect_ninjaone(&self) -> Value {
        let credentials = self.credentials().await;
        let instance = self.app.url("/sandbox/ninjaone/");
        self.connect(&super::ninjaone_integration(&credentials, &instance))
            .await
    }

    /// Connects the MSP's simulated Tactical RMM server for the tenant's client; returns the
    /// integration.
    pub async fn connect_tactical(&self) -> Value {
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "tactical_rmm",
            "name": "Tactical RMM",
            "settings": {
                "api_url": self.app.url("/sandbox/tactical/"),
                "client_id": credentials.tactical_client_id,
            },
            "credential": credentials.tactical_api_key,
        }))
        .await
    }

    /// Connects the MSP's simulated Veeam Service Provider Console for the tenant's company;
    /// returns the integration.
    pub async fn connect_veeam(&self) -> Value {
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "veeam_spc",
            "name": "Veeam",
            "settings": {
                "api_url": self.app.url("/sandbox/veeam/api/v3/"),
                "company_uid": credentials.veeam_company_uid,
            },
            "credential": credentials.veeam_api_key,
        }))
        .await
    }

    /// Connects the MSP's simulated HaloPSA for the tenant's client; returns the integration.
    pub async fn connect_halopsa(&self) -> Value {
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "halopsa",
            "name": "HaloPSA",
            "settings": {
                "instance_url": self.app.url("/sandbox/halopsa/"),
                "tenant": steward_sandbox::halopsa::TENANT,
                "client_id": credentials.halo_application_id,
                "customer_client_id": credentials.halo_client_id,
            },
            "credential": credentials.halo_application_secret,
        }))
        .await
    }

    /// Connects the MSP's simulated ConnectWise Manage for the tenant's company; returns the
    /// integration.
    pub async fn connect_connectwise(&self) -> Value {
        use steward_sandbox::connectwise::{BOARD_ID, COMPANY_ID};
        let credentials = self.credentials().await;
        self.connect(&json!({
            "vendor": "connectwise_manage",
            "name": "ConnectWise Manage",
            "settings": {
                "site_url": self.app.url("/sandbox/connectwise/"),
                "company_id": COMPANY_ID,
                "public_key": credentials.cw_public_key,
                "client_id": credentials.cw_client_id,
                "customer_company_id": credentials.cw_company_record_id,
                "board_id": BOARD_ID,
            },
            "credential": credentials.cw_private_key,
        }))
        .await
    }

    /// Synchronizes every integration of the tenant, and waits until the work it queued (risk
    /// of what changed) is done.
    pub async fn sync_all(&self) {
        for integration in self.integrations().await {
            self.sync_now(integration["id"].as_str().unwrap()).await;
        }
        self.settled_audit_actions().await;
    }

    /// A person's "sync now" of `integration`, as the MSP admin: the report.
    pub async fn sync_now(&self, integration: &str) -> Value {
        let rest = format!("integrations/{integration}/sync");
        self.send(Method::POST, &rest, &self.admin, StatusCode::OK)
            .await
    }

    /// Sets the tenant's automation level, as the MSP admin.
    pub async fn set_automation_level(&self, level: u8) -> (StatusCode, Value) {
        self.call(
            Method::PATCH,
            &format!("/api/v1/tenants/{}", self.tenant.id),
            &self.admin,
            Some(&json!({ "automation_level": level })),
        )
        .await
    }

    /// Approves or rejects (`verb`) the action as whoever holds `token`.
    pub async fn answer_as(&self, action: &Value, token: &str, verb: &str) -> (StatusCode, Value) {
        let body = json!({ "version": action["version"] });
        self.answer_with_body(action, token, verb, &body).await
    }

    /// As [`Self::answer_as`], with a comment.
    pub async fn answer_with_comment(
        &self,
        action: &Value,
        token: &str,
        verb: &str,
        comment: &str,
    ) -> (StatusCode, Value) {
        let body = json!({ "version": action["version"], "comment": comment });
        self.answer_with_body(action, token, verb, &body).await
    }

    /// Approves or rejects (`verb`) the action as whoever holds `token`, with this body.
    async fn answer_with_body(
        &self,
        action: &Value,
        token: &str,
        verb: &str,
        body: &Value,
    ) -> (StatusCode, Value) {
        let id = action["id"].as_str().unwrap();
        self.call(
            Method::POST,
            &self.path(&format!("actions/{id}/{verb}")),
            token,
            Some(body),
        )
        .await
    }

    /// Approves or rejects (`verb`) the action as the technician, who must succeed.
    pub async fn answer(&self, action: &Value, verb: &str) {
        let (status, body) = self.answer_as(action, &self.technician, verb).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The tenant's `devices` or `identities`, as the API lists them.
    pub async fn inventory(&self, kind: &str) -> Vec<Value> {
        self.items(&format!("{kind}?limit=100"), &self.technician)
            .await
    }

    /// Proposes an action (`body` of `POST …/actions`) as the MSP admin, with an
    /// `Idempotency-Key` when given; returns the status and the answer.
    pub async fn propose(&self, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .app
            .client
            .post(self.app.url(&self.path("actions")))
            .bearer_auth(&self.admin)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Connects the MSP to Slack (`PUT /api/v1/msp/slack`) as whoever holds `token`.
    pub async fn connect_slack(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, "/api/v1/msp/slack", token, Some(body))
            .await
    }

    /// Settings connecting the MSP to the sandbox's Slack workspace, its technician and admin
    /// linked.
    pub fn slack_settings(&self) -> Value {
        use steward_sandbox::slack::CHANNEL;
        let workspace = self.sandbox().slack_secrets();
        json!({
            "api_base_url": self.app.url("/sandbox/slack/api/"),
            "channel": CHANNEL,
            "bot_token": workspace.bot_token,
            "signing_secret": workspace.signing_secret,
            "users": {"U0TECH0001": "tech@harbor.example", "U0ADMIN001": "admin@harbor.example"},
        })
    }

    pub async fn sandbox_state(&self) -> Value {
        let (status, state) = self
            .call(
                Method::GET,
                &format!("/sandbox/state/{}", self.tenant.id),
                &self.technician,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{state}");
        state
    }

    /// Switches a sandbox fault on for the tenant's simulated customer.
    pub async fn inject(&self, fault: steward_sandbox::Fault) {
        self.app
            .sandbox
            .as_ref()
            .unwrap()
            .inject(self.tenant.id.as_uuid(), fault)
            .await
            .unwrap();
    }

    /// The risk of entity `id` once the loop has settled; it must be as `wanted` says (`what`
    /// names it in the panic).
    pub async fn settled_risk(
        &self,
        id: &str,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        self.settle().await;
        let now = self
            .risks()
            .await
            .into_iter()
            .find(|r| r["entity"]["id"] == id)
            .unwrap_or(Value::Null);
        assert!(wanted(&now), "{what} never came to be; its risk: {now:#}");
        now
    }

    /// The actions of the MSP's own audit chain (users, settings, webhooks).
    pub async fn audit_actions_of_msp(&self) -> Vec<String> {
        self.audit_actions_at("/api/v1/audit").await
    }

    /// The tenant's audit chain once the loop has settled: nothing left to run.
    pub async fn settled_audit_actions(&self) -> Vec<String> {
        self.settle().await;
        self.audit_actions().await
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.audit_actions_at(&self.path("audit")).await
    }

    /// Asserts that the tenant's audit chain records each of `events` exactly `times` times.
    pub async fn assert_audited(&self, events: &[&str], times: usize) {
        let audit = self.audit_actions().await;
        for event in events {
            let count = audit.iter().filter(|a| a == event).count();
            assert_eq!(count, times, "{event} in {audit:?}");
        }
    }

    /// The vendor ids of the tenant's stored events of OCSF `class` (e.g. `authentication`),
    /// every page, as the technician lists them.
    pub async fn event_ids(&self, class: &str) -> Vec<String> {
        let path = self.path(&format!("events?class={class}"));
        self.every_page(&path, &self.technician, "external_id")
            .await
    }

    async fn audit_actions_at(&self, base: &str) -> Vec<String> {
        self.every_page(base, &self.admin, "action").await
    }

    /// `field` of every item of the list at `base` (a path, perhaps with a query), every page,
    /// as whoever holds `token`, who must succeed.
    async fn every_page(&self, base: &str, token: &str, field: &str) -> Vec<String> {
        let joiner = if base.contains('?') { '&' } else { '?' };
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("{base}{joiner}limit=200&cursor={c}"),
                None => format!("{base}{joiner}limit=200"),
            };
            let (status, page) = self.call(Method::GET, &path, token, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            found.extend(
                super::strings(&page, "items", field)
                    .into_iter()
                    .map(str::to_owned),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return found,
            }
        }
    }

    /// Stops the worker and waits for it; the API keeps serving.
    pub async fn stop_worker(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), worker)
            .await
            .expect("the worker stops")
            .unwrap();
        // Steps run by hand from here on belong to a process that is not shutting down.
        let (running, not_stopping) = watch::channel(false);
        self.shared.shutdown = not_stopping;
        self.stop = running;
    }

    pub async fn stop(mut self) {
        self.stop_worker().await;
    }
}

/// The item of `state[list]` (the sandbox's `devices` or `users`) with this vendor id.
pub fn item(state: &Value, list: &str, id: &str) -> Value {
    super::list(state, list)
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no {list} {id} in {state:#}"))
        .clone()
}

/// The incidents holding a finding that is as `wanted` says.
pub fn with_finding(incidents: &[Value], wanted: impl Fn(&Value) -> bool) -> Vec<&Value> {
    incidents
        .iter()
        .filter(|i| super::list(i, "findings").iter().any(&wanted))
        .collect()
}

/// The reasons of a decision: an action's `decision`, or a what-if's.
pub fn reasons(decision: &Value) -> Vec<&str> {
    super::list(decision, "reasons")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// How many times the sandbox's Defender, in `state`, was asked to isolate `machine_id`.
pub fn isolations(state: &Value, machine_id: &str) -> usize {
    super::list(state, "machine_actions")
        .iter()
        .filter(|a| a["machine_id"] == machine_id && a["kind"] == "Isolate")
        .count()
}
