//! Each role sees and may do exactly what it should: every operation of the OpenAPI document,
//! called by a user of every role, on SQLite and PostgreSQL.

use crate::support::{TestApp, test_secrets};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use steward_core::{
    Clock,
    decisions::policy::{
        Decided,
        input::{ActionInput, AuthorityInput, ProposerInput, RiskInput, TargetInput, TenantInput},
    },
    detection::Detected,
    storage::{
        ActionUpdate, Deployment, NewIntegration, Proposal, TenantWork,
        outbound_webhooks::{NewSubscription, WebhookReader},
    },
};
use steward_domain::{
    ActionId, IncidentId, IntegrationId,
    actions::{
        ActionParameters, ActionStatus, ActionTarget, ActionType, BatchMembership, Criticality,
        PolicyDecision, PolicyOutcome, Proposer, ProposerKind, TargetKind,
    },
    incidents::FindingSource,
    observations::{ObservedDevice, ObservedIdentity, ObservedInventory, Vendor},
    outbound_webhooks::WebhookEvent,
    tenancy::{Role, RoleSide, Tenant},
};
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

/// Who may call each operation, and what everyone else gets.
fn expectation(operation_id: &str) -> (&'static [Role], StatusCode) {
    use Role::*;
    const ALL: &[Role] = &Role::ALL;
    const ADMIN: &[Role] = &[MspAdmin];
    const READERS_OF_THE_MSP: &[Role] = &[MspAdmin, Auditor];
    let forbidden = StatusCode::FORBIDDEN;
    match operation_id {
        "get_me" | "get_msp" | "list_tenants" | "get_tenant" | "list_members"
        | "list_own_tokens" => (ALL, forbidden),
        // A customer's approver decides actions; the inventory is not theirs to read.
        "list_devices" | "list_identities" | "list_events" | "get_sign_in_baseline" => {
            (&[MspAdmin, Technician, Auditor, CustomerOwner], forbidden)
        }
        "create_tenant" | "update_tenant" | "offboard_tenant" | "create_user" | "update_user"
        | "create_user_token" | "update_msp" => (ADMIN, forbidden),
        "list_users" | "get_user" | "list_user_tokens" | "list_msp_audit" => {
            (READERS_OF_THE_MSP, forbidden)
        }
        "list_tenant_audit" => (&[MspAdmin, Technician, Auditor, CustomerOwner], forbidden),
        "list_integrations" | "get_integration" | "get_coverage" | "get_context_graph" => {
            (&[MspAdmin, Technician, Auditor], forbidden)
        }
        "create_integration"
        | "update_integration"
        | "remove_integration"
        | "test_integration"
        | "sync_integration"
        | "create_webhook_secret"
        | "create_ingest_key" => (ADMIN, forbidden),
        "run_scenario" => (&[MspAdmin, Technician], forbidden),
        "list_incidents" | "get_incident" | "list_risk" | "outcome_report" => {
            (&[MspAdmin, Technician, Auditor, CustomerOwner], forbidden)
        }
        "update_incident" | "roll_back_action" | "propose_action" | "set_context" => {
            (&[MspAdmin, Technician], forbidden)
        }
        "get_tenant_policy" => (&[MspAdmin, Technician, Auditor], forbidden),
        "simulate_policy" => (&[MspAdmin, Technician], forbidden),
        "set_tenant_policy" | "remove_tenant_policy" => (ADMIN, forbidden),
        "list_actions"
        | "get_action"
        | "get_action_batch"
        | "get_guardrails"
        | "get_msp_kill_switch" => (ALL, forbidden),
        "set_maintenance"
        | "remove_maintenance"
        | "release_tenant_kill_switch"
        | "release_msp_kill_switch" => (ADMIN, forbidden),
        "pull_tenant_kill_switch" => (&[MspAdmin, Technician, CustomerOwner], forbidden),
        "get_slack" | "list_subscriptions" | "get_subscription" | "list_deliveries" => {
            (&[MspAdmin, Technician, Auditor], forbidden)
        }
        "create_subscription" | "update_subscription" | "remove_subscription" | "redeliver" => {
            (ADMIN, forbidden)
        }
        "connect_slack" | "disconnect_slack" => (ADMIN, forbidden),
        "list_rules" | "get_rule" | "rule_history" | "list_tenant_rules" | "list_suppressions"
        | "replay" | "suggestion" => (&[MspAdmin, Technician, Auditor], forbidden),
        "upload_rule" | "replace_rule" | "remove_rule" | "set_msp_state" | "set_tenant_state"
        | "retro_hunt" | "suppress" | "remove_suppression" => (&[MspAdmin, Technician], forbidden),
        "pull_msp_kill_switch" => (&[MspAdmin, Technician], forbidden),
        // Each side answers its own approvals (see `seed_response`).
        "approve_action" | "reject_action" => (
            &[MspAdmin, Technician, CustomerOwner, CustomerApprover],
            forbidden,
        ),
        // Anyone may revoke their own tokens; someone else's token is invisible to all but
        // MSP admins.
        "revoke_token" => (ADMIN, StatusCode::NOT_FOUND),
        "reset_second_factor" => (ADMIN, forbidden),
        // For browser sessions only: a token confirms nothing, whoever holds it.
        "confirm_me" => (&[], StatusCode::UNPROCESSABLE_ENTITY),
        other => panic!(
            "operation {other} is in the OpenAPI document but not in this matrix: \
             decide who may call it and add it here"
        ),
    }
}

