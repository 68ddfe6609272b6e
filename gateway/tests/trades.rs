//! Trades through the API on real SQLite and PostgreSQL: fills reported with their bots, each
//! stored once however often a report carries it (a repeated report, a restarted gateway),
//! listed newest first a page at a time, filtered by bot, environment and time, scoped to a
//! token's environments, refused when malformed, and pruned past their retention.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Environment, Role, Store, router};

mod common;
use common::{call, node_with_bots, postgres_for, store_with_scoped_tokens};

/// A recent time, unix ms: the gateway leaves out fills booked more than a year back.
fn t0() -> i64 {
    // Taken once: every fill of the test is placed from the same instant.
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        now - 60_000
    })
}

/// A fill booked `at` ms after [`t0`].
fn fill(seq: u64, at: i64, pnl_usd: f64) -> Value {
    json!({"seq": seq, "at_ms": t0() + at, "token": "SOL", "cycle": 3, "amount_in": 1.0,
        "amount_out": 1.01, "expected_out": 1.012, "pnl": 0.01, "pnl_usd": pnl_usd,
        "slot": 100 + seq, "latency_us": 42})
}

fn report(bots: &[(&str, Vec<Value>)]) -> Value {
    json!({"node_id": "n1", "bots": bots.iter().map(|(id, fills)| json!({"bot_id": id,
        "status": {"state": "running"}, "metrics": {}, "fills": fills})).collect::<Vec<_>>()})
}

async fn seqs(app: &axum::Router, token: &str, query: &str) -> (Vec<(String, i64)>, Value) {
    let (s, body) = call(app, "GET", &format!("/api/v1/trades{query}"), token, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let list = body["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["bot_id"].as_str().unwrap().to_string(),
                t["seq"].as_i64().unwrap(),
            )
        })
        .collect();
    (list, body["next_cursor"].clone())
}

async fn exercise(url: &str) {
    let store = store_with_scoped_tokens(
        url,
        &[
            ("adm", "alice", Role::Admin, None),
            ("devview", "dora", Role::Viewer, Some(&[Environment::Dev])),
        ],
    )
    .await;
    let app = router(AppState::new(store).await.unwrap());
    node_with_bots(&app, "adm", &[("a1", "dev"), ("p1", "prod")]).await;
    let first = report(&[
        (
            "a1",
            (1..=3).map(|s| fill(s, 1_000 + s as i64, 1.0)).collect(),
        ),
        ("p1", vec![fill(1, 1_500, -2.0)]),
    ]);
    for _ in 0..2 {
        // The same report twice (an answer lost on the way back): each fill once.
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/agent/report",
            "adm",
            Some(first.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (all, _) = seqs(&app, "adm", "").await;
    assert_eq!(
        all,
        [
            ("p1".into(), 1),
            ("a1".into(), 3),
            ("a1".into(), 2),
            ("a1".into(), 1)
        ],
        "newest first"
    );
    // A restarted gateway on the same store: a fill sent again is still stored once.
    let store = Store::connect(url).await.unwrap();
    let app = router(AppState::new(store).await.unwrap());
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report(&[(
            "a1",
            vec![fill(3, 1_003, 1.0), fill(4, 1_004, 1.0)],
        )])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (all, _) = seqs(&app, "adm", "?bot=a1").await;
    assert_eq!(all.len(), 4, "{all:?}");
    // Pages: two at a time, each picking up after the last.
    let (page, next) = seqs(&app, "adm", "?limit=2").await;
    assert_eq!(page, [("p1".into(), 1), ("a1".into(), 4)]);
    let (page, next) = seqs(
        &app,
        "adm",
        &format!("?limit=2&cursor={}", next.as_str().unwrap()),
    )
    .await;
    assert_eq!(page, [("a1".into(), 3), ("a1".into(), 2)]);
    let (page, next) = seqs(
        &app,
        "adm",
        &format!("?limit=2&cursor={}", next.as_str().unwrap()),
    )
    .await;
    assert_eq!(page, [("a1".into(), 1)]);
    assert_eq!(next, Value::Null, "the last page");
    // Time and environment filters; a dev-scoped token sees dev's only.
    let (page, _) = seqs(
        &app,
        "adm",
        &format!("?from={}&to={}", t0() + 1002, t0() + 1500),
    )
    .await;
    assert_eq!(page, [("a1".into(), 4), ("a1".into(), 3), ("a1".into(), 2)]);
    let (page, _) = seqs(&app, "adm", "?env=prod").await;
    assert_eq!(page, [("p1".into(), 1)]);
    let (page, _) = seqs(&app, "devview", "").await;
    assert_eq!(page.len(), 4);
    assert!(page.iter().all(|(b, _)| b == "a1"), "{page:?}");
    let (page, _) = seqs(&app, "devview", "?bot=p1").await;
    assert!(page.is_empty(), "prod's trades are not a dev token's");
    // What a fill must hold, named where it fails.
    for (bad, field) in [
        (json!({"seq": 0}), "seq"),
        (json!({"token": "SOL\u{202e}"}), "token"),
        (json!({"amount_in": 1e20}), "amount_in"),
    ] {
        let mut f = fill(9, 2_000, 1.0);
        f.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/agent/report",
            "adm",
            Some(report(&[("a1", vec![f])])),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(&format!("bots[0].fills[0].{field}")),
            "{body}"
        );
    }
    for q in ["?cursor=nope", "?limit=0", "?bot=../x"] {
        let (s, body) = call(&app, "GET", &format!("/api/v1/trades{q}"), "adm", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
    }
    // A fill booked two years back (a broken or forged clock) is left out; the rest stands.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(report(&[(
            "a1",
            vec![fill(5, -2 * 365 * 86_400_000, 1.0), fill(6, 1_006, 1.0)],
        )])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (all, _) = seqs(&app, "adm", "?bot=a1").await;
    assert_eq!(all.first(), Some(&("a1".to_string(), 6)), "{all:?}");
    assert!(!all.iter().any(|(_, s)| *s == 5), "{all:?}");
    // Past their retention, trades go.
    let store = Store::connect(url).await.unwrap();
    assert_eq!(store.prune_trades(t0() + 1_003).await.unwrap(), 2);
    let (all, _) = seqs(&app, "adm", "?bot=a1").await;
    assert_eq!(all, [("a1".into(), 6), ("a1".into(), 4), ("a1".into(), 3)]);
}

#[tokio::test]
async fn trades_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn trades_on_postgres() {
    let Some((_pg, url)) = postgres_for("trades_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
