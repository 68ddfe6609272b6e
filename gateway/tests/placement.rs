//! Placement through the API on real SQLite and PostgreSQL, time from a manual clock: bots
//! placed by environment, labels and free cores; the core ledger refusing overlaps; pending bots
//! placed once a node can take them; the paper bots of a lost node failed over, live ones left.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::clock::ManualClock;
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::{call, postgres_for};

fn config(id: &str, env: &str) -> Value {
    let mut cfg = sniperforge_protocol::template("enhanced_arbitrage".parse().unwrap());
    cfg["bot_id"] = json!(id);
    cfg["environment"] = json!(env);
    cfg
}

async fn register(app: &axum::Router, id: &str, cores: u32, envs: &[&str], labels: Value) {
    let node = json!({"node_id": id, "hostname": id, "cores": cores, "memory_mb": 4096,
        "backend": "process", "environments": envs, "labels": labels, "fences": true});
    let (s, body) = call(app, "POST", "/api/v1/agent/register", "adm", Some(node)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn bot(app: &axum::Router, id: &str) -> Value {
    let (s, body) = call(app, "GET", &format!("/api/v1/bots/{id}"), "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["bot"].clone()
}

async fn exercise(url: &str) {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = Store::connect(url).await.unwrap().with_clock(clock.clone());
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let state = AppState::new(store)
        .await
        .unwrap()
        .with_failover_after(10_000);
    let app = router(state.clone());
    register(&app, "ny-1", 8, &["prod"], json!({"region": "ny"})).await;
    register(&app, "ams-1", 16, &["prod"], json!({"region": "ams"})).await;
    register(&app, "dev-1", 16, &["dev"], json!({"region": "ny"})).await;

    // Auto: a prod node in ny with 2 free cores; the gateway chooses them.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("a1", "prod"), "node_id": "auto",
            "labels": {"region": "ny"}, "cores": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["node_id"], "ny-1", "{body}");
    assert_eq!(body["bot"]["cores"], json!([1, 2]));
    assert_eq!(body["bot"]["pending"], Value::Null);
    assert_eq!(
        body["bot"]["placement"]["failover"], true,
        "paper: fails over"
    );
    // The node is sent the bot with those cores in its configuration.
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=ny-1&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert_eq!(desired["bots"][0]["bot_id"], "a1", "{desired}");
    assert_eq!(
        desired["bots"][0]["config"]["resources"]["cores"],
        json!([1, 2])
    );
    assert_eq!(desired["bots"][0]["failover"], true);
    assert_eq!(desired["fence_ms"], 5_000, "half the failover window");

    // The ledger: a bot pinning a held core on a named node is refused, naming the holder.
    let mut pinned = config("p1", "prod");
    pinned["resources"]["cores"] = json!([2, 5]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": pinned, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cores_reserved");
    assert_eq!(
        body["error"]["message"],
        "bot p1 on node ny-1: node ny-1 core 2 is held by bot a1"
    );
    pinned["resources"]["cores"] = json!([5]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": pinned, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["cores"], json!([5]));
    // Moving p1 onto a1's cores by a new configuration is refused the same way.
    let mut onto = pinned.clone();
    onto["resources"]["cores"] = json!([1]);
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/p1",
        "adm",
        Some(json!({"config": onto})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "cores_reserved");
    onto["resources"]["cores"] = json!([6]);
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/p1",
        "adm",
        Some(json!({"config": onto})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(bot(&app, "p1").await["cores"], json!([6]));
    // Asking the gateway for cores and pinning some is one too many.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": pinned, "node_id": "auto", "cores": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // No node can take it: pending, with the reason node by node.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("w1", "prod"), "node_id": "auto",
            "labels": {"region": "ny"}, "cores": 6})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["node_id"], "");
    assert_eq!(
        body["bot"]["pending"],
        "no node serving prod can take it: ams-1: lacks label region=ny; \
         ny-1: 4 free core(s), 6 needed"
    );
    // A node that can take it registers: the next placement pass places it.
    register(&app, "ny-2", 16, &["prod"], json!({"region": "ny"})).await;
    state.place_and_fail_over().await.unwrap();
    let w1 = bot(&app, "w1").await;
    assert_eq!(w1["node_id"], "ny-2", "{w1}");
    assert_eq!(w1["pending"], Value::Null);
    assert_eq!(w1["cores"], json!([1, 2, 3, 4, 5, 6]));

    // A live bot: no failover unless asked.
    let mut live = config("l1", "prod");
    live["parameters"]["execution"]["simulation_mode"] = json!(false);
    live["parameters"]["execution"]["auto_execute"] = json!(true);
    live["parameters"]["execution"]["keypair_path"] = json!("/etc/sniperforge/key.json");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": live, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["placement"]["failover"], false);

    // Bots meant to run (a stopped one would stay where it is).
    for id in ["a1", "p1", "w1", "l1"] {
        let (s, body) = call(
            &app,
            "POST",
            &format!("/api/v1/bots/{id}/start"),
            "adm",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // ny-1 goes silent past the window; the others keep reporting.
    for _ in 0..3 {
        clock.advance(4_000);
        for n in ["ams-1", "dev-1", "ny-2"] {
            let (s, _) = call(
                &app,
                "POST",
                "/api/v1/agent/heartbeat",
                "adm",
                Some(json!({"node_id": n})),
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
    }
    state.place_and_fail_over().await.unwrap();
    // a1 (ny, 2 cores) moves to ny-2, the other ny node, on the cores w1 left free.
    let a1 = bot(&app, "a1").await;
    assert_eq!(a1["node_id"], "ny-2", "{a1}");
    assert_eq!(a1["cores"], json!([7, 8]));
    // p1 pins core 6 (held by w1 on ny-2): it fails over to ams-1.
    let p1 = bot(&app, "p1").await;
    assert_eq!(p1["node_id"], "ams-1", "{p1}");
    assert_eq!(p1["cores"], json!([6]));
    // The live bot stays with its node.
    assert_eq!(bot(&app, "l1").await["node_id"], "ny-1");
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "adm", None).await;
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "bot.failover"
                && e["target"] == "a1"
                && e["details"]["from"] == "ny-1"),
        "{audit}"
    );
    // A node registering again with other environments: its bot of a dropped one moves, or
    // waits with the reason.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("d1", "dev"), "node_id": "dev-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    register(&app, "dev-1", 16, &["test"], json!({"region": "ny"})).await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(
        bot(&app, "d1").await["pending"],
        "node dev-1 no longer serves dev; no node serves dev"
    );
    // A paper bot that turns live trading on stops failing over (it was not asked to).
    let mut turned = config("w1", "prod");
    turned["parameters"]["execution"]["simulation_mode"] = json!(false);
    turned["parameters"]["execution"]["auto_execute"] = json!(true);
    turned["parameters"]["execution"]["keypair_path"] = json!("/etc/sniperforge/key.json");
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/w1",
        "adm",
        Some(json!({"config": turned})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(bot(&app, "w1").await["placement"]["failover"], false);

    // ny-1's desired state no longer holds them.
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=ny-1&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    let ids: Vec<&str> = desired["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["l1"]);
}

/// A node's own failover window: its bots fail over after it, not the gateway's; its lease is
/// half of it; re-registering with a shorter one keeps the longer one until a whole old window
/// has passed.
async fn node_windows(url: &str) {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = Store::connect(url).await.unwrap().with_clock(clock.clone());
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let state = AppState::new(store)
        .await
        .unwrap()
        .with_failover_after(30_000);
    let app = router(state.clone());
    let node = |id: &str, window: Option<u32>| {
        json!({"node_id": id, "hostname": id, "cores": 8, "memory_mb": 4096, "backend": "process",
            "fences": true, "failover_after_s": window})
    };
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/agent/register",
        "adm",
        Some(node("near", Some(90_000))),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "failover_after_s");
    for (id, window) in [("near", Some(4)), ("far", None)] {
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/agent/register",
            "adm",
            Some(node(id, window)),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (_, nodes) = call(&app, "GET", "/api/v1/nodes", "adm", None).await;
    assert_eq!(nodes["nodes"][1]["failover_after_ms"], 4_000, "{nodes}");
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=near&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert_eq!(desired["fence_ms"], 2_000, "half its own window");
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=far&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert_eq!(desired["fence_ms"], 15_000, "half the gateway's");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("n1", "dev"), "node_id": "near"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    call(&app, "POST", "/api/v1/bots/n1/start", "adm", None).await;
    // Past the gateway's first window, `near` silent for 5 s: lost after its own 4 s.
    clock.advance(31_000);
    let beat = |id: &'static str| {
        let app = app.clone();
        async move {
            let (s, _) = call(
                &app,
                "POST",
                "/api/v1/agent/heartbeat",
                "adm",
                Some(json!({"node_id": id})),
            )
            .await;
            assert_eq!(s, StatusCode::OK);
        }
    };
    beat("near").await;
    beat("far").await;
    clock.advance(5_000);
    beat("far").await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(bot(&app, "n1").await["node_id"], "far");
    // `far` comes back with 4 s (it had the gateway's 30 s): for 30 s, 30 s still holds.
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/agent/register",
        "adm",
        Some(node("far", Some(4))),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    beat("near").await;
    clock.advance(10_000);
    beat("near").await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(
        bot(&app, "n1").await["node_id"],
        "far",
        "the old window holds"
    );
    clock.advance(21_000);
    beat("near").await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(bot(&app, "n1").await["node_id"], "near", "then its own 4 s");
}

/// A scoped caller's audit trail never names the bot of another environment that holds a core
/// (a pending reason), and it holds what was done to its bots.
async fn holders_hidden_in_audit(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let prod = [sniperforge_gateway::store::Environment::Prod];
    store
        .add_token("prodview", "pat", Role::Viewer, Some(&prod))
        .await
        .unwrap();
    let state = AppState::new(store).await.unwrap();
    let app = router(state.clone());
    // Both wait for node mix, which has not registered, for core 1.
    for (id, env) in [("dd", "dev"), ("pp", "prod")] {
        let mut c = config(id, env);
        c["resources"]["cores"] = json!([1]);
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/bots",
            "adm",
            Some(json!({"config": c, "node_id": "mix"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    register(&app, "mix", 4, &["dev", "prod"], json!({})).await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(
        bot(&app, "pp").await["pending"],
        "node mix core 1 is held by bot dd"
    );
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "prodview", None).await;
    let entries = audit["audit"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["target"] == "pp"), "{audit}");
    let placed = entries
        .iter()
        .find(|e| e["action"] == "bot.place")
        .expect("pp's placement pass");
    assert_eq!(
        placed["details"]["pending"],
        "node mix core 1 is held by another bot"
    );
}

#[tokio::test]
async fn holders_hidden_in_audit_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    holders_hidden_in_audit(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn holders_hidden_in_audit_on_postgres() {
    let Some((_pg, url)) = postgres_for("holders_hidden_in_audit_on_postgres") else {
        return;
    };
    holders_hidden_in_audit(&url).await;
}

#[tokio::test]
async fn node_windows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    node_windows(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn node_windows_on_postgres() {
    let Some((_pg, url)) = postgres_for("node_windows_on_postgres") else {
        return;
    };
    node_windows(&url).await;
}

#[tokio::test]
async fn placement_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn placement_on_postgres() {
    let Some((_pg, url)) = postgres_for("placement_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
