//! The API's contract: JSON errors with stable codes and the right status, paging, the OpenAPI
//! document and metrics; and bad input changes nothing.

use crate::support::{TestApp, answer_to, content_type, harbor_with_admin, strings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

struct Fixture {
    world: World,
    app: TestApp,
    admin_token: String,
    tenant_id: String,
    _db: TestDatabase,
}

async fn fixture() -> Fixture {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let harbor = harbor_with_admin(&world, "acme").await;
    Fixture {
        app: TestApp::for_world(&world).await,
        world,
        admin_token: harbor.token,
        tenant_id: harbor.tenant.id.to_string(),
        _db: db,
    }
}

async fn raw(
    f: &Fixture,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = f
        .app
        .client
        .request(method, f.app.url(path))
        .bearer_auth(&f.admin_token)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    answer_to(request).await
}

/// A request that must be refused: method, path, content type, body, status and error code.
type BadRequest<'a> = (
    Method,
    String,
    Option<&'a str>,
    Vec<u8>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let f = fixture().await;
    let tenant_path = format!("/api/v1/tenants/{}", f.tenant_id);
    let json_type = Some("application/json");
    let oversized = json!({ "name": "x".repeat(2 * 1024 * 1024) })
        .to_string()
        .into_bytes();
    let cases: Vec<BadRequest> = vec![
        (Method::POST, "/api/v1/tenants".into(), json_type, b"{\"name\": ".to_vec(), StatusCode::BAD_REQUEST, "malformed-json"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"name": "Acme", "owner": "me"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"name": 42}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"slug": "acme-2"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"name": "Acme", "slug": "Not A Slug"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"name": "   "}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-name"),
        (Method::POST, "/api/v1/tenants".into(), json_type, br#"{"name": "Acme", "slug": "acme"}"#.to_vec(), StatusCode::CONFLICT, "slug-taken"),
        (Method::POST, "/api/v1/tenants".into(), Some("text/plain"), br#"{"name": "Acme"}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        (Method::POST, "/api/v1/tenants".into(), None, br#"{"name": "Acme"}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        (Method::POST, "/api/v1/tenants".into(), json_type, oversized, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
        (Method::PATCH, "/api/v1/tenants/not-a-uuid".into(), json_type, br#"{"name": "Acme"}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid-path"),
        (Method::PATCH, tenant_path.clone(), json_type, br#"{"name": ""}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-name"),
        (Method::PATCH, tenant_path.clone(), json_type, br#"[]"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "not-an-email", "display_name": "X", "role": "technician"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-email"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "a@b.example", "display_name": "X", "role": "overlord"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-body"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "a@b.example", "display_name": "X", "role": "customer_owner"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-role"),
        (Method::POST, "/api/v1/users".into(), json_type, format!(r#"{{"email": "a@b.example", "display_name": "X", "role": "technician", "tenant_id": "{}"}}"#, f.tenant_id).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "invalid-role"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "a@b.example", "display_name": "X", "role": "customer_owner", "tenant_id": "0194f3a2-7b1c-7d3e-9f00-1234567890ab"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "unknown-tenant"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "ADMIN@harbor.example", "display_name": "X", "role": "technician"}"#.to_vec(), StatusCode::CONFLICT, "email-taken"),
        (Method::POST, "/api/v1/users".into(), json_type, br#"{"email": "a@b.example", "display_name": "X", "role": "technician", "password": "short"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "weak-password"),
        (Method::GET, "/api/v1/tenants?limit=0".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-limit"),
        (Method::GET, "/api/v1/tenants?limit=1000".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-limit"),
        (Method::GET, "/api/v1/tenants?limit=ten".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-query"),
        (Method::GET, "/api/v1/tenants?cursor=garbage".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-cursor"),
        (Method::GET, "/api/v1/tenants?colour=blue".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-query"),
        (Method::GET, format!("/api/v1/tenants/{}/audit?cursor=-1", f.tenant_id), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-cursor"),
        (Method::GET, "/api/v1/users/12345".into(), None, Vec::new(), StatusCode::BAD_REQUEST, "invalid-path"),
        (Method::DELETE, "/api/v1/tokens/0194f3a2-7b1c-7d3e-9f00-1234567890ab".into(), None, Vec::new(), StatusCode::NOT_FOUND, "not-found"),
        (Method::GET, "/api/v1/nothing-here".into(), None, Vec::new(), StatusCode::NOT_FOUND, "not-found"),
    ];

    let entries_before = audit_entry_count(&f.world.storage).await;
    let (_, tenants_before) = f.app.get_as("/api/v1/tenants", &f.admin_token).await;
    let (_, users_before) = f.app.get_as("/api/v1/users", &f.admin_token).await;
    for (method, path, content_type, body, status, code) in cases {
        let (got, answer) = raw(&f, method.clone(), &path, content_type, body).await;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.len() > 10, "a message people can act on: {answer}");
    }
    assert_eq!(audit_entry_count(&f.world.storage).await, entries_before);
    assert_eq!(
        f.app.get_as("/api/v1/tenants", &f.admin_token).await.1,
        tenants_before
    );
    assert_eq!(
        f.app.get_as("/api/v1/users", &f.admin_token).await.1,
        users_before
    );
}

#[tokio::test]
async fn missing_and_invalid_credentials_are_different_401s() {
    let f = fixture().await;
    let cases = [
        (None, "unauthenticated"),
        (Some("Basic YWRtaW46YWRtaW4="), "invalid-credentials"),
        (Some("Bearer"), "invalid-credentials"),
        (Some("Bearer stw_not-a-real-token"), "invalid-token"),
    ];
    for (header, code) in cases {
        let mut request = f.app.client.get(f.app.url("/api/v1/me"));
        if let Some(header) = header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"steward\""
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{header:?}");
    }
}

#[tokio::test]
async fn tenants_and_users_are_managed_through_the_api_with_an_audit_trail() {
    let f = fixture().await;
    let token = &f.admin_token;

    let (status, created) = f
        .app
        .post_as(
            "/api/v1/tenants",
            token,
            &json!({ "name": "Birch & Co Accounting" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["slug"], "birch-co-accounting");
    assert_eq!(created["status"], "active");
    let id = created["id"].as_str().unwrap().to_owned();
    let tenant = format!("/api/v1/tenants/{id}");
    let rename = async |name: &str| {
        f.app
            .patch_as(&tenant, token, &json!({ "name": name }))
            .await
    };

    let (status, renamed) = rename("Birch Accounting").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(renamed["name"], "Birch Accounting");

    let (status, owner) = f
        .app
        .post_as(
            "/api/v1/users",
            token,
            &json!({
                "email": "Owner@Birch.example",
                "display_name": "Ada Birch",
                "role": "customer_owner",
                "tenant_id": id,
                "password": "a long enough password",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{owner}");
    assert_eq!(
        owner["email"], "owner@birch.example",
        "emails are stored lowercase"
    );
    assert_eq!(owner["tenant_id"], id.as_str());

    let (_, members) = f
        .app
        .get_as(&format!("/api/v1/tenants/{id}/members"), token)
        .await;
    let emails = strings(&members, "items", "email");
    assert_eq!(emails, ["admin@harbor.example", "owner@birch.example"]);

    let (status, offboarded) = f
        .app
        .post_as(&format!("/api/v1/tenants/{id}/offboard"), token, &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(offboarded["status"], "offboarded");
    assert!(offboarded["offboarded_at"].is_string());
    let (status, again) = rename("Changed").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["error"]["code"], "tenant-offboarded");

    // The tenant's chain tells the story, with who did it, before and after.
    let (_, audit) = f
        .app
        .get_as(&format!("/api/v1/tenants/{id}/audit"), token)
        .await;
    let entries = audit["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["tenant.created", "tenant.updated", "tenant.offboarded"]
    );
    let update = &entries[1];
    assert_eq!(update["before"]["name"], "Birch & Co Accounting");
    assert_eq!(update["after"]["name"], "Birch Accounting");
    assert_eq!(update["actor"]["kind"], "user");
    assert_eq!(
        update["actor"]["label"],
        "admin@harbor.example via API token \"test token\""
    );
    assert!(
        update["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(update["prev_hash"], entries[0]["hash"]);
    assert_eq!(entries[0]["seq"], 1);

    // User changes go to the MSP's chain.
    let (_, msp_audit) = f.app.get_as("/api/v1/audit", token).await;
    let last = msp_audit["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["action"], "user.created");
    assert_eq!(last["after"]["email"], "owner@birch.example");
    assert!(
        !last.to_string().contains("argon2"),
        "password hashes never reach the audit chain"
    );
}

#[tokio::test]
async fn lists_page_with_limit_and_cursor() {
    let f = fixture().await;
    let token = &f.admin_token;
    for n in 0..4 {
        let (status, _) = f
            .app
            .post_as(
                "/api/v1/tenants",
                token,
                &json!({ "name": format!("Customer {n}") }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/tenants?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let (status, page) = f.app.get_as(&path, token).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for tenant in page["items"].as_array().unwrap() {
            seen.push(tenant["slug"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/tenants?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "acme",
            "customer-0",
            "customer-1",
            "customer-2",
            "customer-3"
        ]
    );

    let (_, audit) = f
        .app
        .get_as(
            &format!("/api/v1/tenants/{}/audit?limit=1", f.tenant_id),
            token,
        )
        .await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    assert!(audit["next_cursor"].is_null(), "one entry: no next page");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let f = fixture().await;
    let (status, doc) = f
        .app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["components"]["securitySchemes"]["api_token"]["scheme"],
        "bearer"
    );

    let expected = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/me/tokens"),
        ("get", "/api/v1/msp"),
        ("patch", "/api/v1/msp"),
        ("get", "/api/v1/tenants"),
        ("post", "/api/v1/tenants"),
        ("get", "/api/v1/tenants/{tenant_id}"),
        ("patch", "/api/v1/tenants/{tenant_id}"),
        ("post", "/api/v1/tenants/{tenant_id}/offboard"),
        ("get", "/api/v1/tenants/{tenant_id}/members"),
        ("get", "/api/v1/tenants/{tenant_id}/audit"),
        ("get", "/api/v1/audit"),
        ("get", "/api/v1/users"),
        ("post", "/api/v1/users"),
        ("get", "/api/v1/users/{user_id}"),
        ("patch", "/api/v1/users/{user_id}"),
        ("get", "/api/v1/users/{user_id}/tokens"),
        ("post", "/api/v1/users/{user_id}/tokens"),
        ("delete", "/api/v1/tokens/{token_id}"),
        ("delete", "/api/v1/users/{user_id}/second-factor"),
        ("post", "/api/v1/me/confirm"),
        ("get", "/api/v1/tenants/{tenant_id}/integrations"),
        ("post", "/api/v1/tenants/{tenant_id}/integrations"),
        ("get", "/api/v1/tenants/{tenant_id}/coverage"),
        (
            "get",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
        ),
        (
            "patch",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
        ),
        (
            "delete",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/test",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/sandbox/scenarios/{scenario}/run",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/sync",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/webhook-secret",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/integrations/{integration_id}/ingest-key",
        ),
        ("get", "/api/v1/msp/detection-rules"),
        ("post", "/api/v1/msp/detection-rules"),
        ("get", "/api/v1/msp/detection-rules/{rule_id}"),
        ("get", "/api/v1/msp/detection-rules/{rule_id}/history"),
        ("put", "/api/v1/msp/detection-rules/{rule_id}"),
        ("delete", "/api/v1/msp/detection-rules/{rule_id}"),
        ("put", "/api/v1/msp/detection-rules/{rule_id}/state"),
        ("get", "/api/v1/tenants/{tenant_id}/detection-rules"),
        (
            "put",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/state",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/retro-hunt",
        ),
        (
            "get",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions",
        ),
        (
            "delete",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions/{suppression_id}",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppressions/replay",
        ),
        (
            "get",
            "/api/v1/tenants/{tenant_id}/detection-rules/{rule_id}/suppression-suggestion",
        ),
        ("get", "/api/v1/tenants/{tenant_id}/devices"),
        ("get", "/api/v1/tenants/{tenant_id}/identities"),
        (
            "get",
            "/api/v1/tenants/{tenant_id}/identities/{identity_id}/sign-in-baseline",
        ),
        ("get", "/api/v1/tenants/{tenant_id}/events"),
        ("get", "/api/v1/tenants/{tenant_id}/incidents"),
        ("get", "/api/v1/tenants/{tenant_id}/incidents/{incident_id}"),
        (
            "patch",
            "/api/v1/tenants/{tenant_id}/incidents/{incident_id}",
        ),
        ("get", "/api/v1/tenants/{tenant_id}/risk"),
        ("get", "/api/v1/tenants/{tenant_id}/reports/outcome"),
        ("get", "/api/v1/tenants/{tenant_id}/policy"),
        ("put", "/api/v1/tenants/{tenant_id}/policy"),
        ("delete", "/api/v1/tenants/{tenant_id}/policy"),
        ("post", "/api/v1/tenants/{tenant_id}/policy/simulate"),
        ("get", "/api/v1/tenants/{tenant_id}/actions"),
        ("get", "/api/v1/tenants/{tenant_id}/actions/{action_id}"),
        ("post", "/api/v1/tenants/{tenant_id}/actions"),
        (
            "get",
            "/api/v1/tenants/{tenant_id}/action-batches/{batch_id}",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/actions/{action_id}/approve",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/actions/{action_id}/reject",
        ),
        (
            "post",
            "/api/v1/tenants/{tenant_id}/actions/{action_id}/rollback",
        ),
        ("get", "/api/v1/tenants/{tenant_id}/guardrails"),
        ("put", "/api/v1/tenants/{tenant_id}/maintenance"),
        ("delete", "/api/v1/tenants/{tenant_id}/maintenance"),
        ("post", "/api/v1/tenants/{tenant_id}/kill-switch"),
        ("delete", "/api/v1/tenants/{tenant_id}/kill-switch"),
        ("get", "/api/v1/kill-switch"),
        ("get", "/api/v1/msp/slack"),
        ("put", "/api/v1/msp/slack"),
        ("delete", "/api/v1/msp/slack"),
        ("post", "/api/v1/kill-switch"),
        ("delete", "/api/v1/kill-switch"),
        ("get", "/api/v1/tenants/{tenant_id}/graph"),
        (
            "put",
            "/api/v1/tenants/{tenant_id}/context/{kind}/{entity_id}",
        ),
        ("get", "/api/v1/msp/webhooks"),
        ("post", "/api/v1/msp/webhooks"),
        ("get", "/api/v1/msp/webhooks/{subscription_id}"),
        ("patch", "/api/v1/msp/webhooks/{subscription_id}"),
        ("delete", "/api/v1/msp/webhooks/{subscription_id}"),
        ("get", "/api/v1/msp/webhooks/{subscription_id}/deliveries"),
        (
            "post",
            "/api/v1/msp/webhooks/{subscription_id}/deliveries/{delivery_id}/redeliver",
        ),
    ];
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.push((method.clone(), path.clone()));
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no responses"
            );
            if operation.get("security").is_some() {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} must document 401"
                );
            }
        }
    }
    documented.sort();
    let mut expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    // Every documented route is really served (no 404 or 405 from the router itself).
    for (method, path) in &expected {
        let path = path
            .replace("{tenant_id}", &f.tenant_id)
            .replace("{user_id}", "0194f3a2-7b1c-7d3e-9f00-1234567890ab")
            .replace("{token_id}", "0194f3a2-7b1c-7d3e-9f00-1234567890ab");
        let method: Method = method.to_uppercase().parse().unwrap();
        let (status, answer) = f
            .app
            .call(
                method.clone(),
                &path,
                Some(&f.admin_token),
                Some(&json!({})),
            )
            .await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            assert_ne!(
                answer["error"]["message"], "no such route",
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let f = fixture().await;
    for _ in 0..3 {
        f.app.get_as("/api/v1/me", &f.admin_token).await;
    }
    f.app.call(Method::GET, "/api/v1/me", None, None).await;
    let response = f.app.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"steward_http_requests_total{method="GET",route="/api/v1/me",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"steward_http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("steward_http_request_duration_seconds_bucket"),
        "{text}"
    );
}
