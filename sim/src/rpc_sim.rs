//! The market simulator behind Solana's RPC wire protocol: HTTP JSON-RPC (`getMultipleAccounts`,
//! `getAccountInfo`, `getSlot`, `getLatestBlockhash`) and the websocket pubsub
//! (`accountSubscribe`, `slotSubscribe` and their unsubscribes) with notifications in the exact
//! JSON of a Solana node, base64 account data in the programs' real layouts. The same router
//! answers both (a node serves the websocket on the RPC port + 1; `serve` binds both).
//! Faults for tests: 429 answers, dropped connections, malformed notifications, a paused
//! market.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::Amm as _;
use sniperforge_engine::sim::{SimConfig, Simulator};
use tokio::sync::broadcast;

/// What changes the server publishes.
#[derive(Debug, Clone)]
pub(crate) enum Change {
    Account(Arc<Published>),
    Slot(u64),
}

/// An account change as published: its bytes (for the Geyser stream) and the pubsub's JSON
/// notification result (built once for every websocket).
#[derive(Debug)]
#[cfg_attr(not(feature = "yellowstone"), allow(dead_code))]
pub(crate) struct Published {
    pub(crate) pubkey: Pubkey,
    pub(crate) owner: Pubkey,
    pub(crate) data: Vec<u8>,
    pub(crate) slot: u64,
    /// The server's write counter (Geyser's `write_version`).
    pub(crate) write_version: u64,
    json: Value,
}

impl Published {
    pub(crate) fn new(
        pubkey: Pubkey,
        owner: Pubkey,
        data: Vec<u8>,
        slot: u64,
        write_version: u64,
    ) -> Self {
        let json = json!({"context": {"slot": slot}, "value": account_json(&owner, &data)});
        Self {
            pubkey,
            owner,
            data,
            slot,
            write_version,
            json,
        }
    }
}

/// What the Geyser service (feature `yellowstone`) has seen.
#[derive(Debug, Default)]
pub struct GeyserStats {
    /// Subscribe streams opened.
    pub streams: AtomicU64,
    /// Each filter set's `from_slot`, in arrival order.
    pub from_slots: Mutex<Vec<Option<u64>>>,
    /// Pings clients sent.
    pub client_pings: AtomicU64,
}

/// The latest changes kept for Geyser subscribers that resume `from_slot` (none until a Geyser
/// server asks for them), at most `capacity` of them and [`HISTORY_MAX_BYTES`] of account data.
#[derive(Debug, Default)]
pub(crate) struct History {
    pub(crate) capacity: usize,
    pub(crate) changes: std::collections::VecDeque<Change>,
    /// Account data bytes held.
    bytes: usize,
    /// The oldest slot whose changes are all still here.
    pub(crate) complete_from: u64,
}

/// The account data a history holds at most (each change's JSON form rides along, about 1.4×).
pub const HISTORY_MAX_BYTES: usize = 64 << 20;

impl History {
    fn push(&mut self, change: Change) {
        if let Change::Account(a) = &change {
            self.bytes += a.data.len();
        }
        self.changes.push_back(change);
        self.trim();
    }

    /// Drops the oldest changes past the limits; their slots are no longer whole here.
    fn trim(&mut self) {
        while (self.changes.len() > self.capacity || self.bytes > HISTORY_MAX_BYTES)
            && let Some(oldest) = self.changes.pop_front()
        {
            let slot = match oldest {
                Change::Account(a) => {
                    self.bytes -= a.data.len();
                    a.slot
                }
                Change::Slot(s) => s,
            };
            self.complete_from = self.complete_from.max(slot + 1);
        }
    }
}

/// Switches a test flips on a running server.
#[derive(Debug, Default)]
pub struct Faults {
    /// Answer this many next JSON-RPC calls with HTTP 429 (Retry-After: 0).
    pub rate_limit_next: AtomicU32,
    /// Send this many malformed notifications on every open stream.
    pub malformed_next: AtomicU32,
    /// Hold the market still (no account changes; slots go on).
    pub paused: AtomicBool,
    /// Land this many next transactions as failed (a slippage error of the swap).
    pub fail_next_transactions: AtomicU32,
    /// The fee flash loans charge here, in bps of the loan (Solend and Kamino repays).
    pub flash_fee_bps: AtomicU32,
    pub(crate) drop_epoch: AtomicU64,
}

