//! The agent with the process backend against a real gateway, both the real binary on loopback:
//! start, hot reload (SIGHUP, same process), cold change (restart), pause/resume, restart
//! request, crash then automatic restart, agent killed (bots keep running) and re-adoption
//! without a restart, stop, and no process left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::time::Duration;

use common::{
    Gateway, Reap, T, alive, bot_pids_under, fresh_report, pid_of, start_agent, template, until,
    wait_for,
};

/// An agent for a gateway URL that may not be up (token from `gw_dir/admin.token`).
fn start_agent_url(
    url: &str,
    gw_dir: &std::path::Path,
    dir: &std::path::Path,
    node: &str,
) -> common::Proc {
    let child = std::process::Command::new(common::EXE)
        .args(["agent", "--gateway", url, "--node-id", node, "--token-file"])
        .arg(gw_dir.join("admin.token"))
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::Proc {
        child,
        name: "agent",
    }
}
use serde_json::{Value, json};

#[test]
fn process_backend_runs_the_desired_state_and_survives_agent_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    // A failed assertion must not leave the bot running.
    let _reap = Reap(node_dir.clone());
    let mut agent = start_agent(&gw, &node_dir, "n1", &[]);

    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!("arb-1");
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
    cfg["parameters"]["risk_management"]["emergency_stop_enabled"] = json!(false);
    cfg["resources"]["cores"] = json!([0]);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n1", "config": cfg}),
    );
    wait_for("the node to register", T, || {
        let nodes = gw.ok("GET", "/api/v1/nodes", &Value::Null);
        (nodes["nodes"]
            .as_array()?
            .iter()
            .any(|n| n["node_id"] == "n1"))
        .then_some(())
    });

    // Start: desired running → a process, reported running, trades and latency at the gateway.
    gw.ok("POST", "/api/v1/bots/arb-1/start", &Value::Null);
    let s = until(&gw, "arb-1", "running", |s| s["state"] == "running");
    let pid = pid_of(&s);
    assert!(pid > 0 && alive(pid as u32), "{s}");
    assert_eq!(s["backend"], "process");
    // CPU and memory as the kernel counts them: the agent's figures over its report interval
    // against the test's own reading of /proc/<pid> while the bot works the simulated feed.
    let ticks = |pid: u64| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<u64> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|x| x.parse().unwrap())
            .collect();
        f[0] + f[1]
    };
    // Past its start (loading is a burst), the agent's interval figures averaged over the same
    // 4 s as the test's own reading.
    std::thread::sleep(Duration::from_secs(2));
    let (t0, at) = (ticks(pid), std::time::Instant::now());
    let mut reported = Vec::new();
    let mut m = Value::Null;
    while at.elapsed() < Duration::from_secs(4) {
        std::thread::sleep(Duration::from_millis(500));
        m = gw.ok("GET", "/api/v1/bots/arb-1/metrics", &Value::Null)["metrics"].clone();
        reported.extend(m["cpu_usage"].as_f64());
    }
    let busy = (ticks(pid) - t0) as f64 / 100.0 / at.elapsed().as_secs_f64() * 100.0;
    assert!(!reported.is_empty(), "no cpu_usage reported: {m}");
    let cpu = reported.iter().sum::<f64>() / reported.len() as f64;
    assert!(busy > 2.0, "the bot works its feed: {busy:.1} % by /proc");
    assert!(
        (cpu - busy).abs() < (busy * 0.6).max(10.0),
        "reported cpu_usage {cpu:.1} % on average ({reported:?}) against {busy:.1} % measured here"
    );
    let rss_kb: u64 = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
        .unwrap();
    let reported = m["memory_usage"].as_f64().unwrap() / 1024.0;
    assert!(
        reported > rss_kb as f64 * 0.5 && reported < rss_kb as f64 * 1.5,
        "reported memory {reported} kB against VmRSS {rss_kb} kB"
    );
    // From its first start, its threads off the hot path keep to the cores no bot reserves:
    // the agent passes them (here every core of this machine but 0).
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        let at = args
            .iter()
            .position(|a| a == "--shared-cores")
            .unwrap_or_else(|| panic!("no --shared-cores: {args:?}"));
        assert!(
            !args[at + 1].split(',').any(|c| c == "0"),
            "the reserved core is shared: {args:?}"
        );
    }
    wait_for("trades booked", T, || {
        let m = gw.ok("GET", "/api/v1/bots/arb-1/metrics", &Value::Null);
        (m["metrics"]["trades_executed"].as_u64()? > 0).then_some(())
    });
    wait_for("merged latency", T, || {
        let l = gw.ok("GET", "/api/v1/bots/arb-1/latency", &Value::Null);
        (l.to_string().contains("decided")).then_some(())
    });
    wait_for("log lines at the gateway", T, || {
        let l = gw.ok(
            "GET",
            "/api/v1/system/logs/arb-1?filter=control%20endpoint",
            &Value::Null,
        );
        (!l["lines"].as_array()?.is_empty()).then_some(())
    });

    // Hot change: SIGHUP, same process, new value in effect.
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(7);
    gw.ok("PUT", "/api/v1/configs/arb-1", &cfg);
    until(&gw, "arb-1", "config v2 applied", |s| {
        s["config_version"] == 2
    });
    wait_for("the bot to reload on SIGHUP", T, || {
        let l = gw.ok(
            "GET",
            "/api/v1/system/logs/arb-1?filter=SIGHUP",
            &Value::Null,
        );
        (!l["lines"].as_array()?.is_empty()).then_some(())
    });
    let s = gw.reported("arb-1");
    assert_eq!(pid_of(&s), pid, "a hot change must not restart: {s}");

    // Cold change (resources): a restart, new process.
    cfg["resources"]["memory_mb"] = json!(1024);
    gw.ok("PUT", "/api/v1/configs/arb-1", &cfg);
    let s = until(&gw, "arb-1", "restarted for v3", |s| {
        s["config_version"] == 3 && s["state"] == "running" && pid_of(s) != pid
    });
    assert!(!alive(pid as u32), "the old process is gone");
    let pid = pid_of(&s);

    // Pause and resume through the control endpoint.
    gw.ok("POST", "/api/v1/bots/arb-1/pause", &Value::Null);
    until(&gw, "arb-1", "paused", |s| s["state"] == "paused");
    gw.ok("POST", "/api/v1/bots/arb-1/resume", &Value::Null);
    until(&gw, "arb-1", "running again", |s| s["state"] == "running");
    assert_eq!(pid_of(&gw.reported("arb-1")), pid);

    // Restart on request.
    gw.ok("POST", "/api/v1/bots/arb-1/restart", &Value::Null);
    let s = until(&gw, "arb-1", "restarted on request", |s| {
        s["state"] == "running" && pid_of(s) != pid && pid_of(s) != 0
    });
    let pid = pid_of(&s);

    // Crash: the supervisor restarts it with backoff and counts the restart.
    common::signal(pid as u32, "KILL");
    let s = until(&gw, "arb-1", "restarted after a crash", |s| {
        s["state"] == "running" && pid_of(s) != pid && s["restarts"].as_u64() >= Some(1)
    });
    let pid = pid_of(&s);

    // Agent killed: the bot keeps running; a new agent adopts it without restarting it.
    agent.kill();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alive(pid as u32), "the bot outlives its agent");
    let mut agent = start_agent(&gw, &node_dir, "n1", &[]);
    let s = fresh_report(&gw, "arb-1");
    assert_eq!(s["restarts"], 0, "a new agent's supervisor: {s}");
    let s = until(&gw, "arb-1", "adopted", |s| s["state"] == "running");
    assert_eq!(pid_of(&s), pid, "adopted, not restarted: {s}");

    // Gateway down: the bot keeps running; a restarted agent works from the cached desired
    // state; when the gateway is back (same port, same store) reports resume.
    let addr = gw.addr.clone();
    drop(gw);
    agent.kill();
    let mut agent = start_agent_url(&format!("http://{addr}"), dir.path(), &node_dir, "n1");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        alive(pid as u32),
        "the bot runs on while the gateway is down"
    );
    let gw = Gateway::start_on(dir.path(), &addr);
    let s = fresh_report(&gw, "arb-1");
    assert_eq!(pid_of(&s), pid, "still the same process: {s}");

    // Stop: the process ends, the gateway hears it.
    gw.ok("POST", "/api/v1/bots/arb-1/stop", &Value::Null);
    until(&gw, "arb-1", "stopped", |s| s["state"] == "stopped");
    wait_for("the process to end", T, || {
        (!alive(pid as u32)).then_some(())
    });

    // A bot reserving cores this node lacks is refused with the reason, not run unpinned: by
    // the gateway, which knows the node's cores from its registration.
    let mut bad = template("enhanced_arbitrage");
    bad["bot_id"] = json!("arb-bad");
    bad["resources"]["cores"] = json!([1000]);
    let (status, e) = gw.call(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n1", "config": bad}),
    );
    assert_eq!(status, 409, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node n1 has no core 1000 (cores 0-"),
        "{e}"
    );

    agent.terminate(Duration::from_secs(10));
    assert!(bot_pids_under(&node_dir).is_empty(), "no bot process left");
}

