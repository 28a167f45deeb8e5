//! Guardrails on automatic execution through the API, with a real worker and the sandbox: the
//! tenant's and the MSP-wide kill switch, the hourly rate limit, the circuit breaker, and
//! maintenance windows read by the authority policy.

use crate::support::{
    Browser, error_message,
    governed::{Loop, PASSWORD, item, reasons, start_fresh, start_limited},
    list,
};
use chrono::Datelike;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_core::{
    Clock,
    storage::{Deployment, Proposal, TenantWork},
};
use steward_domain::{
    actions::{ActionParameters, ActionTarget, ActionType, Proposer, ProposerKind, TargetKind},
    guardrails::AutomationLimits,
    incidents::EntityKey,
};
use steward_sandbox::Fault;
use steward_testkit::{TestDatabase, World, tamper::audit_entry_count};

impl Loop {
    /// Pulls the tenant's kill switch, with this reason, as whoever holds `token`.
    async fn pull_kill_switch(&self, token: &str, reason: &str) -> (StatusCode, Value) {
        self.pull_kill_switch_at(&self.path("kill-switch"), token, reason)
            .await
    }

    /// Pulls the kill switch at `switch` (the tenant's or the MSP's) as whoever holds `token`.
    async fn pull_kill_switch_at(
        &self,
        switch: &str,
        token: &str,
        reason: &str,
    ) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            switch,
            token,
            Some(&json!({ "reason": reason })),
        )
        .await
    }

    async fn guardrails(&self) -> Value {
        self.send(Method::GET, "guardrails", &self.technician, StatusCode::OK)
            .await
    }

    /// The sandbox's first finance laptop that is not isolated: the next `malware-laptop`
    /// target.
    async fn next_finance_laptop(&self) -> String {
        let state = self.sandbox_state().await;
        list(&state, "devices")
            .iter()
            .find(|d| {
                d["tags"].as_array().unwrap().contains(&json!("Finance")) && d["isolated"] == false
            })
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A device of the tenant's inventory, synchronized from the vendors now.
    async fn synced_device(&self, server: bool) -> (Value, String) {
        self.sync_all().await;
        let defender = self.integration_id("microsoft_defender").await;
        let device = self
            .items("devices", &self.technician)
            .await
            .into_iter()
            .find(|d| {
                let tags = d["tags"].as_array().unwrap();
                tags.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case("server")))
                    == server
            })
            .expect("a device of that kind");
        (device, defender)
    }

    /// Pulls the tenant's kill switch (as a technician) and stages `malware-laptop`: its
    /// isolation then waits for a technician's approval.
    async fn isolation_held_by_the_kill_switch(&self, reason: &str) {
        let (status, _) = self.pull_kill_switch(&self.technician, reason).await;
        assert_eq!(status, StatusCode::OK);
        self.run_scenario("malware-laptop").await;
        self.settled_action("isolate_device", &["awaiting_approval"])
            .await;
    }

    async fn simulate(&self, device: &Value) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                &self.path("policy/simulate"),
                &self.technician,
                Some(&json!({
                    "type": "isolate_device",
                    "target": { "kind": "device", "id": device["id"] },
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Pulls the tenant's kill switch (as a technician), runs the action's job, and returns
    /// the action.
    async fn pull_switch_then_run(&self, action_id: steward_domain::ActionId) -> Value {
        let (status, _) = self.pull_kill_switch(&self.technician, "stop").await;
        assert_eq!(status, StatusCode::OK);
        steward_workers::advance(&self.shared, self.tenant.id, action_id)
            .await
            .unwrap();
        self.action_by_id(&action_id.to_string()).await
    }

    /// Records what triage would: an automatic isolation of `laptop` by the `defender`
    /// integration, its job waiting; with `snapshot_taken`, already past its snapshot (the next
    /// step asks the vendor).
    async fn propose_automatic_isolation(
        &self,
        laptop: &Value,
        defender: &str,
        snapshot_taken: bool,
    ) -> steward_domain::ActionId {
        let txn = self.world.storage.begin().await.unwrap();
        let deployment = Deployment::new(&txn);
        let ctx = deployment.write_context(&self.world.clock, &self.world.keys, World::actor());
        let work = TenantWork::as_steward(&ctx, self.tenant.id)
            .await
            .unwrap()
            .unwrap();
        let entity = EntityKey {
            kind: TargetKind::Device,
            id: laptop["id"].as_str().unwrap().parse().unwrap(),
        };
        let simulation = steward_core::decisions::simulate(
            &work,
            &self.shared.policies,
            ActionType::IsolateDevice,
            entity,
            ProposerKind::Worker,
            1,
            &ActionParameters::default(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            simulation.decided.decision.outcome,
            steward_domain::actions::PolicyOutcome::Auto
        );
        let (action, _) = work
            .propose(
                &Proposal {
                    incident_id: None,
                    kind: ActionType::IsolateDevice,
                    target: ActionTarget {
                        kind: TargetKind::Device,
                        id: entity.id,
                        name: laptop["hostname"].as_str().unwrap().to_owned(),
                    },
                    parameters: ActionParameters::default(),
                    integration_id: Some(defender.parse().unwrap()),
                    reasons: vec!["test".into()],
                    proposer: Proposer {
                        kind: ProposerKind::Worker,
                        user_id: None,
                    },
                    dedup_key: format!("guardrail-test-{snapshot_taken}"),
                    batch: None,
                },
                &simulation.input,
                &simulation.decided,
                self.shared.policies.approval_timing(),
            )
            .await
            .unwrap();
        if snapshot_taken {
            let snapshot = json!({
                "vendor_id": laptop["sources"][0]["external_id"],
                "isolated": false,
            });
            assert!(
                steward_core::actions::transition(
                    &work,
                    action.id,
                    steward_domain::actions::ActionStatus::Queued,
                    steward_core::storage::ActionUpdate {
                        snapshot: Some(&snapshot),
                        next_attempt: true,
                        ..steward_core::storage::ActionUpdate::to(
                            steward_domain::actions::ActionStatus::Executing
                        )
                    },
                )
                .await
                .unwrap()
            );
        }
        drop(work);
        drop(ctx);
        txn.commit().await.unwrap();
        action.id
    }
}

#[tokio::test]
async fn the_tenants_kill_switch_stops_automation_until_an_admin_releases_it() {
    let l = start_fresh().await;

    // The customer's approver cannot pull it; the owner can, and pulling twice is one pull.
    let (status, body) = l.pull_kill_switch(&l.approver, "nope").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, halt) = l
        .pull_kill_switch(&l.owner, "Quarter-end close: no changes today")
        .await;
    assert_eq!(status, StatusCode::OK, "{halt}");
    assert_eq!(halt["scope"], "tenant");
    assert!(
        halt["engaged_by_label"]
            .as_str()
            .unwrap()
            .contains("owner@acme.example")
    );
    let (_, again) = l.pull_kill_switch(&l.technician, "second pull").await;
    assert_eq!(again, halt, "the first pull stands");
    let guardrails = l.guardrails().await;
    assert_eq!(guardrails["paused"], json!(["kill_switch"]));
    assert_eq!(guardrails["tenant_halt"], halt);
    assert_eq!(guardrails["msp_halt"], Value::Null);

    // Malware now waits for a technician; nothing changes at the vendor.
    let laptop = l.next_finance_laptop().await;
    l.run_scenario("malware-laptop").await;
    let held = l
        .settled_action("isolate_device", &["awaiting_approval"])
        .await;
    assert_eq!(held["decision"]["outcome"], "technician_approval");
    assert!(reasons(&held["decision"]).contains(&"kill-switch-engaged"));
    assert_eq!(held["decision_input"]["guardrails"]["kill_switch"], true);
    assert_eq!(l.isolated(&laptop).await, false);

    // Only an MSP admin releases it.
    for token in [&l.technician, &l.owner] {
        let (status, body) = l
            .call(Method::DELETE, &l.path("kill-switch"), token, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let (status, released) = l
        .call(Method::DELETE, &l.path("kill-switch"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{released}");
    let (status, body) = l
        .call(Method::DELETE, &l.path("kill-switch"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "kill-switch-not-pulled");
    assert_eq!(l.guardrails().await["paused"], json!([]));

    // The held action runs once a technician approves it.
    let (status, body) = l.answer_as(&held, &l.technician, "approve").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(l.isolated(&laptop).await, true);

    l.assert_audited(&["automation.halted", "automation.released"], 1)
        .await;
    l.stop().await;
}

#[tokio::test]
async fn the_msp_wide_kill_switch_stops_every_tenant() {
    let l = start_fresh().await;
    let msp_switch = "/api/v1/kill-switch";
    let (status, body) = l
        .pull_kill_switch_at(msp_switch, &l.owner, "a customer cannot stop the MSP")
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, halt) = l
        .pull_kill_switch_at(msp_switch, &l.technician, "Vendor outage: hands off")
        .await;
    assert_eq!(status, StatusCode::OK, "{halt}");
    assert_eq!(halt["scope"], "msp");
    let (_, switch) = l
        .call(Method::GET, "/api/v1/kill-switch", &l.owner, None)
        .await;
    assert_eq!(switch["engaged"], true);
    let guardrails = l.guardrails().await;
    assert_eq!(guardrails["msp_halt"], halt);
    assert_eq!(guardrails["paused"], json!(["kill_switch"]));

    l.run_scenario("malware-laptop").await;
    let held = l
        .settled_action("isolate_device", &["awaiting_approval"])
        .await;
    assert!(reasons(&held["decision"]).contains(&"kill-switch-engaged"));

    // Another MSP's kill switch is its own.
    let (_, theirs) = l
        .call(Method::GET, "/api/v1/kill-switch", &l.stranger, None)
        .await;
    assert_eq!(theirs["engaged"], false);

    let (status, body) = l
        .call(Method::DELETE, "/api/v1/kill-switch", &l.technician, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = l
        .call(Method::DELETE, "/api/v1/kill-switch", &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, switch) = l
        .call(Method::GET, "/api/v1/kill-switch", &l.owner, None)
        .await;
    assert_eq!(switch["engaged"], false);

    // The MSP's own chain records both.
    let events = l.audit_actions_of_msp().await;
    assert!(
        events.iter().any(|e| e == "automation.halted"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e == "automation.released"),
        "{events:?}"
    );
    l.stop().await;
}

#[tokio::test]
async fn an_automatic_action_queued_before_the_switch_is_pulled_does_not_run() {
    let mut l = start_fresh().await;
    let (laptop, defender) = l.synced_device(false).await;
    l.stop_worker().await;

    // Steward decides to isolate the laptop on its own; the job is waiting.
    let action_id = l
        .propose_automatic_isolation(&laptop, &defender, false)
        .await;
    // The job runs now: the switch holds it back for a technician.
    let action = l.pull_switch_then_run(action_id).await;
    assert_eq!(action["status"], "awaiting_approval", "{action}");
    assert_eq!(action["decision"]["outcome"], "technician_approval");
    assert_eq!(reasons(&action["decision"]), ["kill-switch-engaged"]);
    assert!(
        action["detail"]
            .as_str()
            .unwrap()
            .contains("kill switch was pulled"),
        "{action}"
    );
    let vendor_id = laptop["sources"][0]["external_id"].as_str().unwrap();
    let state = l.sandbox_state().await;
    assert_eq!(item(&state, "devices", vendor_id)["isolated"], false);
    assert!(
        list(&state, "machine_actions")
            .iter()
            .all(|a| a["machine_id"] != vendor_id),
        "the vendor was never asked"
    );

    // A technician's approval is a person's decision: it runs, switch or not.
    let (status, body) = l
        .call(
            Method::POST,
            &l.path(&format!("actions/{action_id}/approve")),
            &l.technician,
            Some(&json!({"version": action["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    steward_workers::advance(&l.shared, l.tenant.id, action_id)
        .await
        .unwrap();
    assert_eq!(l.isolated(vendor_id).await, true);
    l.stop().await;
}

#[tokio::test]
async fn a_switch_pulled_after_the_snapshot_still_stops_the_vendor_call() {
    let mut l = start_fresh().await;
    let (laptop, defender) = l.synced_device(false).await;
    l.stop_worker().await;
    let vendor_id = laptop["sources"][0]["external_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An automatic isolation whose snapshot is taken: the next step asks the vendor.
    let action_id = l
        .propose_automatic_isolation(&laptop, &defender, true)
        .await;
    let action = l.pull_switch_then_run(action_id).await;
    assert_eq!(action["status"], "awaiting_approval", "{action}");
    assert_eq!(reasons(&action["decision"]), ["kill-switch-engaged"]);
    let state = l.sandbox_state().await;
    assert!(
        list(&state, "machine_actions")
            .iter()
            .all(|a| a["machine_id"] != vendor_id.as_str()),
        "the vendor was never asked"
    );
    l.stop().await;
}

#[tokio::test]
async fn the_hourly_rate_limit_makes_automation_ask_first() {
    let db = TestDatabase::migrated().await;
    let l = start_limited(
        &db,
        AutomationLimits {
            tenant_automatic_per_hour: 1,
            ..AutomationLimits::default()
        },
    )
    .await;
    let first = l.next_finance_laptop().await;
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;

    let second = l.next_finance_laptop().await;
    assert_ne!(first, second);
    l.run_scenario("malware-laptop").await;
    let held = l
        .settled_action("isolate_device", &["awaiting_approval"])
        .await;
    assert_eq!(held["decision"]["outcome"], "technician_approval");
    assert_eq!(reasons(&held["decision"]), ["automation-rate-limit"]);
    assert_eq!(
        held["decision_input"]["guardrails"]["automatic_last_hour"],
        1
    );
    let guardrails = l.guardrails().await;
    assert_eq!(guardrails["activity"]["tenant_automatic"], 1);
    assert_eq!(guardrails["paused"], json!(["rate_limited"]));
    assert_eq!(l.isolated(&second).await, false);
    l.stop().await;
}

#[tokio::test]
async fn failures_open_the_circuit_breaker() {
    let db = TestDatabase::migrated().await;
    let l = start_limited(
        &db,
        AutomationLimits {
            tenant_failures_to_open: 1,
            ..AutomationLimits::default()
        },
    )
    .await;
    let (device, _) = l.synced_device(false).await;
    let before = l.simulate(&device).await;
    assert_eq!(before["decision"]["outcome"], "auto", "{before}");

    let laptop = l.next_finance_laptop().await;
    l.inject(Fault::FailNextMachineAction { machine_id: laptop })
        .await;
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["rolled_back"]).await;

    let guardrails = l.guardrails().await;
    assert_eq!(guardrails["activity"]["tenant_failures"], 1, "{guardrails}");
    assert_eq!(guardrails["paused"], json!(["circuit_open"]));
    let after = l.simulate(&device).await;
    assert_eq!(after["decision"]["outcome"], "technician_approval");
    assert_eq!(reasons(&after["decision"]), ["circuit-breaker-open"]);
    l.stop().await;
}

#[tokio::test]
async fn maintenance_windows_are_checked_stored_and_read_by_the_policy() {
    let l = start_fresh().await;
    let entries = audit_entry_count(&l.world.storage).await;
    for (body, why) in [
        (
            json!({"timezone": "Mars/Olympus", "windows": [{"days": ["sat"], "start": "01:00", "end": "03:00"}]}),
            "Mars/Olympus",
        ),
        (
            json!({"timezone": "UTC", "windows": [{"days": ["caturday"], "start": "01:00", "end": "03:00"}]}),
            "caturday",
        ),
        (
            json!({"timezone": "UTC", "windows": [{"days": ["sat"], "start": "1am", "end": "03:00"}]}),
            "1am",
        ),
    ] {
        let (status, answer) = l
            .call(Method::PUT, &l.path("maintenance"), &l.admin, Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid-maintenance-schedule");
        assert!(error_message(&answer).contains(why), "{answer}");
    }
    assert_eq!(audit_entry_count(&l.world.storage).await, entries);
    assert_eq!(l.guardrails().await["maintenance"], Value::Null);

    // At level 3 a server (high criticality) is isolated on its own only inside a window.
    let (status, _) = l.set_automation_level(3).await;
    assert_eq!(status, StatusCode::OK);
    let (server, _) = l.synced_device(true).await;
    let now = l.world.clock.now();
    let today = now.weekday();
    let day = |d: chrono::Weekday| d.to_string().to_lowercase();
    let open_now = json!({
        "timezone": "UTC",
        "windows": [{"days": [day(today)], "start": "00:00", "end": "00:00"}],
    });
    let (status, _) = l
        .call(
            Method::PUT,
            &l.path("maintenance"),
            &l.admin,
            Some(&open_now),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "an empty window");

    // Today from midnight to midnight (past midnight into tomorrow) is open now.
    let all_day = json!({
        "timezone": "UTC",
        "windows": [{"days": [day(today)], "start": "00:00", "end": "23:59"},
                    {"days": [day(today)], "start": "23:59", "end": "00:00"}],
    });
    let (status, stored) = l
        .call(
            Method::PUT,
            &l.path("maintenance"),
            &l.admin,
            Some(&all_day),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored, all_day);
    let guardrails = l.guardrails().await;
    assert_eq!(guardrails["maintenance"], all_day);
    assert_eq!(guardrails["maintenance_open"], true);
    let inside = l.simulate(&server).await;
    assert_eq!(inside["decision"]["outcome"], "auto", "{inside}");
    assert_eq!(
        inside["input"]["tenant"]["maintenance"],
        json!({"configured": true, "open": true})
    );

    // Only tomorrow: closed now, so a technician approves first.
    let tomorrow = json!({
        "timezone": "UTC",
        "windows": [{"days": [day(today.succ())], "start": "01:00", "end": "02:00"}],
    });
    let (status, _) = l
        .call(
            Method::PUT,
            &l.path("maintenance"),
            &l.technician,
            Some(&tomorrow),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only MSP admins change it");
    let (status, _) = l
        .call(
            Method::PUT,
            &l.path("maintenance"),
            &l.admin,
            Some(&tomorrow),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(l.guardrails().await["maintenance_open"], false);
    let outside = l.simulate(&server).await;
    assert_eq!(outside["decision"]["outcome"], "technician_approval");
    assert_eq!(
        reasons(&outside["decision"]),
        ["outside-maintenance-window"]
    );

    let (status, _) = l
        .call(Method::DELETE, &l.path("maintenance"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = l
        .call(Method::DELETE, &l.path("maintenance"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(l.simulate(&server).await["decision"]["outcome"], "auto");
    l.assert_audited(&["tenant.maintenance_changed"], 3).await;
    l.stop().await;
}

#[tokio::test]
async fn the_kill_switch_is_pulled_and_released_in_the_web_ui() {
    let l = start_fresh().await;
    let page = format!("/tenants/{}/response", l.tenant.id);
    let pull = format!("/tenants/{}/kill-switch", l.tenant.id);

    // The customer's owner sees automation running and pulls the switch.
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let shown = owner.get(&page).await;
    assert!(
        shown.body.contains("Automatic execution is on"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("Pull the kill switch"));
    assert!(!shown.body.contains("Release the kill switch"));
    let pulled = owner
        .submit(&page, &pull, &[("reason", "Payroll run tonight")])
        .await;
    pulled.assert_redirect_ends_with("done=kill-switch-pulled");
    let shown = owner.get(&page).await;
    assert!(shown.body.contains("Automatic execution is paused"));
    assert!(shown.body.contains("Payroll run tonight"));
    assert!(!shown.body.contains("Release the kill switch"));
    assert_eq!(l.guardrails().await["paused"], json!(["kill_switch"]));

    // The customer cannot release it, even by posting the form.
    let refused = owner.submit(&page, &format!("{pull}/release"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(l.guardrails().await["paused"], json!(["kill_switch"]));

    // An MSP admin releases it.
    let admin = Browser::new(&l.app);
    admin.sign_in("admin@harbor.example", PASSWORD).await;
    let shown = admin.get(&page).await;
    assert!(shown.body.contains("Release the kill switch"));
    let released = admin.submit(&page, &format!("{pull}/release"), &[]).await;
    released.assert_redirect_ends_with("done=kill-switch-released");
    assert_eq!(l.guardrails().await["paused"], json!([]));
    l.stop().await;
}

#[tokio::test]
async fn the_msp_wide_kill_switch_is_pulled_and_released_on_the_dashboard() {
    let l = start_fresh().await;
    let msp_switch = async || {
        let (status, body) = l
            .call(Method::GET, "/api/v1/kill-switch", &l.technician, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };

    // A technician sees automation on everywhere and stops it in every customer.
    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let shown = technician.get("/").await.body;
    assert!(
        shown.contains("Automatic execution is on in every customer"),
        "{shown}"
    );
    assert!(shown.contains("Stop automation in every customer"));
    assert!(!shown.contains("Release the MSP-wide kill switch"));
    let pulled = technician
        .submit("/", "/kill-switch", &[("reason", "Vendor outage")])
        .await;
    pulled.assert_redirect_ends_with("done=msp-kill-switch-pulled");
    assert_eq!(msp_switch().await["engaged"], true);
    assert_eq!(msp_switch().await["halt"]["reason"], "Vendor outage");
    assert_eq!(l.guardrails().await["paused"], json!(["kill_switch"]));
    let shown = technician.get("/").await.body;
    assert!(shown.contains("Automatic execution is stopped in every customer"));
    assert!(shown.contains("Vendor outage"));
    assert!(!shown.contains("Release the MSP-wide kill switch"));

    // Only an MSP admin releases it; the customer cannot touch it.
    // (Posted from the response page, whose forms carry the session's CSRF token.)
    let response = format!("/tenants/{}/response", l.tenant.id);
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    let entries = audit_entry_count(&l.world.storage).await;
    let refused = technician
        .submit(&response, "/kill-switch/release", &[])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for action in ["/kill-switch", "/kill-switch/release"] {
        let refused = owner.submit(&response, action, &[("reason", "mine")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{action}");
    }
    assert_eq!(audit_entry_count(&l.world.storage).await, entries);
    assert_eq!(msp_switch().await["engaged"], true);

    let admin = Browser::new(&l.app);
    admin.sign_in("admin@harbor.example", PASSWORD).await;
    assert!(
        admin
            .get("/")
            .await
            .body
            .contains("Release the MSP-wide kill switch")
    );
    let released = admin.submit("/", "/kill-switch/release", &[]).await;
    released.assert_redirect_ends_with("done=msp-kill-switch-released");
    assert_eq!(msp_switch().await["engaged"], false);
    assert_eq!(l.guardrails().await["paused"], json!([]));
    // Releasing again says it is not pulled.
    let again = admin.submit("/", "/kill-switch/release", &[]).await;
    again.assert_redirect_ends_with("error=kill-switch-not-pulled");
    l.stop().await;
}

#[tokio::test]
async fn the_approval_card_shows_what_the_policy_would_decide_now() {
    let l = start_fresh().await;
    l.isolation_held_by_the_kill_switch("investigating").await;
    let page = format!("/tenants/{}/response", l.tenant.id);
    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let shown = technician.get(&page).await.body;
    assert!(shown.contains("Policy if proposed now"), "{shown}");
    assert!(
        shown.contains("approval, as recorded (kill-switch-engaged)"),
        "{shown}"
    );

    // Released, the same action would now run on its own: the card says so.
    let (status, _) = l
        .call(Method::DELETE, &l.path("kill-switch"), &l.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let shown = technician.get(&page).await.body;
    assert!(
        shown.contains("automatic (reversible-action-within-automation-level)"),
        "{shown}"
    );
    // The customer's approver cannot ask the policy, and sees no what-if.
    let approver = Browser::new(&l.app);
    approver.sign_in("approver@acme.example", PASSWORD).await;
    assert!(
        !approver
            .get(&page)
            .await
            .body
            .contains("Policy if proposed now")
    );
    l.stop().await;
}

#[tokio::test]
async fn what_if_answers_while_another_transaction_is_writing() {
    let l = start_fresh().await;
    let (device, _) = l.synced_device(false).await;
    l.isolation_held_by_the_kill_switch("hold everything").await;
    let page = format!("/tenants/{}/response", l.tenant.id);
    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;

    // A long write holds the database's write lock (SQLite) and row locks (PostgreSQL); asking
    // the policy what it would decide only reads, so it does not wait for it.
    let writer = l.world.storage.begin().await.unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(&writer, "UPDATE msps SET name = name")
        .await
        .unwrap();
    let simulated = l.simulate(&device).await;
    assert_eq!(simulated["decision"]["outcome"], "technician_approval");
    let shown = technician.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains("Policy if proposed now"),
        "{}",
        shown.body
    );
    writer.rollback().await.unwrap();
    l.stop().await;
}