fn body_for(operation_id: &str, role: Role) -> Option<Value> {
    let unique = role.as_str().replace('_', "-");
    match operation_id {
        "create_tenant" => Some(json!({ "name": format!("New customer {unique}") })),
        "update_tenant" => Some(json!({ "name": "Acme Dental Group" })),
        "create_user" => Some(json!({
            "email": format!("new-{unique}@harbor.example"),
            "display_name": "New Technician",
            "role": "technician",
        })),
        "update_user" => Some(json!({ "display_name": "Renamed Target" })),
        "confirm_me" => Some(json!({ "proof": "anything" })),
        "create_user_token" => Some(json!({ "name": "matrix" })),
        "update_msp" => Some(json!({
            "sso_auto_provision": { "domain": "harbor.example", "role": "technician" }
        })),
        "create_integration" => Some(json!({
            "vendor": "microsoft_defender",
            "name": format!("Defender {unique}"),
            "settings": UNREACHABLE_SETTINGS.clone(),
            "client_secret": "not-a-real-secret",
        })),
        "update_integration" => Some(json!({ "name": "Defender (renamed)" })),
        "create_subscription" => Some(json!({
            "url": format!("https://hooks.example.com/{unique}"),
            "events": ["incident.created", "action.executed"],
        })),
        "update_subscription" => Some(json!({ "description": format!("renamed by {unique}") })),
        "update_incident" => Some(json!({ "status": "investigating" })),
        "set_context" => Some(json!({
            "criticality": "critical",
            "owner": format!("owner {unique}"),
            "business_process": "payroll",
        })),
        "set_tenant_policy" => Some(json!({ "source": OWN_POLICY })),
        "set_maintenance" => Some(json!({
            "timezone": "America/Chicago",
            "windows": [{ "days": ["sun"], "start": "01:00", "end": "04:00" }],
        })),
        "connect_slack" => Some(json!({
            "channel": "C0STEWARD01",
            "bot_token": "xoxb-matrix",
            "signing_secret": "matrix-secret",
        })),
        "pull_tenant_kill_switch" | "pull_msp_kill_switch" => {
            Some(json!({ "reason": format!("pulled by {unique}") }))
        }
        "approve_action" | "reject_action" => Some(json!({ "version": version_placeholder() })),
        "simulate_policy" => Some(json!({
            "type": "isolate_device",
            "target": { "kind": "device", "id": version_placeholder() },
        })),
        "upload_rule" => Some(json!({
            "yaml": custom_rule(UPLOADED_RULE, "uploaded"),
            "reason": format!("uploaded by {unique}"),
        })),
        "replace_rule" => Some(json!({
            "yaml": custom_rule(SEEDED_RULE, &format!("replaced by {unique}")),
            "reason": format!("replaced by {unique}"),
        })),
        "suppress" => Some(json!({
            "conditions": [{ "field": "process.cmd_line", "op": "contains", "value": unique }],
            "reason": format!("suppressed by {unique}"),
        })),
        "replay" => Some(json!({
            "conditions": [{ "field": "process.cmd_line", "op": "contains", "value": unique }],
        })),
        "set_msp_state" | "set_tenant_state" => Some(json!({ "enabled": false })),
        "retro_hunt" => Some(json!({ "days": 30 })),
        "propose_action" => Some(json!({
            "type": "isolate_device",
            "targets": [version_placeholder()],
            "reason": format!("proposed by {unique}"),
        })),
        _ => None,
    }
}

