//! Helpers the workspace's tests share (a dev-dependency only): polling with a deadline, a raw
//! HTTP/1.1 client, free loopback ports, child processes ended by their PID, data directories a
//! sandboxed service can reach, and the rule for a test whose real component is missing.

#![warn(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failure is the report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A real component `test` needs is missing: outside CI the test says SKIP loudly and the
/// caller returns; under CI (`CI` set), which installs every such component, it fails.
pub fn skip_unless_ci(test: &str, why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {why}; CI must provide it"
    );
    eprintln!("\n\n*** SKIP {test}: {why} ***\n\n");
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `deadline` with `what`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`wait_for`] in async code: polls every 50 ms without blocking the runtime.
pub async fn wait_for_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        sleep_async(Duration::from_millis(50)).await;
    }
}

/// A sleep that needs no runtime of its own (a thread wakes the task).
async fn sleep_async(d: Duration) {
    struct Sleep {
        until: Instant,
        started: bool,
    }
    impl std::future::Future for Sleep {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if Instant::now() >= self.until {
                return std::task::Poll::Ready(());
            }
            if !self.started {
                self.started = true;
                let waker = cx.waker().clone();
                let until = self.until;
                std::thread::spawn(move || {
                    std::thread::sleep(until.saturating_duration_since(Instant::now()));
                    waker.wake();
                });
            }
            std::task::Poll::Pending
        }
    }
    Sleep {
        until: Instant::now() + d,
        started: false,
    }
    .await;
}

/// One HTTP/1.1 request to `addr` (`Connection: close`, a JSON body, an optional bearer
/// token); the status and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(70))).unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A port free on loopback now (another process may take it before the caller binds it:
/// callers that can bind port 0 themselves should).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `sig` (`TERM`, `KILL`, `HUP`, …) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim_start().to_string()))
        .is_some_and(|r| !r.starts_with('Z'))
}

/// A child process ended (SIGTERM, then SIGKILL) when dropped: a failing test leaves nothing
/// running.
#[derive(Debug)]
pub struct Proc {
    /// The process.
    pub child: Child,
    /// What it is, for messages.
    pub name: &'static str,
}

impl Proc {
    /// Its PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait (at most `grace`, then SIGKILL); the exit code.
    pub fn terminate(&mut self, grace: Duration) -> Option<i32> {
        signal(self.pid(), "TERM");
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if start.elapsed() > grace {
                let _ = self.child.kill();
                return self.child.wait().ok().and_then(|s| s.code());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // `up` stops its agent (which stops every bot, up to 30 s), its venue and its
            // gateway in turn; killed sooner, it would leave them orphaned.
            let grace = if self.name == "up" { 60 } else { 5 };
            self.terminate(Duration::from_secs(grace));
        }
    }
}

/// The control address a bot process logs (its stdout piped), waiting up to 60 s. Its stdout
/// keeps being drained; warnings and errors reach the test's output (shown when it fails).
pub fn logged_control_addr(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("the bot's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(addr) = v["fields"]["control_addr"].as_str() {
                let _ = tx.send(addr.to_string());
            }
            if matches!(v["level"].as_str(), Some("WARN" | "ERROR")) {
                eprintln!("bot: {line}");
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the bot logs its control address")
}

/// Whether `path` is under a directory that a sandboxed service (systemd's `PrivateTmp`)
/// sees as its own, empty one: `/tmp` or `/var/tmp`.
pub fn under_private_tmp(path: &Path) -> bool {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    ["/tmp", "/var/tmp"].iter().any(|t| path.starts_with(t))
}

/// A fresh directory for `test`'s data that services with a private `/tmp` can reach too:
/// under `preferred` (a test's `CARGO_TARGET_TMPDIR`) unless that lies in `/tmp` or
/// `/var/tmp` (a `CARGO_TARGET_DIR` there), else under `~/.cache/sniperforge-tests`. Fails at
/// once, saying why, when neither is usable (rather than a unit timing out on a path it
/// cannot see).
pub fn data_dir(test: &str, preferred: &str) -> tempfile::TempDir {
    let preferred = PathBuf::from(preferred);
    let base = if under_private_tmp(&preferred) {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| {
            panic!(
                "{test}: the target directory {} is under /tmp, which services with PrivateTmp do not see, and HOME is unset: set CARGO_TARGET_DIR outside /tmp",
                preferred.display()
            )
        });
        let base = home.join(".cache/sniperforge-tests");
        assert!(
            !under_private_tmp(&base),
            "{test}: both the target directory ({}) and HOME ({}) are under /tmp, which services with PrivateTmp do not see: set CARGO_TARGET_DIR outside /tmp",
            preferred.display(),
            home.display()
        );
        base
    } else {
        preferred
    };
    std::fs::create_dir_all(&base)
        .unwrap_or_else(|e| panic!("{test}: creating {}: {e}", base.display()));
    // A short name: services put unix sockets under it, whose paths are limited to 108 bytes.
    tempfile::Builder::new()
        .prefix("sf-")
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("{test}: a directory under {}: {e}", base.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dirs_stay_out_of_a_private_tmp() {
        assert!(under_private_tmp(Path::new("/tmp/x/y")));
        assert!(under_private_tmp(Path::new("/var/tmp")));
        assert!(!under_private_tmp(Path::new("/tmpfoo")));
        let d = data_dir("testkit", "/tmp/sniperforge-testkit-target");
        assert!(!under_private_tmp(d.path()), "{}", d.path().display());
    }

    #[test]
    fn wait_for_returns_the_value_or_names_what_timed_out() {
        let mut n = 0;
        assert_eq!(
            wait_for("n to reach 3", Duration::from_secs(5), || {
                n += 1;
                (n >= 3).then_some(n)
            }),
            3
        );
        let e = std::panic::catch_unwind(|| {
            wait_for("never", Duration::from_millis(100), || None::<()>)
        })
        .unwrap_err();
        let message = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("waiting for never"), "{message}");
    }
}
