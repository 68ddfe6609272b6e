//! Backtests through the API on real SQLite and PostgreSQL, the node's side played by an
//! admin token (it may act for any node): queued in the node's desired state, results taken
//! from its node only, listings with totals only, cancel and delete, scoping, and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Environment, Role, Store, router};

mod common;
use common::{call, node_with_bots, postgres_for, store_with_scoped_tokens};

fn config(env: &str) -> Value {
    let mut cfg = sniperforge_protocol::template("triangular_arbitrage".parse().unwrap());
    cfg["bot_id"] = json!("bt-bot");
    cfg["environment"] = json!(env);
    cfg
}

/// The recordings a node's reports list: kept until a report lists them anew, each checked.
async fn recordings(app: &axum::Router) {
    let listed = |app: axum::Router| async move {
        let (_, n) = call(&app, "GET", "/api/v1/nodes", "adm", None).await;
        n["nodes"][0]["recordings"].clone()
    };
    assert_eq!(
        listed(app.clone()).await,
        json!(null),
        "none before a report lists them"
    );
    let report = |recordings: Value| {
        let app = app.clone();
        async move {
            call(
                &app,
                "POST",
                "/api/v1/agent/report",
                "adm",
                Some(json!({"node_id": "n1", "bots": [], "recordings": recordings})),
            )
            .await
        }
    };
    let two = json!([
        {"name": "m.sfrec", "bytes": 8_812_345, "modified_ms": 1_765_000_000_000_u64},
        {"name": "old-1.sfrec", "bytes": 18, "modified_ms": 0},
    ]);
    let (s, body) = report(two.clone()).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(listed(app.clone()).await, two);
    // A report without them (unchanged, or an older agent) keeps what the node listed.
    let (s, _) = call(
        app,
        "POST",
        "/api/v1/agent/report",
        "adm",
        Some(json!({"node_id": "n1", "bots": []})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed(app.clone()).await, two);
    // A node that registers again (as its agent does after an upgrade) keeps them.
    node_with_bots(app, "adm", &[]).await;
    assert_eq!(listed(app.clone()).await, two);
    // Each refused at its entry, the report whole, and nothing changes.
    let entry = |name: &str| json!({"name": name, "bytes": 1, "modified_ms": 1});
    let many: Vec<Value> = (0..257).map(|i| entry(&format!("r{i}.sfrec"))).collect();
    for (list, says) in [
        (
            json!([entry("ok.sfrec"), entry("../etc/passwd.sfrec")]),
            "recordings[1].name",
        ),
        (json!([entry(".hidden.sfrec")]), "recordings[0].name"),
        (json!([entry("notes.txt")]), "recordings[0].name"),
        (
            json!([entry("a.sfrec"), entry("a.sfrec")]),
            "recordings[1].name: a.sfrec is listed twice",
        ),
        (json!(many), "recordings: 257 entries; at most 256"),
        (
            json!([{"name": "a.sfrec", "bytes": -1, "modified_ms": 0}]),
            "bytes",
        ),
        (
            json!([{"name": "a.sfrec", "bytes": 1_u64 << 53, "modified_ms": 0}]),
            "recordings[0].bytes: at most 9007199254740991",
        ),
        (
            json!([{"name": "a.sfrec", "bytes": 0, "modified_ms": 8_640_000_000_000_001_u64}]),
            "recordings[0].modified_ms: at most 8640000000000000",
        ),
        (
            json!([{"name": "a.sfrec", "bytes": 1, "modified_ms": 0, "x": 1}]),
            "unknown field",
        ),
    ] {
        let (s, body) = report(list).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.to_string().contains(says), "{says}: {body}");
    }
    assert_eq!(listed(app.clone()).await, two);
    // An empty listing replaces it (the files were removed).
    let (s, _) = report(json!([])).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listed(app.clone()).await, json!([]));
    let (s, _) = report(two.clone()).await;
    assert_eq!(s, StatusCode::OK);
}

