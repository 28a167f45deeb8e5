//! Approvals by email against a real SMTP server (aiosmtpd): the approver reads the message,
//! follows the link (which decides nothing), and approves with the page's button; a second use,
//! an expired link, a forged one and one for a since-changed action are refused and change
//! nothing.

use crate::support::{
    assert_contains_all,
    governed::{Loop, item, start_mailing},
    smtp::{Smtp, link_in},
};
use reqwest::StatusCode;
use serde_json::Value;
use steward_testkit::TestDatabase;

/// A browser without a session: an approver coming from their mail.
fn mail_reader() -> reqwest::Client {
    crate::support::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn open(link: &str) -> (StatusCode, String) {
    let response = mail_reader().get(link).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn decide(link: &str, decision: &str) -> (StatusCode, String) {
    let response = mail_reader()
        .post(link)
        .form(&[("decision", decision), ("comment", "from my phone")])
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

impl Loop {
    async fn action_of(&self, kind: &str) -> Value {
        self.actions()
            .await
            .into_iter()
            .find(|a| a["type"] == kind)
            .unwrap()
    }
}

#[tokio::test]
async fn an_approver_approves_from_the_email_and_the_link_works_once() {
    let smtp = Smtp::start();
    let db = TestDatabase::migrated().await;
    let l = start_mailing(&db, smtp.port).await;
    let run = l.run_scenario("compromised-admin").await;
    let admin_user = run["target"].as_str().unwrap().to_owned();
    let disable = l
        .settled_action("disable_user", &["awaiting_approval"])
        .await;

    // The customer's approver is asked (the first tier of the customer's side).
    let mail = settled_mail(&l, &smtp, "approver@acme.example", 1).await;
    assert!(
        mail.contains("Subject: Approval needed: disable user"),
        "{mail}"
    );
    assert_contains_all(
        &mail,
        &[
            "privileged-identity",
            "Risk of the target",
            "Enable the account again",
            "1 entity affected",
            "works once",
        ],
    );
    let link = link_in(&mail);
    assert!(link.starts_with(&l.app.base), "{link}");
    // The technician is asked about revoking the sessions, in a message of their own.
    let revoke_mail = settled_mail(&l, &smtp, "tech@harbor.example", 1).await;
    assert!(revoke_mail.contains("revoke sessions"), "{revoke_mail}");

    // Following the link (as a mail scanner would) shows the action and decides nothing.
    for _ in 0..2 {
        let (status, page) = open(&link).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Approve") && page.contains("Reject"));
        assert!(page.contains(disable["target"]["name"].as_str().unwrap()));
    }
    assert_eq!(
        l.action_of("disable_user").await["status"],
        "awaiting_approval"
    );

    let (status, page) = decide(&link, "approve").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You approved the action"), "{page}");
    let approved = l.settled_action("disable_user", &["verified"]).await;
    assert_eq!(approved["approvals"][0]["side"], "customer");
    let state = l.sandbox_state().await;
    assert_eq!(item(&state, "users", &admin_user)["account_enabled"], false);

    // A second use is refused and changes nothing.
    for (status, page) in [open(&link).await, decide(&link, "reject").await] {
        assert_eq!(status, StatusCode::GONE, "{page}");
        assert!(page.contains("already used"), "{page}");
    }
    assert_eq!(l.action_of("disable_user").await["status"], "verified");

    // A forged link is not one.
    let forged = format!("{}/approvals/stwa_{}", l.app.base, "A".repeat(43));
    let (status, page) = decide(&forged, "approve").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");

    let audit = l.audit_actions().await;
    for event in [
        "action.approval_requested",
        "action.approval_viewed",
        "action.approved",
    ] {
        assert!(audit.iter().any(|a| a == event), "{event}: {audit:?}");
    }
    assert_eq!(
        audit
            .iter()
            .filter(|a| *a == "action.approval_viewed")
            .count(),
        1,
        "a view is recorded once per link"
    );
    l.stop().await;
}

#[tokio::test]
async fn a_request_sent_again_after_a_lost_delivery_record_leaves_both_links_working_once() {
    let smtp = Smtp::start();
    let db = TestDatabase::migrated().await;
    let mut l = start_mailing(&db, smtp.port).await;
    l.run_scenario("compromised-admin").await;
    let revoke = l
        .settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let first = link_in(&settled_mail(&l, &smtp, "tech@harbor.example", 1).await);
    l.stop_worker().await;

    // The job died after the mail went out and before its delivery was recorded: it runs again.
    use sea_orm::ConnectionTrait;
    l.world
        .storage
        .conn()
        .execute_unprepared("UPDATE notifications SET sent_at = NULL")
        .await
        .unwrap();
    let action_id = revoke["id"].as_str().unwrap().parse().unwrap();
    steward_workers::request_approval(&l.shared, l.tenant.id, action_id)
        .await
        .unwrap();
    smtp.message("tech@harbor.example", 2);
    let links: Vec<String> = smtp
        .messages()
        .iter()
        .filter(|m| m.contains("To: tech@harbor.example"))
        .map(|m| link_in(m))
        .collect();
    assert_eq!(links.len(), 2, "{links:?}");
    let second = links.into_iter().find(|l| *l != first).expect("a new link");

    // Both mails' links work; once the request is answered with one, neither does.
    for link in [&first, &second] {
        let (status, page) = open(link).await;
        assert_eq!(status, StatusCode::OK, "{page}");
    }
    let (status, page) = decide(&first, "approve").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(l.action_of("revoke_sessions").await["status"], "queued");
    let (status, page) = decide(&second, "reject").await;
    assert!(status.is_client_error(), "{status}: {page}");
    assert_eq!(l.action_of("revoke_sessions").await["status"], "queued");
    l.stop().await;
}

#[tokio::test]
async fn expired_and_outdated_links_are_refused_and_change_nothing() {
    let smtp = Smtp::start();
    let db = TestDatabase::migrated().await;
    let l = start_mailing(&db, smtp.port).await;
    l.run_scenario("compromised-admin").await;
    l.settled_action("revoke_sessions", &["awaiting_approval"])
        .await;
    let revoke_link = link_in(&settled_mail(&l, &smtp, "tech@harbor.example", 1).await);
    let disable_link = link_in(&settled_mail(&l, &smtp, "approver@acme.example", 1).await);

    // A technician answers in the web UI first: the emailed link is now outdated.
    let revoke = l.action_of("revoke_sessions").await;
    let (status, body) = l.answer_as(&revoke, &l.admin, "reject").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, page) = decide(&revoke_link, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("is rejected now"), "{page}");
    assert_eq!(l.action_of("revoke_sessions").await["status"], "rejected");

    // The action to disable the account is decided again on new input (as triage does when an
    // incident grows): its version changes, and the emailed link no longer answers it.
    let disable = l.action_of("disable_user").await;
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use steward_core::storage::entities::action;
        let id: uuid::Uuid = disable["id"].as_str().unwrap().parse().unwrap();
        let changed = action::Entity::update_many()
            .col_expr(action::Column::Version, Expr::value("redecided"))
            .filter(action::Column::Id.eq(id))
            .exec(l.world.storage.conn())
            .await
            .unwrap();
        assert_eq!(changed.rows_affected, 1);
    }
    let (status, page) = decide(&disable_link, "approve").await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(
        page.contains("changed since this message was sent"),
        "{page}"
    );
    assert_eq!(
        l.action_of("disable_user").await["status"],
        "awaiting_approval"
    );

    // A day later the link has expired.
    l.world.clock.advance(chrono::Duration::hours(25));
    let (status, page) = open(&disable_link).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, _) = decide(&disable_link, "approve").await;
    assert_eq!(status, StatusCode::GONE);
    let disable = l.action_of("disable_user").await;
    assert_ne!(disable["status"], "queued");
    assert_ne!(disable["status"], "verified");
    l.stop().await;
}

