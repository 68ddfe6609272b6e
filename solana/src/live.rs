//! Live execution: a route's swap instructions (the engine's `swap_ix`, in each program's
//! layout) behind compute-budget instructions and an optional Jito tip, signed with the
//! operator's keypair (Solana SDK crates), sent over JSON-RPC `sendTransaction` or as a Jito
//! bundle (`sendBundle`), followed until confirmed, and booked at what the route really paid:
//! the change of the payer's start-mint token account in the confirmed transaction's meta.
//!
//! Never reached unless a config sets `execution.simulation_mode: false`,
//! `execution.auto_execute: true` and `execution.keypair_path` (the config layer refuses the
//! first without the other two) and the bot runs on a live feed with `--rpc-url`.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use sniperforge_engine::cycles::Hop;
use sniperforge_engine::market::Market;
use sniperforge_engine::pubkey::Pubkey;
use sniperforge_engine::quote::{Amm, QuoteRequest, SwapMode};
use sniperforge_engine::swap_ix::{self, Instruction};
use solana_keypair::Keypair;
use solana_signer::Signer as _;
use solana_transaction::Transaction;

use crate::Rpc;

/// Index of a route's first instruction in its transaction (after the two compute-budget
/// instructions): where a flash borrow stands, which its repay names.
pub const FIRST_ROUTE_INSTRUCTION: u8 = 2;

/// The largest transaction Solana accepts on the wire (bytes).
pub const MAX_TRANSACTION_BYTES: usize = 1232;

