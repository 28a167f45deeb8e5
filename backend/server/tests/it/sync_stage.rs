//! The sync stage: the workers' schedule, a person's "sync now" and the vendors' budgets and
//! waits, which both kinds of synchronization share.

use std::time::Duration;

use crate::support::{
    governed::{fast_settings, start, start_allowing, start_fresh, start_with, start_with_hunting},
    list,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use steward_core::Clock;
use steward_testkit::TestDatabase;
use steward_workers::WorkerSettings;

#[tokio::test]
async fn integrations_are_synchronized_on_schedule_without_being_asked() {
    let db = TestDatabase::migrated().await;
    let l = start_with(
        &db,
        None,
        WorkerSettings {
            sync_interval: Duration::from_secs(1),
            ..fast_settings()
        },
        None,
    )
    .await;
    // Nobody asks for a synchronization: the schedule fills the inventory.
    l.shared.rounds.next_scheduled_sync().await;
    l.settle().await;
    assert!(
        !l.inventory("devices").await.is_empty(),
        "no devices synchronized"
    );
    assert!(
        !l.inventory("identities").await.is_empty(),
        "no identities synchronized"
    );
    // Malware appears at the vendor only (no scenario request queues a sync): the next
    // scheduled synchronization brings it in, and the loop contains it.
    l.app
        .sandbox
        .as_ref()
        .unwrap()
        .run_scenario(
            l.tenant.id.as_uuid(),
            steward_sandbox::Scenario::MalwareLaptop,
        )
        .await
        .unwrap();
    l.shared.rounds.next_scheduled_sync().await;
    l.settled_action("isolate_device", &["verified"]).await;
    l.stop().await;
}

#[tokio::test]
async fn a_vendor_down_or_throttling_does_not_stall_the_others() {
    let db = TestDatabase::migrated().await;
    // The dead NinjaOne instance is on the deployment's allow-list: it is reached, and fails.
    let l = start_allowing(&db, None, &["127.0.0.1:9".parse().unwrap()]).await;
    // Okta throttles every request it gets; the NinjaOne instance answers nothing at all.
    l.connect_okta().await;
    l.app
        .sandbox
        .as_ref()
        .unwrap()
        .throttle_okta(l.tenant.id.as_uuid(), 1_000_000);
    let credentials = l.credentials().await;
    let (status, dead) = l
        .call(
            Method::POST,
            &l.path("integrations"),
            &l.admin,
            Some(&crate::support::ninjaone_integration(
                &credentials,
                "http://127.0.0.1:9/",
            )),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dead}");

    // The scenario synchronizes every integration of the tenant: the two broken ones fail
    // and are retried, while Defender's alert still becomes a verified isolation.
    l.run_scenario("malware-laptop").await;
    let action = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(action["decision"]["outcome"], "auto");

    // And the broken ones say why.
    let reasons = l
        .integrations()
        .await
        .iter()
        .filter(|i| i["health"] == "failing")
        .map(|i| {
            format!(
                "{}: {}",
                i["vendor"].as_str().unwrap(),
                i["last_error"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>();
    assert_sorted_start_with(
        reasons,
        &[
            "ninjaone: the vendor is unavailable",
            "okta: the vendor is throttling",
        ],
    );
    // Both are blind spots, with why, until they answer again.
    let (status, coverage) = l
        .call(Method::GET, &l.path("coverage"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let failing: Vec<String> = list(&coverage, "failing_sources")
        .iter()
        .map(|s| {
            format!(
                "{} {}: {}",
                s["vendor"].as_str().unwrap(),
                s["category"].as_str().unwrap(),
                s["last_error"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_sorted_start_with(
        failing,
        &[
            "ninjaone rmm: the vendor is unavailable",
            "okta identity_provider: the vendor is throttling",
        ],
    );
    l.stop().await;
}

/// Asserts that `lines`, sorted, are as many as `prefixes` and each starts with its own.
fn assert_sorted_start_with(mut lines: Vec<String>, prefixes: &[&str]) {
    lines.sort();
    assert_eq!(lines.len(), prefixes.len(), "{lines:?}");
    for (line, prefix) in lines.iter().zip(prefixes) {
        assert!(line.starts_with(prefix), "{lines:?}");
    }
}

#[tokio::test]
async fn a_vendors_budget_is_shared_with_other_workers_and_waited_for() {
    let db = TestDatabase::migrated().await;
    let l = start(&db, None).await;
    // Other worker processes hold every Defender slot, for four other tenants.
    let storage = db.connect().await;
    let held = hold_every_slot(&storage, "microsoft_defender").await;

    // The alert waits at Defender while the budget is taken...
    l.run_scenario("malware-laptop").await;
    // Only what can run now: the synchronization owed to Defender waits for a slot.
    l.settle_within(Duration::ZERO).await;
    assert!(
        l.actions().await.is_empty(),
        "Defender was not synchronized while its budget was in use"
    );
    // ...and becomes an isolation once another worker gives a slot back.
    steward_core::storage::vendor_slots::release(storage.conn(), &held[2])
        .await
        .unwrap();
    let action = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(action["decision"]["outcome"], "auto");
    l.stop().await;
}

/// Synchronizations of one tenant's integrations at the same moment (as five people pressing
/// "Sync now", or a worker starting up) make one device per machine: the recordings are
/// serialized per tenant. Several rounds, so a race that needs luck gets it.
#[tokio::test]
async fn parallel_synchronizations_make_one_device_per_machine() {
    let l = start_fresh().await;
    l.connect_falcon().await;
    l.connect_ninjaone().await;
    l.connect_tactical().await;
    l.connect_veeam().await;
    let integrations = l.integrations().await;
    let ids: Vec<String> = integrations
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 6, "{integrations:#?}");
    for round in 0..3 {
        let paths: Vec<String> = ids
            .iter()
            .map(|id| l.path(&format!("integrations/{id}/sync")))
            .collect();
        let syncs = paths
            .iter()
            .map(|path| l.call(Method::POST, path, &l.admin, None));
        for (status, report) in futures::future::join_all(syncs).await {
            assert_eq!(status, StatusCode::OK, "round {round}: {report}");
            assert_eq!(report["ok"], true, "round {round}: {report}");
        }
        let devices = l.inventory("devices").await;
        // One machine, one record, whichever way a tool writes its name (short or with its
        // DNS domain).
        let mut names: Vec<String> = devices
            .iter()
            .map(|d| {
                let name = d["hostname"].as_str().unwrap().to_ascii_lowercase();
                name.split('.').next().unwrap().to_owned()
            })
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "round {round}: twins among {names:?}");
    }
    l.stop().await;
}

/// Every one of `vendor`'s four slots, held for an hour by other processes' synchronizations
/// of other tenants.
async fn hold_every_slot(
    storage: &steward_core::Storage,
    vendor: &str,
) -> Vec<steward_core::storage::vendor_slots::Held> {
    let now = steward_core::SystemClock.now();
    let mut held = Vec::new();
    for n in 0..4u128 {
        held.push(
            steward_core::storage::vendor_slots::acquire(
                storage.conn(),
                vendor,
                4,
                steward_domain::TenantId::from_uuid(uuid::Uuid::from_u128(0xfeed_0000 + n)),
                uuid::Uuid::from_u128(0xbeef_0000 + n),
                (now, now + chrono::Duration::hours(1)),
            )
            .await
            .unwrap()
            .expect("a free slot"),
        );
    }
    held
}

/// A report of a synchronization that read nothing, for the reason `error` starts with, and
/// says when Steward tries again by itself; the integration's health is then `health`.
fn assert_not_synchronized(report: &Value, error: &str, health: &str) {
    assert_eq!(report["ok"], false, "{report}");
    assert!(
        report["error"].as_str().unwrap().starts_with(error),
        "{report}"
    );
    assert!(report["retry_in_secs"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(report["counts"]["devices_created"], 0, "{report}");
    assert_eq!(report["integration"]["health"], health, "{report}");
}

#[tokio::test]
async fn sync_now_waits_for_the_vendors_budget_as_the_workers_do() {
    let db = TestDatabase::migrated().await;
    let l = start(&db, None).await;
    let defender = l.integration_id("microsoft_defender").await;
    // Other processes' synchronizations hold every Defender slot.
    let storage = db.connect().await;
    let held = hold_every_slot(&storage, "microsoft_defender").await;

    // The person is told the vendor was not called, and when Steward synchronizes by itself.
    let report = l.sync_now(&defender).await;
    // Not a failure of the integration: its health is as it was.
    assert_not_synchronized(
        &report,
        "not synchronized now: the vendor's synchronization budget is in use",
        "unknown",
    );
    assert_eq!(report["retry_in_secs"], 2, "{report}");
    assert!(l.inventory("devices").await.is_empty());

    // With a slot free again, the same button synchronizes.
    steward_core::storage::vendor_slots::release(storage.conn(), &held[0])
        .await
        .unwrap();
    let report = l.sync_now(&defender).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["retry_in_secs"], Value::Null, "{report}");
    assert_eq!(report["integration"]["health"], "healthy", "{report}");
    assert!(!l.inventory("devices").await.is_empty());
    l.stop().await;
}

#[tokio::test]
async fn sync_now_waits_out_a_throttling_vendor_together_with_the_workers() {
    let l = start_fresh().await;
    let okta = l.connect_okta().await["id"].as_str().unwrap().to_owned();
    l.settle().await;
    let sandbox = l.app.sandbox.as_ref().unwrap();
    sandbox.throttle_okta(l.tenant.id.as_uuid(), 1_000_000);

    // Okta throttles: recorded as the integration's health, with when Steward tries again.
    let report = l.sync_now(&okta).await;
    assert_not_synchronized(&report, "the vendor is throttling", "failing");
    // The workers wait it out too: the synchronization is owed to their scheduler.
    let backlog = steward_workers::backlog(&l.shared, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(backlog.later, 1, "{backlog:?}");

    // Okta would answer now, but the wait it asked for is not over: pressing the button again
    // does not call it (the integration would turn healthy if it did).
    sandbox.throttle_okta(l.tenant.id.as_uuid(), 0);
    let report = l.sync_now(&okta).await;
    assert_not_synchronized(
        &report,
        "not synchronized now: the vendor asked Steward to wait",
        "failing",
    );
    l.stop().await;
}

/// Microsoft Entra ID lists sign-ins late (minutes, at times hours). A sign-in listed after
/// newer Defender device events and alerts were read is still read: each of an integration's
/// streams is read from its own newest stored event, not from the integration's newest.
#[tokio::test]
async fn a_sign_in_listed_late_is_read_although_newer_device_events_were() {
    let db = TestDatabase::migrated().await;
    let l = start_with_hunting(&db).await;
    let tenant = l.tenant.id.as_uuid();
    l.sync_all().await;
    l.sandbox()
        .set_sign_in_latency(tenant, chrono::Duration::hours(1))
        .await
        .unwrap();
    // Sign-ins 40 and 8 minutes ago, a mass-download alert now, and PowerShell on every
    // managed Windows device now: the alert and the device events are listed at once.
    let run = l.run_scenario("compromised-admin").await;
    let sign_ins: Vec<String> = list(&run, "records")
        .iter()
        .filter_map(Value::as_str)
        // Entra ids are GUIDs; the alert's is not.
        .filter(|id| uuid::Uuid::parse_str(id).is_ok())
        .map(str::to_owned)
        .collect();
    assert_eq!(sign_ins.len(), 2, "{run:#}");
    l.run_scenario("noisy-admin-script").await;
    l.sync_all().await;
    let stored = l.event_ids("authentication").await;
    assert!(
        sign_ins.iter().all(|id| !stored.contains(id)),
        "Entra ID has not listed them yet"
    );
    assert!(!l.event_ids("process_activity").await.is_empty());

    l.world.clock.advance(chrono::Duration::hours(1));
    l.sync_all().await;
    let stored = l.event_ids("authentication").await;
    for id in &sign_ins {
        assert!(stored.contains(id), "sign-in {id} was lost");
    }
    l.stop().await;
}
