//! End-to-end tests of `sniperforge backtest`: a configuration over a real recording (made by
//! `sniperforge record`), the same files byte for byte on a second run, a parameter sweep's
//! grid and table, and clear refusals of what cannot run; and backtests a real gateway queues on
//! a real agent's node (`POST /api/v1/backtests`), whose reports match the CLI's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

mod common;
use common::{Gateway, Reap, start_agent, wait_for};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sniperforge"))
}

fn run(args: &[&str], dir: &Path) -> Output {
    bin().args(args).current_dir(dir).output().unwrap()
}

fn ok(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

/// A recording of the simulator and a triangular configuration beside it.
fn setup(dir: &Path) {
    ok(&run(
        &["record", "--out", "m.sfrec", "--updates", "20000"],
        dir,
    ));
    let template = ok(&run(&["config", "template", "triangular_arbitrage"], dir));
    std::fs::write(dir.join("c.json"), template).unwrap();
}

#[test]
fn a_backtest_reports_the_same_bytes_twice_and_a_sweep_tabulates_its_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    for out in ["a", "b"] {
        ok(&run(
            &[
                "backtest",
                "--config",
                "c.json",
                "--replay",
                "m.sfrec",
                "--out",
                out,
                "--latency-us",
                "0",
            ],
            dir,
        ));
    }
    for file in ["report.json", "report.md", "pnl.svg"] {
        let (a, b) = (
            std::fs::read(dir.join("a").join(file)).unwrap(),
            std::fs::read(dir.join("b").join(file)).unwrap(),
        );
        assert!(a == b, "{file} differs between two runs");
    }
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.join("a/report.json")).unwrap()).unwrap();
    assert_eq!(report["updates"], 20_000, "{report}");
    assert_eq!(report["latency_model_us"], 0);
    let trades = report["trades"].as_u64().unwrap();
    assert!(trades > 0, "no trades on the recording: {report}");
    let (wins, losses, failed) = (
        report["wins"].as_u64().unwrap(),
        report["losses"].as_u64().unwrap(),
        report["failed"].as_u64().unwrap(),
    );
    assert!(wins + losses + failed <= trades, "{report}");
    assert!(report["opportunities_seen"].as_u64().unwrap() >= trades);
    // Every gate counted by its name; what they stopped and what was ordered make up what was seen.
    let rejected = report["rejected"].as_object().unwrap();
    assert_eq!(
        rejected.keys().collect::<Vec<_>>(),
        [
            "concurrency",
            "confidence",
            "profit_absolute",
            "profit_bps",
            "stale_state"
        ]
    );
    let stopped: u64 = rejected.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(
        report["opportunities_seen"].as_u64().unwrap(),
        report["orders"].as_u64().unwrap() + stopped,
        "{report}"
    );
    assert_eq!(report["latency_us"]["decision_to_fill"]["max"], 0);
    // The report's PnL is the sum of the fills it journaled.
    let fills = std::fs::read_to_string(dir.join("a/fills.jsonl")).unwrap();
    let sum: f64 = fills
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["pnl_usd"]
                .as_f64()
                .unwrap()
        })
        .sum();
    assert!(
        (report["pnl_usd"].as_f64().unwrap() - sum).abs() < 1e-9,
        "{sum} {report}"
    );
    assert_eq!(fills.lines().count() as u64, trades);
    let md = std::fs::read_to_string(dir.join("a/report.md")).unwrap();
    assert!(
        md.contains("| win rate |") && md.contains("## Routes"),
        "{md}"
    );
    let svg = std::fs::read_to_string(dir.join("a/pnl.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    let timing: Value =
        serde_json::from_slice(&std::fs::read(dir.join("a/timing.json")).unwrap()).unwrap();
    assert!(timing["wall_ms"].is_u64() && timing["updates_per_s"].as_f64().unwrap() > 0.0);
    assert!(!dir.join("a/.state").exists(), "the run's state is removed");

    // A sweep: two parameters, a grid of four runs, tabulated.
    let text = ok(&run(
        &[
            "backtest",
            "--config",
            "c.json",
            "--replay",
            "m.sfrec",
            "--out",
            "sw",
            "--sweep",
            "trading.min_profit_bps=1,20",
            "--sweep",
            "execution.paper_latency_us=0,400",
        ],
        dir,
    ));
    let table: Value =
        serde_json::from_slice(&std::fs::read(dir.join("sw/sweep.json")).unwrap()).unwrap();
    let rows = table.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(rows[1]["params"]["execution.paper_latency_us"], 400);
    assert_eq!(rows[1]["params"]["trading.min_profit_bps"], 1);
    for row in rows {
        let d = dir.join("sw").join(row["dir"].as_str().unwrap());
        let r: Value =
            serde_json::from_slice(&std::fs::read(d.join("report.json")).unwrap()).unwrap();
        assert_eq!(r["params"], row["params"]);
        assert_eq!(r["pnl_usd"], row["pnl_usd"]);
    }
    // The run at 0 µs and 1 bps is the first run above, byte for byte.
    assert_eq!(rows[0]["pnl_usd"], report["pnl_usd"]);
    let md = std::fs::read_to_string(dir.join("sw/sweep.md")).unwrap();
    assert_eq!(md.matches("/report.md)").count(), 4, "{md}");
    assert_eq!(md.matches("**best**").count(), 1, "{md}");
}

#[test]
fn what_cannot_run_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    let ml = ok(&run(&["config", "template", "ml_analytics"], dir));
    std::fs::write(dir.join("ml.json"), ml).unwrap();
    std::fs::write(dir.join("junk.sfrec"), b"not a recording, but long enough").unwrap();
    std::fs::write(dir.join("short.sfrec"), b"SFREC").unwrap();
    for (args, expect) in [
        (
            vec!["--config", "ml.json", "--replay", "m.sfrec"],
            "a backtest runs the types that trade",
        ),
        (
            vec!["--config", "c.json", "--replay", "junk.sfrec"],
            "not a SniperForge recording",
        ),
        (
            vec!["--config", "c.json", "--replay", "missing.sfrec"],
            "missing.sfrec",
        ),
        (
            vec![
                "--config",
                "c.json",
                "--replay",
                "m.sfrec",
                "--sweep",
                "trading.nope=1",
            ],
            "trading.nope: no such parameter",
        ),
        (
            vec![
                "--config",
                "c.json",
                "--replay",
                "m.sfrec",
                "--sweep",
                "trading.min_profit_bps=10,-5",
            ],
            "the run with trading.min_profit_bps=-5: trading.min_profit_bps",
        ),
        (
            vec![
                "--config",
                "c.json",
                "--replay",
                "m.sfrec",
                "--latency-us",
                "5",
                "--sweep",
                "execution.paper_latency_us=0,400",
            ],
            "give one",
        ),
        (
            vec!["--config", "nothere.json", "--replay", "m.sfrec"],
            "nothere.json",
        ),
    ] {
        let mut all = vec!["backtest", "--out", "o"];
        all.extend(args.iter().copied());
        let out = run(&all, dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} ran");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
}

#[test]
fn a_node_runs_the_backtests_the_gateway_queues_and_reports_what_the_cli_does() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    setup(dir);
    // The report the CLI writes here, to compare with the node's.
    ok(&run(
        &[
            "backtest",
            "--config",
            "c.json",
            "--replay",
            "m.sfrec",
            "--out",
            "local",
            "--latency-us",
            "0",
        ],
        dir,
    ));
    let gw = Gateway::start(dir);
    let node_dir = dir.join("node");
    let _reap = Reap(node_dir.clone());
    std::fs::create_dir_all(node_dir.join("recordings")).unwrap();
    std::fs::copy(dir.join("m.sfrec"), node_dir.join("recordings/m.sfrec")).unwrap();
    let mut agent = start_agent(&gw, &node_dir, "n1", &[]);
    let t = std::time::Duration::from_secs(60);
    // The node registers and lists the recording it holds: its size, and when it was written.
    let size = std::fs::metadata(dir.join("m.sfrec")).unwrap().len();
    wait_for("the node listed its recording", t, || {
        let nodes = gw.ok("GET", "/api/v1/nodes", &Value::Null);
        let node = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node_id"] == "n1")?
            .clone();
        let held = node["recordings"].as_array()?.first()?.clone();
        (held["name"] == "m.sfrec" && held["bytes"] == size && held["modified_ms"].as_u64()? > 0)
            .then_some(())
    });
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("c.json")).unwrap()).unwrap();
    let ask = |body: Value| -> String {
        let (status, b) = gw.call("POST", "/api/v1/backtests", &body);
        assert_eq!(status, 202, "{b}");
        assert_eq!(b["state"], "queued", "{b}");
        b["backtest_id"].as_str().unwrap().to_string()
    };
    let finished = |id: &str| -> Value {
        wait_for("the backtest finished", t, || {
            let b = gw.ok("GET", &format!("/api/v1/backtests/{id}"), &Value::Null);
            (b["state"] == "done" || b["state"] == "failed").then_some(b)
        })
    };
    let one =
        ask(json!({"node_id": "n1", "recording": "m.sfrec", "config": config, "latency_us": 0}));
    let swept = ask(
        json!({"node_id": "n1", "recording": "m.sfrec", "config": config,
        "sweep": ["trading.min_profit_bps=1,20"]}),
    );
    let missing = ask(json!({"node_id": "n1", "recording": "gone.sfrec", "config": config}));
    let b = finished(&one);
    assert_eq!(b["state"], "done", "{b}");
    let local: Value =
        serde_json::from_slice(&std::fs::read(dir.join("local/report.json")).unwrap()).unwrap();
    assert_eq!(b["report"], local, "the node's report is the CLI's");
    assert_eq!(
        b["report_md"].as_str().unwrap(),
        std::fs::read_to_string(dir.join("local/report.md")).unwrap()
    );
    assert_eq!(
        b["pnl_svg"].as_str().unwrap(),
        std::fs::read_to_string(dir.join("local/pnl.svg")).unwrap()
    );
    assert!(b["timing"]["wall_ms"].is_u64(), "{b}");
    let b = finished(&swept);
    assert_eq!(b["state"], "done", "{b}");
    assert_eq!(b["report"].as_array().unwrap().len(), 2, "{b}");
    assert!(b["report_md"].as_str().unwrap().contains("**best**"), "{b}");
    let b = finished(&missing);
    assert_eq!(b["state"], "failed", "{b}");
    assert!(
        b["error"]
            .as_str()
            .unwrap()
            .contains("recording gone.sfrec: no such file"),
        "{b}"
    );
    // The listing has all three, newest first, without their Markdown.
    let list = gw.ok("GET", "/api/v1/backtests", &Value::Null);
    let listed = list["backtests"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{list}");
    assert!(
        listed.iter().all(|b| b.get("report_md").is_none()),
        "{list}"
    );
    // Refused at the field before anything is queued.
    for (body, field) in [
        (
            json!({"node_id": "n1", "recording": "../m.sfrec", "config": config}),
            "recording",
        ),
        (
            json!({"node_id": "nope", "recording": "m.sfrec", "config": config}),
            "node_id",
        ),
        (
            json!({"node_id": "n1", "recording": "m.sfrec", "config": config, "sweep": ["x"]}),
            "sweep[0]",
        ),
        (
            json!({"node_id": "n1", "recording": "m.sfrec", "config": config, "latency_us": 2_000_000}),
            "latency_us",
        ),
    ] {
        let (status, b) = gw.call("POST", "/api/v1/backtests", &body);
        assert_eq!(status, 400, "{body}: {b}");
        assert_eq!(b["error"]["details"][0]["path"], field, "{b}");
    }
    let ml = common::template("ml_analytics");
    let (status, b) = gw.call(
        "POST",
        "/api/v1/backtests",
        &json!({"node_id": "n1", "recording": "m.sfrec", "config": ml}),
    );
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["details"][0]["path"], "config.bot_type", "{b}");
    // The node's work directories go once the gateway has the results.
    wait_for("the work directories removed", t, || {
        std::fs::read_dir(node_dir.join("agent/backtests"))
            .map_or(true, |mut d| d.next().is_none())
            .then_some(())
    });
    let _ = agent.terminate(std::time::Duration::from_secs(10));
}
