//! Environments as a boundary, through the API on real SQLite and PostgreSQL: scoped tokens and
//! users (404 for what is not theirs, as if absent), `?env=` filters, nodes serving some
//! environments, an environment that never changes, alert scopes, scoped rollouts, the audit
//! trail, the Prometheus text and the rows stored before environments were.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::{call, postgres_for};

fn config(id: &str, env: &str) -> Value {
    let mut cfg = sniperforge_protocol::template("triangular_arbitrage".parse().unwrap());
    cfg["bot_id"] = json!(id);
    cfg["environment"] = json!(env);
    cfg
}

fn ids(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|b| b[field].as_str().unwrap().to_string())
        .collect()
}

async fn exercise(url: &str) {
    let store = Store::connect(url).await.unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());

    // Scoped tokens: viewers and operators only, naming at least one environment.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(json!({"name": "devop", "role": "operator", "environments": ["dev"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["environments"], json!(["dev"]));
    let devop = body["token"].as_str().unwrap().to_string();
    for (bad, why) in [
        (
            json!({"name": "x", "role": "admin", "environments": ["dev"]}),
            "bad_scope",
        ),
        (
            json!({"name": "x", "role": "viewer", "environments": []}),
            "bad_scope",
        ),
        (
            json!({"name": "x", "role": "viewer", "environments": ["dev", "dev"]}),
            "bad_scope",
        ),
        (
            json!({"name": "x", "role": "viewer", "environments": ["staging"]}),
            "bad_request",
        ),
    ] {
        let (s, body) = call(&app, "POST", "/api/v1/auth/tokens", "adm", Some(bad)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"]["code"], why, "{body}");
    }
    let (_, tokens) = call(&app, "GET", "/api/v1/auth/tokens", "adm", None).await;
    let listed = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "devop")
        .cloned()
        .unwrap();
    assert_eq!(listed["environments"], json!(["dev"]));
    let (_, me) = call(&app, "GET", "/api/v1/auth/me", &devop, None).await;
    assert_eq!(me["environments"], json!(["dev"]), "{me}");

    // A node serving prod only, registered before any bot names it.
    let node = json!({"node_id": "prod-1", "hostname": "bm-1", "cores": 8, "memory_mb": 1024,
        "backend": "process", "environments": ["prod"]});
    let (s, body) = call(&app, "POST", "/api/v1/agent/register", "adm", Some(node)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // And one serving every environment (as agents before `--environments`).
    let node = json!({"node_id": "local", "hostname": "bm-0", "cores": 8, "memory_mb": 1024,
        "backend": "process"});
    let (s, body) = call(&app, "POST", "/api/v1/agent/register", "adm", Some(node)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Bots in three environments.
    for (id, env, node) in [
        ("d1", "dev", "local"),
        ("t1", "test", "local"),
        ("p1", "prod", "prod-1"),
    ] {
        let (s, body) = call(
            &app,
            "POST",
            "/api/v1/bots",
            "adm",
            Some(json!({"config": config(id, env), "node_id": node})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["bot"]["environment"], env, "{body}");
    }
    // The prod node takes no dev bot.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("d2", "dev"), "node_id": "prod-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "environment_not_served");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node prod-1 serves prod; bot d2 is dev"),
        "{body}"
    );

    // `?env=` filters; a name that is not an environment is a 400.
    let (_, all) = call(&app, "GET", "/api/v1/bots", "adm", None).await;
    assert_eq!(ids(&all, "bots", "bot_id"), ["d1", "p1", "t1"]);
    let (_, prod) = call(&app, "GET", "/api/v1/bots?env=prod", "adm", None).await;
    assert_eq!(ids(&prod, "bots", "bot_id"), ["p1"]);
    let (_, two) = call(&app, "GET", "/api/v1/configs?env=dev,test", "adm", None).await;
    assert_eq!(ids(&two, "configs", "config_id"), ["d1", "t1"]);
    let (s, body) = call(&app, "GET", "/api/v1/bots?env=staging", "adm", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (_, nodes) = call(&app, "GET", "/api/v1/nodes?env=dev", "adm", None).await;
    assert_eq!(ids(&nodes, "nodes", "node_id"), ["local"]);

    // The dev operator sees and drives dev only: everything of prod answers 404.
    let (_, mine) = call(&app, "GET", "/api/v1/bots", &devop, None).await;
    assert_eq!(ids(&mine, "bots", "bot_id"), ["d1"]);
    let (_, mine) = call(&app, "GET", "/api/v1/bots?env=prod", &devop, None).await;
    assert_eq!(ids(&mine, "bots", "bot_id"), Vec::<String>::new());
    let (_, mine) = call(&app, "GET", "/api/v1/configs", &devop, None).await;
    assert_eq!(ids(&mine, "configs", "config_id"), ["d1"]);
    for (method, path, body) in [
        ("GET", "/api/v1/bots/p1", None),
        (
            "PUT",
            "/api/v1/bots/p1",
            Some(json!({"config": config("p1", "prod")})),
        ),
        ("DELETE", "/api/v1/bots/p1", None),
        ("POST", "/api/v1/bots/p1/start", None),
        ("GET", "/api/v1/bots/p1/status", None),
        ("GET", "/api/v1/bots/p1/metrics", None),
        ("GET", "/api/v1/bots/p1/latency", None),
        ("GET", "/api/v1/system/logs/p1", None),
        ("GET", "/api/v1/configs/p1", None),
        ("PUT", "/api/v1/configs/p1", Some(config("p1", "prod"))),
        ("POST", "/api/v1/configs/p1/rollback?version=1", None),
        ("GET", "/api/v1/latency?scope=bot:p1", None),
    ] {
        let (s, answer) = call(&app, method, path, &devop, body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert!(
            !answer.to_string().contains("prod"),
            "{method} {path}: {answer}"
        );
    }
    // The same requests reach its own bot.
    let (s, body) = call(&app, "POST", "/api/v1/bots/d1/start", &devop, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // It cannot create in prod, nor move its bot there.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        &devop,
        Some(json!({"config": config("p9", "prod")})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "environment_forbidden");
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/bots/d1",
        "adm",
        Some(json!({"config": config("d1", "prod")})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "environment_change");
    // Merged latency of other environments is not its to read; its own environment's is.
    let (s, _) = call(&app, "GET", "/api/v1/latency?scope=fleet", &devop, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&app, "GET", "/api/v1/latency?scope=env:prod", &devop, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = call(&app, "GET", "/api/v1/latency?scope=env:dev", &devop, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // Nodes: those serving its environments; fleet counts: its bots.
    let (_, nodes) = call(&app, "GET", "/api/v1/nodes", &devop, None).await;
    assert_eq!(ids(&nodes, "nodes", "node_id"), ["local"]);
    let (_, fleet) = call(&app, "GET", "/api/v1/system/metrics", &devop, None).await;
    assert_eq!(fleet["bots"], 1, "{fleet}");
    // Prometheus: its bots only.
    let text = get_text(&app, "/metrics", &devop).await;
    assert!(!text.contains("p1"), "{text}");
    // The audit trail: what was done to its bots, and what it did.
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", &devop, None).await;
    let targets: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert!(
        targets.contains(&"d1") && !targets.contains(&"p1"),
        "{audit}"
    );

    // The prod node is sent its prod bot only (a dev bot named on it before it registered
    // that it serves prod stays with the gateway).
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=prod-1&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert_eq!(ids(&desired, "bots", "bot_id"), ["p1"]);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("d3", "dev"), "node_id": "later"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let later = json!({"node_id": "later", "hostname": "bm-2", "cores": 8, "memory_mb": 1024,
        "backend": "process", "environments": ["prod"]});
    call(&app, "POST", "/api/v1/agent/register", "adm", Some(later)).await;
    let (_, desired) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=later&index=0&wait_ms=0",
        "adm",
        None,
    )
    .await;
    assert_eq!(ids(&desired, "bots", "bot_id"), Vec::<String>::new());

    // An agent token scoped to prod bounds what its node may serve.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(
            json!({"name": "agent-p2", "role": "agent", "node_id": "p2", "environments": ["prod"]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let agent = body["token"].as_str().unwrap().to_string();
    let claim = |envs: Value| {
        json!({"node_id": "p2", "hostname": "bm-p2", "cores": 8, "memory_mb": 1024,
            "backend": "process", "environments": envs})
    };
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/agent/register",
        &agent,
        Some(claim(json!(["prod", "dev"]))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["error"]["message"],
        "node p2 claims prod,dev; its token allows prod"
    );
    let mut silent = claim(Value::Null);
    silent.as_object_mut().unwrap().remove("environments");
    let (s, body) = call(&app, "POST", "/api/v1/agent/register", &agent, Some(silent)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, nodes) = call(&app, "GET", "/api/v1/nodes?env=dev", "adm", None).await;
    assert!(!ids(&nodes, "nodes", "node_id").contains(&"p2".to_string()));

    // An id staged in prod is not a dev bot's to take.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/configs",
        "adm",
        Some(json!({"config": config("staged", "prod")})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/bots",
        &devop,
        Some(json!({"config": config("staged", "dev")})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "exists");

    // Alert rules have a scope; alerts carry their environment.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/prod-errors",
        "adm",
        Some(json!({"kind": "bot_error", "scope": "env:prod"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "env:prod");
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/x",
        "adm",
        Some(json!({"kind": "bot_error", "scope": "env:staging"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["details"][0]["path"], "scope");
    for (node, bot) in [("prod-1", "p1"), ("local", "d1")] {
        let report = json!({"node_id": node, "bots": [{"bot_id": bot,
            "status": {"state": "error", "reason": "rpc dead"}, "metrics": {}}]});
        let (s, body) = call(&app, "POST", "/api/v1/agent/report", "adm", Some(report)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (_, ev) = call(&app, "POST", "/api/v1/alerts/evaluate", "adm", None).await;
    // The rule watches prod: d1's error raises nothing.
    assert_eq!(ev["raised"], json!(["prod-errors:p1"]), "{ev}");
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts?env=prod", "adm", None).await;
    assert_eq!(alerts["alerts"][0]["environment"], "prod", "{alerts}");
    let (_, alerts) = call(&app, "GET", "/api/v1/alerts", &devop, None).await;
    assert_eq!(alerts["alerts"], json!([]), "{alerts}");
    let (_, rules) = call(&app, "GET", "/api/v1/alerts/rules", &devop, None).await;
    assert_eq!(rules["rules"], json!([]), "{rules}");

    // Rollouts: a scoped operator restarts its own environment, nothing wider.
    for bad in [
        json!({"target": "restart"}),
        json!({"target": "restart", "scope": "env:prod"}),
        json!({"target": "0.1.0", "scope": "env:dev"}),
    ] {
        let (s, body) = call(&app, "POST", "/api/v1/rollouts", &devop, Some(bad)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    }
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollouts",
        &devop,
        Some(json!({"target": "restart", "scope": "env:dev"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let dev_rollout = body["rollout_id"].as_str().unwrap().to_string();
    let (_, mine) = call(&app, "GET", "/api/v1/rollouts", &devop, None).await;
    assert_eq!(
        ids(&mine, "rollouts", "rollout_id"),
        std::slice::from_ref(&dev_rollout)
    );
    let (s, _) = call(
        &app,
        "POST",
        &format!("/api/v1/rollouts/{dev_rollout}/abort"),
        &devop,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollouts",
        "adm",
        Some(json!({"target": "restart", "scope": "env:prod"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let prod_rollout = body["rollout_id"].as_str().unwrap().to_string();
    for path in [
        format!("/api/v1/rollouts/{prod_rollout}"),
        format!("/api/v1/rollouts/{prod_rollout}/pause"),
    ] {
        let method = if path.ends_with("pause") {
            "POST"
        } else {
            "GET"
        };
        let (s, _) = call(&app, method, &path, &devop, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    // Prod's rollout holds none of dev's bots: dev's runs beside it, and a second one over
    // the same bots waits.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollouts",
        &devop,
        Some(json!({"target": "restart", "scope": "env:dev"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollouts",
        &devop,
        Some(json!({"target": "restart", "scope": "env:dev"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is running and holds bot d"),
        "{body}"
    );
    // An admin's fleet-wide one overlaps both.
    let (s, body) = call(
        &app,
        "POST",
        "/api/v1/rollouts",
        "adm",
        Some(json!({"target": "restart", "scope": "fleet"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // Users: a scoped user's sessions carry the scope.
    let (s, body) = call(
        &app,
        "PUT",
        "/api/v1/auth/users/tess",
        "adm",
        Some(json!({"password": "a long enough password", "role": "viewer", "environments": ["test"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["environments"], json!(["test"]));
    let (s, session) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"name": "tess", "password": "a long enough password"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{session}");
    assert_eq!(session["environments"], json!(["test"]));
    let tess = session["token"].as_str().unwrap();
    let (_, mine) = call(&app, "GET", "/api/v1/bots", tess, None).await;
    assert_eq!(ids(&mine, "bots", "bot_id"), ["t1"]);
    let (_, users) = call(&app, "GET", "/api/v1/auth/users", "adm", None).await;
    assert_eq!(
        users["users"][0]["environments"],
        json!(["test"]),
        "{users}"
    );
}

#[tokio::test]
async fn environments_are_a_boundary_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&format!("sqlite://{}", dir.path().join("g.db").display())).await;
}

#[tokio::test]
async fn environments_are_a_boundary_on_postgres() {
    let Some((_pg, url)) = postgres_for("environments_are_a_boundary_on_postgres") else {
        return;
    };
    exercise(&url).await;
}

/// Rows stored before environments were get theirs from their configuration's body at start.
#[tokio::test]
async fn rows_from_before_environments_are_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.db").display());
    let store = Store::connect(&url).await.unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/bots",
        "adm",
        Some(json!({"config": config("p1", "prod")})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    drop(app);
    drop(store);
    // As a gateway before migration 0009 left them (the columns exist, unset).
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    for table in ["bots", "config_versions"] {
        sqlx::query(&format!("UPDATE {table} SET environment = NULL"))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
    let store = Store::connect(&url).await.unwrap();
    let bot = store.bot("p1").await.unwrap().unwrap();
    assert_eq!(bot.environment, sniperforge_gateway::Environment::Prod);
    let cfg = store.config("p1", None).await.unwrap().unwrap();
    assert_eq!(cfg.environment, sniperforge_gateway::Environment::Prod);
}

async fn get_text(app: &axum::Router, path: &str, token: &str) -> String {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}