impl Faults {
    /// Closes every open websocket (abruptly, as a dying node would).
    pub fn drop_connections(&self) {
        self.drop_epoch.fetch_add(1, Ordering::Relaxed);
    }
}

/// An account as stored: owner, data, slot of its last write.
type Stored = (Pubkey, Vec<u8>, u64);

/// A running server's shared state.
#[derive(Debug)]
pub struct RpcSim {
    accounts: Mutex<HashMap<Pubkey, Stored>>,
    slot: AtomicU64,
    pub(crate) changes: broadcast::Sender<Change>,
    pub(crate) history: Mutex<History>,
    /// Fault switches.
    pub faults: Faults,
    /// JSON-RPC calls answered, by method.
    pub calls: Mutex<HashMap<String, u64>>,
    /// Account changes published.
    pub published: AtomicU64,
    /// Websocket connections accepted.
    pub connections: AtomicU64,
    /// Transactions accepted by `sendTransaction`, by signature.
    pub transactions: Mutex<HashMap<String, Sent>>,
    /// The Geyser service's counters.
    pub geyser: GeyserStats,
    /// When the latest account changes were published, when asked ([`RpcSim::log_publishes`]).
    publish_log: Mutex<PublishLog>,
}

/// The publish times of the latest `capacity` account changes.
#[derive(Debug, Default)]
struct PublishLog {
    capacity: usize,
    times: std::collections::VecDeque<std::time::Instant>,
}

/// A transaction the server accepted: its signed form and what the loopback node books for it
/// (the route pays its own minimum out, or fails when a fault says so).
#[derive(Debug, Clone)]
pub struct Sent {
    /// The transaction.
    pub tx: solana_transaction::Transaction,
    /// Slot it landed in.
    pub slot: u64,
    /// Index of the payer's source token account in the message, its mint, and the first
    /// swap's input.
    pub source: Option<(usize, Pubkey, u64)>,
    /// The last swap's minimum out.
    pub min_out: u64,
    /// The program error it failed with, if a fault failed it.
    pub err: Option<Value>,
    /// A flash loan's fee the route repaid (`flash_fee_bps` of the repaid amount).
    pub loan_fee: u64,
}

/// An SPL Token mint account: 82 bytes, decimals at 44, initialised at 45.
pub fn mint_account(decimals: u8) -> Vec<u8> {
    let mut data = vec![0u8; 82];
    data[44] = decimals;
    data[45] = 1;
    data
}

/// The markets file of the simulator's tokens and pools (what `--markets` reads).
pub fn markets(sim: &mut Simulator) -> Value {
    let snapshot = sim.snapshot();
    let pools: Vec<String> = snapshot
        .iter()
        .filter(|u| sniperforge_engine::market::Pool::from_update(u).is_some())
        .map(|u| u.pubkey.to_string())
        .collect();
    let tokens: Vec<Value> = sim
        .tokens()
        .iter()
        .map(|t| json!({"symbol": t.symbol, "mint": t.mint.to_string(), "usd": t.usd}))
        .collect();
    json!({"tokens": tokens, "pools": pools})
}

/// The simulated blockhash of `slot` (distinct per slot).
pub fn blockhash(slot: u64) -> Pubkey {
    let mut b = [0x5f; 32];
    b[..8].copy_from_slice(&slot.to_le_bytes());
    Pubkey(b)
}

fn account_json(owner: &Pubkey, data: &[u8]) -> Value {
    json!({
        "data": [base64::engine::general_purpose::STANDARD.encode(data), "base64"],
        "executable": false,
        "lamports": 6_960u64 * (128 + data.len() as u64),
        "owner": owner.to_string(),
        "rentEpoch": u64::MAX,
        "space": data.len(),
    })
}

