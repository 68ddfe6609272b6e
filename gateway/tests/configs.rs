//! `POST /api/v1/configs`: a configuration stored before any bot runs it, versioned with PUT,
//! and a bot created from it by id — on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used)]

mod common;

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, router};

use common::{call_as as call, call_with, postgres_for, store_with_tokens};

async fn exercise(url: &str) {
    let store = store_with_tokens(
        url,
        &[
            ("op-secret", "olga", Role::Operator),
            ("view-secret", "victor", Role::Viewer),
        ],
    )
    .await;
    let app = router(AppState::new(store).await.unwrap());
    let (op, viewer) = (Some("op-secret"), Some("view-secret"));
    let mut cfg = sniperforge_protocol::template("triangular_arbitrage".parse().unwrap());
    cfg["bot_id"] = json!("tri-staged");

    let post = |who, body: Value| {
        let app = app.clone();
        async move { call(&app, "POST", "/api/v1/configs", who, Some(body)).await }
    };
    assert_eq!(
        post(viewer, json!({"config": cfg})).await.0,
        StatusCode::FORBIDDEN
    );
    let mut bad = cfg.clone();
    bad["parameters"]["trading"]["min_profit_bps"] = json!(0);
    bad["parameters"]["trading"]["max_hops"] = json!(9);
    let (s, body) = post(op, json!({"config": bad})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["error"]["details"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    // Checked without being stored, by any role: each error at its field.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/configs/validate",
        viewer,
        Some(json!({"config": bad})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let paths: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["trading.min_profit_bps", "trading.max_hops"],
        "{body}"
    );
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/configs/validate",
        viewer,
        Some(json!({"config": cfg})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"valid": true, "bot_id": "tri-staged", "bot_type": "triangular_arbitrage", "environment": "dev"})
    );
    let (s, _) = call(&app, "GET", "/api/v1/configs/tri-staged", viewer, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "validating stored nothing");
    let (s, body) = post(op, json!({"config": cfg, "extra": 1})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = post(op, json!({"config": cfg})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(
        post(op, json!({"config": cfg})).await.0,
        StatusCode::CONFLICT
    );

    // Listed and versioned like any configuration; no bot yet.
    let (_, list) = call(&app, "GET", "/api/v1/configs", viewer, None).await;
    assert!(
        list["configs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["config_id"] == "tri-staged"),
        "{list}"
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/bots/tri-staged", viewer, None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let mut v2 = cfg.clone();
    v2["parameters"]["trading"]["min_profit_bps"] = json!(44);
    let (s, body) = call_with(
        &app,
        "PUT",
        "/api/v1/configs/tri-staged",
        op,
        &[("if-match", "1")],
        Some(v2.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(body["applied_hot"], json!(["trading.min_profit_bps"]));

    // A bot from the stored configuration runs its latest version; no new version is made.
    let create = |body: Value| {
        let app = app.clone();
        async move { call(&app, "POST", "/api/v1/bots", op, Some(body)).await }
    };
    let (s, body) = create(json!({"config_id": "ghost"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, body) = create(json!({"config_id": "tri-staged", "config": cfg})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = create(json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = create(json!({"config_id": "tri-staged", "node_id": "ny-1"})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["bot"]["config_version"], 2, "{body}");
    assert_eq!(body["bot"]["node_id"], "ny-1");
    let (_, bot) = call(&app, "GET", "/api/v1/bots/tri-staged", viewer, None).await;
    assert_eq!(bot["config"]["version"], 2);
    assert_eq!(bot["config"]["body"], v2);
    assert_eq!(
        create(json!({"config_id": "tri-staged"})).await.0,
        StatusCode::CONFLICT,
        "the bot exists"
    );
    // A configuration under an existing bot's id is refused: it has one.
    assert_eq!(
        post(op, json!({"config": v2})).await.0,
        StatusCode::CONFLICT
    );
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", viewer, None).await;
    assert!(
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "config.create" && a["target"] == "tri-staged"),
        "{audit}"
    );
}

#[tokio::test]
async fn staged_configs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn staged_configs_on_postgres() {
    if let Some((_pg, url)) = postgres_for("staged_configs_on_postgres") {
        exercise(&url).await;
    }
}
