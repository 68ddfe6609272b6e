//! The gateway's connection loop: plain HTTP or HTTPS (rustls), at most
//! [`Limits::connections`] connections at once (more wait in the kernel's accept queue), a
//! deadline for each request's headers and for the TLS handshake, WebSocket upgrades, and a
//! graceful stop that lets requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tower::ServiceExt as _;

/// How much the loop takes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// Time a client has to send a request's headers (and to finish a TLS handshake).
    pub header_read: Duration,
    /// Time one request may take, its body read included (a client trickling a body gets 408;
    /// above the longest blocking desired-state query, 60 s).
    pub request: Duration,
    /// Time connections get to finish their requests once the gateway stops.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: 4_096,
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(75),
            drain: Duration::from_secs(10),
        }
    }
}

/// Why a TLS server configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read as PEM.
    #[error("--tls-cert {}: {source}", path.display())]
    Cert {
        /// The file.
        path: std::path::PathBuf,
        /// The reader's error.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("--tls-cert {}: no PEM certificate in it", path.display())]
    NoCert {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The key file could not be read as a PEM private key.
    #[error("--tls-key {}: {source}", path.display())]
    Key {
        /// The file.
        path: std::path::PathBuf,
        /// The reader's error.
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the protocol versions.
    #[error("TLS: {0}")]
    Protocols(rustls::Error),
    /// rustls refused the certificate chain and key together.
    #[error("--tls-cert/--tls-key: {0}")]
    Pair(rustls::Error),
}

/// A TLS server configuration from a PEM certificate chain and its PEM private key.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_error = |source| TlsError::Cert {
        path: cert.to_path_buf(),
        source,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(cert_error)?
        .collect::<Result<_, _>>()
        .map_err(cert_error)?;
    if chain.is_empty() {
        return Err(TlsError::NoCert {
            path: cert.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(TlsError::Protocols)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(TlsError::Pair)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` on `listener` until `shutdown` completes, then gives connections
/// [`Limits::drain`] to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.connections.max(1)));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot first: past the cap, clients wait in the accept queue.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                None => connection(stream, remote, router, limits, stop).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_read, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, remote, router, limits, stop).await,
                        Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                    }
                }
            }
        });
        // Reap finished connections as we go.
        while connections.try_join_next().is_some() {}
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(limits.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

/// The answer to a request that took longer than `deadline`.
fn timed_out(deadline: Duration) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::REQUEST_TIMEOUT,
        axum::Json(serde_json::json!({"error": {
            "code": "request_timeout",
            "message": format!("the request took longer than {} s", deadline.as_secs()),
        }})),
    )
        .into_response()
}

/// One connection: HTTP/1.1 with upgrades (WebSockets), the client's address in each request.
async fn connection<S>(
    stream: S,
    remote: SocketAddr,
    router: Router,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let deadline = limits.request;
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            let router = router.clone();
            async move {
                match tokio::time::timeout(deadline, router.oneshot(request)).await {
                    Ok(answer) => answer,
                    Err(_) => Ok(timed_out(deadline)),
                }
            }
        });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async move {
        loop {
            let stopped = *stop.borrow_and_update();
            if stopped || stop.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "connection ended");
            }
        }
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