/// Reads a keypair file (the Solana CLI's JSON array of 64 bytes). Errors name the file, never
/// its contents. A file others could read (any group or world permission bit) is refused: the
/// key would not be the bot's alone.
pub fn load_keypair(path: &Path) -> Result<Keypair, KeypairError> {
    use std::io::Read as _;
    use std::os::unix::fs::PermissionsExt as _;
    let io = |source| KeypairError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mode = file.metadata().map_err(io)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(KeypairError::Shared {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    let mut text = String::new();
    file.take(64 * 1024).read_to_string(&mut text).map_err(io)?;
    let bytes: Vec<u8> = serde_json::from_str(&text).map_err(|_| KeypairError::NotJson {
        path: path.to_path_buf(),
    })?;
    if bytes.len() != 64 {
        return Err(KeypairError::Length {
            path: path.to_path_buf(),
            len: bytes.len(),
        });
    }
    Keypair::try_from(bytes.as_slice()).map_err(|_| KeypairError::Mismatch {
        path: path.to_path_buf(),
    })
}

/// A keypair file that cannot be used; the messages name the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum KeypairError {
    /// Opening or reading it.
    #[error("keypair {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// Others may read it.
    #[error("keypair {}: mode {mode:04o} lets others read it; chmod 600 it", path.display())]
    Shared {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Not the Solana CLI's format.
    #[error("keypair {}: not a JSON array of 64 bytes (the Solana CLI's format)", path.display())]
    NotJson {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The wrong number of bytes.
    #[error("keypair {}: {len} bytes, a keypair has 64", path.display())]
    Length {
        /// The file.
        path: std::path::PathBuf,
        /// Bytes in it.
        len: usize,
    },
    /// The halves do not belong together.
    #[error("keypair {}: the public half does not match the secret half", path.display())]
    Mismatch {
        /// The file.
        path: std::path::PathBuf,
    },
}

/// The engine's key as the SDK's.
pub fn sdk_pubkey(k: &Pubkey) -> solana_pubkey::Pubkey {
    solana_pubkey::Pubkey::new_from_array(k.0)
}

/// The SDK's key as the engine's.
pub fn engine_pubkey(k: &solana_pubkey::Pubkey) -> Pubkey {
    Pubkey(k.to_bytes())
}

fn to_sdk(ix: &Instruction) -> solana_instruction::Instruction {
    solana_instruction::Instruction {
        program_id: sdk_pubkey(&ix.program_id),
        accounts: ix
            .accounts
            .iter()
            .map(|a| solana_instruction::AccountMeta {
                pubkey: sdk_pubkey(&a.pubkey),
                is_signer: a.is_signer,
                is_writable: a.is_writable,
            })
            .collect(),
        data: ix.data.clone(),
    }
}

/// A route as swap instructions: each hop swaps exactly what the previous one is guaranteed to
/// pay (its exact quote less `slippage_bps`), the first the order's input. Returns the
/// instructions and the route's minimum output; refused when that minimum does not return the
/// input.
pub fn route_instructions(
    market: &Market,
    hops: &[Hop],
    amount_in: u64,
    slippage_bps: u32,
    owner: &Pubkey,
    unix_timestamp: i64,
    extra_cost: u64,
) -> Result<(Vec<Instruction>, u64), RouteError> {
    let mut ixs = Vec::with_capacity(hops.len());
    let mut amount = amount_in;
    for (hop_index, hop) in hops.iter().enumerate() {
        let pool = market.pool(hop.pool).ok_or(RouteError::NoPool {
            hop: hop_index,
            pool: hop.pool.0,
        })?;
        let quote = pool
            .quote(&QuoteRequest {
                amount,
                side: hop.side,
                mode: SwapMode::ExactIn,
                unix_timestamp,
                epoch: market.epoch(),
            })
            .map_err(|source| RouteError::Quote {
                hop: hop_index,
                pool: pool.key(),
                source,
            })?;
        if quote.amount_in < amount {
            return Err(RouteError::Partial {
                hop: hop_index,
                pool: pool.key(),
                filled: quote.amount_in,
                amount,
            });
        }
        let min_out =
            quote.amount_out - quote.amount_out * u64::from(slippage_bps.min(10_000)) / 10_000;
        ixs.push(
            swap_ix::swap_exact_in(pool, hop.side, owner, amount, min_out).map_err(|source| {
                RouteError::Instruction {
                    hop: hop_index,
                    source,
                }
            })?,
        );
        amount = min_out;
    }
    if amount <= amount_in.saturating_add(extra_cost) {
        return Err(RouteError::NoProfit {
            out: amount,
            amount_in,
            extra_cost,
            slippage_bps,
        });
    }
    Ok((ixs, amount))
}

/// A route that cannot be sent as swap instructions.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A hop names a pool the market lacks.
    #[error("hop {hop}: no pool {pool}")]
    NoPool {
        /// The hop.
        hop: usize,
        /// The pool's index.
        pool: u32,
    },
    /// The pool cannot quote the hop.
    #[error("hop {hop} ({pool}): {source}")]
    Quote {
        /// The hop.
        hop: usize,
        /// The pool.
        pool: Pubkey,
        /// Why.
        source: sniperforge_engine::QuoteError,
    },
    /// The pool takes only part of the input.
    #[error("hop {hop} ({pool}): fills only {filled} of {amount}")]
    Partial {
        /// The hop.
        hop: usize,
        /// The pool.
        pool: Pubkey,
        /// What it takes.
        filled: u64,
        /// What the hop gives it.
        amount: u64,
    },
    /// The swap instruction cannot be built.
    #[error("hop {hop}: {source}")]
    Instruction {
        /// The hop.
        hop: usize,
        /// Why.
        source: sniperforge_engine::swap_ix::SwapIxError,
    },
    /// The minimum the route returns does not cover its input and costs.
    #[error(
        "the route pays at least {out} for {amount_in} (+{extra_cost} loan fee) after {slippage_bps} bps slippage per hop: no profit left"
    )]
    NoProfit {
        /// The route's minimum output.
        out: u64,
        /// The input.
        amount_in: u64,
        /// The loan fee to cover.
        extra_cost: u64,
        /// Slippage allowed per hop.
        slippage_bps: u32,
    },
}

