//! End-to-end: `sniperforge rpc-sim` (the simulator behind Solana's JSON-RPC and websocket
//! pubsub) feeds `sniperforge bot --feed solana`, which trades, reports the node's death in
//! /health and comes back when the node does; `record --feed solana` records the stream and
//! `bot --feed replay:FILE` trades on the recording. With the `yellowstone` feature the same
//! over rpc-sim's Geyser service (`--feed yellowstone`); without it, that feed is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{EXE, Proc, T, bot_pids_under, free_port, http, template, up_with, wait_for};
use serde_json::{Value, json};

fn rpc_sim(dir: &Path, rpc: u16, ws: u16) -> Proc {
    rpc_sim_with(dir, rpc, ws, &[])
}

/// rpc-sim with `extra` flags; listening once its websocket port and the last port `extra`
/// names answer.
fn rpc_sim_with(dir: &Path, rpc: u16, ws: u16, extra: &[&str]) -> Proc {
    let markets = dir.join("markets.json");
    let child = Command::new(EXE)
        .args(["rpc-sim", "--listen", &format!("127.0.0.1:{rpc}")])
        .args(["--ws-listen", &format!("127.0.0.1:{ws}")])
        .args(["--slot-ms", "100", "--markets-out"])
        .arg(&markets)
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc {
        child,
        name: "rpc-sim",
    };
    let last: Option<std::net::SocketAddr> = extra.iter().rev().find_map(|a| a.parse().ok());
    wait_for("rpc-sim to listen", Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", ws))
            .ok()
            .filter(|_| markets.exists())
            .filter(|_| last.is_none_or(|a| std::net::TcpStream::connect(a).is_ok()))
    });
    proc
}

/// A bot process of `bot_type` with `extra` arguments; its control address.
fn bot(dir: &Path, bot_type: &str, name: &str, extra: &[&str]) -> (Proc, String) {
    let mut cfg = template(bot_type);
    cfg["bot_id"] = json!(name);
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(1);
    if bot_type == "enhanced_arbitrage" {
        cfg["parameters"]["trading"]["confidence_threshold"] = json!(0.0);
    }
    cfg["parameters"]["risk_management"]["emergency_stop_enabled"] = json!(false);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, cfg.to_string()).unwrap();
    let secret = dir.join(format!("{name}.secret"));
    std::fs::write(&secret, CONTROL_SECRET).unwrap();
    let mut child = Command::new(EXE)
        .args(["bot", "--config"])
        .arg(&path)
        .arg("--state-dir")
        .arg(dir.join(name))
        .arg("--control-secret-file")
        .arg(&secret)
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = common::logged_control_addr(&mut child);
    (Proc { child, name: "bot" }, addr)
}

/// The control secret every bot of these tests is given.
const CONTROL_SECRET: &str = "solana-cli-test-control-secret";

fn status(addr: &str) -> Value {
    serde_json::from_str(&http(addr, "GET", "/status", Some(CONTROL_SECRET), "").1).unwrap()
}

fn custom(addr: &str, name: &str) -> f64 {
    status(addr)["metrics"]["custom_metrics"][name]
        .as_f64()
        .unwrap_or(0.0)
}

fn trades(addr: &str) -> u64 {
    status(addr)["metrics"]["trades_executed"]
        .as_u64()
        .unwrap_or(0)
}

/// The node under the bot at `addr` dies: `/health` answers 503 naming the `feed` and the
/// stream's `port`; `restart` brings it back on the same ports and the bot recovers and trades
/// again. The new node and the 503's body.
fn survives_the_node_restarting(
    addr: &str,
    node: &mut Proc,
    feed: &str,
    port: u16,
    restart: impl FnOnce() -> Proc,
) -> (Proc, String) {
    node.kill();
    let body = wait_for(
        "health to report the dead node",
        Duration::from_secs(30),
        || {
            let (code, body) = http(addr, "GET", "/health", None, "");
            (code == 503 && body.contains(feed)).then_some(body)
        },
    );
    assert!(
        body.contains(&port.to_string()) && body.contains("down"),
        "{body}"
    );
    let node = restart();
    wait_for("the bot to recover", Duration::from_secs(60), || {
        (http(addr, "GET", "/health", None, "").0 == 200).then_some(())
    });
    assert!(custom(addr, "feed_reconnects") >= 1.0);
    assert_eq!(custom(addr, "feed_connected"), 1.0);
    let before = trades(addr);
    wait_for(
        "trades after the reconnect",
        Duration::from_secs(60),
        || (trades(addr) > before).then_some(()),
    );
    (node, body)
}

