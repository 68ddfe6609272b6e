//! Several nodes, for real, on one machine: one gateway and three agents of the real binary
//! (process backend; separate data directories, node ids, node tokens and environments) on
//! loopback ports. It shows placement by environment, labels and cores; the core ledger
//! refusing an overlap; a `dev` token that cannot see `prod`; and an agent killed: its paper bot
//! stops on its own when its fencing lease lapses and is placed on the other prod node within
//! the node's own failover window (`agent --failover-after-s`; the gateway keeps its default),
//! never running twice; an observer bot's two replicas on the two prod nodes, the lost one
//! waiting rather than joining the other.
//!
//! Network namespaces would separate the nodes further, but every server here listens on
//! 127.0.0.1 only (this machine's rule), so the nodes share loopback and differ by port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Gateway, Proc, Reap, T, alive, pid_of, until, wait_for};
use serde_json::{Value, json};

/// The failover window the prod nodes ask for, and the gateway of the cut-off test runs with
/// (the fencing lease is half).
const FAILOVER_S: u64 = 4;

/// An agent for node `node_id` with its own node token, data in `dir`.
fn agent(gw: &Gateway, dir: &Path, node_id: &str, extra: &[&str]) -> Proc {
    let token = gw.ok(
        "POST",
        "/api/v1/auth/tokens",
        &json!({"name": format!("agent-{node_id}"), "role": "agent", "node_id": node_id}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::create_dir_all(dir).unwrap();
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, token).unwrap();
    common::start_agent_with(gw, &token_file, dir, node_id, extra)
}

/// Creates bot `id` in `env` from a template (no cores pinned) with `placement` fields.
fn create(gw: &Gateway, id: &str, env: &str, placement: Value) -> (u16, Value) {
    let mut cfg = common::template("enhanced_arbitrage");
    cfg["bot_id"] = json!(id);
    cfg["environment"] = json!(env);
    let mut body = json!({"config": cfg});
    if let (Some(b), Some(p)) = (body.as_object_mut(), placement.as_object()) {
        b.extend(p.clone());
    }
    gw.call("POST", "/api/v1/bots", &body)
}

/// The live `sniperforge bot` processes of bot `id` under any of `dirs`.
fn instances(dirs: &[&Path], id: &str) -> Vec<u32> {
    let needle = format!("/bots/{id}/config.json");
    dirs.iter()
        .flat_map(|d| common::bot_pids_under(d))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

#[test]
fn three_nodes_place_by_environment_and_cores_and_fail_over_without_running_twice() {
    let dir = tempfile::tempdir().unwrap();
    // The gateway keeps its default window (30 s); the prod nodes ask for their own.
    let gw = Gateway::start_with(dir.path(), "127.0.0.1:0", &[]);
    let window = FAILOVER_S.to_string();
    let (d_dev, d_a, d_b) = (
        dir.path().join("n-dev"),
        dir.path().join("n-prod-a"),
        dir.path().join("n-prod-b"),
    );
    let _reap = (Reap(d_dev.clone()), Reap(d_a.clone()), Reap(d_b.clone()));
    let mut a_dev = agent(&gw, &d_dev, "n-dev", &["--environments", "dev,test"]);
    let mut a_a = agent(
        &gw,
        &d_a,
        "n-prod-a",
        &[
            "--environments",
            "prod",
            "--labels",
            "region=ny",
            "--failover-after-s",
            &window,
        ],
    );
    let mut a_b = agent(
        &gw,
        &d_b,
        "n-prod-b",
        &[
            "--environments",
            "prod",
            "--labels",
            "region=ny",
            "--failover-after-s",
            &window,
        ],
    );
    wait_for("three nodes registered", T, || {
        let n = gw.ok("GET", "/api/v1/nodes", &Value::Null);
        (n["nodes"].as_array()?.len() == 3).then_some(())
    });

    // Placement by environment and cores: the nodes share this machine's cores; every core but
    // 0 is reservable (no core is isolated here), and prod-1 takes the first, core 1.
    let (s, dev) = create(&gw, "dev-1", "dev", json!({"node_id": "auto", "cores": 1}));
    assert_eq!(s, 201, "{dev}");
    assert_eq!(dev["bot"]["node_id"], "n-dev", "{dev}");
    assert_eq!(dev["bot"]["cores"], json!([1]));
    let (s, p1) = create(
        &gw,
        "prod-1",
        "prod",
        json!({"node_id": "auto", "cores": 1, "labels": {"region": "ny"}}),
    );
    assert_eq!(s, 201, "{p1}");
    assert_eq!(p1["bot"]["node_id"], "n-prod-a", "{p1}");
    assert_eq!(p1["bot"]["placement"]["failover"], true, "a paper bot");
    // The node left with a free core takes the next prod bot.
    let (s, p2) = create(&gw, "prod-2", "prod", json!({"node_id": "auto"}));
    assert_eq!(s, 201, "{p2}");
    assert_eq!(p2["bot"]["node_id"], "n-prod-b", "{p2}");
    // The ledger refuses an overlap: core 1 of n-prod-a is prod-1's.
    let mut pinned = common::template("enhanced_arbitrage");
    pinned["bot_id"] = json!("prod-3");
    pinned["environment"] = json!("prod");
    pinned["resources"]["cores"] = json!([1]);
    let (s, e) = gw.call(
        "POST",
        "/api/v1/bots",
        &json!({"config": pinned, "node_id": "n-prod-a"}),
    );
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "cores_reserved");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("core 1 is held by bot prod-1"),
        "{e}"
    );
    // A dev bot cannot go to a prod node.
    let (s, e) = create(&gw, "dev-2", "dev", json!({"node_id": "n-prod-b"}));
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], "environment_not_served");

    // An observer bot with two instances: one on each prod node, never both on one.
    let mut obs = common::template("real_time_dashboard");
    obs["bot_id"] = json!("obs");
    obs["environment"] = json!("prod");
    let (s, o) = gw.call(
        "POST",
        "/api/v1/bots",
        &json!({"config": obs, "node_id": "auto", "replicas": 2}),
    );
    assert_eq!(s, 201, "{o}");
    let obs_node = |id: &str| {
        gw.ok("GET", &format!("/api/v1/bots/{id}"), &Value::Null)["bot"]["node_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (obs_at, r1_at) = (obs_node("obs"), obs_node("obs-r1"));
    assert!(
        obs_at != r1_at && obs_at.starts_with("n-prod-") && r1_at.starts_with("n-prod-"),
        "obs on {obs_at}, obs-r1 on {r1_at}"
    );

    // A dev-scoped token sees dev only.
    let dev_token = gw.ok(
        "POST",
        "/api/v1/auth/tokens",
        &json!({"name": "dev-ops", "role": "operator", "environments": ["dev"]}),
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let as_dev = |method: &str, path: &str| {
        let (status, body) = common::http(&gw.addr, method, path, Some(&dev_token), "");
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        )
    };
    let (s, list) = as_dev("GET", "/api/v1/bots");
    assert_eq!(s, 200);
    let ids: Vec<&str> = list["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dev-1"]);
    assert_eq!(as_dev("GET", "/api/v1/bots/prod-1").0, 404);
    assert_eq!(as_dev("POST", "/api/v1/bots/prod-1/stop").0, 404);

    // Every bot runs on its node, pinned to the core it holds; obs's start starts obs-r1.
    for id in ["dev-1", "prod-1", "prod-2", "obs"] {
        gw.ok("POST", &format!("/api/v1/bots/{id}/start"), &Value::Null);
    }
    for (id, node) in [
        ("dev-1", "n-dev"),
        ("prod-1", "n-prod-a"),
        ("prod-2", "n-prod-b"),
        ("obs", obs_at.as_str()),
        ("obs-r1", r1_at.as_str()),
    ] {
        until(&gw, id, "running", |s| s["state"] == "running");
        let r = gw.ok("GET", &format!("/api/v1/bots/{id}/status"), &Value::Null);
        assert_eq!(r["reported"]["node_id"], node, "{r}");
    }
    let old = pid_of(&gw.reported("prod-1")) as u32;
    assert_eq!(instances(&[&d_a, &d_b], "prod-1"), [old]);
    // Each replica is a process of its own, under its node's data directory.
    let dir_of = |node: &str| if node == "n-prod-a" { &d_a } else { &d_b };
    assert_eq!(instances(&[dir_of(&obs_at)], "obs").len(), 1);
    assert_eq!(instances(&[dir_of(&r1_at)], "obs-r1").len(), 1);
    let pinned_threads: Vec<(String, Vec<usize>)> = common::threads_of(old)
        .into_iter()
        .filter(|(_, cores)| cores == &[1])
        .collect();
    assert!(
        !pinned_threads.is_empty(),
        "prod-1's hot threads run on core 1: {:?}",
        common::threads_of(old)
    );

    // n-prod-a's agent dies. Its bot keeps running until its fencing lease lapses, then stops
    // on its own; the gateway places it on n-prod-b once the node has been silent FAILOVER_S.
    a_a.kill();
    let killed = Instant::now();
    let mut old_gone = None;
    let mut new_running = None;
    while killed.elapsed() < Duration::from_secs(FAILOVER_S + 20) {
        let live = instances(&[&d_a, &d_b], "prod-1");
        assert!(live.len() <= 1, "prod-1 runs twice: {live:?}");
        if old_gone.is_none() && !alive(old) {
            old_gone = Some(killed.elapsed());
        }
        if new_running.is_none() && live.iter().any(|p| *p != old) {
            new_running = Some(killed.elapsed());
            assert!(
                old_gone.is_some(),
                "the new instance started before the old one stopped"
            );
        }
        if new_running.is_some() && killed.elapsed() > new_running.unwrap() + Duration::from_secs(2)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let old_gone = old_gone.expect("the old instance stops once its lease lapses");
    let new_running = new_running.expect("prod-1 runs again on another node");
    // The lease is half the window: the old instance is gone well before the move.
    assert!(
        old_gone < Duration::from_secs(FAILOVER_S),
        "old instance gone after {old_gone:?}"
    );
    // The window, then at most a placement pass (1 s), a report's age (1 s) and a start.
    assert!(
        new_running < Duration::from_secs(FAILOVER_S + 4),
        "placed again after {new_running:?}"
    );
    let moved = until(&gw, "prod-1", "running on n-prod-b", |s| {
        s["state"] == "running" && pid_of(s) != u64::from(old)
    });
    let r = gw.ok("GET", "/api/v1/bots/prod-1", &Value::Null);
    assert_eq!(r["bot"]["node_id"], "n-prod-b", "{r}");
    assert_eq!(r["bot"]["cores"], json!([1]));
    assert!(alive(pid_of(&moved) as u32));
    let audit = gw.ok("GET", "/api/v1/system/audit", &Value::Null);
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "bot.failover"
                && e["target"] == "prod-1"
                && e["details"]["from"] == "n-prod-a"
                && e["details"]["to"] == "n-prod-b"),
        "{audit}"
    );
    // The others never moved.
    assert_eq!(
        gw.ok("GET", "/api/v1/bots/dev-1", &Value::Null)["bot"]["node_id"],
        "n-dev"
    );
    eprintln!(
        "failover: old instance stopped after {old_gone:?}, new one running after {new_running:?}"
    );
    // obs's instance on n-prod-a stopped with its lease; n-prod-b runs the other instance,
    // so it waits for a node of its own instead of running twice there.
    let lost = if obs_at == "n-prod-a" {
        "obs"
    } else {
        "obs-r1"
    };
    let kept = if lost == "obs" { "obs-r1" } else { "obs" };
    assert!(
        instances(&[&d_a, &d_b], lost).is_empty(),
        "{lost} still runs"
    );
    let r = gw.ok("GET", &format!("/api/v1/bots/{lost}"), &Value::Null);
    assert!(
        r["bot"]["pending"]
            .as_str()
            .is_some_and(|p| p.contains("n-prod-b: runs another instance of it")),
        "{r}"
    );
    assert_eq!(instances(&[&d_b], kept).len(), 1, "{kept} runs on n-prod-b");

    for id in ["dev-1", "prod-1", "prod-2", "obs"] {
        gw.ok("POST", &format!("/api/v1/bots/{id}/stop"), &Value::Null);
    }
    for id in ["dev-1", "prod-1", "prod-2", kept] {
        until(&gw, id, "stopped", |s| s["state"] == "stopped");
    }
    a_dev.terminate(Duration::from_secs(10));
    a_b.terminate(Duration::from_secs(10));
}