impl RpcSim {
    /// A server over the simulator `sim` (its tokens' mints included); `rate` account changes
    /// a second, a slot every `slot_ms`.
    pub fn start(mut sim: Simulator, rate: u64, slot_ms: u64) -> Arc<Self> {
        let (changes, _) = broadcast::channel(65_536);
        let mut accounts = HashMap::new();
        for u in sim.snapshot() {
            accounts.insert(u.pubkey, (u.owner, u.data, 1));
        }
        for t in sim.tokens() {
            accounts.insert(t.mint, (programs::SPL_TOKEN, mint_account(t.decimals), 1));
        }
        let server = Arc::new(Self {
            accounts: Mutex::new(accounts),
            slot: AtomicU64::new(1),
            changes,
            history: Mutex::default(),
            faults: Faults::default(),
            calls: Mutex::default(),
            published: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            transactions: Mutex::default(),
            geyser: GeyserStats::default(),
            publish_log: Mutex::default(),
        });
        let weak = Arc::downgrade(&server);
        tokio::spawn(async move {
            // A tick a millisecond, each publishing what the rate has accrued since the last
            // (a steady stream, as a node's, not bursts a tick apart).
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut last_slot = tokio::time::Instant::now();
            let mut last = tokio::time::Instant::now();
            let mut credit = 0.0f64;
            loop {
                tick.tick().await;
                let Some(server) = weak.upgrade() else { return };
                if last_slot.elapsed() >= Duration::from_millis(slot_ms) {
                    last_slot = tokio::time::Instant::now();
                    let slot = server.slot.fetch_add(1, Ordering::Relaxed) + 1;
                    server.publish(Change::Slot(slot));
                }
                let now = tokio::time::Instant::now();
                // At most a tenth of a second accrued at once (a stalled task does not burst).
                credit += rate as f64 * now.duration_since(last).as_secs_f64().min(0.1);
                last = now;
                if server.faults.paused.load(Ordering::Relaxed) {
                    credit = 0.0;
                    continue;
                }
                while credit >= 1.0 {
                    credit -= 1.0;
                    let u = sim.next_update();
                    server.set(&u);
                }
            }
        });
        server
    }

