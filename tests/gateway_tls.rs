//! The gateway serving HTTPS with a certificate from a private CA (made with the openssl CLI)
//! and an agent reaching it with `--gateway https://… --gateway-ca` and a node-bound agent
//! token: the node registers; without the CA the TLS handshake is refused, and plain HTTP to
//! the TLS port gets nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{EXE, Proc, T, wait_for};
use serde_json::{Value, json};
use sniperforge_agent::http::Endpoint;

/// A CA and a certificate for `localhost` it signed, in `dir`; `false` without openssl.
fn private_ca(dir: &Path) -> bool {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &key,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=sniperforge test CA"],
        ]
        .concat(),
    ) && openssl(
        &[
            &["req", "-x509", "-CA", "ca.pem", "-CAkey", "ca.key"][..],
            &key,
            &["-keyout", "gw.key", "-out", "gw.pem", "-days", "2"],
            &[
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
            ],
            &["-addext", "basicConstraints=critical,CA:FALSE"],
            &["-addext", "extendedKeyUsage=serverAuth"],
        ]
        .concat(),
    )
}

#[test]
fn an_agent_reaches_a_tls_gateway_through_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    if !private_ca(dir.path()) {
        common::skip_unless_ci(
            "an_agent_reaches_a_tls_gateway_through_a_private_ca",
            "no openssl CLI",
        );
        return;
    }
    let mut child = Command::new(EXE)
        .args(["gateway", "--listen", "127.0.0.1:0", "--database"])
        .arg(format!(
            "sqlite://{}",
            dir.path().join("gateway.db").display()
        ))
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--tls-cert")
        .arg(dir.path().join("gw.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("gw.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _gateway = Proc {
        child,
        name: "gateway",
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("gateway listening on https://") {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    let url = format!("https://localhost:{port}");
    let ca = dir.path().join("ca.pem");
    let admin = std::fs::read_to_string(dir.path().join("admin.token"))
        .unwrap()
        .trim()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let call = |ep: &Endpoint, method: &str, path: &str, token: &str, body: Option<Value>| {
        rt.block_on(ep.request(
            method,
            path,
            Some(token),
            body.map(|b| b.to_string()),
            Duration::from_secs(10),
        ))
    };
    let trusted = Endpoint::parse_with_ca(&url, Some(&ca)).unwrap();
    // The node's own token, made over HTTPS.
    let made = call(
        &trusted,
        "POST",
        "/api/v1/auth/tokens",
        &admin,
        Some(json!({"name": "agent-tls-1", "role": "agent", "node_id": "tls-1"})),
    )
    .unwrap();
    assert_eq!(made.status, 201, "{}", made.error_message());
    let token_file = dir.path().join("agent.token");
    std::fs::write(&token_file, made.json().unwrap()["token"].as_str().unwrap()).unwrap();

    // Without the private CA the handshake fails; plain HTTP on the TLS port gets no answer.
    let untrusted = Endpoint::parse(&url).unwrap();
    let err = call(&untrusted, "GET", "/api/v1/nodes", &admin, None).unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
    let plain = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(call(&plain, "GET", "/api/v1/nodes", &admin, None).is_err());

    let node_dir = dir.path().join("node");
    let _agent = Proc {
        child: Command::new(EXE)
            .args(["agent", "--gateway", &url, "--gateway-ca"])
            .arg(&ca)
            .args(["--node-id", "tls-1", "--token-file"])
            .arg(&token_file)
            .arg("--data-dir")
            .arg(&node_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        name: "agent",
    };
    wait_for("the node to register over TLS", T, || {
        let r = call(&trusted, "GET", "/api/v1/nodes", &admin, None).ok()?;
        let nodes = r.json().ok()?;
        nodes["nodes"]
            .as_array()?
            .iter()
            .any(|n| n["node_id"] == "tls-1")
            .then_some(())
    });
}
