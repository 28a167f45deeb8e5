//! The `steward` binary, run as a user would run it.

use crate::support::{StewardProcess, client, governed::policy_dir, run, steward, steward_on};
use reqwest::StatusCode;
use steward_core::Clock;
use steward_testkit::TestDatabase;

#[tokio::test]
async fn migrate_applies_every_migration_once() {
    let db = TestDatabase::empty().await;
    let pending = db.connect().await.pending_migrations().await.unwrap();

    let mut first = steward_on(&db);
    first.arg("migrate");
    let (code, stdout, stderr) = run(first);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("Applied {} migration(s)", pending.len())),
        "{stdout}"
    );
    for name in &pending {
        assert!(stdout.contains(name.as_str()), "{name} in {stdout}");
    }

    let mut second = steward_on(&db);
    second.arg("migrate").env("RUST_LOG", "debug");
    let (code, stdout, stderr) = run(second);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("is up to date"), "{stdout}");
    // Logs written to a pipe or file carry no terminal colour codes.
    assert!(stderr.contains("DEBUG"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[tokio::test]
async fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let db = TestDatabase::empty().await;
    let mut command = steward_on(&db);
    command.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = StewardProcess::start(command);
    assert!(
        server
            .banner
            .iter()
            .any(|line| line.starts_with("Applied ")),
        "serve migrates on start: {:?}",
        server.banner
    );

    let client = client();
    let health = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let status = server.stop();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test]
async fn demo_seeds_once_and_keeps_its_data_across_runs() {
    let db = TestDatabase::empty().await;
    let start_demo = || {
        let mut command = steward_on(&db);
        command.args(["demo", "--listen", "127.0.0.1:0"]);
        StewardProcess::start(command)
    };
    let tenant_lines = |banner: &[String]| -> Vec<String> {
        banner
            .iter()
            .filter(|line| line.trim_start().starts_with("tenant "))
            .cloned()
            .collect()
    };

    let first = start_demo();
    assert!(
        first
            .banner
            .iter()
            .any(|line| line.starts_with("Created the demo MSP")),
        "{:?}",
        first.banner
    );
    // The simulated Slack workspace's credentials are this data directory's own, and private.
    let slack_key = db.data_dir().join("sandbox-slack.key");
    let key = std::fs::read_to_string(&slack_key).expect("the demo keeps a Slack key");
    assert!(!key.contains("sandbox-slack-signing-secret"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&slack_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }
    assert!(
        first
            .banner
            .iter()
            .any(|line| line.starts_with("Approval emails and Slack messages go to the sandbox")),
        "{:?}",
        first.banner
    );
    let tenants = tenant_lines(&first.banner);
    assert_eq!(tenants.len(), 3, "{:?}", first.banner);
    let ready = client().get(first.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(first.stop().success());

    // Started again with SMTP configured, it says the mail goes there; the Slack key stays.
    let mut command = steward_on(&db);
    command
        .args(["demo", "--listen", "127.0.0.1:0"])
        .env("STEWARD_EMAIL__SMTP_HOST", "mail.harbor.example");
    let second = StewardProcess::start(command);
    assert!(
        second
            .banner
            .iter()
            .any(|line| line.starts_with("Using the demo MSP")),
        "{:?}",
        second.banner
    );
    assert!(
        second.banner.iter().any(|line| line
            .starts_with("Approval emails go out through the SMTP server mail.harbor.example:587")),
        "{:?}",
        second.banner
    );
    assert_eq!(std::fs::read_to_string(&slack_key).unwrap(), key);
    assert_eq!(tenant_lines(&second.banner), tenants);
    assert!(second.stop().success());
}

/// The port a started Steward serves on (it was given port 0: any free one, so no other test
/// can take it between choosing and binding).
fn port_of(process: &StewardProcess) -> u16 {
    process
        .base
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {}", process.base))
}

/// Restarted on another port, the demo points its integrations at its sandbox there: they
/// synchronize, and say they are healthy because they are.
#[tokio::test]
async fn the_demo_on_another_port_keeps_its_integrations_working() {
    let db = TestDatabase::empty().await;
    let start_demo = || {
        let mut command = steward_on(&db);
        command.args(["demo", "--listen", "127.0.0.1:0"]);
        StewardProcess::start(command)
    };
    let first = start_demo();
    let first_port = port_of(&first);
    assert!(first.stop().success());
    // Any free port but the first one (the system may, rarely, hand the same one out again).
    let mut second = start_demo();
    while port_of(&second) == first_port {
        assert!(second.stop().success());
        second = start_demo();
    }
    let port = port_of(&second);
    let sandbox = format!("http://127.0.0.1:{port}");
    assert!(
        second
            .banner
            .iter()
            .any(|line| line.contains("integration at the sandbox on") && line.ends_with(&sandbox)),
        "{:#?}",
        second.banner
    );
    let mut issue = steward_on(&db);
    issue.args(["token", "create", "--email", "admin@harbor-it.example"]);
    let (code, token, stderr) = run(issue);
    assert_eq!(code, 0, "{stderr}");
    let token = token.trim();
    let api = |path: String| {
        let url = second.url(&path);
        async move {
            let answer = client().get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
            answer.json::<serde_json::Value>().await.unwrap()
        }
    };
    let tenant = api("/api/v1/tenants".to_owned()).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let integrations = api(format!("/api/v1/tenants/{tenant}/integrations")).await;
    for integration in integrations["items"].as_array().unwrap() {
        for (name, url) in integration["settings"].as_object().unwrap() {
            if name.ends_with("_url") {
                assert!(
                    url.as_str().unwrap().starts_with(&sandbox),
                    "{integration:#}"
                );
            }
        }
        let id = integration["id"].as_str().unwrap();
        let synced = client()
            .post(second.url(&format!("/api/v1/tenants/{tenant}/integrations/{id}/sync")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let report: serde_json::Value = synced.json().await.unwrap();
        assert_eq!(report["ok"], true, "{report:#}");
        assert_eq!(report["integration"]["health"], "healthy");
    }
    assert!(second.stop().success());
}

/// One `serve` or `demo` per SQLite database (it hosts the sandbox's state); a second is
/// refused before it does anything, while the CLI and workers run beside the first. A taken
/// port is reported before the demo prints anything, with what to do.
#[tokio::test]
async fn a_second_server_on_one_database_and_a_taken_port_are_refused_clearly() {
    let db = TestDatabase::empty().await;
    let mut command = steward_on(&db);
    command.args(["demo", "--listen", "127.0.0.1:0"]);
    let running = StewardProcess::start(command);
    let port = port_of(&running);

    if db.url().is_none() {
        let mut second = steward_on(&db);
        second.args(["demo", "--listen", "127.0.0.1:0"]);
        let (code, stdout, stderr) = run(second);
        assert_ne!(code, 0);
        assert!(
            stderr.contains("already running on the database"),
            "{stderr}"
        );
        assert!(stderr.contains("--data-dir"), "{stderr}");
        assert!(!stdout.contains("demo MSP"), "nothing was done: {stdout}");
        let mut serve = steward_on(&db);
        serve.args(["serve", "--listen", "127.0.0.1:0"]);
        let (code, _, stderr) = run(serve);
        assert_ne!(code, 0);
        assert!(
            stderr.contains("already running on the database"),
            "{stderr}"
        );
    }
    let mut issue = steward_on(&db);
    issue.args(["token", "create", "--email", "admin@harbor-it.example"]);
    let (code, _, stderr) = run(issue);
    assert_eq!(code, 0, "the CLI runs beside the server: {stderr}");

    // Listening beyond loopback, the demo warns first (and here stops at the taken port).
    let mut exposed = steward_on(&TestDatabase::empty().await);
    exposed.args(["demo", "--listen", &format!("0.0.0.0:{port}")]);
    let (code, _, stderr) = run(exposed);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("warning: the demo listens on 0.0.0.0"),
        "{stderr}"
    );

    let elsewhere = TestDatabase::empty().await;
    let mut taken = steward_on(&elsewhere);
    taken.args(["demo", "--listen", &format!("127.0.0.1:{port}")]);
    let (code, stdout, stderr) = run(taken);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("--listen"), "{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing before the port was bound: {stdout}"
    );
    assert!(running.stop().success());
}

#[test]
fn config_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = steward();
    command
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("config")
        .env(
            "STEWARD_DATABASE_URL",
            "postgres://steward:hunter2@db.internal/steward",
        )
        .env("STEWARD_HTTP__REQUEST_TIMEOUT_SECONDS", "12");
    let (code, stdout, stderr) = run(command);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(
        stdout.contains("url = \"postgres://steward:***@db.internal/steward\""),
        "{stdout}"
    );
    assert!(stdout.contains("request_timeout_seconds = 12"), "{stdout}");
    assert!(stdout.contains(&format!(
        "data_dir = \"{}\"",
        dir.path().join("data").display()
    )));
    assert!(
        !dir.path().join("data").exists(),
        "printing the configuration creates nothing"
    );
}

#[test]
fn a_malformed_configuration_file_is_refused_naming_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("steward.toml");
    std::fs::write(&file, "[http]\nlisten = 8080\n").unwrap();
    let data_dir = dir.path().join("data");
    let mut command = steward();
    command
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--config")
        .arg(&file)
        .arg("serve");
    let (code, stdout, stderr) = run(command);
    assert_eq!(
        code, 78,
        "configuration errors exit with EX_CONFIG; stderr: {stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("http.listen: found signed int `8080`, expected socket address"),
        "{stderr}"
    );
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(
        !data_dir.exists(),
        "a refused configuration touches nothing"
    );
}

#[test]
fn a_malformed_environment_variable_is_refused_naming_it() {
    let mut command = steward();
    command
        .arg("config")
        .env("STEWARD_DATABASE__MAX_CONNECTIONS", "ten");
    let (code, _, stderr) = run(command);
    assert_eq!(code, 78, "{stderr}");
    assert!(stderr.contains("database.max_connections"), "{stderr}");
    assert!(
        stderr.contains("STEWARD_DATABASE__MAX_CONNECTIONS"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = steward();
    command
        .arg("--data-dir")
        .arg(dir.path())
        .arg("migrate")
        .env(
            "STEWARD_DATABASE_URL",
            "postgres://steward:secret@127.0.0.1:1/steward",
        );
    let (code, _, stderr) = run(command);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "cannot open the PostgreSQL database postgres://steward:***@127.0.0.1:1/steward"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");
}

/// A PostgreSQL server that answers but has no such database: the error says how to create it.
/// (On the PostgreSQL pass, against its server.)
#[tokio::test]
async fn a_missing_postgresql_database_is_explained() {
    let db = TestDatabase::empty().await;
    let Some(server) = db.url() else {
        assert_eq!(
            steward_testkit::selected_backend(),
            steward_core::storage::Backend::Sqlite
        );
        return;
    };
    let mut url = url::Url::parse(server.expose()).unwrap();
    url.set_path("/steward_no_such_database");
    let mut missing = steward();
    missing
        .arg("--data-dir")
        .arg(db.data_dir())
        .arg("migrate")
        .env("STEWARD_DATABASE_URL", url.as_str());
    let (code, _, stderr) = run(missing);
    assert_eq!(code, 1, "{stderr}");
    let user = if url.username().is_empty() {
        "postgres"
    } else {
        url.username()
    };
    assert!(
        stderr.contains(&format!(
            "createdb -h {} -p {} -U {user} steward_no_such_database",
            url.host_str().unwrap(),
            url.port().unwrap_or(5432)
        )),
        "{stderr}"
    );
}

#[tokio::test]
async fn msp_create_bootstraps_an_msp_whose_admin_can_sign_in() {
    let db = TestDatabase::empty().await;
    let mut create = steward_on(&db);
    create.args([
        "msp",
        "create",
        "--name",
        "Lighthouse Managed IT",
        "--admin-email",
        "root@lighthouse.example",
    ]);
    let (code, stdout, stderr) = run(create);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Created the MSP \"Lighthouse Managed IT\" (lighthouse-managed-it)"),
        "{stdout}"
    );
    let password = stdout.lines().last().unwrap().trim().to_owned();
    assert!(password.len() >= 40, "{stdout}");

    let mut again = steward_on(&db);
    again.args([
        "msp",
        "create",
        "--name",
        "Lighthouse Managed IT",
        "--admin-email",
        "x@lighthouse.example",
    ]);
    let (code, _, stderr) = run(again);
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");

    // The admin signs in with the printed password, which only lets them choose their own.
    let mut serve = steward_on(&db);
    serve.args(["serve", "--listen", "127.0.0.1:0"]);
    let server = StewardProcess::start(serve);
    let browser = crate::support::Browser {
        client: crate::support::client_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: server.base.clone(),
    };
    let admin = "root@lighthouse.example";
    let signed_in = browser.sign_in(admin, &password).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    for path in ["/", "/users", "/audit"] {
        let held = browser.get(path).await;
        assert_eq!(
            held.location.as_deref(),
            Some("/account?gate=password-change-required"),
            "{path}"
        );
    }
    let account = browser.get("/account?gate=password-change-required").await;
    assert!(
        account.body.contains("Choose your own to continue"),
        "{}",
        account.body
    );
    let own = "a password of my own choosing";
    let same = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", &password),
                ("new_password", &password),
                ("confirm_password", &password),
            ],
        )
        .await;
    assert_eq!(
        same.location.as_deref(),
        Some("/account?error=password-unchanged")
    );
    let changed = browser
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", &password),
                ("new_password", own),
                ("confirm_password", own),
            ],
        )
        .await;
    assert_eq!(
        changed.location.as_deref(),
        Some("/account?done=password-changed")
    );

    // A new MSP requires a second factor of its admins: set one up before anything else.
    let held = browser.get("/").await;
    assert_eq!(
        held.location.as_deref(),
        Some("/account?gate=second-factor-required")
    );
    let setup = browser
        .submit("/account", "/account/second-factor/start", &[])
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    assert!(
        setup.body.contains("data:image/svg+xml;base64,"),
        "a QR code"
    );
    let key = setup
        .body
        .split("<code class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the key is shown")
        .to_owned();
    let now = || steward_core::SystemClock.now();
    let code_at = |at| steward_core::second_factor::code_at(&key, at).unwrap();
    let wrong = browser
        .submit(
            "/account",
            "/account/second-factor/confirm",
            &[("code", "000000")],
        )
        .await;
    assert!(wrong.location.unwrap().contains("second-factor-wrong-code"));
    let on = browser
        .submit(
            "/account",
            "/account/second-factor/confirm",
            &[("code", &code_at(now()))],
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    let recovery: Vec<String> = on
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|rest| rest.split('<').next().map(str::to_owned))
        .collect();
    assert_eq!(recovery.len(), 10, "{}", on.body);
    let dashboard = browser.get("/").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(dashboard.body.contains("Lighthouse Managed IT"));

    // Signing in now takes the password and a code; neither alone reaches anything.
    let sign_out = |browser: &crate::support::Browser| {
        let browser = browser.client.clone();
        let base = server.base.clone();
        async move {
            let page = crate::support::Browser::read(
                browser.get(format!("{base}/account")).send().await.unwrap(),
            )
            .await;
            let token = crate::support::csrf(&page.body);
            browser
                .post(format!("{base}/logout"))
                .form(&[("csrf_token", token.as_str())])
                .send()
                .await
                .unwrap();
        }
    };
    sign_out(&browser).await;
    assert!(
        browser
            .sign_in(admin, &password)
            .await
            .status
            .is_client_error(),
        "the old password"
    );
    let waiting = browser.sign_in(admin, own).await;
    assert_eq!(
        waiting.location.as_deref(),
        Some("/login/second-factor?next=%2F")
    );
    assert!(
        browser
            .get("/")
            .await
            .location
            .unwrap()
            .starts_with("/login"),
        "not signed in yet"
    );
    let ask = browser.get("/login/second-factor?next=%2F").await;
    let refused = browser
        .post(
            "/login/second-factor",
            &[
                ("csrf_token", &crate::support::csrf(&ask.body)),
                ("code", "123456"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // The code used to turn it on was spent; the next step's code signs in.
    let replayed = browser
        .post(
            "/login/second-factor",
            &[
                ("csrf_token", &crate::support::csrf(&ask.body)),
                ("code", &code_at(now() - chrono::Duration::seconds(30))),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "an earlier or spent code"
    );
    let next_code = code_at(now() + chrono::Duration::seconds(30));
    let done = browser
        .post(
            "/login/second-factor",
            &[
                ("csrf_token", &crate::support::csrf(&ask.body)),
                ("code", &next_code),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("/"), "{}", done.body);
    assert_eq!(browser.get("/").await.status, StatusCode::OK);

    // A recovery code signs in once.
    for (attempt, expected) in [(1, StatusCode::SEE_OTHER), (2, StatusCode::UNAUTHORIZED)] {
        sign_out(&browser).await;
        browser.sign_in(admin, own).await;
        let ask = browser.get("/login/second-factor").await;
        let answer = browser
            .post(
                "/login/second-factor",
                &[
                    ("csrf_token", &crate::support::csrf(&ask.body)),
                    ("code", &recovery[0].to_uppercase()),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(answer.status, expected, "recovery attempt {attempt}");
    }
    assert!(server.stop().success());
}

#[test]
fn policy_test_runs_the_rego_tests_and_fails_on_a_failure() {
    let (code, stdout, stderr) = run({
        let mut command = steward();
        command.args(["policy", "test"]);
        command
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("PASS data.steward.authority_test."),
        "{stdout}"
    );
    assert!(
        stdout.contains("policy test(s) passed (built-in policies)"),
        "{stdout}"
    );

    let dir = policy_dir(
        "package steward.authority\n\nimport rego.v1\n\ndecision := {\"outcome\": \"auto\", \"reasons\": []}\n",
    );
    std::fs::write(
        dir.path().join("authority/authority_test.rego"),
        "package steward.authority_test\n\nimport rego.v1\n\nimport data.steward.authority\n\n\
         test_irreversible_is_never_auto if {\n\
         \tauthority.decision.outcome != \"auto\" with input as {\"action\": {\"reversible\": false}}\n}\n",
    )
    .unwrap();
    let (code, stdout, _) = run({
        let mut command = steward();
        command.args(["policy", "test", "--dir"]).arg(dir.path());
        command
    });
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("FAIL data.steward.authority_test.test_irreversible_is_never_auto"),
        "{stdout}"
    );
    assert!(stdout.contains("0 of 1 policy test(s) passed"), "{stdout}");
}

#[test]
fn policy_bench_measures_real_decisions_and_refuses_to_measure_failures() {
    let (code, stdout, stderr) = run({
        let mut command = steward();
        command.args(["policy", "bench", "--decisions", "120", "--threads", "2"]);
        command
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    // Every action type at every automation level from every kind of proposer.
    let inputs = steward_domain::actions::ActionType::ALL.len() * 4 * 3;
    assert!(
        stdout.contains(&format!(
            "120 decisions on 2 thread(s), {inputs} distinct inputs"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("decisions/s: "), "{stdout}");
    assert!(stdout.contains("latency per decision: p50 "), "{stdout}");

    // A policy that cannot decide makes every decision the fail-safe deny: nothing to measure.
    let dir = policy_dir("package steward.authority\n\nimport rego.v1\n\ndecision := 42\n");
    let (code, stdout, _) = run({
        let mut command = steward();
        command
            .args(["policy", "bench", "--decisions", "10"])
            .env("STEWARD_POLICY__DIR", dir.path());
        command
    });
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("10 decision(s) failed"), "{stdout}");
}

#[test]
fn bench_detect_measures_rules_per_event_and_events_to_findings() {
    let (code, stdout, stderr) = run({
        let mut command = steward();
        command.args([
            "bench",
            "detect",
            "--events",
            "200",
            "--latency-runs",
            "3",
            "--poll-ms",
            "50",
        ]);
        command
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("normalized 200 Windows events to OCSF"),
        "{stdout}"
    );
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| rules"))
        .map(|line| {
            line.trim_matches(|c| c == '|' || c == ' ')
                .split(" | ")
                .collect()
        })
        .collect();
    let rules: Vec<&str> = rows.iter().map(|row| row[0]).collect();
    assert_eq!(rules[..3], ["10", "100", "1000"], "{stdout}");
    assert_eq!(rows.len(), 4, "and the whole pack: {stdout}");
    // The samples keep the pack's mix: process_creation rules are most of each.
    for row in &rows[1..] {
        let share: u32 = row[1].trim_end_matches('%').parse().unwrap();
        assert!(share > 50, "{stdout}");
    }
    // The whole pack finds the suspicious launches among the ordinary ones.
    let matches: u64 = rows[3][6].parse().unwrap();
    assert!(matches > 0, "{stdout}");
    assert!(
        stdout.contains("3 suspicious launches sent one at a time to the log ingest endpoint, SQLite database, worker poll interval 50 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("event to finding: p50 "), "{stdout}");

    let (code, _, stderr) = run({
        let mut command = steward();
        command.args(["bench", "detect", "--events", "0"]);
        command
    });
    assert_eq!(code, 1);
    assert!(stderr.contains("--events must be at least 1"), "{stderr}");
}

#[test]
fn bench_loop_measures_alerts_through_the_whole_pipeline() {
    let (code, stdout, stderr) = run({
        let mut command = steward();
        command.args(["bench", "loop", "--runs", "2", "--poll-ms", "50"]);
        command
    });
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("2 malware alerts, SQLite database, worker poll interval 50 ms"),
        "{stdout}"
    );
    assert!(stdout.contains("alert to decision: p50 "), "{stdout}");
    let (code, _, stderr) = run({
        let mut command = steward();
        command.args(["bench", "loop", "--runs", "0"]);
        command
    });
    assert_eq!(code, 1);
    assert!(stderr.contains("--runs must be at least 1"), "{stderr}");
}