async fn exercise(url: &str) {
    let store = store_with_scoped_tokens(
        url,
        &[
            ("adm", "alice", Role::Admin, None),
            ("devop", "dora", Role::Operator, Some(&[Environment::Dev])),
        ],
    )
    .await;
    let app = router(AppState::new(store).await.unwrap());
    node_with_bots(&app, "adm", &[]).await;
    recordings(&app).await;
    let ask = |token: &'static str, body: Value| {
        let app = app.clone();
        async move { call(&app, "POST", "/api/v1/backtests", token, Some(body)).await }
    };
    let (s, one) = ask(
        "devop",
        json!({"node_id": "n1", "recording": "m.sfrec", "config": config("dev")}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{one}");
    let id = one["backtest_id"].as_str().unwrap().to_string();
    let (s, two) = ask(
        "adm",
        json!({"node_id": "n1", "recording": "m.sfrec", "config": config("prod"),
        "sweep": ["trading.min_profit_bps=10,20"]}),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{two}");
    let prod = two["backtest_id"].as_str().unwrap().to_string();
    // The node's desired state lists both, oldest first.
    let (_, d) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=n1&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    let ids: Vec<&str> = d["backtests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str(), prod.as_str()], "{d}");

    // Refusals at their field, before anything is queued.
    let mut big = config("dev");
    big["parameters"]["execution"]["keypair_path"] = json!("x".repeat(70_000));
    for (body, field) in [
        (
            json!({"node_id": "n1", "recording": "m.sfrec", "config": big}),
            "config",
        ),
        (
            json!({"node_id": "n1", "recording": "m.sfrec", "config": config("dev"),
            "sweep": ["trading.min_profit_bps=10,-5"]}),
            "sweep",
        ),
        (
            json!({"node_id": "n1", "recording": "m.sfrec", "config": config("dev"),
            "sweep": ["execution.spin=true"]}),
            "sweep",
        ),
    ] {
        let (s, b) = ask("adm", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"]["details"][0]["path"], field, "{b}");
    }
    let (s, b) = ask(
        "devop",
        json!({"node_id": "n1", "recording": "m.sfrec", "config": config("prod")}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // The node's result: bounded, NUL-free, only while queued or running.
    let report = json!({"bot_id": "bt-bot", "trades": 3, "pnl_usd": 1.5, "win_rate": 0.5,
        "routes": [{"route": "a", "trades": 3}], "max_drawdown_usd": 0.2});
    let post = |id: String, body: Value| {
        let app = app.clone();
        async move {
            call(
                &app,
                "POST",
                &format!("/api/v1/agent/backtests/{id}"),
                "adm",
                Some(body),
            )
            .await
        }
    };
    let (s, b) = post(
        id.clone(),
        json!({"node_id": "n1", "state": "done", "report": report, "report_md": "a\u{0}b"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, b) = post(
        id.clone(),
        json!({"node_id": "n1", "state": "done", "report": report, "report_md": "# ok",
        "pnl_svg": "<svg/>", "timing": {"wall_ms": 5}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = post(
        id.clone(),
        json!({"node_id": "n1", "state": "failed", "error": "late"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a finished one stays finished: {b}"
    );
    // Whole when read alone; totals only when listed.
    let (_, whole) = call(
        &app,
        "GET",
        &format!("/api/v1/backtests/{id}"),
        "devop",
        None,
    )
    .await;
    assert_eq!(whole["report"], report);
    assert_eq!(
        (&whole["report_md"], &whole["timing"]["wall_ms"]),
        (&json!("# ok"), &json!(5))
    );
    let (_, list) = call(&app, "GET", "/api/v1/backtests", "adm", None).await;
    let listed = list["backtests"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{list}");
    let mine = listed
        .iter()
        .find(|b| b["backtest_id"] == json!(id))
        .unwrap();
    assert_eq!(
        mine["report"],
        json!({"bot_id": "bt-bot", "trades": 3, "pnl_usd": 1.5, "win_rate": 0.5, "max_drawdown_usd": 0.2})
    );
    assert_eq!(mine["timing"], Value::Null);
    assert!(mine.get("report_md").is_none(), "{mine}");
    assert_eq!(
        mine["request"]["config"],
        json!({"bot_id": "bt-bot", "bot_type": "triangular_arbitrage", "environment": "dev"})
    );
    // A dev operator reaches dev's only.
    let (_, list) = call(&app, "GET", "/api/v1/backtests", "devop", None).await;
    assert_eq!(list["backtests"].as_array().unwrap().len(), 1, "{list}");
    let (s, _) = call(
        &app,
        "GET",
        &format!("/api/v1/backtests/{prod}"),
        "devop",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/backtests/{prod}"),
        "devop",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Cancelling a queued one fails it (and the node's late result is refused); deleting a
    // finished one removes it.
    let (s, b) = call(
        &app,
        "DELETE",
        &format!("/api/v1/backtests/{prod}"),
        "adm",
        None,
    )
    .await;
    assert_eq!(
        (s, &b["done"]),
        (StatusCode::OK, &json!("cancelled")),
        "{b}"
    );
    let (_, b) = call(
        &app,
        "GET",
        &format!("/api/v1/backtests/{prod}"),
        "adm",
        None,
    )
    .await;
    assert_eq!(
        (&b["state"], &b["error"]),
        (&json!("failed"), &json!("cancelled by alice"))
    );
    let (s, _) = post(
        prod.clone(),
        json!({"node_id": "n1", "state": "done", "report": report}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, d) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=n1&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert!(
        d.get("backtests")
            .is_none_or(|b| b.as_array().unwrap().is_empty()),
        "{d}"
    );
    let (s, b) = call(
        &app,
        "DELETE",
        &format!("/api/v1/backtests/{id}"),
        "devop",
        None,
    )
    .await;
    assert_eq!((s, &b["done"]), (StatusCode::OK, &json!("deleted")), "{b}");
    let (s, _) = call(&app, "GET", &format!("/api/v1/backtests/{id}"), "adm", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A running one silent past its time fails; finished ones past the retention go.
    let (_, three) = ask(
        "adm",
        json!({"node_id": "n1", "recording": "m.sfrec", "config": config("dev")}),
    )
    .await;
    let third = three["backtest_id"].as_str().unwrap().to_string();
    let (s, _) = post(third.clone(), json!({"node_id": "n1", "state": "running"})).await;
    assert_eq!(s, StatusCode::OK);
    let store = Store::connect(url).await.unwrap();
    let far = i64::MAX / 2;
    store.prune_backtests(0, far).await.unwrap();
    let (_, b) = call(
        &app,
        "GET",
        &format!("/api/v1/backtests/{third}"),
        "adm",
        None,
    )
    .await;
    assert_eq!(
        (&b["state"], &b["error"]),
        (&json!("failed"), &json!("no result from its node in time"))
    );
    assert_eq!(
        store.prune_backtests(far, 0).await.unwrap(),
        2,
        "the two finished ones"
    );
}

#[tokio::test]
async fn backtests_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn backtests_on_postgres() {
    let Some((_pg, url)) = postgres_for("backtests_on_postgres") else {
        return;
    };
    exercise(&url).await;
}
