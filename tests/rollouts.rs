//! Rolling restarts and upgrades of the fleet through `POST /api/v1/rollouts`, against a real
//! gateway and real agents (process backend) running the real binary: a rollout over two agents
//! stops at the first failed handover and leaves the next node alone; a second rollout waits for
//! the first; a node-scoped restart completes; a version the node does not have installed fails
//! its agent's step; an agent upgrades itself to a newly installed build without stopping its bot,
//! whose handover then moves it onto that build.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{EXE, Gateway, Proc, Reap, T, alive, pid_of, start_agent, template, until, wait_for};
use serde_json::{Value, json};

/// Creates and starts a paper bot on `node`, its cores left to the node.
fn bot(gw: &Gateway, node: &str, id: &str) {
    let mut cfg = template("enhanced_arbitrage");
    cfg["bot_id"] = json!(id);
    cfg["resources"]["cores"] = json!([]);
    gw.ok(
        "POST",
        "/api/v1/bots",
        &json!({"node_id": node, "config": cfg}),
    );
    gw.ok("POST", &format!("/api/v1/bots/{id}/start"), &Value::Null);
}

/// Waits for rollout `id` to satisfy `check`.
fn rollout_until(gw: &Gateway, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("rollout {id}: {what}"), T, || {
        let r = gw.ok("GET", &format!("/api/v1/rollouts/{id}"), &Value::Null);
        check(&r).then_some(r)
    })
}

fn step<'a>(r: &'a Value, bot: &str) -> &'a Value {
    r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["bot_id"] == bot)
        .unwrap_or_else(|| panic!("no step for {bot:?}: {r}"))
}

