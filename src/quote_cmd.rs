//! `sniperforge quote`: load account files, recognise each by owner and layout, quote one swap.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use clap::ValueEnum;
use serde::Deserialize;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::raydium_cp::{AMM_CONFIG_DISCRIMINATOR, POOL_STATE_DISCRIMINATOR};
use sniperforge_engine::whirlpool::state::WHIRLPOOL_DISCRIMINATOR;
use sniperforge_engine::{AccountData, Amm, Pool, QuoteError, QuoteRequest, Side, SwapMode};

/// Exit code for unreadable or inconsistent input files.
const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for a swap the program would reject.
const EXIT_REJECTED: u8 = 1;

#[derive(Deserialize)]
struct AccountFile {
    pubkey: String,
    account: AccountJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccountJson {
    data: (String, String),
    owner: String,
}

/// One account read from a file.
struct LoadedAccount {
    path: PathBuf,
    pubkey: Pubkey,
    owner: Pubkey,
    data: Vec<u8>,
}

fn load_file(path: &Path) -> anyhow::Result<LoadedAccount> {
    let text = fs::read_to_string(path).context("reading the file")?;
    let file: AccountFile = serde_json::from_str(&text).context("parsing solana account JSON")?;
    let (encoded, encoding) = file.account.data;
    if encoding != "base64" {
        bail!("account.data encoding is {encoding:?}, expected \"base64\"");
    }
    let data = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("decoding account.data base64")?;
    Ok(LoadedAccount {
        path: path.to_path_buf(),
        pubkey: file
            .pubkey
            .parse()
            .with_context(|| format!("pubkey {:?}", file.pubkey))?,
        owner: file
            .account
            .owner
            .parse()
            .with_context(|| format!("account.owner {:?}", file.account.owner))?,
        data,
    })
}

fn load_dir(dir: &Path) -> anyhow::Result<Vec<LoadedAccount>> {
    let entries = fs::read_dir(dir)
        .with_context(|| format!("reading accounts directory {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "json") {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        bail!("{}: no .json account files", dir.display());
    }
    paths
        .iter()
        .map(|p| load_file(p).with_context(|| format!("{}", p.display())))
        .collect()
}

fn is_pool_account(dex: DexArg, account: &LoadedAccount) -> bool {
    let head = account.data.get(..8);
    match dex {
        DexArg::RaydiumV4 => account.owner == programs::RAYDIUM_AMM_V4,
        DexArg::RaydiumCp => {
            account.owner == programs::RAYDIUM_CP_SWAP
                && head == Some(&POOL_STATE_DISCRIMINATOR[..])
        }
        DexArg::Whirlpool => {
            account.owner == programs::ORCA_WHIRLPOOL && head == Some(&WHIRLPOOL_DISCRIMINATOR[..])
        }
    }
}

fn describe(account: &LoadedAccount) -> &'static str {
    let head = account.data.get(..8);
    let is_mint = account.data.len() == 82 || account.data.get(165) == Some(&1);
    if (account.owner == programs::SPL_TOKEN || account.owner == programs::SPL_TOKEN_2022)
        && is_mint
    {
        "a mint"
    } else if account.owner == programs::SPL_TOKEN || account.owner == programs::SPL_TOKEN_2022 {
        "a token account"
    } else if account.owner == programs::RAYDIUM_AMM_V4 {
        "a raydium-v4 account"
    } else if account.owner == programs::RAYDIUM_CP_SWAP
        && head == Some(&AMM_CONFIG_DISCRIMINATOR[..])
    {
        "a raydium-cp AmmConfig"
    } else if account.owner == programs::RAYDIUM_CP_SWAP {
        "a raydium-cp account"
    } else if account.owner == programs::ORCA_WHIRLPOOL {
        "a whirlpool account"
    } else {
        "an account of an unknown program"
    }
}

fn dex_name(dex: DexArg) -> &'static str {
    match dex {
        DexArg::RaydiumV4 => "raydium-v4",
        DexArg::RaydiumCp => "raydium-cp",
        DexArg::Whirlpool => "whirlpool",
    }
}

fn as_data(a: &LoadedAccount) -> AccountData<'_> {
    AccountData {
        pubkey: &a.pubkey,
        owner: &a.owner,
        data: &a.data,
    }
}

/// Builds the pool from the directory; every error names the file and the problem.
fn build_pool(args: &QuoteArgs) -> anyhow::Result<Pool> {
    let accounts = load_dir(&args.accounts)?;
    let (pools, others): (Vec<&LoadedAccount>, Vec<&LoadedAccount>) =
        accounts.iter().partition(|a| is_pool_account(args.dex, a));
    let pool_account = match pools.as_slice() {
        [one] => *one,
        [] => bail!(
            "{}: no {} pool account among {} files",
            args.accounts.display(),
            dex_name(args.dex),
            accounts.len()
        ),
        many => bail!(
            "{}: {} {} pool accounts ({}); keep one pool per directory",
            args.accounts.display(),
            many.len(),
            dex_name(args.dex),
            many.iter()
                .map(|a| a.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut pool = Pool::from_account(as_data(pool_account))
        .map_err(|e| anyhow!("{}: {e}", pool_account.path.display()))?;
    for account in others {
        let used = pool
            .update(as_data(account))
            .map_err(|e| anyhow!("{}: {e}", account.path.display()))?
            .applied();
        // What the pool account names but a quote does not read (a Whirlpool's vaults, the
        // LP mint, an observation account) is part of a full dump: ignored.
        if !used && !pool.references(&account.pubkey) {
            bail!(
                "{}: {} {} is not one of pool {}'s accounts",
                account.path.display(),
                describe(account),
                account.pubkey,
                pool.key()
            );
        }
    }
    Ok(pool)
}

/// Runs the command and maps failures to exit codes.
pub fn run(args: &QuoteArgs) -> ExitCode {
    let pool = match build_pool(args) {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let now = args.unix_time.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let request = QuoteRequest {
        amount: args.amount,
        side: match args.side {
            SideArg::AToB => Side::AToB,
            SideArg::BToA => Side::BToA,
        },
        mode: if args.exact_out {
            SwapMode::ExactOut
        } else {
            SwapMode::ExactIn
        },
        unix_timestamp: now,
        epoch: args.epoch.unwrap_or(u64::MAX),
    };
    match pool.quote(&request) {
        Ok(q) => {
            let out = serde_json::json!({
                "dex": dex_name(args.dex),
                "side": match args.side { SideArg::AToB => "a-to-b", SideArg::BToA => "b-to-a" },
                "mode": if args.exact_out { "exact-out" } else { "exact-in" },
                "amount_in": q.amount_in,
                "amount_out": q.amount_out,
                "fee_amount": q.fee_amount,
                "transfer_fee_in": q.transfer_fee_in,
                "transfer_fee_out": q.transfer_fee_out,
            });
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e @ QuoteError::MissingAccount { .. }) => {
            eprintln!("error: {}: {e}", args.accounts.display());
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(e) => {
            eprintln!("error: pool {} rejects the swap: {e}", pool.key());
            ExitCode::from(EXIT_REJECTED)
        }
    }
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
