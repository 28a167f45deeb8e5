//! The requests of an adversarial probe, as one table: each gets the answer it should (a 4xx
//! with a stable error code) and changes nothing — neither the audit chains nor what the API
//! shows — while the server keeps answering everyone else.

use crate::support::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_domain::tenancy::Role;
use steward_integrations::egress::EgressPolicy;
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

/// Whose token a probe is sent with.
#[derive(Debug, Clone, Copy)]
enum Who {
    Admin,
    /// The customer's approver at Acme.
    Approver,
}

/// One hostile request and the answer it must get.
struct Probe {
    what: String,
    method: Method,
    path: String,
    who: Who,
    body: Option<Value>,
    status: StatusCode,
    code: &'static str,
    /// Words the answer's message must hold, if any.
    mentions: &'static str,
}

impl Probe {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            method,
            path: path.into(),
            who: Who::Admin,
            body: None,
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "",
            mentions: "",
        }
    }

    fn mentioning(mut self, words: &'static str) -> Self {
        self.mentions = words;
        self
    }

    fn by(mut self, who: Who) -> Self {
        self.who = who;
        self
    }

    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    fn answers(mut self, status: StatusCode, code: &'static str) -> Self {
        self.status = status;
        self.code = code;
        self
    }
}

/// The deployment the probe ran against, and the tokens it used.
struct Target {
    app: TestApp,
    world: World,
    admin: String,
    admin_id: String,
    approver: String,
    acme: String,
    birch: String,
    defender: String,
}