#[test]
fn a_rollout_over_two_agents_stops_at_the_first_failure() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let (n1, n2) = (dir.path().join("n1"), dir.path().join("n2"));
    let (_r1, _r2) = (Reap(n1.clone()), Reap(n2.clone()));
    // n1's new instances can never be healthy in time: every handover there rolls back.
    let mut a1 = start_agent(&gw, &n1, "n1", &["--handover-ready-ms", "1"]);
    let mut a2 = start_agent(&gw, &n2, "n2", &[]);
    bot(&gw, "n1", "a-1");
    bot(&gw, "n2", "b-1");
    let a = pid_of(&until(&gw, "a-1", "running", |s| {
        s["state"] == "running" && s["build"]["build_id"].is_string()
    }));
    let b = pid_of(&until(&gw, "b-1", "running", |s| {
        s["state"] == "running" && s["build"]["build_id"].is_string()
    }));

    // Bad requests: a clear error naming the field.
    let (status, e) = gw.call(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "scope": "rack:7"}),
    );
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("scope"),
        "{e}"
    );
    let (status, e) = gw.call(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "max_unavailable": 0}),
    );
    assert_eq!(status, 400, "{e}");

    let r = gw.ok(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "scope": "fleet"}),
    );
    let id = r["rollout_id"].as_str().unwrap().to_string();
    assert_eq!(r["state"], "running");
    let bots: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(bots, ["a-1", "b-1"], "node by node: {r}");
    // One at a time.
    let (status, e) = gw.call("POST", "/api/v1/rollouts", &json!({"target": "restart"}));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("rollout_active"))
    );

    let r = rollout_until(&gw, &id, "paused at the first failure", |r| {
        r["state"] == "paused"
    });
    let s = step(&r, "a-1");
    assert_eq!(s["state"], "failed", "{r}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("not healthy within 1 ms"),
        "{r}"
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped at the first failed step: bot a-1 on node n1"),
        "{r}"
    );
    // The next node is left alone: no restart asked, the same process.
    assert_eq!(step(&r, "b-1")["state"], "pending", "{r}");
    std::thread::sleep(std::time::Duration::from_secs(2));
    let bot_b = gw.ok("GET", "/api/v1/bots/b-1", &Value::Null);
    assert_eq!(bot_b["bot"]["restarts"], 0, "{bot_b}");
    assert_eq!(pid_of(&gw.reported("b-1")), b);
    // a-1 trades on in its old instance (its handover was rolled back).
    assert_eq!(pid_of(&gw.reported("a-1")), a);
    assert!(alive(a as u32));

    // Aborted: what was left is skipped.
    let r = gw.ok(
        "POST",
        &format!("/api/v1/rollouts/{id}/abort"),
        &Value::Null,
    );
    assert_eq!(r["state"], "aborted");
    assert_eq!(step(&r, "b-1")["state"], "skipped");
    let (status, _) = gw.call(
        "POST",
        &format!("/api/v1/rollouts/{id}/resume"),
        &Value::Null,
    );
    assert_eq!(status, 409);

    // A restart of node n2 only: b-1 hands over onto the same build, and the rollout completes.
    let r = gw.ok(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "scope": "node:n2"}),
    );
    let id2 = r["rollout_id"].as_str().unwrap().to_string();
    let r = rollout_until(&gw, &id2, "completed", |r| r["state"] == "completed");
    let s = step(&r, "b-1");
    assert_eq!(s["state"], "done", "{r}");
    assert_eq!(s["from"], s["to"], "the same build: {r}");
    assert_eq!(s["from_pid"].as_u64(), Some(b), "{r}");
    let st = gw.reported("b-1");
    assert_ne!(pid_of(&st), b, "a new instance: {st}");
    assert_eq!(st["handover"]["trigger"], "restart", "{st}");

    // A version n2 does not have: its agent's step fails, nothing restarts.
    let r = gw.ok(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "9.9.9", "scope": "node:n2"}),
    );
    let id3 = r["rollout_id"].as_str().unwrap().to_string();
    let r = rollout_until(&gw, &id3, "paused", |r| r["state"] == "paused");
    let agent_step = &r["steps"][0];
    assert_eq!(agent_step["kind"], "agent", "{r}");
    assert!(
        agent_step["message"]
            .as_str()
            .unwrap()
            .contains("installed, not 9.9.9: install it first"),
        "{r}"
    );
    assert_eq!(step(&r, "b-1")["state"], "pending", "{r}");
    gw.ok(
        "POST",
        &format!("/api/v1/rollouts/{id3}/abort"),
        &Value::Null,
    );

    // Listed newest first, and audited.
    let list = gw.ok("GET", "/api/v1/rollouts", &Value::Null);
    let ids: Vec<&str> = list["rollouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rollout_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id3.as_str(), id2.as_str(), id.as_str()]);
    let audit = gw
        .ok("GET", "/api/v1/system/audit", &Value::Null)
        .to_string();
    for action in [
        "rollout.create",
        "rollout.restart",
        "rollout.paused",
        "rollout.abort",
    ] {
        assert!(audit.contains(action), "{action} in the audit trail");
    }
    // A paused bot is restarted but stays paused (a rollout never resumes nor starts a bot).
    gw.ok("POST", "/api/v1/bots/b-1/pause", &Value::Null);
    let r = gw.ok(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "scope": "node:n2"}),
    );
    let id4 = r["rollout_id"].as_str().unwrap().to_string();
    rollout_until(&gw, &id4, "completed", |r| r["state"] == "completed");
    let bot_b = gw.ok("GET", "/api/v1/bots/b-1", &Value::Null);
    assert_eq!(bot_b["bot"]["desired_state"], "paused", "{bot_b}");
    until(&gw, "b-1", "paused after its handover", |s| {
        s["state"] == "paused"
    });
    // An unknown node is refused.
    let (status, _) = gw.call(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": "restart", "scope": "node:nowhere"}),
    );
    assert_eq!(status, 400);
    // The emergency stop aborts the rollout under way (paused at n1 again) before stopping.
    let r = gw.ok("POST", "/api/v1/rollouts", &json!({"target": "restart"}));
    let id5 = r["rollout_id"].as_str().unwrap().to_string();
    rollout_until(&gw, &id5, "paused at n1", |r| r["state"] == "paused");
    gw.ok("POST", "/api/v1/system/emergency-stop", &Value::Null);
    let r = gw.ok("GET", &format!("/api/v1/rollouts/{id5}"), &Value::Null);
    assert_eq!(r["state"], "aborted", "{r}");
    assert_eq!(r["reason"], "aborted by the emergency stop", "{r}");
    std::thread::sleep(std::time::Duration::from_secs(1));
    for id in ["a-1", "b-1"] {
        let b = gw.ok("GET", &format!("/api/v1/bots/{id}"), &Value::Null);
        assert_eq!(b["bot"]["desired_state"], "stopped", "{b}");
    }
    a1.terminate(std::time::Duration::from_secs(10));
    a2.terminate(std::time::Duration::from_secs(10));
}

