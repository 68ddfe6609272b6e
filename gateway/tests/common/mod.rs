//! Helpers shared by the gateway integration tests.

#![allow(dead_code, clippy::unwrap_used)] // each test file uses what it needs; helpers unwrap

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One request through the router with a bearer token; the status and the JSON body (null
/// when not JSON).
pub async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_as(app, method, path, Some(token), body).await
}

/// [`call`] with the token optional (no Authorization header when `None`).
pub async fn call_as(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_with(app, method, path, token, &[], body).await
}

/// [`call_as`] with extra request headers.
pub async fn call_with(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A throwaway PostgreSQL cluster on loopback, stopped on drop.
pub struct Postgres {
    dir: tempfile::TempDir,
    pg_ctl: std::path::PathBuf,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Option<Self> {
        let bin = [
            "/usr/lib/postgresql/15/bin",
            "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin",
        ]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|d| d.join("initdb").is_file())?;
        let dir = tempfile::tempdir().ok()?;
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .ok()?
            .stdout
            == b"0\n";
        let run = |args: &[&str]| -> bool {
            let mut c = if root {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]);
                c
            } else {
                std::process::Command::new(args[0])
            };
            if root {
                c.args(args);
            } else {
                c.args(&args[1..]);
            }
            c.output().map(|o| o.status.success()).unwrap_or(false)
        };
        if root {
            std::process::Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
        }
        let data = dir.path().join("data");
        let initdb = bin.join("initdb");
        if !run(&[
            initdb.to_str()?,
            "-D",
            data.to_str()?,
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]) {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg_ctl = bin.join("pg_ctl");
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off",
            dir.path().display()
        );
        if !run(&[
            pg_ctl.to_str()?,
            "-D",
            data.to_str()?,
            "-w",
            "-o",
            &opts,
            "-l",
            dir.path().join("log").to_str()?,
            "start",
        ]) {
            return None;
        }
        Some(Self { dir, pg_ctl, port })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"])
            .arg(&self.pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "stop"]);
        if c.output().map(|o| !o.status.success()).unwrap_or(true) {
            let _ = std::process::Command::new(&self.pg_ctl)
                .arg("-D")
                .arg(&data)
                .args(["-m", "fast", "stop"])
                .output();
        }
    }
}

/// A store at `url` holding `tokens` (token, name, role).
pub async fn store_with_tokens(
    url: &str,
    tokens: &[(&str, &str, sniperforge_gateway::Role)],
) -> sniperforge_gateway::Store {
    let store = sniperforge_gateway::Store::connect(url).await.unwrap();
    for &(token, name, role) in tokens {
        store.add_token(token, name, role, None).await.unwrap();
    }
    store
}

/// A store at `url` holding `tokens` (token, name, role, the environments it is scoped to).
pub async fn store_with_scoped_tokens(
    url: &str,
    tokens: &[(
        &str,
        &str,
        sniperforge_gateway::Role,
        Option<&[sniperforge_gateway::Environment]>,
    )],
) -> sniperforge_gateway::Store {
    let store = sniperforge_gateway::Store::connect(url).await.unwrap();
    for &(token, name, role, envs) in tokens {
        store.add_token(token, name, role, envs).await.unwrap();
    }
    store
}

pub use sniperforge_testkit::skip_unless_ci;

pub mod schema;

/// A throwaway PostgreSQL cluster and its URL, or `None` (saying `test` is skipped) without
/// the server binaries. Under CI (`CI` set) a missing server fails the test instead: CI
/// installs PostgreSQL, so its absence is a broken run, not a skip.
pub fn postgres_for(test: &str) -> Option<(Postgres, String)> {
    let Some(pg) = Postgres::start() else {
        skip_unless_ci(
            test,
            "no PostgreSQL server binaries (apt-get install postgresql)",
        );
        return None;
    };
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port);
    Some((pg, url))
}

/// Registers node `n1` with `token` (an admin's) and creates an `enhanced_arbitrage` bot on it
/// for each `(bot_id, environment)`.
pub async fn node_with_bots(app: &axum::Router, token: &str, bots: &[(&str, &str)]) {
    let node = serde_json::json!({"node_id": "n1", "hostname": "n1", "cores": 8,
        "memory_mb": 4096, "backend": "process"});
    let (s, body) = call(app, "POST", "/api/v1/agent/register", token, Some(node)).await;
    assert_eq!(s, axum::http::StatusCode::OK, "{body}");
    for (id, env) in bots {
        let mut cfg = sniperforge_protocol::template("enhanced_arbitrage".parse().unwrap());
        cfg["bot_id"] = serde_json::json!(id);
        cfg["environment"] = serde_json::json!(env);
        let (s, body) = call(
            app,
            "POST",
            "/api/v1/bots",
            token,
            Some(serde_json::json!({"config": cfg, "node_id": "n1"})),
        )
        .await;
        assert_eq!(s, axum::http::StatusCode::CREATED, "{body}");
    }
}
