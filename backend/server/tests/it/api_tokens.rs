//! API tokens through the API and the CLI: issued, used, expired, revoked, and refused at once
//! when their user is disabled.

use crate::support::{TestApp, harbor_admin, harbor_technician, list, run, steward_on, strings};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use steward_testkit::{TestDatabase, World};

struct Fixture {
    db: TestDatabase,
    world: World,
    app: TestApp,
    admin_token: String,
    tech: steward_domain::tenancy::User,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let admin = harbor_admin(&world, &msp).await;
    let tech = harbor_technician(&world, &msp).await;
    let admin_token = world.token(&admin, None).await;
    let app = TestApp::for_world(&world).await;
    Fixture {
        db,
        world,
        app,
        admin_token,
        tech,
    }
}

async fn me_status(f: &Fixture, token: &str) -> (StatusCode, serde_json::Value) {
    f.app.get_as("/api/v1/me", token).await
}

#[tokio::test]
async fn an_issued_token_works_and_its_secret_is_shown_once() {
    let f = fixture().await;
    let (status, issued) = f
        .app
        .post_as(
            &format!("/api/v1/users/{}/tokens", f.tech.id),
            &f.admin_token,
            &json!({ "name": "monitoring", "expires_in_days": 30 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["secret"].as_str().unwrap();
    assert!(secret.starts_with("stw_") && secret.len() > 40, "{secret}");

    let (status, me) = me_status(&f, secret).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["email"], "tech@harbor.example");
    assert_eq!(me["user"]["role"], "technician");
    assert_eq!(me["msp"]["slug"], "harbor");
    assert_eq!(
        me["permissions"],
        json!([
            "read_tenants",
            "read_members",
            "read_tenant_audit",
            "read_integrations",
            "read_sandbox",
            "run_sandbox_scenarios",
            "read_incidents",
            "work_incidents",
            "read_actions",
            "propose_actions",
            "approve_as_technician",
            "halt_automation",
            "halt_all_automation",
            "read_reports",
            "read_policies",
            "read_inventory",
            "read_detections",
            "manage_detections"
        ])
    );

    let (_, listed) = f
        .app
        .get_as(
            &format!("/api/v1/users/{}/tokens", f.tech.id),
            &f.admin_token,
        )
        .await;
    let token = &listed["items"][0];
    assert_eq!(token["name"], "monitoring");
    assert!(token["last_used_at"].is_string(), "use is tracked: {token}");
    assert!(
        !listed.to_string().contains(secret),
        "lists never hold secrets"
    );
    let (_, own) = f.app.get_as("/api/v1/me/tokens", secret).await;
    assert_eq!(own["items"][0]["id"], token["id"]);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let f = fixture().await;
    let token = f.world.token(&f.tech, Some(Duration::hours(1))).await;
    assert_eq!(me_status(&f, &token).await.0, StatusCode::OK);
    f.world.clock.advance(Duration::minutes(61));
    let (status, answer) = me_status(&f, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["code"], "invalid-token");
    assert_eq!(answer["error"]["message"], "the API token has expired");
}

#[tokio::test]
async fn revoked_tokens_are_refused_at_once() {
    let f = fixture().await;
    let own = f.world.token(&f.tech, None).await;
    let other = f.world.token(&f.tech, None).await;
    let (_, listed) = f.app.get_as("/api/v1/me/tokens", &own).await;
    let ids: Vec<String> = list(&listed, "items")
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();

    // The owner revokes one of their own tokens...
    let (status, revoked) = f
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{}", ids[1]),
            Some(&own),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    let (status, answer) = me_status(&f, &other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"]["message"], "the API token has been revoked");

    // ...and an admin revokes the other.
    let (status, _) = f
        .app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/tokens/{}", ids[0]),
            Some(&f.admin_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me_status(&f, &own).await.0, StatusCode::UNAUTHORIZED);

    let (_, audit) = f.app.get_as("/api/v1/audit", &f.admin_token).await;
    let revocations = list(&audit, "items")
        .iter()
        .filter(|e| e["action"] == "api_token.revoked")
        .count();
    assert_eq!(revocations, 2);
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working_at_once() {
    let f = fixture().await;
    let token = f.world.token(&f.tech, None).await;
    let user_path = format!("/api/v1/users/{}", f.tech.id);

    let (status, disabled) = f
        .app
        .patch_as(&user_path, &f.admin_token, &json!({ "status": "disabled" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{disabled}");
    let (status, answer) = me_status(&f, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer["error"]["message"],
        "the API token's user is disabled"
    );

    let (status, _) = f
        .app
        .patch_as(&user_path, &f.admin_token, &json!({ "status": "active" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me_status(&f, &token).await.0, StatusCode::OK);

    let (_, audit) = f.app.get_as("/api/v1/audit", &f.admin_token).await;
    let actions = strings(&audit, "items", "action");
    assert!(
        actions.ends_with(&["user.disabled", "user.enabled"]),
        "{actions:?}"
    );
}

#[tokio::test]
async fn admins_cannot_lock_themselves_out() {
    let f = fixture().await;
    let (_, me) = me_status(&f, &f.admin_token).await;
    let path = format!("/api/v1/users/{}", me["user"]["id"].as_str().unwrap());
    for change in [
        json!({ "status": "disabled" }),
        json!({ "role": "technician" }),
    ] {
        let (status, answer) = f.app.patch_as(&path, &f.admin_token, &change).await;
        assert_eq!(status, StatusCode::CONFLICT, "{change}");
        assert_eq!(answer["error"]["code"], "own-account");
    }
    assert_eq!(me_status(&f, &f.admin_token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_cli_issues_lists_and_revokes_tokens() {
    let f = fixture().await;
    let cli = || {
        let mut command = steward_on(&f.db);
        command.env("STEWARD_AUDIT__SIGNING_KEY", &f.world.signing_key);
        command
    };

    let mut create = cli();
    create.args([
        "token",
        "create",
        "--email",
        "TECH@harbor.example",
        "--name",
        "nightly report",
        "--expires-in",
        "7",
    ]);
    let (code, stdout, stderr) = run(create);
    assert_eq!(code, 0, "{stderr}");
    let secret = stdout.trim();
    assert!(
        secret.starts_with("stw_"),
        "only the secret goes to stdout: {stdout:?}"
    );
    assert!(
        stderr.contains("Issued API token \"nightly report\""),
        "{stderr}"
    );
    assert!(stderr.contains("shown once"), "{stderr}");
    assert_eq!(me_status(&f, secret).await.0, StatusCode::OK);

    let mut list = cli();
    list.args(["token", "list", "--email", "tech@harbor.example"]);
    let (code, stdout, stderr) = run(list);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("active") && stdout.contains("nightly report"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret));
    let token_id = stdout.split_whitespace().next().unwrap().to_owned();

    let mut revoke = cli();
    revoke.args(["token", "revoke", &token_id]);
    let (code, stdout, stderr) = run(revoke);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Revoked API token \"nightly report\""),
        "{stdout}"
    );
    assert_eq!(me_status(&f, secret).await.0, StatusCode::UNAUTHORIZED);

    let (_, audit) = f.app.get_as("/api/v1/audit", &f.admin_token).await;
    let cli_entries: Vec<_> = crate::support::list(&audit, "items")
        .iter()
        .filter(|e| e["actor"]["kind"] == "cli")
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cli_entries, ["api_token.created", "api_token.revoked"]);

    let mut unknown = cli();
    unknown.args(["token", "create", "--email", "nobody@harbor.example"]);
    let (code, _, stderr) = run(unknown);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no user has the email nobody@harbor.example"),
        "{stderr}"
    );
}