#[tokio::test]
async fn an_unanswered_request_escalates_to_the_next_approvers_by_email() {
    let smtp = Smtp::start();
    let db = TestDatabase::migrated().await;
    let l = start_mailing(&db, smtp.port).await;
    l.run_scenario("compromised-admin").await;
    settled_mail(&l, &smtp, "approver@acme.example", 1).await;
    settled_mail(&l, &smtp, "tech@harbor.example", 1).await;
    assert!(
        smtp.messages()
            .iter()
            .all(|m| !m.contains("To: owner@acme.example") && !m.contains("To: admin@harbor")),
        "the next tier waits for the escalation"
    );

    // An hour on, nobody answered: the customer's owner and the MSP's admin are asked too.
    l.world.clock.advance(chrono::Duration::minutes(61));
    let owner_mail = settled_mail(&l, &smtp, "owner@acme.example", 1).await;
    assert!(owner_mail.contains("disable user"), "{owner_mail}");
    let admin_mail = settled_mail(&l, &smtp, "admin@harbor.example", 1).await;
    assert!(admin_mail.contains("revoke sessions"), "{admin_mail}");

    // The owner's link works like any other.
    let (status, page) = decide(&link_in(&owner_mail), "approve").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    l.settled_action("disable_user", &["verified"]).await;
    // Nobody was asked twice.
    assert_eq!(smtp.messages().len(), 4, "{:#?}", smtp.messages());
    l.stop().await;
}

/// A mail server that refuses the message for good is said to have refused it (not to be
/// unreachable), in what Steward records of the delivery.
#[tokio::test]
async fn a_refusing_mail_server_is_recorded_as_refusing() {
    use sea_orm::EntityTrait;

    let smtp = Smtp::start_refusing();
    let db = TestDatabase::migrated().await;
    let l = start_mailing(&db, smtp.port).await;
    l.run_scenario("compromised-admin").await;
    l.settled_action("disable_user", &["awaiting_approval"])
        .await;
    l.settle().await;
    let recorded = steward_core::storage::entities::notification::Entity::find()
        .all(l.world.storage.conn())
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.channel == "email" && n.last_error.is_some());
    let error = recorded
        .expect("a delivery was recorded")
        .last_error
        .unwrap();
    assert!(
        error.contains("the SMTP server refused the message"),
        "{error}"
    );
    assert!(error.contains("550"), "{error}");
    assert!(!error.contains("cannot reach"), "{error}");
    l.stop().await;
}

/// The `n`th message to `to` once the loop has settled.
async fn settled_mail(l: &Loop, smtp: &Smtp, to: &str, n: usize) -> String {
    l.settle().await;
    smtp.message(to, n)
}
