//! `GET /api/v1/ws/metrics` over a real socket on 127.0.0.1: auth, subscriptions per topic, the
//! 1 Hz push, and errors for bad messages that leave the stream open.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sniperforge_gateway::{AppState, Role, Store, router};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

mod common;

/// The OpenAPI document, and what either stream may send as it says (`x-server-message` of
/// the two `101` answers).
static STREAMS: std::sync::LazyLock<(Value, Value)> = std::sync::LazyLock::new(|| {
    let doc = sniperforge_gateway::openapi::document();
    let sent =
        |path: &str| doc["paths"][path]["get"]["responses"]["101"]["x-server-message"].clone();
    let either = json!({"anyOf": [sent("/api/v1/ws/metrics"), sent("/api/v1/ws/logs")]});
    (doc, either)
});

/// The next text message, which must be what the document says a stream sends.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            let (doc, sent) = &*STREAMS;
            if let Err(e) = common::schema::check(&v, sent, doc) {
                panic!("a stream sent what its document does not describe: {e}\n{v}");
            }
            return v;
        }
    }
}

#[test]
fn the_check_refuses_what_a_schema_forbids() {
    let doc = serde_json::json!({"components": {"schemas": {"A": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "minimum": 0}}, "additionalProperties": false}}}});
    let a = serde_json::json!({"$ref": "#/components/schemas/A"});
    assert!(common::schema::check(&serde_json::json!({"n": 1}), &a, &doc).is_ok());
    for bad in [
        serde_json::json!({"n": -1}),
        serde_json::json!({"n": 1.5}),
        serde_json::json!({}),
        serde_json::json!({"n": 1, "m": 2}),
        serde_json::json!([1]),
    ] {
        assert!(common::schema::check(&bad, &a, &doc).is_err(), "{bad}");
    }
    let one = serde_json::json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(
        common::schema::check(&serde_json::json!(1), &one, &doc).is_err(),
        "1 matches both"
    );
    assert!(common::schema::check(&serde_json::json!(1.5), &one, &doc).is_ok());
}

