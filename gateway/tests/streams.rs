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

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
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
        .add_token("view", "victor", Role::Viewer)
        .await
        .unwrap();
    store.add_token("op", "olga", Role::Operator).await.unwrap();
    let cfg = sniperforge_bots::template("enhanced_arbitrage".parse().unwrap());
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