/// The MSP's own rule the rule routes act on, and the one uploaded by the matrix.
const SEEDED_RULE: &str = "5d0c3f4e-8a61-4c1b-9a53-7d2f1e6b4c01";
const UPLOADED_RULE: &str = "5d0c3f4e-8a61-4c1b-9a53-7d2f1e6b4c02";

/// A Sigma rule of the MSP's own with this id, its title naming `what`.
fn custom_rule(id: &str, what: &str) -> String {
    format!(
        "title: Matrix rule {what}\nid: {id}\nstatus: experimental\nlogsource:\n    category: process_creation\n    product: windows\ndetection:\n    selection:\n        Image|endswith: '\\\\matrix.exe'\n    condition: selection\nlevel: low\n"
    )
}

/// Replaced by the real version of the action each call is about.
fn version_placeholder() -> &'static str {
    "{version}"
}

/// What the response routes act on: an incident, two actions awaiting the caller's side's
/// approval (one to approve, one to reject) and a verified one to roll back.
struct Seeded {
    incident: IncidentId,
    approve: (ActionId, String),
    reject: (ActionId, String),
    roll_back: ActionId,
    /// A device of the tenant's inventory.
    device: uuid::Uuid,
    /// An identity of the tenant's inventory.
    identity: uuid::Uuid,
    /// The batch the verified action belongs to.
    batch: uuid::Uuid,
}

/// The id of the seeded batch.
const SEEDED_BATCH: uuid::Uuid = uuid::Uuid::from_u128(0x0194_f3a2_7b1c_7d3e_9f00_1234_5678_90ae);

