//! The action catalog through the API, against the sandbox's vendors with a real worker: each
//! action is proposed, decided, approved where the policy asks, executed, verified at the
//! vendor, and rolled back where it can be.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use steward_testkit::TestDatabase;
use support::governed::{Loop, item, start};

impl Loop {
    /// The inventory identity with this user principal name prefix, and its Graph id.
    async fn identity(&self, upn_prefix: &str) -> (String, String) {
        let (_, identities) = self
            .call(
                Method::GET,
                &self.path("identities?limit=100"),
                &self.technician,
                None,
            )
            .await;
        let identity = identities["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["user_principal_name"]
                    .as_str()
                    .unwrap()
                    .starts_with(upn_prefix)
            })
            .unwrap_or_else(|| panic!("no identity {upn_prefix}…: {identities:#}"))
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
        let (status, batch) = self
            .call(
                Method::POST,
                &self.path("actions"),
                &self.admin,
                Some(&json!({
                    "type": kind,
                    "targets": [target],
                    "reason": "The account's second factors may be in an attacker's hands",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{batch}");
        batch["actions"][0].clone()
    }
}

#[tokio::test]
async fn resetting_mfa_is_approved_deletes_every_second_factor_and_cannot_be_undone() {
    let db = TestDatabase::migrated().await;
    let l = start(&db, None).await;
    l.sync_all().await;
    let state = l.sandbox_state().await;
    let owner = state["users"][0].clone();
    assert_eq!(
        owner["mfa_methods"],
        json!(["microsoft_authenticator", "phone"])
    );
    let upn = owner["user_principal_name"].as_str().unwrap();
    let (identity, graph_id) = l.identity(upn).await;

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
    let done = l
        .wait_for_action("reset_mfa", &["verified", "failed"])
        .await;
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

    let (status, body) = l
        .call(
            Method::POST,
            &l.path(&format!(
                "actions/{}/rollback",
                done["id"].as_str().unwrap()
            )),
            &l.technician,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "irreversible");
    let audit = l.audit_actions().await;
    assert!(audit.contains(&"action.verified".to_owned()), "{audit:?}");
    l.stop().await;
}
