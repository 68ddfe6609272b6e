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
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("op", "olga", Role::Operator, None)
        .await
        .unwrap();
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

/// Password login: admins manage users (argon2id, never shown), a login gives a session token
/// with the user's role, wrong credentials are one 401, a client is limited to 5 failures a
/// minute (429 with Retry-After), a changed password ends sessions, expired sessions fail.
#[tokio::test]
async fn password_login_with_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("op", "olga", Role::Operator, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let login = |name: &str, password: &str| json!({"name": name, "password": password});

    // Only admins manage users; bad input names the field.
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/auth/users/vera",
        "op",
        Some(json!({"password": "long enough pw", "role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (path, body, field) in [
        (
            "/api/v1/auth/users/vera",
            json!({"password": "short", "role": "viewer"}),
            "password",
        ),
        (
            "/api/v1/auth/users/vera",
            json!({"password": "long enough pw", "role": "root"}),
            "role",
        ),
        (
            "/api/v1/auth/users/bad%20name",
            json!({"password": "long enough pw", "role": "viewer"}),
            "name",
        ),
    ] {
        let (s, b) = call(&app, "PUT", path, "adm", Some(body)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["error"]["details"][0]["path"], field, "{b}");
    }
    let (s, b) = call(
        &app,
        "PUT",
        "/api/v1/auth/users/vera",
        "adm",
        Some(json!({"password": "correct horse battery", "role": "operator"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, users) = call(&app, "GET", "/api/v1/auth/users", "adm", None).await;
    assert_eq!(users["users"][0]["name"], "vera");
    assert!(
        !users.to_string().contains("argon2"),
        "hashes are never shown: {users}"
    );

    // Login: no token needed; the session token carries the user's role.
    let (s, b) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(login("vera", "correct horse battery")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["role"], "operator");
    let session = b["token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", &session, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/auth/tokens", &session, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, tokens) = call(&app, "GET", "/api/v1/auth/tokens", "adm", None).await;
    let listed = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "session:vera")
        .cloned()
        .unwrap();
    assert!(listed["expires_at"].as_i64().unwrap() > 0);
    assert!(!tokens.to_string().contains(&session));

    // Malformed requests are 400 and do not count as failures.
    let (s, _) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"name": "vera"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Wrong password and unknown user: the same 401.
    let (s1, b1) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(login("vera", "wrong password!")),
    )
    .await;
    let (s2, b2) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(login("nobody", "wrong password!")),
    )
    .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(b1["error"], b2["error"]);
    // Three more failures reach the limit; then even the right password waits.
    for _ in 0..3 {
        let (s, _) = common::call_as(
            &app,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(login("vera", "nope nope nope")),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = common::call_as(
        &app,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(login("vera", "correct horse battery")),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
    assert_eq!(b["error"]["code"], "rate_limited");
    assert!(b["error"]["details"]["retry_after_s"].as_u64().unwrap() >= 1);

    // A new password ends the sessions of the old one.
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/auth/users/vera",
        "adm",
        Some(json!({"password": "another long secret", "role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", &session, None).await.0,
        StatusCode::UNAUTHORIZED
    );

    // An expired session is refused.
    store
        .add_session("expired-session-token", "vera", Role::Viewer, None, 1)
        .await
        .unwrap();
    assert_eq!(
        call(&app, "GET", "/api/v1/bots", "expired-session-token", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    // Deleting the user works once, and is audited with everything else.
    assert_eq!(
        call(&app, "DELETE", "/api/v1/auth/users/vera", "adm", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, "DELETE", "/api/v1/auth/users/vera", "adm", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "adm", None).await;
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for a in ["user.create", "auth.login", "user.update", "user.delete"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(
        !audit.to_string().contains("correct horse"),
        "passwords never reach the audit"
    );
}

/// Twenty bad logins at once from one client: five are verified (401), the rest refused
/// before any hash is computed (429), and every failure is in the audit trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bad_logins_get_the_allowance_and_429_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let (s, _) = call(
        &app,
        "PUT",
        "/api/v1/auth/users/vera",
        "adm",
        Some(json!({"password": "correct horse battery", "role": "viewer"})),
    )
    .await;
    assert!(s.is_success());
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                common::call_as(
                    &app,
                    "POST",
                    "/api/v1/auth/login",
                    None,
                    Some(json!({"name": "vera", "password": "wrong password!"})),
                )
                .await
                .0
            })
        })
        .collect();
    let mut codes = Vec::new();
    for a in attempts {
        codes.push(a.await.unwrap());
    }
    let unauthorized = codes
        .iter()
        .filter(|c| **c == StatusCode::UNAUTHORIZED)
        .count();
    let limited = codes
        .iter()
        .filter(|c| **c == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(unauthorized <= 5, "{codes:?}");
    assert_eq!(unauthorized + limited, 20, "{codes:?}");
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "adm", None).await;
    let failed = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login_failed" && e["target"] == "vera")
        .count();
    assert_eq!(failed, unauthorized, "{audit}");
    // Viewers see that logins failed, not the names tried.
    store
        .add_token("view", "victor", Role::Viewer, None)
        .await
        .unwrap();
    let (_, audit) = call(&app, "GET", "/api/v1/system/audit", "view", None).await;
    let failed: Vec<_> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .collect();
    assert!(!failed.is_empty());
    assert!(failed.iter().all(|e| e["target"] == "(hidden)"), "{audit}");
}
