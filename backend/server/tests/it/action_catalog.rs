//! The action catalog through the API, against the sandbox's vendors with a real worker: each
//! action is proposed, decided, approved where the policy asks, executed, verified at the
//! vendor, and rolled back where it can be.

use crate::support::{
    error_message,
    governed::{Loop, item, reasons, start_fresh, start_synced},
    list,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

impl Loop {
    /// The inventory identity with this user principal name prefix, and its Graph id.
    async fn identity(&self, upn_prefix: &str) -> (String, String) {
        let identities = self.inventory("identities").await;
        let identity = identities
            .iter()
            .find(|i| {
                i["user_principal_name"]
                    .as_str()
                    .unwrap()
                    .starts_with(upn_prefix)
            })
            .unwrap_or_else(|| panic!("no identity {upn_prefix}…: {identities:#?}"))
            .clone();
        (
            identity["id"].as_str().unwrap().to_owned(),
            identity["sources"][0]["external_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }

    /// Proposes `kind` for one target as the MSP admin and returns the recorded action.
    async fn propose_one(&self, kind: &str, target: &str) -> Value {
        let body = json!({
            "type": kind,
            "targets": [target],
            "reason": "The account's second factors may be in an attacker's hands",
        });
        let (status, batch) = self.propose(&body, None).await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        batch["actions"][0].clone()
    }
}

#[tokio::test]
async fn resetting_mfa_is_approved_deletes_every_second_factor_and_cannot_be_undone() {
    let l = start_synced().await;
    let state = l.sandbox_state().await;
    let owner = state["users"][0].clone();
    assert_eq!(
        owner["mfa_methods"],
        json!(["microsoft_authenticator", "phone"])
    );
    let upn = owner["user_principal_name"].as_str().unwrap();
    let (identity, graph_id) = l.identity(upn).await;
    let mfa_of = async || {
        l.inventory("identities")
            .await
            .iter()
            .find(|i| i["id"] == identity.as_str())
            .unwrap()["mfa_registered"]
            .clone()
    };
    assert_eq!(
        mfa_of().await,
        true,
        "the inventory knows the owner has MFA"
    );

    let action = l.propose_one("reset_mfa", &identity).await;
    assert_eq!(action["status"], "awaiting_approval", "{action:#}");
    assert_eq!(action["reversible"], false);
    assert_eq!(
        action["decision"]["reasons"],
        json!(["irreversible-action"])
    );
    assert!(
        action["rollback_plan"]
            .as_str()
            .unwrap()
            .starts_with("None"),
        "{action}"
    );
    l.answer(&action, "approve").await;
    let done = l.settled_action("reset_mfa", &["verified", "failed"]).await;
    assert_eq!(done["status"], "verified", "{done:#}");
    assert_eq!(
        done["snapshot"]["authentication_methods"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "the snapshot records what was deleted: {done:#}"
    );
    let state = l.sandbox_state().await;
    assert_eq!(item(&state, "users", &graph_id)["mfa_methods"], json!([]));
    l.sync_all().await;
    assert_eq!(
        mfa_of().await,
        false,
        "and, synchronized again, that it has none now"
    );

    let (status, body) = l.roll_back(&done).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "irreversible");
    let audit = l.audit_actions().await;
    assert!(audit.contains(&"action.verified".to_owned()), "{audit:?}");
    l.stop().await;
}

#[tokio::test]
async fn a_group_removal_runs_is_verified_and_rolls_back_to_the_membership() {
    let l = start_synced().await;
    let state = l.sandbox_state().await;
    let finance = list(&state, "groups")
        .iter()
        .find(|g| g["display_name"] == "Finance Team")
        .unwrap()
        .clone();
    let group_id = finance["id"].as_str().unwrap();
    let member = finance["members"][0].as_str().unwrap();
    let upn = item(&state, "users", member)["user_principal_name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (identity, _) = l.identity(&upn).await;

    // Group actions need the group; other actions take none. Nothing is recorded.
    for (kind, parameters) in [
        ("remove_from_group", json!({})),
        ("remove_from_group", json!({"group_id": "not a guid!"})),
        ("disable_user", json!({"group_id": group_id})),
    ] {
        let body = json!({
            "type": kind,
            "targets": [identity],
            "reason": "x",
            "parameters": parameters,
        });
        let (status, body) = l.propose(&body, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid-parameters");
    }
    assert!(l.actions().await.is_empty());

    let body = json!({
        "type": "remove_from_group",
        "targets": [identity],
        "reason": "Leaving the finance team today",
        "parameters": {"group_id": group_id},
    });
    let (status, batch) = l.propose(&body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let action = &batch["actions"][0];
    assert_eq!(action["parameters"]["group_id"], group_id);
    assert_eq!(
        action["decision_input"]["action"]["parameters"]["group_id"], group_id,
        "the policy sees the group"
    );
    let done = l
        .settled_action("remove_from_group", &["verified", "failed"])
        .await;
    assert_eq!(done["status"], "verified", "{done:#}");
    assert_eq!(done["snapshot"]["group_name"], "Finance Team");
    let groups = |state: &Value| item(state, "users", member)["groups"].clone();
    assert!(
        !groups(&l.sandbox_state().await)
            .as_array()
            .unwrap()
            .contains(&json!("Finance Team"))
    );

    let (status, body) = l.roll_back(&done).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    l.settled_action("remove_from_group", &["rolled_back"])
        .await;
    assert!(
        groups(&l.sandbox_state().await)
            .as_array()
            .unwrap()
            .contains(&json!("Finance Team"))
    );
    l.stop().await;
}

/// Proposes `kind` for one target (with `parameters`), has a technician approve it when the
/// policy asks, and waits until it is verified.
async fn run_to_verified(l: &Loop, kind: &str, target: &str, parameters: Value) -> Value {
    let body = json!({
        "type": kind,
        "targets": [target],
        "reason": "Exercising the catalog",
        "parameters": parameters,
    });
    let (status, batch) = l.propose(&body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let action = &batch["actions"][0];
    match action["decision"]["outcome"].as_str().unwrap() {
        "auto" => {}
        "technician_approval" => l.answer(action, "approve").await,
        other => panic!("{kind} needs {other}: {batch:#}"),
    }
    let done = l.settled_action(kind, &["verified", "failed"]).await;
    assert_eq!(done["status"], "verified", "{done:#}");
    done
}

/// Rolls the action back and waits until the rollback is confirmed.
async fn roll_back_to_rolled_back(l: &Loop, action: &Value) {
    let (status, body) = l.roll_back(action).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let kind = action["type"].as_str().unwrap();
    let done = l
        .settled_action(kind, &["rolled_back", "rollback_failed"])
        .await;
    assert_eq!(done["status"], "rolled_back", "{done:#}");
}

#[tokio::test]
async fn every_reversible_action_rolls_back_to_the_prior_state_at_the_vendor() {
    let l = start_fresh().await;
    l.connect_okta().await;
    l.connect_ninjaone().await;
    l.connect_halopsa().await;
    l.sync_all().await;
    let state = l.sandbox_state().await;
    // A laptop Defender for Endpoint and NinjaOne both report.
    let laptop = l
        .inventory("devices")
        .await
        .iter()
        .find(|d| {
            d["hostname"].as_str().unwrap().contains("-lt")
                && d["sources"].as_array().unwrap().len() == 2
        })
        .unwrap()
        .clone();
    let device = laptop["id"].as_str().unwrap();
    let machine = laptop["sources"][0]["external_id"].as_str().unwrap();
    // An ordinary account (no admin role) outside the VPN group.
    let vpn = list(&state, "groups")
        .iter()
        .find(|g| g["display_name"] == "VPN Users")
        .unwrap()
        .clone();
    let user = list(&state, "users")
        .iter()
        .find(|u| {
            u["admin_roles"].as_array().unwrap().is_empty()
                && !vpn["members"].as_array().unwrap().contains(&u["id"])
        })
        .unwrap()
        .clone();
    let graph_id = user["id"].as_str().unwrap();
    let (identity, _) = l
        .identity(user["user_principal_name"].as_str().unwrap())
        .await;
    let group = json!({"group_id": vpn["id"]});
    let isolated = async || item(&l.sandbox_state().await, "devices", machine)["isolated"].clone();
    let enabled =
        async || item(&l.sandbox_state().await, "users", graph_id)["account_enabled"].clone();
    let in_vpn = async || {
        item(&l.sandbox_state().await, "users", graph_id)["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("VPN Users"))
    };
    let mut covered = Vec::new();

    // Each pair: the action, then its inverse; rolling back the inverse, then the action,
    // walks the vendor back through both prior states.
    let isolate = run_to_verified(&l, "isolate_device", device, json!({})).await;
    assert_eq!(isolated().await, true);
    let release = run_to_verified(&l, "release_device", device, json!({})).await;
    assert_eq!(isolated().await, false);
    roll_back_to_rolled_back(&l, &release).await;
    assert_eq!(
        isolated().await,
        true,
        "rolling back the release isolates again"
    );
    roll_back_to_rolled_back(&l, &isolate).await;
    assert_eq!(
        isolated().await,
        false,
        "rolling back the isolation releases"
    );
    covered.extend(["isolate_device", "release_device"]);

    let disable = run_to_verified(&l, "disable_user", &identity, json!({})).await;
    assert_eq!(enabled().await, false);
    let enable = run_to_verified(&l, "enable_user", &identity, json!({})).await;
    assert_eq!(enabled().await, true);
    roll_back_to_rolled_back(&l, &enable).await;
    assert_eq!(
        enabled().await,
        false,
        "rolling back the enable disables again"
    );
    roll_back_to_rolled_back(&l, &disable).await;
    assert_eq!(enabled().await, true, "rolling back the disable enables");
    covered.extend(["disable_user", "enable_user"]);

    let add = run_to_verified(&l, "add_to_group", &identity, group.clone()).await;
    assert_eq!(add["decision"]["reasons"], json!(["access-grant"]));
    assert!(in_vpn().await);
    let remove = run_to_verified(&l, "remove_from_group", &identity, group).await;
    assert!(!in_vpn().await);
    roll_back_to_rolled_back(&l, &remove).await;
    assert!(in_vpn().await, "rolling back the removal re-adds");
    roll_back_to_rolled_back(&l, &add).await;
    assert!(!in_vpn().await, "rolling back the addition removes");
    covered.extend(["add_to_group", "remove_from_group"]);

    // Okta reported the same person (merged by login): suspending goes through Okta.
    let okta_status =
        async || item(&l.sandbox_state().await, "users", graph_id)["okta_status"].clone();
    let suspend = run_to_verified(&l, "suspend_user", &identity, json!({})).await;
    assert_eq!(okta_status().await, "SUSPENDED");
    let unsuspend = run_to_verified(&l, "unsuspend_user", &identity, json!({})).await;
    assert_eq!(okta_status().await, "ACTIVE");
    roll_back_to_rolled_back(&l, &unsuspend).await;
    assert_eq!(
        okta_status().await,
        "SUSPENDED",
        "rolling back the unsuspension suspends again"
    );
    roll_back_to_rolled_back(&l, &suspend).await;
    assert_eq!(okta_status().await, "ACTIVE", "rolling back the suspension");
    assert_eq!(
        enabled().await,
        true,
        "Microsoft Entra ID was not touched by Okta actions"
    );
    covered.extend(["suspend_user", "unsuspend_user"]);

    // NinjaOne manages the same laptop (joined by serial number): its library scripts run
    // there, each undone by its pair.
    let smb1 =
        async || item(&l.sandbox_state().await, "devices", machine)["settings"]["smb1"].clone();
    let scripts = json!({"script_id": "101", "undo_script_id": "102"});
    let run = run_to_verified(&l, "run_script", device, scripts.clone()).await;
    assert!(
        reasons(&run["decision"]).contains(&"script-execution"),
        "{run:#}"
    );
    assert_eq!(smb1().await, false, "Disable SMBv1 ran");
    let undo = run_to_verified(&l, "run_undo_script", device, scripts).await;
    assert_eq!(smb1().await, true, "Enable SMBv1 ran");
    roll_back_to_rolled_back(&l, &undo).await;
    assert_eq!(
        smb1().await,
        false,
        "rolling back the undo runs the script again"
    );
    roll_back_to_rolled_back(&l, &run).await;
    assert_eq!(
        smb1().await,
        true,
        "rolling back the script runs its undo script"
    );
    covered.extend(["run_script", "run_undo_script"]);

    // The laptop's ticket in the customer's HaloPSA: opened, closed, each rolled back.
    let reference = format!("[STEWARD-{device}]");
    let ticket = async || {
        list(&l.sandbox_state().await, "tickets")
            .iter()
            .find(|t| t["summary"].as_str().unwrap().starts_with(&reference))
            .cloned()
    };
    let closed = json!(steward_sandbox::halopsa::CLOSED_STATUS);
    assert_eq!(ticket().await, None);
    let open = run_to_verified(&l, "open_ticket", device, json!({})).await;
    assert_eq!(
        open["decision"]["reasons"],
        json!(["reversible-action-within-automation-level"]),
        "{open:#}"
    );
    let opened = ticket().await.expect("the ticket is open in HaloPSA");
    assert!(
        opened["summary"]
            .as_str()
            .unwrap()
            .contains("Exercising the catalog"),
        "{opened}"
    );
    assert_ne!(opened["status_id"], closed);
    let close = run_to_verified(&l, "close_ticket", device, json!({})).await;
    assert_eq!(ticket().await.unwrap()["status_id"], closed);
    roll_back_to_rolled_back(&l, &close).await;
    assert_ne!(
        ticket().await.unwrap()["status_id"],
        closed,
        "rolling back the close reopens"
    );
    roll_back_to_rolled_back(&l, &open).await;
    assert_eq!(
        ticket().await.unwrap()["status_id"],
        closed,
        "rolling back the opening closes the ticket it opened"
    );
    covered.extend(["open_ticket", "close_ticket"]);

    // Every reversible action of the catalog is exercised here.
    let reversible: Vec<&str> = steward_domain::actions::ActionType::ALL
        .into_iter()
        .filter(|a| a.is_reversible())
        .map(|a| a.as_str())
        .collect();
    covered.sort_unstable();
    let mut expected = reversible;
    expected.sort_unstable();
    assert_eq!(covered, expected);
    l.stop().await;
}

#[tokio::test]
async fn a_ticket_about_a_person_opens_in_the_psa_and_without_a_psa_the_action_fails_saying_so() {
    let l = start_synced().await;
    let state = l.sandbox_state().await;
    let upn = state["users"][1]["user_principal_name"].as_str().unwrap();
    let (identity, _) = l.identity(upn).await;

    // No PSA yet: the action is recorded and fails, naming why.
    let body = json!({
        "type": "open_ticket",
        "targets": [identity],
        "reason": "Signs in from a personal computer nothing manages",
    });
    let (status, batch) = l.propose(&body, None).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let failed = l
        .settled_action("open_ticket", &["failed", "verified"])
        .await;
    assert_eq!(failed["status"], "failed", "{failed:#}");
    assert!(
        failed["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("No connected integration")
            || list(&failed, "reasons")
                .iter()
                .any(|r| r.as_str().unwrap().contains("No connected integration")),
        "{failed:#}"
    );

    l.connect_connectwise().await;
    let (status, batch) = l.propose(&body, Some("ticket-again")).await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let action = &batch["actions"][0];
    assert_eq!(action["target"]["kind"], "identity", "{action:#}");
    let done = l
        .settled_action_id(action["id"].as_str().unwrap(), &["verified", "failed"])
        .await;
    assert_eq!(done["status"], "verified", "{done:#}");
    let state = l.sandbox_state().await;
    let tickets = list(&state, "tickets");
    let ticket = tickets
        .iter()
        .find(|t| {
            t["summary"]
                .as_str()
                .unwrap()
                .starts_with(&format!("[STEWARD-{identity}]"))
        })
        .unwrap_or_else(|| panic!("no ticket for {identity}: {tickets:#?}"));
    assert_eq!(ticket["system"], "connect_wise");
    assert!(
        ticket["summary"]
            .as_str()
            .unwrap()
            .contains(upn.split('@').next().unwrap()),
        "the title names the person: {ticket}"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_tenant_on_two_rmms_runs_each_script_through_the_rmm_it_names() {
    let l = start_fresh().await;
    l.connect_ninjaone().await;
    let tactical = l.connect_tactical().await;
    l.sync_all().await;
    // The laptop Defender for Endpoint, NinjaOne and Tactical RMM all report (joined by serial
    // number).
    let laptop = l
        .inventory("devices")
        .await
        .iter()
        .find(|d| {
            d["hostname"].as_str().unwrap().contains("-lt")
                && d["sources"].as_array().unwrap().len() == 3
        })
        .unwrap_or_else(|| panic!("no laptop on all three tools"))
        .clone();
    let device = laptop["id"].as_str().unwrap();
    let machine = laptop["sources"][0]["external_id"].as_str().unwrap();
    let usb = async || {
        item(&l.sandbox_state().await, "devices", machine)["settings"]["usb_storage"].clone()
    };

    // Tactical RMM's library ids (NinjaOne's library has none such), through Tactical RMM.
    let scripts = json!({"script_id": "13", "undo_script_id": "14", "vendor": "tactical_rmm"});
    let run = run_to_verified(&l, "run_script", device, scripts).await;
    assert_eq!(run["integration_id"], tactical["id"], "{run:#}");
    assert_eq!(run["snapshot"]["script"]["name"], "Block USB mass storage");
    assert_eq!(usb().await, false, "Tactical RMM blocked USB storage");
    roll_back_to_rolled_back(&l, &run).await;
    assert_eq!(usb().await, true, "its undo script allowed it again");

    // Naming a tool that does not run scripts is refused, and nothing is recorded.
    let before = l.actions().await.len();
    for vendor in ["veeam_spc", "microsoft_graph"] {
        let body = json!({
            "type": "run_script",
            "targets": [device],
            "reason": "Exercising the catalog",
            "parameters": {"script_id": "13", "undo_script_id": "14", "vendor": vendor},
        });
        let (status, answer) = l.propose(&body, None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(
            error_message(&answer).contains("does not run_script through"),
            "{answer}"
        );
    }
    assert_eq!(l.actions().await.len(), before);
    l.stop().await;
}

#[tokio::test]
async fn a_falcon_customers_infected_laptop_is_contained_by_falcon_and_released() {
    let l = start_fresh().await;
    // This customer runs CrowdStrike Falcon instead of Microsoft Defender for Endpoint.
    let defender = l.integration_id("microsoft_defender").await;
    let integration = format!("integrations/{defender}");
    l.send(
        Method::DELETE,
        &integration,
        &l.admin,
        StatusCode::NO_CONTENT,
    )
    .await;
    let falcon = l.connect_falcon().await;
    l.sync_all().await;
    let devices = l.inventory("devices").await;
    let sensors = list(&l.sandbox_state().await, "devices")
        .iter()
        .filter(|d| d["edr_sensor"] == true)
        .count();
    assert_eq!(devices.len(), sensors);

    let run = l.run_scenario("malware-laptop").await;
    let machine_id = run["target"].as_str().unwrap().to_owned();
    let action = l.settled_action("isolate_device", &["verified"]).await;
    assert_eq!(action["integration_id"], falcon["id"], "{action:#}");
    let device = item(&l.sandbox_state().await, "devices", &machine_id);
    assert_eq!(device["falcon_status"], "contained");
    assert_eq!(
        device["isolated"], false,
        "Defender is not this customer's EDR"
    );

    roll_back_to_rolled_back(&l, &action).await;
    let device = item(&l.sandbox_state().await, "devices", &machine_id);
    assert_eq!(device["falcon_status"], "normal");
    l.stop().await;
}

#[tokio::test]
async fn a_backup_is_triggered_through_veeam_adds_a_restore_point_and_has_nothing_to_roll_back() {
    let l = start_fresh().await;
    let veeam = l.connect_veeam().await;
    l.sync_all().await;
    let state = l.sandbox_state().await;
    let machine = list(&state, "devices")
        .iter()
        .find(|d| {
            d["veeam_agent"].is_string()
                && !d["tags"].as_array().unwrap().contains(&json!("Server"))
        })
        .unwrap()
        .clone();
    let agent = machine["veeam_agent"].as_str().unwrap();
    let before = machine["latest_restore_point"].as_str().unwrap().to_owned();
    let device = l
        .inventory("devices")
        .await
        .into_iter()
        .find(|d| list(d, "sources").iter().any(|s| s["external_id"] == agent))
        .unwrap();
    let done = run_to_verified(
        &l,
        "trigger_backup",
        device["id"].as_str().unwrap(),
        json!({}),
    )
    .await;
    assert_eq!(done["integration_id"], veeam["id"], "{done:#}");
    assert!(
        !reasons(&done["decision"]).contains(&"irreversible-action"),
        "nothing to undo is not an irreversible change: {done:#}"
    );
    let after = item(
        &l.sandbox_state().await,
        "devices",
        machine["id"].as_str().unwrap(),
    )["latest_restore_point"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&after).unwrap()
            > chrono::DateTime::parse_from_rfc3339(&before).unwrap(),
        "a new restore point: {after} after {before}"
    );
    let (status, body) = l.roll_back(&done).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "irreversible");
    l.stop().await;
}
