//! `steward audit verify` notices every way of tampering with a chain, naming the first broken
//! entry, on SQLite and PostgreSQL.

use crate::support::{HarborAdmin, TestApp, harbor_with_admin, run, steward_on};
use serde_json::json;
use steward_core::audit::{AuditKeys, ChainRef};
use steward_testkit::{TestDatabase, World, tamper};

/// A database whose tenant chain has five entries: created, then renamed four times.
struct Chain {
    db: TestDatabase,
    world: World,
    chain_id: uuid::Uuid,
    tenant_id: String,
}

async fn chain_of_five() -> Chain {
    let db = TestDatabase::migrated().await;
    let world = World::new(&db).await;
    let HarborAdmin { msp, tenant, token } = harbor_with_admin(&world, "acme").await;
    let app = TestApp::for_world(&world).await;
    for n in 1..=4 {
        let (status, _) = app
            .patch_as(
                &format!("/api/v1/tenants/{}", tenant.id),
                &token,
                &json!({ "name": format!("Acme {n}") }),
            )
            .await;
        assert!(status.is_success());
    }
    let chain_id = ChainRef::Tenant {
        msp_id: msp.id,
        tenant_id: tenant.id,
    }
    .chain_id();
    Chain {
        db,
        world,
        chain_id,
        tenant_id: tenant.id.to_string(),
    }
}

fn verify(chain: &Chain, extra: &[&str]) -> (i32, String, String) {
    let mut command = steward_on(&chain.db);
    command
        .env("STEWARD_AUDIT__SIGNING_KEY", &chain.world.signing_key)
        .args(["audit", "verify"])
        .args(extra);
    run(command)
}

#[tokio::test]
async fn an_intact_chain_verifies() {
    let chain = chain_of_five().await;
    let (code, stdout, stderr) = verify(&chain, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("All 2 audit chain(s) are intact."),
        "{stdout}"
    );
    assert!(
        stdout.contains("5 entries, 5 signed checkpoints"),
        "{stdout}"
    );

    let (code, stdout, _) = verify(&chain, &["--tenant", &chain.tenant_id]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("All 1 audit chain(s) are intact."),
        "{stdout}"
    );

    let (code, _, stderr) = verify(
        &chain,
        &["--tenant", "0194f3a2-7b1c-7d3e-9f00-1234567890ab"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("no tenant"), "{stderr}");
}

#[tokio::test]
async fn a_chain_checked_with_another_key_is_not_trusted() {
    let chain = chain_of_five().await;
    let mut command = steward_on(&chain.db);
    let other_key = AuditKeys::generate_secret().unwrap();
    command
        .env(
            "STEWARD_AUDIT__SIGNING_KEY",
            secrecy::ExposeSecret::expose_secret(&other_key),
        )
        .args(["audit", "verify"]);
    let (code, stdout, _) = run(command);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("is signed by untrusted key"), "{stdout}");
}

/// Applies one kind of tampering to a fresh chain and returns what verification printed.
async fn tampered(how: impl AsyncFnOnce(&Chain)) -> String {
    let chain = chain_of_five().await;
    tamper::disable_audit_protection(&chain.world.storage).await;
    how(&chain).await;
    let (code, stdout, stderr) = verify(&chain, &[]);
    assert_eq!(code, 3, "a broken chain exits 3: {stdout}{stderr}");
    assert!(
        stdout.contains("1 of 2 audit chain(s) are broken."),
        "{stdout}"
    );
    let broken: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("BROKEN"))
        .collect();
    assert_eq!(broken.len(), 1, "{stdout}");
    assert!(
        broken[0].contains(&format!("tenant {}", chain.tenant_id)),
        "{stdout}"
    );
    broken[0].to_owned()
}

#[tokio::test]
async fn an_edited_entry_is_detected() {
    let report =
        tampered(async |c: &Chain| tamper::edit_entry(&c.world.storage, c.chain_id, 3).await).await;
    assert!(report.contains("entry #3 ("), "{report}");
    assert!(report.contains("does not match its hash"), "{report}");
}

#[tokio::test]
async fn a_deleted_entry_in_the_middle_is_detected() {
    let report =
        tampered(async |c: &Chain| tamper::delete_entry(&c.world.storage, c.chain_id, 3).await)
            .await;
    assert!(report.contains("entry #3 is missing"), "{report}");
}

#[tokio::test]
async fn reordered_entries_are_detected() {
    let report =
        tampered(async |c: &Chain| tamper::swap_entries(&c.world.storage, c.chain_id, 2, 3).await)
            .await;
    assert!(report.contains("entry #2 ("), "{report}");
    assert!(
        report.contains("does not link to the entry before it"),
        "{report}"
    );
}

#[tokio::test]
async fn truncated_newest_entries_are_detected() {
    let report =
        tampered(async |c: &Chain| tamper::truncate_after(&c.world.storage, c.chain_id, 3).await)
            .await;
    assert!(report.contains("entry #4 is missing"), "{report}");
    assert!(
        report.contains("a signed checkpoint covers entry #5"),
        "{report}"
    );
}

#[tokio::test]
async fn a_recomputed_chain_is_detected_by_its_checkpoints() {
    let report = tampered(async |c: &Chain| {
        tamper::rewrite_chain(&c.world.storage, c.chain_id, 2, None).await;
    })
    .await;
    assert!(report.contains("entry #2 ("), "{report}");
    assert!(
        report.contains("differs from its signed checkpoint"),
        "{report}"
    );
}

#[tokio::test]
async fn a_recomputed_chain_with_forged_checkpoints_is_detected() {
    let report = tampered(async |c: &Chain| {
        let attacker = AuditKeys::generate().unwrap();
        tamper::rewrite_chain(&c.world.storage, c.chain_id, 2, Some(&attacker)).await;
    })
    .await;
    assert!(report.contains("entry #2 ("), "{report}");
    assert!(report.contains("signed by untrusted key"), "{report}");
}

#[test]
fn keygen_prints_a_key_that_steward_accepts() {
    let (code, stdout, stderr) = run({
        let mut command = crate::support::steward();
        command.args(["audit", "keygen"]);
        command
    });
    assert_eq!(code, 0, "{stderr}");
    let key = stdout.trim();
    assert_eq!(key.len(), 44, "base64 of 32 bytes: {key}");
    assert!(stderr.contains("Public key"), "{stderr}");

    let mut config = crate::support::steward();
    config.arg("config").env("STEWARD_AUDIT__SIGNING_KEY", key);
    let (code, stdout, stderr) = run(config);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("signing_key = \"[redacted]\""), "{stdout}");
    assert!(!stdout.contains(key));
}
