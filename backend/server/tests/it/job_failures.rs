//! Failed jobs: a failure that may pass is tried again later, and the worker's slot runs other
//! jobs meanwhile; a failure another try would meet again is recorded as failed for good and the
//! job does not run again. `steward jobs failed` shows both, with their reasons.

use std::time::Duration;

use crate::support::{
    governed::{Loop, fast_settings, start_mailing, start_mailing_with},
    run,
    smtp::Smtp,
    steward_on,
};
use steward_testkit::TestDatabase;
use steward_workers::{FailedJob, JobRetry};

/// The failed `name` jobs once the loop has settled; one must be as `wanted` says.
async fn settled_failures(
    l: &Loop,
    name: &str,
    wanted: impl Fn(&FailedJob) -> bool,
) -> Vec<FailedJob> {
    l.settle().await;
    let failed: Vec<FailedJob> = steward_workers::failed_jobs(&l.world.storage.pool(), 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|failed| failed.job.as_ref().is_some_and(|job| job.name() == name))
        .collect();
    assert!(
        failed.iter().any(wanted),
        "no failed {name} job as wanted; failed ones: {failed:#?}"
    );
    failed
}

/// A loopback port nothing listens on.
fn closed_port() -> (tokio::net::TcpSocket, u16) {
    // Bound but never listening: a connection is refused at once, and no other test's server
    // can take the port meanwhile (a listener dropped here would free it for any of them).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

#[tokio::test]
async fn a_message_the_mail_server_refuses_fails_its_job_once_and_for_good() {
    let smtp = Smtp::start_refusing();
    let db = TestDatabase::migrated().await;
    let l = start_mailing(&db, smtp.port).await;
    l.run_scenario("compromised-admin").await;

    let failed = settled_failures(&l, "request_approval", |job| job.next_try.is_none()).await;
    for job in &failed {
        // Failed for good: the queue does not hand such a job out again, so one try is all.
        assert_eq!(job.next_try, None, "{job:#?}");
        assert_eq!(job.attempts, 1, "{job:#?}");
        assert_eq!(job.job.as_ref().unwrap().tenant_id(), l.tenant.id);
        assert!(
            job.reason.contains("an approval email was not sent"),
            "{job:#?}"
        );
        assert!(
            job.reason.contains("(550)") && job.reason.contains("5.1.1 No such mailbox"),
            "the server's own answer is kept: {job:#?}"
        );
    }

    let (code, out, err) = run({
        let mut command = steward_on(&db);
        command.args(["jobs", "failed"]);
        command
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "request_approval in tenant {}: 1 try, failed for good",
            l.tenant.id
        )),
        "{out}"
    );
    assert!(out.contains("the SMTP server refused the message"), "{out}");
    assert!(out.contains("failed job(s):"), "{out}");
    l.stop().await;
}

#[tokio::test]
async fn an_unreachable_mail_server_is_tried_again_later_while_other_jobs_run() {
    let db = TestDatabase::migrated().await;
    let mut settings = fast_settings();
    // One slot: a job that slept in it after failing would stop everything else.
    settings.concurrency = 1;
    settings.job_retry = JobRetry {
        first: Duration::from_secs(3600),
        max: Duration::from_secs(7200),
    };
    let (_closed, port) = closed_port();
    let l = start_mailing_with(&db, port, settings).await;
    l.run_scenario("compromised-admin").await;

    let failed = settled_failures(&l, "request_approval", |job| job.next_try.is_some()).await;
    let job = failed.iter().find(|job| job.next_try.is_some()).unwrap();
    assert_eq!(job.attempts, 1, "{job:#?}");
    assert!(
        job.reason.contains("cannot reach the SMTP server"),
        "{job:#?}"
    );
    // The queue keeps time by the database's clock, not the tests' standing one.
    let wait = job.next_try.unwrap() - steward_core::Clock::now(&steward_core::SystemClock);
    assert!(
        wait > chrono::Duration::minutes(58) && wait <= chrono::Duration::minutes(60),
        "runs again in {wait}, not in an hour"
    );

    // Meanwhile the one slot runs the rest of the loop: an infected laptop is isolated.
    l.run_scenario("malware-laptop").await;
    l.settled_action("isolate_device", &["verified"]).await;
    let still = settled_failures(&l, "request_approval", |again| again.id == job.id).await;
    let again = still.iter().find(|again| again.id == job.id).unwrap();
    assert_eq!(again.attempts, 1, "tried again before its time: {again:#?}");

    let (code, out, err) = run({
        let mut command = steward_on(&db);
        command.args(["jobs", "failed"]);
        command
    });
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&job.id), "{out}");
    assert!(out.contains("1 try, runs again at"), "{out}");
    l.stop().await;
}

#[tokio::test]
async fn a_deployment_without_failed_jobs_says_so() {
    let db = TestDatabase::migrated().await;
    let (code, out, err) = run({
        let mut command = steward_on(&db);
        command.args(["jobs", "failed"]);
        command
    });
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "No failed jobs.");
}
