//! Nobody reaches what is not theirs: another customer's tenant, another MSP's tenants, users
//! or tokens. Each answers 404 (never 403, which would confirm the id exists) and writes nothing.

use crate::support::{TestApp, acme_owner, harbor_admin, strings};
use reqwest::StatusCode;
use serde_json::json;
use steward_domain::tenancy::Role;
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

/// A valid body for every operation that takes one, so a 404 cannot come from a bad body.
fn body_for(operation_id: &str) -> Option<serde_json::Value> {
    match operation_id {
        "update_tenant" => Some(json!({ "name": "Taken over" })),
        "update_user" => Some(json!({ "display_name": "Taken over" })),
        "create_user_token" => Some(json!({ "name": "intruder" })),
        "create_integration" => Some(json!({
            "vendor": "microsoft_graph",
            "name": "intruder",
            "settings": { "directory_id": "d", "client_id": "c" },
            "client_secret": "s",
        })),
        "update_integration" => Some(json!({ "name": "Taken over" })),
        "update_incident" => Some(json!({ "status": "resolved", "verdict": "false_positive" })),
        "approve_action" | "reject_action" => Some(json!({ "version": "0" })),
        "simulate_policy" => Some(json!({
            "type": "isolate_device",
            "target": { "kind": "device", "id": "0194f3a2-7b1c-7d3e-9f00-1234567890ae" },
        })),
        "propose_action" => Some(json!({
            "type": "isolate_device",
            "targets": ["0194f3a2-7b1c-7d3e-9f00-1234567890ae"],
            "reason": "intruder",
        })),
        "set_maintenance" => Some(maintenance()),
        "set_context" => Some(json!({ "criticality": "low" })),
        "pull_tenant_kill_switch" => Some(json!({ "reason": "intruder" })),
        "set_tenant_state" => Some(json!({ "enabled": false })),
        "retro_hunt" => Some(json!({ "days": 1 })),
        "set_tenant_policy" => Some(json!({
            "source": "package steward.authority\n\ndecision := {\"outcome\": \"auto\", \"reasons\": []}\n"
        })),
        _ => None,
    }
}

fn maintenance() -> serde_json::Value {
    json!({
        "timezone": "Europe/Berlin",
        "windows": [{ "days": ["sat"], "start": "02:00", "end": "05:00" }],
    })
}

#[tokio::test]
async fn tenant_scoped_routes_of_other_tenants_answer_404() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let harbor = world.msp("harbor").await;
    let lighthouse = world.msp("lighthouse").await;
    let acme = world.tenant(harbor.id, "acme").await;
    let birch = world.tenant(harbor.id, "birch").await;
    let coast = world.tenant(lighthouse.id, "coast").await;

    let acme_owner = acme_owner(&world, &acme).await;
    let harbor_admin = harbor_admin(&world, &harbor).await;
    let lighthouse_admin = world
        .user(
            lighthouse.id,
            "admin@lighthouse.example",
            Role::MspAdmin,
            None,
        )
        .await;
    let app = TestApp::for_world(&world).await;

    // (whose token, which tenant it must not reach)
    let cases = [
        (
            world.token(&acme_owner, None).await,
            birch.id,
            "a customer, another customer's tenant",
        ),
        (
            world.token(&acme_owner, None).await,
            coast.id,
            "a customer, another MSP's tenant",
        ),
        (
            world.token(&harbor_admin, None).await,
            coast.id,
            "an MSP admin, another MSP's tenant",
        ),
        (
            world.token(&lighthouse_admin, None).await,
            acme.id,
            "an MSP admin, another MSP's tenant",
        ),
    ];
    let tenant_scoped: Vec<_> = app
        .operations()
        .await
        .into_iter()
        .filter(|operation| operation.path.contains("{tenant_id}"))
        .collect();
    assert!(tenant_scoped.len() >= 5, "{tenant_scoped:?}");

    let entries_before = audit_entry_count(&world.storage).await;
    for (token, tenant_id, who) in &cases {
        for operation in &tenant_scoped {
            let path = operation.path_with(&[
                ("tenant_id", tenant_id.to_string()),
                (
                    "integration_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890ab".to_owned(),
                ),
                ("scenario", "malware-laptop".to_owned()),
                ("rule_id", "ca2092a1-c273-4878-9b4b-0d60115bf5ea".to_owned()),
                (
                    "suppression_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890b1".to_owned(),
                ),
                (
                    "incident_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890ac".to_owned(),
                ),
                (
                    "action_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890ad".to_owned(),
                ),
                (
                    "batch_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890af".to_owned(),
                ),
                ("kind", "device".to_owned()),
                (
                    "entity_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890b0".to_owned(),
                ),
                (
                    "identity_id",
                    "0194f3a2-7b1c-7d3e-9f00-1234567890b2".to_owned(),
                ),
            ]);
            let (status, answer) = app
                .call(
                    operation.method.clone(),
                    &path,
                    Some(token),
                    body_for(&operation.id).as_ref(),
                )
                .await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{who}: {} {path}: {answer}",
                operation.method
            );
            assert_eq!(answer["error"]["code"], "not-found");
        }
    }
    assert_eq!(audit_entry_count(&world.storage).await, entries_before);

    // The lists show only what each caller may see.
    let (_, listed) = app.get_as("/api/v1/tenants", &cases[0].0).await;
    let ids = strings(&listed, "items", "id");
    assert_eq!(ids, [acme.id.to_string()]);
    let (_, listed) = app.get_as("/api/v1/tenants", &cases[2].0).await;
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        2,
        "harbor's two tenants only"
    );
}

#[tokio::test]
async fn users_and_tokens_of_another_msp_answer_404() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let harbor = world.msp("harbor").await;
    let lighthouse = world.msp("lighthouse").await;
    let harbor_admin = harbor_admin(&world, &harbor).await;
    let outsider = world
        .user(
            lighthouse.id,
            "tech@lighthouse.example",
            Role::Technician,
            None,
        )
        .await;
    world.token(&outsider, None).await;
    let outsider_token_id = world
        .storage
        .deployment()
        .msp(lighthouse.id)
        .tokens()
        .of_user(outsider.id)
        .await
        .unwrap()[0]
        .id;
    let token = world.token(&harbor_admin, None).await;
    let app = TestApp::for_world(&world).await;

    let scoped: Vec<_> = app
        .operations()
        .await
        .into_iter()
        .filter(|operation| {
            operation.path.contains("{user_id}") || operation.path.contains("{token_id}")
        })
        .collect();
    assert!(scoped.len() >= 5, "{scoped:?}");
    let entries_before = audit_entry_count(&world.storage).await;
    for operation in scoped {
        let path = operation.path_with(&[
            ("user_id", outsider.id.to_string()),
            ("token_id", outsider_token_id.to_string()),
        ]);
        let (status, answer) = app
            .call(
                operation.method.clone(),
                &path,
                Some(&token),
                body_for(&operation.id).as_ref(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{} {path}: {answer}",
            operation.method
        );
    }
    assert_eq!(audit_entry_count(&world.storage).await, entries_before);

    let (_, users) = app.get_as("/api/v1/users", &token).await;
    let emails = strings(&users, "items", "email");
    assert_eq!(emails, ["admin@harbor.example"]);
}
