//! Latency over time: reported interval snapshots land in 1 s windows per bot, bot type, node
//! and the fleet, close into 1 min windows in the store, and range queries answer percentiles
//! per point and over the range — on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::{Value, json};
use sniperforge_gateway::windows::Retention;
use sniperforge_gateway::{AppState, Role, Store, router};

use common::{call_as as call, postgres_for, store_with_tokens};

fn snapshot(values: impl Iterator<Item = u64>) -> String {
    let mut h = sniperforge_protocol::telemetry::latency_histogram();
    for v in values {
        h.record(v).unwrap();
    }
    base64::engine::general_purpose::STANDARD
        .encode(sniperforge_protocol::telemetry::encode_v2(&h).unwrap())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn exercise(url: &str) {
    let store = store_with_tokens(
        url,
        &[
            ("agent-secret", "agent", Role::Admin),
            ("view-secret", "victor", Role::Viewer),
        ],
    )
    .await;
    let state = AppState::new(store)
        .await
        .unwrap()
        .with_retention(Retention {
            seconds_ms: 3_600_000,
            bot_seconds_ms: 300_000,
            minutes_ms: 7 * 86_400_000,
        });
    let app = router(state.clone());
    let (agent, viewer) = (Some("agent-secret"), Some("view-secret"));
    for node in ["ny-1", "ams-1"] {
        let n = json!({"node_id": node, "hostname": node, "cores": 4, "isolated_cores": [], "memory_mb": 4096, "backend": "process"});
        assert_eq!(
            call(&app, "POST", "/api/v1/agent/register", agent, Some(n))
                .await
                .0,
            StatusCode::OK
        );
    }
    let start = now_ms();
    // ny-1 runs a triangular bot at 1–2 µs, ams-1 an enhanced one at 10–20 µs.
    let reports = [
        ("ny-1", "tri", "triangular_arbitrage", 1_000..2_000u64),
        ("ams-1", "enh", "enhanced_arbitrage", 10_000..20_000),
    ];
    for (node, bot, bot_type, _) in &reports {
        let mut config = sniperforge_protocol::template(bot_type.parse().unwrap());
        config["bot_id"] = json!(bot);
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/bots",
            agent,
            Some(json!({"config": config, "node_id": node})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    for (node, bot, _, range) in &reports {
        let r = json!({"node_id": node, "bots": [{"bot_id": bot, "status": {"state": "running"},
            "hdr": {"decided": snapshot(range.clone()), "executed": snapshot(range.clone().step_by(10))}}]});
        let (s, body) = call(&app, "POST", "/api/v1/agent/report", agent, Some(r)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let get = |q: String| {
        let app = app.clone();
        async move { call(&app, "GET", &format!("/api/v1/latency?{q}"), viewer, None).await }
    };
    let total = |body: &Value, stage: &str| body["stages"][stage]["total"].clone();
    let (s, fleet) = get(format!("from={}", start - 10_000)).await;
    assert_eq!(s, StatusCode::OK, "{fleet}");
    assert_eq!(fleet["resolution_ms"], 1_000);
    assert_eq!(total(&fleet, "decided")["count"], 11_000, "{fleet}");
    assert_eq!(total(&fleet, "executed")["count"], 1_100);
    let p50 = total(&fleet, "decided")["p50"].as_u64().unwrap();
    // Rank 5 500 of 11 000: the 4 500th value of the enhanced bot.
    assert!((14_450..14_650).contains(&p50), "fleet p50 {p50}");
    // Points: one per second, the reports in the last ones.
    let points = fleet["stages"]["decided"]["points"].as_array().unwrap();
    assert!(points.len() >= 10, "{} points", points.len());
    let counted: u64 = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 11_000);
    for (scope, count, p99) in [
        ("bot:tri", 1_000, 1_990..2_010),
        ("type:enhanced_arbitrage", 10_000, 19_800..20_100),
        ("node:ny-1", 1_000, 1_990..2_010),
    ] {
        let (s, body) = get(format!("scope={scope}&from={}", start - 5_000)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let t = total(&body, "decided");
        assert_eq!(t["count"], count, "{scope}: {body}");
        let got = t["p99"].as_u64().unwrap();
        assert!(p99.contains(&got), "{scope}: p99 {got}");
        assert!(t["p50"].as_u64() <= t["p90"].as_u64());
        assert!(t["p999"].as_u64() <= t["max"].as_u64());
    }
    let (_, none) = get("scope=bot:ghost".into()).await;
    assert_eq!(none["stages"], json!({}), "an unknown bot has no series");

    // A minute later the open minutes are closed into the store; a query in whole minutes
    // reads them back.
    state.flush_windows(start + 120_000).await.unwrap();
    let (s, minutes) = get(format!(
        "scope=bot:enh&from={}&to={}&step_ms=60000",
        start - 120_000,
        start + 120_000
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{minutes}");
    assert_eq!(minutes["resolution_ms"], 60_000);
    assert_eq!(total(&minutes, "decided")["count"], 10_000, "{minutes}");
    // A restarted gateway (nothing in memory) answers it from the store.
    let restarted = router(
        AppState::new(Store::connect(url).await.unwrap())
            .await
            .unwrap(),
    );
    let (_, again) = call(
        &restarted,
        "GET",
        &format!(
            "/api/v1/latency?scope=type:enhanced_arbitrage&from={}&to={}&step_ms=60000",
            start - 120_000,
            start + 120_000
        ),
        viewer,
        None,
    )
    .await;
    assert_eq!(total(&again, "decided")["count"], 10_000, "{again}");
    assert_eq!(
        total(&again, "decided")["p99"],
        total(&minutes, "decided")["p99"]
    );

    // Bad queries: 400 with what is wrong.
    for (q, says) in [
        ("scope=planet:x", "scope"),
        ("scope=type:no_such_type", "scope"),
        ("from=5000&to=4000", "not before"),
        ("from=-1", "unix milliseconds"),
        ("step_ms=1500", "multiple of 1000"),
        ("step_ms=0", "positive"),
        ("from=0&to=100000000000&step_ms=60000", "at most"),
        ("bogus=1", "bogus"),
    ] {
        let (s, body) = get(q.into()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(says), "{q}: {msg}");
    }
}

#[tokio::test]
async fn latency_windows_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn latency_windows_on_postgres() {
    if let Some((_pg, url)) = postgres_for("latency_windows_on_postgres") {
        exercise(&url).await;
    }
}
