//! `sniperforge`: the one binary. Parses the command line and dispatches into the crates.

mod agent_bench;
mod agent_cmd;
mod backtest_cmd;
mod bench_bot;
mod bench_cmd;
mod bot_cmd;
mod config_cmd;
mod feed_args;
mod gateway_cmd;
mod gateway_load;
mod handover_bench;
mod local_gateway;
mod quote_cmd;
mod record_cmd;
mod sim_cmd;
mod up_cmd;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Quote(quote_cmd::QuoteArgs),
    /// Run the fleet gateway (REST API over SQLite or PostgreSQL).
    Gateway(gateway_cmd::GatewayArgs),
    /// Record account updates from a feed into a replayable file.
    Record(record_cmd::RecordArgs),
    /// Run one bot with its HTTP control endpoint.
    Bot(bot_cmd::BotArgs),
    /// Run the node agent: follow the gateway's desired state and supervise this node's bots.
    Agent(agent_cmd::AgentArgs),
    /// Serve a simulated external venue's price stream (JSON over WebSocket at /ticker) for
    /// cross-chain arbitrage bots.
    VenueSim(sim_cmd::VenueSimArgs),
    /// Serve the market simulator over Solana's RPC wire protocol (HTTP JSON-RPC on --listen,
    /// websocket pubsub on --ws-listen) for bots with --feed solana.
    RpcSim(sim_cmd::RpcSimArgs),
    /// Bot configurations: templates, JSON Schemas, validation.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Run a configuration over a recording on the recording's clock and report what it would
    /// have earned (report.json/md, pnl.svg, timing.json); --sweep runs a grid of parameters.
    Backtest(backtest_cmd::BacktestArgs),
    /// Measure the engine: open-loop latency report, baseline comparison.
    #[command(subcommand)]
    Bench(bench_cmd::BenchCommand),
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
        Command::Record(a) => record_cmd::run(&a),
        Command::Backtest(a) => backtest_cmd::run(&a),
        Command::RpcSim(a) => sim_cmd::rpc_sim(&a),
        Command::VenueSim(a) => sim_cmd::venue_sim(a),
        Command::Gateway(a) => gateway_cmd::run(a),
        Command::Agent(a) => agent_cmd::run(a),
        Command::Up(a) => up_cmd::run(&a),
        Command::Bot(a) => bot_cmd::run(a),
    }
}
