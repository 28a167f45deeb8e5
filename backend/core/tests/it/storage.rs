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

const EXPECTED_MIGRATIONS: [&str; 35] = [
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
    "m20261206_000002_create_msp_domains",
    "m20261206_000003_add_second_factor",
    "m20261207_000001_add_integration_ingest_key",
    "m20261207_000002_create_detection_rules",
    "m20261207_000003_create_rule_lineage_and_suppressions",
    "m20261207_000004_add_integration_missing_telemetry",
    "m20261208_000001_add_event_stream",
    "m20261208_000002_create_sign_in_baselines",
    "m20261208_000003_create_correlation_windows",
];

const TABLES: [&str; 42] = [
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
    "msp_domains",
    "user_second_factors",
    "recovery_codes",
    "detection_rules",
    "detection_rule_states",
    "detection_rule_versions",
    "detection_suppressions",
    "sign_in_baselines",
    "correlation_windows",
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
            second_factor_policy: Default::default(),
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
    world
        .record_sync(
            &tenant,
            integration.id,
            &ObservedInventory {
                devices: vec![ObservedDevice {
                    external_id: "machine-1".into(),
                    hostname: "acme\u{0}lt\u{202E}fdp.exe".into(),
                    os_platform: Some("Windows\u{0}".into()),
                    tags: vec!["ok".into(), "t\u{0}ag".into()],
                    ..ObservedDevice::default()
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

/// Twins left by synchronizations that once ran at the same moment (two records of one
/// machine, each with its own vendor's report) are folded into the earlier record by the next
/// synchronization: its reports, business context and events move over, the twin is gone, and
/// the audit chain says so.
#[tokio::test]
async fn twin_devices_are_folded_into_the_earlier_record_by_the_next_synchronization() {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use steward_core::{
        secrets::SecretBox,
        storage::{NewIntegration, entities},
    };
    use steward_domain::{
        IntegrationId,
        observations::{
            EntityRef, ObservedDevice, ObservedEvent, ObservedInventory, OcsfClass, Vendor,
        },
    };

    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, "acme").await;
    let secrets = SecretBox::from_key(&[7; 32]);
    let mut integrations = Vec::new();
    for vendor in [Vendor::MicrosoftDefender, Vendor::CrowdStrikeFalcon] {
        let settings = match vendor {
            Vendor::MicrosoftDefender => serde_json::json!({"directory_id": "d", "client_id": "c"}),
            _ => serde_json::json!({"client_id": "c"}),
        };
        integrations.push(
            world
                .integration(
                    &tenant,
                    &secrets,
                    NewIntegration {
                        vendor,
                        name: vendor.display_name().into(),
                        settings,
                        secret: "s".to_owned().into(),
                    },
                )
                .await
                .id,
        );
    }
    let report = |external_id: &str, hostname: &str, serial: &str| ObservedDevice {
        external_id: external_id.into(),
        hostname: hostname.into(),
        serial_number: Some(serial.into()),
        ..ObservedDevice::default()
    };
    let sync =
        async |integration: IntegrationId, device: ObservedDevice, events: &[ObservedEvent]| {
            let inventory = ObservedInventory {
                devices: vec![device],
                identities: vec![],
            };
            world
                .record_sync(&tenant, integration, &inventory, events, None)
                .await
                .unwrap();
        };
    let devices = async || {
        entities::device::Entity::find()
            .filter(entities::device::Column::TenantId.eq(tenant.id.as_uuid()))
            .all(world.storage.conn())
            .await
            .unwrap()
    };

    // Defender reports the laptop; Falcon's report of it once landed as a record of its own
    // (its name and serial read differently then), with an alert about it.
    sync(integrations[0], report("mde-1", "ACME-LT04", "PF4XK2"), &[]).await;
    world.clock.advance(Duration::minutes(1));
    let alert = ObservedEvent {
        external_id: "alert-1".into(),
        class: OcsfClass::DetectionFinding,
        time: world.clock.now(),
        severity_id: 4,
        entities: vec![EntityRef::Device {
            external_id: "falcon-1".into(),
        }],
        ocsf: serde_json::json!({"finding_info": {"title": "Suspicious process"}}),
        raw: serde_json::json!({}),
        stream: steward_domain::observations::EventStream::FalconAlerts,
    };
    sync(
        integrations[1],
        report("falcon-1", "OLD-NAME", "ZZZ"),
        &[alert],
    )
    .await;
    let before = devices().await;
    assert_eq!(before.len(), 2);
    let (survivor, twin) = (before[0].id, before[1].id);
    // A technician had named the twin's owner.
    {
        use sea_orm::ActiveModelTrait;
        entities::entity_context::ActiveModel {
            id: sea_orm::Set(steward_core::storage::new_id(&world.clock)),
            msp_id: sea_orm::Set(msp.id.as_uuid()),
            tenant_id: sea_orm::Set(tenant.id.as_uuid()),
            entity_kind: sea_orm::Set("device".into()),
            entity_id: sea_orm::Set(twin),
            criticality: sea_orm::Set(None),
            owner: sea_orm::Set(Some("Finance".into())),
            business_process: sea_orm::Set(None),
            updated_at: sea_orm::Set(world.clock.now()),
        }
        .insert(world.storage.conn())
        .await
        .unwrap();
    }
    // Falcon now describes it as Defender does: two records of one machine.
    world.clock.advance(Duration::minutes(1));
    sync(
        integrations[1],
        report("falcon-1", "acme-lt04.acme.example", "PF4XK2"),
        &[],
    )
    .await;
    assert_eq!(
        devices().await.len(),
        2,
        "the twins exist until the next synchronization"
    );

    world.clock.advance(Duration::minutes(1));
    sync(integrations[0], report("mde-1", "ACME-LT04", "PF4XK2"), &[]).await;
    let after = devices().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].id, survivor);
    let sources = entities::entity_source::Entity::find()
        .filter(entities::entity_source::Column::TenantId.eq(tenant.id.as_uuid()))
        .filter(entities::entity_source::Column::EntityKind.eq("device"))
        .all(world.storage.conn())
        .await
        .unwrap();
    assert_eq!(sources.len(), 2);
    assert!(
        sources.iter().all(|s| s.entity_id == survivor),
        "{sources:?}"
    );
    let contexts = entities::entity_context::Entity::find()
        .filter(entities::entity_context::Column::TenantId.eq(tenant.id.as_uuid()))
        .all(world.storage.conn())
        .await
        .unwrap();
    assert_eq!(contexts.len(), 1);
    assert_eq!(
        contexts[0].entity_id, survivor,
        "the twin's owner moved over"
    );
    assert_eq!(contexts[0].owner.as_deref(), Some("Finance"));
    let merged = entities::audit_entry::Entity::find()
        .filter(entities::audit_entry::Column::Action.eq("device.merged"))
        .all(world.storage.conn())
        .await
        .unwrap();
    assert_eq!(merged.len(), 1);
}

/// An email domain is one MSP's: proven by the operator, or by an admin whose own address in
/// it the identity provider vouched for; public mail services are nobody's; single sign-on
/// provisions only for the MSP holding the domain.
#[tokio::test]
async fn sso_domains_are_held_by_the_one_msp_that_proved_them() {
    use sea_orm::ActiveModelTrait;
    use steward_core::storage::{MspSettingsError, entities};
    use steward_domain::tenancy::{Role, SsoAutoProvision};

    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let harbor = world.msp("harbor").await;
    let lighthouse = world.msp("lighthouse").await;
    let admin = world
        .user(harbor.id, "admin@harbor.example", Role::MspAdmin, None)
        .await;
    let rival = world
        .user(
            lighthouse.id,
            "admin@lighthouse.example",
            Role::MspAdmin,
            None,
        )
        .await;
    let set = async |msp: MspId, user: &steward_domain::tenancy::User, domain: &str| {
        let txn = world.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let actor = AuditActor {
            kind: ActorKind::User,
            user_id: Some(user.id),
            label: user.email.clone(),
        };
        let ctx = deployment.write_context(&world.clock, &world.keys, actor);
        let outcome = ctx
            .operate_msp(msp)
            .set_sso_auto_provision(Some(SsoAutoProvision {
                domain: domain.to_owned(),
                role: Role::Technician,
            }))
            .await;
        drop(ctx);
        txn.commit().await.unwrap();
        outcome
    };

    // A password account's own address proves nothing yet.
    assert!(matches!(
        set(harbor.id, &admin, "harbor.example").await,
        Err(MspSettingsError::DomainNotVerified(_))
    ));
    // Once the identity provider has vouched for it (a linked account), it does.
    entities::user_identity::ActiveModel {
        id: sea_orm::Set(steward_core::storage::new_id(&world.clock)),
        msp_id: sea_orm::Set(harbor.id.as_uuid()),
        user_id: sea_orm::Set(admin.id.as_uuid()),
        issuer: sea_orm::Set("https://idp.harbor.example".into()),
        subject: sea_orm::Set("admin".into()),
        created_at: sea_orm::Set(world.clock.now()),
    }
    .insert(world.storage.conn())
    .await
    .unwrap();
    let msp = set(harbor.id, &admin, "Harbor.Example").await.unwrap();
    assert_eq!(msp.sso_auto_provision.unwrap().domain, "harbor.example");
    // Nobody else may hold it, even proven their own way; nor a public mail service.
    assert!(matches!(
        set(lighthouse.id, &rival, "harbor.example").await,
        Err(MspSettingsError::DomainTaken(_))
    ));
    let txn = world.storage.begin().await.unwrap();
    let deployment = Deployment::new(&txn);
    let ctx = deployment.write_context(&world.clock, &world.keys, World::actor());
    assert!(matches!(
        ctx.verify_msp_domain(lighthouse.id, "harbor.example").await,
        Err(MspSettingsError::DomainTaken(_))
    ));
    assert!(matches!(
        ctx.verify_msp_domain(lighthouse.id, "gmail.com").await,
        Err(MspSettingsError::PublicMailDomain(_))
    ));
    ctx.verify_msp_domain(lighthouse.id, "lighthouse.example")
        .await
        .unwrap();
    drop(ctx);
    txn.commit().await.unwrap();
    assert!(
        set(lighthouse.id, &rival, "lighthouse.example")
            .await
            .is_ok()
    );
}

/// Upgrading: a domain one MSP had chosen for auto-provisioning stays that MSP's; a domain
/// several had chosen is nobody's, and their auto-provisioning is off.
#[tokio::test]
async fn upgrading_keeps_single_domain_choices_and_drops_contested_ones() {
    use steward_migrations::{Migrator, MigratorTrait};

    let db = TestDatabase::empty().await;
    let storage = db.connect().await;
    let before = EXPECTED_MIGRATIONS
        .iter()
        .position(|name| *name == "m20261206_000002_create_msp_domains")
        .unwrap();
    Migrator::up(storage.conn(), Some(u32::try_from(before).unwrap()))
        .await
        .unwrap();
    // MSPs as the schema then stored them.
    let mut msps = Vec::new();
    for (slug, domain) in [
        ("harbor", "harbor.example"),
        ("lighthouse", "shared.example"),
        ("coast", "shared.example"),
    ] {
        let id = steward_core::storage::new_id(&steward_core::SystemClock);
        let (now, insert) = (
            steward_core::SystemClock.now(),
            match storage.backend() {
                Backend::Postgres => {
                    "INSERT INTO msps (id, name, slug, sso_auto_provision_domain, sso_auto_provision_role, created_at, updated_at) VALUES ($1, $2, $3, $4, 'technician', $5, $5)"
                }
                Backend::Sqlite => {
                    "INSERT INTO msps (id, name, slug, sso_auto_provision_domain, sso_auto_provision_role, created_at, updated_at) VALUES (?, ?, ?, ?, 'technician', ?, ?)"
                }
            },
        );
        let mut values: Vec<sea_orm::Value> = vec![
            id.into(),
            format!("MSP {slug}").into(),
            slug.into(),
            domain.into(),
            now.into(),
        ];
        if storage.backend() == Backend::Sqlite {
            values.push(now.into());
        }
        storage
            .conn()
            .execute_raw(Statement::from_sql_and_values(
                storage.conn().get_database_backend(),
                insert,
                values,
            ))
            .await
            .unwrap();
        msps.push(MspId::from_uuid(id));
    }
    storage.migrate().await.unwrap();

    let deployment = Deployment::new(storage.conn());
    let provisioning = |msp: &steward_domain::tenancy::Msp| {
        msp.sso_auto_provision.as_ref().map(|s| s.domain.clone())
    };
    let find = async |slug: &str| {
        deployment
            .msps()
            .find_by_slug(&slug.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        provisioning(&find("harbor").await).as_deref(),
        Some("harbor.example")
    );
    for contested in ["lighthouse", "coast"] {
        assert_eq!(provisioning(&find(contested).await), None, "{contested}");
    }
    assert_eq!(
        steward_core::storage::msp_domain_holder(storage.conn(), "harbor.example")
            .await
            .unwrap(),
        Some(msps[0])
    );
    assert_eq!(
        steward_core::storage::msp_domain_holder(storage.conn(), "shared.example")
            .await
            .unwrap(),
        None
    );
}

/// Each of an integration's event streams is read from its own newest stored event, and what a
/// log sender sends through the integration moves none of them: an event claiming a later time
/// cannot make the vendor's newer records look already read.
#[tokio::test]
async fn each_event_stream_has_its_own_cursor_and_ingested_events_move_none() {
    use steward_core::{inventory::InventoryWriter, secrets::SecretBox, storage::NewIntegration};
    use steward_domain::observations::{
        EventStream, INGESTED_EVENT_PREFIX, ObservedEvent, ObservedInventory, OcsfClass, Vendor,
    };
    use steward_migrations::{Migrator, MigratorTrait};

    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let msp = world.msp("harbor").await;
    let tenant = world.tenant(msp.id, "acme").await;
    let integration = world
        .integration(
            &tenant,
            &SecretBox::from_key(&[7; 32]),
            NewIntegration {
                vendor: Vendor::MicrosoftGraph,
                name: "Graph".into(),
                settings: serde_json::json!({"directory_id": "d", "client_id": "c"}),
                secret: "s".to_owned().into(),
            },
        )
        .await;
    let now = world.clock.now();
    let event = |external_id: String, time, class, stream| ObservedEvent {
        external_id,
        class,
        time,
        severity_id: 1,
        entities: vec![],
        ocsf: serde_json::json!({}),
        raw: serde_json::json!({}),
        stream,
    };
    let signed_in = now - Duration::hours(3);
    let hunted = now - Duration::hours(1);
    world
        .record_sync(
            &tenant,
            integration.id,
            &ObservedInventory::default(),
            &[
                event(
                    "sign-in".into(),
                    signed_in,
                    OcsfClass::Authentication,
                    EventStream::EntraSignIns,
                ),
                event(
                    "process".into(),
                    hunted,
                    OcsfClass::ProcessActivity,
                    EventStream::HuntingProcessEvents,
                ),
            ],
            None,
        )
        .await
        .unwrap();
    let ingested = [event(
        format!("{INGESTED_EVENT_PREFIX}late"),
        now + Duration::days(1),
        OcsfClass::ProcessActivity,
        EventStream::Ingested,
    )];
    world
        .as_steward(&tenant, async |work| {
            InventoryWriter::new(work)
                .unwrap()
                .record_events(integration.id, &ingested)
                .await
                .unwrap();
        })
        .await;
    let newest = async || {
        world
            .as_steward(&tenant, async |work| {
                work.inventory()
                    .newest_events(integration.id, Vendor::MicrosoftGraph.event_streams())
                    .await
                    .unwrap()
            })
            .await
    };
    // PostgreSQL keeps microseconds, the clock has nanoseconds.
    let near = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        (a - b).num_milliseconds().abs() < 1
    };
    let positions = newest().await;
    let streams: Vec<EventStream> = positions.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        streams,
        [EventStream::EntraSignIns, EventStream::HuntingProcessEvents],
        "streams without events have no cursor, the ingested stream is not the vendor's"
    );
    assert!(near(positions[0].1, signed_in), "{positions:?}");
    assert!(near(positions[1].1, hunted), "{positions:?}");

    // Upgrading: events stored before feeds were kept get theirs from their integration's
    // vendor and their class, and the log sender's stay apart.
    let storage = db.connect().await;
    let after = EXPECTED_MIGRATIONS.len()
        - EXPECTED_MIGRATIONS
            .iter()
            .position(|name| *name == "m20261208_000001_add_event_stream")
            .unwrap();
    Migrator::down(storage.conn(), Some(u32::try_from(after).unwrap()))
        .await
        .unwrap();
    Migrator::up(storage.conn(), None).await.unwrap();
    assert_eq!(newest().await, positions);
    let ingested_kept_apart: Option<String> = storage
        .conn()
        .query_one_raw(Statement::from_string(
            storage.conn().get_database_backend(),
            format!("SELECT stream FROM events WHERE external_id = '{INGESTED_EVENT_PREFIX}late'"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    assert_eq!(ingested_kept_apart.as_deref(), Some("ingested"));
}
