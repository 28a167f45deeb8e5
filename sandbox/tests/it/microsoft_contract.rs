//! The Microsoft Defender for Endpoint and Microsoft Graph connectors against the sandbox's
//! simulation of those APIs, over real HTTP on loopback: authentication, paging, throttling,
//! token expiry, and every step of each action (snapshot, execute, verify, roll back).

use std::{sync::Arc, time::Duration};

use crate::steps::{request, settle};
use secrecy::SecretString;
use steward_domain::{
    actions::ActionType,
    clock::{Clock, SystemClock},
    observations::{EntityRef, ObservedEvent, OcsfClass},
};
use steward_integrations::{
    Connector, ConnectorError, EventCursors, Verification,
    http::{RetryPolicy, VendorHttp},
    microsoft::{MicrosoftSettings, defender::DefenderConnector, graph::GraphConnector, hunting},
};
use steward_sandbox::{Api, AuthMethodKind, Fault, Sandbox, SandboxCredentials, Scenario};
use url::Url;
use uuid::Uuid;

struct Fixture {
    sandbox: Sandbox,
    tenant: Uuid,
    credentials: SandboxCredentials,
    base: Url,
}

impl Fixture {
    async fn start() -> Self {
        let served =
            crate::support::serve(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)).await;
        Self {
            base: served.url(""),
            sandbox: served.sandbox,
            tenant: served.tenant,
            credentials: served.credentials,
        }
    }

    fn settings(&self, api: &str) -> MicrosoftSettings {
        MicrosoftSettings {
            directory_id: self.credentials.directory_id.clone(),
            client_id: self.credentials.client_id.clone(),
            api_base_url: self.base.join(api).unwrap(),
            login_base_url: self.base.join("login/").unwrap(),
        }
    }

    fn http() -> VendorHttp {
        crate::support::quick_http()
    }

    fn defender(&self) -> DefenderConnector {
        DefenderConnector::new(
            Self::http(),
            &self.settings("defender/"),
            SecretString::from(self.credentials.client_secret.clone()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    fn graph(&self) -> GraphConnector {
        GraphConnector::new(
            Self::http(),
            &self.settings("graph/"),
            SecretString::from(self.credentials.client_secret.clone()),
            Arc::new(SystemClock),
        )
        .unwrap()
    }

    /// A Microsoft Graph access token from the sandbox's token endpoint.
    async fn graph_token(&self) -> String {
        let answer: serde_json::Value = Self::http()
            .client()
            .post(
                self.base
                    .join(&format!(
                        "login/{}/oauth2/v2.0/token",
                        self.credentials.directory_id
                    ))
                    .unwrap(),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.credentials.client_id.as_str()),
                ("client_secret", self.credentials.client_secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    }

    /// The member user ids of a sandbox group now.
    async fn members(&self, group: &str) -> Vec<String> {
        self.state()
            .await
            .groups
            .into_iter()
            .find(|g| g.id == group)
            .unwrap()
            .members
    }

    fn graph_url(&self, path: &str) -> Url {
        self.base.join(&format!("graph/v1.0/{path}")).unwrap()
    }

    async fn state(&self) -> steward_sandbox::SandboxState {
        self.sandbox.state(self.tenant).await.unwrap()
    }
}

#[tokio::test]
async fn inventory_reads_every_page_of_both_apis() {
    let fixture = Fixture::start().await;
    let state = fixture.state().await;

    // Defender documents $top/$skip paging; pages of 2 make the connector walk five pages.
    let devices = fixture
        .defender()
        .with_page_size(2)
        .inventory()
        .await
        .unwrap()
        .devices;
    assert_eq!(
        devices.len(),
        state.devices.iter().filter(|d| d.edr_sensor).count()
    );
    assert_eq!(
        devices.len(),
        9,
        "eight laptops and a server; not the front-desk PC"
    );
    let finance = devices
        .iter()
        .filter(|d| d.tags.iter().any(|t| t == "Finance"))
        .count();
    assert_eq!(finance, 3);
    assert!(devices.iter().all(|d| d.entra_device_id.is_some()));

    // Graph pages users with @odata.nextLink only; accountEnabled arrives because it is selected.
    let identities = fixture
        .graph()
        .with_page_size(3)
        .inventory()
        .await
        .unwrap()
        .identities;
    assert_eq!(identities.len(), 8);
    assert!(identities.iter().all(|i| i.enabled == Some(true)));
    let admins: Vec<_> = identities
        .iter()
        .filter(|i| !i.admin_roles.is_empty())
        .collect();
    assert_eq!(admins.len(), 2, "{admins:?}");
    assert!(
        admins
            .iter()
            .any(|a| a.admin_roles == ["Global Administrator"])
    );
    assert!(
        identities
            .iter()
            .all(|i| i.user_principal_name.ends_with("@acme-dental.example"))
    );
}

#[tokio::test]
async fn wrong_credentials_are_authentication_errors_naming_the_reason() {
    let fixture = Fixture::start().await;
    let connector = DefenderConnector::new(
        Fixture::http(),
        &fixture.settings("defender/"),
        SecretString::from("not-the-secret".to_owned()),
        Arc::new(SystemClock),
    )
    .unwrap();
    match connector.test_connection().await {
        Err(ConnectorError::Authentication(message)) => {
            assert!(message.contains("invalid_client"), "{message}");
            assert!(message.contains("AADSTS7000215"), "{message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }

    let mut settings = fixture.settings("graph/");
    settings.directory_id = "00000000-0000-0000-0000-000000000000".to_owned();
    let connector = GraphConnector::new(
        Fixture::http(),
        &settings,
        SecretString::from(fixture.credentials.client_secret.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    match connector.test_connection().await {
        Err(ConnectorError::Authentication(message)) => {
            assert!(message.contains("AADSTS90002"), "{message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
}

#[tokio::test]
async fn test_connection_reports_what_it_checked() {
    let fixture = Fixture::start().await;
    let report = fixture.defender().test_connection().await.unwrap();
    assert_eq!(report.checks.len(), 2, "{report:?}");
    let report = fixture.graph().test_connection().await.unwrap();
    assert_eq!(report.checks.len(), 5, "{report:?}");
    assert_eq!(report.checks[2], "read directory audit logs");
    assert_eq!(report.checks[4], "ran an advanced hunting query");
}

#[tokio::test]
async fn a_429_storm_is_waited_out_without_losing_or_repeating_items() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender().with_page_size(2);
    let graph = fixture.graph().with_page_size(3);
    // Warm the tokens so the storm hits API calls, not the token endpoint.
    defender.test_connection().await.unwrap();
    graph.test_connection().await.unwrap();

    fixture.sandbox.throttle(fixture.tenant, Api::Defender, 3);
    fixture.sandbox.throttle(fixture.tenant, Api::Graph, 4);
    let devices = defender.inventory().await.unwrap().devices;
    let identities = graph.inventory().await.unwrap().identities;

    let mut ids: Vec<_> = devices.iter().map(|d| d.external_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9);
    let mut ids: Vec<_> = identities.iter().map(|i| i.external_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
}

#[tokio::test]
async fn endless_throttling_ends_as_a_throttled_error() {
    let fixture = Fixture::start().await;
    let http = VendorHttp::new(RetryPolicy {
        max_retries: 2,
        ..RetryPolicy::default()
    })
    .unwrap()
    .with_egress(crate::support::loopback_egress());
    let graph = GraphConnector::new(
        http,
        &fixture.settings("graph/"),
        SecretString::from(fixture.credentials.client_secret.clone()),
        Arc::new(SystemClock),
    )
    .unwrap();
    graph.test_connection().await.unwrap();
    fixture.sandbox.throttle(fixture.tenant, Api::Graph, 100);
    match graph.inventory().await {
        Err(error @ ConnectorError::Throttled { .. }) => assert!(error.is_transient()),
        other => panic!("expected throttling, got {other:?}"),
    }
}

#[tokio::test]
async fn a_revoked_token_is_renewed_transparently() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    graph.inventory().await.unwrap();
    fixture.sandbox.expire_tokens(fixture.tenant);
    assert_eq!(graph.inventory().await.unwrap().identities.len(), 8);
}

#[tokio::test]
async fn isolation_is_snapshotted_executed_once_verified_and_rolled_back() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender();
    let state = fixture.state().await;
    let laptop = state
        .devices
        .iter()
        .find(|d| d.tags.iter().any(|t| t == "Finance"))
        .unwrap()
        .id
        .clone();
    let isolate = request(ActionType::IsolateDevice, &laptop, "action-1");

    let snapshot = defender.snapshot(&isolate).await.unwrap();
    assert_eq!(snapshot.0["isolated"], false);
    let execution = defender.execute(&isolate).await.unwrap();
    let reference = execution.vendor_reference.clone().unwrap();

    // The same request again (a retried job) finds the first machine action instead of acting twice.
    let again = defender.execute(&isolate).await.unwrap();
    assert_eq!(again.vendor_reference.as_deref(), Some(reference.as_str()));
    assert_eq!(fixture.state().await.machine_actions.len(), 1);

    // Machine actions move Pending → InProgress → Succeeded.
    let (verdict, polls) = settle(&defender, &isolate, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(
        polls >= 2,
        "verification went through the in-progress state"
    );
    let device = |state: &steward_sandbox::SandboxState| {
        state
            .devices
            .iter()
            .find(|d| d.id == laptop)
            .unwrap()
            .isolated
    };
    assert!(device(&fixture.state().await));

    let (release, release_execution) = defender
        .rollback(&isolate, &snapshot)
        .await
        .unwrap()
        .expect("the device was not isolated before, so rollback releases it");
    assert_eq!(release.action, ActionType::ReleaseDevice);
    let (verdict, _) = settle(&defender, &release, &release_execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(!device(&fixture.state().await));
}

#[tokio::test]
async fn rollback_leaves_a_device_isolated_before_the_action_alone() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender();
    let server = fixture
        .state()
        .await
        .devices
        .into_iter()
        .find(|d| d.tags.iter().any(|t| t == "Server"))
        .unwrap()
        .id;
    let first = request(ActionType::IsolateDevice, &server, "earlier");
    let execution = defender.execute(&first).await.unwrap();
    settle(&defender, &first, &execution).await;

    let second = request(ActionType::IsolateDevice, &server, "later");
    let snapshot = defender.snapshot(&second).await.unwrap();
    assert_eq!(snapshot.0["isolated"], true);
    assert!(
        defender
            .rollback(&second, &snapshot)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failed_machine_action_fails_verification() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender();
    let laptop = fixture.state().await.devices[0].id.clone();
    fixture
        .sandbox
        .inject(
            fixture.tenant,
            Fault::FailNextMachineAction {
                machine_id: laptop.clone(),
            },
        )
        .await
        .unwrap();
    let isolate = request(ActionType::IsolateDevice, &laptop, "doomed");
    let execution = defender.execute(&isolate).await.unwrap();
    let (verdict, _) = settle(&defender, &isolate, &execution).await;
    match verdict {
        Verification::Failed(detail) => assert!(detail.contains("Failed"), "{detail}"),
        other => panic!("expected failure, got {other:?}"),
    }
    assert!(!fixture.state().await.devices[0].isolated);
}

#[tokio::test]
async fn an_overlapping_isolation_request_is_refused_by_the_vendor() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender();
    let laptop = fixture.state().await.devices[1].id.clone();
    defender
        .execute(&request(ActionType::IsolateDevice, &laptop, "one"))
        .await
        .unwrap();
    match defender
        .execute(&request(ActionType::IsolateDevice, &laptop, "two"))
        .await
    {
        Err(ConnectorError::Rejected { code, .. }) => {
            assert_eq!(code, "ActiveRequestAlreadyExists");
        }
        other => panic!("expected the vendor to refuse, got {other:?}"),
    }
}

#[tokio::test]
async fn concurrent_runs_of_one_request_share_one_machine_action() {
    let fixture = Fixture::start().await;
    let defender = Arc::new(fixture.defender());
    let laptop = fixture.state().await.devices[2].id.clone();
    let isolate = request(ActionType::IsolateDevice, &laptop, "raced");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let defender = Arc::clone(&defender);
            let isolate = isolate.clone();
            tokio::spawn(async move { defender.execute(&isolate).await })
        })
        .collect();
    let mut references = Vec::new();
    for run in runs {
        references.push(run.await.unwrap().unwrap().vendor_reference.unwrap());
    }
    references.dedup();
    assert_eq!(references.len(), 1, "{references:?}");
    assert_eq!(fixture.state().await.machine_actions.len(), 1);
}

#[tokio::test]
async fn disabling_a_user_is_verified_and_rolled_back() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let user = fixture.state().await.users[3].clone();
    let disable = request(ActionType::DisableUser, &user.id, "disable-1");

    let snapshot = graph.snapshot(&disable).await.unwrap();
    assert_eq!(snapshot.0["account_enabled"], true);
    let execution = graph.execute(&disable).await.unwrap();
    let (verdict, _) = settle(&graph, &disable, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    let enabled = |state: &steward_sandbox::SandboxState| {
        state
            .users
            .iter()
            .find(|u| u.id == user.id)
            .unwrap()
            .account_enabled
    };
    assert!(!enabled(&fixture.state().await));

    let (enable, enable_execution) = graph.rollback(&disable, &snapshot).await.unwrap().unwrap();
    assert_eq!(enable.action, ActionType::EnableUser);
    let (verdict, _) = settle(&graph, &enable, &enable_execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(enabled(&fixture.state().await));
}

#[tokio::test]
async fn a_disable_reverted_by_directory_sync_fails_verification() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let user = fixture.state().await.users[4].id.clone();
    fixture
        .sandbox
        .inject(
            fixture.tenant,
            Fault::RevertAccountWrites {
                user_id: user.clone(),
            },
        )
        .await
        .unwrap();
    let disable = request(ActionType::DisableUser, &user, "disable-2");
    let execution = graph.execute(&disable).await.unwrap();
    match graph.verify(&disable, &execution).await.unwrap() {
        Verification::Failed(detail) => assert!(detail.contains("accountEnabled=true"), "{detail}"),
        other => panic!("expected failure, got {other:?}"),
    }
}

#[tokio::test]
async fn revoking_sessions_is_verified_and_cannot_be_rolled_back() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let user = fixture.state().await.users[1].clone();
    let revoke = request(ActionType::RevokeSessions, &user.id, "revoke-1");
    let snapshot = graph.snapshot(&revoke).await.unwrap();
    let execution = graph.execute(&revoke).await.unwrap();
    let (verdict, _) = settle(&graph, &revoke, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    let after = fixture.state().await;
    let valid_from = after
        .users
        .iter()
        .find(|u| u.id == user.id)
        .unwrap()
        .sign_in_sessions_valid_from;
    assert!(valid_from > user.sign_in_sessions_valid_from);
    assert_eq!(
        graph.rollback(&revoke, &snapshot).await,
        Err(ConnectorError::Unsupported(ActionType::RevokeSessions))
    );
}

#[tokio::test]
async fn a_revocation_run_again_within_its_attempt_is_not_sent_twice() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let user = fixture.state().await.users[2].clone();
    let mut revoke = request(ActionType::RevokeSessions, &user.id, "revoke-again-1");
    revoke.attempt_started_at = Some(SystemClock.now());
    let first = graph.execute(&revoke).await.unwrap();
    assert!(first.changed);
    let revoked_at = |state: &steward_sandbox::SandboxState| {
        state
            .users
            .iter()
            .find(|u| u.id == user.id)
            .unwrap()
            .sign_in_sessions_valid_from
    };
    let landed = revoked_at(&fixture.state().await);
    assert!(landed > user.sign_in_sessions_valid_from);

    // The worker died before recording it: the same attempt runs again and sees it landed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = graph.execute(&revoke).await.unwrap();
    assert!(!again.changed, "{again:?}");
    assert_eq!(revoked_at(&fixture.state().await), landed, "revoked twice");
    let (verdict, _) = settle(&graph, &revoke, &again).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");

    // A new attempt (begun after that revocation) revokes again.
    tokio::time::sleep(Duration::from_millis(20)).await;
    revoke.attempt_started_at = Some(SystemClock.now());
    assert!(graph.execute(&revoke).await.unwrap().changed);
    assert!(revoked_at(&fixture.state().await) > landed);
}

#[tokio::test]
async fn resetting_mfa_deletes_every_second_factor_default_last() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let users = fixture.state().await.users;
    // The owner has Microsoft Authenticator (the default) and a phone.
    let user = users[0].clone();
    assert_eq!(
        user.mfa_methods,
        [
            AuthMethodKind::MicrosoftAuthenticator,
            AuthMethodKind::Phone
        ]
    );

    // Graph refuses to delete the default method while another second factor remains.
    let token = fixture.graph_token().await;
    let http = Fixture::http();
    let client = http.client();
    let methods: serde_json::Value = client
        .get(fixture.graph_url(&format!("users/{}/authentication/methods", user.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = methods["value"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{methods:#}");
    assert_eq!(
        listed[0]["@odata.type"],
        "#microsoft.graph.passwordAuthenticationMethod"
    );
    let authenticator = listed[1]["id"].as_str().unwrap();
    let refused = client
        .delete(fixture.graph_url(&format!(
            "users/{}/authentication/microsoftAuthenticatorMethods/{authenticator}",
            user.id
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot delete default method"),
        "{body}"
    );

    let reset = request(ActionType::ResetMfa, &user.id, "reset-1");
    let snapshot = graph.snapshot(&reset).await.unwrap();
    assert_eq!(
        snapshot.0["authentication_methods"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{snapshot:?}"
    );
    let execution = graph.execute(&reset).await.unwrap();
    let (verdict, _) = settle(&graph, &reset, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    let after = fixture.state().await;
    let user_after = after.users.iter().find(|u| u.id == user.id).unwrap();
    assert!(user_after.mfa_methods.is_empty(), "{user_after:?}");
    // Running it again (a retried job) changes nothing and still succeeds.
    graph.execute(&reset).await.unwrap();
    assert_eq!(
        graph.rollback(&reset, &snapshot).await,
        Err(ConnectorError::Unsupported(ActionType::ResetMfa))
    );
    // Nobody else lost a method.
    for (before, after) in users.iter().zip(&after.users).skip(1) {
        assert_eq!(before.mfa_methods, after.mfa_methods, "{}", before.id);
    }
    // The office manager never registered one: resetting is confirmed at once.
    assert!(users[2].mfa_methods.is_empty());
    let none = request(ActionType::ResetMfa, &users[2].id, "reset-2");
    let execution = graph.execute(&none).await.unwrap();
    assert!(matches!(
        graph.verify(&none, &execution).await.unwrap(),
        Verification::Confirmed(_)
    ));
}

#[tokio::test]
async fn group_removal_is_verified_and_rolled_back_only_when_it_changed_something() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let state = fixture.state().await;
    let finance = state
        .groups
        .iter()
        .find(|g| g.display_name == "Finance Team")
        .unwrap()
        .clone();
    let member = finance.members[0].clone();
    let in_group = |key: &str| {
        let mut removal = request(ActionType::RemoveFromGroup, &member, key);
        removal.parameters.group_id = Some(finance.id.clone());
        removal
    };

    let remove = in_group("group-1");
    let snapshot = graph.snapshot(&remove).await.unwrap();
    assert_eq!(snapshot.0["member"], true);
    assert_eq!(snapshot.0["group_name"], "Finance Team");
    let execution = graph.execute(&remove).await.unwrap();
    let (verdict, _) = settle(&graph, &remove, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(!fixture.members(&finance.id).await.contains(&member));
    // A retried removal is the same effect.
    graph.execute(&remove).await.unwrap();

    let (inverse, execution) = graph.rollback(&remove, &snapshot).await.unwrap().unwrap();
    assert_eq!(inverse.action, ActionType::AddToGroup);
    let (verdict, _) = settle(&graph, &inverse, &execution).await;
    assert!(matches!(verdict, Verification::Confirmed(_)), "{verdict:?}");
    assert!(fixture.members(&finance.id).await.contains(&member));
    // Adding again (a retried rollback) is refused by Graph as a duplicate: the same effect.
    graph.execute(&inverse).await.unwrap();
    assert_eq!(
        fixture
            .members(&finance.id)
            .await
            .iter()
            .filter(|m| **m == member)
            .count(),
        1
    );

    // Removing someone who was not a member changes nothing, so nothing is re-added.
    let outsider = state
        .users
        .iter()
        .find(|u| !finance.members.contains(&u.id))
        .unwrap()
        .id
        .clone();
    let mut stray = request(ActionType::RemoveFromGroup, &outsider, "group-2");
    stray.parameters.group_id = Some(finance.id.clone());
    let snapshot = graph.snapshot(&stray).await.unwrap();
    assert_eq!(snapshot.0["member"], false);
    graph.execute(&stray).await.unwrap();
    assert_eq!(graph.rollback(&stray, &snapshot).await.unwrap(), None);
    assert!(!fixture.members(&finance.id).await.contains(&outsider));

    // An unknown group is not found; a group action without a group is refused.
    let mut unknown = request(ActionType::RemoveFromGroup, &member, "group-3");
    unknown.parameters.group_id = Some("00000000-0000-0000-0000-000000000000".into());
    assert!(matches!(
        graph.snapshot(&unknown).await,
        Err(ConnectorError::NotFound(_))
    ));
    let missing = request(ActionType::RemoveFromGroup, &member, "group-4");
    assert!(matches!(
        graph.execute(&missing).await,
        Err(ConnectorError::Configuration(_))
    ));
}

#[tokio::test]
async fn inventory_reports_who_registered_mfa() {
    let fixture = Fixture::start().await;
    let inventory = fixture.graph().inventory().await.unwrap();
    let state = fixture.state().await;
    assert_eq!(inventory.identities.len(), state.users.len());
    for identity in &inventory.identities {
        let user = state
            .users
            .iter()
            .find(|u| u.id == identity.external_id)
            .unwrap();
        assert_eq!(
            identity.mfa_registered,
            Some(!user.mfa_methods.is_empty()),
            "{}",
            identity.user_principal_name
        );
    }
    // The office manager, a user administrator, never registered a second factor.
    let manager = crate::support::identity(&inventory, &state.users[2].id);
    assert_eq!(manager.mfa_registered, Some(false));
    assert_eq!(manager.admin_roles, ["User Administrator"]);
}

#[tokio::test]
async fn connectors_refuse_actions_of_other_vendors() {
    let fixture = Fixture::start().await;
    let disable = request(ActionType::DisableUser, "someone", "x");
    assert_eq!(
        fixture.defender().execute(&disable).await,
        Err(ConnectorError::Unsupported(ActionType::DisableUser))
    );
    let isolate = request(ActionType::IsolateDevice, "something", "y");
    assert_eq!(
        fixture.graph().snapshot(&isolate).await,
        Err(ConnectorError::Unsupported(ActionType::IsolateDevice))
    );
    let missing = request(
        ActionType::IsolateDevice,
        "0000000000000000000000000000000000000000",
        "z",
    );
    assert!(matches!(
        fixture.defender().snapshot(&missing).await,
        Err(ConnectorError::NotFound(_))
    ));
}

#[tokio::test]
async fn scenarios_surface_as_normalized_events() {
    let fixture = Fixture::start().await;
    let defender = fixture.defender();
    let graph = fixture.graph();
    assert!(
        defender
            .events(&EventCursors::default())
            .await
            .unwrap()
            .is_empty()
    );
    let baseline = graph.events(&EventCursors::default()).await.unwrap();
    assert!(
        baseline
            .iter()
            .all(|e| e.class == OcsfClass::Authentication)
    );
    assert_eq!(
        baseline.len(),
        57,
        "a week of sign-ins for eight people, and one from a home computer"
    );
    // Each names the device it was made from: the person's laptop, joined to Microsoft Entra
    // ID and managed, or the registered home computer nothing manages.
    let devices: Vec<(String, Option<String>, bool)> = baseline
        .iter()
        .filter_map(|e| steward_integrations::ocsf::sign_in_device(&e.ocsf))
        .collect();
    assert_eq!(devices.len(), 57);
    assert_eq!(devices.iter().filter(|d| !d.2).count(), 1, "{devices:?}");
    assert!(
        devices
            .iter()
            .any(|d| !d.2 && d.1.as_deref().is_some_and(|n| n.starts_with("DESKTOP-"))),
        "{devices:?}"
    );

    let malware = fixture
        .sandbox
        .run_scenario(fixture.tenant, Scenario::MalwareLaptop)
        .await
        .unwrap();
    let events = defender.events(&EventCursors::default()).await.unwrap();
    assert_eq!(events.len(), 1);
    let alert = &events[0];
    assert_eq!(alert.class, OcsfClass::DetectionFinding);
    assert_eq!(alert.severity_id, 4);
    assert_eq!(
        alert.entities,
        [EntityRef::Device {
            external_id: malware.target.clone()
        }]
    );
    assert_eq!(alert.ocsf["class_uid"], 2004);
    assert_eq!(alert.ocsf["malware"][0]["name"], "Emotet");

    let since = SystemClock.now() - chrono::Duration::hours(2);
    let admin = fixture
        .sandbox
        .run_scenario(fixture.tenant, Scenario::CompromisedAdmin)
        .await
        .unwrap();
    let events = graph
        .events(&EventCursors::all_since(Some(since)))
        .await
        .unwrap();
    let sign_ins: Vec<_> = events
        .iter()
        .filter(|e| e.class == OcsfClass::Authentication)
        .collect();
    assert_eq!(
        sign_ins.len(),
        2,
        "only the scenario's sign-ins are newer than `since`"
    );
    let cities: Vec<_> = sign_ins
        .iter()
        .map(|e| e.ocsf["src_endpoint"]["location"]["city"].as_str().unwrap())
        .collect();
    assert!(cities.contains(&"Lagos"), "{cities:?}");
    // The attacker's device is one Microsoft Entra ID does not know: no device.
    let lagos = sign_ins
        .iter()
        .find(|e| e.ocsf["src_endpoint"]["location"]["city"] == "Lagos")
        .unwrap();
    assert!(lagos.ocsf.get("device").is_none(), "{}", lagos.ocsf);
    let finding = events
        .iter()
        .find(|e| e.class == OcsfClass::DetectionFinding)
        .unwrap();
    assert_eq!(
        finding.entities,
        [EntityRef::Identity {
            external_id: admin.target.clone()
        }]
    );
    assert_eq!(
        finding.ocsf["metadata"]["product"]["name"],
        "Microsoft Defender for Cloud Apps"
    );
}

#[tokio::test]
async fn directory_audits_become_account_changes_about_the_people_involved() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph().with_page_size(3);
    let since = SystemClock.now() - chrono::Duration::hours(1);
    let before = graph
        .events(&EventCursors::all_since(Some(since)))
        .await
        .unwrap();
    assert!(
        before.iter().all(|e| e.class != OcsfClass::AccountChange),
        "{before:#?}"
    );
    let run = fixture
        .sandbox
        .run_scenario(fixture.tenant, Scenario::RogueAuthenticator)
        .await
        .unwrap();
    let events = graph
        .events(&EventCursors::all_since(Some(since)))
        .await
        .unwrap();
    let changes: Vec<_> = events
        .iter()
        .filter(|e| e.class == OcsfClass::AccountChange)
        .collect();
    assert_eq!(changes.len(), 1, "{events:#?}");
    let change = changes[0];
    assert_eq!(change.ocsf["activity_name"], "MFA Factor Enable");
    assert_eq!(
        change.ocsf["metadata"]["product"]["name"],
        "Microsoft Entra ID"
    );
    assert_eq!(
        change.ocsf["unmapped"]["loggedByService"],
        "Authentication Methods"
    );
    assert_eq!(
        change.entities,
        [EntityRef::Identity {
            external_id: run.target.clone()
        }],
        "the person is both target and initiator: one entity"
    );
    // Graph filters the log by time: a later `since` reads nothing older.
    let later = SystemClock.now() + chrono::Duration::minutes(1);
    let none = graph
        .events(&EventCursors::all_since(Some(later)))
        .await
        .unwrap();
    assert!(
        none.iter().all(|e| e.class != OcsfClass::AccountChange),
        "{none:#?}"
    );
}

#[tokio::test]
async fn advanced_hunting_shows_the_process_tree_behind_an_alert() {
    let fixture = Fixture::start().await;
    let graph = fixture.graph();
    let malware = fixture
        .sandbox
        .run_scenario(fixture.tenant, Scenario::MalwareLaptop)
        .await
        .unwrap();
    let events = graph.events(&EventCursors::default()).await.unwrap();
    let of = |class: OcsfClass| events.iter().filter(move |e| e.class == class);
    assert_eq!(of(OcsfClass::ProcessActivity).count(), 2);
    assert_eq!(of(OcsfClass::FileSystemActivity).count(), 1);
    assert_eq!(of(OcsfClass::RegistryValueActivity).count(), 1);
    let powershell = of(OcsfClass::ProcessActivity)
        .find(|e| e.ocsf["process"]["file"]["name"] == "powershell.exe")
        .unwrap();
    assert!(
        powershell.ocsf["actor"]["process"]["file"]["path"]
            .as_str()
            .unwrap()
            .ends_with("EXCEL.EXE")
    );
    assert_eq!(
        powershell.ocsf["metadata"]["product"]["name"],
        "Microsoft Defender for Endpoint"
    );
    let machine = fixture
        .state()
        .await
        .devices
        .into_iter()
        .find(|d| d.id == malware.target)
        .unwrap();
    assert!(matches!(
        &powershell.entities[..],
        [EntityRef::Host { hostname }] if *hostname == machine.computer_dns_name
    ));
    // Read again from the newest event on, only the last hour's device events come again
    // (Defender takes rows in late), each one already read; nothing older.
    let newest = events.iter().map(|e| e.time).max().unwrap();
    let read: Vec<&str> = events.iter().map(|e| e.external_id.as_str()).collect();
    let again = graph
        .events(&EventCursors::all_since(Some(newest)))
        .await
        .unwrap();
    assert!(
        again.iter().any(|e| e.class == OcsfClass::ProcessActivity),
        "{again:#?}"
    );
    assert!(again.iter().all(|e| e.class == OcsfClass::Authentication
        || e.time > newest
        || (e.time > newest - hunting::INGESTION_OVERLAP
            && read.contains(&e.external_id.as_str()))));

    // A customer whose licence lacks advanced hunting: the alerts still come, and the
    // connection test says what is missing.
    fixture
        .sandbox
        .set_advanced_hunting(fixture.tenant, false)
        .await
        .unwrap();
    let events = graph.events(&EventCursors::default()).await.unwrap();
    assert_eq!(of_class(&events, OcsfClass::ProcessActivity), 0);
    assert!(of_class(&events, OcsfClass::Authentication) > 0);
    let report = graph.test_connection().await.unwrap();
    assert!(
        report.checks[4].starts_with("advanced hunting is not available"),
        "{report:?}"
    );
}

fn of_class(events: &[ObservedEvent], class: OcsfClass) -> usize {
    events.iter().filter(|e| e.class == class).count()
}

#[tokio::test]
async fn advanced_hunting_keeps_its_quota_of_45_queries_a_minute() {
    let fixture = Fixture::start().await;
    let token = fixture.graph_token().await;
    let client = Fixture::http().client().clone();
    let hunt = |query: &'static str| {
        client
            .post(fixture.graph_url("security/runHuntingQuery"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"Query": query}))
            .send()
    };
    let refused = hunt("DeviceNetworkEvents | take 1").await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::BAD_REQUEST);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "BadRequest");
    for _ in 1..45 {
        let answer = hunt("DeviceProcessEvents | take 1").await.unwrap();
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
    }
    let throttled = hunt("DeviceProcessEvents | take 1").await.unwrap();
    assert_eq!(throttled.status(), reqwest::StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_noisy_admin_script_runs_on_every_windows_device_with_defender() {
    let fixture = Fixture::start().await;
    let run = fixture
        .sandbox
        .run_scenario(fixture.tenant, Scenario::NoisyAdminScript)
        .await
        .unwrap();
    let events = fixture
        .graph()
        .events(&EventCursors::default())
        .await
        .unwrap();
    let scripts: Vec<_> = events
        .iter()
        .filter(|e| e.class == OcsfClass::ProcessActivity)
        .collect();
    assert_eq!(scripts.len(), run.records.len(), "one launch per device");
    assert!(scripts.len() > 2);
    // Read three rows a page, every launch still comes, each once: a full page is followed by
    // the rows from its newest row on, and that row, read twice, is one event.
    let paged = fixture
        .graph()
        .with_hunting_page_size(3)
        .events(&EventCursors::default())
        .await
        .unwrap();
    let mut launches: Vec<&str> = paged
        .iter()
        .filter(|e| e.class == OcsfClass::ProcessActivity)
        .map(|e| e.external_id.as_str())
        .collect();
    assert!(launches.len() > scripts.len(), "pages overlap by a row");
    launches.sort_unstable();
    launches.dedup();
    let mut expected: Vec<&str> = scripts.iter().map(|e| e.external_id.as_str()).collect();
    expected.sort_unstable();
    assert_eq!(launches, expected);
    assert!(scripts.iter().all(|e| {
        e.ocsf["actor"]["process"]["file"]["name"] == "NinjaRMMAgent.exe"
            && e.ocsf["process"]["cmd_line"]
                .as_str()
                .is_some_and(|c| c.contains("-ExecutionPolicy Bypass"))
    }));
}
