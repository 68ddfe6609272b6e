//! Processes for end-to-end tests: a gateway and agents of the real binary on loopback, with
//! the workspace's shared helpers (`sniperforge-testkit`: polling, raw HTTP, processes ended by
//! their own PID) re-exported.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test uses a subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub mod nomad;
pub mod systemd;

#[allow(unused_imports)] // each test uses a subset
pub use sniperforge_testkit::{
    Proc, alive, free_port, http, logged_control_addr, signal, skip_unless_ci, wait_for,
};

pub const EXE: &str = env!("CARGO_BIN_EXE_sniperforge");

/// Each thread of process `pid`: its name and the cores it may run on (a CPU list as the kernel
/// writes it, `0-3,6`, read into core numbers).
pub fn threads_of(pid: u32) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        let cores = sniperforge_protocol::cpus::parse_cpu_list(&field("Cpus_allowed_list:"))
            .unwrap_or_default();
        out.push((field("Name:"), cores));
    }
    out
}

/// A gateway on a free loopback port over SQLite in `dir`.
pub struct Gateway {
    /// Our gateway process (`None` for one someone else started).
    pub proc: Option<Proc>,
    pub addr: String,
    pub token: String,
    pub token_file: PathBuf,
}

impl Gateway {
    pub fn start(dir: &Path) -> Self {
        Self::start_on(dir, "127.0.0.1:0")
    }

    /// A gateway on `listen` (to bring one back on the port its agents know).
    pub fn start_on(dir: &Path, listen: &str) -> Self {
        Self::start_with(dir, listen, &[])
    }