#[test]
fn the_streams_messages_are_each_one_kind() {
    // A fleet, bot or node topic message matches exactly one of the metrics stream's kinds.
    let (doc, _) = &*STREAMS;
    let metrics =
        &doc["paths"]["/api/v1/ws/metrics"]["get"]["responses"]["101"]["x-server-message"];
    let error = json!({"error": {"code": "bad_topic", "message": "no"}});
    common::schema::check(&error, metrics, doc).unwrap();
    let node = json!({"topic": "node:n1", "at": 1, "data": {"node": {"node_id": "n1", "hostname": "h", "cores": 1, "isolated_cores": [], "memory_mb": 1, "backend": "process", "registered_at": 0, "last_heartbeat": 0, "agent": null, "installed": null, "environments": null, "labels": {}, "fences": false, "failover_after_ms": null, "window_floor": null}, "bots": 0, "latency_ns": {}}});
    common::schema::check(&node, metrics, doc).unwrap();
    let neither = json!({"topic": "fleet", "at": 1, "data": {"bots": 0}});
    assert!(common::schema::check(&neither, metrics, doc).is_err());
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

#[tokio::test]
async fn metrics_stream_by_topic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("view", "victor", Role::Viewer, None)
        .await
        .unwrap();
    store
        .add_token("op", "olga", Role::Operator, None)
        .await
        .unwrap();
    let cfg = sniperforge_protocol::template("enhanced_arbitrage".parse().unwrap());
    let bot_id = cfg["bot_id"].as_str().unwrap().to_string();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("ws://{addr}/api/v1/ws/metrics");

    // No token, a wrong token: refused before the upgrade.
    for u in [url.clone(), format!("{url}?token=wrong")] {
        match tokio_tungstenite::connect_async(u.as_str()).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401)
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }

    // A bot to watch, created through the API.
    let resp = http(
        &addr,
        "POST /api/v1/bots",
        &json!({"config": cfg}).to_string(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");

    // A header token (as agents and CLIs use) and a query token (as browsers must).
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer view".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (mut ws2, _) = tokio_tungstenite::connect_async(format!("{url}?token=view"))
        .await
        .unwrap();

    // Subscribing answers each new topic at once.
    send(
        &mut ws,
        json!({"subscribe": ["fleet", format!("bot:{bot_id}")]}),
    )
    .await;
    let mut first = vec![next_json(&mut ws).await, next_json(&mut ws).await];
    first.sort_by_key(|m| m["topic"].as_str().unwrap().to_string());
    assert_eq!(first[0]["topic"], format!("bot:{bot_id}"), "{first:?}");
    assert_eq!(first[0]["data"]["desired_state"], "stopped");
    assert_eq!(first[1]["topic"], "fleet");
    assert_eq!(first[1]["data"]["bots"], 1);

    // Then every second, for every topic held; a change shows up in the next push.
    let resp = http(&addr, &format!("POST /api/v1/bots/{bot_id}/start"), "").await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let started = Instant::now();
    let mut seen_running = false;
    let mut pushes = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let m = next_json(&mut ws).await;
        pushes += 1;
        if m["topic"] == format!("bot:{bot_id}") && m["data"]["desired_state"] == "running" {
            seen_running = true;
        }
    }
    assert!(seen_running);
    assert!(
        (4..=8).contains(&pushes),
        "{pushes} pushes in 2.5 s for 2 topics"
    );

    // Bad messages get an error and the stream stays open.
    send(&mut ws2, json!({"subscribe": ["planet:mars"]})).await;
    let e = next_json(&mut ws2).await;
    assert_eq!(e["error"]["code"], "bad_topic", "{e}");
    ws2.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(next_json(&mut ws2).await["error"]["code"], "bad_message");
    send(&mut ws2, json!({"subscribe": ["fleet"], "colour": 1})).await;
    assert_eq!(next_json(&mut ws2).await["error"]["code"], "bad_message");
    let many: Vec<String> = (0..100).map(|i| format!("node:n{i}")).collect();
    send(&mut ws2, json!({ "subscribe": many })).await;
    assert_eq!(
        next_json(&mut ws2).await["error"]["code"],
        "too_many_topics"
    );
    // An unknown bot is reported per push, not fatal.
    send(&mut ws2, json!({"subscribe": ["bot:ghost"]})).await;
    let e = next_json(&mut ws2).await;
    assert_eq!(e["error"]["code"], "topic_unavailable", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("ghost"));
    // Unsubscribing everything stops the pushes; the socket still answers.
    send(&mut ws2, json!({"unsubscribe": ["bot:ghost"]})).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), ws2.next())
            .await
            .is_err(),
        "no topics, no pushes"
    );
    send(&mut ws2, json!({"subscribe": ["fleet"]})).await;
    assert_eq!(next_json(&mut ws2).await["topic"], "fleet");
    // The rollouts topic: the latest rollouts (none here), in the document's shape.
    send(
        &mut ws2,
        json!({"unsubscribe": ["fleet"], "subscribe": ["rollouts"]}),
    )
    .await;
    let r = loop {
        let m = next_json(&mut ws2).await;
        if m["topic"] == "rollouts" {
            break m;
        }
    };
    assert_eq!(r["data"], json!({"rollouts": []}), "{r}");
    ws.close(None).await.unwrap();
    ws2.close(None).await.unwrap();
}

/// One operator request over plain HTTP/1.1 on the same listener; the raw response.
async fn http(addr: &std::net::SocketAddr, request_line: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{request_line} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer op\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    resp
}