    /// Sets an account (at the current slot) and notifies its subscribers.
    pub fn set(&self, u: &AccountUpdate) {
        let slot = self.slot.load(Ordering::Relaxed);
        if let Ok(mut a) = self.accounts.lock() {
            a.insert(u.pubkey, (u.owner, u.data.clone(), slot));
        }
        let write_version = self.published.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut log) = self.publish_log.lock()
            && log.capacity > 0
        {
            if log.times.len() == log.capacity {
                log.times.pop_front();
            }
            log.times.push_back(std::time::Instant::now());
        }
        self.publish(Change::Account(Arc::new(Published::new(
            u.pubkey,
            u.owner,
            u.data.clone(),
            slot,
            write_version,
        ))));
    }

    /// Keeps the latest `changes` changes for Geyser subscribers resuming `from_slot` (fewer
    /// drops the oldest at once; 0 keeps none).
    pub fn keep_history(&self, changes: usize) {
        if let Ok(mut h) = self.history.lock() {
            if h.capacity == 0 {
                h.complete_from = self.slot() + 1;
            }
            h.capacity = changes;
            h.trim();
        }
    }

    /// Sends a change to every stream (and into the history, when one is kept).
    fn publish(&self, change: Change) {
        if let Ok(mut h) = self.history.lock()
            && h.capacity > 0
        {
            h.push(change.clone());
        }
        let _ = self.changes.send(change);
    }

    /// Keeps the publish times of the latest `capacity` account changes (0: none), for
    /// [`RpcSim::published_between`].
    pub fn log_publishes(&self, capacity: usize) {
        if let Ok(mut log) = self.publish_log.lock() {
            log.capacity = capacity;
            while log.times.len() > capacity {
                log.times.pop_front();
            }
        }
    }

    /// Account changes published after `from` and before `to`; `None` when the log does not
    /// reach back to `from` (its oldest kept change is later).
    pub fn published_between(
        &self,
        from: std::time::Instant,
        to: std::time::Instant,
    ) -> Option<u64> {
        let log = self.publish_log.lock().ok()?;
        if log.times.front().is_none_or(|t| *t > from) {
            return None;
        }
        Some(log.times.iter().filter(|t| **t > from && **t < to).count() as u64)
    }

    /// The current slot.
    pub fn slot(&self) -> u64 {
        self.slot.load(Ordering::Relaxed)
    }

    /// An account's current data.
    pub fn account(&self, key: &Pubkey) -> Option<Vec<u8>> {
        self.accounts
            .lock()
            .ok()
            .and_then(|a| a.get(key).map(|(_, d, _)| d.clone()))
    }

    /// JSON-RPC calls of `method` answered so far.
    pub fn calls(&self, method: &str) -> u64 {
        self.calls
            .lock()
            .map_or(0, |c| c.get(method).copied().unwrap_or(0))
    }

    fn answer(&self, request: &Value) -> Value {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let error = |code: i64, message: String| json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id});
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return error(-32600, "Invalid request".into());
        };
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(method.to_string()).or_default() += 1;
        }
        let params = request.get("params").cloned().unwrap_or(json!([]));
        let slot = self.slot();
        let context = json!({"apiVersion": "2.2.0", "slot": slot});
        let encoding_ok = |config: &Value| {
            config
                .get("encoding")
                .and_then(Value::as_str)
                .is_none_or(|e| e == "base64")
        };
        let lookup = |key: &Value| -> Result<Value, Value> {
            let key: Pubkey = key
                .as_str()
                .and_then(|k| k.parse().ok())
                .ok_or_else(|| error(-32602, format!("Invalid param: {key} is not a pubkey")))?;
            let a = self
                .accounts
                .lock()
                .map_err(|_| error(-32603, "lock".into()))?;
            Ok(a.get(&key)
                .map_or(Value::Null, |(owner, data, _)| account_json(owner, data)))
        };
        let result = match method {
            "getSlot" => json!(slot),
            "getLatestBlockhash" => json!({"context": context, "value": {
                "blockhash": blockhash(slot).to_string(),
                "lastValidBlockHeight": slot + 150}}),
            "getMultipleAccounts" => {
                let Some(keys) = params.get(0).and_then(Value::as_array) else {
                    return error(
                        -32602,
                        "Invalid params: expected an array of pubkeys".into(),
                    );
                };
                if keys.len() > sniperforge_solana::MAX_KEYS_PER_CALL {
                    return error(
                        -32602,
                        format!(
                            "Too many inputs provided; max {}",
                            sniperforge_solana::MAX_KEYS_PER_CALL
                        ),
                    );
                }
                if !encoding_ok(params.get(1).unwrap_or(&Value::Null)) {
                    return error(
                        -32602,
                        "Invalid params: this server encodes base64 only".into(),
                    );
                }
                let mut values = Vec::new();
                for k in keys {
                    match lookup(k) {
                        Ok(v) => values.push(v),
                        Err(e) => return e,
                    }
                }
                json!({"context": context, "value": values})
            }
            "getAccountInfo" => match lookup(params.get(0).unwrap_or(&Value::Null)) {
                Ok(v) => json!({"context": context, "value": v}),
                Err(e) => return e,
            },
            "sendTransaction" => match self.accept(&params) {
                Ok(signature) => json!(signature),
                Err((code, message)) => return error(code, message),
            },
            // A Jito block engine's bundle call: every transaction accepted as sendTransaction
            // would; the bundle id is the first signature.
            "sendBundle" => {
                let Some(txs) = params.get(0).and_then(Value::as_array) else {
                    return error(
                        -32602,
                        "Invalid params: expected an array of transactions".into(),
                    );
                };
                let config = params.get(1).cloned().unwrap_or(Value::Null);
                let mut ids = Vec::new();
                for tx in txs {
                    match self.accept(&json!([tx, config])) {
                        Ok(sig) => ids.push(sig),
                        Err((code, message)) => return error(code, message),
                    }
                }
                json!(ids.first())
            }
            "getSignatureStatuses" => {
                let sent = self
                    .transactions
                    .lock()
                    .map(|t| t.clone())
                    .unwrap_or_default();
                let statuses: Vec<Value> = params
                    .get(0)
                    .and_then(Value::as_array)
                    .map(|sigs| {
                        sigs.iter()
                            .map(|sig| {
                                sig.as_str().and_then(|s| sent.get(s)).map_or(Value::Null, |t| {
                                    json!({"slot": t.slot, "confirmations": 0, "err": t.err,
                                        "status": if t.err.is_some() { json!({"Err": t.err}) } else { json!({"Ok": null}) },
                                        "confirmationStatus": "confirmed"})
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({"context": context, "value": statuses})
            }
            "getTransaction" => {
                let sent = params
                    .get(0)
                    .and_then(Value::as_str)
                    .and_then(|s| self.transactions.lock().ok()?.get(s).cloned());
                match sent {
                    Some(t) => transaction_json(&t),
                    None => Value::Null,
                }
            }
            m => return error(-32601, format!("Method not found: {m}")),
        };
        json!({"jsonrpc": "2.0", "result": result, "id": id})
    }
}

impl RpcSim {
    /// `sendTransaction`: decoded, signatures verified, its swaps read; the signature.
    fn accept(&self, params: &Value) -> Result<String, (i64, String)> {
        let invalid = |m: String| (-32602, m);
        let encoded = params
            .get(0)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("Invalid params: expected a transaction string".into()))?;
        if params
            .get(1)
            .and_then(|c| c.get("encoding"))
            .and_then(Value::as_str)
            != Some("base64")
        {
            return Err(invalid(
                "Invalid params: this server takes base64 transactions".into(),
            ));
        }
        let wire = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| invalid(format!("invalid base64 encoding: {e}")))?;
        if wire.len() > sniperforge_solana::live::MAX_TRANSACTION_BYTES {
            return Err(invalid(format!(
                "encoded transaction too large: {} bytes",
                wire.len()
            )));
        }
        let tx: solana_transaction::Transaction = bincode::deserialize(&wire)
            .map_err(|e| invalid(format!("failed to deserialize transaction: {e}")))?;
        if tx.verify().is_err() {
            return Err((-32003, "Transaction signature verification failure".into()));
        }
        let keys: Vec<Pubkey> = tx
            .message
            .account_keys
            .iter()
            .map(sniperforge_solana::live::engine_pubkey)
            .collect();
        let swaps: Vec<(Pubkey, Vec<Pubkey>, &[u8])> = tx
            .message
            .instructions
            .iter()
            .filter_map(|ix| {
                let program = *keys.get(usize::from(ix.program_id_index))?;
                let accounts = ix
                    .accounts
                    .iter()
                    .filter_map(|&a| keys.get(usize::from(a)).copied())
                    .collect();
                Some((program, accounts, ix.data.as_slice()))
            })
            .filter(|(p, _, _)| {
                [
                    programs::RAYDIUM_AMM_V4,
                    programs::RAYDIUM_CP_SWAP,
                    programs::ORCA_WHIRLPOOL,
                ]
                .contains(p)
            })
            .collect();
        let u64_at = |d: &[u8], at: usize| {
            d.get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        // Per program: (pool account, source account, input at, minimum out at).
        let layout = |program: &Pubkey, data: &[u8]| {
            if *program == programs::RAYDIUM_AMM_V4 {
                (1, 5, 1, 9)
            } else if *program == programs::RAYDIUM_CP_SWAP {
                (3, 4, 8, 16)
            } else if data.last() == Some(&1) {
                (2, 3, 8, 16)
            } else {
                (2, 5, 8, 16)
            }
        };
        let payer = keys.first().copied().unwrap_or_default();
        let source = swaps.first().and_then(|(program, accounts, data)| {
            let (pool_at, source_at, in_at, _) = layout(program, data);
            let source = *accounts.get(source_at)?;
            let pool = *accounts.get(pool_at)?;
            let (owner, pool_data, _) = self.accounts.lock().ok()?.get(&pool).cloned()?;
            let update = AccountUpdate {
                pubkey: pool,
                owner,
                slot: 0,
                write_version: 0,
                data: pool_data,
                received_at: 0,
            };
            let mint = sniperforge_engine::market::Pool::from_update(&update)?
                .mints()
                .into_iter()
                .find(|m| {
                    sniperforge_engine::swap_ix::associated_token_address(
                        &payer,
                        m,
                        &programs::SPL_TOKEN,
                    )
                    .is_ok_and(|ata| ata == source)
                })?;
            Some((
                keys.iter().position(|k| *k == source)?,
                mint,
                u64_at(data, in_at),
            ))
        });
        let min_out = swaps.last().map_or(0, |(program, _, data)| {
            let (_, _, _, out_at) = layout(program, data);
            u64_at(data, out_at)
        });
        let failed = self
            .faults
            .fail_next_transactions
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        // A flash repay (Solend tag 20, Kamino's Anchor repay) pays the loan and its fee.
        let kamino_repay =
            sniperforge_engine::swap_ix::anchor_discriminator("flash_repay_reserve_liquidity");
        let loan_fee = tx
            .message
            .instructions
            .iter()
            .find_map(|ix| {
                let program = keys.get(usize::from(ix.program_id_index))?;
                let d = ix.data.as_slice();
                if *program == sniperforge_engine::swap_ix::SOLEND_PROGRAM && d.first() == Some(&20)
                {
                    Some(u64_at(d, 1))
                } else if *program == sniperforge_engine::swap_ix::KAMINO_LENDING_PROGRAM
                    && d.get(..8) == Some(&kamino_repay[..])
                {
                    Some(u64_at(d, 8))
                } else {
                    None
                }
            })
            .map_or(0, |amount| {
                let bps = u128::from(self.faults.flash_fee_bps.load(Ordering::Relaxed));
                (u128::from(amount) * bps).div_ceil(10_000) as u64
            });
        let signature = tx
            .signatures
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        let sent = Sent {
            loan_fee,
            slot: self.slot(),
            source,
            min_out,
            err: failed.then(|| json!({"InstructionError": [2, {"Custom": 30}]})),
            tx,
        };
        if let Ok(mut t) = self.transactions.lock() {
            t.insert(signature.clone(), sent);
        }
        Ok(signature)
    }
}

/// `getTransaction`'s answer for a landed transaction (json encoding): the payer's source token
/// account starts at 10^12 and ends with the route's minimum out in place of its input.
fn transaction_json(t: &Sent) -> Value {
    let balance = |index: usize, mint: &Pubkey, amount: u128| {
        json!({"accountIndex": index, "mint": mint.to_string(),
            "owner": t.tx.message.account_keys.first().map(ToString::to_string),
            "programId": programs::SPL_TOKEN.to_string(),
            "uiTokenAmount": {"amount": amount.to_string(), "decimals": 0,
                "uiAmount": amount as f64, "uiAmountString": amount.to_string()}})
    };
    let start = 1_000_000_000_000u128;
    let (pre, post) = match (&t.source, &t.err) {
        (Some((index, mint, amount_in)), None) => (
            vec![balance(*index, mint, start)],
            vec![balance(
                *index,
                mint,
                start - u128::from(*amount_in) + u128::from(t.min_out) - u128::from(t.loan_fee),
            )],
        ),
        (Some((index, mint, _)), Some(_)) => (
            vec![balance(*index, mint, start)],
            vec![balance(*index, mint, start)],
        ),
        (None, _) => (Vec::new(), Vec::new()),
    };
    json!({
        "slot": t.slot,
        "blockTime": null,
        "transaction": {
            "signatures": t.tx.signatures.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "message": {"accountKeys": t.tx.message.account_keys.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "recentBlockhash": t.tx.message.recent_blockhash.to_string()},
        },
        "meta": {"err": t.err, "fee": 5_000, "preTokenBalances": pre, "postTokenBalances": post},
    })
}

async fn http(State(server): State<Arc<RpcSim>>, body: axum::body::Bytes) -> Response {
    use axum::http::StatusCode;
    if server
        .faults
        .rate_limit_next
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            "Too many requests for a specific RPC call",
        )
            .into_response();
    }
    let answer = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(batch)) => Value::Array(batch.iter().map(|r| server.answer(r)).collect()),
        Ok(request) => server.answer(&request),
        Err(e) => {
            json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": format!("Parse error: {e}")}, "id": null})
        }
    };
    axum::Json(answer).into_response()
}