impl Target {
    async fn new(db: &TestDatabase) -> Self {
        let world = World::new(db).await;
        let harbor = world.msp("harbor").await;
        let acme = world.tenant(harbor.id, "acme").await;
        let lighthouse = world.msp("lighthouse").await;
        world
            .verify_domain(lighthouse.id, "lighthouse.example")
            .await;
        let birch = world.tenant(harbor.id, "birch").await;
        let admin = world
            .user(harbor.id, "admin@harbor.example", Role::MspAdmin, None)
            .await;
        let admin_id = admin.id.to_string();
        let admin = world.token(&admin, None).await;
        let approver = world
            .user(
                harbor.id,
                "approver@acme.example",
                Role::CustomerApprover,
                Some(acme.id),
            )
            .await;
        let approver = world.token(&approver, None).await;
        // A deployment whose operator allow-listed nothing: public https targets only.
        let app = TestApp::for_world_with_egress(&world, EgressPolicy::public_only()).await;
        let (status, created) = app
            .post_as(
                &format!("/api/v1/tenants/{}/integrations", acme.id),
                &admin,
                &json!({
                    "vendor": "microsoft_defender",
                    "name": "Defender",
                    "settings": { "directory_id": "d", "client_id": "c" },
                    "credential": "secret",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        Self {
            defender: created["id"].as_str().unwrap().to_owned(),
            app,
            world,
            admin,
            admin_id,
            approver,
            acme: acme.id.to_string(),
            birch: birch.id.to_string(),
        }
    }

    fn token(&self, who: Who) -> &str {
        match who {
            Who::Admin => &self.admin,
            Who::Approver => &self.approver,
        }
    }

    /// What the API shows of everything the probes aim at.
    async fn state(&self) -> Value {
        let mut state = serde_json::Map::new();
        for path in [
            "/api/v1/tenants".to_owned(),
            "/api/v1/msp".to_owned(),
            "/api/v1/msp/webhooks".to_owned(),
            format!("/api/v1/tenants/{}/integrations", self.acme),
            format!("/api/v1/tenants/{}/policy", self.acme),
        ] {
            let (status, body) = self.app.get_as(&path, &self.admin).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            state.insert(path, body);
        }
        state.insert(
            "audit entries".to_owned(),
            json!(audit_entry_count(&self.world.storage).await),
        );
        Value::Object(state)
    }
}

fn nested_policy(depth: usize) -> Value {
    json!({
        "source": format!(
            "package steward.authority\n\nx := {}1{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    })
}

/// Every URL field of every vendor, pointed at `url`.
fn vendor_settings(url: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "microsoft_defender",
            json!({"directory_id": "d", "client_id": "c", "api_base_url": url}),
        ),
        (
            "microsoft_graph",
            json!({"directory_id": "d", "client_id": "c", "login_base_url": url}),
        ),
        ("okta", json!({"org_url": url})),
        (
            "crowdstrike_falcon",
            json!({"client_id": "c", "api_base_url": url}),
        ),
        (
            "ninjaone",
            json!({"client_id": "c", "organization_id": 1, "instance_url": url}),
        ),
        ("tactical_rmm", json!({"api_url": url, "client_id": 1})),
        (
            "veeam_spc",
            json!({"api_url": url, "company_uid": "0194f3a2-7b1c-7d3e-9f00-1234567890ab"}),
        ),
        (
            "datto_bcdr",
            json!({"api_url": url, "public_key": "p", "client_company_name": "Acme"}),
        ),
        (
            "halopsa",
            json!({"instance_url": url, "client_id": "c", "customer_client_id": 1}),
        ),
        (
            "connectwise_manage",
            json!({
                "site_url": url, "company_id": "harbor", "public_key": "p", "client_id": "c",
                "customer_company_id": 1, "board_id": 1,
            }),
        ),
    ]
}

fn probes(target: &Target) -> Vec<Probe> {
    let acme = &target.acme;
    let policy = format!("/api/v1/tenants/{acme}/policy");
    let mut probes = vec![
        // Finding 1: parsing that doubles per nesting level.
        Probe::new("a policy nested 100 deep", Method::PUT, &policy)
            .body(nested_policy(100))
            .answers(StatusCode::UNPROCESSABLE_ENTITY, "policy-too-complex"),
        Probe::new("a policy nested 1,000 deep", Method::PUT, &policy)
            .body(nested_policy(1000))
            .answers(StatusCode::UNPROCESSABLE_ENTITY, "policy-too-complex"),
        Probe::new("many deeply nested expressions", Method::PUT, &policy)
            .body(json!({
                "source": format!(
                    "package steward.authority\n\n{}",
                    format!("x := {}1{}\n", "{\"a\": ".repeat(12), "}".repeat(12)).repeat(200)
                )
            }))
            .answers(StatusCode::UNPROCESSABLE_ENTITY, "policy-too-complex"),
    ];
    // Finding 2: integrations pointed at private and metadata addresses.
    let integrations = format!("/api/v1/tenants/{acme}/integrations");
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://10.0.0.5:8500/",
        "https://localhost:5432/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "http://8.8.8.8/",
    ] {
        for (vendor, settings) in vendor_settings(url) {
            probes.push(
                Probe::new(
                    format!("a {vendor} integration at {url}"),
                    Method::POST,
                    &integrations,
                )
                .body(json!({
                    "vendor": vendor,
                    "name": format!("{vendor} {url}"),
                    "settings": settings,
                    "credential": "secret",
                }))
                .answers(StatusCode::UNPROCESSABLE_ENTITY, "forbidden-target"),
            );
        }
    }
    probes.push(
        Probe::new(
            "a Defender integration moved to the metadata address",
            Method::PATCH,
            format!("{integrations}/{}", target.defender),
        )
        .body(json!({
            "settings": {
                "directory_id": "d", "client_id": "c",
                "api_base_url": "http://169.254.169.254/latest/meta-data/",
            }
        }))
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "forbidden-target"),
    );
    for url in [
        "https://169.254.169.254/hook",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[::a9fe:a9fe]/",
        "https://[2002:a9fe:a9fe::1]/",
        "https://127.0.0.1:5432/",
        "http://hooks.example.com/",
    ] {
        probes.push(
            Probe::new(
                format!("a webhook subscription to {url}"),
                Method::POST,
                "/api/v1/msp/webhooks",
            )
            .body(json!({"url": url, "events": ["incident.created"]}))
            .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-webhook-target"),
        );
    }
    probes.push(
        Probe::new(
            "a webhook subscription that allows itself the private network",
            Method::POST,
            "/api/v1/msp/webhooks",
        )
        .body(json!({
            "url": "http://10.0.0.5/hook",
            "events": ["incident.created"],
            "allow_private_network": true,
        }))
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
    );
    // Finding 3: control characters (a 500 on PostgreSQL before), unbounded lengths, and
    // bidirectional controls in what approvers read.
    let nul = "Acme\u{0}Dental";
    let tenant = format!("/api/v1/tenants/{acme}");
    let device = "0194f3a2-7b1c-7d3e-9f00-1234567890b0";
    for (what, method, path, body) in [
        (
            "a tenant",
            Method::POST,
            "/api/v1/tenants".to_owned(),
            json!({"name": nul, "slug": "nul"}),
        ),
        (
            "a tenant's new name",
            Method::PATCH,
            tenant.clone(),
            json!({"name": nul}),
        ),
        (
            "a user",
            Method::POST,
            "/api/v1/users".to_owned(),
            json!({"email": "nul@harbor.example", "display_name": nul, "role": "technician"}),
        ),
        (
            "a token's name",
            Method::POST,
            format!("/api/v1/users/{}/tokens", target.admin_id),
            json!({"name": nul}),
        ),
        (
            "a kill switch's reason",
            Method::POST,
            format!("{tenant}/kill-switch"),
            json!({"reason": nul}),
        ),
        (
            "an integration's name",
            Method::PATCH,
            format!("{integrations}/{}", target.defender),
            json!({"name": nul}),
        ),
        (
            "an action's reason",
            Method::POST,
            format!("{tenant}/actions"),
            json!({"type": "isolate_device", "targets": [device], "reason": nul}),
        ),
        (
            "a device's owner",
            Method::PUT,
            format!("{tenant}/context/device/{device}"),
            json!({"owner": nul}),
        ),
        (
            "a webhook's description",
            Method::POST,
            "/api/v1/msp/webhooks".to_owned(),
            json!({"url": "https://hooks.example.com/", "description": nul, "events": ["incident.created"]}),
        ),
        (
            "an object key",
            Method::PATCH,
            tenant.clone(),
            json!({"name\u{0}": "x"}),
        ),
        (
            "an escape sequence in a name",
            Method::PATCH,
            tenant.clone(),
            json!({"name": "\u{1b}[31mAcme"}),
        ),
    ] {
        probes.push(
            Probe::new(format!("NUL in {what}"), method, path)
                .body(body)
                .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-text"),
        );
    }
    probes.push(
        Probe::new(
            "NUL in a query parameter",
            Method::GET,
            "/api/v1/audit?limit=1&cursor=%00",
        )
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-text"),
    );
    for (what, name) in [
        ("a 10,000-character name", "x".repeat(10_000)),
        ("a name of two lines", "Acme\nDental".to_owned()),
        ("a right-to-left override", "Acme \u{202E}latneD".to_owned()),
        ("a directional isolate", "Acme \u{2066}Dental".to_owned()),
    ] {
        probes.push(
            Probe::new(format!("{what} for a tenant"), Method::PATCH, &tenant)
                .body(json!({"name": name}))
                .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name"),
        );
    }
    probes.push(
        Probe::new(
            "a right-to-left override in a reason",
            Method::POST,
            format!("{tenant}/actions"),
        )
        .body(json!({"type": "isolate_device", "targets": [device], "reason": "routine \u{202E}"}))
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-reason"),
    );
    // Finding 6: single sign-on auto-provisioning of a domain the MSP does not hold.
    for (domain, status, code) in [
        (
            "gmail.com",
            StatusCode::UNPROCESSABLE_ENTITY,
            "public-mail-domain",
        ),
        (
            "Outlook.COM",
            StatusCode::UNPROCESSABLE_ENTITY,
            "public-mail-domain",
        ),
        ("lighthouse.example", StatusCode::CONFLICT, "domain-taken"),
        (
            "harbor.example",
            StatusCode::UNPROCESSABLE_ENTITY,
            "domain-not-verified",
        ),
    ] {
        probes.push(
            Probe::new(
                format!("auto-provisioning {domain}"),
                Method::PATCH,
                "/api/v1/msp",
            )
            .body(json!({"sso_auto_provision": {"domain": domain, "role": "technician"}}))
            .answers(status, code),
        );
    }
    // Findings 11 and 13: errors that say what to do; the second factor's settings.
    probes.extend([
        Probe::new(
            "a report from yesterday",
            Method::GET,
            format!("{tenant}/reports/outcome?from=yesterday"),
        )
        .answers(StatusCode::BAD_REQUEST, "invalid-query")
        .mentioning("RFC 3339"),
        Probe::new(
            "a made-up second-factor policy",
            Method::PATCH,
            "/api/v1/msp",
        )
        .body(json!({"second_factor_policy": "sometimes"}))
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        Probe::new(
            "a token confirming itself",
            Method::POST,
            "/api/v1/me/confirm",
        )
        .body(json!({"proof": "anything"}))
        .answers(StatusCode::UNPROCESSABLE_ENTITY, "no-session"),
        Probe::new(
            "resetting nobody's second factor",
            Method::DELETE,
            "/api/v1/users/0194f3a2-7b1c-7d3e-9f00-1234567890ab/second-factor",
        )
        .answers(StatusCode::NOT_FOUND, "not-found"),
    ]);
    // Finding 5: the customer's approver reads no inventory.
    for what in ["devices", "identities", "events"] {
        probes.push(
            Probe::new(
                format!("the approver reading {what}"),
                Method::GET,
                format!("{tenant}/{what}"),
            )
            .by(Who::Approver)
            .answers(StatusCode::FORBIDDEN, "forbidden"),
        );
    }
    probes
}

#[tokio::test]
async fn hostile_requests_get_4xx_change_nothing_and_stall_no_one() {
    let db = TestDatabase::migrated().await;
    let target = Target::new(&db).await;
    let birch_incidents = format!("/api/v1/tenants/{}/incidents", target.birch);
    for probe in probes(&target) {
        let before = target.state().await;
        let ((status, answer), (health, _), (other, _)) = tokio::join!(
            target.app.call(
                probe.method.clone(),
                &probe.path,
                Some(target.token(probe.who)),
                probe.body.as_ref(),
            ),
            target.app.call(Method::GET, "/healthz", None, None),
            target.app.get_as(&birch_incidents, &target.admin),
        );
        assert_eq!(status, probe.status, "{}: {answer}", probe.what);
        assert_eq!(
            answer["error"]["code"], probe.code,
            "{}: {answer}",
            probe.what
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains(probe.mentions),
            "{}: {answer}",
            probe.what
        );
        assert_eq!(health, StatusCode::OK, "{}: /healthz", probe.what);
        assert_eq!(other, StatusCode::OK, "{}: another tenant", probe.what);
        assert_eq!(
            target.state().await,
            before,
            "{} changed something",
            probe.what
        );
    }
}