/// A bot that keeps failing: the supervisor backs off and the agent reports the crash loop with
/// the last exit.
#[test]
fn a_crash_loop_is_backed_off_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    // A "bot binary" that always fails.
    let exe = dir.path().join("failing-bot");
    std::fs::write(&exe, "#!/bin/sh\necho 'fatal: cannot start' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exe = exe.display().to_string();
    let mut agent = start_agent(&gw, &node_dir, "n2", &["--bot-exe", exe.as_str()]);
    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!("loop-1");
    cfg["resources"]["cores"] = json!([]);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n2", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/loop-1/start", &Value::Null);
    let s = until(&gw, "loop-1", "crash loop reported", |s| {
        s["state"] == "error" && s["restarts"].as_u64() >= Some(3)
    });
    let reason = s["reason"].as_str().unwrap();
    assert!(reason.contains("exit status: 3"), "{reason}");
    assert!(reason.contains("consecutive failures"), "{reason}");
    wait_for("the failure output at the gateway", T, || {
        let l = gw.ok(
            "GET",
            "/api/v1/system/logs/loop-1?filter=fatal",
            &Value::Null,
        );
        (!l["lines"].as_array()?.is_empty()).then_some(())
    });
    // Backoff: restarts grow slower than one per 250 ms.
    let first = s["restarts"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let later = gw.reported("loop-1")["restarts"].as_u64().unwrap();
    assert!(
        later - first <= 4,
        "{first} → {later} restarts in 3 s: no backoff"
    );
    agent.terminate(Duration::from_secs(10));
}

