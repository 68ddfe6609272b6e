//! The gateway's connection loop over real sockets: a half-sent request is dropped after the
//! header deadline, and past the connection cap a client waits for a slot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::time::{Duration, Instant};

use axum::routing::get;
use sniperforge_gateway::serve::{Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start(limits: Limits) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(serve(
        listener,
        router,
        None,
        limits,
        std::future::pending::<()>(),
    ));
    addr
}

async fn get_root(addr: std::net::SocketAddr) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn a_half_sent_request_is_dropped_after_the_header_deadline() {
    let addr = start(Limits {
        header_read: Duration::from_millis(300),
        ..Limits::default()
    })
    .await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "still open after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3));
    // The server is still serving others.
    assert!(get_root(addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn past_the_connection_cap_a_client_waits_for_a_slot() {
    let addr = start(Limits {
        connections: 1,
        header_read: Duration::from_secs(2),
        ..Limits::default()
    })
    .await;
    // The one slot is held by an idle connection until its header deadline.
    let idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), get_root(addr))
        .await
        .expect("served once the slot frees");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(1_500),
        "served at once: the cap did not hold"
    );
    drop(idle);
}