/// How transactions are sent (an order's own limit and fee replace the first two).
#[derive(Debug, Clone, PartialEq)]
pub struct SendSettings {
    /// Compute units the transaction may use.
    pub compute_unit_limit: u32,
    /// Priority fee per compute unit (micro-lamports).
    pub priority_fee_micro_lamports: u64,
    /// A Jito block engine's JSON-RPC URL: bundles instead of `sendTransaction`.
    pub jito_url: Option<String>,
    /// Tip to the Jito tip account (lamports; with `jito_url`).
    pub jito_tip: Option<(Pubkey, u64)>,
}

/// `swaps` behind the compute-budget instructions (and before a tip), signed by `payer` for
/// `blockhash`; refused past Solana's 1,232 bytes.
pub fn build_transaction(
    swaps: &[Instruction],
    payer: &Keypair,
    blockhash: [u8; 32],
    settings: &SendSettings,
) -> Result<(Transaction, Vec<u8>), String> {
    let owner = engine_pubkey(&payer.pubkey());
    let mut all = vec![
        swap_ix::compute_unit_limit(settings.compute_unit_limit),
        swap_ix::compute_unit_price(settings.priority_fee_micro_lamports),
    ];
    all.extend(swaps.iter().cloned());
    if let Some((tip_account, lamports)) = settings.jito_tip {
        all.push(swap_ix::system_transfer(&owner, &tip_account, lamports));
    }
    let sdk: Vec<solana_instruction::Instruction> = all.iter().map(to_sdk).collect();
    let hash = solana_hash::Hash::new_from_array(blockhash);
    let message = solana_message::Message::new_with_blockhash(&sdk, Some(&payer.pubkey()), &hash);
    let tx = Transaction::new(&[payer], message, hash);
    let wire = bincode::serialize(&tx).map_err(|e| format!("serialising the transaction: {e}"))?;
    if wire.len() > MAX_TRANSACTION_BYTES {
        return Err(format!(
            "the transaction is {} bytes, over Solana's {MAX_TRANSACTION_BYTES}",
            wire.len()
        ));
    }
    Ok((tx, wire))
}

/// An order for the executor.
#[derive(Debug, Clone)]
pub struct LiveOrder {
    /// The strategy's order id.
    pub order_id: u64,
    /// The route's swaps.
    pub swaps: Vec<Instruction>,
    /// Input in the start mint.
    pub amount_in: u64,
    /// The payer's token account of the start mint (where the profit shows).
    pub start_account: Pubkey,
    /// Compute units the transaction may use.
    pub compute_unit_limit: u32,
    /// Priority fee per compute unit (micro-lamports).
    pub priority_fee_micro_lamports: u64,
    /// A flash loan's fee, repaid from the start account with the loan (0 without one).
    pub loan_fee: u64,
}

/// What became of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveResult {
    /// The strategy's order id.
    pub order_id: u64,
    /// The transaction's signature (base58), once signed.
    pub signature: Option<String>,
    /// What the route paid in the start mint (`None`: it failed or never landed).
    pub realised_out: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// The executor thread's handle: orders in, results out.
#[derive(Debug)]
pub struct Executor {
    orders: Sender<LiveOrder>,
    results: Arc<Mutex<Vec<LiveResult>>>,
    /// The payer's address.
    pub payer: Pubkey,
}

/// Why the executor did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An endpoint URL.
    #[error("{flag} {source}")]
    Url {
        /// Which: `--rpc-url` or the Jito URL.
        flag: &'static str,
        /// What is wrong with it.
        source: sniperforge_host::net::UrlError,
    },
    /// The executor thread could not be spawned.
    #[error("spawning the executor: {0}")]
    Thread(std::io::Error),
}