/// A bot over its memory limit: without a cgroup v2 the agent may manage (these machines mount
/// the memory controller on v1), the agent reads its resident memory and kills it past
/// `resources.memory_mb`, as the OOM killer would, then restarts it with backoff; the status
/// says why.
#[test]
fn a_bot_over_its_memory_limit_is_killed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let _reap = Reap(node_dir.clone());
    let mut agent = start_agent(&gw, &node_dir, "n-mem", &[]);
    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!("mem-1");
    // A bot is resident in about 45 MiB: 16 is too little.
    cfg["resources"]["memory_mb"] = json!(16);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n-mem", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/mem-1/start", &Value::Null);
    let s = until(&gw, "mem-1", "killed for its memory", |s| {
        s["reason"]
            .as_str()
            .is_some_and(|r| r.contains("over its limit of 16 MiB (resources.memory_mb)"))
    });
    assert!(s["restarts"].as_u64() >= Some(1), "{s}");
    gw.ok("POST", "/api/v1/bots/mem-1/stop", &Value::Null);
    until(&gw, "mem-1", "stopped", |s| s["state"] == "stopped");
    assert!(bot_pids_under(&node_dir).is_empty());
    agent.terminate(Duration::from_secs(10));
}

/// On a pure cgroup v2 host whose memory controller the agent may enable for its children
/// (root, or a unit with `Delegate=yes`), the bot runs in a cgroup of its own with
/// `memory.max` and `cpu.max` from its configuration.
#[test]
#[ignore = "needs a pure cgroup v2 host with the memory controller delegated; these machines mount memory on cgroup v1"]
fn on_cgroup_v2_a_bot_gets_its_own_cgroup_with_its_limits() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let _reap = Reap(node_dir.clone());
    let mut agent = start_agent(&gw, &node_dir, "n-cg", &[]);
    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!("cg-1");
    cfg["resources"]["memory_mb"] = json!(256);
    cfg["resources"]["cpu_quota_percent"] = json!(50);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n-cg", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/cg-1/start", &Value::Null);
    let pid = pid_of(&until(&gw, "cg-1", "running", |s| s["state"] == "running"));
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = cgroup.trim().strip_prefix("0::").unwrap();
    assert!(path.ends_with("/sniperforge-bot-cg-1"), "{cgroup}");
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    assert_eq!(read("memory.max").trim(), (256u64 << 20).to_string());
    assert_eq!(read("cpu.max").trim(), "50000 100000");
    gw.ok("POST", "/api/v1/bots/cg-1/stop", &Value::Null);
    agent.terminate(Duration::from_secs(10));
}

