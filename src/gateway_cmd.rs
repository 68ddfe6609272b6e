//! `sniperforge gateway`: the fleet gateway.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// Address to serve on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Store: sqlite://PATH (created if missing) or postgres://USER@HOST:PORT/DB.
    #[arg(long, default_value = "sqlite://data/gateway.db")]
    pub database: String,
    /// Directory for the admin token and the SQLite file.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// How long 1 s latency windows are kept in memory (seconds).
    #[arg(long, default_value_t = 3_600, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub latency_1s_kept_s: u32,
    /// PEM file of CA certificates trusted for https:// alert webhooks besides the system's.
    #[arg(long)]
    pub webhook_ca: Option<PathBuf>,
    /// How long each bot's own 1 s latency windows are kept in memory (seconds; the fleet's,
    /// types' and nodes' are kept --latency-1s-kept-s).
    #[arg(long, default_value_t = 360, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub latency_1s_bot_kept_s: u32,
    /// How long 1 min latency windows are kept in the store (seconds).
    #[arg(long, default_value_t = 604_800, value_parser = clap::value_parser!(u32).range(60..))]
    pub latency_1m_kept_s: u32,
    /// The failover window of a node whose agent names none (`agent --failover-after-s`), kept
    /// with the node when it registers (a later change reaches it when it registers again). A
    /// node silent this long (seconds; its agent reports every second) is lost: its bots
    /// that fail over are placed again on another node. Each agent's fencing lease is half of
    /// it: a bot that fails over stops on its own once its agent has not reached the gateway
    /// for that long, before it runs anywhere else.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(4..=3_600))]
    pub failover_after_s: u32,
    /// Trades (each fill a bot booked, as its agent reported it) kept this long, seconds
    /// (default 90 days); older ones are deleted.
    #[arg(long, default_value_t = 7_776_000, value_parser = clap::value_parser!(u32).range(3_600..))]
    pub trades_kept_s: u32,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key); agents then connect with
    /// https:// (and --gateway-ca for a private CA).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let alert webhooks reach receivers on loopback or link-local addresses (refused by
    /// default: a webhook must not reach this host's own services or a cloud metadata service).
    #[arg(long)]
    pub webhook_allow_private: bool,
    /// Most connections served at once (more wait in the accept queue).
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
}

/// Serves the gateway until it is stopped.
pub fn run(a: GatewayArgs) -> ExitCode {
    // Store errors, webhook failures and raised alerts are logged (JSON on stderr).
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_current_span(false)
        .try_init();
    if let Some(path) = a.database.strip_prefix("sqlite://")
        && let Some(dir) = std::path::Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: creating {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let webhooks = match a
        .webhook_ca
        .as_deref()
        .map(sniperforge_gateway::alerts::Webhooks::new)
    {
        None => sniperforge_gateway::alerts::Webhooks::default(),
        Some(Ok(w)) => w,
        Some(Err(e)) => {
            eprintln!("error: --webhook-ca: {e}");
            return ExitCode::FAILURE;
        }
    };
    let webhooks = if a.webhook_allow_private {
        webhooks.allowing_private()
    } else {
        webhooks
    };
    match runtime.block_on(sniperforge_gateway::serve(
        a.listen,
        &a.database,
        &a.data_dir,
        sniperforge_gateway::FleetOptions {
            retention: sniperforge_gateway::windows::Retention {
                seconds_ms: i64::from(a.latency_1s_kept_s) * 1000,
                bot_seconds_ms: i64::from(a.latency_1s_bot_kept_s) * 1000,
                minutes_ms: i64::from(a.latency_1m_kept_s) * 1000,
            },
            failover_after_ms: i64::from(a.failover_after_s) * 1000,
            trades_kept_ms: i64::from(a.trades_kept_s) * 1000,
        },
        webhooks,
        a.tls_cert.as_deref().zip(a.tls_key.as_deref()),
        sniperforge_gateway::serve::Limits {
            connections: a.max_connections as usize,
            ..Default::default()
        },
    )) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
