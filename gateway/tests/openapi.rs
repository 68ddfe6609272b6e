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
    store.add_token("view", "v", Role::Viewer).await.unwrap();
    store.add_token("op", "o", Role::Operator).await.unwrap();
    store.add_token("adm", "a", Role::Admin).await.unwrap();
    store.add_agent_token("ag", "ag", "none").await.unwrap();
    let app = router(AppState::new(store).await.unwrap());

    let (s, doc) = call(&app, "GET", "/api/v1/openapi.json", "view", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    assert_eq!(
        doc["paths"]["/api/v1/bots/{bot_id}/{action}"]["post"]["parameters"][1]["schema"]["enum"]
            .as_array()
            .unwrap()
            .len(),
        5
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
    for &(method, path, role, _) in ROUTES {
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