/// Bots whose ids look like the agent's own files (`desired`) or are as long as ids get run as
/// exactly one process each across a `kill -9` of their agent: the next agent adopts them.
#[test]
fn bots_named_like_agent_files_survive_an_agent_kill_as_one_process_each() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node_dir = dir.path().join("node");
    let _reap = Reap(node_dir.clone());
    let mut agent = start_agent(&gw, &node_dir, "n3", &[]);
    let long = "x".repeat(64);
    let ids = ["desired", long.as_str()];
    for id in ids {
        let mut cfg = template("triangular_arbitrage");
        cfg["bot_id"] = json!(id);
        cfg["resources"]["cores"] = json!([]);
        gw.ok(
            "POST",
            "/api/v1/bots",
            &json!({"node_id": "n3", "config": cfg}),
        );
        gw.ok("POST", &format!("/api/v1/bots/{id}/start"), &Value::Null);
    }
    let pids: Vec<u64> = ids
        .iter()
        .map(|id| {
            pid_of(&until(&gw, id, "running", |s| {
                s["state"] == "running" && pid_of(s) > 0
            }))
        })
        .collect();
    agent.kill();
    let mut agent = start_agent(&gw, &node_dir, "n3", &[]);
    for (id, pid) in ids.iter().zip(&pids) {
        let s = fresh_report(&gw, id);
        let s = if s["state"] == "running" {
            s
        } else {
            until(&gw, id, "adopted", |s| s["state"] == "running")
        };
        assert_eq!(pid_of(&s), *pid, "{id} adopted, not started again: {s}");
    }
    // A few reconcile rounds later, still one process each.
    std::thread::sleep(Duration::from_secs(3));
    let mut running = bot_pids_under(&node_dir);
    running.sort_unstable();
    let mut expected: Vec<u32> = pids.iter().map(|p| *p as u32).collect();
    expected.sort_unstable();
    assert_eq!(running, expected);
    for id in ids {
        gw.ok("POST", &format!("/api/v1/bots/{id}/stop"), &Value::Null);
    }
    wait_for("the bots to stop", T, || {
        bot_pids_under(&node_dir).is_empty().then_some(())
    });
    agent.terminate(Duration::from_secs(10));
}

