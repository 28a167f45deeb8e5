//! A real SMTP server for the email tests: PyPI `aiosmtpd`, storing what it receives in a
//! Maildir the tests read.

use std::{
    net::TcpStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `python3 -m aiosmtpd` on a loopback port, delivering to a temporary Maildir.
pub struct Smtp {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl Smtp {
    /// Starts the server and waits until it accepts connections.
    ///
    /// # Panics
    /// When `aiosmtpd` is not installed (`bash scripts/setup-test-deps.sh` installs it) or
    /// does not start.
    pub fn start() -> Self {
        Self::start_with(|maildir| vec!["aiosmtpd.handlers.Mailbox".into(), maildir.into()])
    }

    /// A server that refuses every recipient for good (`550 5.1.1`), as a mail server does
    /// for an address it does not know.
    pub fn start_refusing() -> Self {
        Self::start_with(|maildir| {
            let module = maildir.parent().unwrap().join("refusing.py");
            std::fs::write(
                &module,
                "class Refusing:\n    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):\n        return '550 5.1.1 No such mailbox here'\n",
            )
            .unwrap();
            vec!["refusing.Refusing".into()]
        })
    }

    fn start_with(handler: impl FnOnce(&std::path::Path) -> Vec<std::ffi::OsString>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("mail");
        let handler = handler(&maildir);
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-c")
            .args(handler)
            .env("PYTHONPATH", dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start python3 -m aiosmtpd (bash scripts/setup-test-deps.sh installs it)");
        let mut smtp = Self { port, dir, child };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = smtp.child.try_wait() {
                panic!("aiosmtpd exited with {status}: is it installed? (pip install aiosmtpd)");
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        smtp
    }

    fn new_messages(&self) -> PathBuf {
        self.dir.path().join("mail").join("new")
    }

    /// Every message received so far: its headers and its body, decoded as a mail client
    /// would (quoted-printable).
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.new_messages()) else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path()).ok())
            .map(|raw| decoded(&raw))
            .collect()
    }

    /// The `n`th message (counting from 1) whose `To:` is `to`; panics when there is none.
    pub fn message(&self, to: &str, n: usize) -> String {
        let mut found: Vec<String> = self
            .messages()
            .into_iter()
            .filter(|m| {
                m.lines()
                    .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
            })
            .collect();
        assert!(
            found.len() >= n,
            "no message {n} to {to}; received: {:#?}",
            self.messages()
        );
        found.sort_by_key(|m| date_of(m));
        found.swap_remove(n - 1)
    }
}

/// The order messages arrived in: aiosmtpd adds `X-Peer` but no arrival time, so the sender's
/// `Date:` (to the second) with the file order as tie-break is what there is.
fn date_of(message: &str) -> String {
    message
        .lines()
        .find(|l| l.starts_with("Date:"))
        .unwrap_or_default()
        .to_owned()
}

/// The message with its body decoded from quoted-printable when its header says so.
fn decoded(raw: &str) -> String {
    let Some((headers, body)) = raw.split_once("\n\n") else {
        return raw.to_owned();
    };
    if !headers
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return raw.to_owned();
    }
    let bytes = body.replace("\r\n", "\n").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    format!("{headers}\n\n{}", String::from_utf8_lossy(&out))
}

/// The approval link in a message.
pub fn link_in(message: &str) -> String {
    let start = message
        .find("http")
        .unwrap_or_else(|| panic!("no link in {message}"));
    message[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
