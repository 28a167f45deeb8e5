//! Storage against a real database: a temporary SQLite file, or PostgreSQL when the environment
//! selects it (see `steward-testkit`).

use chrono::Duration;
use sea_orm::{ConnectionTrait, Statement};
use steward_core::{
    Clock, StorageError,
    audit::{self, AuditKeys},
    demo,
    storage::{Backend, Deployment, NewMsp, NewTenant, PageRequest, Storage},
};
use steward_domain::{
    MspId, Slug,
    audit::{ActorKind, AuditActor},
    tenancy::Role,
};
use steward_testkit::{TestDatabase, World};

const EXPECTED_MIGRATIONS: [&str; 26] = [
    "m20261123_000001_create_tenancy",
    "m20261123_000002_create_audit_entries",
    "m20261123_000003_protect_audit_chain",
    "m20261124_000001_create_sign_in",
    "m20261125_000001_create_integrations",
    "m20261126_000001_create_inventory",
    "m20261127_000001_create_response",
    "m20261128_000001_create_tenant_policies",
    "m20261130_000001_create_guardrails",
    "m20261130_000002_add_approval_rules",
    "m20261130_000003_create_approval_links",
    "m20261130_000004_add_action_batches",
    "m20261130_000005_add_action_parameters",
    "m20261130_000006_add_slack_tenant_channels",
    "m20261130_000007_add_identity_mfa",
    "m20261130_000008_add_identity_conflicts",
    "m20261130_000009_add_device_conflicts",
    "m20261201_000001_add_device_hardware_keys",
    "m20261201_000002_create_webhook_receipts",
    "m20261202_000001_create_incident_tickets",
    "m20261202_000002_create_webhook_subscriptions",
    "m20261202_000003_create_entity_contexts",
    "m20261203_000001_add_identity_groups",
    "m20261203_000002_add_integration_sync_state",
    "m20261203_000003_create_vendor_slots",
    "m20261206_000001_drop_webhook_private_network_flag",
];

const TABLES: [&str; 33] = [
    "msps",
    "tenants",
    "automation_halts",
    "approval_links",
    "notifications",
    "slack_connections",
    "maintenance_schedules",
    "users",
    "memberships",
    "api_tokens",
    "sessions",
    "audit_entries",
    "audit_checkpoints",
    "sign_in_attempts",
    "user_identities",
    "oidc_logins",
    "integrations",
    "sandbox_environments",
    "devices",
    "identities",
    "entity_sources",
    "events",
    "incidents",
    "incident_tickets",
    "webhook_subscriptions",
    "webhook_deliveries",
    "entity_contexts",
    "findings",
    "risk_scores",
    "actions",
    "outbox",
    "tenant_policies",
    "vendor_slots",
];

fn slug(text: &str) -> Slug {
    text.parse().unwrap()
}

async fn count_rows(storage: &Storage, table: &str) -> Result<i64, sea_orm::DbErr> {
    let backend = storage.conn().get_database_backend();
    let row = storage
        .conn()
        .query_one_raw(Statement::from_string(
            backend,
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .expect("COUNT returns a row");
    row.try_get("", "n")
}

fn operator() -> AuditActor {
    AuditActor {
        kind: ActorKind::Cli,
        user_id: None,
        label: "storage test".into(),
    }
}

#[tokio::test]
async fn migrations_apply_from_empty() {
    let db = TestDatabase::empty().await;
    let storage = db.connect().await;
    for table in TABLES {
        assert!(
            count_rows(&storage, table).await.is_err(),
            "{table} must not exist before migrating"
        );
    }

    assert_eq!(
        storage.pending_migrations().await.unwrap(),
        EXPECTED_MIGRATIONS
    );
    assert_eq!(storage.migrate().await.unwrap(), EXPECTED_MIGRATIONS);

    assert!(storage.pending_migrations().await.unwrap().is_empty());
    assert!(
        storage.migrate().await.unwrap().is_empty(),
        "a second run applies nothing"
    );
    for table in TABLES {
        assert_eq!(count_rows(&storage, table).await.unwrap(), 0, "{table}");
    }
}

#[tokio::test]
async fn concurrent_migrations_apply_each_migration_once() {
    let db = TestDatabase::empty().await;
    let (first, second) = (db.connect().await, db.connect().await);
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    let (mut a, b) = (a.unwrap(), b.unwrap());
    a.extend(b);
    a.sort();
    assert_eq!(
        a, EXPECTED_MIGRATIONS,
        "each migration applied by exactly one process"
    );
}

#[tokio::test]
async fn connections_use_the_documented_settings() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let conn = storage.conn();
    let backend = conn.get_database_backend();
    let query = |sql: &str| conn.query_one_raw(Statement::from_string(backend, sql.to_owned()));
    match storage.backend() {
        Backend::Sqlite => {
            let row = query("PRAGMA journal_mode").await.unwrap().unwrap();
            assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "wal");
            let row = query("PRAGMA foreign_keys").await.unwrap().unwrap();
            assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), 1);
            let row = query("PRAGMA busy_timeout").await.unwrap().unwrap();
            assert_eq!(row.try_get_by_index::<i32>(0).unwrap(), 5000);
        }
        Backend::Postgres => {
            let row = query("SELECT current_setting('application_name')")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "steward");
        }
    }
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let unknown_msp = MspId::from_uuid(steward_core::storage::new_id(&world.clock));
    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, operator());
    let err = ctx
        .operate_msp(unknown_msp)
        .tenants()
        .create(NewTenant {
            name: "Orphan".into(),
            slug: slug("orphan"),
        })
        .await
        .expect_err("a tenant of a missing MSP must be refused");
    assert!(err.to_string().contains("database error"), "{err:?}");
    drop(ctx);
    drop(txn);
    assert_eq!(count_rows(&world.storage, "tenants").await.unwrap(), 0);
}