    /// A gateway on `listen` with `extra` flags.
    pub fn start_with(dir: &Path, listen: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(EXE)
            .args(["gateway", "--listen", listen, "--database"])
            .arg(format!("sqlite://{}", dir.join("gateway.db").display()))
            .arg("--data-dir")
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("gateway listening on http://") {
                    let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
                }
            }
        });
        let proc = Proc {
            child,
            name: "gateway",
        };
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the gateway prints its address");
        let token_file = dir.join("admin.token");
        let token = std::fs::read_to_string(&token_file)
            .unwrap()
            .trim()
            .to_string();
        Self {
            proc: Some(proc),
            addr,
            token,
            token_file,
        }
    }

    /// A gateway someone else started (e.g. `sniperforge up`): no process of ours.
    pub fn attach(addr: &str, token: &str, token_file: &Path) -> Self {
        Self {
            proc: None,
            addr: addr.to_string(),
            token: token.to_string(),
            token_file: token_file.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An authenticated call; status and JSON body (`Null` when empty).
    pub fn call(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let text = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let (status, body) = http(&self.addr, method, path, Some(&self.token), &text);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    /// `call` that must answer 2xx.
    pub fn ok(&self, method: &str, path: &str, body: &Value) -> Value {
        let (status, v) = self.call(method, path, body);
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// What the agent last reported for a bot (`Null` before its first report).
    pub fn reported(&self, bot_id: &str) -> Value {
        self.ok(
            "GET",
            &format!("/api/v1/bots/{bot_id}/status"),
            &Value::Null,
        )["reported"]["status"]
            .clone()
    }
}

/// Patience for anything a test waits on.
pub const T: Duration = Duration::from_secs(60);

/// Waits until the agent's last report of `id` satisfies `check`; returns that status. A
/// timeout names the last status reported (what the bot or its agent said was wrong).
pub fn until(gw: &Gateway, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let s = gw.reported(id);
        if check(&s) {
            return s;
        }
        assert!(
            start.elapsed() < T,
            "timed out after {T:?} waiting for {id}: {what}; its last reported status: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Prints the last lines of `up`'s logs in its data directory when the test fails (the
/// temporary directory goes with the test): a bot that never runs says why there. Declare it
/// after the directory, so it drops first.
pub struct LogsOnFailure(pub PathBuf);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for name in ["agent.log", "gateway.log", "venue.log"] {
            let text = std::fs::read_to_string(self.0.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- the last lines of {name} ---");
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

/// The pid in a reported status (0 when none).
pub fn pid_of(s: &Value) -> u64 {
    s["pid"].as_u64().unwrap_or(0)
}

/// Waits for a report of `id` newer than 500 ms and returns its status (a new agent, or one
/// whose gateway came back, is reporting again).
pub fn fresh_report(gw: &Gateway, id: &str) -> Value {
    wait_for(&format!("{id}: a fresh report"), T, || {
        let r = gw.ok("GET", &format!("/api/v1/bots/{id}/status"), &Value::Null);
        let at = r["reported"]["reported_at"].as_i64()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis() as i64;
        (now - at < 500).then(|| r["reported"]["status"].clone())
    })
}

/// `sniperforge agent` for `gateway` with its data in `dir` (the admin token).
pub fn start_agent(gateway: &Gateway, dir: &Path, node_id: &str, extra: &[&str]) -> Proc {
    start_agent_with(gateway, &gateway.token_file, dir, node_id, extra)
}

/// `sniperforge agent` for `gateway` with the token in `token_file`, its data in `dir`.
pub fn start_agent_with(
    gateway: &Gateway,
    token_file: &Path,
    dir: &Path,
    node_id: &str,
    extra: &[&str],
) -> Proc {
    let child = Command::new(EXE)
        .args([
            "agent",
            "--gateway",
            &gateway.url(),
            "--node-id",
            node_id,
            "--token-file",
        ])
        .arg(token_file)
        .arg("--data-dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc {
        child,
        name: "agent",
    }
}

/// A bot type's template from the binary.
pub fn template(bot_type: &str) -> Value {
    let out = Command::new(EXE)
        .args(["config", "template", bot_type])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every live `sniperforge bot` process whose config lies under `dir`.
pub fn bot_pids_under(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && cmd.windows(needle.len()).any(|w| w == needle)
            && cmd.split(|b| *b == 0).any(|a| a == b"bot")
            && alive(pid)
        {
            pids.push(pid);
        }
    }
    pids
}

/// The bots `sniperforge up` runs, one of each type.
pub const DEMO_BOTS: [&str; 7] = [
    "demo-enhanced-arbitrage",
    "demo-triangular-arbitrage",
    "demo-flash-loan-arbitrage",
    "demo-real-time-dashboard",
    "demo-portfolio-manager",
    "demo-cross-chain-arbitrage",
    "demo-ml-analytics",
];

/// Waits until the gateway lists every demo bot and each one runs.
pub fn wait_demo_fleet(gw: &Gateway) {
    wait_for("the demo fleet", T, || {
        let bots = gw.ok("GET", "/api/v1/bots", &Value::Null);
        (bots["bots"].as_array()?.len() == DEMO_BOTS.len()).then_some(())
    });
    for id in DEMO_BOTS {
        until(gw, id, "running", |s| s["state"] == "running");
    }
}

/// `sniperforge up` on `port` with `dir` as its data directory, once its gateway is healthy and
/// has written the admin token.
pub fn up(dir: &Path, port: u16) -> (Proc, Gateway) {
    up_with(dir, port, &[])
}

/// `up` with `extra` arguments (see [`up`]).
pub fn up_with(dir: &Path, port: u16, extra: &[&str]) -> (Proc, Gateway) {
    let child = std::process::Command::new(EXE)
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc { child, name: "up" };
    let addr = format!("127.0.0.1:{port}");
    wait_for("the gateway's health", T, || {
        std::net::TcpStream::connect(&addr).ok()?;
        (http(&addr, "GET", "/api/v1/system/health", None, "").0 == 200).then_some(())
    });
    let token = wait_for("the admin token", T, || {
        std::fs::read_to_string(dir.join("admin.token"))
            .ok()
            .filter(|t| !t.trim().is_empty())
    });
    let gw = Gateway::attach(&addr, token.trim(), &dir.join("admin.token"));
    (proc, gw)
}

/// `sniperforge venue-sim` on `port`, its premium over the reference prices `skew_bps`.
pub fn venue_sim(port: u16, skew_bps: f64) -> Proc {
    let child = Command::new(EXE)
        .args([
            "venue-sim",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--period-ms",
            "50",
        ])
        .arg(format!("--skew-bps={skew_bps}"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the venue to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok()
            .then_some(())
    });
    Proc {
        child,
        name: "venue-sim",
    }
}

/// Asserts no two processes held the lease at once; returns every interval, sorted.
pub fn assert_one_holder_at_a_time(log: &Path) -> Vec<(u64, u64, u64)> {
    let held =
        sniperforge_bots::lease::LeaseLog::parse(&std::fs::read_to_string(log).unwrap_or_default());
    let all = held.intervals();
    assert_eq!(
        held.overlaps(),
        0,
        "two instances held the trading lease at once: {all:?}"
    );
    all
}

/// Kills every bot process under a node's directory when dropped (a failed test must not leave
/// bots its agent would have stopped).
pub struct Reap(pub std::path::PathBuf);

impl Drop for Reap {
    fn drop(&mut self) {
        for pid in bot_pids_under(&self.0) {
            signal(pid, "KILL");
        }
    }
}