/// `GET /api/v1/ws/logs` and `GET /api/v1/system/logs/{id}`: lines reported by agents reach
/// subscribers of their bot, node or the fleet (and no one else), the recent ones are kept for
/// the REST tail with a filter, and an oversized report is refused whole.
#[tokio::test]
async fn log_lines_stream_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("op", "olga", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut a = sniperforge_protocol::template("enhanced_arbitrage".parse().unwrap());
    a["bot_id"] = json!("log-a");
    let mut b = a.clone();
    b["bot_id"] = json!("log-b");
    for (cfg, node) in [(&a, "n1"), (&b, "n2")] {
        let resp = http(
            &addr,
            "POST /api/v1/bots",
            &json!({"config": cfg, "node_id": node}).to_string(),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    }
    for node in ["n1", "n2"] {
        let node = json!({"node_id": node, "hostname": "h", "cores": 2, "memory_mb": 1, "backend": "process"});
        let resp = http(&addr, "POST /api/v1/agent/register", &node.to_string()).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    }
    let url = format!("ws://{addr}/api/v1/ws/logs?token=op");
    let (mut by_bot, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut by_node, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    send(&mut by_bot, json!({"subscribe": ["bot:log-a"]})).await;
    send(&mut by_node, json!({"subscribe": ["node:n2"]})).await;
    // Give the server a moment to apply the subscriptions.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let report = |node: &str, bot: &str, lines: Vec<String>| {
        json!({"node_id": node, "bots": [{"bot_id": bot, "status": {"state": "running"}, "logs": lines}]}).to_string()
    };
    let resp = http(
        &addr,
        "POST /api/v1/agent/report",
        &report("n1", "log-a", vec!["a one".into(), "a two".into()]),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let resp = http(
        &addr,
        "POST /api/v1/agent/report",
        &report("n2", "log-b", vec!["b one".into()]),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");

    let first = next_json(&mut by_bot).await;
    assert_eq!(
        (first["bot_id"].as_str(), first["line"].as_str()),
        (Some("log-a"), Some("a one"))
    );
    assert_eq!(first["node_id"], "n1");
    assert!(first["at"].as_i64().unwrap() > 0);
    assert_eq!(next_json(&mut by_bot).await["line"], "a two");
    assert_eq!(next_json(&mut by_node).await["line"], "b one");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), by_bot.next())
            .await
            .is_err(),
        "log-b's line does not reach a log-a subscriber"
    );
    // A bad topic is an error on the socket, which stays open.
    send(&mut by_bot, json!({"subscribe": ["planet:x"]})).await;
    assert_eq!(next_json(&mut by_bot).await["error"]["code"], "bad_topic");

    // The REST tail, with a filter and a limit.
    let many: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    let resp = http(
        &addr,
        "POST /api/v1/agent/report",
        &report("n1", "log-a", many),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let body = |resp: String| -> Value {
        serde_json::from_str(resp.split_once("\r\n\r\n").unwrap().1).unwrap()
    };
    let tail = body(http(&addr, "GET /api/v1/system/logs/log-a?tail=3", "").await);
    let lines: Vec<&str> = tail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["line 27", "line 28", "line 29"]);
    let filtered = body(http(&addr, "GET /api/v1/system/logs/log-a?filter=a%20t", "").await);
    assert_eq!(filtered["lines"].as_array().unwrap().len(), 1, "{filtered}");
    let resp = http(&addr, "GET /api/v1/system/logs/ghost", "").await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");

    // Too many lines or too long a line: 400 naming the bot, nothing stored.
    let flood: Vec<String> = (0..1_001).map(|i| i.to_string()).collect();
    let resp = http(
        &addr,
        "POST /api/v1/agent/report",
        &report("n1", "log-a", flood),
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 400") && resp.contains("bots[log-a].logs"),
        "{resp}"
    );
    let resp = http(
        &addr,
        "POST /api/v1/agent/report",
        &report("n1", "log-a", vec!["x".repeat(9_000)]),
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 400") && resp.contains("logs[0]"),
        "{resp}"
    );
    let tail = body(http(&addr, "GET /api/v1/system/logs/log-a?tail=1", "").await);
    assert_eq!(tail["lines"][0]["line"], "line 29");
}

