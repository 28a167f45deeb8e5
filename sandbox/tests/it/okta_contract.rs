//! The Okta connector against the sandbox's Okta org, over real HTTP on loopback: the API token,
//! `Link` paging, Okta's rate limits, admin roles and factors, System Log sign-ins, and every
//! step of suspending, unsuspending and clearing sessions.

use std::{sync::Arc, time::Duration};

use crate::steps::{request, settle};
use secrecy::SecretString;
use steward_domain::{
    actions::ActionType,
    clock::{Clock, SystemClock},
    observations::{EntityRef, OcsfClass},
};
use steward_integrations::{
    Connector, ConnectorError, EventCursors, Execution, Verification,
    http::{RetryPolicy, VendorHttp},
    okta::{OktaConnector, OktaSettings},
};
use steward_sandbox::{Sandbox, SandboxState, Scenario};
use uuid::Uuid;

struct Org {
    sandbox: Sandbox,
    tenant: Uuid,
    settings: OktaSettings,
    token: String,
}

impl Org {
    async fn start() -> Self {
        let served =
            crate::support::serve(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0b7a)).await;
        Self {
            settings: OktaSettings {
                org_url: served.url(&format!("okta/{}", served.credentials.okta_org)),
            },
            token: served.credentials.okta_api_token.clone(),
            sandbox: served.sandbox,
            tenant: served.tenant,
        }
    }

    fn connector_with(&self, token: &str) -> OktaConnector {
        let http = crate::support::quick_http();
        OktaConnector::new(
            http,
            &self.settings,
            SecretString::from(token.to_owned()),
            Arc::new(SystemClock),
        )
    }

    fn connector(&self) -> OktaConnector {
        self.connector_with(&self.token)
    }

    async fn state(&self) -> SandboxState {
        self.sandbox.state(self.tenant).await.unwrap()
    }

    async fn okta_status(&self, okta_id: &str) -> String {
        self.state()
            .await
            .users
            .into_iter()
            .find(|u| u.okta_id == okta_id)
            .unwrap()
            .okta_status
    }
}

#[tokio::test]
async fn inventory_reads_every_page_with_admin_roles_and_factors() {
    let org = Org::start().await;
    let state = org.state().await;
    let inventory = org.connector().with_page_size(3).inventory().await.unwrap();
    assert!(inventory.devices.is_empty());
    assert_eq!(inventory.identities.len(), state.users.len());
    for user in &state.users {
        let identity = crate::support::identity(&inventory, &user.okta_id);
        assert_eq!(identity.user_principal_name, user.user_principal_name);
        assert_eq!(identity.enabled, Some(true));
        assert_eq!(
            identity.mfa_registered,
            Some(!user.mfa_methods.is_empty()),
            "{}",
            user.user_principal_name
        );
        let expected: Vec<&str> = user
            .admin_roles
            .iter()
            .map(|role| match role.as_str() {
                "Global Administrator" => "Super Administrator",
                _ => "Group Administrator",
            })
            .collect();
        assert_eq!(identity.admin_roles, expected);
        // The org mirrors the directory's groups; `Everyone` is left out.
        let mut groups = identity.groups.clone();
        groups.sort();
        let mut expected_groups = user.groups.clone();
        expected_groups.sort();
        assert_eq!(groups, expected_groups, "{}", user.user_principal_name);
    }
    assert!(
        inventory.identities.iter().any(|i| !i.groups.is_empty()),
        "some people are in groups"
    );
    let admins = inventory
        .identities
        .iter()
        .filter(|i| !i.admin_roles.is_empty())
        .count();
    assert_eq!(admins, 2, "the IT administrator and the office manager");
    assert!(
        inventory
            .identities
            .iter()
            .any(|i| i.mfa_registered == Some(false) && !i.admin_roles.is_empty()),
        "the office manager administers users without a second factor"
    );
}

#[tokio::test]
async fn a_wrong_token_is_an_authentication_error_with_oktas_code() {
    let org = Org::start().await;
    let error = org.connector_with("00wrong").inventory().await.unwrap_err();
    match error {
        ConnectorError::Authentication(detail) => assert!(detail.contains("E0000011"), "{detail}"),
        other => panic!("expected an authentication error, got {other:?}"),
    }
    let error = org
        .connector_with("00wrong")
        .test_connection()
        .await
        .unwrap_err();
    assert!(matches!(error, ConnectorError::Authentication(_)));
}

#[tokio::test]
async fn test_connection_reports_what_it_checked() {
    let org = Org::start().await;
    let report = org.connector().test_connection().await.unwrap();
    assert_eq!(report.checks.len(), 3, "{:?}", report.checks);
    assert!(report.checks[2].contains("System Log"));
}

