//! The gateway API through `oneshot` (no socket) on real SQLite, and on a throwaway PostgreSQL
//! cluster when the server binaries are installed (`initdb`; CI installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, Store, router};
use tower::ServiceExt;

mod common;
use common::{call_as as call, call_with, postgres_for};

fn template(t: &str) -> Value {
    sniperforge_protocol::template(t.parse().unwrap())
}

/// The whole API contract, against whichever store `url` names.
async fn exercise(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .add_token("admin-secret", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("op-secret", "olga", Role::Operator, None)
        .await
        .unwrap();
    store
        .add_token("view-secret", "victor", Role::Viewer, None)
        .await
        .unwrap();
    let app = router(AppState::new(store).await.unwrap());
    let (admin, op, viewer) = (Some("admin-secret"), Some("op-secret"), Some("view-secret"));

    // Authentication and roles.
    let (s, body) = call(&app, "GET", "/api/v1/bots", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", Some("wrong"), None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", viewer, None).await.0,
        StatusCode::OK
    );
    let cfg = template("triangular_arbitrage");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        viewer,
        Some(json!({"config": cfg})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

    // Create with validation: every error, with its path.
    let mut bad = cfg.clone();
    bad["parameters"]["trading"]["max_hops"] = json!(9);
    bad["parameters"]["risk_management"]["stop_loss_bps"] = json!(1);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        op,
        Some(json!({"config": bad})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_config");
    let paths: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["trading.max_hops", "risk_management.stop_loss_bps"]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        op,
        Some(json!({"config": cfg, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["desired_state"], "stopped");
    assert_eq!(body["bot"]["config_version"], 1);
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/bots",
            op,
            Some(json!({"config": cfg}))
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        op,
        Some(json!({"config": cfg, "colour": "red"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Lifecycle through the desired state.
    let id = cfg["bot_id"].as_str().unwrap().to_string();
    let (s, body) = call(&app, "POST", &format!("/api/v1/bots/{id}/start"), op, None).await;
    assert_eq!(
        (s, body["desired_state"].clone()),
        (StatusCode::OK, json!("running"))
    );
    let (s, body) = call(&app, "POST", &format!("/api/v1/bots/{id}/start"), op, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        call(&app, "POST", &format!("/api/v1/bots/{id}/pause"), op, None)
            .await
            .1["desired_state"],
        "paused"
    );
    assert_eq!(
        call(&app, "POST", &format!("/api/v1/bots/{id}/launch"), op, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Versions: hot and cold changes, old versions, rollback.
    let mut v2 = cfg.clone();
    v2["parameters"]["trading"]["min_profit_bps"] = json!(45);
    let (s, body) = call(
        &app,
        "PUT",
        &format!("/api/v1/bots/{id}"),
        op,
        Some(json!({"config": v2})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["applied_hot"], json!(["trading.min_profit_bps"]));
    assert_eq!(body["needs_restart"], false);
    let mut v3 = v2.clone();
    v3["parameters"]["trading"]["max_hops"] = json!(4);
    let (_, body) = call(&app, "PUT", &format!("/api/v1/configs/{id}"), op, Some(v3)).await;
    assert_eq!(
        (body["version"].clone(), body["restart_required"].clone()),
        (json!(3), json!(["trading.max_hops"]))
    );
    let (_, old) = call(
        &app,
        "GET",
        &format!("/api/v1/configs/{id}?version=1"),
        viewer,
        None,
    )
    .await;
    assert_eq!(old["body"]["parameters"]["trading"]["min_profit_bps"], 30);
    let (_, body) = call(
        &app,
        "POST",
        &format!("/api/v1/configs/{id}/rollback?version=1"),
        op,
        None,
    )
    .await;
    assert_eq!(body["version"], 4);
    let (_, latest) = call(&app, "GET", &format!("/api/v1/configs/{id}"), viewer, None).await;
    assert_eq!(latest["body"], cfg);

    // Version preconditions: If-Match names the version a change is based on; a stale one is
    // 409 with the current version, and of concurrent writers from one version exactly one wins.
    let path = format!("/api/v1/configs/{id}");
    let (s, body) = call_with(
        &app,
        "PUT",
        &path,
        op,
        &[("if-match", "3")],
        Some(cfg.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "version_conflict");
    assert_eq!(body["error"]["details"]["current_version"], 4);
    let (s, _) = call_with(
        &app,
        "PUT",
        &path,
        op,
        &[("if-match", "four")],
        Some(cfg.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (app, path, cfg) = (app.clone(), path.clone(), cfg.clone());
            tokio::spawn(async move {
                call_with(
                    &app,
                    "PUT",
                    &path,
                    Some("op-secret"),
                    &[("if-match", "\"4\"")],
                    Some(cfg),
                )
                .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for w in writers {
        let (s, body) = w.await.unwrap();
        outcomes.push((s, body));
    }
    let won: Vec<_> = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    let lost = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won.len(), lost), (1, 7), "{outcomes:?}");
    assert_eq!(won[0].1["version"], 5);
    let (_, latest) = call(&app, "GET", &path, viewer, None).await;
    assert_eq!(latest["version"], 5, "{latest}");
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/api/v1/configs/{id}?version=99"),
            viewer,
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // Templates and schemas come from the bots crate.
    let (s, t) = call(
        &app,
        "GET",
        "/api/v1/configs/templates/enhanced_arbitrage",
        viewer,
        None,
    )
    .await;
    assert_eq!(
        (s, t["parameters"]["trading"]["min_profit_bps"].clone()),
        (StatusCode::OK, json!(50))
    );
    let (_, schema) = call(
        &app,
        "GET",
        "/api/v1/configs/schemas/flash_loan_arbitrage",
        viewer,
        None,
    )
    .await;
    assert_eq!(
        schema["properties"]["bot_type"]["const"],
        "flash_loan_arbitrage"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/configs/schemas/nope", viewer, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The emergency stop is for admins only; it stops the fleet and is audited.
    call(&app, "POST", &format!("/api/v1/bots/{id}/resume"), op, None).await;
    assert_eq!(
        call(&app, "POST", "/api/v1/system/emergency-stop", op, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, body) = call(&app, "POST", "/api/v1/system/emergency-stop", admin, None).await;
    assert_eq!(
        (s, body["bots_stopped"].clone()),
        (StatusCode::OK, json!(1))
    );
    assert_eq!(
        call(&app, "GET", &format!("/api/v1/bots/{id}"), viewer, None)
            .await
            .1["bot"]["desired_state"],
        "stopped"
    );
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", viewer, None).await;
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "system.emergency_stop",
        "config.update",
        "bot.pause",
        "bot.start",
        "bot.create",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {actions:?}");
    }
    assert_eq!(audit["audit"][0]["actor"], "alice");

    // Delete keeps the history.
    assert_eq!(
        call(&app, "DELETE", &format!("/api/v1/bots/{id}"), op, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "GET", &format!("/api/v1/bots/{id}"), viewer, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/api/v1/configs/{id}?version=2"),
            viewer,
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    // Health needs no token (probes); everything else does.
    let (s, h) = call(&app, "GET", "/api/v1/system/health", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    assert_eq!(
        call(&app, "GET", "/api/v1/nowhere", viewer, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn agents_register_block_on_the_desired_state_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_agent_token("agent-secret", "agent-ny-1", "ny-1", None)
        .await
        .unwrap();
    store
        .add_token("view-secret", "victor", Role::Viewer, None)
        .await
        .unwrap();
    store
        .add_token("op-secret", "olga", Role::Operator, None)
        .await
        .unwrap();
    let app = router(AppState::new(store).await.unwrap());
    let (agent, viewer, operator) = (Some("agent-secret"), Some("view-secret"), Some("op-secret"));
    let node = json!({"node_id": "ny-1", "hostname": "bm-ny-1", "cores": 16, "isolated_cores": [2, 3, 4, 5], "memory_mb": 65536, "backend": "systemd"});
    let (s, body) = call(&app, "POST", "/api/v1/agent/register", agent, Some(node)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let index = body["desired_index"].as_i64().unwrap();
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/agent/register",
            viewer,
            Some(json!({}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/agent/heartbeat",
            agent,
            Some(json!({"node_id": "ghost"}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/agent/heartbeat",
            agent,
            Some(json!({"node_id": "ny-1"}))
        )
        .await
        .0,
        StatusCode::OK
    );

    // Nothing changed: the blocking query waits out its timeout and answers the same index.
    let started = std::time::Instant::now();
    let (_, body) = call(
        &app,
        "GET",
        &format!("/api/v1/agent/desired?node_id=ny-1&index={index}&wait_ms=300"),
        agent,
        None,
    )
    .await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(290));
    assert_eq!(body["index"], index);
    assert_eq!(body["bots"], json!([]));

    // A change wakes a waiting agent at once.
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let r = call(
                &app,
                "GET",
                &format!("/api/v1/agent/desired?node_id=ny-1&index={index}&wait_ms=30000"),
                Some("agent-secret"),
                None,
            )
            .await;
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let cfg = template("triangular_arbitrage");
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/bots",
        operator,
        Some(json!({"config": cfg, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let ((_, body), waited) = waiting.await.unwrap();
    assert!(
        waited < std::time::Duration::from_secs(5),
        "woke after {waited:?}"
    );
    assert!(body["index"].as_i64().unwrap() > index);
    assert_eq!(body["bots"][0]["bot_id"], cfg["bot_id"]);
    assert_eq!(body["bots"][0]["desired_state"], "stopped");
    assert_eq!(body["bots"][0]["config"], cfg);

    // Reports land on the bot's status and metrics (null until the first).
    let id = cfg["bot_id"].as_str().unwrap();
    let metrics_path = format!("/api/v1/bots/{id}/metrics");
    let (s, m) = call(&app, "GET", &metrics_path, viewer, None).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["metrics"], Value::Null);
    assert_eq!(
        call(&app, "GET", "/api/v1/bots/ghost/metrics", viewer, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let report = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"}, "metrics": {"trades_executed": 7}}]});
    assert_eq!(
        call(&app, "POST", "/api/v1/agent/report", agent, Some(report))
            .await
            .0,
        StatusCode::OK
    );
    let (_, status) = call(
        &app,
        "GET",
        &format!("/api/v1/bots/{id}/status"),
        viewer,
        None,
    )
    .await;
    assert_eq!(status["reported"]["status"]["state"], "running");
    assert_eq!(status["reported"]["metrics"]["trades_executed"], 7);
    let (_, m) = call(&app, "GET", &metrics_path, viewer, None).await;
    assert_eq!(m["metrics"]["trades_executed"], 7, "{m}");
    assert_eq!(m["node_id"], "ny-1");
    assert!(m["reported_at"].as_i64().unwrap() > 0);
    let (_, nodes) = call(&app, "GET", "/api/v1/nodes", viewer, None).await;
    assert_eq!(nodes["nodes"][0]["isolated_cores"], json!([2, 3, 4, 5]));

    // Interval histograms merge per bot and across the fleet.
    use base64::Engine as _;
    let snapshot = |values: std::ops::Range<u64>| {
        let mut h = sniperforge_protocol::telemetry::latency_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        base64::engine::general_purpose::STANDARD
            .encode(sniperforge_protocol::telemetry::encode_v2(&h).unwrap())
    };
    for range in [1_000..2_000u64, 2_000..3_000] {
        let r = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"}, "metrics": {"trades_executed": 7}, "hdr": {"decided": snapshot(range)}}]});
        assert_eq!(
            call(&app, "POST", "/api/v1/agent/report", agent, Some(r))
                .await
                .0,
            StatusCode::OK
        );
    }
    let (_, lat) = call(
        &app,
        "GET",
        &format!("/api/v1/bots/{id}/latency"),
        viewer,
        None,
    )
    .await;
    assert_eq!(lat["stages"]["decided"]["count"], 2_000, "{lat}");
    let p50 = lat["stages"]["decided"]["p50"].as_u64().unwrap();
    assert!((1_990..=2_010).contains(&p50), "{lat}");
    let (_, m) = call(
        &app,
        "GET",
        "/api/v1/system/metrics?bot_type=triangular_arbitrage",
        viewer,
        None,
    )
    .await;
    assert_eq!(m["latency_ns"]["decided"]["count"], 2_000);
    let (_, m) = call(
        &app,
        "GET",
        "/api/v1/system/metrics?node_id=elsewhere",
        viewer,
        None,
    )
    .await;
    assert_eq!(m["latency_ns"], json!({}));
    let req = Request::builder()
        .uri("/metrics")
        .header("authorization", "Bearer view-secret")
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains("sniperforge_bots{desired_state=\"stopped\"} 1"),
        "{text}"
    );
    assert!(text.contains("sniperforge_nodes 1"), "{text}");
    assert!(text.contains(&format!("sniperforge_bot_trades_executed_total{{bot_id=\"{id}\",bot_type=\"triangular_arbitrage\",environment=\"dev\",node_id=\"ny-1\",replica_of=\"\"}} 7")), "{text}");
    assert!(
        text.contains("sniperforge_stage_latency_ns{stage=\"decided\",quantile=\"0.5\"}"),
        "{text}"
    );
    let bad = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {}, "hdr": {"decided": "!!"}}]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", agent, Some(bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hdr.decided")
    );
}

#[tokio::test]
async fn agent_tokens_act_for_their_node_only_and_reports_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_agent_token("ag-a", "agent-a", "a", None)
        .await
        .unwrap();
    store
        .add_agent_token("ag-b", "agent-b", "b", None)
        .await
        .unwrap();
    store
        .add_token("admin-secret", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("op-secret", "olga", Role::Operator, None)
        .await
        .unwrap();
    let state = AppState::new(store).await.unwrap();
    let app = router(state.clone());
    let (a, b, admin, op) = (
        Some("ag-a"),
        Some("ag-b"),
        Some("admin-secret"),
        Some("op-secret"),
    );
    for (node, token) in [("a", a), ("b", b)] {
        let n = json!({"node_id": node, "hostname": node, "cores": 2, "isolated_cores": [], "memory_mb": 1024, "backend": "process"});
        let (s, body) = call(&app, "POST", "/api/v1/agent/register", token, Some(n)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let mut cfg = template("triangular_arbitrage");
    cfg["bot_id"] = json!("bot-of-a");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        admin,
        Some(json!({"config": cfg, "node_id": "a"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // A node id that could break out of a Prometheus label (or a query string) is refused.
    let mut other = template("triangular_arbitrage");
    other["bot_id"] = json!("bot-evil");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        admin,
        Some(json!({"config": other, "node_id": "x\"} evil 1\n"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Node b's agent may not register, poll or report as node a, nor report a's bot as its own.
    let node_a = json!({"node_id": "a", "hostname": "evil", "cores": 2, "isolated_cores": [], "memory_mb": 1, "backend": "process"});
    let forged = json!({"node_id": "b", "bots": [{"bot_id": "bot-of-a", "status": {"state": "error"}, "logs": ["forged"]}]});
    let as_a =
        json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": {"state": "error"}}]});
    for (method, path, body) in [
        ("POST", "/api/v1/agent/register", Some(node_a)),
        (
            "POST",
            "/api/v1/agent/heartbeat",
            Some(json!({"node_id": "a"})),
        ),
        ("GET", "/api/v1/agent/desired?node_id=a&wait_ms=1", None),
        ("POST", "/api/v1/agent/report", Some(forged)),
        ("POST", "/api/v1/agent/report", Some(as_a)),
    ] {
        let (s, answer) = call(&app, method, path, b, body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {answer}");
    }
    let (_, status) = call(&app, "GET", "/api/v1/bots/bot-of-a/status", op, None).await;
    assert_eq!(status["reported"], Value::Null, "{status}");
    // An agent token reaches nothing but the agent routes; operators and viewers none of them.
    for (method, path) in [("GET", "/api/v1/bots"), ("GET", "/api/v1/auth/me")] {
        assert_eq!(
            call(&app, method, path, a, None).await.0,
            StatusCode::FORBIDDEN
        );
    }
    let (s, _) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=a&wait_ms=1",
        op,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Node a's own agent sees its bot and reports it.
    let (s, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=a&wait_ms=1",
        a,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(desired["bots"][0]["bot_id"], "bot-of-a");
    let good = json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": {"state": "running"}, "metrics": {}, "logs": ["hello"]}]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", a, Some(good)).await;
    assert_eq!(
        (s, &body["accepted"]),
        (StatusCode::OK, &json!(1)),
        "{body}"
    );

    // Bad shapes: 400 naming the field, nothing kept.
    let long_id = "x".repeat(100_000);
    for (bad, field) in [
        (
            json!({"node_id": "a", "bots": [{"bot_id": long_id, "status": {"state": "running"}}]}),
            "bot_id",
        ),
        (
            json!({"node_id": "a", "bots": [{"bot_id": "bad id!", "status": {"state": "running"}}]}),
            "bot_id",
        ),
        (
            json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": {"state": "running"}, "hdr": {"made-up": ""}}]}),
            "unknown stage",
        ),
        (
            json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": "running"}]}),
            "status",
        ),
        (
            json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": {"state": "x".repeat(70_000)}}]}),
            "status",
        ),
        (
            json!({"node_id": "a", "bots": [{"bot_id": "bot-of-a", "status": {}}, {"bot_id": "bot-of-a", "status": {}}]}),
            "twice",
        ),
    ] {
        let (s, body) = call(&app, "POST", "/api/v1/agent/report", a, Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(field) && message.len() < 300, "{message}");
    }

    // A node holds at most four waiting desired-state queries: the fifth is 503 at once.
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                call(
                    &app,
                    "GET",
                    "/api/v1/agent/desired?node_id=b&index=1000000&wait_ms=3000",
                    Some("ag-b"),
                    None,
                )
                .await
                .0
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, body) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=b&index=1000000&wait_ms=3000",
        b,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    // Another node is not held up by it.
    let (s, _) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=a&wait_ms=1",
        a,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for w in waiting {
        assert_eq!(w.await.unwrap(), StatusCode::OK);
    }

    // Reports of ids no configuration holds are left out: fifty of them keep nothing.
    let kept = |state: &AppState| state.tracked_bots();
    let before = kept(&state);
    for i in 0..50 {
        let r = json!({"node_id": "a", "bots": [{"bot_id": format!("made-up-{i}"), "status": {"state": "running"}, "logs": vec!["x"; 10]}]});
        let (s, body) = call(&app, "POST", "/api/v1/agent/report", a, Some(r)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["unknown"], json!([format!("made-up-{i}")]));
    }
    assert_eq!(kept(&state), before);
    let (s, _) = call(&app, "GET", "/api/v1/bots/made-up-3/status", op, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Deleting a bot forgets what was kept of it.
    assert!(before.contains(&"bot-of-a".to_string()), "{before:?}");
    let (s, _) = call(&app, "DELETE", "/api/v1/bots/bot-of-a", admin, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(kept(&state).is_empty(), "{:?}", kept(&state));
}

#[tokio::test]
async fn api_contract_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!(
        "sqlite://{}",
        dir.path().join("gateway.db").display()
    ))
    .await;
}

#[tokio::test]
async fn api_contract_on_postgres() {
    let Some((_pg, url)) = postgres_for("api_contract_on_postgres") else {
        return;
    };
    exercise(&url).await;
}

/// A bot row whose id is not a bot id (a database edited by hand) is left out of its node's
/// desired state; the node's other bots are still served.
#[tokio::test]
async fn a_stored_bot_id_that_is_not_one_leaves_the_rest_of_the_node_served() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = Store::connect(&url).await.unwrap();
    store
        .add_token("adm", "admin", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store).await.unwrap());
    let mut config = template("enhanced_arbitrage");
    config["bot_id"] = json!("good-1");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        Some("adm"),
        Some(json!({"config": config, "node_id": "n1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // The same database, edited behind the gateway's back.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO bots (bot_id, bot_type, node_id, desired_state, created_at, updated_at) VALUES ('bad id/..', 'enhanced_arbitrage', 'n1', 'running', 0, 0)")
        .execute(&raw)
        .await
        .unwrap();
    raw.close().await;
    let (s, body) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=n1&index=0&wait_ms=0",
        Some("adm"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let ids: Vec<&str> = body["bots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bot_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good-1"]);
}
