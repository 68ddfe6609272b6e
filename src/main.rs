//! `sniperforge`: the one binary. Parses the command line and dispatches into the crates.

mod agent_bench;
mod agent_cmd;
mod bench_bot;
mod bench_cmd;
mod config_cmd;
mod gateway_load;
mod local_gateway;
mod quote_cmd;
mod up_cmd;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sniperforge",
    version,
    about = "Solana DEX arbitrage engine and fleet control plane"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole fleet here: gateway (SQLite under --data-dir), a local agent and a demo
    /// fleet on the market simulator. Ctrl-C stops everything.
    Up(up_cmd::UpArgs),
    /// Quote a swap exactly as the DEX program would, from account files.
    Quote(QuoteArgs),
    /// Run the fleet gateway (REST API over SQLite or PostgreSQL).
    Gateway(GatewayArgs),
    /// Record account updates from a feed into a replayable file.
    Record(RecordArgs),
    /// Run one bot with its HTTP control endpoint.
    Bot(BotArgs),
    /// Run the node agent: follow the gateway's desired state and supervise this node's bots.
    Agent(agent_cmd::AgentArgs),
    /// Serve a simulated external venue's price stream (JSON over WebSocket at /ticker) for
    /// cross-chain arbitrage bots.
    VenueSim(VenueSimArgs),
    /// Serve the market simulator over Solana's RPC wire protocol (HTTP JSON-RPC on --listen,
    /// websocket pubsub on --ws-listen) for bots with --feed solana.
    RpcSim(RpcSimArgs),
    /// Bot configurations: templates, JSON Schemas, validation.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Measure the engine: open-loop latency report, baseline comparison.
    #[command(subcommand)]
    Bench(BenchCommand),
}

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

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Feed to record: sim (the embedded simulator) or solana (an RPC node: --rpc-url and
    /// --markets).
    #[arg(long, default_value = "sim")]
    pub feed: String,
    /// Updates to record after the snapshot.
    #[arg(long, default_value_t = 100_000)]
    pub updates: u64,
    /// Stop recording a live feed after this many seconds even if --updates are not in.
    #[arg(long, default_value_t = 3_600)]
    pub max_seconds: u64,
    #[command(flatten)]
    pub solana: SolanaArgs,
    /// Pace stamped on simulator updates (updates per second).
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Updates per slot of the simulator's market clock (20 for the ML analytics' clock).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub updates_per_slot: u64,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// Where a Solana feed connects and what it watches.
#[derive(Debug, Clone, clap::Args)]
pub struct SolanaArgs {
    /// Solana HTTP JSON-RPC endpoint (http:// or https://).
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Solana websocket pubsub endpoint (default: the RPC URL as ws(s)://, port + 1 when it
    /// names a port).
    #[arg(long)]
    pub ws_url: Option<String>,
    /// Commitment of snapshots and subscriptions: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    pub commitment: String,
    /// Markets file: {"tokens": [{"symbol", "mint", "usd"}], "pools": [address, ...]}.
    #[arg(long)]
    pub markets: Option<PathBuf>,
    /// Extra CA certificates (PEM) trusted for https/wss endpoints (and an https Geyser one).
    #[arg(long)]
    pub rpc_ca: Option<PathBuf>,
    /// Yellowstone gRPC (Geyser) endpoint for --feed yellowstone (http:// or https://); the
    /// snapshot still comes from --rpc-url.
    #[arg(long)]
    pub grpc_url: Option<String>,
    /// File whose first line is the Geyser endpoint's x-token (never put on the command line).
    #[arg(long)]
    pub grpc_x_token_file: Option<PathBuf>,
    /// Live mode: send bundles to this Jito block engine (JSON-RPC URL) instead of
    /// sendTransaction.
    #[arg(long)]
    pub jito_url: Option<String>,
    /// Live mode: the Jito tip account each bundle pays.
    #[arg(long)]
    pub jito_tip_account: Option<String>,
    /// Live mode: lamports tipped per bundle.
    #[arg(long, default_value_t = 10_000)]
    pub jito_tip_lamports: u64,
}

/// The market feed a bot runs on.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    /// Market feed: sim (the embedded simulator), replay:FILE (a recording), solana (an RPC
    /// node: --rpc-url and --markets) or yellowstone (snapshots from --rpc-url, updates over
    /// the Yellowstone gRPC stream at --grpc-url; builds with `--features yellowstone`).
    #[arg(long, default_value = "sim")]
    pub feed: String,
    /// Replay as fast as the bot takes the records, not at their recorded pace.
    #[arg(long)]
    pub replay_max_speed: bool,
    #[command(flatten)]
    pub solana: SolanaArgs,
}

