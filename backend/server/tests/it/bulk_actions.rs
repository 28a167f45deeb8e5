//! Bulk actions through the API, with a real worker and the sandbox: the policy sees the blast
//! radius and refuses above a limit per action type; the first target runs as a canary, the
//! others only once it is verified, and they are cancelled if it fails or is rejected.

use crate::support::{
    Browser,
    governed::{Loop, PASSWORD, item, reasons, start_fresh, start_synced},
    list,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_sandbox::Fault;
use steward_testkit::{TestDatabase, tamper::audit_entry_count};

impl Loop {
    /// The inventory's laptops (not the server), each with its Defender machine id.
    async fn laptops(&self) -> Vec<(String, String)> {
        self.inventory("devices")
            .await
            .iter()
            .filter(|d| !d["tags"].as_array().unwrap().contains(&json!("Server")))
            .map(|d| {
                (
                    d["id"].as_str().unwrap().to_owned(),
                    d["sources"][0]["external_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn identities(&self) -> Vec<String> {
        self.inventory("identities")
            .await
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn set_level(&self, level: u8) {
        let (status, body) = self.set_automation_level(level).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Proposes `kind` for `targets` as the MSP admin; returns the status and the answer.
    async fn request(
        &self,
        kind: &str,
        targets: &[&str],
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = json!({
            "type": kind,
            "targets": targets,
            "reason": "Contain the outbreak on the finance floor",
        });
        self.propose(&body, key).await
    }

    async fn batch(&self, id: &str) -> Value {
        let rest = format!("action-batches/{id}");
        self.send(Method::GET, &rest, &self.technician, StatusCode::OK)
            .await
    }

    /// The batch once the loop has settled; it must be in `status`.
    async fn settled_batch(&self, id: &str, status: &str) -> Value {
        self.settle().await;
        let batch = self.batch(id).await;
        assert_eq!(batch["status"], status, "{batch:#}");
        batch
    }

    /// The tenant's audit entries about `action_id`, oldest first, as `(seq, action)`.
    async fn audit_of(&self, action_id: &str) -> Vec<(u64, String)> {
        let (status, page) = self
            .call(
                Method::GET,
                &self.path("audit?limit=200"),
                &self.admin,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut entries: Vec<(u64, String)> = list(&page, "items")
            .iter()
            .filter(|e| e["subject"]["id"] == action_id)
            .map(|e| {
                (
                    e["seq"].as_u64().unwrap(),
                    e["action"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        entries.sort();
        entries
    }
}

fn seq_of(entries: &[(u64, String)], event: &str) -> u64 {
    entries
        .iter()
        .find(|(_, action)| action == event)
        .unwrap_or_else(|| panic!("no {event} in {entries:?}"))
        .0
}

fn ids(batch: &Value) -> Vec<String> {
    list(batch, "actions")
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_bulk_isolation_runs_its_canary_first_then_the_rest() {
    let l = start_synced().await;
    l.set_level(3).await;
    let laptops = l.laptops().await;
    let targets: Vec<&str> = laptops[..3].iter().map(|(id, _)| id.as_str()).collect();

    let (status, batch) = l.request("isolate_device", &targets, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let members = batch["actions"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(batch["canary_action_id"], members[0]["id"]);
    for (position, member) in members.iter().enumerate() {
        assert_eq!(member["target"]["id"], targets[position]);
        assert_eq!(member["batch"]["position"], position);
        assert_eq!(member["batch"]["size"], 3);
        assert_eq!(member["decision_input"]["action"]["target_count"], 3);
        assert_eq!(member["decision"]["outcome"], "auto", "{member}");
        assert_eq!(member["proposed_by"]["kind"], "technician");
    }

    let done = l
        .settled_batch(batch["id"].as_str().unwrap(), "completed")
        .await;
    let state = l.sandbox_state().await;
    for (member, (_, machine)) in done["actions"].as_array().unwrap().iter().zip(&laptops) {
        assert_eq!(member["status"], "verified", "{member}");
        assert_eq!(item(&state, "devices", machine)["isolated"], true);
    }
    // Nothing of the others reached the vendor before the canary was confirmed.
    let ids = ids(&done);
    let canary_verified = seq_of(&l.audit_of(&ids[0]).await, "action.verified");
    for follower in &ids[1..] {
        let executing = seq_of(&l.audit_of(follower).await, "action.executing");
        assert!(
            executing > canary_verified,
            "a follower ran (audit #{executing}) before the canary was verified (#{canary_verified})"
        );
    }
    l.stop().await;
}

#[tokio::test]
async fn a_failed_canary_cancels_the_rest_of_its_batch() {
    let l = start_synced().await;
    l.set_level(3).await;
    let laptops = l.laptops().await;
    l.inject(Fault::FailNextMachineAction {
        machine_id: laptops[0].1.clone(),
    })
    .await;
    let targets: Vec<&str> = laptops[..3].iter().map(|(id, _)| id.as_str()).collect();
    let (status, batch) = l.request("isolate_device", &targets, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");

    let stopped = l
        .settled_batch(batch["id"].as_str().unwrap(), "stopped")
        .await;
    let members = stopped["actions"].as_array().unwrap();
    assert!(
        ["failed", "rolling_back", "rolled_back"].contains(&members[0]["status"].as_str().unwrap()),
        "{stopped:#}"
    );
    for follower in &members[1..] {
        assert_eq!(follower["status"], "cancelled", "{follower}");
        let detail = follower["detail"].as_str().unwrap();
        assert!(detail.contains("canary"), "{detail}");
        assert!(follower["executed_at"].is_null());
        assert!(follower["snapshot"].is_null(), "never asked the vendor");
    }
    let state = l.sandbox_state().await;
    for (_, machine) in &laptops[..3] {
        assert_eq!(item(&state, "devices", machine)["isolated"], false);
    }
    for follower in &ids(&stopped)[1..] {
        let audit = l.audit_of(follower).await;
        seq_of(&audit, "action.cancelled");
        assert!(
            !audit.iter().any(|(_, a)| a == "action.executing"),
            "{audit:?}"
        );
    }
    l.stop().await;
}

#[tokio::test]
async fn a_member_past_its_snapshot_is_cancelled_when_its_canary_is_rolled_back() {
    let mut l = start_fresh().await;
    l.sync_all().await;
    l.set_level(3).await;
    let laptops = l.laptops().await;
    // Steps are run by hand from here, so the member can be caught between its snapshot and
    // its vendor call.
    l.stop_worker().await;
    let targets = [laptops[0].0.as_str(), laptops[1].0.as_str()];
    let (status, batch) = l.request("isolate_device", &targets, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let ids = ids(&batch);
    let id = |i: usize| ids[i].parse::<steward_domain::ActionId>().unwrap();
    steward_workers::advance(&l.shared, l.tenant.id, id(0))
        .await
        .unwrap();
    assert_eq!(
        l.batch(batch["id"].as_str().unwrap()).await["actions"][0]["status"],
        "verified"
    );

    // The member's snapshot is taken: its next step asks the vendor.
    let snapshot = json!({"vendor_id": laptops[1].1, "isolated": false});
    let moved = l
        .world
        .as_steward(&l.tenant, async |work| {
            steward_core::actions::transition(
                work,
                id(1),
                steward_domain::actions::ActionStatus::Queued,
                steward_core::storage::ActionUpdate {
                    snapshot: Some(&snapshot),
                    next_attempt: true,
                    ..steward_core::storage::ActionUpdate::to(
                        steward_domain::actions::ActionStatus::Executing,
                    )
                },
            )
            .await
            .unwrap()
        })
        .await;
    assert!(moved);
    // The canary is undone meanwhile: the member must not run.
    let (status, body) = l
        .call(
            Method::POST,
            &l.path(&format!("actions/{}/rollback", ids[0])),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    steward_workers::advance(&l.shared, l.tenant.id, id(1))
        .await
        .unwrap();
    let settled = l.batch(batch["id"].as_str().unwrap()).await;
    let member = &settled["actions"][1];
    assert_eq!(member["status"], "cancelled", "{member:#}");
    assert!(
        member["detail"].as_str().unwrap().contains("canary"),
        "{member:#}"
    );
    assert!(member["executed_at"].is_null());
    let audit = l.audit_of(&ids[1]).await;
    assert!(seq_of(&audit, "action.executing") < seq_of(&audit, "action.cancelled"));
    let state = l.sandbox_state().await;
    assert!(
        list(&state, "machine_actions")
            .iter()
            .all(|a| a["machine_id"] != laptops[1].1.as_str()),
        "the vendor was never asked: {state:#}"
    );
    l.stop().await;
}

#[tokio::test]
async fn approved_members_wait_for_their_canary_and_a_rejected_canary_stops_the_batch() {
    let l = start_synced().await;
    let laptops = l.laptops().await;

    // Below level 3 a bulk action waits for a technician, every target of it.
    let (status, batch) = l
        .request("isolate_device", &[&laptops[0].0, &laptops[1].0], None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let members = batch["actions"].as_array().unwrap().clone();
    for member in &members {
        assert_eq!(member["status"], "awaiting_approval");
        assert!(
            reasons(&member["decision"]).contains(&"bulk-action"),
            "{member}"
        );
    }
    // The follower, approved first, stays queued while its canary waits.
    l.answer(&members[1], "approve").await;
    l.settle().await;
    let waiting = l.batch(batch["id"].as_str().unwrap()).await;
    assert_eq!(waiting["status"], "canary");
    assert_eq!(waiting["actions"][1]["status"], "queued", "{waiting:#}");
    assert_eq!(l.isolated(&laptops[1].1).await, false);
    // Approving the canary runs it, then the follower.
    l.answer(&members[0], "approve").await;
    let done = l
        .settled_batch(batch["id"].as_str().unwrap(), "completed")
        .await;
    assert_eq!(done["actions"][1]["status"], "verified", "{done:#}");

    // A rejected canary cancels the rest, approved or still waiting.
    let (_, batch) = l
        .request(
            "isolate_device",
            &[&laptops[2].0, &laptops[3].0, &laptops[4].0],
            None,
        )
        .await;
    let members = batch["actions"].as_array().unwrap().clone();
    l.answer(&members[1], "approve").await;
    l.answer(&members[0], "reject").await;
    let stopped = l.batch(batch["id"].as_str().unwrap()).await;
    assert_eq!(stopped["status"], "stopped", "{stopped:#}");
    assert_eq!(stopped["actions"][0]["status"], "rejected");
    assert_eq!(stopped["actions"][1]["status"], "cancelled");
    assert_eq!(stopped["actions"][2]["status"], "cancelled");
    // A cancelled member can no longer be approved.
    let (status, body) = l
        .call(
            Method::POST,
            &l.path(&format!(
                "actions/{}/approve",
                members[2]["id"].as_str().unwrap()
            )),
            &l.technician,
            Some(&json!({"version": members[2]["version"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not-awaiting-approval");
    l.settle().await;
    let state = l.sandbox_state().await;
    for (_, machine) in &laptops[2..5] {
        assert_eq!(item(&state, "devices", machine)["isolated"], false);
    }
    l.stop().await;
}

#[tokio::test]
async fn the_policy_refuses_a_bulk_action_above_its_limit() {
    let l = start_synced().await;
    let identities = l.identities().await;
    assert!(identities.len() >= 6, "{identities:?}");

    // The built-in policy disables at most five accounts in one request.
    let six: Vec<&str> = identities[..6].iter().map(String::as_str).collect();
    let (status, batch) = l.request("disable_user", &six, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["status"], "denied");
    assert_eq!(batch["canary_action_id"], Value::Null);
    for member in batch["actions"].as_array().unwrap() {
        assert_eq!(member["status"], "denied");
        assert_eq!(
            member["decision"]["reasons"],
            json!(["bulk-limit-exceeded"])
        );
        assert_eq!(member["decision_input"]["action"]["target_count"], 6);
    }
    // Five is within it (and waits for a technician as a bulk action).
    let (status, batch) = l.request("disable_user", &six[..5], None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    assert_ne!(batch["status"], "denied", "{batch:#}");
    assert!(
        list(&batch, "actions")
            .iter()
            .all(|m| m["status"] != "denied"),
        "{batch:#}"
    );
    let state = l.sandbox_state().await;
    assert!(
        list(&state, "users")
            .iter()
            .all(|u| u["account_enabled"] == true),
        "nothing ran: {state:#}"
    );
    l.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let l = start_synced().await;
    let laptops = l.laptops().await;
    let identities = l.identities().await;
    let laptop = laptops[0].0.as_str();
    let entries = audit_entry_count(&l.world.storage).await;
    let hundred_one: Vec<String> = (0..101)
        .map(|n| uuid::Uuid::from_u128(n + 1).to_string())
        .collect();
    let hundred_one: Vec<&str> = hundred_one.iter().map(String::as_str).collect();
    let unknown = uuid::Uuid::from_u128(42).to_string();
    for (targets, code) in [
        (vec![], "invalid-targets"),
        (hundred_one, "invalid-targets"),
        (vec![laptop, laptop], "duplicate-target"),
        (vec![laptop, unknown.as_str()], "unknown-target"),
        // An identity is not a device.
        (vec![identities[0].as_str()], "unknown-target"),
    ] {
        let (status, body) = l.request("isolate_device", &targets, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    for body in [
        json!({"type": "isolate_device", "targets": [laptop], "reason": "  "}),
        json!({"type": "wipe_device", "targets": [laptop], "reason": "x"}),
        json!({"type": "isolate_device", "targets": [laptop], "reason": "x", "extra": 1}),
        json!({"type": "isolate_device", "targets": [laptop], "reason": "x",
               "incident_id": uuid::Uuid::from_u128(7)}),
    ] {
        let (status, answer) = l
            .call(Method::POST, &l.path("actions"), &l.admin, Some(&body))
            .await;
        assert!(status.is_client_error(), "{body} -> {status} {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    let (status, body) = l
        .request("isolate_device", &[laptop], Some("has spaces"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid-idempotency-key");
    assert_eq!(audit_entry_count(&l.world.storage).await, entries);
    assert!(l.actions().await.is_empty());
    l.stop().await;
}

#[tokio::test]
async fn a_repeated_request_with_its_idempotency_key_returns_the_first_batch() {
    let l = start_synced().await;
    let laptops = l.laptops().await;
    let targets = [laptops[0].0.as_str(), laptops[1].0.as_str()];

    let (status, first) = l
        .request("isolate_device", &targets, Some("ticket-4711"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let entries = audit_entry_count(&l.world.storage).await;
    let (status, again) = l
        .request("isolate_device", &targets, Some("ticket-4711"))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(ids(&again), ids(&first));
    assert_eq!(l.actions().await.len(), 2);
    assert_eq!(audit_entry_count(&l.world.storage).await, entries);

    // The same key for something else is refused.
    let (status, body) = l
        .request(
            "isolate_device",
            &[laptops[2].0.as_str()],
            Some("ticket-4711"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "idempotency-key-reused");
    // Another key is another request.
    let (status, other) = l
        .request("isolate_device", &targets, Some("ticket-4712"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);

    // A client retrying before the first answer came: the two requests arrive together, one
    // records the batch and the other returns it.
    let before = l.actions().await.len();
    let (one, two) = tokio::join!(
        l.request("isolate_device", &targets, Some("ticket-9000")),
        l.request("isolate_device", &targets, Some("ticket-9000")),
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{one:?} {two:?}"
    );
    assert_eq!(one.1["id"], two.1["id"]);
    assert_eq!(l.actions().await.len(), before + 2);
    // A key that spells another key and a position is still its own request.
    let (status, spelled) = l
        .request(
            "isolate_device",
            &[laptops[3].0.as_str()],
            Some("1:ticket-9000"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{spelled}");
    assert_ne!(spelled["id"], one.1["id"]);
    l.stop().await;
}

#[tokio::test]
async fn technicians_propose_bulk_actions_in_the_web_ui() {
    let l = start_synced().await;
    let laptops = l.laptops().await;
    let identities = l.identities().await;
    let page = format!("/tenants/{}/response", l.tenant.id);
    let post = format!("/tenants/{}/actions", l.tenant.id);

    let technician = Browser::new(&l.app);
    technician.sign_in("tech@harbor.example", PASSWORD).await;
    let shown = technician.get(&page).await.body;
    assert!(shown.contains("Propose an action"), "{shown}");
    assert!(shown.contains(&laptops[0].0), "every device is offered");

    // A wrong kind of target is refused and records nothing.
    let refused = technician
        .submit(
            &page,
            &post,
            &[
                ("type", "isolate_device"),
                ("target", &identities[0]),
                ("reason", "wrong kind"),
            ],
        )
        .await;
    refused.assert_redirect_ends_with("error=unknown-target");
    assert!(l.actions().await.is_empty());

    let proposed = technician
        .submit(
            &page,
            &post,
            &[
                ("type", "isolate_device"),
                ("target", &laptops[0].0),
                ("target", &laptops[1].0),
                ("reason", "Ransomware note on both screens"),
            ],
        )
        .await;
    proposed.assert_redirect_ends_with("done=actions-proposed");
    let actions = l.actions().await;
    assert_eq!(actions.len(), 2, "{actions:#?}");
    let batch = l.batch(actions[0]["batch"]["id"].as_str().unwrap()).await;
    assert_eq!(batch["actions"][0]["target"]["id"], laptops[0].0.as_str());
    assert_eq!(batch["actions"][1]["target"]["id"], laptops[1].0.as_str());
    assert_eq!(
        batch["actions"][0]["reasons"][0],
        "Ransomware note on both screens"
    );
    let shown = technician.get(&page).await.body;
    assert!(shown.contains("(1 of 2)"), "{shown}");
    assert!(shown.contains("Target 2 of 2 in one request"), "{shown}");

    // The customer's owner neither sees the form nor may post it.
    let owner = Browser::new(&l.app);
    owner.sign_in("owner@acme.example", PASSWORD).await;
    assert!(!owner.get(&page).await.body.contains("Propose an action"));
    let refused = owner
        .submit(
            &page,
            &post,
            &[
                ("type", "release_device"),
                ("target", &laptops[0].0),
                ("reason", "mine"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(l.actions().await.len(), 2);
    l.stop().await;
}

#[tokio::test]
async fn concurrent_proposals_never_exceed_the_hourly_limit_of_automatic_actions() {
    let db = TestDatabase::migrated().await;
    let l = crate::support::governed::start_limited(
        &db,
        steward_domain::guardrails::AutomationLimits {
            tenant_automatic_per_hour: 1,
            ..steward_domain::guardrails::AutomationLimits::default()
        },
    )
    .await;
    l.sync_all().await;
    let laptops = l.laptops().await;
    // Four requests at once, one laptop each: the limit allows one automatic action.
    let targets: Vec<[&str; 1]> = laptops.iter().map(|(id, _)| [id.as_str()]).collect();
    let isolate = |n: usize| l.request("isolate_device", &targets[n], None);
    let answers = tokio::join!(isolate(0), isolate(1), isolate(2), isolate(3));
    for (status, body) in [answers.0, answers.1, answers.2, answers.3] {
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let actions = l.actions().await;
    assert_eq!(actions.len(), 4);
    let automatic: Vec<&Value> = actions
        .iter()
        .filter(|a| a["decision"]["outcome"] == "auto")
        .collect();
    assert_eq!(automatic.len(), 1, "{actions:#?}");
    for held in actions
        .iter()
        .filter(|a| a["decision"]["outcome"] != "auto")
    {
        assert!(
            reasons(&held["decision"]).contains(&"automation-rate-limit"),
            "{held:#}"
        );
    }
    l.stop().await;
}

#[tokio::test]
async fn members_waiting_for_their_canary_are_not_swept_as_stalled() {
    let mut l = start_fresh().await;
    l.sync_all().await;
    let laptops = l.laptops().await;
    l.stop_worker().await;
    // A lone automatic isolation whose job is lost (no worker runs it).
    let (_, lone) = l.request("isolate_device", &[&laptops[0].0], None).await;
    let lone = lone["actions"][0]["id"].as_str().unwrap().to_owned();
    // A batch whose follower is approved and waits for its canary's approval.
    let (_, batch) = l
        .request("isolate_device", &[&laptops[1].0, &laptops[2].0], None)
        .await;
    let follower = batch["actions"][1].clone();
    l.answer(&follower, "approve").await;
    assert_eq!(
        l.batch(batch["id"].as_str().unwrap()).await["actions"][1]["status"],
        "queued"
    );

    l.world.clock.advance(chrono::Duration::hours(2));
    let storage = l.world.storage.clone();
    let stalled = async |at| {
        steward_core::storage::Deployment::new(storage.conn())
            .stalled_actions(at)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, id)| id.to_string())
            .collect::<Vec<_>>()
    };
    let now = steward_core::Clock::now(&l.world.clock);
    let swept = stalled(now).await;
    assert!(swept.contains(&lone), "{swept:?}");
    assert!(
        !swept.contains(&follower["id"].as_str().unwrap().to_owned()),
        "a member waiting for its canary is not stalled: {swept:?}"
    );
    // Once the canary is rejected the member is cancelled, and nothing of the batch is swept.
    l.answer(&batch["actions"][0], "reject").await;
    let swept = stalled(now).await;
    assert_eq!(swept, [lone], "{swept:?}");
    l.stop().await;
}