async fn seed_response(
    world: &World,
    tenant: &Tenant,
    integration: IntegrationId,
    role: Role,
) -> Seeded {
    let inventory = ObservedInventory {
        devices: vec![ObservedDevice {
            external_id: "machine-1".into(),
            hostname: "acme-lt01".into(),
            ..ObservedDevice::default()
        }],
        identities: vec![ObservedIdentity {
            external_id: "user-1".into(),
            user_principal_name: "ana@acme.example".into(),
            display_name: None,
            department: None,
            job_title: None,
            enabled: Some(true),
            admin_roles: Vec::new(),
            mfa_registered: None,
            groups: Vec::new(),
        }],
    };
    world
        .record_sync(tenant, integration, &inventory, &[], None)
        .await
        .unwrap();
    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, World::actor());
    let work = TenantWork::as_steward(&ctx, tenant.id)
        .await
        .unwrap()
        .unwrap();
    let device = work.inventory().devices().await.unwrap()[0].id;
    let identity = work.inventory().identities().await.unwrap()[0].id;
    let incident = steward_core::incidents::record_finding(
        &work,
        &Detected {
            source: FindingSource::VendorAlert,
            rule: "vendor-alert:test".into(),
            dedup_key: "alert:test".into(),
            title: "A test alert".into(),
            severity_id: 4,
            time: world.clock.now(),
            events: Vec::new(),
            details: json!({}),
        },
        &[],
    )
    .await
    .unwrap()
    .unwrap()
    .incident_id;
    let outcome = if role.side() == RoleSide::Customer {
        PolicyOutcome::CustomerApproval
    } else {
        PolicyOutcome::TechnicianApproval
    };
    let propose = async |kind: ActionType, key: &str, outcome: PolicyOutcome| {
        let input = AuthorityInput {
            action: ActionInput {
                kind,
                reversible: kind.is_reversible(),
                target_count: 1,
                parameters: ActionParameters::default(),
            },
            target: TargetInput {
                kind: TargetKind::Identity,
                name: "someone@acme.example".into(),
                criticality: Criticality::Medium,
                privileged: false,
                tags: vec![],
            },
            risk: RiskInput {
                score: 0,
                factors: vec![],
            },
            tenant: TenantInput {
                automation_level: 2,
                maintenance: steward_core::decisions::policy::input::MaintenanceInput::default(),
            },
            proposer: ProposerInput {
                kind: ProposerKind::Worker,
            },
            guardrails: steward_core::decisions::policy::input::GuardrailsInput::default(),
        };
        let (action, _) = work
            .propose(
                &Proposal {
                    incident_id: Some(incident),
                    kind,
                    target: ActionTarget {
                        kind: TargetKind::Identity,
                        id: uuid::Uuid::from_u128(u128::from(key.len() as u64)),
                        name: "someone@acme.example".into(),
                    },
                    parameters: ActionParameters::default(),
                    integration_id: None,
                    reasons: vec!["test".into()],
                    proposer: Proposer {
                        kind: ProposerKind::Worker,
                        user_id: None,
                    },
                    dedup_key: key.into(),
                    batch: (key == "roll-back").then_some(BatchMembership {
                        id: SEEDED_BATCH,
                        position: 0,
                        size: 1,
                    }),
                },
                &input,
                &Decided {
                    decision: PolicyDecision::new(outcome, vec!["test".into()]),
                    failure: None,
                },
                steward_domain::actions::ApprovalTiming::default(),
            )
            .await
            .unwrap();
        action
    };
    let approve = propose(ActionType::DisableUser, "approve", outcome).await;
    let reject = propose(ActionType::DisableUser, "reject", outcome).await;
    let verified = propose(ActionType::DisableUser, "roll-back", PolicyOutcome::Auto).await;
    for (from, to) in [
        (ActionStatus::Queued, ActionStatus::Executing),
        (ActionStatus::Executing, ActionStatus::Verifying),
        (ActionStatus::Verifying, ActionStatus::Verified),
    ] {
        assert!(
            steward_core::actions::transition(&work, verified.id, from, ActionUpdate::to(to))
                .await
                .unwrap()
        );
    }
    drop(work);
    drop(ctx);
    txn.commit().await.unwrap();
    Seeded {
        incident,
        approve: (approve.id, approve.version),
        reject: (reject.id, reject.version),
        roll_back: verified.id,
        device,
        identity,
        batch: SEEDED_BATCH,
    }
}

/// Settings of an integration whose vendor cannot be reached (nothing listens on port 9).
static UNREACHABLE_SETTINGS: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({
        "directory_id": "00000000-0000-0000-0000-000000000001",
        "client_id": "00000000-0000-0000-0000-000000000002",
        "api_base_url": "http://127.0.0.1:9/",
        "login_base_url": "http://127.0.0.1:9/",
    })
});

/// Operations that are not GETs but change nothing (so write no audit entry).
const READ_ONLY: [&str; 2] = ["simulate_policy", "replay"];

/// A tenant policy that asks a technician for everything.
const OWN_POLICY: &str = "package steward.authority\n\ndecision := {\"outcome\": \"technician_approval\", \"reasons\": [\"tenant-policy\"]}\n";

