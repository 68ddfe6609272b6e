//! The contract test: schemathesis, a property-based tester, reads `/api/v1/openapi.json` from
//! a live gateway (real sockets, SQLite, a few bots, a node and a report already there) and
//! sends every operation bodies, queries and paths generated from the document, valid and
//! invalid. It fails on any 5xx, on an answer whose status, content type or body the document
//! does not describe, and on a request the document forbids that the gateway accepts.
//!
//! schemathesis comes from PyPI (`.ci/run` installs it into `$HOME/.cache/sniperforge-venv`);
//! `SCHEMATHESIS=/path/to/st` names another. Without it the test fails under `CI` and says
//! how to install it elsewhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::call;

/// The schemathesis command: `$SCHEMATHESIS`, or the CI venv's (never whatever `st` is on the
/// PATH).
fn schemathesis() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SCHEMATHESIS") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/sniperforge-venv/bin/st"))
        .filter(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_gateway_answers_what_its_openapi_document_says() {
    let Some(st) = schemathesis() else {
        sniperforge_testkit::skip_unless_ci(
            "contract",
            "schemathesis is not installed (python3 -m venv ~/.cache/sniperforge-venv && \
             ~/.cache/sniperforge-venv/bin/pip install schemathesis==4.32.5, as .ci/run does, or \
             SCHEMATHESIS=path/to/st)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    // A fresh token: the server listens on loopback for the whole run.
    let adm = sniperforge_gateway::store::new_token();
    store
        .add_token(&adm, "admin", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store).await.unwrap());

    // Something to read: a bot of each of two types, a node, a report with counters.
    for (t, id) in [
        ("enhanced_arbitrage", "arb-1"),
        ("real_time_dashboard", "dash-1"),
    ] {
        let (_, mut config) = call(
            &app,
            "GET",
            &format!("/api/v1/configs/templates/{t}"),
            &adm,
            None,
        )
        .await;
        config["bot_id"] = json!(id);
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/bots",
            &adm,
            Some(json!({"config": config, "node_id": "n1"})),
        )
        .await;
        assert_eq!(s, 201, "{body}");
    }
    let (s, body) = call(&app, "POST", "/api/v1/agent/register", &adm,
        Some(json!({"node_id": "n1", "hostname": "h", "cores": 4, "memory_mb": 1024, "backend": "process"}))).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", &adm,
        Some(json!({"node_id": "n1", "bots": [{"bot_id": "arb-1", "status": {"state": "running", "pid": 7}, "metrics": {"trades": 3}, "logs": ["started"]}]}))).await;
    assert_eq!(s, 200, "{body}");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = sniperforge_gateway::serve::Limits {
        request: Duration::from_secs(20),
        ..Default::default()
    };
    let server = tokio::spawn(sniperforge_gateway::serve::serve(
        listener,
        app,
        None,
        limits,
        std::future::pending::<()>(),
    ));

    let report = dir.path().join("report");
    let work = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(st)
            .arg("--config-file")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/contract.toml"))
            .arg("--no-color")
            .arg("run")
            .arg(format!("http://{addr}/api/v1/openapi.json"))
            .args(["-H", &format!("Authorization: Bearer {adm}")])
            .args(["--max-examples", "30", "--seed", "20261205"])
            // One worker: with two, hypothesis describes filter lambdas with `ast.parse` on two
            // threads at once, and CPython 3.11's AST constructor keeps its recursion depth in
            // state the threads share (SystemError "AST constructor recursion depth mismatch",
            // a crash of the tool about 2 runs in 5, not an answer of the gateway's).
            .args(["--request-timeout", "15", "--workers", "1"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--warnings", "off"])
            .arg("--report-dir")
            .arg(&report)
            // Its cache of failures lives in the working directory: the temporary one.
            .current_dir(&work)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .expect("running schemathesis")
    })
    .await
    .unwrap();
    server.abort();
    // Lines cut at 2,000 characters: a failing example can be megabytes.
    for stream in [&out.stdout, &out.stderr] {
        for line in String::from_utf8_lossy(stream).lines() {
            let cut: String = line.chars().take(2_000).collect();
            println!("{cut}");
        }
    }
    assert!(
        out.status.success(),
        "schemathesis found answers the document does not describe (output above)"
    );
}
