//! https:// alert webhooks: a real TLS receiver on loopback with a certificate from a test CA
//! (made with the openssl CLI); delivery succeeds when the gateway trusts that CA and fails with
//! a TLS error when it does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sniperforge_gateway::alerts::Webhooks;

/// A CA and a `localhost` certificate it signed, in `dir`; `false` without openssl.
fn make_certs(dir: &Path) -> bool {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=sniperforge test CA",
    ]) && run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]) && run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ])
}

/// A TLS receiver on 127.0.0.1: keeps each request body, answers 200.
async fn receiver(dir: &Path) -> (u16, Arc<Mutex<Vec<Value>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = Arc::clone(&got);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, sink) = (acceptor.clone(), Arc::clone(&sink));
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Headers, then Content-Length bytes of body.
                loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if body.len() >= len {
                            sink.lock()
                                .unwrap()
                                .push(serde_json::from_str(body).unwrap_or(Value::Null));
                            break;
                        }
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, got)
}

#[tokio::test]
async fn https_webhooks_are_delivered_to_a_trusted_receiver_only() {
    let dir = tempfile::tempdir().unwrap();
    if !make_certs(dir.path()) {
        common::skip_unless_ci(
            "https_webhooks_are_delivered_to_a_trusted_receiver_only",
            "no openssl CLI",
        );
        return;
    }
    let (port, got) = receiver(dir.path()).await;
    let url = format!("https://localhost:{port}/hook");
    let trusting = Webhooks::new(&dir.path().join("ca.pem"))
        .unwrap()
        .allowing_private();
    trusting
        .deliver(&url, &json!({"text": "ALERT test", "firing": true}))
        .await
        .unwrap();
    assert_eq!(
        got.lock().unwrap().as_slice(),
        [json!({"text": "ALERT test", "firing": true})]
    );
    // The system's CAs alone do not know the test CA: a TLS error, nothing delivered.
    let err = Webhooks::default()
        .allowing_private()
        .deliver(&url, &json!({"text": "never"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    assert_eq!(got.lock().unwrap().len(), 1);
    // A name the certificate does not carry fails too.
    let err = trusting
        .deliver(&format!("https://127.0.0.1:{port}/hook"), &json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    // Bad CA files and URLs say what is wrong.
    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let err = Webhooks::new(&dir.path().join("empty.pem")).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
    let err = trusting.deliver("ftp://x/y", &json!({})).await.unwrap_err();
    assert!(err.to_string().contains("http:// or https://"), "{err}");
    let err = trusting
        .deliver("https://localhost:notaport/x", &json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a number"), "{err}");
}

/// By default a webhook never reaches this host or its link: loopback, link-local (a cloud
/// metadata service) and unspecified receivers are refused by their resolved address, before
/// any connection.
#[tokio::test]
async fn webhooks_to_loopback_or_link_local_receivers_are_refused_by_default() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let default = Webhooks::default();
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://[::1]:9/x".to_string(),
        "http://0.0.0.0:9/x".to_string(),
        "http://[::ffff:127.0.0.1]:9/x".to_string(),
    ] {
        let err = default.deliver(&url, &json!({})).await.unwrap_err();
        assert!(
            err.to_string().contains("--webhook-allow-private"),
            "{url}: {err}"
        );
    }
    // Nothing was connected to.
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a refused webhook connected");
}