/// Operations that end something are called last, so the others still have their target.
fn order(operation_id: &str) -> u8 {
    match operation_id {
        "set_tenant_policy" => 0,
        "remove_tenant_policy" => 1,
        "offboard_tenant" => 2,
        "revoke_token"
        | "remove_integration"
        | "remove_maintenance"
        | "release_tenant_kill_switch"
        | "release_msp_kill_switch"
        | "disconnect_slack"
        | "remove_subscription"
        | "remove_suppression"
        // Turned off, the seeded rule could not be hunted with any more.
        | "set_msp_state"
        | "set_tenant_state" => 1,
        "remove_rule" => 2,
        _ => 0,
    }
}

/// A webhook subscription of the tenant's MSP to its incidents, so the seeded incident has a
/// delivery.
async fn seed_subscription(world: &World, tenant: &Tenant) -> uuid::Uuid {
    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, World::actor());
    let secrets = test_secrets();
    let (subscription, _) = ctx
        .operate_msp(tenant.msp_id)
        .webhooks(&secrets)
        .create(NewSubscription {
            url: "https://hooks.example.com/steward".parse().unwrap(),
            description: String::new(),
            events: vec![WebhookEvent::IncidentCreated],
            tenant_id: None,
        })
        .await
        .unwrap();
    drop(ctx);
    txn.commit().await.unwrap();
    subscription.id
}

/// An integration of `tenant` whose vendor cannot be reached.
async fn create_integration(world: &World, tenant: &Tenant) -> IntegrationId {
    world
        .integration(
            tenant,
            &test_secrets(),
            NewIntegration {
                vendor: Vendor::MicrosoftDefender,
                name: "Defender for Endpoint".to_owned(),
                settings: UNREACHABLE_SETTINGS.clone(),
                secret: SecretString::from("not-a-real-secret".to_owned()),
            },
        )
        .await
        .id
}

#[tokio::test]
async fn every_role_may_do_exactly_what_it_should() {
    for role in Role::ALL {
        check_role(role).await;
    }
}