#[test]
fn a_bot_trades_on_an_rpc_node_survives_its_restart_and_replays_its_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (rpc, ws) = (free_port(), free_port());
    let mut node = rpc_sim(dir.path(), rpc, ws);
    let markets = dir.path().join("markets.json");
    let endpoint = [
        "--rpc-url".to_string(),
        format!("http://127.0.0.1:{rpc}"),
        "--ws-url".into(),
        format!("ws://127.0.0.1:{ws}"),
        "--markets".into(),
        markets.display().to_string(),
    ];
    let endpoint: Vec<&str> = endpoint.iter().map(String::as_str).collect();

    // Record the node's stream.
    let recording = dir.path().join("node.sfrec");
    let out = Command::new(EXE)
        .args(["record", "--feed", "solana", "--updates", "8000", "--out"])
        .arg(&recording)
        .args(&endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("records"));

    // A bot on the node trades and is healthy.
    let mut args = vec!["--feed", "solana"];
    args.extend(&endpoint);
    let (_live, addr) = bot(dir.path(), "enhanced_arbitrage", "live", &args);
    wait_for("trades on the RPC feed", Duration::from_secs(60), || {
        // Connected: its first snapshot applied (notifications arrive, and can be counted,
        // while that snapshot is still being fetched).
        (trades(&addr) > 0
            && custom(&addr, "feed_notifications") > 100.0
            && custom(&addr, "feed_connected") == 1.0)
            .then_some(())
    });
    let h = http(&addr, "GET", "/health", None, "");
    assert_eq!(h.0, 200, "{}", h.1);
    let (_, metrics) = http(&addr, "GET", "/metrics", Some(CONTROL_SECRET), "");
    assert!(metrics.contains("feed_notifications"), "{metrics}");

    let (_node, _) = survives_the_node_restarting(&addr, &mut node, "solana feed", ws, || {
        rpc_sim(dir.path(), rpc, ws)
    });

    // The recording replays through a bot (its tokens from the same markets file); the
    // triangular type, whose routes through every pool find trades in seconds of market.
    let replay = format!("replay:{}", recording.display());
    let (_replayed, addr) = bot(
        dir.path(),
        "triangular_arbitrage",
        "replayed",
        &[
            "--feed",
            &replay,
            "--replay-max-speed",
            "--markets",
            &markets.display().to_string(),
        ],
    );
    wait_for("the replay to end", Duration::from_secs(60), || {
        let (code, body) = http(&addr, "GET", "/health", None, "");
        (code == 503 && body.contains("replayed to its end")).then_some(())
    });
    assert_eq!(custom(&addr, "replayed_updates"), 8000.0);
    assert!(trades(&addr) > 0, "{}", status(&addr));

    // A bad recording path is refused at start with the path.
    let out = Command::new(EXE)
        .args(["bot", "--config"])
        .arg(dir.path().join("live.json"))
        .args(["--feed", "replay:/nonexistent/rec.sfrec"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/rec.sfrec"), "{err}");
}

#[test]
fn up_with_a_solana_feed_runs_the_fleet_on_rpc_sim_and_stops_it() {
    up_on_rpc_sim("solana");
}

#[cfg(feature = "yellowstone")]
#[test]
fn up_with_a_yellowstone_feed_runs_the_fleet_on_rpc_sim_geyser_and_stops_it() {
    up_on_rpc_sim("yellowstone");
}

/// `up --feed FEED` without a node: rpc-sim starts beside the gateway, the fleet trades on it,
/// Ctrl-C stops it all.
fn up_on_rpc_sim(feed: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // The gateway's port + 2 to + 4 must be free for rpc-sim: take a port whose neighbours are.
    let port = wait_for("five free ports in a row", T, || {
        let p = free_port();
        (p < 65_000 && (1..=4).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()))
            .then_some(p)
    });
    let (mut proc, gw) = up_with(&data, port, &["--feed", feed]);
    common::wait_demo_fleet(&gw);
    wait_for("trades on the RPC feed", T, || {
        let m = gw.ok(
            "GET",
            "/api/v1/bots/demo-triangular-arbitrage/metrics",
            &Value::Null,
        )["metrics"]
            .clone();
        (m["trades_executed"].as_u64()? > 0
            && m["custom_metrics"]["feed_notifications"].as_f64()? > 0.0)
            .then_some(())
    });
    assert!(data.join("markets.json").exists());
    common::signal(proc.pid(), "INT");
    let code = wait_for("up to exit", T, || proc.child.try_wait().ok().flatten());
    assert_eq!(code.code(), Some(0));
    assert!(bot_pids_under(&data).is_empty(), "no bot process left");
    for rpc_sim_port in [port + 2, port + 4] {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", rpc_sim_port)).is_err(),
            "rpc-sim gone"
        );
    }
}

