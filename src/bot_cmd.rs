//! `sniperforge bot`: one bot with its HTTP control endpoint.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::feed_args::FeedArgs;

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
    /// `<state-dir>/control.secret` (0600).
    #[arg(long)]
    pub control_secret_file: Option<PathBuf>,
    /// The cores the node leaves to work off the hot paths (a CPU list such as 0-1,6; the agent
    /// passes the cores no bot reserves): the executor, the control endpoint and reporting keep
    /// to them. Default: every core the process may use that resources.cores does not reserve.
    #[arg(long, value_parser = cpu_list)]
    pub shared_cores: Option<CpuList>,
    /// The fencing lease of a bot that fails over (its agent writes it): a file holding a
    /// unix time in ms; the bot stops and exits 0 once it has passed or the file is gone.
    #[arg(long)]
    pub fence_file: Option<PathBuf>,
}

/// A CPU list argument (`0-2,7`).
#[derive(Debug, Clone)]
pub struct CpuList(pub Vec<usize>);

fn cpu_list(s: &str) -> Result<CpuList, String> {
    sniperforge_protocol::cpus::parse_cpu_list(s)
        .map(CpuList)
        .map_err(|e| e.to_string())
}

/// Runs the bot process until it is stopped.
pub fn run(a: BotArgs) -> ExitCode {
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
        fence_file: a.fence_file,
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