/// A copy of the binary with another GNU build id (one byte of the id flipped): the same
/// version, another build, as a rebuild would give.
fn another_build(from: &Path, to: &Path) {
    let mut bytes = std::fs::read(from).unwrap();
    let id = sniperforge_host::build::build_id_of(from).unwrap();
    let raw: Vec<u8> = (0..id.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap())
        .collect();
    let at = bytes
        .windows(raw.len())
        .position(|w| w == raw.as_slice())
        .expect("the build id's bytes in the file");
    bytes[at] ^= 0xff;
    std::fs::write(to, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_agent_upgrades_itself_without_stopping_its_bot_then_the_bot_moves_onto_the_new_build() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let node = dir.path().join("n1");
    let _reap = Reap(node.clone());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = bin.join("sniperforge");
    std::fs::copy(EXE, &exe).unwrap();
    let old = sniperforge_host::build::build_id_of(&exe).unwrap();
    let child = Command::new(&exe)
        .args([
            "agent",
            "--gateway",
            &gw.url(),
            "--node-id",
            "n1",
            "--token-file",
        ])
        .arg(&gw.token_file)
        .arg("--data-dir")
        .arg(&node)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = Proc {
        child,
        name: "agent",
    };
    bot(&gw, "n1", "u-1");
    let s = until(&gw, "u-1", "running", |s| {
        s["state"] == "running" && s["build"]["build_id"] == old.as_str()
    });
    let pid = pid_of(&s);

    // A new build installed at the agent's path (renamed over it, as a package manager does).
    let staged = bin.join("sniperforge.new");
    another_build(Path::new(EXE), &staged);
    let new = sniperforge_host::build::build_id_of(&staged).unwrap();
    assert_ne!(new, old);
    std::fs::rename(&staged, &exe).unwrap();
    let version = sniperforge_host::build::VERSION;
    wait_for("the node to report the installed build", T, || {
        let nodes = gw.ok("GET", "/api/v1/nodes", &Value::Null);
        let n = &nodes["nodes"][0];
        (n["installed"]["build_id"] == new.as_str() && n["agent"]["build_id"] == old.as_str())
            .then_some(())
    });

    let r = gw.ok(
        "POST",
        "/api/v1/rollouts",
        &json!({"target": version, "scope": "fleet"}),
    );
    let id = r["rollout_id"].as_str().unwrap().to_string();
    let r = rollout_until(&gw, &id, "completed", |r| {
        r["state"] == "completed" || r["state"] == "paused"
    });
    assert_eq!(r["state"], "completed", "{r}");
    let agent_step = &r["steps"][0];
    assert_eq!(
        (agent_step["kind"].as_str(), agent_step["state"].as_str()),
        (Some("agent"), Some("done")),
        "{r}"
    );
    assert_eq!(agent_step["to"]["build_id"], new.as_str(), "{r}");
    // The agent's upgrade left the bot running: its step found the same process.
    let s = step(&r, "u-1");
    assert_eq!(s["state"], "done", "{r}");
    assert_eq!(s["from_pid"].as_u64(), Some(pid), "{r}");
    assert_eq!(s["from"]["build_id"], old.as_str(), "{r}");
    assert_eq!(s["to"]["build_id"], new.as_str(), "{r}");
    // The same agent process (exec keeps the pid), now the new build.
    assert!(alive(agent.pid()));
    let nodes = gw.ok("GET", "/api/v1/nodes", &Value::Null);
    assert_eq!(
        nodes["nodes"][0]["agent"]["build_id"],
        new.as_str(),
        "{nodes}"
    );
    let st = gw.reported("u-1");
    assert_eq!(st["build"]["build_id"], new.as_str(), "{st}");
    assert_ne!(pid_of(&st), pid);
    wait_for("the old instance to end", T, || {
        (!alive(pid as u32)).then_some(())
    });
    agent.terminate(std::time::Duration::from_secs(10));
}
