//! PnL over time through the API on real SQLite and PostgreSQL: per interval and cumulative,
//! win rate, counts, volume, fees and drawdown over the stored trades, for one bot, an
//! environment and the fleet, scoped to a token's environments, its sums equal to the trades'.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Environment, Role, router};

mod common;
use common::{call, node_with_bots, postgres_for, store_with_scoped_tokens};

/// A minute boundary a little in the past, unix ms (fills more than a year back are left out).
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        (now - 600_000) / 60_000 * 60_000
    })
}

/// A fill of `seq` booked `at` ms after [`t0`] with `pnl_usd` (`None`: the route failed).
fn fill(seq: u64, at: i64, pnl_usd: Option<f64>) -> Value {
    json!({"seq": seq, "at_ms": t0() + at, "token": "SOL", "cycle": 1, "amount_in": 1.0,
        "amount_out": pnl_usd.map(|p| 1.0 + p / 100.0), "expected_out": 1.0,
        "pnl": pnl_usd.unwrap_or(0.0) / 100.0, "pnl_usd": pnl_usd.unwrap_or(0.0),
        "fee": 0.001, "fee_usd": if pnl_usd.is_some() { 0.1 } else { 0.0 }, "volume_usd": 100.0,
        "route": "SOL>USDC>SOL via raydium_v4,whirlpool", "slot": 7, "latency_us": 5})
}

async fn pnl(app: &axum::Router, token: &str, query: &str) -> Value {
    let (s, body) = call(app, "GET", &format!("/api/v1/pnl{query}"), token, None).await;
    assert_eq!(s, StatusCode::OK, "{query}: {body}");
    body
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 1e-9
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
    let a1 = vec![
        fill(1, 0, Some(3.0)),
        fill(2, 10_000, Some(-5.0)),
        fill(3, 20_000, Some(1.0)),
        fill(4, 30_000, None),
        fill(5, 70_000, Some(4.0)),
    ];
    let report = json!({"node_id": "n1", "bots": [
        {"bot_id": "a1", "status": {"state": "running"}, "metrics": {}, "fills": a1},
        {"bot_id": "p1", "status": {"state": "running"}, "metrics": {}, "fills": [fill(1, 15_000, Some(-2.0))]},
    ]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(report)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let range = format!("from={}&to={}", t0(), t0() + 120_000);

    // One bot, two 1-minute intervals.
    let body = pnl(&app, "adm", &format!("?scope=bot:a1&{range}&step=1m")).await;
    assert_eq!(body["step_ms"], 60_000);
    let iv = body["intervals"].as_array().unwrap();
    assert_eq!(iv.len(), 2, "{body}");
    assert_eq!(iv[0]["start_ms"], t0());
    assert!(close(&iv[0]["pnl_usd"], -1.0), "{body}");
    assert_eq!(
        (
            &iv[0]["trades"],
            &iv[0]["wins"],
            &iv[0]["losses"],
            &iv[0]["failed"]
        ),
        (&json!(4), &json!(2), &json!(1), &json!(1))
    );
    // Cumulative 3, -2, -1, -1: 5 below the peak of 3.
    assert!(close(&iv[0]["drawdown_usd"], 5.0), "{body}");
    assert!(close(&iv[0]["win_rate"], 0.5), "{body}");
    assert!(close(&iv[0]["fee_usd"], 0.3), "{body}");
    assert!(close(&iv[0]["volume_usd"], 400.0), "{body}");
    assert!(close(&iv[1]["cumulative_pnl_usd"], 3.0), "{body}");
    assert!(
        close(&iv[1]["drawdown_usd"], 0.0),
        "back at its peak: {body}"
    );
    let t = &body["totals"];
    assert!(close(&t["pnl_usd"], 3.0), "{body}");
    assert_eq!((&t["trades"], &t["wins"]), (&json!(5), &json!(3)));
    assert!(close(&t["win_rate"], 0.6), "{body}");
    assert!(close(&t["drawdown_usd"], 5.0), "{body}");

    // The fleet, in booking order across bots: 3, -2, -4 (prod's -2), -3, -3, 1.
    let body = pnl(&app, "adm", &format!("?scope=fleet&{range}&step=2m")).await;
    assert_eq!(body["intervals"].as_array().unwrap().len(), 1);
    assert!(close(&body["totals"]["pnl_usd"], 1.0), "{body}");
    assert!(close(&body["totals"]["drawdown_usd"], 7.0), "{body}");
    // Its sum is the trades' sum.
    let (s, trades) = call(&app, "GET", &format!("/api/v1/trades?{range}"), "adm", None).await;
    assert_eq!(s, StatusCode::OK);
    let sum: f64 = trades["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pnl_usd"].as_f64().unwrap())
        .sum();
    assert!(close(&body["totals"]["pnl_usd"], sum), "{sum} {body}");
    assert_eq!(
        trades["trades"][0]["route"],
        "SOL>USDC>SOL via raydium_v4,whirlpool"
    );
    assert!(close(&trades["trades"][0]["fee_usd"], 0.1));

    // An environment; a dev-scoped token never sums prod's.
    let body = pnl(&app, "adm", &format!("?scope=env:prod&{range}")).await;
    assert!(close(&body["totals"]["pnl_usd"], -2.0), "{body}");
    assert!(close(&body["totals"]["drawdown_usd"], 2.0), "{body}");
    // No step named: the smallest of the usual ones giving at most 200 intervals (1 s here).
    assert_eq!(body["step_ms"], 1_000);
    assert_eq!(body["intervals"].as_array().unwrap().len(), 120);
    let body = pnl(&app, "devview", &format!("?scope=fleet&{range}")).await;
    assert!(close(&body["totals"]["pnl_usd"], 3.0), "{body}");
    for scope in ["env:prod", "bot:p1"] {
        let body = pnl(&app, "devview", &format!("?scope={scope}&{range}")).await;
        assert_eq!(body["totals"]["trades"], 0, "{scope}: {body}");
        assert_eq!(body["totals"]["win_rate"], Value::Null, "{scope}: {body}");
    }

    // Refusals, naming the field.
    for (q, field) in [
        (format!("?scope=nope&{range}"), "scope"),
        (format!("?scope=bot:../x&{range}"), "scope"),
        (format!("?{range}&step=0"), "step"),
        (format!("?{range}&step=1w"), "step"),
        (
            format!("?from={}&to={}&step=1s", t0(), t0() + 86_400_000),
            "step",
        ),
        (format!("?from={}&to={}", t0(), t0()), "from"),
        (format!("?from={}&to={}", i64::MIN, i64::MAX), "from"),
    ] {
        let (s, body) = call(&app, "GET", &format!("/api/v1/pnl{q}"), "adm", None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {body}");
        assert_eq!(body["error"]["details"][0]["path"], field, "{q}: {body}");
    }
}

#[tokio::test]
async fn pnl_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn pnl_on_postgres() {
    let Some((_pg, url)) = postgres_for("pnl_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
