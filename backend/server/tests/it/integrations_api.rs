//! Integrations and the sandbox through the HTTP API: connecting a tenant to the sandbox's
//! simulated Defender for Endpoint and Microsoft Graph, testing the connection, credentials that
//! never come back out, health recorded and audited, bad input refused without changes,
//! scenarios staged and the vendor-side state read back.

use crate::support::{self, TestApp, assert_includes_all, error_message, list, strings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_core::{secrets::SecretBox, storage::entities::integration};
use steward_domain::tenancy::Role;
use steward_testkit::{TestDatabase, tamper::audit_entry_count};

type Setup = support::Harbor;

async fn setup(db: &TestDatabase) -> Setup {
    support::harbor(db).await
}

impl Setup {
    fn integrations(&self) -> String {
        format!("/api/v1/tenants/{}/integrations", self.tenant.id)
    }

    fn body(&self, vendor: &str, api: &str, name: &str) -> Value {
        json!({
            "vendor": vendor,
            "name": name,
            "settings": {
                "directory_id": self.credentials.directory_id,
                "client_id": self.credentials.client_id,
                "api_base_url": self.app.url(&format!("/sandbox/{api}/")),
                "login_base_url": self.app.url("/sandbox/login/"),
            },
            "client_secret": self.credentials.client_secret,
        })
    }

    /// Connects the simulated Defender for Endpoint and Microsoft Graph; their ids.
    async fn connect_microsoft(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for (vendor, api, name) in [
            ("microsoft_defender", "defender", "Defender"),
            ("microsoft_graph", "graph", "Entra ID"),
        ] {
            let (status, created) = self
                .call(
                    Method::POST,
                    &self.integrations(),
                    &self.admin,
                    Some(&self.body(vendor, api, name)),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        ids
    }

    /// The simulated customer's vendor-side state.
    async fn sandbox_state(&self) -> steward_sandbox::SandboxState {
        self.app
            .sandbox
            .as_ref()
            .unwrap()
            .state(self.tenant.id.as_uuid())
            .await
            .unwrap()
    }

    /// The tenant's identities, as a technician lists them.
    async fn identities(&self) -> Value {
        let path = format!("/api/v1/tenants/{}/identities", self.tenant.id);
        let (status, identities) = self.call(Method::GET, &path, &self.technician, None).await;
        assert_eq!(status, StatusCode::OK, "{identities}");
        identities
    }
}

#[tokio::test]
async fn an_admin_connects_tests_and_removes_integrations() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;

    let (status, defender) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_defender", "defender", "Defender")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{defender}");
    assert_eq!(defender["health"], "unknown");
    assert!(
        !defender.to_string().contains(&s.credentials.client_secret),
        "the credential never comes back out"
    );
    let (status, graph) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{graph}");

    // The credential is stored sealed, not as entered.
    let rows = <integration::Entity as sea_orm::EntityTrait>::find()
        .all(s.world.storage.conn())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|row| !row.sealed_secret.contains(&s.credentials.client_secret))
    );

    for (integration, checks) in [(&defender, 2), (&graph, 5)] {
        let path = format!(
            "{}/{}/test",
            s.integrations(),
            integration["id"].as_str().unwrap()
        );
        let (status, test) = s.call(Method::POST, &path, &s.admin, None).await;
        assert_eq!(status, StatusCode::OK, "{test}");
        assert_eq!(test["ok"], true, "{test}");
        assert_eq!(test["checks"].as_array().unwrap().len(), checks, "{test}");
        assert_eq!(test["integration"]["health"], "healthy");
        assert!(test["integration"]["last_success_at"].is_string());
    }

    let (status, list) = s
        .call(Method::GET, &s.integrations(), &s.technician, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);

    let path = format!("{}/{}", s.integrations(), graph["id"].as_str().unwrap());
    let (status, _) = s.call(Method::DELETE, &path, &s.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, &path, &s.admin, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/audit", s.tenant.id),
            &s.admin,
            None,
        )
        .await;
    assert_includes_all(
        &strings(&audit, "items", "action"),
        &[
            "integration.created",
            "integration.checked",
            "integration.removed",
        ],
    );
    assert!(!audit.to_string().contains(&s.credentials.client_secret));
}

