//! Replicas through the API on real SQLite and PostgreSQL, time from a manual clock: an
//! observer bot run as N instances on N different nodes, each reporting on its own and
//! following its bot's actions and configuration; a trading bot refused; the count changed up
//! (a replica waiting for a node of its own) and down; a lost node's replica failed over only
//! to a node without another instance.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::collections::BTreeSet;

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::clock::ManualClock;
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::{call, postgres_for};

fn config(id: &str, bot_type: &str) -> Value {
    let mut cfg = sniperforge_protocol::template(bot_type.parse().unwrap());
    cfg["bot_id"] = json!(id);
    cfg["environment"] = json!("dev");
    cfg
}

async fn register(app: &axum::Router, id: &str, envs: &[&str]) {
    let node = json!({"node_id": id, "hostname": id, "cores": 8, "memory_mb": 4096,
        "backend": "process", "environments": envs, "labels": {}, "fences": true});
    let (s, body) = call(app, "POST", "/api/v1/agent/register", "adm", Some(node)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
}

async fn bot(app: &axum::Router, id: &str) -> Value {
    let (s, body) = call(app, "GET", &format!("/api/v1/bots/{id}"), "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["bot"].clone()
}

/// The bots the gateway wants on `node`.
async fn desired(app: &axum::Router, node: &str) -> Vec<Value> {
    let (s, body) = call(
        app,
        "GET",
        &format!("/api/v1/agent/desired?node_id={node}&index=0&wait_ms=0"),
        "adm",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["bots"].as_array().unwrap().clone()
}

/// Every instance of `ml` with its node.
async fn instances(app: &axum::Router) -> Vec<(String, String)> {
    let (_, list) = call(app, "GET", "/api/v1/bots", "adm", None).await;
    list["bots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["bot_id"] == "ml" || b["replica_of"] == "ml")
        .map(|b| {
            (
                b["bot_id"].as_str().unwrap().to_string(),
                b["node_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn heartbeat(app: &axum::Router, nodes: &[&str]) {
    for n in nodes {
        let (s, _) = call(
            app,
            "POST",
            "/api/v1/agent/heartbeat",
            "adm",
            Some(json!({"node_id": n})),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
}

async fn exercise(url: &str) {
    let clock = ManualClock::at(1_800_000_000_000);
    let store = Store::connect(url).await.unwrap().with_clock(clock.clone());
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let prod = [sniperforge_gateway::Environment::Prod];
    store
        .add_token("prodview", "pat", Role::Viewer, Some(&prod))
        .await
        .unwrap();
    let state = AppState::new(store)
        .await
        .unwrap()
        .with_failover_after(10_000);
    let app = router(state.clone());
    for n in ["dev-a", "dev-b", "dev-c"] {
        register(&app, n, &["dev"]).await;
    }
    register(&app, "prod-1", &["prod"]).await;

    // A trading bot stays single-writer.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(
            json!({"config": config("arb", "enhanced_arbitrage"), "node_id": "auto",
            "replicas": 2}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "replicas", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("enhanced_arbitrage bot trades and stays single-writer"),
        "{body}"
    );
    // Out of range, and cores pinned by name (no two nodes hold them alike).
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("ml", "ml_analytics"), "node_id": "auto", "replicas": 17})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let mut pinned = config("ml", "ml_analytics");
    pinned["resources"]["cores"] = json!([2]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": pinned, "node_id": "auto", "replicas": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["details"][0]["path"], "resources.cores",
        "{body}"
    );
    // Replica-shaped ids are the gateway's: no bot or configuration is created under one.
    let shaped = config("dash-r1", "real_time_dashboard");
    for (path, body) in [
        (
            "/api/v1/bots",
            json!({"config": shaped, "node_id": "dev-a"}),
        ),
        ("/api/v1/configs", json!({"config": shaped})),
    ] {
        let (s, body) = call(&app, "POST", path, "adm", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["error"]["details"][0]["path"], "bot_id", "{body}");
    }
    // A configuration history left under such an id from before (written to the store
    // directly, as an older gateway could) keeps it from a replica: the next number is taken.
    state
        .store
        .create_config(
            "dash-r1",
            "real_time_dashboard",
            sniperforge_gateway::Environment::Prod,
            &config("dash-r1", "real_time_dashboard"),
            "old",
        )
        .await
        .unwrap();
    let dash = |n: u32| json!({"config": config("dash", "real_time_dashboard"), "node_id": "auto", "replicas": n});
    // Too few ids left for 15 replicas: refused before anything is stored.
    let (s, body) = call(&app, "POST", "/api/v1/bots", "adm", Some(dash(16))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["error"]["message"],
        "bot dash has no replica id left for 15 more: dash-r1 taken (a bot or a configuration of its own)"
    );
    let (s, _) = call(&app, "GET", "/api/v1/bots/dash", "adm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // One replica: the next number.
    let (s, body) = call(&app, "POST", "/api/v1/bots", "adm", Some(dash(2))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(bot(&app, "dash-r2").await["replica_of"], "dash");
    let (s, _) = call(&app, "GET", "/api/v1/bots/dash-r1", "adm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "DELETE", "/api/v1/bots/dash", "adm", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, "GET", "/api/v1/bots/dash-r2", "adm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Three instances on the three dev nodes, prod's node left alone.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("ml", "ml_analytics"), "node_id": "auto", "replicas": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["placement"]["replicas"], 3, "{body}");
    let all = instances(&app).await;
    let ids: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["ml", "ml-r1", "ml-r2"], "{all:?}");
    let nodes: BTreeSet<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        nodes,
        BTreeSet::from(["dev-a", "dev-b", "dev-c"]),
        "{all:?}"
    );
    let r1 = bot(&app, "ml-r1").await;
    assert_eq!(r1["replica_of"], "ml");
    assert_eq!(r1["pending"], Value::Null);
    assert_eq!(r1["config_version"], 1);
    // A replica's node runs it under its own id, with its bot's configuration.
    let r1_node = r1["node_id"].as_str().unwrap().to_string();
    let here = desired(&app, &r1_node).await;
    let d = here.iter().find(|b| b["bot_id"] == "ml-r1").expect("ml-r1");
    assert_eq!(d["config"]["bot_id"], "ml-r1");
    assert_eq!(d["config"]["bot_type"], "ml_analytics");
    assert_eq!(d["config_version"], 1);
    assert_eq!(d["failover"], true, "a paper bot's replica fails over");
    assert!(desired(&app, "prod-1").await.is_empty());

    // The bot's actions reach its replicas; a replica's own reaches only it.
    let (s, body) = call(&app, "POST", "/api/v1/bots/ml/start", "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    for id in ["ml", "ml-r1", "ml-r2"] {
        assert_eq!(bot(&app, id).await["desired_state"], "running", "{id}");
    }
    let (s, body) = call(&app, "POST", "/api/v1/bots/ml-r2/restart", "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(bot(&app, "ml-r2").await["restarts"], 1);
    assert_eq!(bot(&app, "ml").await["restarts"], 0);
    // Each instance moves as its own state allows: one stopped on its own is not resumed by
    // the bot's pause, and the bot's start (illegal for the paused bot) starts it alone.
    let act = |path: &'static str| {
        let app = app.clone();
        async move { call(&app, "POST", path, "adm", None).await }
    };
    assert_eq!(act("/api/v1/bots/ml-r2/stop").await.0, StatusCode::OK);
    assert_eq!(act("/api/v1/bots/ml/pause").await.0, StatusCode::OK);
    let states = || async {
        let mut out = Vec::new();
        for id in ["ml", "ml-r1", "ml-r2"] {
            out.push(
                bot(&app, id).await["desired_state"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        out
    };
    assert_eq!(states().await, ["paused", "paused", "stopped"]);
    let (s, body) = act("/api/v1/bots/ml/start").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["desired_state"], "paused",
        "the bot's own state: {body}"
    );
    assert_eq!(states().await, ["paused", "paused", "running"]);
    assert_eq!(act("/api/v1/bots/ml/resume").await.0, StatusCode::OK);
    assert_eq!(states().await, ["running", "running", "running"]);
    // Nothing to move: refused.
    assert_eq!(act("/api/v1/bots/ml/start").await.0, StatusCode::CONFLICT);
    // A restart restarts the instances meant to run; one stopped on its own stays stopped.
    assert_eq!(act("/api/v1/bots/ml-r2/stop").await.0, StatusCode::OK);
    let before: Vec<i64> = {
        let mut v = Vec::new();
        for id in ["ml", "ml-r1", "ml-r2"] {
            v.push(bot(&app, id).await["restarts"].as_i64().unwrap());
        }
        v
    };
    assert_eq!(act("/api/v1/bots/ml/restart").await.0, StatusCode::OK);
    assert_eq!(states().await, ["running", "running", "stopped"]);
    let mut after = Vec::new();
    for id in ["ml", "ml-r1", "ml-r2"] {
        after.push(bot(&app, id).await["restarts"].as_i64().unwrap());
    }
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2]]);
    assert_eq!(act("/api/v1/bots/ml-r2/start").await.0, StatusCode::OK);
    // Each instance reports on its own.
    let report = json!({"node_id": r1_node, "bots": [{"bot_id": "ml-r1",
        "status": {"state": "running"}, "metrics": {"predictions": 7}}]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(report)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, status) = call(&app, "GET", "/api/v1/bots/ml-r1/status", "adm", None).await;
    assert_eq!(status["reported"]["status"]["state"], "running", "{status}");
    // A replica follows its bot: what changes it is refused on it.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml-r1",
        "adm",
        Some(json!({"config": config("ml-r1", "ml_analytics")})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "replica");
    assert_eq!(
        body["error"]["message"],
        "bot ml-r1 is a replica of bot ml: configure bot ml (its replicas follow)"
    );
    let (s, body) = call(&app, "DELETE", "/api/v1/bots/ml-r1", "adm", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    // Nor does a configuration route reach it: it holds none, and none can be made for it.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/configs/ml-r1",
        "adm",
        Some(config("ml-r1", "ml_analytics")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/configs",
        "adm",
        Some(json!({"config": config("ml-r1", "ml_analytics")})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml-r1/replicas",
        "adm",
        Some(json!({"replicas": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    // A configuration history under a replica's id (left by a gateway from before ids were
    // kept; written to the store directly) reaches neither the replica nor, from another
    // environment, anything of it: not by a write, not in a scoped audit.
    let mut old_dev = config("ml-r1", "ml_analytics");
    state
        .store
        .create_config(
            "ml-r1",
            "ml_analytics",
            sniperforge_gateway::Environment::Dev,
            &old_dev,
            "old",
        )
        .await
        .unwrap();
    old_dev["parameters"]["models"]["prediction_horizon_minutes"] = json!(20);
    let (s, body) = call(&app, "PUT", "/api/v1/configs/ml-r1", "adm", Some(old_dev)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "replica");
    let mut old_prod = config("ml-r2", "ml_analytics");
    old_prod["environment"] = json!("prod");
    state
        .store
        .create_config(
            "ml-r2",
            "ml_analytics",
            sniperforge_gateway::Environment::Prod,
            &old_prod,
            "old",
        )
        .await
        .unwrap();
    let (s, body) = call(&app, "PUT", "/api/v1/configs/ml-r2", "adm", Some(old_prod)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "prodview", None).await;
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target"] != "ml-r2"),
        "a prod viewer sees nothing of dev's ml-r2: {audit}"
    );

    // The bot's new configuration is its replicas' too.
    let mut v2 = config("ml", "ml_analytics");
    v2["parameters"]["models"]["prediction_horizon_minutes"] = json!(30);
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml",
        "adm",
        Some(json!({"config": v2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(bot(&app, "ml-r2").await["config_version"], 2);
    let d = desired(&app, &r1_node).await;
    let d = d.iter().find(|b| b["bot_id"] == "ml-r1").unwrap();
    assert_eq!(d["config_version"], 2);
    assert_eq!(
        d["config"]["parameters"]["models"]["prediction_horizon_minutes"],
        30
    );

    // A fourth instance has no dev node of its own: it waits, with the reason.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml/replicas",
        "adm",
        Some(json!({"replicas": 4})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["added"], json!(["ml-r3"]), "{body}");
    let r3 = bot(&app, "ml-r3").await;
    assert_eq!(
        r3["desired_state"], "running",
        "a new replica runs as its bot"
    );
    assert_eq!(
        r3["pending"],
        "no node serving dev can take it: dev-a: runs another instance of it; \
         dev-b: runs another instance of it; dev-c: runs another instance of it"
    );
    // A node that can take it registers: the next pass places it there.
    register(&app, "dev-d", &["dev"]).await;
    state.place_and_fail_over().await.unwrap();
    assert_eq!(bot(&app, "ml-r3").await["node_id"], "dev-d");

    // r1's node goes silent past the window: every other dev node runs an instance, so r1
    // waits; scaled down to 3, the instance that runs nowhere is the one removed.
    let others: Vec<&str> = ["dev-a", "dev-b", "dev-c", "dev-d", "prod-1"]
        .into_iter()
        .filter(|n| *n != r1_node)
        .collect();
    for _ in 0..3 {
        clock.advance(4_000);
        heartbeat(&app, &others).await;
    }
    state.place_and_fail_over().await.unwrap();
    let r1 = bot(&app, "ml-r1").await;
    assert_eq!(r1["node_id"], "", "{r1}");
    let why = r1["pending"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "node {r1_node} is lost; no node serving dev can take it:"
        )),
        "{why}"
    );
    assert!(why.contains("dev-d: runs another instance of it"), "{why}");
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml/replicas",
        "adm",
        Some(json!({"replicas": 3})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["removed"], json!(["ml-r1"]), "{body}");
    assert_eq!(body["instances"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(body["instances"][0]["bot_id"], "ml", "the bot first");
    assert_eq!(
        bot(&app, "ml-r3").await["node_id"],
        "dev-d",
        "kept where it runs"
    );
    let (s, _) = call(&app, "GET", "/api/v1/bots/ml-r1", "adm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        state.store.bot_report("ml-r1").await.unwrap(),
        None,
        "its last report went with it"
    );
    // Back to 4: the lowest number free (ml-r1 now has a configuration history from before,
    // so ml-r4), waiting for a node of its own.
    let (_, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml/replicas",
        "adm",
        Some(json!({"replicas": 4})),
    )
    .await;
    assert_eq!(body["added"], json!(["ml-r4"]), "{body}");
    let (_, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/ml/replicas",
        "adm",
        Some(json!({"replicas": 3})),
    )
    .await;
    assert_eq!(body["removed"], json!(["ml-r4"]), "{body}");
    let nodes: BTreeSet<String> = instances(&app).await.into_iter().map(|(_, n)| n).collect();
    assert_eq!(nodes.len(), 3, "still three different nodes: {nodes:?}");
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "adm", None).await;
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "bot.scale" && e["target"] == "ml" && e["details"]["to"] == 3),
        "{audit}"
    );

    // Deleting the bot deletes its replicas and their reports.
    let r2 = bot(&app, "ml-r2").await;
    let report = json!({"node_id": r2["node_id"], "bots": [{"bot_id": "ml-r2",
        "status": {"state": "running"}, "metrics": {}}]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(report)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(state.store.bot_report("ml-r2").await.unwrap().is_some());
    let (s, _) = call(&app, "POST", "/api/v1/bots/ml/stop", "adm", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(&app, "DELETE", "/api/v1/bots/ml", "adm", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert!(instances(&app).await.is_empty());
    assert_eq!(state.store.bot_report("ml-r2").await.unwrap(), None);
}

#[tokio::test]
async fn replicas_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn replicas_on_postgres() {
    let Some((_pg, url)) = postgres_for("replicas_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