/// A stream ends (an error message, then a close) once its token is revoked, whichever stream
/// it is; a stream of a token still valid keeps flowing.
#[tokio::test]
async fn streams_close_when_their_token_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    store
        .add_token("v1", "vic", Role::Viewer, None)
        .await
        .unwrap();
    store
        .add_token("v2", "val", Role::Viewer, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let open = |path: &str, token: &str| {
        let url = format!("ws://{addr}/api/v1/ws/{path}?token={token}");
        async move { tokio_tungstenite::connect_async(url).await.unwrap().0 }
    };
    let (mut metrics, mut logs, mut kept) = (
        open("metrics", "v1").await,
        open("logs", "v1").await,
        open("metrics", "v2").await,
    );
    for ws in [&mut metrics, &mut kept] {
        send(ws, json!({"subscribe": ["fleet"]})).await;
    }
    store.revoke_tokens("vic").await.unwrap();
    for (name, ws) in [("metrics", &mut metrics), ("logs", &mut logs)] {
        let mut said = String::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(msg) = ws.next().await {
                match msg {
                    Ok(Message::Text(t)) => said.push_str(t.as_str()),
                    Ok(Message::Close(_)) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
            true
        })
        .await
        .unwrap_or(false);
        assert!(closed, "{name}: still open after the revocation");
        assert!(said.contains("unauthenticated"), "{name}: {said}");
    }
    // The other viewer's stream still gets its metrics.
    let next = tokio::time::timeout(Duration::from_secs(3), kept.next())
        .await
        .unwrap();
    assert!(matches!(next, Some(Ok(Message::Text(_)))), "{next:?}");
}

/// A token scoped to `dev` streams dev bots only: the fleet table, a prod bot's topic and a
/// prod node's topic answer as if the prod ones were absent.
#[tokio::test]
async fn a_scoped_stream_sees_its_environments_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("g.db").display()))
        .await
        .unwrap();
    store
        .add_token(
            "devview",
            "dora",
            Role::Viewer,
            Some(&[sniperforge_gateway::Environment::Dev]),
        )
        .await
        .unwrap();
    store
        .add_token("op", "olga", Role::Operator, None)
        .await
        .unwrap();
    store
        .add_token("adm", "alice", Role::Admin, None)
        .await
        .unwrap();
    let app = router(AppState::new(store.clone()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    for (id, env) in [("d1", "dev"), ("p1", "prod")] {
        let mut cfg = sniperforge_protocol::template("enhanced_arbitrage".parse().unwrap());
        cfg["bot_id"] = json!(id);
        cfg["environment"] = json!(env);
        let resp = http(
            &addr,
            "POST /api/v1/bots",
            &json!({"config": cfg}).to_string(),
        )
        .await;
        assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    }
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws/metrics?token=devview"))
            .await
            .unwrap();
    send(&mut ws, json!({"subscribe": ["fleet"]})).await;
    let fleet = next_json(&mut ws).await;
    assert_eq!(fleet["data"]["bots"], 1, "{fleet}");
    assert_eq!(fleet["data"]["bot_rows"][0]["bot_id"], "d1", "{fleet}");
    assert_eq!(
        fleet["data"]["bot_rows"][0]["environment"], "dev",
        "{fleet}"
    );
    send(
        &mut ws,
        json!({"unsubscribe": ["fleet"], "subscribe": ["bot:p1"]}),
    )
    .await;
    // (A fleet push may be on its way still.)
    let mut e = next_json(&mut ws).await;
    if e["topic"] == "fleet" {
        e = next_json(&mut ws).await;
    }
    assert_eq!(e["error"]["code"], "topic_unavailable", "{e}");
    assert_eq!(e["error"]["message"], "bot:p1: no bot p1", "{e}");
}
