//! Fleet gateway: REST API, store (SQLite by default, PostgreSQL), tokens with roles, versioned
//! configurations, the audit trail, the agent protocol, merged latency, alerts and WebSocket
//! metric streams.

#![warn(missing_docs)]

pub mod alerts;
pub mod api;
pub mod clock;
pub mod openapi;
pub mod placement;
pub mod rollouts;
pub mod serve;
pub mod store;
pub mod streams;
pub mod web;
pub mod windows;

pub use api::{AppState, router};
pub use store::{EnvFilter, Environment, Role, Store, StoreError};

use std::net::SocketAddr;
use std::path::Path;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The TLS certificate or key.
    #[error(transparent)]
    Tls(#[from] serve::TlsError),
    /// The store: connecting, migrating, reading.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The admin token file.
    #[error("{doing} {}: {source}", path.display())]
    TokenFile {
        /// What was being done: creating, writing, protecting.
        doing: &'static str,
        /// The file or its directory.
        path: std::path::PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The listening socket.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The system's error.
        source: std::io::Error,
    },
}

/// How the gateway keeps latency windows and fails bots over.
#[derive(Debug, Clone, Copy)]
pub struct FleetOptions {
    /// Latency windows kept.
    pub retention: windows::Retention,
    /// A node silent this long (ms) is lost: its bots that fail over are placed again
    /// elsewhere; its agent's fencing lease is half of it.
    pub failover_after_ms: i64,
    /// Trades kept (ms): older ones are deleted.
    pub trades_kept_ms: i64,
}

/// Runs the gateway: connects the store (migrating it), makes an admin token on first start
/// (written to `data_dir/admin.token`, mode 0600), and serves the API until Ctrl-C / SIGTERM
/// (HTTPS with `tls`: certificate chain and key, PEM); latency windows are kept as `retention`
/// says and bots fail over as `fleet` says; alert webhooks go through `webhooks` (its CAs,
/// whether private receivers are allowed); connections as `limits` say.
pub async fn serve(
    listen: SocketAddr,
    database: &str,
    data_dir: &Path,
    fleet: FleetOptions,
    webhooks: alerts::Webhooks,
    tls: Option<(&Path, &Path)>,
    limits: serve::Limits,
) -> Result<(), ServeError> {
    // A bad certificate is refused before anything else starts.
    let tls = tls
        .map(|(cert, key)| serve::tls_config(cert, key))
        .transpose()?;
    let store = Store::connect(database).await?;
    if !store.has_admin().await? {
        let token = store::new_token();
        let file_error = |doing, path: &Path| {
            let path = path.to_path_buf();
            move |source| ServeError::TokenFile {
                doing,
                path,
                source,
            }
        };
        std::fs::create_dir_all(data_dir).map_err(file_error("creating", data_dir))?;
        let path = data_dir.join("admin.token");
        // Readable by the owner only from the moment it exists.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(
            &mut options.open(&path).map_err(file_error("creating", &path))?,
            format!("{token}\n").as_bytes(),
        )
        .map_err(file_error("writing", &path))?;
        #[cfg(unix)]
        {
            // A file that already existed keeps its mode on open: tighten it too.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(file_error("protecting", &path))?;
        }
        store.add_token(&token, "admin", Role::Admin, None).await?;
        println!("admin token written to {}", path.display());
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(listen);
    println!(
        "gateway listening on {}://{addr}/api/v1 (database {})",
        if tls.is_some() { "https" } else { "http" },
        store::redact(database)
    );
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    let state = AppState::new(store)
        .await?
        .with_retention(fleet.retention)
        .with_failover_after(fleet.failover_after_ms)
        .with_trades_kept(fleet.trades_kept_ms);
    // Nodes registered before windows were kept get this gateway's, kept from now on.
    state
        .store
        .fill_in_node_windows(fleet.failover_after_ms)
        .await?;
    let state = state.with_webhooks(webhooks);
    // Alert rules are evaluated, latency windows closed, pending bots placed and the bots of
    // lost nodes failed over, every second.
    let evaluator = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            if ticks % 60 == 1
                && let Err(e) = evaluator.prune_trades(evaluator.store.now_ms()).await
            {
                tracing::error!(error = %e, "deleting old trades failed");
            }
            if let Err(e) = evaluator.flush_windows(evaluator.store.now_ms()).await {
                tracing::error!(error = %e, "writing latency windows failed");
            }
            if let Err(e) = evaluator.place_and_fail_over().await {
                tracing::error!(error = %e, "placement failed");
            }
            match evaluator.evaluate_alerts().await {
                Ok(e) => {
                    for id in &e.raised {
                        tracing::warn!(alert = %id, "alert raised");
                    }
                    // Delivery failures are logged where they happen (the webhook queue).
                }
                Err(e) => tracing::error!(error = %e, "alert evaluation failed"),
            }
        }
    });
    tokio::spawn(rollouts::drive(state.clone()));
    serve::serve(listener, router(state), tls, limits, shutdown).await;
    Ok(())
}