#[cfg(feature = "yellowstone")]
#[test]
fn a_bot_trades_on_a_geyser_stream_and_survives_the_node_restarting() {
    let dir = tempfile::tempdir().unwrap();
    let (rpc, ws, grpc) = (free_port(), free_port(), free_port());
    let token = dir.path().join("x-token");
    std::fs::write(&token, "geyser-token\n").unwrap();
    let grpc_at = format!("127.0.0.1:{grpc}");
    let token_arg = token.display().to_string();
    let geyser = [
        "--grpc-x-token-file",
        token_arg.as_str(),
        "--grpc-listen",
        grpc_at.as_str(),
    ];
    let mut node = rpc_sim_with(dir.path(), rpc, ws, &geyser);
    let markets = dir.path().join("markets.json");
    let endpoint = [
        "--feed".to_string(),
        "yellowstone".into(),
        "--rpc-url".into(),
        format!("http://127.0.0.1:{rpc}"),
        "--grpc-url".into(),
        format!("http://{grpc_at}"),
        "--grpc-x-token-file".into(),
        token_arg.clone(),
        "--markets".into(),
        markets.display().to_string(),
    ];
    let endpoint: Vec<&str> = endpoint.iter().map(String::as_str).collect();

    // Record the Geyser stream; the recording replays like any other.
    let recording = dir.path().join("geyser.sfrec");
    let out = Command::new(EXE)
        .args([
            "record",
            "--updates",
            "2000",
            "--max-seconds",
            "60",
            "--out",
        ])
        .arg(&recording)
        .args(&endpoint)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("records"));

    let (_bot, addr) = bot(dir.path(), "triangular_arbitrage", "geyser", &endpoint);
    wait_for("trades on the Geyser feed", Duration::from_secs(60), || {
        // Connected: its first snapshot applied (notifications arrive, and can be counted,
        // while that snapshot is still being fetched).
        (trades(&addr) > 0
            && custom(&addr, "feed_notifications") > 100.0
            && custom(&addr, "feed_connected") == 1.0)
            .then_some(())
    });
    let h = http(&addr, "GET", "/health", None, "");
    assert_eq!(h.0, 200, "{}", h.1);

    let (_node, down) =
        survives_the_node_restarting(&addr, &mut node, "yellowstone feed", grpc, || {
            rpc_sim_with(dir.path(), rpc, ws, &geyser)
        });
    assert!(
        !down.contains("geyser-token"),
        "the token never shows: {down}"
    );
}

#[cfg(not(feature = "yellowstone"))]
#[test]
fn without_the_feature_a_yellowstone_feed_is_refused_with_how_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let (rpc, ws) = (free_port(), free_port());
    let _node = rpc_sim(dir.path(), rpc, ws);
    let cfg = dir.path().join("tri.json");
    let mut t = template("triangular_arbitrage");
    t["bot_id"] = json!("tri");
    std::fs::write(&cfg, t.to_string()).unwrap();
    let out = Command::new(EXE)
        .args(["bot", "--config"])
        .arg(&cfg)
        .args([
            "--feed",
            "yellowstone",
            "--rpc-url",
            &format!("http://127.0.0.1:{rpc}"),
        ])
        .args(["--grpc-url", "http://127.0.0.1:1", "--markets"])
        .arg(dir.path().join("markets.json"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features yellowstone"), "{err}");
    let out = Command::new(EXE)
        .args([
            "rpc-sim",
            "--listen",
            "127.0.0.1:0",
            "--ws-listen",
            "127.0.0.1:0",
        ])
        .args(["--grpc-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--features yellowstone"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