/// A root agent with `--bot-user nobody` runs its bots as that user with no supplementary
/// groups, gives them their state directory and files (0600), and never follows a symlink the
/// bot plants in place of its log.
#[test]
fn bots_run_as_the_unprivileged_bot_user_and_their_planted_symlinks_are_not_followed() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    if sniperforge_agent::backend::effective_uid() != 0 {
        common::skip_unless_ci(
            "bots_run_as_the_unprivileged_bot_user_and_their_planted_symlinks_are_not_followed",
            "the agent must run as root to start bots as another user",
        );
        return;
    }
    let nobody = sniperforge_agent::backend::BotUser::lookup("nobody").expect("a nobody user");
    let dir = tempfile::tempdir().unwrap();
    // The bot user must reach the binary and its own directory: the test's tree is 0700.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let exe = dir.path().join("sniperforge");
    std::fs::hard_link(common::EXE, &exe)
        .or_else(|_| std::fs::copy(common::EXE, &exe).map(|_| ()))
        .unwrap();
    let gw = Gateway::start(&dir.path().join("gw"));
    let node_dir = dir.path().join("node");
    let _reap = Reap(node_dir.clone());
    let exe_arg = exe.display().to_string();
    let mut agent = start_agent(
        &gw,
        &node_dir,
        "n4",
        &["--bot-user", "nobody", "--bot-exe", exe_arg.as_str()],
    );
    let mut cfg = template("triangular_arbitrage");
    cfg["bot_id"] = json!("unpriv");
    cfg["resources"]["cores"] = json!([]);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": "n4", "config": cfg}),
    );
    gw.ok("POST", "/api/v1/bots/unpriv/start", &Value::Null);
    let s = until(&gw, "unpriv", "running", |s| {
        s["state"] == "running" && pid_of(s) > 0
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid_of(&s))).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        field("Uid:").iter().all(|u| *u == nobody.uid.to_string()),
        "{status}"
    );
    assert!(
        field("Gid:").iter().all(|g| *g == nobody.gid.to_string()),
        "{status}"
    );
    assert!(field("Groups:").is_empty(), "{status}");
    let state = node_dir.join("bots/unpriv");
    for path in [
        state.clone(),
        state.join("config.json"),
        state.join("control.secret"),
    ] {
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (m.uid(), m.gid()),
            (nobody.uid, nobody.gid),
            "{}",
            path.display()
        );
    }
    assert_eq!(
        std::fs::metadata(state.join("control.secret"))
            .unwrap()
            .mode()
            & 0o777,
        0o600
    );
    // Its output goes where it cannot plant anything: the agent's logs directory.
    let logs_dir = node_dir.join("logs");
    let m = std::fs::metadata(&logs_dir).unwrap();
    assert_eq!((m.uid(), m.mode() & 0o777), (0, 0o700));
    assert_eq!(
        std::fs::metadata(logs_dir.join("unpriv.log"))
            .unwrap()
            .uid(),
        0
    );
    // The bot plants a FIFO as its config file: a config change still goes through (the agent
    // neither blocks on it nor reads it) and reports keep coming.
    std::fs::remove_file(state.join("config.json")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(state.join("config.json"))
            .status()
            .unwrap()
            .success()
    );
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(17);
    gw.ok("PUT", "/api/v1/configs/unpriv", &cfg);
    until(&gw, "unpriv", "config v2 applied, agent alive", |s| {
        s["config_version"] == 2 && s["state"] == "running"
    });
    // Then a link to a root-only file: a restart gives the bot its files, never the link's
    // target.
    let secret = dir.path().join("root-only");
    std::fs::write(&secret, "ROOT-ONLY-CONTENT\n").unwrap();
    std::os::unix::fs::symlink(&secret, state.join("planted")).unwrap();
    let before = pid_of(&gw.reported("unpriv"));
    gw.ok("POST", "/api/v1/bots/unpriv/restart", &Value::Null);
    until(&gw, "unpriv", "restarted", |s| {
        s["state"] == "running" && pid_of(s) > 0 && pid_of(s) != before
    });
    let m = std::fs::metadata(&secret).unwrap();
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "the link's target was given away"
    );
    gw.ok("POST", "/api/v1/bots/unpriv/stop", &Value::Null);
    wait_for("the bot to stop", T, || {
        bot_pids_under(&node_dir).is_empty().then_some(())
    });
    agent.terminate(Duration::from_secs(10));
}
