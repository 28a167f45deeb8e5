//! The web UI over HTTP, as a browser without JavaScript uses it: sign-in with a password,
//! sessions, CSRF protection, throttling, and the pages each role sees. (Real Chromium runs the
//! main flows in `browser.rs`.)

use crate::support::{
    Browser, TestApp, acme_owner, assert_contains_all, csrf, harbor_admin, harbor_technician,
    strings,
};
use chrono::Duration;
use reqwest::{StatusCode, header};
use serde_json::json;
use steward_core::auth::AuthConfig;
use steward_domain::tenancy::{Tenant, User};
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

const PASSWORD: &str = "correct horse battery";

/// A cookie-keeping client that does not follow redirects, so each answer can be checked.
struct Fixture {
    world: World,
    app: TestApp,
    admin: User,
    tech: User,
    acme: Tenant,
    birch: Tenant,
    acme_owner: User,
    _db: TestDatabase,
}

async fn fixture_with(auth: AuthConfig) -> Fixture {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let acme = world.tenant(msp.id, "acme").await;
    let birch = world.tenant(msp.id, "birch").await;
    let admin = harbor_admin(&world, &msp).await;
    let tech = harbor_technician(&world, &msp).await;
    let acme_owner = acme_owner(&world, &acme).await;
    for user in [&admin, &tech, &acme_owner] {
        world.set_password(user, PASSWORD).await;
    }
    let app = TestApp::for_world_with(&world, auth).await;
    Fixture {
        world,
        app,
        admin,
        tech,
        acme,
        birch,
        acme_owner,
        _db: db,
    }
}

async fn fixture() -> Fixture {
    fixture_with(AuthConfig::default()).await
}