#[tokio::test]
async fn tenants_are_visible_only_within_their_msp() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let harbor = world.msp("harbor").await;
    let lighthouse = world.msp("lighthouse").await;
    // The same slug may exist once per MSP.
    let harbor_acme = world.tenant(harbor.id, "acme").await;
    let lighthouse_acme = world.tenant(lighthouse.id, "acme").await;

    let deployment = world.storage.deployment();
    let harbor_tenants = deployment.msp(harbor.id).tenants();
    let lighthouse_tenants = deployment.msp(lighthouse.id).tenants();
    assert_eq!(
        harbor_tenants.lookup(harbor_acme.id).await.unwrap(),
        Some(harbor_acme.clone())
    );
    assert_eq!(
        harbor_tenants.lookup(lighthouse_acme.id).await.unwrap(),
        None
    );
    assert_eq!(
        lighthouse_tenants.lookup(harbor_acme.id).await.unwrap(),
        None
    );
    assert_eq!(
        harbor_tenants.find_by_slug(&slug("acme")).await.unwrap(),
        Some(harbor_acme.clone())
    );
    let listed = harbor_tenants.list(PageRequest::first()).await.unwrap();
    assert_eq!(listed.items, vec![harbor_acme]);
}

#[tokio::test]
async fn duplicate_slugs_are_conflicts_and_write_nothing() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    world.msp("harbor").await;
    let audit_before = count_rows(&world.storage, "audit_entries").await.unwrap();

    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, operator());
    let err = ctx
        .create_msp(NewMsp {
            name: "Another".into(),
            slug: slug("harbor"),
        })
        .await
        .expect_err("the slug is taken");
    assert!(matches!(err, StorageError::Conflict { .. }), "{err:?}");
    assert_eq!(err.to_string(), "an MSP with this slug already exists");
    drop(ctx);
    drop(txn);
    assert_eq!(count_rows(&world.storage, "msps").await.unwrap(), 1);
    assert_eq!(
        count_rows(&world.storage, "audit_entries").await.unwrap(),
        audit_before
    );
}

#[tokio::test]
async fn tenant_lists_page_by_cursor_without_gaps_or_repeats() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let mut created = Vec::new();
    for n in 0..5 {
        world.clock.advance(Duration::milliseconds(1));
        created.push(world.tenant(msp.id, &format!("tenant-{n}")).await.id);
    }

    let tenants = world.storage.deployment().msp(msp.id).tenants();
    let mut seen = Vec::new();
    let mut page = PageRequest {
        limit: 2,
        after: None,
    };
    let mut sizes = Vec::new();
    loop {
        let result = tenants.list(page).await.unwrap();
        sizes.push(result.items.len());
        seen.extend(result.items.iter().map(|t| t.id));
        match result.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen, created, "oldest first, each exactly once");
}

#[tokio::test]
async fn timestamps_read_back_exactly() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    assert_eq!(msp.created_at, world.clock.now());
    let read = world
        .storage
        .deployment()
        .msps()
        .lookup(msp.id)
        .await
        .unwrap();
    assert_eq!(read, Some(msp));
}

#[tokio::test]
async fn every_change_is_in_an_audit_chain_that_verifies() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, "acme").await;
    world
        .user(
            msp.id,
            "owner@acme.example",
            Role::CustomerOwner,
            Some(tenant.id),
        )
        .await;

    let scope = world.storage.deployment().msp(msp.id);
    let msp_chain = scope.audit().list(PageRequest::first()).await.unwrap();
    let actions: Vec<&str> = msp_chain.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["msp.created", "user.created"]);
    let created = &msp_chain.items[1];
    assert_eq!(
        created.after.as_ref().unwrap()["email"],
        "owner@acme.example"
    );
    assert_eq!(created.actor.label, "test fixture");

    let reports = audit::verify_all(world.storage.conn(), &world.keys)
        .await
        .unwrap();
    assert_eq!(reports.len(), 2, "the MSP's chain and the tenant's");
    for report in reports {
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.entries, report.checkpoints);
    }
}