async fn upgrade(State(server): State<Arc<RpcSim>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| pubsub(server, socket))
}

async fn pubsub(server: Arc<RpcSim>, mut socket: WebSocket) {
    server.connections.fetch_add(1, Ordering::Relaxed);
    let epoch = server.faults.drop_epoch.load(Ordering::Relaxed);
    let mut changes = server.changes.subscribe();
    let mut accounts: HashMap<Pubkey, u64> = HashMap::new();
    let mut slot_sub: Option<u64> = None;
    let mut next_sub = 1u64;
    let mut check = tokio::time::interval(Duration::from_millis(20));
    loop {
        let outgoing: Vec<Value> = tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let request: Value = match serde_json::from_str(t.as_str()) {
                        Ok(v) => v,
                        Err(e) => {
                            let _ = socket.send(Message::Text(json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": format!("Parse error: {e}")}, "id": null}).to_string().into())).await;
                            continue;
                        }
                    };
                    let id = request.get("id").cloned().unwrap_or(Value::Null);
                    let method = request.get("method").and_then(Value::as_str).unwrap_or_default();
                    let params = request.get("params").cloned().unwrap_or(json!([]));
                    let answer = match method {
                        "accountSubscribe" => match params.get(0).and_then(Value::as_str).and_then(|k| k.parse::<Pubkey>().ok()) {
                            Some(key) => {
                                let sub = next_sub;
                                next_sub += 1;
                                accounts.insert(key, sub);
                                json!({"jsonrpc": "2.0", "result": sub, "id": id})
                            }
                            None => json!({"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid Request: Invalid pubkey provided"}, "id": id}),
                        },
                        "slotSubscribe" => {
                            let sub = next_sub;
                            next_sub += 1;
                            slot_sub = Some(sub);
                            json!({"jsonrpc": "2.0", "result": sub, "id": id})
                        }
                        "accountUnsubscribe" | "slotUnsubscribe" => {
                            let sub = params.get(0).and_then(Value::as_u64);
                            let before = accounts.len() + usize::from(slot_sub.is_some());
                            accounts.retain(|_, s| Some(*s) != sub);
                            if slot_sub == sub { slot_sub = None; }
                            let removed = before != accounts.len() + usize::from(slot_sub.is_some());
                            json!({"jsonrpc": "2.0", "result": removed, "id": id})
                        }
                        m => json!({"jsonrpc": "2.0", "error": {"code": -32601, "message": format!("Method not found: {m}")}, "id": id}),
                    };
                    vec![answer]
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
            change = changes.recv() => match change {
                Ok(Change::Account(a)) => match accounts.get(&a.pubkey) {
                    Some(sub) => vec![json!({"jsonrpc": "2.0", "method": "accountNotification",
                        "params": {"result": a.json, "subscription": sub}})],
                    None => continue,
                },
                Ok(Change::Slot(slot)) => match slot_sub {
                    Some(sub) => vec![json!({"jsonrpc": "2.0", "method": "slotNotification",
                        "params": {"result": {"parent": slot - 1, "root": slot.saturating_sub(32), "slot": slot}, "subscription": sub}})],
                    None => continue,
                },
                // A client too slow for the stream is cut off, as a node does.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = check.tick() => {
                if server.faults.drop_epoch.load(Ordering::Relaxed) != epoch {
                    return; // dropped without a close frame
                }
                let mut bad = Vec::new();
                while server.faults.malformed_next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
                    let sub = accounts.values().next().copied().unwrap_or(0);
                    bad.push(match bad.len() % 3 {
                        0 => json!({"jsonrpc": "2.0", "method": "accountNotification", "params": {"result": {"context": {"slot": 1}, "value": {"data": ["%%%not base64%%%", "base64"], "owner": programs::SPL_TOKEN.to_string(), "lamports": 1}}, "subscription": sub}}),
                        1 => json!({"jsonrpc": "2.0", "method": "accountNotification", "params": {"result": {"context": {"slot": 1}}, "subscription": 987_654_321}}),
                        _ => json!("not a notification"),
                    });
                }
                bad
            }
        };
        for v in outgoing {
            if socket
                .send(Message::Text(v.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// The router: POST JSON-RPC and GET websocket upgrades on `/`.
pub fn router(server: Arc<RpcSim>) -> axum::Router {
    axum::Router::new()
        .route("/", axum::routing::post(http).get(upgrade))
        .with_state(server)
}

/// Serves `server` on `rpc` and `ws` (the RPC port + 1, by Solana's convention) until the
/// runtime ends.
pub async fn serve(
    server: Arc<RpcSim>,
    rpc: tokio::net::TcpListener,
    ws: tokio::net::TcpListener,
) -> std::io::Result<()> {
    let a = axum::serve(rpc, router(Arc::clone(&server)));
    let b = axum::serve(ws, router(server));
    tokio::try_join!(async { a.await }, async { b.await }).map(|_| ())
}

/// Serves `server` on two free loopback ports (a task on the current runtime); its JSON-RPC
/// and websocket URLs.
pub async fn serve_loopback(server: Arc<RpcSim>) -> std::io::Result<(String, String)> {
    let rpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let urls = (
        format!("http://{}", rpc.local_addr()?),
        format!("ws://{}", ws.local_addr()?),
    );
    tokio::spawn(serve(server, rpc, ws));
    Ok(urls)
}

/// The simulator a server runs for `seed` (the bots' default settings), with the pools the
/// programs refuse (drained, disabled, one-sided, not open; off by default) when `edge_pools`.
pub fn simulator(seed: u64, edge_pools: bool) -> Simulator {
    Simulator::new(SimConfig {
        seed,
        noise_scale: 10.0,
        edge_pools,
        ..SimConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_pools_are_served_only_when_asked_for() {
        let count = |edge| {
            markets(&mut simulator(7, edge))["pools"]
                .as_array()
                .map(Vec::len)
        };
        assert_eq!(count(false), Some(40));
        assert_eq!(count(true), Some(48));
    }
}