impl FeedArgs {
    /// The same feed as `sniperforge bot` arguments, files as absolute paths (bots run in
    /// their own directories).
    pub fn bot_args(&self) -> Vec<String> {
        let abs = |p: &std::path::Path| {
            std::path::absolute(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string()
        };
        let feed = match self.feed.strip_prefix("replay:") {
            Some(path) => format!("replay:{}", abs(std::path::Path::new(path))),
            None => self.feed.clone(),
        };
        let mut args = vec!["--feed".to_string(), feed];
        if self.replay_max_speed {
            args.push("--replay-max-speed".into());
        }
        let s = &self.solana;
        for (flag, value) in [
            ("--rpc-url", s.rpc_url.clone()),
            ("--ws-url", s.ws_url.clone()),
            ("--markets", s.markets.as_deref().map(abs)),
            ("--rpc-ca", s.rpc_ca.as_deref().map(abs)),
            ("--grpc-url", s.grpc_url.clone()),
            (
                "--grpc-x-token-file",
                s.grpc_x_token_file.as_deref().map(abs),
            ),
            ("--jito-url", s.jito_url.clone()),
            ("--jito-tip-account", s.jito_tip_account.clone()),
        ] {
            if let Some(v) = value {
                args.extend([flag.to_string(), v]);
            }
        }
        if self.feed == "solana" || self.feed == "yellowstone" {
            args.extend(["--commitment".into(), s.commitment.clone()]);
        }
        if s.jito_url.is_some() {
            args.extend([
                "--jito-tip-lamports".into(),
                s.jito_tip_lamports.to_string(),
            ]);
        }
        args
    }
}

impl SolanaArgs {
    /// The feed options these flags give (the markets file read and checked).
    pub fn options(&self) -> anyhow::Result<sniperforge_solana::SolanaOptions> {
        let rpc_url = self.rpc_url.clone().ok_or_else(|| {
            anyhow::anyhow!("a Solana feed needs --rpc-url URL (the node's JSON-RPC)")
        })?;
        let markets = self.markets.as_deref().ok_or_else(|| {
            anyhow::anyhow!("a Solana feed needs --markets FILE (the pools to watch)")
        })?;
        Ok(sniperforge_solana::SolanaOptions {
            rpc_url,
            ws_url: self.ws_url.clone(),
            commitment: self.commitment.clone(),
            markets: Some(
                sniperforge_solana::Markets::load(markets).map_err(|e| anyhow::anyhow!("{e}"))?,
            ),
            ca: self.rpc_ca.clone(),
            jito: None,
            grpc: self
                .grpc_url
                .as_deref()
                .map(|url| {
                    sniperforge_solana::GrpcOptions::new(url, self.grpc_x_token_file.as_deref())
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct BotArgs {
    /// Configuration file (JSON; `sniperforge config template <type>` writes one).
    #[arg(long)]
    pub config: PathBuf,
    /// Control endpoint address (loopback by default; port 0 picks a free port, logged).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub control_addr: std::net::SocketAddr,
    #[command(flatten)]
    pub feed: FeedArgs,
    /// Directory for persisted state (default data/bots/<bot_id>).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Simulator updates per second, scheduled open loop and stamped with their scheduled
    /// times (`--feed sim`; default 20000, 100000 for ml_analytics).
    #[arg(long)]
    pub sim_rate: Option<u64>,
    /// Append JSON log lines to this file instead of stdout.
    #[arg(long)]
    pub log_file: Option<PathBuf>,
    /// File holding the control endpoint's secret (every request but /health must carry it as
    /// `Authorization: Bearer <secret>`). Without it the bot makes one and writes it to
    /// <state-dir>/control.secret (0600).
    #[arg(long)]
    pub control_secret_file: Option<PathBuf>,
    /// The cores the node leaves to work off the hot paths (a CPU list such as 0-1,6; the agent
    /// passes the cores no bot reserves): the executor, the control endpoint and reporting keep
    /// to them. Default: every core the process may use that resources.cores does not reserve.
    #[arg(long, value_parser = cpu_list)]
    pub shared_cores: Option<CpuList>,
}

/// A CPU list argument (`0-2,7`).
#[derive(Debug, Clone)]
pub struct CpuList(pub Vec<usize>);

fn cpu_list(s: &str) -> Result<CpuList, String> {
    sniperforge_protocol::cpus::parse_cpu_list(s)
        .map(CpuList)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a complete configuration of a bot type with every default.
    Template {
        /// enhanced_arbitrage, triangular_arbitrage, flash_loan_arbitrage, cross_chain_arbitrage,
        /// ml_analytics, portfolio_manager or real_time_dashboard.
        bot_type: String,
    },
    /// Print the JSON Schema of a bot type's configuration (ranges, hot-reload marks).
    Schema {
        /// Bot type (as for `template`).
        bot_type: String,
    },
    /// Check a configuration file; prints every error with its dotted path.
    Validate {
        /// JSON configuration file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Run the bots' runtime open loop from the simulator and write a percentile report.
    Latency(LatencyArgs),
    /// Run a real bot process on the simulator at a scheduled rate and write the same report
    /// from its own `/hdr`.
    Bot(bench_bot::BenchBotArgs),
    /// Replay simulator updates through the engine and the brute-force baseline side by side.
    Baseline(BaselineArgs),
    /// Bounded load against a real gateway process on loopback: snapshot ingest and
    /// `GET /api/v1/bots` open loop.
    Gateway(gateway_load::GatewayLoadArgs),
    /// Desired-state change → bot running, per agent backend, and a whole node's reconcile,
    /// against a real gateway and agent on loopback.
    Agent(agent_bench::AgentBenchArgs),
    /// Walk-forward evaluation of the ML analytics' models against naive baselines, on
    /// simulator data or a recording.
    Ml(MlBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct MlBenchArgs {
    /// Minute samples to take (each 150 slots of market time).
    #[arg(long, default_value_t = 1_500)]
    pub samples: usize,
    /// Simulator seed (the recording's, with --replay).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Read the updates from this recording (`sniperforge record --updates-per-slot 20`)
    /// instead of running the simulator.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Pair modelled.
    #[arg(long, default_value = "SOL/USDC")]
    pub pair: String,
    /// Configuration whose features and models are evaluated (default: the template).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for ml-eval.md and ml-eval.json.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Account updates per second, scheduled open loop.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Directory for report.md, report.json, *.hgrm and latency.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Core for the feed thread (with --strategy-core: the ring hand-off between the two).
    #[arg(long)]
    pub feed_core: Option<usize>,
    /// Core for the strategy thread (alone: run to completion on it). Neither core given: the
    /// placement that measures best on this machine (as `bench bot` chooses; --spin still decides
    /// spin or park).
    #[arg(long)]
    pub strategy_core: Option<usize>,
    /// Busy-spin waiting threads instead of parking them.
    #[arg(long)]
    pub spin: bool,
    /// Replay a recording (`sniperforge record`) instead of the simulator: at --rate, or as
    /// fast as possible with --rate 0.
    #[arg(long)]
    pub replay: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Updates to replay.
    #[arg(long, default_value_t = 2_000)]
    pub updates: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory for baseline.md and baseline.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The default simulator (competing arbitrageurs close gaps) instead of the volatile one
    /// (no competitors, 30× noise: profitable routes on every update).
    #[arg(long)]
    pub calm: bool,
}

/// Pool program to quote.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DexArg {
    /// Raydium AMM v4.
    RaydiumV4,
    /// Raydium CP-Swap.
    RaydiumCp,
    /// Orca Whirlpool.
    Whirlpool,
}

/// Swap direction.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SideArg {
    /// Token A (v4 coin, CP token_0, Whirlpool A) in.
    AToB,
    /// Token B in.
    BToA,
}

#[derive(Debug, clap::Args)]
pub struct QuoteArgs {
    /// Pool program.
    #[arg(long, value_enum)]
    pub dex: DexArg,
    /// Directory of account files as `solana account PUBKEY --output json` writes them.
    #[arg(long)]
    pub accounts: PathBuf,
    /// Input amount in base units (with --exact-out: the wanted output).
    #[arg(long)]
    pub amount: u64,
    /// Swap direction.
    #[arg(long, value_enum)]
    pub side: SideArg,
    /// Treat --amount as the exact output wanted.
    #[arg(long)]
    pub exact_out: bool,
    /// Cluster unix time to quote at (default: this machine's clock).
    #[arg(long)]
    pub unix_time: Option<i64>,
    /// Epoch whose Token-2022 transfer fee set applies (default: the newer set).
    #[arg(long)]
    pub epoch: Option<u64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The long-running commands keep secrets, books and logs: their files are private.
    if matches!(
        cli.command,
        Command::Gateway(_) | Command::Agent(_) | Command::Bot(_) | Command::Up(_)
    ) {
        sniperforge_bots::process::private_files();
    }
    match cli.command {
        Command::Quote(args) => quote_cmd::run(&args),
        Command::Bench(command) => bench_cmd::run(&command),
        Command::Config(command) => config_cmd::run(&command),
        Command::Record(a) => bench_cmd::record(&a),
        Command::RpcSim(a) => rpc_sim(&a),
        Command::VenueSim(a) => {
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
        Command::Gateway(a) => {
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
                sniperforge_gateway::windows::Retention {
                    seconds_ms: i64::from(a.latency_1s_kept_s) * 1000,
                    bot_seconds_ms: i64::from(a.latency_1s_bot_kept_s) * 1000,
                    minutes_ms: i64::from(a.latency_1m_kept_s) * 1000,
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
        Command::Agent(a) => agent_cmd::run(a),
        Command::Up(a) => up_cmd::run(&a),
        Command::Bot(a) => {
            let code = sniperforge_bots::process::run(sniperforge_bots::process::BotArgs {
                config: a.config,
                control_addr: a.control_addr,
                feed: a.feed.feed,
                replay_max_speed: a.feed.replay_max_speed,
                rpc_url: a.feed.solana.rpc_url,
                ws_url: a.feed.solana.ws_url,
                commitment: a.feed.solana.commitment,
                markets: a.feed.solana.markets,
                rpc_ca: a.feed.solana.rpc_ca,
                grpc_url: a.feed.solana.grpc_url,
                grpc_x_token_file: a.feed.solana.grpc_x_token_file,
                jito_url: a.feed.solana.jito_url,
                jito_tip_account: a.feed.solana.jito_tip_account,
                jito_tip_lamports: a.feed.solana.jito_tip_lamports,
                state_dir: a.state_dir,
                seed: a.seed,
                sim_rate: a.sim_rate,
                log_file: a.log_file,
                control_secret_file: a.control_secret_file,
                shared_cores: a.shared_cores.map(|l| l.0).unwrap_or_default(),
            });
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// `rpc-sim`: the simulator behind Solana's JSON-RPC and websocket pubsub.
fn rpc_sim(a: &RpcSimArgs) -> ExitCode {
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
    sniperforge_sim::geyser::serve(server, listener, x_token).await
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