async fn check_role(role: Role) {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    // The operator confirmed the MSP's domain, which its admins may then auto-provision from.
    world.verify_domain(msp.id, "harbor.example").await;
    let acme = world.tenant(msp.id, "acme").await;
    world.tenant(msp.id, "birch").await;
    let tenant_id = (role.side() == RoleSide::Customer).then_some(acme.id);
    let caller = world
        .user(msp.id, "caller@harbor.example", role, tenant_id)
        .await;
    let caller_token = world.token(&caller, None).await;
    let target = world
        .user(msp.id, "target@harbor.example", Role::Technician, None)
        .await;
    world.token(&target, None).await;
    world.enroll_second_factor(&target, &test_secrets()).await;
    let target_token_id = world
        .storage
        .deployment()
        .msp(msp.id)
        .tokens()
        .of_user(target.id)
        .await
        .unwrap()[0]
        .id;
    let integration = create_integration(&world, &acme).await;
    let subscription = seed_subscription(&world, &acme).await;
    let seeded = seed_response(&world, &acme, integration, role).await;
    let delivery = WebhookReader::new(world.storage.conn(), msp.id)
        .deliveries(subscription, 1)
        .await
        .unwrap()
        .remove(0)
        .id;
    let app = TestApp::for_world_with_sandbox(&world, test_secrets()).await;
    let seeder = world
        .user(msp.id, "seeder@harbor.example", Role::MspAdmin, None)
        .await;
    let (status, seeded_rule) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/msp/detection-rules",
            Some(&world.token(&seeder, None).await),
            Some(&json!({ "yaml": custom_rule(SEEDED_RULE, "seeded"), "reason": "seeded" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seeded_rule}");
    let (status, seeded_suppression) = app
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/tenants/{}/detection-rules/{SEEDED_RULE}/suppressions",
                acme.id
            ),
            Some(&world.token(&seeder, None).await),
            Some(&json!({
                "conditions": [{ "field": "process.cmd_line", "op": "contains", "value": "seeded" }],
                "reason": "seeded",
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{seeded_suppression}");
    let suppression = seeded_suppression["suppression"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut operations: Vec<_> = app
        .operations()
        .await
        .into_iter()
        .filter(|operation| operation.authenticated)
        .collect();
    assert!(operations.len() >= 15, "{operations:?}");
    operations.sort_by_key(|operation| order(&operation.id));

    for operation in operations {
        let (allowed, denied) = expectation(&operation.id);
        let path = operation.path_with(&[
            ("tenant_id", acme.id.to_string()),
            ("user_id", target.id.to_string()),
            ("token_id", target_token_id.to_string()),
            ("integration_id", integration.to_string()),
            ("scenario", "malware-laptop".to_owned()),
            ("incident_id", seeded.incident.to_string()),
            ("batch_id", seeded.batch.to_string()),
            ("subscription_id", subscription.to_string()),
            ("kind", "device".to_owned()),
            ("entity_id", seeded.device.to_string()),
            ("identity_id", seeded.identity.to_string()),
            ("delivery_id", delivery.clone()),
            ("rule_id", SEEDED_RULE.to_owned()),
            ("suppression_id", suppression.clone()),
            (
                "action_id",
                match operation.id.as_str() {
                    "reject_action" => seeded.reject.0,
                    "roll_back_action" => seeded.roll_back,
                    _ => seeded.approve.0,
                }
                .to_string(),
            ),
        ]);
        let device = seeded.device.to_string();
        let version = match operation.id.as_str() {
            "reject_action" => &seeded.reject.1,
            "simulate_policy" | "propose_action" => &device,
            _ => &seeded.approve.1,
        };
        let body = body_for(&operation.id, role).map(|body| {
            serde_json::from_str(&body.to_string().replace(version_placeholder(), version)).unwrap()
        });
        let entries_before = audit_entry_count(&world.storage).await;
        let (status, answer) = app
            .call(
                operation.method.clone(),
                &path,
                Some(&caller_token),
                body.as_ref(),
            )
            .await;
        let context = format!("{role} {} {path}: {status} {answer}", operation.method);
        if allowed.contains(&role) {
            assert!(status.is_success(), "allowed but refused: {context}");
            if operation.method != reqwest::Method::GET
                && !READ_ONLY.contains(&operation.id.as_str())
            {
                assert!(
                    audit_entry_count(&world.storage).await > entries_before,
                    "a change without an audit entry: {context}"
                );
            }
        } else {
            assert_eq!(status, denied, "{context}");
            assert!(answer["error"]["code"].is_string(), "{context}");
            assert_eq!(
                audit_entry_count(&world.storage).await,
                entries_before,
                "a refused request wrote something: {context}"
            );
        }
    }
}

#[tokio::test]
async fn operational_routes_need_no_credential_and_api_routes_do() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let app = TestApp::for_world(&world).await;
    for operation in app.operations().await {
        let path = operation.path_with(&[
            ("tenant_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into()),
            ("user_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into()),
            ("token_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into()),
            (
                "integration_id",
                "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into(),
            ),
            ("scenario", "malware-laptop".into()),
            ("incident_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ac".into()),
            ("action_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ad".into()),
            ("batch_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ae".into()),
            (
                "subscription_id",
                "0194f3a2-7b1c-7d3e-9f00-1234567890af".into(),
            ),
            ("delivery_id", "msg_0".into()),
            ("rule_id", SEEDED_RULE.into()),
            (
                "suppression_id",
                "0194f3a2-7b1c-7d3e-9f00-1234567890b1".into(),
            ),
            ("kind", "device".into()),
            ("entity_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into()),
            ("identity_id", "0194f3a2-7b1c-7d3e-9f00-1234567890ab".into()),
        ]);
        let (status, answer) = app.call(operation.method.clone(), &path, None, None).await;
        if operation.authenticated {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path}",
                operation.method
            );
            assert_eq!(answer["error"]["code"], "unauthenticated");
        } else {
            assert_eq!(status, StatusCode::OK, "{} {path}", operation.method);
        }
    }
}
