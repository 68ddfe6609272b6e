//! The OpenAPI document matches what is served: every documented route exists with its method,
//! and needs exactly the role it documents; every refusal, the router's and the extractors' own
//! included, answers the `{"error"}` body.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::json;
use sniperforge_gateway::openapi::ROUTES;
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::{call, call_as};

#[tokio::test]
async fn document_matches_the_router_and_its_roles() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("view", "v", Role::Viewer, None)
        .await
        .unwrap();
    store
        .add_token("op", "o", Role::Operator, None)
        .await
        .unwrap();
    store
        .add_token("adm", "a", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_agent_token("ag", "ag", "none", None)
        .await
        .unwrap();
    let app = router(AppState::new(store).await.unwrap());

    let (s, doc) = call(&app, "GET", "/api/v1/openapi.json", "view", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = &doc["components"]["schemas"];
    let action = &doc["paths"]["/api/v1/bots/{bot_id}/{action}"]["post"]["parameters"][1]["schema"];
    assert_eq!(action["$ref"], "#/components/schemas/BotAction");
    assert_eq!(
        schemas["BotAction"]["oneOf"].as_array().map_or_else(
            || schemas["BotAction"]["enum"].as_array().unwrap().len(),
            Vec::len
        ),
        5,
        "{}",
        schemas["BotAction"]
    );
    assert_eq!(
        doc["paths"]["/api/v1/system/health"]["get"]["security"],
        json!([])
    );

    let rank = |r: &str| {
        ["none", "viewer", "operator", "admin"]
            .iter()
            .position(|x| *x == r)
            .unwrap()
    };
    for route in ROUTES {
        let (method, path, role) = (route.method, route.path, route.role);
        // Path parameters filled with a value no store holds: handlers answer 404/400, never
        // the router's own "no_route" or 405; `action` must be a real one.
        let concrete = path.replace("{action}", "stop").replace(['{', '}'], "");
        let documented = &doc["paths"][path][method.to_ascii_lowercase()];
        assert_eq!(documented["x-role"], role, "{method} {path}");
        // Blocking queries are asked not to wait.
        let concrete = if path.ends_with("/agent/desired") {
            format!("{concrete}?node_id=none&index=0&wait_ms=1")
        } else {
            concrete
        };
        for (token, held) in [
            (None, "none"),
            (Some("view"), "viewer"),
            (Some("op"), "operator"),
            (Some("ag"), "agent"),
        ] {
            let (s, body) = call_as(&app, method, &concrete, token, Some(json!({}))).await;
            assert_ne!(
                body["error"]["code"], "no_route",
                "{method} {path}: not routed"
            );
            assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            // Agent routes take agent tokens (and admins'); agent tokens reach nothing else.
            let allowed = if role == "none" {
                true
            } else if role == "agent" || held == "agent" {
                role == held
            } else {
                rank(held) >= rank(role)
            };
            let refused = s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN;
            assert_eq!(
                !refused, allowed,
                "{method} {path} with a {held} token answered {s} {body}; documented role {role}"
            );
        }
    }

    // Every body and answer has a schema, every `$ref` resolves, configurations are the
    // per-type schemas, and no type means one thing read and another written.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if let Some(content) = response.get("content") {
                    for (_, media) in content.as_object().unwrap() {
                        assert!(
                            media["schema"].as_object().is_some_and(|s| !s.is_empty()),
                            "{method} {path} {status}: no schema"
                        );
                    }
                }
            }
            if let Some(body) = op.get("requestBody") {
                let schema = &body["content"]["application/json"]["schema"];
                assert!(
                    schema.as_object().is_some_and(|s| !s.is_empty()),
                    "{method} {path}: request body without a schema"
                );
            }
        }
    }
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(r) = m.get("$ref").and_then(|r| r.as_str()) {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(schemas.get(name).is_some(), "{r} does not resolve");
    }
    assert!(
        schemas
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.ends_with("_written")),
        "a type's read and written schemas differ"
    );
    assert_eq!(
        doc["paths"]["/api/v1/configs/{config_id}"]["put"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/BotConfig"
    );
    assert_eq!(schemas["BotConfig"]["oneOf"].as_array().unwrap().len(), 7);
    assert_eq!(
        schemas["CreateBot"]["properties"]["config"]["$ref"],
        "#/components/schemas/BotConfig"
    );

    // The limits the schemas state are the protocol's constants (schemars attributes take
    // literals).
    use sniperforge_protocol::fleet as wire;
    let node = &schemas["NodeInfo"]["properties"];
    assert_eq!(node["hostname"]["maxLength"], wire::HOSTNAME_MAX);
    assert_eq!(node["backend"]["enum"], json!(wire::BACKENDS));
    assert_eq!(node["memory_mb"]["maximum"], wire::MEMORY_MB_MAX);
    let cpus = sniperforge_protocol::cpus::MAX_CPU;
    assert_eq!(node["isolated_cores"]["maxItems"], cpus);
    assert_eq!(node["isolated_cores"]["items"]["maximum"], cpus - 1);
    assert_eq!(
        schemas["Report"]["properties"]["bots"]["maxItems"],
        wire::REPORT_BOTS_MAX
    );
    let bot = &schemas["BotReport"]["properties"];
    assert_eq!(bot["logs"]["maxItems"], wire::LOG_LINES_PER_REPORT);
    assert_eq!(bot["logs"]["items"]["maxLength"], wire::LOG_LINE_MAX);
    assert_eq!(
        bot["hdr"]["propertyNames"]["enum"],
        json!(sniperforge_protocol::control::REPORT_STAGES)
    );

    let p99 = schemas["RuleBody"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["properties"]["kind"]["const"] == "p99_above")
        .unwrap();
    assert_eq!(
        p99["properties"]["for_s"]["maximum"],
        sniperforge_gateway::api::RECENT_P99_MS / 1000
    );

    // What serde's derives would let through and the document forbids: a struct read from an
    // array, a tagged enum's variant from its index, a field a rule kind does not take.
    for (method, path, body) in [
        ("POST", "/api/v1/auth/login", json!(["admin", "password"])),
        (
            "PUT",
            "/api/v1/alerts/rules/r1",
            json!({"kind": 0, "after_s": 5}),
        ),
        (
            "PUT",
            "/api/v1/alerts/rules/r1",
            json!({"kind": "bot_error", "after_s": 5}),
        ),
        (
            "PUT",
            "/api/v1/alerts/rules/bad%20id",
            json!({"kind": "bot_error"}),
        ),
        (
            "POST",
            "/api/v1/agent/report",
            json!({"node_id": "n", "bots": [{"bot_id": "b", "status": [null, null]}]}),
        ),
        (
            "POST",
            "/api/v1/agent/report",
            json!({"node_id": "n", "bots": [["b", {}]]}),
        ),
        (
            "POST",
            "/api/v1/agent/register",
            json!({"node_id": "n", "hostname": "h", "cores": 1, "memory_mb": 1, "backend": "docker"}),
        ),
    ] {
        let (s, answer) = call(&app, method, path, "adm", Some(body.clone())).await;
        assert_eq!(
            s,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {answer}"
        );
    }
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/alerts/rules/r1",
        "adm",
        Some(json!({"kind": "bot_error", "webhook": ""})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Unknown routes and methods answer the error body too.
    let (s, body) = call(&app, "GET", "/api/v1/nowhere", "view", None).await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );
    let (s, body) = call(&app, "PATCH", "/api/v1/bots", "adm", None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");

    // The extractors' own rejections come in the same body: an oversized body, a bad query.
    let big = json!({"config": "x".repeat(sniperforge_gateway::api::MAX_BODY)});
    let (s, body) = call(&app, "POST", "/api/v1/bots", "op", Some(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    let (s, body) = call(
        &app,
        "GET",
        "/api/v1/agent/desired?node_id=n&index=abc",
        "adm",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("index"),
        "{body}"
    );
}
