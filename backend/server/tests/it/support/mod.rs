//! Shared harness for the server's integration tests: the real router on a real listener, or the
//! real `steward` binary, each against a fresh database.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, ChildStdout, Command, Stdio},
    sync::Arc,
    time::Duration,
};

pub mod governed;
pub mod smtp;
pub mod windows_events;

use steward_core::{Storage, SystemClock, audit::AuditKeys, auth::AuthConfig, secrets::SecretBox};
use steward_domain::tenancy::{self, Role};
use steward_sandbox::Sandbox;
use steward_server::{
    config::{HttpConfig, IngestConfig},
    http::{self, ingest::IngestLimits},
    state::{AppState, WebSettings},
};
use steward_testkit::{TestDatabase, World};

/// A `reqwest` client builder with the process's TLS provider installed (reqwest is built
/// without one of its own; Steward installs ring).
pub fn client_builder() -> reqwest::ClientBuilder {
    steward_integrations::http::install_tls_provider();
    reqwest::Client::builder()
}

/// The built-in authority policies.
pub fn builtin_policies() -> steward_core::decisions::policy::Policies {
    let timeout = Duration::from_secs(1);
    steward_core::decisions::policy::Policies::new(
        steward_core::decisions::policy::AuthorityPolicy::new(
            &steward_core::decisions::policy::PolicySet::builtin(),
            timeout,
        ),
        timeout,
    )
}

/// The egress rule of the tests' deployment: public targets, and anything on loopback — where
/// the tests serve the sandbox, webhook receivers and SMTP — as an operator would allow-list.
pub fn loopback_egress() -> steward_integrations::egress::EgressPolicy {
    steward_integrations::egress::EgressPolicy::allowing([
        "127.0.0.0/8".parse().expect("a network"),
        "::1".parse().expect("an address"),
    ])
}

/// The state of an app over the world's database, clock and audit key, without the sandbox.
fn world_state(world: &World) -> AppState {
    app_state(
        world.storage.clone(),
        world.shared_clock(),
        Arc::clone(&world.keys),
    )
}

/// The state of an app over this database, clock and audit key, without the sandbox.
fn app_state(
    storage: Storage,
    clock: Arc<dyn steward_core::Clock>,
    keys: Arc<AuditKeys>,
) -> AppState {
    AppState {
        storage,
        clock,
        keys,
        metrics: Arc::default(),
        web: Arc::default(),
        secrets: Arc::new(test_secrets()),
        sandbox: None,
        policies: builtin_policies(),
        egress: loopback_egress(),
        backoff: steward_workers::VendorBackoff::default(),
        vendor_concurrency: 4,
        ingest: IngestLimits::new(&IngestConfig::default()),
    }
}

/// A secrets key for tests that do not care which.
pub fn test_secrets() -> SecretBox {
    SecretBox::from_key(&[42; 32])
}

