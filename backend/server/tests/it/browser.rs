//! The main web flows in real headless Chromium, with single sign-on through a real OpenID
//! Connect provider (npm `oidc-provider`) started on loopback. The flows themselves are in
//! `frontend/e2e/browser.mjs`; this test starts `steward demo` and the provider around them.
//!
//! Needs Debian's `chromium` and `npm ci` in `frontend/e2e` (both done by `scripts/test.sh`).

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use crate::support::{StewardProcess, steward_on};
use steward_testkit::TestDatabase;

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../frontend/e2e")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The identity provider, stopped when dropped.
struct Provider(Child);

impl Provider {
    fn start(port: u16, redirect_uri: &str) -> Self {
        let mut child = Command::new("node")
            .current_dir(e2e_dir())
            .args([
                "oidc-provider.mjs",
                &port.to_string(),
                "steward",
                "e2e-client-secret",
                redirect_uri,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (is Node.js installed?)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines.next().and_then(Result::ok).unwrap_or_default();
        // Keep reading: a provider writing to a closed pipe would die mid-test.
        std::thread::spawn(move || lines.for_each(drop));
        let provider = Provider(child);
        assert!(
            ready.starts_with("ready "),
            "the OIDC provider did not start: {ready:?}"
        );
        provider
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn main_flows_work_in_chromium_with_password_and_single_sign_on() {
    let modules = e2e_dir().join("node_modules/playwright-core");
    assert!(
        modules.exists(),
        "browser tests need `npm ci` in frontend/e2e and Debian's chromium; \
         `bash scripts/test.sh` sets both up"
    );

    let db = TestDatabase::empty().await;
    let (steward_port, provider_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{steward_port}");
    let _provider = Provider::start(provider_port, &format!("{base}/auth/oidc/callback"));

    let mut command = steward_on(&db);
    command
        .args(["demo", "--listen", &format!("127.0.0.1:{steward_port}")])
        .env("STEWARD_PUBLIC_URL", &base)
        .env(
            "STEWARD_OIDC__ISSUER",
            format!("http://127.0.0.1:{provider_port}"),
        )
        .env("STEWARD_OIDC__CLIENT_ID", "steward")
        .env("STEWARD_OIDC__CLIENT_SECRET", "e2e-client-secret");
    let server = StewardProcess::start(command);

    // The operator confirms the MSP's domain; its admin lets single sign-on create auditors
    // from it.
    let mut verify = steward_on(&db);
    verify.args([
        "msp",
        "verify-domain",
        "--msp",
        "harbor-it",
        "--domain",
        "harbor-it.example",
    ]);
    let (code, stdout, stderr) = crate::support::run(verify);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("harbor-it.example is now"), "{stdout}");
    let mut issue = steward_on(&db);
    issue.args(["token", "create", "--email", "admin@harbor-it.example"]);
    let (code, token, stderr) = crate::support::run(issue);
    assert_eq!(code, 0, "{stderr}");
    let allowed = crate::support::client()
        .patch(server.url("/api/v1/msp"))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({
            "sso_auto_provision": { "domain": "harbor-it.example", "role": "auditor" }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), reqwest::StatusCode::OK);

    let mut run = Command::new("node");
    run.current_dir(e2e_dir())
        .arg("browser.mjs")
        .arg(&server.base);
    if let Ok(dir) = std::env::var("STEWARD_E2E_SCREENSHOTS") {
        run.arg(dir);
    }
    let output = run.output().expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser flows failed:\n{stdout}\n{stderr}"
    );
    for flow in [
        "ok password sign-in shows the MSP dashboard",
        "ok a wrong password is refused",
        "ok a customer user sees their own tenant and cannot reach another's (404)",
        "ok single sign-on links a verified identity to its user",
        "ok single sign-on refuses unknown and unverified identities",
        "ok single sign-on creates users where their MSP allows it",
        "ok the governed loop: automatic containment, customer approval, rollback and the report",
        "ok detections: a rule measured on what technicians concluded, and tuned after a replay",
    ] {
        assert!(stdout.contains(flow), "missing `{flow}` in:\n{stdout}");
    }
    assert!(server.stop().success());
}