impl Executor {
    /// Starts the executor thread against `rpc_url` (blockhashes, sending, confirmation).
    pub fn start(
        rpc_url: &str,
        tls: Arc<rustls::ClientConfig>,
        keypair: Keypair,
        settings: SendSettings,
    ) -> Result<Self, StartError> {
        let rpc = Rpc::new(rpc_url, Arc::clone(&tls)).map_err(|source| StartError::Url {
            flag: "--rpc-url",
            source,
        })?;
        let jito = match &settings.jito_url {
            Some(u) => Some(Rpc::new(u, tls).map_err(|source| StartError::Url {
                flag: "jito url",
                source,
            })?),
            None => None,
        };
        let (orders, rx) = std::sync::mpsc::channel();
        let results: Arc<Mutex<Vec<LiveResult>>> = Arc::default();
        let out = Arc::clone(&results);
        let payer = engine_pubkey(&keypair.pubkey());
        std::thread::Builder::new()
            .name("live-executor".into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(execute(rx, out, rpc, jito, keypair, settings));
            })
            .map_err(StartError::Thread)?;
        Ok(Self {
            orders,
            results,
            payer,
        })
    }

    /// Queues an order; `false` when the executor is gone.
    pub fn send(&self, order: LiveOrder) -> bool {
        self.orders.send(order).is_ok()
    }

    /// Results since the last call.
    pub fn results(&self) -> Vec<LiveResult> {
        std::mem::take(&mut *self.results.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

async fn execute(
    orders: Receiver<LiveOrder>,
    results: Arc<Mutex<Vec<LiveResult>>>,
    mut rpc: Rpc,
    mut jito: Option<Rpc>,
    keypair: Keypair,
    settings: SendSettings,
) {
    let mut blockhash: Option<([u8; 32], u64, Instant)> = None;
    loop {
        let order = match orders.try_recv() {
            Ok(o) => o,
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
        };
        let result = run_order(
            &order,
            &mut rpc,
            jito.as_mut(),
            &keypair,
            &settings,
            &mut blockhash,
        )
        .await;
        let result = match result {
            Ok(r) => r,
            Err((signature, e)) => LiveResult {
                order_id: order.order_id,
                signature,
                realised_out: None,
                error: Some(e),
            },
        };
        if let Some(e) = &result.error {
            tracing::warn!(order = result.order_id, error = %e, "live order failed");
        }
        results
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(result);
    }
}

/// Builds, signs, sends and follows one order.
async fn run_order(
    order: &LiveOrder,
    rpc: &mut Rpc,
    jito: Option<&mut Rpc>,
    keypair: &Keypair,
    settings: &SendSettings,
    cache: &mut Option<([u8; 32], u64, Instant)>,
) -> Result<LiveResult, (Option<String>, String)> {
    let fail = |e: String| (None, e);
    if cache.is_none_or(|(_, _, at)| at.elapsed() > Duration::from_secs(1)) {
        let v = rpc
            .call("getLatestBlockhash", json!([{"commitment": "confirmed"}]))
            .await
            .map_err(fail)?;
        let hash: Pubkey = v["value"]["blockhash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| fail(format!("getLatestBlockhash: no blockhash in {v}")))?;
        let last_valid = v["value"]["lastValidBlockHeight"].as_u64().unwrap_or(0);
        *cache = Some((hash.0, last_valid, Instant::now()));
    }
    let Some((hash, _, _)) = *cache else {
        return Err(fail("no blockhash".into()));
    };
    let settings = SendSettings {
        compute_unit_limit: order.compute_unit_limit,
        priority_fee_micro_lamports: order.priority_fee_micro_lamports,
        ..settings.clone()
    };
    let (tx, wire) = build_transaction(&order.swaps, keypair, hash, &settings).map_err(fail)?;
    let signature = tx
        .signatures
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&wire);
    let sent = match jito {
        Some(jito) => jito
            .call("sendBundle", json!([[encoded], {"encoding": "base64"}]))
            .await
            .map(|_| ()),
        None => rpc
            .call(
                "sendTransaction",
                json!([encoded, {"encoding": "base64", "skipPreflight": true, "maxRetries": 0}]),
            )
            .await
            .map(|_| ()),
    };
    let with_sig = |e: String| (Some(signature.clone()), e);
    sent.map_err(with_sig)?;
    // Confirmation: the signature's status until confirmed, failed, or 30 s (a blockhash lives
    // about 60 to 90 s; past 30 s the order is booked as failed and never retried).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = rpc
            .call("getSignatureStatuses", json!([[signature]]))
            .await
            .map_err(with_sig)?;
        let status = &v["value"][0];
        if !status.is_null() {
            if !status["err"].is_null() {
                return Err(with_sig(format!(
                    "the transaction failed: {}",
                    status["err"]
                )));
            }
            if matches!(
                status["confirmationStatus"].as_str(),
                Some("confirmed" | "finalized")
            ) {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err(with_sig("not confirmed within 30 s".into()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let v = rpc
        .call(
            "getTransaction",
            json!([signature, {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}]),
        )
        .await
        .map_err(with_sig)?;
    // A flash loan repays its fee from the start account too: the route paid that much more.
    let realised = realised_out(
        &v,
        &tx,
        &order.start_account,
        order.amount_in + order.loan_fee,
    )
    .map_err(|e| with_sig(e.to_string()))?;
    Ok(LiveResult {
        order_id: order.order_id,
        signature: Some(signature),
        realised_out: Some(realised),
        error: None,
    })
}

/// What a confirmed route paid in the start mint: the start account's balance change in the
/// transaction's meta plus the input it spent.
pub fn realised_out(
    transaction: &Value,
    tx: &Transaction,
    start_account: &Pubkey,
    amount_in: u64,
) -> Result<u64, RealisedError> {
    let meta = &transaction["meta"];
    if !meta["err"].is_null() {
        return Err(RealisedError::Failed(meta["err"].to_string()));
    }
    let index = tx
        .message
        .account_keys
        .iter()
        .position(|k| engine_pubkey(k) == *start_account)
        .ok_or(RealisedError::NoStartAccount)?;
    let balance = |field: &'static str| -> Result<u128, RealisedError> {
        meta[field]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|b| b["accountIndex"].as_u64() == Some(index as u64))
            })
            .and_then(|b| b["uiTokenAmount"]["amount"].as_str())
            .and_then(|a| a.parse().ok())
            .ok_or(RealisedError::NoBalance(field))
    };
    let (pre, post) = (balance("preTokenBalances")?, balance("postTokenBalances")?);
    let out = post + u128::from(amount_in);
    out.checked_sub(pre)
        .and_then(|o| u64::try_from(o).ok())
        .ok_or(RealisedError::Inconsistent {
            pre,
            post,
            amount_in,
        })
}

/// Why a confirmed transaction's proceeds could not be read from its meta.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealisedError {
    /// The transaction failed (its `meta.err`, as JSON).
    #[error("the transaction failed: {0}")]
    Failed(String),
    /// The start token account is not among its accounts.
    #[error("the start token account is not in the transaction")]
    NoStartAccount,
    /// No balance of the start account in `meta.<field>`.
    #[error("meta.{0}: no balance of the start token account")]
    NoBalance(&'static str),
    /// Balances that the input cannot explain.
    #[error("balance {pre} → {post} cannot follow from {amount_in} in")]
    Inconsistent {
        /// Before.
        pre: u128,
        /// After.
        post: u128,
        /// Spent.
        amount_in: u64,
    },
}

/// Live mode inside a bot's runner: orders from the strategy go to the executor, results come
/// back as the strategy's fills.
#[derive(Debug)]
pub struct LiveRunner {
    executor: Executor,
    slippage_bps: u32,
    priority_fee: u64,
    token_programs: std::collections::HashMap<Pubkey, Pubkey>,
    /// Flash-loan bots: the reserve per start mint and the fee (bps) the route must cover.
    flash: Option<(Vec<swap_ix::FlashReserve>, u32)>,
    sent: u64,
    landed: u64,
    failed: u64,
    recent: std::collections::VecDeque<Value>,
}

impl LiveRunner {
    /// Loads the keypair and starts the executor against the feed's RPC node.
    pub fn start(
        options: &crate::SolanaOptions,
        cfg: &sniperforge_protocol::ValidatedConfig,
        universe: &sniperforge_engine::feed::Universe,
    ) -> Result<Self, crate::SolanaError> {
        use crate::SolanaError;
        let execution = cfg.params.execution().ok_or_else(|| {
            SolanaError::Config(format!(
                "{}: live execution is for the arbitrage types",
                cfg.config.bot_type
            ))
        })?;
        let keypair = load_keypair(Path::new(&execution.keypair_path))
            .map_err(|e| SolanaError::Config(e.to_string()))?;
        let tls = sniperforge_host::net::tls_client(options.ca.as_deref(), "--rpc-ca")
            .map_err(|e| SolanaError::Config(e.to_string()))?;
        let priority_fee = execution.priority_fee_micro_lamports;
        let settings = SendSettings {
            compute_unit_limit: 0,
            priority_fee_micro_lamports: priority_fee,
            jito_url: options.jito.as_ref().map(|j| j.url.clone()),
            jito_tip: options
                .jito
                .as_ref()
                .map(|j| (j.tip_account, j.tip_lamports)),
        };
        let executor = Executor::start(&options.rpc_url, tls, keypair, settings)
            .map_err(|e| SolanaError::Config(e.to_string()))?;
        // Each mint's token program, from its account in the snapshot.
        let token_programs = universe
            .tokens()
            .iter()
            .filter_map(|t| {
                let owner = universe
                    .snapshot()
                    .iter()
                    .find(|u| u.pubkey == t.mint)?
                    .owner;
                Some((t.mint, owner))
            })
            .collect();
        let flash = if let sniperforge_protocol::Params::FlashLoanArbitrage { flash_loan, .. } =
            &cfg.params
        {
            let provider = flash_loan.provider.as_str();
            let reserves: Vec<swap_ix::FlashReserve> = options
                .markets
                .as_ref()
                .map(|m| m.flash_reserves())
                .transpose()
                .map_err(|e| SolanaError::Config(e.to_string()))?
                .unwrap_or_default()
                .into_iter()
                .filter(|r| crate::provider_name(r.provider) == provider)
                .collect();
            if reserves.is_empty() {
                return Err(SolanaError::Config(format!(
                    "flash_loan.provider {provider:?}: the markets file names no {provider} reserve (flash_loans); live flash-loan routes borrow from one"
                )));
            }
            Some((reserves, flash_loan.fee_bps as u32))
        } else {
            None
        };
        tracing::warn!(payer = %executor.payer, "LIVE execution: transactions are signed and sent");
        Ok(Self {
            executor,
            slippage_bps: execution.slippage_bps as u32,
            priority_fee,
            token_programs,
            flash,
            sent: 0,
            landed: 0,
            failed: 0,
            recent: std::collections::VecDeque::new(),
        })
    }

    /// Hot fields: slippage and the priority fee.
    pub fn set(&mut self, cfg: &sniperforge_protocol::ValidatedConfig) {
        if let Some(e) = cfg.params.execution() {
            self.slippage_bps = e.slippage_bps as u32;
            self.priority_fee = e.priority_fee_micro_lamports;
        }
    }

    /// Sends every order among `decisions`; an order whose route cannot be built (no profit
    /// left after slippage, a hop that no longer fills) is booked as failed into `fills`.
    pub fn dispatch(
        &mut self,
        strategy: &mut sniperforge_engine::strategy::Strategy,
        decisions: &[sniperforge_engine::strategy::Decision],
        now: u64,
        fills: &mut Vec<sniperforge_engine::strategy::Decision>,
    ) {
        use sniperforge_engine::strategy::Decision;
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        for d in decisions {
            let Decision::Execute(order) = d else {
                continue;
            };
            let cycle = strategy.cycles().cycle(order.opportunity.cycle);
            let hops = cycle.hops().to_vec();
            let start_mint = strategy.market().mint(cycle.start_mint).copied();
            let built = start_mint
                .ok_or_else(|| "the route's start mint is unknown".to_string())
                .and_then(|mint| {
                    let program = self
                        .token_programs
                        .get(&mint)
                        .copied()
                        .unwrap_or(sniperforge_engine::pubkey::programs::SPL_TOKEN);
                    let account =
                        swap_ix::associated_token_address(&self.executor.payer, &mint, &program)
                            .map_err(|e| e.to_string())?;
                    let amount_in = order.opportunity.amount_in;
                    let fee = self.flash.as_ref().map_or(0, |(_, bps)| {
                        (u128::from(amount_in) * u128::from(*bps)).div_ceil(10_000) as u64
                    });
                    let (mut swaps, _) = route_instructions(
                        strategy.market(),
                        &hops,
                        amount_in,
                        self.slippage_bps,
                        &self.executor.payer,
                        unix,
                        fee,
                    )
                    .map_err(|e| e.to_string())?;
                    if let Some((reserves, _)) = &self.flash {
                        let reserve =
                            reserves.iter().find(|r| r.mint == mint).ok_or_else(|| {
                                format!("no flash-loan reserve for the route's start mint {mint}")
                            })?;
                        let payer = self.executor.payer;
                        let borrow = reserve
                            .borrow(&payer, &account, amount_in)
                            .map_err(|e| e.to_string())?;
                        let repay = reserve
                            .repay(&payer, &account, amount_in, FIRST_ROUTE_INSTRUCTION)
                            .map_err(|e| e.to_string())?;
                        swaps.insert(0, borrow);
                        swaps.push(repay);
                    }
                    Ok((swaps, account, fee))
                });
            match built {
                Ok((swaps, start_account, loan_fee)) => {
                    let compute_unit_limit = 100_000 + 150_000 * hops.len() as u32;
                    if self.executor.send(LiveOrder {
                        order_id: order.id,
                        swaps,
                        amount_in: order.opportunity.amount_in,
                        start_account,
                        compute_unit_limit,
                        priority_fee_micro_lamports: self.priority_fee,
                        loan_fee,
                    }) {
                        self.sent += 1;
                        continue;
                    }
                    self.note(
                        order.id,
                        None,
                        None,
                        Some("the executor thread is gone".into()),
                    );
                }
                Err(e) => self.note(order.id, None, None, Some(e)),
            }
            if let Some(fill) = strategy.complete(order.id, None, None, now) {
                self.failed += 1;
                fills.push(Decision::Filled(fill));
            }
        }
    }

    /// Books what the executor finished into `fills`.
    pub fn collect(
        &mut self,
        strategy: &mut sniperforge_engine::strategy::Strategy,
        now: u64,
        fills: &mut Vec<sniperforge_engine::strategy::Decision>,
    ) {
        for r in self.executor.results() {
            if r.realised_out.is_some() {
                self.landed += 1;
            } else {
                self.failed += 1;
            }
            let signature = r
                .signature
                .as_deref()
                .and_then(|s| bs58::decode(s).into_vec().ok())
                .and_then(|b| <[u8; 64]>::try_from(b).ok());
            if let Some(fill) = strategy.complete(r.order_id, r.realised_out, signature, now) {
                fills.push(sniperforge_engine::strategy::Decision::Filled(fill));
            }
            self.note(r.order_id, r.signature, r.realised_out, r.error);
        }
    }

    fn note(
        &mut self,
        order: u64,
        signature: Option<String>,
        out: Option<u64>,
        error: Option<String>,
    ) {
        self.recent.push_front(
            json!({"order": order, "signature": signature, "realised_out": out, "error": error}),
        );
        self.recent.truncate(20);
    }

    /// What the bot publishes about its live orders.
    pub fn outputs(&self) -> Value {
        json!({"payer": self.executor.payer.to_string(), "sent": self.sent, "landed": self.landed,
            "failed": self.failed, "recent": self.recent})
    }
}