#[tokio::test]
async fn signing_in_and_out_with_a_password() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);

    let unsigned = browser.get("/").await;
    assert_eq!(unsigned.status, StatusCode::SEE_OTHER);
    assert_eq!(unsigned.location.as_deref(), Some("/login"));

    let signed_in = browser.sign_in("Admin@Harbor.example", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location.as_deref(), Some("/"));
    let session_cookie = signed_in
        .set_cookie
        .iter()
        .find(|cookie| cookie.starts_with("steward_session="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    assert!(
        !session_cookie.contains("Secure"),
        "plain http: {session_cookie}"
    );

    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("Tenant acme"), "{}", dashboard.body);
    assert!(dashboard.body.contains("Tenant birch"));
    assert!(
        dashboard.body.contains("Add a customer"),
        "admins may add tenants"
    );

    let signed_out = browser.submit("/", "/logout", &[]).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        signed_out.location.as_deref(),
        Some("/login?notice=signed-out")
    );
    assert_eq!(browser.get("/").await.location.as_deref(), Some("/login"));

    // The audit chain records the session's start and end.
    let (_, audit) = f
        .app
        .get_as("/api/v1/audit", &f.world.token(&f.admin, None).await)
        .await;
    let actions = strings(&audit, "items", "action");
    assert!(
        actions.contains(&"session.started") && actions.contains(&"session.ended"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_steward_is_served_over_https() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let admin = harbor_admin(&world, &msp).await;
    world.set_password(&admin, PASSWORD).await;
    let app = TestApp::for_world_with_web(
        &world,
        steward_server::state::WebSettings {
            secure_cookies: true,
            ..Default::default()
        },
    )
    .await;
    let browser = Browser::new(&app);
    // Served over https, every answer tells the browser to keep to it.
    let answer = app.get("/login").await;
    assert_eq!(
        answer.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );
    let login = browser.get("/login").await;
    assert!(
        login.set_cookie.iter().all(|c| c.contains("Secure")),
        "{:?}",
        login.set_cookie
    );
    // The test client speaks plain http, so it holds the Secure cookie back; send it by hand.
    let csrf_cookie = login.set_cookie[0].split(';').next().unwrap().to_owned();
    let response = browser
        .client
        .post(format!("{}/login", app.base))
        .header(header::COOKIE, csrf_cookie)
        .form(&[
            ("csrf_token", csrf(&login.body).as_str()),
            ("email", "admin@harbor.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let page = Browser::read(response).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let session = page
        .set_cookie
        .iter()
        .find(|c| c.starts_with("steward_session="))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(session.contains(attribute), "{session}");
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_without_saying_which_part_was_wrong() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    for (email, password) in [
        ("admin@harbor.example", "not the password"),
        ("nobody@harbor.example", PASSWORD),
    ] {
        let page = browser.sign_in(email, password).await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
        assert!(
            page.body.contains("The email or password is wrong."),
            "{}",
            page.body
        );
    }
}

#[tokio::test]
async fn form_posts_without_the_csrf_token_are_refused_and_change_nothing() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    assert_eq!(
        browser
            .sign_in("admin@harbor.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let entries_before = audit_entry_count(&f.world.storage).await;

    let tenant_path = format!("/tenants/{}/offboard", f.acme.id);
    for fields in [vec![], vec![("csrf_token", "forged")]] {
        let mut create = fields.clone();
        create.push(("name", "Injected Customer"));
        let page = browser.post("/tenants", &create).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
        assert!(page.body.contains("Form expired"), "{}", page.body);
        assert_eq!(
            browser.post(&tenant_path, &fields).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            browser.post("/logout", &fields).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);
    assert!(!browser.get("/").await.body.contains("Injected Customer"));
    assert!(
        browser
            .get(&format!("/tenants/{}", f.acme.id))
            .await
            .body
            .contains("active")
    );

    // The sign-in form has its own token, bound to a cookie.
    let anonymous = Browser::new(&f.app);
    let page = anonymous
        .post(
            "/login",
            &[("email", "admin@harbor.example"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        !page
            .set_cookie
            .iter()
            .any(|c| c.starts_with("steward_session="))
    );
}

#[tokio::test]
async fn failures_beyond_the_throttle_refuse_even_the_right_password() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    for _ in 0..AuthConfig::default().max_failures_per_account {
        let page = browser.sign_in("tech@harbor.example", "guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let throttled = browser.sign_in("tech@harbor.example", PASSWORD).await;
    assert_eq!(
        throttled.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        throttled.body
    );
    assert!(
        throttled.body.contains("Too many failed sign-ins"),
        "{}",
        throttled.body
    );
    assert!(
        !throttled
            .set_cookie
            .iter()
            .any(|c| c.starts_with("steward_session="))
    );

    // Another account is not affected, and the window passes.
    assert_eq!(
        browser
            .sign_in("admin@harbor.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    f.world.clock.advance(Duration::minutes(16));
    assert_eq!(
        Browser::new(&f.app)
            .sign_in("tech@harbor.example", PASSWORD)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn failures_from_one_address_throttle_every_account_it_tries() {
    let f = fixture_with(AuthConfig {
        max_failures_per_address: 3,
        ..AuthConfig::default()
    })
    .await;
    let browser = Browser::new(&f.app);
    for email in ["a@harbor.example", "b@harbor.example", "c@harbor.example"] {
        assert_eq!(
            browser.sign_in(email, "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let page = browser.sign_in("admin@harbor.example", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.body);
}

#[tokio::test]
async fn tampered_and_ended_session_cookies_are_refused() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    let signed_in = browser.sign_in("tech@harbor.example", PASSWORD).await;
    let cookie = signed_in
        .set_cookie
        .iter()
        .find_map(|c| c.strip_prefix("steward_session="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();

    let plain = crate::support::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let with_cookie = |value: String| {
        plain
            .get(format!("{}/", f.app.base))
            .header(header::COOKIE, format!("steward_session={value}"))
            .send()
    };
    assert_eq!(
        with_cookie(cookie.clone()).await.unwrap().status(),
        StatusCode::OK
    );

    let mut tampered = cookie.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    for forged in [
        String::from_utf8(tampered).unwrap(),
        "sts_made-up".to_owned(),
        String::new(),
    ] {
        let response = with_cookie(forged).await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/login");
    }
    let api = plain
        .get(format!("{}/api/v1/me", f.app.base))
        .header(header::COOKIE, "steward_session=sts_made-up")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::UNAUTHORIZED);

    // Disabling the user ends the session at once.
    let admin_token = f.world.token(&f.admin, None).await;
    let (status, _) = f
        .app
        .patch_as(
            &format!("/api/v1/users/{}", f.tech.id),
            &admin_token,
            &json!({ "status": "disabled" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        with_cookie(cookie.clone()).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );

    // Expiry ends sessions too.
    let (status, _) = f
        .app
        .patch_as(
            &format!("/api/v1/users/{}", f.tech.id),
            &admin_token,
            &json!({ "status": "active" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        with_cookie(cookie.clone()).await.unwrap().status(),
        StatusCode::OK
    );
    f.world.clock.advance(Duration::hours(13));
    assert_eq!(
        with_cookie(cookie).await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions() {
    let f = fixture().await;
    let (here, elsewhere) = (Browser::new(&f.app), Browser::new(&f.app));
    for browser in [&here, &elsewhere] {
        assert_eq!(
            browser
                .sign_in("tech@harbor.example", PASSWORD)
                .await
                .status,
            StatusCode::SEE_OTHER
        );
    }
    let new_password = "a brand new passphrase";
    let wrong = here
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "nope"),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(
        wrong.location.as_deref(),
        Some("/account?error=wrong-password")
    );

    let changed = here
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("confirm_password", new_password),
            ],
        )
        .await;
    assert_eq!(
        changed.location.as_deref(),
        Some("/account?done=password-changed")
    );
    let account = here.get("/account?done=password-changed").await;
    assert_eq!(account.status, StatusCode::OK, "this session stays");
    assert!(account.body.contains("Your password is changed"));
    assert_eq!(
        elsewhere.get("/").await.location.as_deref(),
        Some("/login"),
        "others end"
    );

    let fresh = Browser::new(&f.app);
    assert_eq!(
        fresh.sign_in("tech@harbor.example", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        fresh
            .sign_in("tech@harbor.example", new_password)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn customers_see_only_their_own_tenant() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    assert_eq!(
        browser.sign_in("owner@acme.example", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    let home = browser.get("/").await;
    let own = format!("/tenants/{}", f.acme.id);
    assert_eq!(home.location.as_deref(), Some(own.as_str()));
    let page = browser.get(&own).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Tenant acme"));
    assert!(page.body.contains(&f.acme_owner.email));
    assert!(!page.body.contains("Offboard"), "customers manage nothing");

    for path in [
        format!("/tenants/{}", f.birch.id),
        format!("/tenants/{}/audit", f.birch.id),
        "/tenants/0194f3a2-7b1c-7d3e-9f00-1234567890ab".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.body.contains("Tenant birch"));
    }
    for path in ["/users", "/audit"] {
        assert_eq!(
            browser.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_api_accepts_the_session_cookie_with_a_csrf_header_for_changes() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("admin@harbor.example", PASSWORD).await;
    let token = csrf(&browser.get("/").await.body);

    let me = browser
        .client
        .get(format!("{}/api/v1/me", f.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let url = format!("{}/api/v1/tenants", f.app.base);
    let refused = browser
        .client
        .post(&url)
        .json(&json!({ "name": "Via cookie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf-token-required");
    let created = browser
        .client
        .post(&url)
        .header("x-csrf-token", token)
        .json(&json!({ "name": "Via cookie" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn admins_manage_tenants_users_and_tokens_through_forms() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("admin@harbor.example", PASSWORD).await;

    let created = browser
        .submit(
            "/",
            "/tenants",
            &[("name", "<script>alert(1)</script> Dental")],
        )
        .await;
    let tenant_path = created.location.clone().unwrap();
    assert!(
        tenant_path.ends_with("?done=tenant-created"),
        "{tenant_path}"
    );
    let page = browser.get(&tenant_path).await;
    assert!(
        page.body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; Dental"),
        "names are escaped"
    );
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("The tenant is added."));
    let tenant_path = tenant_path.split('?').next().unwrap().to_owned();

    let renamed = browser
        .submit(
            &tenant_path,
            &format!("{tenant_path}/rename"),
            &[("name", "Delta Dental")],
        )
        .await;
    assert_eq!(
        renamed.location,
        Some(format!("{tenant_path}?done=tenant-renamed"))
    );
    let offboarded = browser
        .submit(&tenant_path, &format!("{tenant_path}/offboard"), &[])
        .await;
    assert_eq!(
        offboarded.location,
        Some(format!("{tenant_path}?done=tenant-offboarded"))
    );
    assert!(browser.get(&tenant_path).await.body.contains("offboarded"));

    let taken = browser
        .submit(
            "/users",
            "/users",
            &[
                ("email", "tech@harbor.example"),
                ("display_name", "Dup"),
                ("role", "technician"),
            ],
        )
        .await;
    assert_eq!(taken.location.as_deref(), Some("/users?error=email-taken"));
    let acme_id = f.acme.id.to_string();
    let added = browser
        .submit(
            "/users",
            "/users",
            &[
                ("email", "approver@acme.example"),
                ("display_name", "Ann Approver"),
                ("role", "customer_approver"),
                ("tenant_id", acme_id.as_str()),
            ],
        )
        .await;
    let user_path = added.location.unwrap();
    assert!(user_path.ends_with("?done=user-created"), "{user_path}");
    let user_path = user_path.split('?').next().unwrap().to_owned();

    let issued = browser
        .submit(
            &user_path,
            &format!("{user_path}/tokens"),
            &[("name", "reporting"), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK);
    let marker = "class=\"secret-value\">";
    let start = issued.body.find(marker).expect("the secret is shown") + marker.len();
    let secret = issued.body[start..].split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("stw_"), "{secret}");
    let (status, me) = f.app.get_as("/api/v1/me", &secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "approver@acme.example");
    assert!(
        !browser.get(&user_path).await.body.contains(&secret),
        "shown once"
    );

    let page = browser.get(&user_path).await.body;
    let revoke_marker = "action=\"/tokens/";
    let start = page.find(revoke_marker).unwrap() + "action=\"".len();
    let revoke_action = page[start..].split('"').next().unwrap().to_owned();
    let revoked = browser.submit(&user_path, &revoke_action, &[]).await;
    assert_eq!(
        revoked.location,
        Some(format!("{user_path}?done=token-revoked"))
    );
    assert_eq!(
        f.app.get_as("/api/v1/me", &secret).await.0,
        StatusCode::UNAUTHORIZED
    );

    let disabled = browser
        .submit(
            &user_path,
            &format!("{user_path}/status"),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(
        disabled.location,
        Some(format!("{user_path}?done=user-disabled"))
    );
}

#[tokio::test]
async fn admins_connect_test_and_remove_integrations_and_stage_scenarios_through_forms() {
    let f = fixture().await;
    let app = TestApp::for_world_with_sandbox(&f.world, crate::support::test_secrets()).await;
    let credentials = app.sandbox_customer(&f.acme).await;
    let browser = Browser::new(&app);
    browser.sign_in("admin@harbor.example", PASSWORD).await;
    let page_path = format!("/tenants/{}/integrations", f.acme.id);
    assert!(
        browser
            .get(&format!("/tenants/{}", f.acme.id))
            .await
            .body
            .contains(&page_path),
        "the tenant page links to its integrations"
    );
    let empty = browser.get(&page_path).await;
    assert!(
        empty.body.contains("not connected to any vendor"),
        "{}",
        empty.body
    );

    let api = app.url("/sandbox/defender/");
    let login = app.url("/sandbox/login/");
    let fields = [
        ("vendor", "microsoft_defender"),
        ("name", "Defender"),
        ("directory_id", credentials.directory_id.as_str()),
        ("client_id", credentials.client_id.as_str()),
        ("client_secret", credentials.client_secret.as_str()),
        ("api_base_url", api.as_str()),
        ("login_base_url", login.as_str()),
    ];
    let created = browser.submit(&page_path, &page_path, &fields).await;
    assert_eq!(
        created.location,
        Some(format!("{page_path}?done=integration-created"))
    );
    let duplicate = browser.submit(&page_path, &page_path, &fields).await;
    assert_eq!(
        duplicate.location,
        Some(format!("{page_path}?error=name-taken"))
    );
    let listed = browser.get(&page_path).await.body;
    assert!(listed.contains("not tested"), "{listed}");
    assert!(
        !listed.contains(&credentials.client_secret),
        "the secret is never shown"
    );

    let marker = format!("/tenants/{}/integrations/", f.acme.id);
    let start = listed.find(&marker).unwrap() + marker.len();
    let integration_id = &listed[start..start + 36];
    let base = format!("{page_path}/{integration_id}");

    let tested = browser
        .submit(&page_path, &format!("{base}/test"), &[])
        .await;
    assert_eq!(
        tested.location,
        Some(format!("{page_path}?done=integration-tested"))
    );
    assert!(browser.get(&page_path).await.body.contains("healthy"));

    let synced = browser
        .submit(&page_path, &format!("{base}/sync"), &[])
        .await;
    assert_eq!(
        synced.location,
        Some(format!("{page_path}?done=integration-synced"))
    );
    let tenant_page = browser.get(&format!("/tenants/{}", f.acme.id)).await.body;
    let server = app
        .sandbox
        .as_ref()
        .unwrap()
        .state(f.acme.id.as_uuid())
        .await
        .unwrap();
    let server = &server
        .devices
        .iter()
        .find(|d| d.tags.iter().any(|t| t == "Server"))
        .unwrap()
        .computer_dns_name;
    assert!(
        tenant_page.contains(server.as_str()),
        "the synchronized devices are listed"
    );

    // With Microsoft Entra ID too, the context graph draws people, their laptops and roles.
    let graph_api = app.url("/sandbox/graph/");
    let entra = browser
        .submit(
            &page_path,
            &page_path,
            &[
                ("vendor", "microsoft_graph"),
                ("name", "Entra ID"),
                ("directory_id", credentials.directory_id.as_str()),
                ("client_id", credentials.client_id.as_str()),
                ("client_secret", credentials.client_secret.as_str()),
                ("api_base_url", graph_api.as_str()),
                ("login_base_url", login.as_str()),
            ],
        )
        .await;
    assert_eq!(
        entra.location,
        Some(format!("{page_path}?done=integration-created"))
    );
    let listed = browser.get(&page_path).await.body;
    let entra_id = listed
        .match_indices(&marker)
        .map(|(at, _)| &listed[at + marker.len()..at + marker.len() + 36])
        .find(|id| *id != integration_id)
        .unwrap()
        .to_owned();
    browser
        .submit(&page_path, &format!("{page_path}/{entra_id}/sync"), &[])
        .await;
    let graph_path = format!("/tenants/{}/graph", f.acme.id);
    assert!(
        tenant_page.contains(&graph_path),
        "the tenant page links to its graph"
    );
    let graph = browser.get(&format!("{graph_path}?depth=2")).await;
    assert_eq!(graph.status, StatusCode::OK);
    assert_contains_all(
        &graph.body,
        &[
            "<svg",
            "primary user of",
            "admin of",
            "monitored by",
            // The busiest identity is an administrator: its role is drawn.
            "Administrator (admin role)",
            "member of",
        ],
    );
    let missing = browser
        .get(&format!(
            "{graph_path}?center=device:00000000-0000-0000-0000-000000000000"
        ))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let replaced = browser
        .submit(
            &page_path,
            &format!("{base}/credential"),
            &[("client_secret", "wrong")],
        )
        .await;
    assert_eq!(
        replaced.location,
        Some(format!("{page_path}?done=integration-credential"))
    );
    let failed = browser
        .submit(&page_path, &format!("{base}/test"), &[])
        .await;
    assert_eq!(
        failed.location,
        Some(format!("{page_path}?error=connection-failed"))
    );
    let page = browser.get(&page_path).await.body;
    assert!(
        page.contains("failing") && page.contains("AADSTS7000215"),
        "{page}"
    );

    let run = browser
        .submit(
            &page_path,
            &format!("/tenants/{}/sandbox/run", f.acme.id),
            &[("scenario", "malware-laptop")],
        )
        .await;
    assert_eq!(run.location, Some(format!("{page_path}?done=scenario-run")));
    assert!(
        browser
            .get(&page_path)
            .await
            .body
            .contains("(1 alerts raised so far)")
    );

    let removed = browser
        .submit(&page_path, &format!("{base}/remove"), &[])
        .await;
    assert_eq!(
        removed.location,
        Some(format!("{page_path}?done=integration-removed"))
    );
    browser
        .submit(&page_path, &format!("{page_path}/{entra_id}/remove"), &[])
        .await;
    assert!(
        browser
            .get(&page_path)
            .await
            .body
            .contains("not connected to any vendor")
    );

    // A technician sees the page and may stage scenarios, but gets no management forms.
    let tech = Browser::new(&app);
    tech.sign_in("tech@harbor.example", PASSWORD).await;
    let page = tech.get(&page_path).await.body;
    assert!(!page.contains("Connect a vendor"));
    assert!(page.contains("Run compromised-admin"));
    let refused = tech.submit(&page_path, &page_path, &fields).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Customers do not see integrations at all.
    let owner = Browser::new(&app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    assert_eq!(owner.get(&page_path).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn control_characters_in_forms_are_refused_before_and_after_sign_in() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    // The sign-in form, before anyone is signed in: a 422, never a database error.
    let csrf = csrf(&browser.get("/login").await.body);
    let refused = browser
        .post(
            "/login",
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "admin@harbor.example\u{0}"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );

    browser.sign_in("admin@harbor.example", PASSWORD).await;
    let tenant_path = format!("/tenants/{}", f.acme.id);
    let entries = audit_entry_count(&f.world.storage).await;
    for name in ["Acme\u{0}Dental", "Acme\u{7}Dental"] {
        let refused = browser
            .submit(
                &tenant_path,
                &format!("{tenant_path}/rename"),
                &[("name", name)],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert!(
            refused.body.contains("control character"),
            "{}",
            refused.body
        );
    }
    // A name that reorders what follows it is refused as a name.
    let refused = browser
        .submit(
            &tenant_path,
            &format!("{tenant_path}/rename"),
            &[("name", "Acme \u{202E}latneD")],
        )
        .await;
    assert_eq!(
        refused.location,
        Some(format!("{tenant_path}?error=invalid-name"))
    );
    assert_eq!(audit_entry_count(&f.world.storage).await, entries);
    let (_, tenant) = f
        .app
        .get_as(
            &format!("/api/v1/tenants/{}", f.acme.id),
            &f.world.token(&f.admin, None).await,
        )
        .await;
    assert_eq!(tenant["name"], f.acme.name, "the name did not change");
}

#[tokio::test]
async fn pages_allow_no_script_no_framing_and_send_no_referrer() {
    let f = fixture().await;
    for path in ["/login", "/approvals/stwa_not-a-real-link", "/no-such-page"] {
        let answer = f.app.get(path).await;
        let headers = answer.headers();
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(
            !policy.contains("script-src"),
            "no script is allowed: {policy}"
        );
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(
            !headers.contains_key(header::STRICT_TRANSPORT_SECURITY),
            "plain http"
        );
        let body = answer.text().await.unwrap();
        assert!(!body.contains("<script"), "{path} carries a script");
        assert!(
            !body.contains(" style=\""),
            "{path} carries an inline style"
        );
    }
    let api = f.app.get("/api/v1/tenants").await;
    assert_eq!(api.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(!api.headers().contains_key(header::CONTENT_SECURITY_POLICY));
}

/// Releasing a kill switch or changing a tenant's policy from the browser asks who is there
/// when the last proof is older than ten minutes: a wrong proof changes nothing, the password
/// (or second-factor code) lets it through. API tokens are credentials of their own.
#[tokio::test]
async fn sensitive_changes_ask_who_is_there_again_after_ten_minutes() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("admin@harbor.example", PASSWORD).await;
    let pulled = browser
        .submit("/", "/kill-switch", &[("reason", "a test")])
        .await;
    assert_eq!(
        pulled.location.as_deref(),
        Some("/?done=msp-kill-switch-pulled")
    );
    let token = f.world.token(&f.admin, None).await;
    let halted = async || {
        let (_, switch) = f.app.get_as("/api/v1/kill-switch", &token).await;
        switch["engaged"] == true
    };
    assert!(halted().await);

    f.world.clock.advance(Duration::minutes(11));
    for confirm in ["", "not the password"] {
        let refused = browser
            .submit("/", "/kill-switch/release", &[("confirm", confirm)])
            .await;
        assert_eq!(
            refused.location.as_deref(),
            Some("/?error=confirm-identity"),
            "{confirm:?}"
        );
        assert!(halted().await, "still pulled");
    }
    let released = browser
        .submit("/", "/kill-switch/release", &[("confirm", PASSWORD)])
        .await;
    assert_eq!(
        released.location.as_deref(),
        Some("/?done=msp-kill-switch-released")
    );
    assert!(!halted().await);

    // Through the API with the session cookie: the same rule, and the way to confirm.
    f.world.clock.advance(Duration::minutes(11));
    let csrf_token = csrf(&browser.get("/").await.body);
    let policy_url = format!("{}/api/v1/tenants/{}/policy", f.app.base, f.acme.id);
    let policy = json!({
        "source": "package steward.authority\n\ndecision := {\"outcome\": \"technician_approval\", \"reasons\": [\"tenant-says-so\"]}\n"
    });
    let put = async || {
        browser
            .client
            .put(&policy_url)
            .header("x-csrf-token", &csrf_token)
            .json(&policy)
            .send()
            .await
            .unwrap()
    };
    let refused = put().await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "step-up-required");
    let confirm = async |proof: &str| {
        browser
            .client
            .post(format!("{}/api/v1/me/confirm", f.app.base))
            .header("x-csrf-token", &csrf_token)
            .json(&json!({ "proof": proof }))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(confirm("wrong").await, StatusCode::FORBIDDEN);
    assert_eq!(put().await.status(), StatusCode::FORBIDDEN);
    assert_eq!(confirm(PASSWORD).await, StatusCode::NO_CONTENT);
    assert_eq!(put().await.status(), StatusCode::OK);

    // A token needs no confirmation.
    f.world.clock.advance(Duration::minutes(11));
    let (status, answer) = f
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/tenants/{}/policy", f.acme.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
}

/// A session held at a gate (here: a password an admin chose) reaches, through the API too,
/// nothing but who it is.
#[tokio::test]
async fn a_session_at_a_gate_reaches_nothing_else_through_the_api() {
    let f = fixture().await;
    let token = f.world.token(&f.admin, None).await;
    let (status, created) = f
        .app
        .post_as(
            "/api/v1/users",
            &token,
            &json!({
                "email": "new@harbor.example",
                "display_name": "New Technician",
                "role": "technician",
                "password": "chosen by the admin",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["password_change_required"], true);
    let browser = Browser::new(&f.app);
    browser
        .sign_in("new@harbor.example", "chosen by the admin")
        .await;
    let api = |path: &str| {
        let url = format!("{}{path}", f.app.base);
        let client = browser.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(api("/api/v1/me").await.status(), StatusCode::OK);
    let held = api("/api/v1/tenants").await;
    assert_eq!(held.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = held.json().await.unwrap();
    assert_eq!(body["error"]["code"], "password-change-required");
}

/// An MSP requiring second factors of all its staff holds a technician at the set-up until
/// they have one; with one, confirming a sensitive change takes its code (not the password);
/// an admin can reset it for someone who lost theirs, and the set-up is asked for again.
#[tokio::test]
async fn an_msp_requiring_second_factors_of_its_staff_gets_them_and_they_count() {
    use steward_core::{Clock, second_factor::code_at};
    use steward_domain::tenancy::SecondFactorPolicy;

    let f = fixture().await;
    f.world
        .require_second_factor(f.admin.msp_id, SecondFactorPolicy::MspStaff)
        .await;
    let browser = Browser::new(&f.app);
    browser.sign_in("tech@harbor.example", PASSWORD).await;
    assert_eq!(
        browser.get("/").await.location.as_deref(),
        Some("/account?gate=second-factor-required")
    );
    let setup = browser
        .submit("/account", "/account/second-factor/start", &[])
        .await;
    let key = setup
        .body
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let code =
        |offset: i64| code_at(&key, f.world.clock.now() + Duration::seconds(offset)).unwrap();
    let on = browser
        .submit(
            "/account",
            "/account/second-factor/confirm",
            &[("code", &code(0))],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK);
    assert_eq!(browser.get("/").await.status, StatusCode::OK);
    // Required, so it cannot be turned off.
    let off = browser
        .submit(
            "/account",
            "/account/second-factor/remove",
            &[("confirm", &code(30))],
        )
        .await;
    assert_eq!(
        off.location.as_deref(),
        Some("/account?error=second-factor-required")
    );

    // A sensitive change takes the code, not the password.
    f.world.clock.advance(Duration::minutes(11));
    let token = csrf(&browser.get("/").await.body);
    let confirm = async |proof: String| {
        browser
            .client
            .post(format!("{}/api/v1/me/confirm", f.app.base))
            .header("x-csrf-token", &token)
            .json(&json!({ "proof": proof }))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(confirm(PASSWORD.to_owned()).await, StatusCode::FORBIDDEN);
    assert_eq!(confirm(code(0)).await, StatusCode::NO_CONTENT);
    assert_eq!(
        confirm(code(0)).await,
        StatusCode::FORBIDDEN,
        "a code counts once"
    );

    // The admin resets it; the technician is asked to set one up again.
    let admin = f.world.token(&f.admin, None).await;
    let (status, answer) = f
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}/second-factor", f.tech.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    assert_eq!(
        browser.get("/").await.location.as_deref(),
        Some("/account?gate=second-factor-required")
    );
    let (status, _) = f
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/users/{}/second-factor", f.tech.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to reset");
}

/// The forms of an MSP admin's pages, posted by a technician with a valid CSRF token: refused
/// before anything is read or written.
#[tokio::test]
async fn a_technician_cannot_post_an_admins_forms() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("tech@harbor.example", PASSWORD).await;
    let entries_before = audit_entry_count(&f.world.storage).await;
    let tokens = format!("/users/{}/tokens", f.tech.id);
    for (path, fields) in [
        ("/tenants", vec![("name", "Sneaky Customer")]),
        (
            "/users",
            vec![
                ("email", "sneaky@harbor.example"),
                ("display_name", "Sneaky"),
                ("role", "msp_admin"),
            ],
        ),
        (tokens.as_str(), vec![("name", "sneaky")]),
    ] {
        let page = browser.submit("/", path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}: {}", page.body);
    }
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);
    assert!(!browser.get("/").await.body.contains("Sneaky Customer"));
}

#[tokio::test]
async fn technicians_tune_rules_through_forms_and_bad_forms_change_nothing() {
    // The generic rule the RMM's inventory script trips: PowerShell bypassing its policy.
    const BYPASS: &str = "87e3c4e8-a6a8-4ad9-bb4f-46e7ff99a180";
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("tech@harbor.example", PASSWORD).await;
    let list = format!("/tenants/{}/detections", f.acme.id);
    let rule = format!("{list}/{BYPASS}");

    // Nothing found anything yet: the default list is empty and says how to see every rule;
    // a search over every rule finds the one asked for.
    let page = browser.get(&list).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Show every rule"), "{}", page.body);
    let page = browser
        .get(&format!("{list}?show=all&search=powershell+insecure"))
        .await;
    assert!(page.body.contains(&format!("{rule}\"")), "{}", page.body);
    assert!(!page.body.contains("Next page"), "one page of matches");
    let all = browser.get(&format!("{list}?show=all")).await;
    assert!(all.body.contains("Next page"), "the whole pack pages");
    assert_eq!(
        browser.get(&format!("{list}?show=loud")).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        browser.get(&format!("{list}/no-such-rule")).await.status,
        StatusCode::NOT_FOUND
    );

    // Off for this customer, then back to the MSP's choice.
    let page = browser
        .submit(&rule, &format!("{rule}/state"), &[("state", "off")])
        .await;
    page.assert_redirect_ends_with(&format!("{rule}?done=rule-state-saved"));
    let page = browser.get(&rule).await;
    assert!(page.body.contains("Off (this customer"), "{}", page.body);
    let off = browser.get(&format!("{list}?show=off")).await;
    assert!(off.body.contains(&format!("{rule}\"")), "{}", off.body);
    browser
        .submit(&rule, &format!("{rule}/state"), &[("state", "default")])
        .await;
    assert!(browser.get(&rule).await.body.contains("On (default)"));

    // Malformed suppressions are shown again with why, and nothing is kept.
    let entries_before = audit_entry_count(&f.world.storage).await;
    let suppress = format!("{rule}/suppressions");
    for (fields, why) in [
        (
            vec![
                ("conditions", "process.cmd_line is x"),
                ("reason", "r"),
                ("intent", "save"),
            ],
            "one condition per line",
        ),
        (
            vec![
                ("conditions", "process.cmd_line equals x"),
                ("reason", " "),
                ("intent", "save"),
            ],
            "Give a reason",
        ),
        (
            vec![
                ("conditions", "process.cmd_line equals x"),
                ("reason", "r"),
                ("expires_days", "0"),
                ("intent", "save"),
            ],
            "Expiry must be between 1 and 3650 days",
        ),
    ] {
        let page = browser.submit(&rule, &suppress, &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
        assert!(page.body.contains(why), "{why}: {}", page.body);
        assert!(page.body.contains(fields[0].1), "the draft is kept");
    }
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);

    // A replay saves nothing; a save keeps the suppression, in the audit chain.
    let condition = "process.cmd_line contains \\inventory.ps1";
    let page = browser
        .submit(
            &rule,
            &suppress,
            &[("conditions", condition), ("intent", "replay")],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("s 0 findings here"), "{}", page.body);
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);
    let page = browser
        .submit(
            &rule,
            &suppress,
            &[
                ("conditions", condition),
                ("reason", "the RMM's nightly inventory"),
                ("expires_days", "30"),
                ("intent", "save"),
            ],
        )
        .await;
    page.assert_redirect_ends_with(&format!("{rule}?done=suppression-saved"));
    assert_eq!(
        audit_entry_count(&f.world.storage).await,
        entries_before + 1
    );
    let page = browser.get(&rule).await;
    assert!(page.body.contains("\\inventory.ps1"), "{}", page.body);
    let remove = page
        .body
        .split("action=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|action| action.ends_with("/remove"))
        .expect("a remove form")
        .to_owned();
    browser
        .submit(&rule, &remove, &[])
        .await
        .assert_redirect_ends_with("?done=suppression-removed");
    assert!(browser.get(&rule).await.body.contains("No suppression"));
    assert_eq!(
        browser.submit(&rule, &remove, &[]).await.status,
        StatusCode::NOT_FOUND,
        "removed once"
    );

    // The customer's owner sees no rules.
    let owner = Browser::new(&f.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    assert_eq!(owner.get(&list).await.status, StatusCode::FORBIDDEN);
    assert!(
        !owner
            .get(&format!("/tenants/{}", f.acme.id))
            .await
            .body
            .contains("Detections")
    );
}

/// The MSP's own rule, from `folder`.
fn assist_rule(folder: &str, level: &str) -> String {
    format!(
        "title: Remote support tool started from {folder}
id: 5d1c2b3a-7e8f-4a9b-8c0d-1e2f3a4b5c6d
status: experimental
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\acmeassist.exe'
        Image|contains: '\\{folder}\\'
    condition: selection
level: {level}
"
    )
}

#[tokio::test]
async fn the_msp_uploads_versions_and_removes_its_rules_through_forms() {
    let f = fixture().await;
    let browser = Browser::new(&f.app);
    browser.sign_in("tech@harbor.example", PASSWORD).await;
    let page = browser.get("/detections").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Upload a rule"));
    let entries_before = audit_entry_count(&f.world.storage).await;

    // A wrong rule is shown again with where it is wrong; nothing is kept.
    let wrong = assist_rule("Downloads", "severe");
    let page = browser
        .submit(
            "/detections",
            "/detections",
            &[("yaml", &wrong), ("reason", "remote support")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("line 12, column 1: invalid level"),
        "{}",
        page.body
    );
    assert!(page.body.contains("severe"), "the draft is kept");
    let right = assist_rule("Downloads", "medium");
    let page = browser
        .submit(
            "/detections",
            "/detections",
            &[("yaml", &right), ("reason", "")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("give a reason"), "{}", page.body);
    // An id that would not stay one path segment of a link is refused.
    let escaping = right.replace(
        "5d1c2b3a-7e8f-4a9b-8c0d-1e2f3a4b5c6d",
        "../tenants/x/integrations/y",
    );
    let page = browser
        .submit(
            "/detections",
            "/detections",
            &[("yaml", &escaping), ("reason", "r")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("is not usable"), "{}", page.body);
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);

    // Uploaded, then a new version: both in the lineage, with what changed.
    let rule = "/detections/5d1c2b3a-7e8f-4a9b-8c0d-1e2f3a4b5c6d";
    browser
        .submit(
            "/detections",
            "/detections",
            &[
                ("yaml", &right),
                ("reason", "our tool runs from Program Files"),
            ],
        )
        .await
        .assert_redirect_ends_with(&format!("{rule}?done=rule-saved"));
    let desktop = assist_rule("Desktop", "medium");
    browser
        .submit(
            rule,
            rule,
            &[
                ("yaml", &desktop),
                ("reason", "the tool moved to the desktop"),
            ],
        )
        .await
        .assert_redirect_ends_with(&format!("{rule}?done=rule-saved"));
    let page = browser.get(rule).await;
    assert_eq!(
        page.body.matches("class=\"version\"").count(),
        2,
        "{}",
        page.body
    );
    assert!(page.body.contains("the tool moved to the desktop"));
    assert!(page.body.contains("What changed"), "{}", page.body);
    for line in ["\n-        Image|contains:", "\n+        Image|contains:"] {
        assert!(page.body.contains(line), "{line}: {}", page.body);
    }
    assert!(
        browser
            .get("/detections")
            .await
            .body
            .contains(&format!("{rule}\""))
    );

    // Off for every customer: the customer's page says whose choice it is.
    browser
        .submit(rule, &format!("{rule}/state"), &[("state", "off")])
        .await
        .assert_redirect_ends_with("?done=rule-state-saved");
    assert!(browser.get(rule).await.body.contains("Off (the MSP"));
    let in_acme = format!("/tenants/{}{rule}", f.acme.id);
    assert!(browser.get(&in_acme).await.body.contains("Off (the MSP"));

    // Removed, it is gone; its lineage stays in the audit chain.
    browser
        .submit(rule, &format!("{rule}/remove"), &[])
        .await
        .assert_redirect_ends_with("/detections?done=rule-removed");
    assert_eq!(browser.get(rule).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        audit_entry_count(&f.world.storage).await,
        entries_before + 4
    );

    // Customers' users manage no rules.
    let owner = Browser::new(&f.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    assert_eq!(owner.get("/detections").await.status, StatusCode::FORBIDDEN);
    let page = owner
        .submit(
            "/account",
            "/detections",
            &[("yaml", &right), ("reason", "mine")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