#[tokio::test]
async fn rate_limited_requests_wait_for_the_reset_and_lose_nothing() {
    let org = Org::start().await;
    let expected = org.state().await.users.len();
    org.sandbox.throttle_okta(org.tenant, 3);
    let inventory = org.connector().with_page_size(2).inventory().await.unwrap();
    assert_eq!(inventory.identities.len(), expected);
    let mut ids: Vec<_> = inventory
        .identities
        .iter()
        .map(|i| i.external_id.clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no page read twice");
}

#[tokio::test]
async fn endless_rate_limiting_ends_as_throttled() {
    let org = Org::start().await;
    org.sandbox.throttle_okta(org.tenant, 1_000);
    let http = VendorHttp::new(RetryPolicy {
        max_retries: 2,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ..RetryPolicy::default()
    })
    .unwrap()
    .with_egress(crate::support::loopback_egress());
    let connector = OktaConnector::new(
        http,
        &org.settings,
        SecretString::from(org.token.clone()),
        Arc::new(SystemClock),
    );
    let error = connector.inventory().await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Throttled { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn suspension_is_snapshotted_verified_repeatable_and_rolled_back() {
    let org = Org::start().await;
    let okta = org.connector();
    let user = org.state().await.users[3].clone();
    let suspend = request(ActionType::SuspendUser, &user.okta_id, "suspend-1");

    let snapshot = okta.snapshot(&suspend).await.unwrap();
    assert_eq!(snapshot.0["status"], "ACTIVE");
    let execution = okta.execute(&suspend).await.unwrap();
    assert!(execution.changed);
    let (verdict, _) = settle(&okta, &suspend, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(org.okta_status(&user.okta_id).await, "SUSPENDED");

    // A retried request finds the user suspended and sends nothing.
    let again = okta.execute(&suspend).await.unwrap();
    assert!(!again.changed);

    let inventory = okta.inventory().await.unwrap();
    let identity = crate::support::identity(&inventory, &user.okta_id);
    assert_eq!(
        identity.enabled,
        Some(false),
        "a suspended user cannot sign in"
    );

    let (unsuspend, unsuspend_execution) =
        okta.rollback(&suspend, &snapshot).await.unwrap().unwrap();
    assert_eq!(unsuspend.action, ActionType::UnsuspendUser);
    let (verdict, _) = settle(&okta, &unsuspend, &unsuspend_execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert_eq!(org.okta_status(&user.okta_id).await, "ACTIVE");
}

#[tokio::test]
async fn rollback_leaves_a_user_suspended_before_the_action_alone() {
    let org = Org::start().await;
    let okta = org.connector();
    let user = org.state().await.users[4].clone();
    let first = request(ActionType::SuspendUser, &user.okta_id, "suspend-a");
    okta.execute(&first).await.unwrap();
    let second = request(ActionType::SuspendUser, &user.okta_id, "suspend-b");
    let snapshot = okta.snapshot(&second).await.unwrap();
    assert_eq!(snapshot.0["status"], "SUSPENDED");
    assert!(okta.rollback(&second, &snapshot).await.unwrap().is_none());
    assert_eq!(org.okta_status(&user.okta_id).await, "SUSPENDED");
}

#[tokio::test]
async fn clearing_sessions_is_verified_in_the_system_log_and_cannot_be_rolled_back() {
    let org = Org::start().await;
    let okta = org.connector();
    let user = org.state().await.users[1].clone();
    let revoke = request(ActionType::RevokeSessions, &user.okta_id, "clear-1");
    let before = Execution {
        vendor_reference: None,
        requested_at: SystemClock.now(),
        changed: true,
    };
    assert!(
        matches!(
            okta.verify(&revoke, &before).await.unwrap(),
            Verification::Pending(_)
        ),
        "nothing cleared yet"
    );
    let snapshot = okta.snapshot(&revoke).await.unwrap();
    let execution = okta.execute(&revoke).await.unwrap();
    let (verdict, _) = settle(&okta, &revoke, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    let after = org.state().await;
    let cleared = after.users.iter().find(|u| u.id == user.id).unwrap();
    assert!(cleared.sign_in_sessions_valid_from > user.sign_in_sessions_valid_from);
    // Another user's sessions were not the ones cleared.
    let other = request(
        ActionType::RevokeSessions,
        &after.users[5].okta_id,
        "clear-2",
    );
    assert!(matches!(
        okta.verify(&other, &execution).await.unwrap(),
        Verification::Pending(_)
    ));
    assert_eq!(
        okta.rollback(&revoke, &snapshot).await,
        Err(ConnectorError::Unsupported(ActionType::RevokeSessions))
    );
}

#[tokio::test]
async fn clearing_sessions_run_again_within_its_attempt_is_not_sent_twice() {
    let org = Org::start().await;
    let okta = org.connector();
    let user = org.state().await.users[2].clone();
    let mut revoke = request(ActionType::RevokeSessions, &user.okta_id, "clear-again-1");
    revoke.attempt_started_at = Some(SystemClock.now());
    assert!(okta.execute(&revoke).await.unwrap().changed);
    let cleared_at = |state: &SandboxState| {
        state
            .users
            .iter()
            .find(|u| u.id == user.id)
            .unwrap()
            .sign_in_sessions_valid_from
    };
    let landed = cleared_at(&org.state().await);
    assert!(landed > user.sign_in_sessions_valid_from);

    // Run again within the same attempt: the System Log shows it landed; nothing is sent.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = okta.execute(&revoke).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert_eq!(cleared_at(&org.state().await), landed, "cleared twice");
}

#[tokio::test]
async fn an_unknown_user_is_not_found_and_other_vendors_actions_are_refused() {
    let org = Org::start().await;
    let okta = org.connector();
    let missing = request(ActionType::SuspendUser, "00unobody0000000000", "x");
    assert!(matches!(
        okta.execute(&missing).await,
        Err(ConnectorError::NotFound(_))
    ));
    for action in [ActionType::IsolateDevice, ActionType::DisableUser] {
        let other = request(action, "00u", "y");
        assert_eq!(
            okta.execute(&other).await,
            Err(ConnectorError::Unsupported(action))
        );
    }
}

#[tokio::test]
async fn system_log_sign_ins_become_ocsf_authentication_events() {
    let org = Org::start().await;
    let okta = org.connector();
    let state = org.state().await;
    let baseline = okta.events(&EventCursors::default()).await.unwrap();
    assert_eq!(
        baseline.len(),
        57,
        "a week of sign-ins for eight people, and one from a home computer"
    );
    assert!(baseline.iter().all(|e| e.class == OcsfClass::Authentication
        && e.ocsf["class_uid"] == 3002
        && e.ocsf["metadata"]["product"]["name"] == "Okta"));
    let first = &baseline[0];
    let EntityRef::Identity { external_id } = &first.entities[0] else {
        panic!("a sign-in is about an identity");
    };
    assert!(state.users.iter().any(|u| &u.okta_id == external_id));

    // Suspending leaves a lifecycle event in the log: an account change, not a sign-in.
    let suspend = request(ActionType::SuspendUser, &state.users[6].okta_id, "s");
    okta.execute(&suspend).await.unwrap();

    let since = SystemClock.now() - chrono::Duration::hours(2);
    org.sandbox
        .run_scenario(org.tenant, Scenario::CompromisedAdmin)
        .await
        .unwrap();
    let events = okta
        .events(&EventCursors::all_since(Some(since)))
        .await
        .unwrap();
    let (sign_ins, changes): (Vec<_>, Vec<_>) = events
        .iter()
        .partition(|e| e.class == OcsfClass::Authentication);
    assert_eq!(sign_ins.len(), 2, "only the scenario's sign-ins are newer");
    let cities: Vec<_> = sign_ins
        .iter()
        .map(|e| e.ocsf["src_endpoint"]["location"]["city"].as_str().unwrap())
        .collect();
    assert!(cities.contains(&"Lagos"), "{cities:?}");
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let suspended = changes[0];
    assert_eq!(suspended.class, OcsfClass::AccountChange);
    assert_eq!(suspended.ocsf["activity_name"], "Disable");
    assert_eq!(suspended.ocsf["user"]["uid"], state.users[6].okta_id);
    assert_eq!(
        suspended.ocsf["actor"]["app_name"], "Steward",
        "Okta names who suspended the user: Steward's API client"
    );
}

#[tokio::test]
async fn a_new_authenticator_from_abroad_is_an_account_change_in_the_system_log() {
    let org = Org::start().await;
    let okta = org.connector();
    let since = SystemClock.now() - chrono::Duration::hours(1);
    org.sandbox
        .run_scenario(org.tenant, Scenario::RogueAuthenticator)
        .await
        .unwrap();
    let events = okta
        .events(&EventCursors::all_since(Some(since)))
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:#?}");
    let factor = &events[0];
    assert_eq!(factor.class, OcsfClass::AccountChange);
    assert_eq!(factor.ocsf["activity_id"], 10, "MFA Factor Enable");
    assert_eq!(
        factor.ocsf["unmapped"]["eventType"],
        "user.mfa.factor.activate"
    );
    assert!(
        factor.ocsf["src_endpoint"]["ip"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("105.112.33.")),
        "{}",
        factor.ocsf
    );
    assert!(matches!(&factor.entities[0], EntityRef::Identity { .. }));
}
