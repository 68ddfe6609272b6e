//! Alert rules end to end: rules through the API on real SQLite and PostgreSQL, alerts raised and resolved from
//! agent reports and heartbeats, and webhook deliveries received by a real HTTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::{call, postgres_for};

/// A webhook receiver on 127.0.0.1 that keeps every JSON body it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// Waits (≤ 5 s) until the receiver holds `n` deliveries.
async fn delivered(got: &Arc<Mutex<Vec<Value>>>, n: usize) {
    for _ in 0..100 {
        if got.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{n} deliveries expected, got {:?}", got.lock().unwrap());
}

#[tokio::test]
async fn rules_raise_resolve_and_notify_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn rules_raise_resolve_and_notify_on_postgres() {
    let Some((_pg, url)) = postgres_for("alerts on postgres") else {
        return;
    };
    exercise(&url).await;
}

/// Rules, evaluation and webhooks against whichever store `url` names.
async fn exercise(url: &str) {
    // Time-based rules (node_lost, bot_down, a sustained p99) run on this clock, not on sleeps.
    let clock = sniperforge_gateway::clock::ManualClock::at(1_800_000_000_000);
    let store = Store::connect(url).await.unwrap().with_clock(clock.clone());
    store
        .add_token("op", "olga", Role::Operator, None)
        .await
        .unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("view", "victor", Role::Viewer, None)
        .await
        .unwrap();
    // The receivers here are on loopback: allowed explicitly.
    let app = router(
        AppState::new(store)
            .await
            .unwrap()
            .with_webhooks(sniperforge_gateway::alerts::Webhooks::default().allowing_private()),
    );
    let (hook, got) = receiver().await;

    // Bad rules say what is wrong; only admins write rules.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "adm",
        Some(json!({"kind": "bot_sleepy"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "bad_rule");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rule r1"),
        "{body}"
    );
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "adm",
        Some(json!({"kind": "bot_error", "webhook": "ftp://x/y"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "adm",
        Some(json!({"kind": "node_lost", "after_s": 5, "colour": "red"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "view",
        Some(json!({"kind": "bot_error"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Alert channels are the admin's.
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "op",
        Some(json!({"kind": "bot_error"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    for (id, rule) in [
        ("errors", json!({"kind": "bot_error", "webhook": hook})),
        (
            "lost",
            json!({"kind": "node_lost", "after_s": 3600, "webhook": hook}),
        ),
    ] {
        let (s, body) = call(
            &app,
            "PUT",
            &format!("/api/v1/alerts/rules/{id}"),
            "adm",
            Some(rule),
        )
        .await;
        assert!(s.is_success(), "{s} {body}");
    }
    let (_, rules) = call(&app, "GET", "/api/v1/alerts/rules", "view", None).await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 2, "{rules}");
    // Webhook URLs carry secrets: viewers and the audit trail see the origin only.
    let origin = hook.split('/').take(3).collect::<Vec<_>>().join("/");
    for rule in rules["rules"].as_array().unwrap() {
        assert_eq!(rule["webhook"], format!("{origin}/…"), "{rules}");
    }
    let (_, all) = call(&app, "GET", "/api/v1/alerts/rules", "adm", None).await;
    assert_eq!(all["rules"][0]["webhook"], hook.as_str());
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "view", None).await;
    assert!(!audit.to_string().contains(hook.as_str()), "{audit}");
    // CR/LF (header injection), spaces and other schemes are refused when saved.
    for bad in [
        format!("{hook}\r\nX-Injected: 1"),
        format!("{hook} x"),
        "gopher://h/x".to_string(),
    ] {
        let (s, body) = call(
            &app,
            "PUT",
            "/api/v1/alerts/rules/bad",
            "adm",
            Some(json!({"kind": "bot_error", "webhook": bad})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    }

    // A node and a bot that reports an error.
    let node = json!({"node_id": "ny-1", "hostname": "bm-ny-1", "cores": 16, "isolated_cores": [], "memory_mb": 1024, "backend": "process"});
    assert_eq!(
        call(&app, "POST", "/api/v1/agent/register", "adm", Some(node))
            .await
            .0,
        StatusCode::OK
    );
    let cfg = sniperforge_protocol::template("triangular_arbitrage".parse().unwrap());
    let id = cfg["bot_id"].as_str().unwrap().to_string();
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "op",
        Some(json!({"config": cfg, "node_id": "ny-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let report = |state: &str| json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": state, "reason": "rpc dead"}, "metrics": {}}]});
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("error")),
    )
    .await;

    let (s, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(s, StatusCode::OK, "{ev}");
    assert_eq!(ev["raised"], json!([format!("errors:{id}")]), "{ev}");
    assert_eq!(ev["delivery_failures"], json!([]));
    // Delivered off the evaluation, by the webhook queue.
    delivered(&got, 1).await;
    // A second evaluation changes nothing and sends nothing.
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["raised"], json!([]));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["firing"], true);
        assert!(got[0]["text"].as_str().unwrap().contains("rpc dead"));
    }
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", "view", None).await;
    assert_eq!(alerts["alerts"][0]["state"], "active", "{alerts}");

    // The bot recovers: the alert resolves and the webhook hears it.
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("running")),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["resolved"], json!([format!("errors:{id}")]), "{ev}");
    delivered(&got, 2).await;
    assert_eq!(got.lock().unwrap().len(), 2);
    assert_eq!(got.lock().unwrap()[1]["firing"], false);

    // A tight node_lost rule fires for a node that has been quiet longer than allowed.
    clock.advance(1_100);
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/lost",
        "adm",
        Some(json!({"kind": "node_lost", "after_s": 1})),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["raised"], json!(["lost:ny-1"]), "{ev}");
    call(
        &app,
        "POST",
        "/api/v1/agent/heartbeat",
        "adm",
        Some(json!({"node_id": "ny-1"})),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["resolved"], json!(["lost:ny-1"]), "{ev}");

    // A dead webhook is retried, then reported, and the alert still lands.
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/errors",
        "adm",
        Some(json!({"kind": "bot_error", "webhook": "http://127.0.0.1:9/hook"})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("error")),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["raised"], json!([format!("errors:{id}")]), "{ev}");
    // The failure (after the retries) comes with a later evaluation.
    let mut failures = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
        failures.extend(ev["delivery_failures"].as_array().unwrap().iter().cloned());
        if !failures.is_empty() {
            break;
        }
    }
    let failure = failures[0].as_str().unwrap();
    assert!(failure.contains("attempt 3"), "{failure}");

    // A receiver that takes the connection and never answers does not hold the evaluation
    // (inline, its three attempts took ~10 s, and every other alert waited).
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/errors",
        "adm",
        Some(json!({"kind": "bot_error", "webhook": format!("http://{silent_addr}/hook")})),
    )
    .await;
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("running")),
    )
    .await;
    let started = std::time::Instant::now();
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert_eq!(ev["resolved"], json!([format!("errors:{id}")]), "{ev}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the evaluation waited {:?} on a silent webhook",
        started.elapsed()
    );

    // p99 above budget, from the HDR snapshots the agent reports.
    use base64::Engine as _;
    let mut h = sniperforge_protocol::telemetry::latency_histogram();
    for v in 10_000..11_000u64 {
        h.record(v).unwrap();
    }
    let snap = base64::engine::general_purpose::STANDARD
        .encode(sniperforge_protocol::telemetry::encode_v2(&h).unwrap());
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/slow",
        "adm",
        Some(json!({"kind": "p99_above", "stage": "decided", "budget_ns": 5000})),
    )
    .await;
    let r = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"}, "metrics": {}, "hdr": {"decided": snap}}]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(r)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(
        ev["raised"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("slow:{id}"))),
        "{ev}"
    );
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", "view", None).await;
    let slow = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule_id"] == "slow")
        .unwrap();
    assert!(
        slow["message"].as_str().unwrap().contains("budget 5000 ns"),
        "{slow}"
    );

    // A running bot that goes quiet is down; its next report brings it back.
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/down",
        "adm",
        Some(json!({"kind": "bot_down", "after_s": 1})),
    )
    .await;
    let (s, body) = call(
        &app,
        "POST",
        &format!("/api/v1/bots/{id}/start"),
        "op",
        None,
    )
    .await;
    assert!(s.is_success(), "{s} {body}");
    let down = json!(format!("down:{id}"));
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("running")),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(!ev["raised"].as_array().unwrap().contains(&down), "{ev}");
    clock.advance(1_100);
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(ev["raised"].as_array().unwrap().contains(&down), "{ev}");
    call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report("running")),
    )
    .await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(ev["resolved"].as_array().unwrap().contains(&down), "{ev}");

    // Daily loss: the bot's own limit (its error reason) or the rule's threshold on the
    // reported daily PnL; feed stale: the reported age of the newest market update.
    for (rule, body) in [
        ("loss", json!({"kind": "daily_loss", "limit_usd": 500.0})),
        ("stale", json!({"kind": "feed_stale", "after_ms": 2000})),
    ] {
        let (s, b) = call(
            &app,
            "PUT",
            &format!("/api/v1/alerts/rules/{rule}"),
            "adm",
            Some(body),
        )
        .await;
        assert!(s.is_success(), "{s} {b}");
    }
    let fresh = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"},
        "metrics": {"custom_metrics": {"daily_pnl_usd": -100.0, "feed_age_ms": 3.0}}}]});
    call(&app, "POST", "/api/v1/agent/report", "adm", Some(fresh)).await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    for a in [format!("loss:{id}"), format!("stale:{id}")] {
        assert!(
            !ev["raised"].as_array().unwrap().contains(&json!(a)),
            "{ev}"
        );
    }
    let bad = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"},
        "metrics": {"custom_metrics": {"daily_pnl_usd": -612.5, "feed_age_ms": 4500.0}}}]});
    call(&app, "POST", "/api/v1/agent/report", "adm", Some(bad)).await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    for a in [format!("loss:{id}"), format!("stale:{id}")] {
        assert!(
            ev["raised"].as_array().unwrap().contains(&json!(a)),
            "{a} in {ev}"
        );
    }
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", "view", None).await;
    let text = alerts.to_string();
    assert!(text.contains("lost 612.50 USD today"), "{text}");
    assert!(
        text.contains("feed stale, newest update 4500 ms old"),
        "{text}"
    );
    // The bot's own limit fires the rule without a threshold.
    call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/loss",
        "adm",
        Some(json!({"kind": "daily_loss"})),
    )
    .await;
    let halted = json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "error",
        "reason": "daily loss limit reached: 1000.00 USD lost today, limit 1000.00"}, "metrics": {}}]});
    call(&app, "POST", "/api/v1/agent/report", "adm", Some(halted)).await;
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", "view", None).await;
    assert!(
        alerts.to_string().contains("daily loss limit reached"),
        "{ev} {alerts}"
    );
    // Unknown fields in a rule are refused.
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/x",
        "adm",
        Some(json!({"kind": "feed_stale", "after_ms": 1, "bogus": 2})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // p99 above a budget for N s: every interval in the window must be over, and the reports
    // must cover the window; one fast interval inside it keeps the rule quiet.
    let interval = |range: std::ops::Range<u64>| {
        let mut h = sniperforge_protocol::telemetry::latency_histogram();
        for v in range {
            h.record(v).unwrap();
        }
        base64::engine::general_purpose::STANDARD
            .encode(sniperforge_protocol::telemetry::encode_v2(&h).unwrap())
    };
    let (s, b) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/sustained",
        "adm",
        Some(json!({"kind": "p99_above", "stage": "detected", "budget_ns": 50_000, "for_s": 2})),
    )
    .await;
    assert!(s.is_success(), "{s} {b}");
    let (s, b) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/toolong",
        "adm",
        Some(json!({"kind": "p99_above", "stage": "detected", "budget_ns": 1, "for_s": 100_000})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let send = |snap: String| json!({"node_id": "ny-1", "bots": [{"bot_id": id, "status": {"state": "running"}, "metrics": {}, "hdr": {"detected": snap}}]});
    let sustained = json!(format!("sustained:{id}"));
    // Slow, fast, slow… for 2.5 s: never all over in the window.
    for i in 0..6 {
        let snap = if i == 4 {
            interval(1_000..2_000)
        } else {
            interval(90_000..95_000)
        };
        call(
            &app,
            "POST",
            "/api/v1/agent/report",
            "adm",
            Some(send(snap)),
        )
        .await;
        clock.advance(500);
    }
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(
        !ev["raised"].as_array().unwrap().contains(&sustained),
        "{ev}"
    );
    // Slow for the whole window: it fires, naming the lowest interval p99.
    for _ in 0..6 {
        call(
            &app,
            "POST",
            "/api/v1/agent/report",
            "adm",
            Some(send(interval(90_000..95_000))),
        )
        .await;
        clock.advance(500);
    }
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "op", None).await;
    assert!(
        ev["raised"].as_array().unwrap().contains(&sustained),
        "{ev}"
    );
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", "view", None).await;
    assert!(
        alerts
            .to_string()
            .contains("for over 2 s (lowest interval p99"),
        "{alerts}"
    );
}
