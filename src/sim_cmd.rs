//! `sniperforge rpc-sim` and `venue-sim`: the simulated exchange and the simulated external
//! venue, served on loopback for bots, tests and `up`.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RpcSimArgs {
    /// JSON-RPC address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8899")]
    pub listen: std::net::SocketAddr,
    /// Websocket address (default: the JSON-RPC port + 1, as a Solana node).
    #[arg(long)]
    pub ws_listen: Option<std::net::SocketAddr>,
    /// Simulator seed (the bots' default, 7).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Add pools the programs refuse to trade through (drained, disabled, one-sided, never
    /// open), priced far off the market, to test that nothing trades through them.
    #[arg(long)]
    pub edge_pools: bool,
    /// Account changes a second.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub rate: u64,
    /// Milliseconds a slot lasts.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub slot_ms: u64,
    /// Write the markets file (tokens and pools, for --markets) here.
    #[arg(long)]
    pub markets_out: Option<PathBuf>,
    /// Also serve the Yellowstone gRPC (Geyser) protocol here (builds with `--features
    /// yellowstone`).
    #[arg(long)]
    pub grpc_listen: Option<std::net::SocketAddr>,
    /// File whose first line is the x-token Geyser clients must send.
    #[arg(long)]
    pub grpc_x_token_file: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VenueSimArgs {
    /// Address to serve on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub listen: std::net::SocketAddr,
    /// Simulator seed (the bots' default, 7: the same reference price path).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Half the bid/ask spread, in bps of the mid.
    #[arg(long, default_value_t = 2.0)]
    pub half_spread_bps: f64,
    /// Premium of the venue over the simulator's reference prices, in bps (negative: a
    /// discount), for a venue that trades away from the pools.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub skew_bps: f64,
    /// Milliseconds between tickers.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub period_ms: u64,
}

/// `venue-sim`: a simulated external venue's price stream.
pub fn venue_sim(a: VenueSimArgs) -> ExitCode {
    let run = async {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", a.listen))?;
        println!(
            "venue-sim: tickers at ws://{}/ticker",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        sniperforge_bots::cross_chain::serve_venue(
            listener,
            a.seed,
            a.half_spread_bps,
            a.skew_bps,
            std::time::Duration::from_millis(a.period_ms),
        )
        .await
        .map_err(|e| format!("serving: {e}"))
    };
    serve_until_done(run)
}

/// `rpc-sim`: the simulator behind Solana's JSON-RPC and websocket pubsub.
pub fn rpc_sim(a: &RpcSimArgs) -> ExitCode {
    let run = async {
        let ws_addr = match a.ws_listen {
            Some(w) => w,
            None => {
                let port = a
                    .listen
                    .port()
                    .checked_add(1)
                    .ok_or("--listen port 65535: give --ws-listen")?;
                std::net::SocketAddr::new(a.listen.ip(), port)
            }
        };
        let rpc = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", a.listen))?;
        let ws = tokio::net::TcpListener::bind(ws_addr)
            .await
            .map_err(|e| format!("binding {ws_addr}: {e}"))?;
        let (rpc_at, ws_at) = (
            rpc.local_addr().map_err(|e| e.to_string())?,
            ws.local_addr().map_err(|e| e.to_string())?,
        );
        if let Some(path) = &a.markets_out {
            let markets = sniperforge_sim::rpc_sim::markets(
                &mut sniperforge_sim::rpc_sim::simulator(a.seed, a.edge_pools),
            );
            std::fs::write(
                path,
                serde_json::to_string_pretty(&markets).unwrap_or_default(),
            )
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let server = sniperforge_sim::rpc_sim::RpcSim::start(
            sniperforge_sim::rpc_sim::simulator(a.seed, a.edge_pools),
            a.rate,
            a.slot_ms,
        );
        println!("rpc-sim: JSON-RPC at http://{rpc_at}  websocket at ws://{ws_at}");
        let geyser = match a.grpc_listen {
            Some(at) => {
                let x_token = a
                    .grpc_x_token_file
                    .as_deref()
                    .map(sniperforge_solana::Secret::from_token_file)
                    .transpose()
                    .map_err(|e| e.to_string())?
                    .map(|t| t.0);
                let listener = tokio::net::TcpListener::bind(at)
                    .await
                    .map_err(|e| format!("binding {at}: {e}"))?;
                let grpc_at = listener.local_addr().map_err(|e| e.to_string())?;
                println!("rpc-sim: Yellowstone gRPC at http://{grpc_at}");
                Some(serve_geyser(
                    std::sync::Arc::clone(&server),
                    listener,
                    x_token,
                ))
            }
            None => None,
        };
        if let Some(path) = &a.markets_out {
            println!("rpc-sim: markets file {}", path.display());
        }
        let node = async {
            sniperforge_sim::rpc_sim::serve(server, rpc, ws)
                .await
                .map_err(|e| format!("serving: {e}"))
        };
        match geyser {
            Some(geyser) => tokio::try_join!(node, geyser).map(|_| ()),
            None => node.await,
        }
    };
    serve_until_done(run)
}

/// The Geyser service over rpc-sim (`--grpc-listen`).
#[cfg(feature = "yellowstone")]
async fn serve_geyser(
    server: std::sync::Arc<sniperforge_sim::rpc_sim::RpcSim>,
    listener: tokio::net::TcpListener,
    x_token: Option<String>,
) -> Result<(), String> {
    sniperforge_sim::geyser::serve(server, listener, x_token)
        .await
        .map_err(|e| format!("geyser server: {e}"))
}

#[cfg(not(feature = "yellowstone"))]
async fn serve_geyser(
    _: std::sync::Arc<sniperforge_sim::rpc_sim::RpcSim>,
    _: tokio::net::TcpListener,
    _: Option<String>,
) -> Result<(), String> {
    Err("--grpc-listen: this build has no Yellowstone gRPC server (build with `--features yellowstone`)".into())
}

/// Runs a server future on a multi-threaded runtime: success when it ends cleanly, its error
/// on stderr otherwise.
fn serve_until_done(run: impl std::future::Future<Output = Result<(), String>>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(run))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