#[tokio::test]
async fn a_wrong_credential_makes_the_integration_failing_with_the_vendors_reason() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let (_, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    let path = format!("{}/{}", s.integrations(), created["id"].as_str().unwrap());
    let (status, updated) = s
        .call(
            Method::PATCH,
            &path,
            &s.admin,
            Some(&json!({"client_secret": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");

    let (status, test) = s
        .call(Method::POST, &format!("{path}/test"), &s.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(test["ok"], false);
    let error = test["error"].as_str().unwrap();
    assert!(
        error.contains("invalid_client") && error.contains("AADSTS7000215"),
        "{error}"
    );
    assert_eq!(test["integration"]["health"], "failing");
    assert_eq!(test["integration"]["last_error"], error);
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let (status, _) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = audit_entry_count(&s.world.storage).await;

    let mut unknown_vendor = s.body("microsoft_graph", "graph", "Other");
    unknown_vendor["vendor"] = json!("acme_edr");
    let mut missing_client = s.body("microsoft_graph", "graph", "Other");
    missing_client["settings"]
        .as_object_mut()
        .unwrap()
        .remove("client_id");
    let mut secret_in_settings = s.body("microsoft_graph", "graph", "Other");
    secret_in_settings["settings"]["client_secret"] = json!("x");
    let mut empty_secret = s.body("microsoft_graph", "graph", "Other");
    empty_secret["client_secret"] = json!(" ");
    let mut ftp = s.body("microsoft_graph", "graph", "Other");
    ftp["settings"]["api_base_url"] = json!("ftp://example.com/");
    let duplicate = s.body("microsoft_graph", "graph", "Entra ID");
    for (body, status, code) in [
        (
            unknown_vendor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
        (
            missing_client,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-settings",
        ),
        (
            secret_in_settings,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-settings",
        ),
        (
            empty_secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-secret",
        ),
        (ftp, StatusCode::UNPROCESSABLE_ENTITY, "invalid-settings"),
        (duplicate, StatusCode::CONFLICT, "name-taken"),
    ] {
        let (got, answer) = s
            .call(Method::POST, &s.integrations(), &s.admin, Some(&body))
            .await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    assert_eq!(audit_entry_count(&s.world.storage).await, before);
    let (_, list) = s.call(Method::GET, &s.integrations(), &s.admin, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn other_msps_cannot_reach_a_tenants_integrations_or_sandbox() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let (_, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    let other = s.world.msp("elsewhere").await;
    let stranger = s
        .world
        .user(other.id, "admin@elsewhere.example", Role::MspAdmin, None)
        .await;
    let stranger = s.world.token(&stranger, None).await;
    let integration = format!("{}/{}", s.integrations(), created["id"].as_str().unwrap());
    for (method, path) in [
        (Method::GET, s.integrations()),
        (Method::GET, integration.clone()),
        (Method::POST, format!("{integration}/test")),
        (Method::DELETE, integration.clone()),
        (Method::GET, format!("/sandbox/state/{}", s.tenant.id)),
        (
            Method::POST,
            format!(
                "/api/v1/tenants/{}/sandbox/scenarios/malware-laptop/run",
                s.tenant.id
            ),
        ),
    ] {
        let (status, answer) = s.call(method.clone(), &path, &stranger, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
    }
}

#[tokio::test]
async fn scenarios_change_the_vendor_side_state_staff_can_read() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let state_path = format!("/sandbox/state/{}", s.tenant.id);
    let (status, state) = s.call(Method::GET, &state_path, &s.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["defender_alerts"], 0);
    assert_eq!(
        state["devices"].as_array().unwrap().len(),
        10,
        "eight laptops, a server and a front-desk PC"
    );
    assert!(
        list(&state, "users")
            .iter()
            .all(|u| u["account_enabled"] == true)
    );

    let run = format!(
        "/api/v1/tenants/{}/sandbox/scenarios/malware-laptop/run",
        s.tenant.id
    );
    let (status, answer) = s.call(Method::POST, &run, &s.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["scenario"], "malware-laptop");
    let target = answer["target"].as_str().unwrap();
    let (_, state) = s.call(Method::GET, &state_path, &s.technician, None).await;
    assert_eq!(state["defender_alerts"], 1);
    let device = list(&state, "devices")
        .iter()
        .find(|d| d["id"] == target)
        .unwrap();
    assert!(
        device["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("Finance"))
    );

    let (status, answer) = s
        .call(
            Method::POST,
            &format!(
                "/api/v1/tenants/{}/sandbox/scenarios/compromised-admin/run",
                s.tenant.id
            ),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, state) = s.call(Method::GET, &state_path, &s.admin, None).await;
    assert_eq!(state["security_alerts"], 1);
    let admin = list(&state, "users")
        .iter()
        .find(|u| u["id"] == answer["target"])
        .unwrap();
    assert_eq!(admin["admin_roles"], json!(["Global Administrator"]));

    let (_, audit) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/audit", s.tenant.id),
            &s.admin,
            None,
        )
        .await;
    let runs = list(&audit, "items")
        .iter()
        .filter(|e| e["action"] == "sandbox.scenario_run")
        .count();
    assert_eq!(runs, 2);

    // The state survives a restart: a fresh sandbox over the same database sees it.
    let reopened = steward_server::sandbox::open(s.world.storage.clone(), s.world.shared_clock())
        .await
        .unwrap();
    let again = reopened.state(s.tenant.id.as_uuid()).await.unwrap();
    assert_eq!(again.defender_alerts, 1);
    assert_eq!(again.security_alerts, 1);
}

#[tokio::test]
async fn scenario_and_state_refusals_are_clear() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let before = audit_entry_count(&s.world.storage).await;
    let run = |scenario: &str| {
        format!(
            "/api/v1/tenants/{}/sandbox/scenarios/{scenario}/run",
            s.tenant.id
        )
    };

    let (status, answer) = s
        .call(Method::POST, &run("ransomware"), &s.admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_message(&answer).contains("malware-laptop"));
    let (status, _) = s
        .call(Method::POST, &run("malware-laptop"), &s.owner, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/sandbox/state/{}", s.tenant.id),
            &s.owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s
        .app
        .call(
            Method::GET,
            &format!("/sandbox/state/{}", s.tenant.id),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_entry_count(&s.world.storage).await, before);

    // Without the sandbox, scenarios are refused and the vendor routes do not exist.
    let plain = TestApp::for_world(&s.world).await;
    let (status, answer) = plain
        .call(Method::POST, &run("malware-laptop"), Some(&s.admin), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(answer["error"]["code"], "sandbox-disabled");
    let response = plain
        .client
        .post(plain.url(&format!(
            "/sandbox/login/{}/oauth2/v2.0/token",
            s.credentials.directory_id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_credential_sealed_under_another_key_is_reported_not_used() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let integration = s
        .world
        .integration(
            &s.tenant,
            &SecretBox::from_key(&[1; 32]),
            steward_core::storage::NewIntegration {
                vendor: steward_domain::observations::Vendor::MicrosoftGraph,
                name: "Sealed elsewhere".to_owned(),
                settings: s.body("microsoft_graph", "graph", "x")["settings"].clone(),
                secret: s.credentials.client_secret.clone().into(),
            },
        )
        .await;
    let (status, answer) = s
        .call(
            Method::POST,
            &format!("{}/{}/test", s.integrations(), integration.id),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "credential-unreadable");
}

#[tokio::test]
async fn synchronizing_fills_the_inventory_and_events_once_with_provenance() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let ids = s.connect_microsoft().await;
    let sync = |id: &str| format!("{}/{id}/sync", s.integrations());

    let (status, report) = s.call(Method::POST, &sync(&ids[0]), &s.admin, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["counts"]["devices_created"], 9, "{report}");
    assert_eq!(report["integration"]["health"], "healthy");
    let (_, report) = s.call(Method::POST, &sync(&ids[1]), &s.admin, None).await;
    assert_eq!(report["counts"]["identities_created"], 8, "{report}");
    assert_eq!(
        report["counts"]["events_new"], 57,
        "a week of sign-ins by eight people, and one from a home computer: {report}"
    );

    // Again: nothing new, nothing stored twice.
    let (_, again) = s.call(Method::POST, &sync(&ids[1]), &s.admin, None).await;
    assert_eq!(again["counts"]["events_new"], 0, "{again}");
    assert_eq!(again["counts"]["identities_created"], 0, "{again}");

    // A scenario's alert arrives with the next synchronization, as a Detection Finding.
    let (_, run) = s
        .call(
            Method::POST,
            &format!(
                "/api/v1/tenants/{}/sandbox/scenarios/malware-laptop/run",
                s.tenant.id
            ),
            &s.technician,
            None,
        )
        .await;
    let (_, report) = s.call(Method::POST, &sync(&ids[0]), &s.admin, None).await;
    assert_eq!(report["counts"]["events_new"], 1, "{report}");
    let events = format!(
        "/api/v1/tenants/{}/events?class=detection_finding",
        s.tenant.id
    );
    let (status, findings) = s.call(Method::GET, &events, &s.owner, None).await;
    assert_eq!(status, StatusCode::OK, "{findings}");
    let finding = &findings["items"][0];
    assert_eq!(finding["class"], "detection_finding");
    assert_eq!(finding["ocsf"]["class_uid"], 2004);
    assert_eq!(finding["entities"][0]["external_id"], run["target"]);
    let (status, _) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/events?class=firewall", s.tenant.id),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Provenance: which integration said what about each device and identity.
    let (_, devices) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/devices?limit=200", s.tenant.id),
            &s.owner,
            None,
        )
        .await;
    let devices = devices["items"].as_array().unwrap();
    assert_eq!(devices.len(), 9);
    let laptop = devices
        .iter()
        .find(|d| d["sources"][0]["external_id"] == run["target"])
        .unwrap();
    assert_eq!(
        laptop["sources"][0]["integration_id"].as_str(),
        Some(ids[0].as_str())
    );
    assert_eq!(laptop["tags"], json!(["Finance"]));
    let identities = s.identities().await;
    let privileged = list(&identities, "items")
        .iter()
        .filter(|i| !i["admin_roles"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(privileged, 2);

    let (_, audit) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/audit?limit=200", s.tenant.id),
            &s.admin,
            None,
        )
        .await;
    let synced = list(&audit, "items")
        .iter()
        .filter(|e| e["action"] == "inventory.synced")
        .count();
    assert_eq!(
        synced, 3,
        "one entry per synchronization that changed something"
    );
}

#[tokio::test]
async fn a_vendor_that_fails_during_sync_leaves_the_inventory_alone_and_says_why() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let (_, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    s.app.sandbox.as_ref().unwrap().throttle(
        s.tenant.id.as_uuid(),
        steward_sandbox::Api::Graph,
        1000,
    );
    let path = format!(
        "{}/{}/sync",
        s.integrations(),
        created["id"].as_str().unwrap()
    );
    let (status, report) = s.call(Method::POST, &path, &s.admin, None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ok"], false);
    assert!(
        report["error"].as_str().unwrap().contains("throttling"),
        "{report}"
    );
    assert_eq!(report["integration"]["health"], "failing");
    let (_, identities) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/identities", s.tenant.id),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(identities["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_okta_org_is_connected_with_its_url_and_api_token_and_merges_with_entra_id() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let okta = |settings: Value, credential: &str| {
        json!({
            "vendor": "okta",
            "name": "Okta",
            "settings": settings,
            "credential": credential,
        })
    };
    let org_url = s
        .app
        .url(&format!("/sandbox/okta/{}", s.credentials.okta_org));
    let token = s.credentials.okta_api_token.as_str();
    let before = audit_entry_count(&s.world.storage).await;
    for (body, code) in [
        (okta(json!({}), token), "invalid-settings"),
        (
            okta(
                json!({"directory_id": s.credentials.directory_id, "client_id": "c"}),
                token,
            ),
            "invalid-settings",
        ),
        (
            okta(json!({"org_url": "not a url"}), token),
            "invalid-settings",
        ),
        (okta(json!({"org_url": org_url}), " "), "invalid-secret"),
    ] {
        let (status, answer) = s
            .call(Method::POST, &s.integrations(), &s.admin, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let (_, answer) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&okta(json!({}), token)),
        )
        .await;
    assert!(
        error_message(&answer).contains("org_url"),
        "the error names what Okta needs: {answer}"
    );
    assert_eq!(audit_entry_count(&s.world.storage).await, before);

    let (status, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&okta(json!({"org_url": org_url}), token)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["vendor"], "okta");
    assert!(
        !created.to_string().contains(token),
        "the token never comes back"
    );
    let path = format!("{}/{}", s.integrations(), created["id"].as_str().unwrap());

    let (status, tested) = s
        .call(Method::POST, &format!("{path}/test"), &s.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert_eq!(tested["checks"].as_array().unwrap().len(), 3);

    // Entra ID first, then Okta: each person is one identity with both sources.
    let (_, graph) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&s.body("microsoft_graph", "graph", "Entra ID")),
        )
        .await;
    let graph_path = format!("{}/{}", s.integrations(), graph["id"].as_str().unwrap());
    for path in [&graph_path, &path] {
        let (status, synced) = s
            .call(Method::POST, &format!("{path}/sync"), &s.admin, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{synced}");
        assert_eq!(synced["ok"], true, "{synced}");
    }
    let identities = s.identities().await;
    let items = identities["items"].as_array().unwrap();
    let state = s.sandbox_state().await;
    assert_eq!(items.len(), state.users.len(), "{identities:#}");
    for identity in items {
        let mut sources: Vec<&Value> = list(identity, "sources")
            .iter()
            .map(|source| &source["integration_id"])
            .collect();
        sources.sort_by_key(|id| id.as_str());
        let mut expected = vec![&graph["id"], &created["id"]];
        expected.sort_by_key(|id| id.as_str());
        assert_eq!(sources, expected, "{identity:#}");
    }

    // Someone suspends a person in Okta's admin console: after the next Okta sync the merged
    // identity is still enabled (Entra ID lets it sign in) and the disagreement is visible.
    let person = &state.users[5];
    let suspended = support::client()
        .post(format!(
            "{org_url}/api/v1/users/{}/lifecycle/suspend",
            person.okta_id
        ))
        .header("Authorization", format!("SSWS {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(suspended.status(), StatusCode::OK);
    let (_, synced) = s
        .call(Method::POST, &format!("{path}/sync"), &s.admin, None)
        .await;
    assert_eq!(synced["ok"], true, "{synced}");
    let identities = s.identities().await;
    let identity = list(&identities, "items")
        .iter()
        .find(|i| i["user_principal_name"] == person.user_principal_name.to_lowercase())
        .unwrap();
    assert_eq!(identity["enabled"], true, "{identity:#}");
    assert_eq!(
        identity["conflicts"],
        json!([{
            "attribute": "enabled",
            "values": [
                {"integration_id": graph["id"], "value": true},
                {"integration_id": created["id"], "value": false},
            ],
        }]),
        "{identity:#}"
    );
    let others = list(&identities, "items")
        .iter()
        .filter(|i| !i["conflicts"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(others, 1, "only the suspended person's sources disagree");

    // The tenant page shows it to MSP staff, naming the integrations.
    let web_admin = s
        .world
        .user(
            s.tenant.msp_id,
            "web-admin@harbor.example",
            Role::MspAdmin,
            None,
        )
        .await;
    s.world
        .set_password(&web_admin, "correct horse battery staple")
        .await;
    let browser = support::Browser::new(&s.app);
    browser
        .sign_in("web-admin@harbor.example", "correct horse battery staple")
        .await;
    let page = browser.get(&format!("/tenants/{}", s.tenant.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Sources disagree"), "{}", page.body);
    assert!(
        page.body.contains("Entra ID says true; Okta says false"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Coverage"), "{}", page.body);
    assert!(
        page.body.contains("no RMM, PSA, EDR, backup connected"),
        "{}",
        page.body
    );

    // A wrong token: the test fails with Okta's reason and the integration is failing.
    let (status, _) = s
        .call(
            Method::PATCH,
            &path,
            &s.admin,
            Some(&json!({"credential": "00wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tested) = s
        .call(Method::POST, &format!("{path}/test"), &s.admin, None)
        .await;
    assert_eq!(tested["ok"], false);
    assert!(
        tested["error"].as_str().unwrap().contains("E0000011"),
        "{tested}"
    );
    assert_eq!(tested["integration"]["health"], "failing");

    // Removing Okta: at the next Entra ID sync its old report no longer counts.
    let (status, _) = s.call(Method::DELETE, &path, &s.admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, synced) = s
        .call(Method::POST, &format!("{graph_path}/sync"), &s.admin, None)
        .await;
    assert_eq!(synced["ok"], true, "{synced}");
    let identities = s.identities().await;
    assert!(
        list(&identities, "items")
            .iter()
            .all(|i| i["conflicts"].as_array().unwrap().is_empty()),
        "{identities:#}"
    );
}

#[tokio::test]
async fn a_falcon_api_client_is_connected_with_its_cid_and_tested() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let falcon = |settings: Value| {
        json!({
            "vendor": "crowdstrike_falcon",
            "name": "Falcon",
            "settings": settings,
            "credential": s.credentials.falcon_client_secret,
        })
    };
    let base = s.app.url("/sandbox/falcon/");
    let before = audit_entry_count(&s.world.storage).await;
    for settings in [
        json!({"api_base_url": base}),
        json!({"client_id": s.credentials.falcon_client_id, "member_cid": "acme"}),
        json!({"client_id": s.credentials.falcon_client_id, "org_url": base}),
    ] {
        let (status, answer) = s
            .call(
                Method::POST,
                &s.integrations(),
                &s.admin,
                Some(&falcon(settings.clone())),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{settings}: {answer}"
        );
        assert_eq!(answer["error"]["code"], "invalid-settings", "{answer}");
    }
    assert_eq!(audit_entry_count(&s.world.storage).await, before);

    let (status, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&falcon(json!({
                "client_id": s.credentials.falcon_client_id,
                "api_base_url": base,
                "member_cid": s.credentials.falcon_cid,
            }))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("{}/{}", s.integrations(), created["id"].as_str().unwrap());
    let (_, tested) = s
        .call(Method::POST, &format!("{path}/test"), &s.admin, None)
        .await;
    assert_eq!(tested["ok"], true, "{tested}");
    let (_, synced) = s
        .call(Method::POST, &format!("{path}/sync"), &s.admin, None)
        .await;
    assert_eq!(synced["ok"], true, "{synced}");
    let (_, devices) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/devices", s.tenant.id),
            &s.technician,
            None,
        )
        .await;
    let state = s.sandbox_state().await;
    assert_eq!(
        devices["items"].as_array().unwrap().len(),
        state.devices.iter().filter(|d| d.edr_sensor).count()
    );
}

#[tokio::test]
async fn coverage_shows_each_blind_spot_and_scores_the_tenant() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let path = format!("/api/v1/tenants/{}/coverage", s.tenant.id);
    let (status, empty) = s.call(Method::GET, &path, &s.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["score"], 100, "nothing to check yet");
    assert_eq!(
        empty["missing"],
        json!(["rmm", "psa", "identity_provider", "edr", "backup"])
    );

    for id in s.connect_microsoft().await {
        let (_, synced) = s
            .call(
                Method::POST,
                &format!("{}/{id}/sync", s.integrations()),
                &s.admin,
                None,
            )
            .await;
        assert_eq!(synced["ok"], true, "{synced}");
    }
    let (_, coverage) = s.call(Method::GET, &path, &s.technician, None).await;
    assert_eq!(coverage["connected"], json!(["identity_provider", "edr"]));
    assert_eq!(coverage["missing"], json!(["rmm", "psa", "backup"]));
    let devices = coverage["devices"].as_array().unwrap();
    let identities = coverage["identities"].as_array().unwrap();
    let state = s.sandbox_state().await;
    assert_eq!(
        devices.len(),
        state.devices.iter().filter(|d| d.edr_sensor).count()
    );
    for device in devices {
        assert_eq!(device["covered_by"], json!(["edr"]), "{device}");
        assert_eq!(
            device["gaps"],
            json!(["no RMM reports it", "no backup reports it"])
        );
    }
    let without_mfa: Vec<&Value> = identities
        .iter()
        .filter(|i| !i["gaps"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(without_mfa.len(), 1, "{identities:#?}");
    assert_eq!(without_mfa[0]["privileged"], true);
    assert_eq!(
        without_mfa[0]["gaps"],
        json!(["an administrator without a second factor"])
    );
    // A home computer someone signs in from, which no tool reports.
    let unmanaged = coverage["unmanaged_devices"].as_array().unwrap();
    let personal = unmanaged
        .iter()
        .find(|d| d["name"].as_str().unwrap().starts_with("DESKTOP-"))
        .unwrap_or_else(|| panic!("{unmanaged:#?}"));
    assert_eq!(personal["users"].as_array().unwrap().len(), 1, "{personal}");
    // Each device passes one of three checks (EDR), each identity with MFA its one, each
    // unmanaged device fails its one.
    let passed = devices.len() + identities.len() - without_mfa.len();
    let checks = devices.len() * 3 + identities.len() + unmanaged.len();
    assert_eq!(coverage["score"], passed * 100 / checks);

    let (status, _) = s.call(Method::GET, &path, &s.owner, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "coverage is for MSP staff");
}

impl Setup {
    /// Connects the sandbox's NinjaOne for the customer's organization `organization`.
    async fn connect_ninjaone(&self, organization: Value) -> (StatusCode, Value) {
        let body = json!({
            "vendor": "ninjaone",
            "name": "NinjaOne",
            "settings": {
                "client_id": self.credentials.ninja_client_id,
                "organization_id": organization,
                "instance_url": self.app.url("/sandbox/ninjaone/"),
            },
            "credential": self.credentials.ninja_client_secret,
        });
        self.call(Method::POST, &self.integrations(), &self.admin, Some(&body))
            .await
    }

    /// The tenant's coverage, as a technician reads it.
    async fn coverage(&self) -> Value {
        let path = format!("/api/v1/tenants/{}/coverage", self.tenant.id);
        let (status, coverage) = self.call(Method::GET, &path, &self.technician, None).await;
        assert_eq!(status, StatusCode::OK, "{coverage}");
        coverage
    }

    async fn sync(&self, id: &str) -> Value {
        let (_, synced) = self
            .call(
                Method::POST,
                &format!("{}/{id}/sync", self.integrations()),
                &self.admin,
                None,
            )
            .await;
        synced
    }
}

#[tokio::test]
async fn ninjaone_joins_edr_devices_by_serial_and_finds_silent_agents_old_patches_and_missing_edr()
{
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let organization = s.credentials.ninja_organization_id;

    // Settings name the customer's organization, a number.
    let (status, refused) = s.connect_ninjaone(json!("acme")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        error_message(&refused).contains("organization_id"),
        "{refused}"
    );
    // Another organization's id: the connection test says so, and nothing is read.
    let (status, wrong) = s.connect_ninjaone(json!(organization + 1)).await;
    assert_eq!(status, StatusCode::CREATED, "{wrong}");
    let wrong_id = wrong["id"].as_str().unwrap();
    let (_, test) = s
        .call(
            Method::POST,
            &format!("{}/{wrong_id}/test", s.integrations()),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(
        test["error"]
            .as_str()
            .unwrap()
            .contains(&format!("organization {}", organization + 1)),
        "{test}"
    );
    let (status, _) = s
        .call(
            Method::DELETE,
            &format!("{}/{wrong_id}", s.integrations()),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, ninja) = s.connect_ninjaone(json!(organization)).await;
    assert_eq!(status, StatusCode::CREATED, "{ninja}");
    let ninja_id = ninja["id"].as_str().unwrap().to_owned();
    let (_, test) = s
        .call(
            Method::POST,
            &format!("{}/{ninja_id}/test", s.integrations()),
            &s.admin,
            None,
        )
        .await;
    assert_eq!(test["ok"], true, "{test}");
    for id in s.connect_microsoft().await {
        assert_eq!(s.sync(&id).await["ok"], true);
    }
    assert_eq!(s.sync(&ninja_id).await["ok"], true);

    // One device per machine: NinjaOne's records joined Defender's by serial number, and the
    // front-desk PC only NinjaOne knows was added.
    let state = s.sandbox_state().await;
    let (_, devices) = s
        .call(
            Method::GET,
            &format!("/api/v1/tenants/{}/devices?limit=200", s.tenant.id),
            &s.technician,
            None,
        )
        .await;
    let devices = devices["items"].as_array().unwrap();
    assert_eq!(devices.len(), state.devices.len(), "{devices:#?}");
    for machine in &state.devices {
        let device = devices
            .iter()
            .find(|d| d["serial_number"] == machine.serial_number.as_str())
            .unwrap_or_else(|| panic!("{} missing", machine.computer_dns_name));
        let expected = if machine.edr_sensor { 2 } else { 1 };
        assert_eq!(
            device["sources"].as_array().unwrap().len(),
            expected,
            "{device:#}"
        );
        assert_eq!(device["mac_addresses"].as_array().unwrap().len(), 1);
        assert_eq!(device["conflicts"], json!([]), "{device:#}");
    }

    let coverage = s.coverage().await;
    assert_eq!(
        coverage["connected"],
        json!(["rmm", "identity_provider", "edr"])
    );
    let gaps_of = |name: &str| {
        list(&coverage, "devices")
            .iter()
            .find(|d| {
                d["hostname"]
                    .as_str()
                    .unwrap()
                    .to_lowercase()
                    .starts_with(name)
            })
            .unwrap_or_else(|| panic!("{name} missing from {coverage:#}"))["gaps"]
            .clone()
    };
    let prefix = state.devices[0]
        .computer_dns_name
        .split('-')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        gaps_of(&format!("{prefix}-fd01")),
        json!(["no EDR reports it", "no backup reports it"]),
        "the front-desk PC has no EDR"
    );
    assert_eq!(
        gaps_of(&format!("{prefix}-lt08")),
        json!([
            "no backup reports it",
            "its RMM agent has been silent for 31 days"
        ])
    );
    assert_eq!(
        gaps_of(&format!("{prefix}-srv01")),
        json!([
            "no backup reports it",
            "3 operating-system patches missing (3 critical or important), the oldest for 45 days"
        ])
    );
    assert_eq!(
        gaps_of(&format!("{prefix}-lt01")),
        json!(["no backup reports it"]),
        "a laptop with a live agent and a patch missing for days only"
    );
}

#[tokio::test]
async fn tactical_rmm_agents_of_the_customers_client_join_the_inventory() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    let body = |client: Value, key: &str| {
        json!({
            "vendor": "tactical_rmm",
            "name": "Tactical RMM",
            "settings": {
                "api_url": s.app.url("/sandbox/tactical/"),
                "client_id": client,
            },
            "credential": key,
        })
    };
    let key = s.credentials.tactical_api_key.clone();
    for (bad, code) in [
        (body(json!("cobalt"), &key), "invalid-settings"),
        (body(json!(0), &key), "invalid-settings"),
        (
            body(json!(s.credentials.tactical_client_id), " "),
            "invalid-secret",
        ),
    ] {
        let (status, answer) = s
            .call(Method::POST, &s.integrations(), &s.admin, Some(&bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{bad}: {answer}");
    }
    let (status, created) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&body(json!(s.credentials.tactical_client_id), &key)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    let synced = s.sync(id).await;
    assert_eq!(synced["ok"], true, "{synced}");
    let state = s.sandbox_state().await;
    assert_eq!(synced["counts"]["devices_created"], state.devices.len());

    let coverage = s.coverage().await;
    assert_eq!(coverage["connected"], json!(["rmm"]));
    let server = list(&coverage, "devices")
        .iter()
        .find(|d| d["hostname"].as_str().unwrap().contains("SRV01"))
        .unwrap();
    assert_eq!(server["covered_by"], json!(["rmm"]));
    assert_eq!(server["patches"]["pending"], 3, "{server:#}");
    assert_eq!(server["patches"]["failed_installs"], 1);
}

#[tokio::test]
async fn veeam_backups_join_the_inventory_and_a_server_failing_for_nine_days_is_a_blind_spot() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    for id in s.connect_microsoft().await {
        assert_eq!(s.sync(&id).await["ok"], true);
    }
    let (status, refused) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&json!({
                "vendor": "veeam_spc",
                "name": "Veeam",
                "settings": {"api_url": s.app.url("/sandbox/veeam/api/v3/"), "company_uid": "acme"},
                "credential": s.credentials.veeam_api_key,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, veeam) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&json!({
                "vendor": "veeam_spc",
                "name": "Veeam",
                "settings": {
                    "api_url": s.app.url("/sandbox/veeam/api/v3/"),
                    "company_uid": s.credentials.veeam_company_uid,
                },
                "credential": s.credentials.veeam_api_key,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{veeam}");
    let synced = s.sync(veeam["id"].as_str().unwrap()).await;
    assert_eq!(synced["ok"], true, "{synced}");
    assert_eq!(
        synced["counts"]["devices_created"], 0,
        "every backed-up machine is one Defender already reports"
    );

    let coverage = s.coverage().await;
    assert_eq!(
        coverage["connected"],
        json!(["identity_provider", "edr", "backup"])
    );
    let devices = coverage["devices"].as_array().unwrap();
    let server = devices
        .iter()
        .find(|d| d["hostname"].as_str().unwrap().contains("-srv01"))
        .unwrap();
    assert_eq!(server["covered_by"], json!(["edr", "backup"]));
    assert_eq!(
        server["gaps"],
        json!([
            "no RMM reports it",
            "its newest backup is 9 days old (its last run: Failed)"
        ])
    );
    assert_eq!(server["backup"]["job"], "File server nightly");
    let finance_backed_up = devices
        .iter()
        .filter(|d| {
            d["covered_by"] == json!(["edr", "backup"]) && d["gaps"] == json!(["no RMM reports it"])
        })
        .count();
    assert!(finance_backed_up >= 2, "{coverage:#}");
}

#[tokio::test]
async fn datto_appliances_of_the_customers_company_join_the_inventory_with_their_backups() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    for id in s.connect_microsoft().await {
        assert_eq!(s.sync(&id).await["ok"], true);
    }
    let connect = |company: &str| {
        json!({
            "vendor": "datto_bcdr",
            "name": "Datto",
            "settings": {
                "api_url": s.app.url("/sandbox/datto/v1/"),
                "public_key": s.credentials.datto_public_key,
                "client_company_name": company,
            },
            "credential": s.credentials.datto_secret_key,
        })
    };
    let (status, refused) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&connect(" ")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        error_message(&refused).contains("client_company_name"),
        "{refused}"
    );
    let (status, datto) = s
        .call(
            Method::POST,
            &s.integrations(),
            &s.admin,
            Some(&connect(&s.credentials.datto_client_company_name)),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{datto}");
    let synced = s.sync(datto["id"].as_str().unwrap()).await;
    assert_eq!(synced["ok"], true, "{synced}");
    assert_eq!(
        synced["counts"]["devices_created"], 0,
        "the protected server is the one Defender already reports"
    );
    let coverage = s.coverage().await;
    let server = list(&coverage, "devices")
        .iter()
        .find(|d| d["hostname"].as_str().unwrap().contains("-srv01"))
        .unwrap()
        .clone();
    assert_eq!(server["covered_by"], json!(["edr", "backup"]));
    assert_eq!(
        server["gaps"][1],
        "its newest backup is 9 days old (its last run: Failed: Unable to take a snapshot: the VSS writer timed out)"
    );
    assert!(
        server["backup"]["job"]
            .as_str()
            .unwrap()
            .contains("-siris ("),
        "{server:#}"
    );
}

#[tokio::test]
async fn the_context_graph_links_people_devices_roles_and_tools_with_evidence() {
    let db = TestDatabase::migrated().await;
    let s = setup(&db).await;
    for id in s.connect_microsoft().await {
        assert_eq!(s.sync(&id).await["ok"], true);
    }
    let graph_path = format!("/api/v1/tenants/{}/graph", s.tenant.id);
    let (status, graph) = s.call(Method::GET, &graph_path, &s.technician, None).await;
    assert_eq!(status, StatusCode::OK, "{graph}");
    let nodes = graph["nodes"].as_array().unwrap();
    let edges = graph["edges"].as_array().unwrap();
    let node = |id: &Value| nodes.iter().find(|n| n["id"] == *id).unwrap().clone();

    // Every laptop with an owner has a primary user from the sign-ins, with the count.
    let primary: Vec<&Value> = edges
        .iter()
        .filter(|e| e["relation"] == "primary_user_of")
        .collect();
    assert!(primary.len() >= 3, "{edges:#?}");
    for edge in &primary {
        assert_eq!(node(&edge["from"])["kind"], "identity");
        assert_eq!(node(&edge["to"])["kind"], "device");
        assert!(
            edge["evidence"]
                .as_str()
                .unwrap()
                .contains("sign-in(s) from this device"),
            "{edge}"
        );
    }
    // Administrators link to their roles, devices to the EDR that watches them, and the home
    // computer to whoever signs in from it.
    assert!(
        edges
            .iter()
            .any(|e| e["relation"] == "admin_of" && e["to"] == "role:Global Administrator")
    );
    assert!(edges.iter().any(|e| e["relation"] == "monitored_by"));
    // The finance team's members link to its group, as Microsoft Entra ID lists them.
    let finance: Vec<&Value> = edges
        .iter()
        .filter(|e| e["relation"] == "member_of" && e["to"] == "group:Finance Team")
        .collect();
    assert!(!finance.is_empty(), "{edges:#?}");
    assert_eq!(node(&json!("group:Finance Team"))["kind"], "group");
    for edge in &finance {
        assert_eq!(node(&edge["from"])["kind"], "identity");
    }
    let from_home = edges
        .iter()
        .find(|e| e["relation"] == "signs_in_from")
        .unwrap();
    assert_eq!(node(&from_home["to"])["kind"], "unmanaged_device");

    // Around one laptop: the laptop, its primary user and the EDR; two steps out, the user's
    // identity provider too.
    let laptop = primary[0]["to"].clone();
    let (status, near) = s
        .call(
            Method::GET,
            &format!("{graph_path}?center={}&depth=1", laptop.as_str().unwrap()),
            &s.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{near}");
    assert_eq!(near["center"], laptop);
    let kinds: Vec<&str> = list(&near, "nodes")
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"identity") && kinds.contains(&"tool"),
        "{near:#}"
    );
    assert!(near["nodes"].as_array().unwrap().len() < nodes.len());

    for (query, status) in [
        (
            "?center=device:00000000-0000-0000-0000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        ("?depth=9", StatusCode::BAD_REQUEST),
        ("?colour=red", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = s
            .call(
                Method::GET,
                &format!("{graph_path}{query}"),
                &s.technician,
                None,
            )
            .await;
        assert_eq!(got, status, "{query}: {body}");
    }
    let (status, _) = s.call(Method::GET, &graph_path, &s.owner, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the graph is for MSP staff");
}
