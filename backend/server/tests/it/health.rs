//! Liveness and readiness through the real router and listener.

use crate::support::{TestApp, content_type, error_message};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_core::storage::{DatabaseConfig, DatabaseUrl, Storage};
use steward_testkit::TestDatabase;

#[tokio::test]
async fn healthz_and_readyz_answer_when_the_database_is_up() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::with_database(&db).await;

    for (path, expected) in [
        ("/healthz", json!({"status": "ok"})),
        ("/readyz", json!({"status": "ready", "database": "ok"})),
    ] {
        let (status, body) = app.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(body, expected, "{path}");
    }
}

/// A database Steward cannot open: on SQLite a file in a directory that does not exist; on
/// PostgreSQL first a database the server does not have, then a server that does not answer.
fn unreachable_databases(db: &TestDatabase) -> Vec<DatabaseConfig> {
    match db.url() {
        None => vec![DatabaseConfig::default()],
        Some(url) => {
            let mut missing_database = url::Url::parse(url.expose()).unwrap();
            missing_database.set_path("steward_test_does_not_exist");
            let mut no_server = missing_database.clone();
            no_server.set_port(Some(1)).unwrap();
            [missing_database, no_server]
                .into_iter()
                .map(|url| DatabaseConfig {
                    url: Some(DatabaseUrl::try_from(url.to_string()).unwrap()),
                    connect_timeout_seconds: 1,
                    ..DatabaseConfig::default()
                })
                .collect()
        }
    }
}

#[tokio::test]
async fn readyz_fails_while_the_database_is_unreachable() {
    let db = TestDatabase::empty().await;
    for config in unreachable_databases(&db) {
        let missing_dir = db.data_dir().join("missing").join("dir");
        let storage = Storage::connect_lazy(&config, &missing_dir).unwrap();
        let app = TestApp::serve(storage).await;

        assert_eq!(
            app.get("/healthz").await.status(),
            StatusCode::OK,
            "the process is up"
        );
        let ready = app.get("/readyz").await;
        assert_eq!(
            ready.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{config:?}"
        );
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unavailable");
        assert!(error_message(&body).contains("database"), "{body}");
    }
}

#[tokio::test]
async fn unknown_routes_get_a_404_and_every_answer_a_request_id() {
    let db = TestDatabase::migrated().await;
    let app = TestApp::with_database(&db).await;

    let response = app.get("/api/v1/no/such/thing").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not-found");

    // Outside the API, people get a page.
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(content_type(&response).starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("Not found"));

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-123");
}