/// An agent alive but cut off from the gateway: its failing-over bot stops when the lease
/// lapses and is not started again while it stays lapsed; once the gateway is back (the same
/// port and store), the bot runs again on its node.
#[test]
fn a_cut_off_agent_stops_its_failing_over_bot_and_starts_it_again_once_back() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start_with(
        dir.path(),
        "127.0.0.1:0",
        &["--failover-after-s", &FAILOVER_S.to_string()],
    );
    let node_dir = dir.path().join("n1");
    let _reap = Reap(node_dir.clone());
    let mut a1 = agent(&gw, &node_dir, "n1", &[]);
    wait_for("the node registered", T, || {
        let n = gw.ok("GET", "/api/v1/nodes", &Value::Null);
        (n["nodes"].as_array()?.len() == 1).then_some(())
    });
    let (s, b) = create(&gw, "p-1", "dev", json!({"node_id": "n1"}));
    assert_eq!(s, 201, "{b}");
    gw.ok("POST", "/api/v1/bots/p-1/start", &Value::Null);
    let old = pid_of(&until(&gw, "p-1", "running", |s| s["state"] == "running")) as u32;
    // The gateway goes away at once (SIGKILL); the agent stays.
    let mut gw = gw;
    let addr = gw.addr.clone();
    let mut gateway = gw.proc.take().unwrap();
    let cut = Instant::now();
    gateway.kill();
    assert!(alive(old), "the bot runs on at first");
    wait_for("the bot stops once its lease lapses", T, || {
        (!alive(old)).then_some(())
    });
    let stopped = cut.elapsed();
    assert!(
        stopped < Duration::from_secs(FAILOVER_S),
        "stopped after {stopped:?}"
    );
    // Not started again while the lease stays lapsed.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(3) {
        assert!(
            instances(&[&node_dir], "p-1").is_empty(),
            "started while cut off"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(alive(a1.pid()), "the agent is alive throughout");

    // The gateway is back: the agent's lease holds again and the bot runs on its node.
    let gw = Gateway::start_with(
        dir.path(),
        &addr,
        &["--failover-after-s", &FAILOVER_S.to_string()],
    );
    let back = until(&gw, "p-1", "running again", |s| {
        s["state"] == "running" && pid_of(s) != u64::from(old)
    });
    assert_eq!(instances(&[&node_dir], "p-1"), [pid_of(&back) as u32]);
    let r = gw.ok("GET", "/api/v1/bots/p-1", &Value::Null);
    assert_eq!(r["bot"]["node_id"], "n1", "{r}");
    eprintln!("cut off: the bot stopped after {stopped:?}");
    gw.ok("POST", "/api/v1/bots/p-1/stop", &Value::Null);
    until(&gw, "p-1", "stopped", |s| s["state"] == "stopped");
    a1.terminate(Duration::from_secs(10));
}