#[tokio::test]
async fn the_database_refuses_to_change_audit_entries() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    world.msp("harbor").await;
    let conn = world.storage.conn();
    for sql in [
        "UPDATE audit_entries SET actor_label = 'forged'",
        "DELETE FROM audit_entries",
        "UPDATE audit_checkpoints SET signature = 'forged'",
        "DELETE FROM audit_checkpoints",
    ] {
        let err = conn.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(
        count_rows(&world.storage, "audit_entries").await.unwrap(),
        1
    );
}

#[tokio::test]
async fn demo_seeding_is_idempotent() {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let keys = AuditKeys::generate().unwrap();
    let first = demo::seed(&world.storage, &world.clock, &keys)
        .await
        .unwrap();
    assert!(first.created);
    assert_eq!(first.tenants.len(), 3);
    let roles: std::collections::HashSet<Role> = first.users.iter().map(|u| u.role).collect();
    assert_eq!(roles.len(), Role::ALL.len(), "a user of every role");

    world.clock.advance(Duration::hours(1));
    let second = demo::seed(&world.storage, &world.clock, &keys)
        .await
        .unwrap();
    assert!(!second.created);
    assert_eq!(second.msp, first.msp);
    assert_eq!(second.tenants, first.tenants);
    assert_eq!(second.users, first.users);
    assert_eq!(count_rows(&world.storage, "msps").await.unwrap(), 1);
    assert_eq!(count_rows(&world.storage, "tenants").await.unwrap(), 3);
    assert_eq!(count_rows(&world.storage, "users").await.unwrap(), 7);
}

/// A vendor's names with control characters (NUL, which PostgreSQL cannot store) and
/// bidirectional controls (which would make a name read as another to an approver) are stored
/// with those characters made visible and harmless.
#[tokio::test]
async fn vendor_names_with_control_characters_are_stored_neutralized() {
    use sea_orm::EntityTrait;
    use steward_core::{secrets::SecretBox, storage::NewIntegration};
    use steward_domain::observations::{
        ObservedDevice, ObservedIdentity, ObservedInventory, Vendor,
    };

    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, "acme").await;
    let secrets = SecretBox::from_key(&[7; 32]);
    let integration = world
        .integration(
            &tenant,
            &secrets,
            NewIntegration {
                vendor: Vendor::MicrosoftDefender,
                name: "Defender".into(),
                settings: serde_json::json!({"directory_id": "d", "client_id": "c"}),
                secret: "s".to_owned().into(),
            },
        )
        .await;
    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, World::actor());
    ctx.operate_msp(msp.id)
        .inventory(tenant.id)
        .record_sync(
            integration.id,
            &ObservedInventory {
                devices: vec![ObservedDevice {
                    external_id: "machine-1".into(),
                    hostname: "acme\u{0}lt\u{202E}fdp.exe".into(),
                    os_platform: Some("Windows\u{0}".into()),
                    health: None,
                    last_seen: None,
                    last_ip: None,
                    entra_device_id: None,
                    tags: vec!["ok".into(), "t\u{0}ag".into()],
                    vendor_value: None,
                    serial_number: None,
                    mac_addresses: Vec::new(),
                    patches: None,
                    backup: None,
                }],
                identities: vec![ObservedIdentity {
                    external_id: "person-1".into(),
                    user_principal_name: "eve@acme.example".into(),
                    display_name: Some("Eve \u{2066}Admin\u{1b}[0m".into()),
                    department: None,
                    job_title: None,
                    enabled: Some(true),
                    admin_roles: vec![],
                    mfa_registered: None,
                    groups: vec![],
                }],
            },
            &[],
            Some(&serde_json::json!({"delta": "x\u{0}y"})),
        )
        .await
        .expect("a vendor's odd text does not fail the synchronization");
    drop(ctx);
    txn.commit().await.unwrap();

    let devices = steward_core::storage::entities::device::Entity::find()
        .all(world.storage.conn())
        .await
        .unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].hostname, "acme\u{FFFD}lt\u{FFFD}fdp.exe");
    let identities = steward_core::storage::entities::identity::Entity::find()
        .all(world.storage.conn())
        .await
        .unwrap();
    assert_eq!(
        identities[0].display_name.as_deref(),
        Some("Eve \u{FFFD}Admin\u{FFFD}[0m")
    );
}
