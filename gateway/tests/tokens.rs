//! Token management (admin only): create shows the token once, list never shows it, revoke
//! ends access at once, the last admin cannot be revoked, and every change is audited.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use axum::http::StatusCode;
use serde_json::json;
use sniperforge_gateway::{AppState, Role, Store, router};

mod common;
use common::call;

#[tokio::test]
async fn admins_manage_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store.add_token("adm", "alice", Role::Admin).await.unwrap();
    store.add_token("op", "olga", Role::Operator).await.unwrap();
    let app = router(AppState::new(store).await.unwrap());

    // Only admins: operators are refused every token route.
    for (m, p) in [
        ("GET", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/tokens"),
        ("DELETE", "/api/v1/auth/tokens/alice"),
    ] {
        assert_eq!(
            call(&app, m, p, "op", Some(json!({}))).await.0,
            StatusCode::FORBIDDEN,
            "{m} {p}"
        );
    }

    // Bad requests say which field.
    for (body, path) in [
        (json!({"name": "bob", "role": "god"}), "role"),
        (json!({"name": "bad name!", "role": "viewer"}), "name"),
        (json!({"name": "", "role": "viewer"}), "name"),
    ] {
        let (s, e) = call(&app, "POST", "/api/v1/auth/tokens", "adm", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["details"][0]["path"], path, "{e}");
    }
    let (s, e) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(json!({"name": "bob", "role": "viewer", "extra": 1})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // Create: the token is shown once and works with its role.
    let (s, made) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(json!({"name": "bob", "role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let bob = made["token"].as_str().unwrap().to_string();
    assert_eq!(bob.len(), 40);
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", &bob, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "POST", "/api/v1/system/emergency-stop", &bob, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, _) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(json!({"name": "bob", "role": "admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // List: names and roles, never a token or a hash.
    let (_, list) = call(&app, "GET", "/api/v1/auth/tokens", "adm", None).await;
    let names: Vec<&str> = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob", "olga"]);
    let text = list.to_string();
    assert!(!text.contains(&bob) && !text.contains("hash"), "{text}");

    // Revoke: access ends at once; unknown names are 404; the last admin stays.
    let (s, r) = call(&app, "DELETE", "/api/v1/auth/tokens/bob", "adm", None).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["revoked"], 1);
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", &bob, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "DELETE", "/api/v1/auth/tokens/bob", "adm", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, e) = call(&app, "DELETE", "/api/v1/auth/tokens/alice", "adm", None).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["code"], "last_admin");

    // A second admin makes the first revocable.
    let (_, made) = call(
        &app,
        "POST",
        "/api/v1/auth/tokens",
        "adm",
        Some(json!({"name": "carol", "role": "admin"})),
    )
    .await;
    let carol = made["token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, "DELETE", "/api/v1/auth/tokens/alice", &carol, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/auth/tokens", "adm", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Every change is in the audit trail, with who did it.
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", &carol, None).await;
    let entries: Vec<(String, String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"].as_str().unwrap().starts_with("token."))
        .map(|a| {
            (
                a["actor"].as_str().unwrap().to_string(),
                a["action"].as_str().unwrap().to_string(),
                a["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        ("alice", "token.create", "bob"),
        ("alice", "token.revoke", "bob"),
        ("alice", "token.create", "carol"),
        ("carol", "token.revoke", "alice"),
    ] {
        assert!(
            entries
                .iter()
                .any(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()) == want),
            "{want:?} not in {entries:?}"
        );
    }
}