/// The router served in-process on a loopback port.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// The simulated vendors, when the app serves them.
    pub sandbox: Option<Sandbox>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// Serves the router over `storage`, with the real clock and a fresh audit key.
    pub async fn serve(storage: Storage) -> Self {
        Self::serve_state(app_state(
            storage,
            Arc::new(SystemClock),
            Arc::new(AuditKeys::generate().unwrap()),
        ))
        .await
    }

    /// Serves the router over the world's database, clock and audit key.
    pub async fn for_world(world: &World) -> Self {
        Self::for_world_with(world, AuthConfig::default()).await
    }

    /// As [`TestApp::for_world`], with these sign-in settings.
    pub async fn for_world_with(world: &World, auth: AuthConfig) -> Self {
        Self::for_world_with_web(
            world,
            WebSettings {
                secure_cookies: false,
                auth,
                oidc: None,
            },
        )
        .await
    }

    /// As [`TestApp::for_world`], calling vendors and webhook receivers only where `egress`
    /// allows (the other constructors allow loopback, where tests serve them).
    pub async fn for_world_with_egress(
        world: &World,
        egress: steward_integrations::egress::EgressPolicy,
    ) -> Self {
        Self::serve_state(AppState {
            egress,
            ..world_state(world)
        })
        .await
    }

    /// As [`TestApp::for_world`], with these limits at the log ingest endpoint.
    pub async fn for_world_with_ingest(world: &World, ingest: &IngestConfig) -> Self {
        Self::serve_state(AppState {
            ingest: IngestLimits::new(ingest),
            ..world_state(world)
        })
        .await
    }

    /// As [`TestApp::for_world`], with these web settings.
    pub async fn for_world_with_web(world: &World, web: WebSettings) -> Self {
        Self::serve_state(AppState {
            web: Arc::new(web),
            ..world_state(world)
        })
        .await
    }

    /// As [`TestApp::for_world`], with the sandbox enabled (over the world's database and
    /// clock) and a known secrets key.
    pub async fn for_world_with_sandbox(world: &World, secrets: SecretBox) -> Self {
        Self::for_world_with_sandbox_and(
            world,
            secrets,
            builtin_policies(),
            steward_workers::VendorBackoff::default(),
        )
        .await
    }

    /// As [`TestApp::for_world_with_sandbox`], deciding with these policies and waiting out
    /// vendors with `backoff` (the workers', as when they run embedded).
    pub async fn for_world_with_sandbox_and(
        world: &World,
        secrets: SecretBox,
        policies: steward_core::decisions::policy::Policies,
        backoff: steward_workers::VendorBackoff,
    ) -> Self {
        let sandbox = steward_server::sandbox::open(world.storage.clone(), world.shared_clock())
            .await
            .unwrap();
        Self::serve_state(AppState {
            secrets: Arc::new(secrets),
            sandbox: Some(sandbox),
            policies,
            backoff,
            ..world_state(world)
        })
        .await
    }

    async fn serve_state(state: AppState) -> Self {
        let sandbox = state.sandbox.clone();
        let router = http::router(state, &HttpConfig::default());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("serve");
        });
        Self {
            base: format!("http://{address}"),
            client: client(),
            sandbox,
            server,
        }
    }

    /// Serves the router over a migrated test database.
    pub async fn with_database(db: &TestDatabase) -> Self {
        Self::serve(db.connect().await).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The credentials of the sandbox's simulated customer for `tenant`, created when new.
    pub async fn sandbox_customer(
        &self,
        tenant: &tenancy::Tenant,
    ) -> steward_sandbox::SandboxCredentials {
        self.sandbox
            .as_ref()
            .expect("the app serves the sandbox")
            .ensure(tenant.id.as_uuid(), &tenant.name, tenant.slug.as_str())
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An HTTP client with a timeout, so a hung server fails the test instead of stalling it.
pub fn client() -> reqwest::Client {
    client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

/// The `steward` binary built for these tests.
pub fn steward() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    // The tests choose the database; an outer environment must not.
    for (name, _) in std::env::vars() {
        if name.starts_with("STEWARD_") {
            command.env_remove(name);
        }
    }
    command.env("RUST_LOG", "warn");
    command
}

/// `steward` configured to use the test database: `--data-dir` and, on PostgreSQL, its URL.
pub fn steward_on(db: &TestDatabase) -> Command {
    let mut command = steward();
    command.arg("--data-dir").arg(db.data_dir());
    if let Some(url) = db.url() {
        command.env("STEWARD_DATABASE_URL", url.expose());
    }
    command
}

/// A running `steward serve` or `steward demo`, stopped with SIGTERM when dropped.
pub struct StewardProcess {
    child: Child,
    pub base: String,
    /// Everything the process printed on standard output before it started serving.
    pub banner: Vec<String>,
    stdout: Option<BufReader<ChildStdout>>,
}

impl StewardProcess {
    /// Starts the command and waits until it says where it serves.
    pub fn start(mut command: Command) -> Self {
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start steward");
        // From here on, dropping `process` (on any panic) stops and reaps the child.
        let mut process = Self {
            child,
            base: String::new(),
            banner: Vec::new(),
            stdout: None,
        };
        let mut stdout = BufReader::new(process.child.stdout.take().expect("piped stdout"));
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).expect("read steward's output");
            if read == 0 {
                let status = process.child.wait().expect("wait for steward");
                panic!(
                    "steward exited ({status}) before serving; it printed {:#?}",
                    process.banner
                );
            }
            let line = line.trim_end().to_owned();
            if let Some(base) = line.strip_prefix("Steward is serving on ") {
                process.base = base.to_owned();
                // Kept open: steward must be able to print without hitting a closed pipe.
                process.stdout = Some(stdout);
                return process;
            }
            process.banner.push(line);
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        self.child.wait().expect("wait for steward")
    }
}

impl Drop for StewardProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion and returns (exit code, stdout, stderr).
pub fn run(mut command: Command) -> (i32, String, String) {
    let output = command.output().expect("run steward");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An answer's status and JSON body (`null` when the body is empty or not JSON).
pub type Answer = (reqwest::StatusCode, serde_json::Value);

/// Asserts that `text` contains each of `expected`.
pub fn assert_contains_all(text: &str, expected: &[&str]) {
    for expected in expected {
        assert!(text.contains(expected), "{expected} missing: {text}");
    }
}

/// Asserts that each of `expected` is among `actual` (audit actions, say).
pub fn assert_includes_all(actual: &[impl AsRef<str> + std::fmt::Debug], expected: &[&str]) {
    for expected in expected {
        assert!(
            actual.iter().any(|a| a.as_ref() == *expected),
            "{expected} missing from {actual:?}"
        );
    }
}

/// Sends the request; returns the answer's status and JSON body (`null` when there is none).
pub async fn answer_to(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// The content type an answer declares.
pub fn content_type(response: &reqwest::Response) -> &str {
    response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("a readable content type")
}

/// The message of an error answer.
pub fn error_message(answer: &serde_json::Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {answer:#}"))
}

/// The array at `value[key]`; panics showing `value` when there is none.
pub fn list<'a>(value: &'a serde_json::Value, key: &str) -> &'a [serde_json::Value] {
    value[key]
        .as_array()
        .unwrap_or_else(|| panic!("no array {key} in {value:#}"))
}

/// The string `field` of each element of the array at `value[key]`.
pub fn strings<'a>(value: &'a serde_json::Value, key: &str, field: &str) -> Vec<&'a str> {
    list(value, key)
        .iter()
        .map(|element| {
            element[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {element:#}"))
        })
        .collect()
}

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer_to(request).await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post_as(&self, path: &str, token: &str, body: &serde_json::Value) -> Answer {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    pub async fn patch_as(&self, path: &str, token: &str, body: &serde_json::Value) -> Answer {
        self.call(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// Every documented operation: (method, path template, operation id).
    pub async fn operations(&self) -> Vec<Operation> {
        let (status, doc) = self
            .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
            .await;
        assert_eq!(status, reqwest::StatusCode::OK);
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                operations.push(Operation {
                    method: method.to_uppercase().parse().expect("an HTTP method"),
                    path: path.clone(),
                    id,
                    authenticated: operation.get("security").is_some(),
                });
            }
        }
        operations.sort_by(|a, b| a.id.cmp(&b.id));
        operations
    }
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: reqwest::Method,
    pub path: String,
    pub id: String,
    /// Whether the operation declares a security requirement.
    pub authenticated: bool,
}

impl Operation {
    /// The path with its parameters filled in.
    pub fn path_with(&self, params: &[(&str, String)]) -> String {
        let mut path = self.path.clone();
        for (name, value) in params {
            path = path.replace(&format!("{{{name}}}"), value);
        }
        assert!(!path.contains('{'), "unfilled parameter in {path}");
        path
    }
}

/// A browser without JavaScript: a cookie store, no redirects followed.
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

/// One answer, as a browser sees it.
pub struct Page {
    pub status: reqwest::StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Page {
    /// Asserts that the answer redirects to a location ending with `suffix`.
    pub fn assert_redirect_ends_with(&self, suffix: &str) {
        assert!(
            self.location
                .as_deref()
                .is_some_and(|location| location.ends_with(suffix)),
            "{:?}",
            self.location
        );
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: client_builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    pub async fn read(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|value| value.to_str().unwrap().to_owned()),
            set_cookie: response
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .map(|value| value.to_str().unwrap().to_owned())
                .collect(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        Self::read(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    /// Posts a form with the CSRF token of the page at `from`.
    pub async fn submit(&self, from: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let token = csrf(&self.get(from).await.body);
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("email", email), ("password", password)],
        )
        .await
    }
}

/// The CSRF token in a page's forms.
pub fn csrf(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html
        .find(marker)
        .expect("the page has a form with a CSRF token")
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// The customer most tests act for: Harbor IT (an MSP) and its customer Acme Dental, with
/// Harbor's admin and technician and Acme's owner signed in by API token, served by an app whose
/// sandbox simulates Acme's vendors.
pub struct Harbor {
    pub world: World,
    pub app: TestApp,
    pub tenant: tenancy::Tenant,
    pub admin: String,
    pub technician: String,
    pub owner: String,
    pub credentials: steward_sandbox::SandboxCredentials,
}

/// Harbor IT, its customer Acme Dental, Harbor's admin and technician and Acme's owner.
pub struct HarborPeople {
    pub msp: tenancy::Msp,
    pub tenant: tenancy::Tenant,
    pub admin: tenancy::User,
    pub technician: tenancy::User,
    pub owner: tenancy::User,
}

/// Harbor IT's MSP admin, `admin@harbor.example`.
pub async fn harbor_admin(world: &World, msp: &tenancy::Msp) -> tenancy::User {
    world
        .user(msp.id, "admin@harbor.example", Role::MspAdmin, None)
        .await
}

/// Harbor IT's technician, `tech@harbor.example`.
pub async fn harbor_technician(world: &World, msp: &tenancy::Msp) -> tenancy::User {
    world
        .user(msp.id, "tech@harbor.example", Role::Technician, None)
        .await
}

/// The owner of Harbor IT's customer Acme, `owner@acme.example`, in `acme`.
pub async fn acme_owner(world: &World, acme: &tenancy::Tenant) -> tenancy::User {
    world
        .user(
            acme.msp_id,
            "owner@acme.example",
            Role::CustomerOwner,
            Some(acme.id),
        )
        .await
}

/// Harbor IT with one customer and its MSP admin's API token.
pub struct HarborAdmin {
    pub msp: tenancy::Msp,
    pub tenant: tenancy::Tenant,
    pub token: String,
}

/// Harbor IT, its customer `tenant_slug`, and its MSP admin signed in by API token.
pub async fn harbor_with_admin(world: &World, tenant_slug: &str) -> HarborAdmin {
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, tenant_slug).await;
    let admin = harbor_admin(world, &msp).await;
    HarborAdmin {
        token: world.token(&admin, None).await,
        msp,
        tenant,
    }
}

pub async fn harbor_people(world: &World) -> HarborPeople {
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, "acme-dental").await;
    let admin = harbor_admin(world, &msp).await;
    let technician = harbor_technician(world, &msp).await;
    let owner = acme_owner(world, &tenant).await;
    HarborPeople {
        msp,
        tenant,
        admin,
        technician,
        owner,
    }
}

impl HarborPeople {
    /// API tokens of the admin, the technician and the owner, in that order.
    pub async fn tokens(&self, world: &World) -> [String; 3] {
        [
            world.token(&self.admin, None).await,
            world.token(&self.technician, None).await,
            world.token(&self.owner, None).await,
        ]
    }
}

pub async fn harbor(db: &TestDatabase) -> Harbor {
    let world = World::new(db).await;
    let people = harbor_people(&world).await;
    let app = TestApp::for_world_with_sandbox(&world, test_secrets()).await;
    let credentials = app.sandbox_customer(&people.tenant).await;
    let [admin, technician, owner] = people.tokens(&world).await;
    Harbor {
        admin,
        technician,
        owner,
        world,
        app,
        tenant: people.tenant,
        credentials,
    }
}

impl Harbor {
    /// Sends a request as whoever holds `token`, with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&serde_json::Value>,
    ) -> Answer {
        self.app.call(method, path, Some(token), body).await
    }
}

/// A new NinjaOne integration of the simulated customer whose `credentials` these are, at the
/// instance `instance_url`, as the API takes it.
pub fn ninjaone_integration(
    credentials: &steward_sandbox::SandboxCredentials,
    instance_url: &str,
) -> serde_json::Value {
    serde_json::json!({
        "vendor": "ninjaone",
        "name": "NinjaOne",
        "settings": {
            "client_id": credentials.ninja_client_id,
            "organization_id": credentials.ninja_organization_id,
            "instance_url": instance_url,
        },
        "credential": credentials.ninja_client_secret,
    })
}
