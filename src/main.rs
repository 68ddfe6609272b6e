//! `sniperforge`: the one binary. Parses the command line and dispatches into the crates.

mod quote_cmd;

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
    /// Quote a swap exactly as the DEX program would, from account files.
    Quote(QuoteArgs),
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Quote(args) => quote_cmd::run(&args),
    }
}
