//! Storage against a real database: a temporary SQLite file, or PostgreSQL when the environment
//! selects it (see `steward-testkit`).

use chrono::DateTime;
use sea_orm::{ConnectionTrait, Statement};
use steward_core::{
    Clock, MockClock, StorageError, demo,
    storage::{Backend, NewMsp, NewTenant, PageRequest, Storage},
};
use steward_domain::{MspId, Slug, tenancy::Msp};
use steward_testkit::TestDatabase;

const EXPECTED_MIGRATIONS: [&str; 2] = [
    "m20261123_000001_create_tenancy",
    "m20261123_000002_create_audit_entries",
];

const TABLES: [&str; 8] = [
    "msps",
    "tenants",
    "users",
    "memberships",
    "api_tokens",
    "sessions",
    "audit_entries",
    "audit_checkpoints",
];

fn clock() -> MockClock {
    MockClock::new(DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap())
}

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

async fn create_msp(storage: &Storage, clock: &MockClock, slug_text: &str) -> Msp {
    storage
        .deployment()
        .msps()
        .create(
            clock,
            NewMsp {
                name: format!("MSP {slug_text}"),
                slug: slug(slug_text),
            },
        )
        .await
        .unwrap()
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
            let mode: String = query("PRAGMA journal_mode")
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
            assert_eq!(mode, "wal");
            let fk: i32 = query("PRAGMA foreign_keys")
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
            assert_eq!(fk, 1);
            let busy: i32 = query("PRAGMA busy_timeout")
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
            assert_eq!(busy, 5000);
        }
        Backend::Postgres => {
            let name: String = query("SELECT current_setting('application_name')")
                .await
                .unwrap()
                .unwrap()
                .try_get_by_index(0)
                .unwrap();
            assert_eq!(name, "steward");
        }
    }
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let clock = clock();
    let unknown_msp = MspId::from_uuid(steward_core::storage::new_id(&clock));
    let err = storage
        .deployment()
        .msp(unknown_msp)
        .tenants()
        .create(
            &clock,
            NewTenant {
                name: "Orphan".into(),
                slug: slug("orphan"),
            },
        )
        .await
        .expect_err("a tenant of a missing MSP must be refused");
    assert!(matches!(err, StorageError::Database(_)), "{err:?}");
    assert_eq!(count_rows(&storage, "tenants").await.unwrap(), 0);
}

#[tokio::test]
async fn tenants_are_visible_only_within_their_msp() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let clock = clock();
    let harbor = create_msp(&storage, &clock, "harbor").await;
    let lighthouse = create_msp(&storage, &clock, "lighthouse").await;
    let new = |name: &str| NewTenant {
        name: name.into(),
        slug: slug("acme"),
    };
    let harbor_tenants = storage.deployment().msp(harbor.id).tenants();
    let lighthouse_tenants = storage.deployment().msp(lighthouse.id).tenants();
    // The same slug may exist once per MSP.
    let harbor_acme = harbor_tenants
        .create(&clock, new("Acme (Harbor)"))
        .await
        .unwrap();
    let lighthouse_acme = lighthouse_tenants
        .create(&clock, new("Acme (Lighthouse)"))
        .await
        .unwrap();

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
    let storage = db.connect().await;
    let clock = clock();
    create_msp(&storage, &clock, "harbor").await;
    let err = storage
        .deployment()
        .msps()
        .create(
            &clock,
            NewMsp {
                name: "Another".into(),
                slug: slug("harbor"),
            },
        )
        .await
        .expect_err("the slug is taken");
    assert!(matches!(err, StorageError::Conflict { .. }), "{err:?}");
    assert_eq!(err.to_string(), "an MSP with this slug already exists");
    assert_eq!(count_rows(&storage, "msps").await.unwrap(), 1);
}

#[tokio::test]
async fn tenant_lists_page_by_cursor_without_gaps_or_repeats() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let clock = clock();
    let msp = create_msp(&storage, &clock, "harbor").await;
    let tenants = storage.deployment().msp(msp.id).tenants();
    let mut created = Vec::new();
    for n in 0..5 {
        clock.advance(chrono::Duration::milliseconds(1));
        let tenant = tenants
            .create(
                &clock,
                NewTenant {
                    name: format!("Tenant {n}"),
                    slug: slug(&format!("tenant-{n}")),
                },
            )
            .await
            .unwrap();
        created.push(tenant.id);
    }

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
    let storage = db.connect().await;
    let clock = clock();
    let msp = create_msp(&storage, &clock, "harbor").await;
    assert_eq!(msp.created_at, clock.now());
    let read = storage.deployment().msps().lookup(msp.id).await.unwrap();
    assert_eq!(read, Some(msp));
}

#[tokio::test]
async fn demo_seeding_is_idempotent() {
    let db = TestDatabase::migrated().await;
    let storage = db.connect().await;
    let clock = clock();
    let first = demo::seed(&storage, &clock).await.unwrap();
    assert!(first.created);
    assert_eq!(first.tenants.len(), 3);

    clock.advance(chrono::Duration::hours(1));
    let second = demo::seed(&storage, &clock).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.msp, first.msp);
    assert_eq!(second.tenants, first.tenants);
    assert_eq!(count_rows(&storage, "msps").await.unwrap(), 1);
    assert_eq!(count_rows(&storage, "tenants").await.unwrap(), 3);
}
