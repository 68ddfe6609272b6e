//! `sniperforge up` end to end: the binary on a free port in a temporary directory; through
//! the API every demo bot runs, trades are booked, latency is merged at the gateway, a config
//! change is applied; SIGINT stops everything leaving no process; a second start resumes the
//! same fleet and history.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use common::{
    DEMO_BOTS as BOTS, LogsOnFailure, T, alive, bot_pids_under, free_port, pid_of, until, up,
    wait_demo_fleet, wait_for,
};
use serde_json::{Value, json};

#[test]
fn up_runs_the_fleet_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let _logs = LogsOnFailure(data.clone());
    let (mut proc, gw) = up(&data, port);
    wait_demo_fleet(&gw);
    wait_for("trades booked", T, || {
        BOTS.iter()
            .any(|id| {
                gw.ok("GET", &format!("/api/v1/bots/{id}/metrics"), &Value::Null)["metrics"]["trades_executed"]
                    .as_u64()
                    .unwrap_or(0)
                    > 0
            })
            .then_some(())
    });
    // The dashboard's market view and the portfolio manager's books (fed by the arbitrage
    // bots' fill journals) reach the gateway in their reported status.
    wait_for("the cross-chain bot's venue quotes", T, || {
        let book = gw.reported("demo-cross-chain-arbitrage")["outputs"]["cross_chain"].clone();
        (book["pairs"][0]["venue"]["bid"].as_f64()? > 0.0).then_some(())
    });
    wait_for("the market view and the books", T, || {
        let market = gw.reported("demo-real-time-dashboard")["outputs"]["market"].clone();
        let book = gw.reported("demo-portfolio-manager")["outputs"]["portfolio"].clone();
        (market["pairs"].as_array()?.len() == 4
            && book["bots"]
                .as_object()?
                .values()
                .any(|b| b["fills"].as_u64().unwrap_or(0) > 0))
        .then_some(())
    });
    wait_for("latency merged at the gateway", T, || {
        let m = gw.ok("GET", "/api/v1/system/metrics", &Value::Null);
        (m["latency_ns"]["decided"]["count"].as_u64()? > 0).then_some(())
    });

    // Secrets, books, logs and the database are the owner's alone; the agent holds a token
    // bound to its node, not the admin's.
    let id = BOTS[0];
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(p)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .permissions(),
        ) & 0o777
    };
    for file in [
        "gateway.db".to_string(),
        "admin.token".into(),
        "agent.token".into(),
        format!("node/bots/{id}/control.secret"),
        format!("node/bots/{id}/config.json"),
        format!("node/logs/{id}.log"),
        format!("node/agent/bots/{id}.json"),
    ] {
        assert_eq!(mode(&data.join(&file)), 0o600, "{file}");
    }
    let agent_token = std::fs::read_to_string(data.join("agent.token")).unwrap();
    let (code, _) = common::http(
        &format!("127.0.0.1:{port}"),
        "GET",
        "/api/v1/bots",
        Some(&agent_token),
        "",
    );
    assert_eq!(code, 403);

    // A hot change reaches the bot.
    let mut cfg = gw.ok("GET", &format!("/api/v1/configs/{id}"), &Value::Null)["body"].clone();
    assert!(cfg.is_object(), "{cfg}");
    cfg["parameters"]["trading"]["min_profit_bps"] = json!(33);
    gw.ok("PUT", &format!("/api/v1/configs/{id}"), &cfg);
    let s = until(&gw, id, "config v2 applied", |s| s["config_version"] == 2);
    let port_of_bot = s["control_port"].as_u64().unwrap();
    wait_for("the bot to apply it", T, || {
        let secret =
            std::fs::read_to_string(data.join(format!("node/bots/{id}/control.secret"))).ok()?;
        let (_, body) = common::http(
            &format!("127.0.0.1:{port_of_bot}"),
            "GET",
            "/status",
            Some(&secret),
            "",
        );
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["config"]["parameters"]["trading"]["min_profit_bps"] == 33).then_some(())
    });
    let pids: Vec<u64> = BOTS.iter().map(|id| pid_of(&gw.reported(id))).collect();
    assert!(pids.iter().all(|p| *p > 0));

    // SIGINT: everything stops, nothing is left.
    let up_pid = proc.pid();
    common::signal(up_pid, "INT");
    let code = wait_for("up to exit", T, || proc.child.try_wait().ok().flatten());
    assert_eq!(code.code(), Some(0));
    for p in &pids {
        assert!(!alive(*p as u32), "bot {p} left running");
    }
    assert!(bot_pids_under(&data).is_empty(), "no bot process left");
    assert!(
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).is_err(),
        "gateway gone"
    );

    // A second start resumes: the same bots, their config history, running again.
    let (mut proc, gw) = up(&data, port);
    let bots = gw.ok("GET", "/api/v1/bots", &Value::Null);
    assert_eq!(bots["bots"].as_array().unwrap().len(), BOTS.len(), "{bots}");
    let v = gw.ok("GET", &format!("/api/v1/configs/{id}"), &Value::Null);
    assert_eq!(v["version"], 2, "{v}");
    for id in BOTS {
        until(&gw, id, "running again", |s| {
            s["state"] == "running" && !pids.contains(&pid_of(s))
        });
    }
    common::signal(proc.pid(), "TERM");
    let code = wait_for("up to exit", T, || proc.child.try_wait().ok().flatten());
    assert_eq!(code.code(), Some(0));
    assert!(bot_pids_under(&data).is_empty(), "no bot process left");
}
