//! The Solana RPC feed: a snapshot over HTTP JSON-RPC (`getMultipleAccounts`, at most 100
//! keys a call, base64), then `accountSubscribe` per account and `slotSubscribe` over the
//! websocket pubsub, in the wire formats of Solana's RPC. A reader thread (its own tokio
//! runtime) parses notifications and hands them to the runner through an outbox that never
//! blocks it: a newer state of an account still waiting replaces the older one (counted). A
//! broken stream is reported at once (`Down`), then reconnected with backoff, resubscribed and
//! re-snapshotted; the runner applies the whole new snapshot before deciding anything on it.
//! HTTP 429 answers are retried after their Retry-After (or a growing backoff).
//!
//! The markets file names what to watch:
//! `{"tokens": [{"symbol": "SOL", "mint": "So11…112", "usd": 150.0}, …], "pools": ["58oQ…", …]}`.
//! Decimals are read from the mint accounts; a pool's vaults and tick arrays are found from its
//! own account.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::json;
use sniperforge_engine::market::{AccountUpdate, Market};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{Amm, DexKind};
use sniperforge_engine::sim::Token;
use sniperforge_engine::strategy::{Clock, MonotonicClock};
use tokio_tungstenite::tungstenite::Message;

use crate::bot::BotError;
use crate::feed::{FeedEvent, Universe};
use crate::net::Url;
use crate::runtime::Ingress;
use crate::runtime::ingress::IngressStats;

/// Keys a `getMultipleAccounts` call may carry.
pub const MAX_KEYS_PER_CALL: usize = 100;
/// Without any message for this long (slots come every 0.4 s) the stream counts as dead.
pub(crate) const SILENCE: Duration = Duration::from_secs(10);
const HTTP: &[(&str, bool)] = &[("http", false), ("https", true)];
const WS: &[(&str, bool)] = &[("ws", false), ("wss", true)];

/// A token of the markets file (decimals come from its mint account).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketToken {
    /// Symbol the bot configs use.
    pub symbol: String,
    /// Mint address.
    pub mint: String,
    /// Reference USD price for sizing and accounting.
    pub usd: f64,
}

/// What a Solana feed watches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Markets {
    /// The tokens configs may name.
    pub tokens: Vec<MarketToken>,
    /// Pool account addresses (Raydium AMM v4, Raydium CP-Swap, Orca Whirlpool).
    pub pools: Vec<String>,
    /// Reserves live flash-loan routes borrow from.
    #[serde(default)]
    pub flash_loans: Vec<MarketFlashLoan>,
}

/// A lending reserve of the markets file (`flash_loans`), by its accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketFlashLoan {
    /// `solend` or `kamino`.
    pub provider: String,
    /// The borrowed mint.
    pub mint: String,
    /// The lending market.
    pub lending_market: String,
    /// The reserve.
    pub reserve: String,
    /// The reserve's liquidity supply token account.
    pub liquidity_supply: String,
    /// The reserve's fee receiver token account.
    pub fee_receiver: String,
    /// The mint's token program (default SPL Token).
    #[serde(default)]
    pub token_program: Option<String>,
}

/// The config's name of a flash-loan provider.
pub fn provider_name(p: sniperforge_engine::swap_ix::FlashProvider) -> &'static str {
    match p {
        sniperforge_engine::swap_ix::FlashProvider::Solend => "solend",
        sniperforge_engine::swap_ix::FlashProvider::Kamino => "kamino",
    }
}

impl Markets {
    /// Reads and checks a markets file.
    pub fn load(path: &Path) -> Result<Self, BotError> {
        let err = |e: String| BotError::Config(format!("markets file {}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let markets: Self = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        for (i, t) in markets.tokens.iter().enumerate() {
            t.mint
                .parse::<Pubkey>()
                .map_err(|e| err(format!("tokens[{i}].mint {:?}: {e}", t.mint)))?;
            if !(t.usd.is_finite() && t.usd > 0.0) {
                return Err(err(format!(
                    "tokens[{i}].usd: {} is not a positive price",
                    t.usd
                )));
            }
            if t.symbol.is_empty() || markets.tokens[..i].iter().any(|o| o.symbol == t.symbol) {
                return Err(err(format!(
                    "tokens[{i}].symbol {:?}: empty or named twice",
                    t.symbol
                )));
            }
        }
        for (i, p) in markets.pools.iter().enumerate() {
            p.parse::<Pubkey>()
                .map_err(|e| err(format!("pools[{i}] {p:?}: {e}")))?;
        }
        if markets.pools.is_empty() {
            return Err(err("pools: names no pool".into()));
        }
        markets.flash_reserves().map_err(err)?;
        Ok(markets)
    }

    /// The flash-loan reserves, checked.
    pub fn flash_reserves(&self) -> Result<Vec<sniperforge_engine::swap_ix::FlashReserve>, String> {
        use sniperforge_engine::swap_ix::{FlashProvider, FlashReserve};
        self.flash_loans
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let key = |field: &str, v: &str| -> Result<Pubkey, String> {
                    v.parse()
                        .map_err(|e| format!("flash_loans[{i}].{field} {v:?}: {e}"))
                };
                Ok(FlashReserve {
                    provider: match f.provider.as_str() {
                        "solend" => FlashProvider::Solend,
                        "kamino" => FlashProvider::Kamino,
                        other => {
                            return Err(format!(
                                "flash_loans[{i}].provider {other:?}: solend or kamino"
                            ));
                        }
                    },
                    mint: key("mint", &f.mint)?,
                    lending_market: key("lending_market", &f.lending_market)?,
                    reserve: key("reserve", &f.reserve)?,
                    liquidity_supply: key("liquidity_supply", &f.liquidity_supply)?,
                    fee_receiver: key("fee_receiver", &f.fee_receiver)?,
                    token_program: match &f.token_program {
                        Some(p) => key("token_program", p)?,
                        None => programs::SPL_TOKEN,
                    },
                })
            })
            .collect()
    }

    fn mints(&self) -> Vec<Pubkey> {
        self.tokens
            .iter()
            .filter_map(|t| t.mint.parse().ok())
            .collect()
    }

    /// The tokens, with decimals read from their mint accounts among `accounts`.
    pub fn tokens_with_decimals(&self, accounts: &[AccountUpdate]) -> Result<Vec<Token>, BotError> {
        self.tokens
            .iter()
            .map(|t| {
                let mint: Pubkey = t
                    .mint
                    .parse()
                    .map_err(|e| BotError::Config(format!("markets: mint {:?}: {e}", t.mint)))?;
                let decimals = accounts
                    .iter()
                    .find(|u| u.pubkey == mint)
                    .and_then(mint_decimals)
                    .ok_or_else(|| {
                        BotError::Config(format!(
                            "markets: token {} ({mint}): no SPL mint account found for it",
                            t.symbol
                        ))
                    })?;
                Ok(Token {
                    // Symbols live as long as the process (a handful, read once per start).
                    symbol: Box::leak(t.symbol.clone().into_boxed_str()),
                    mint,
                    decimals,
                    usd: t.usd,
                })
            })
            .collect()
    }
}

/// Decimals of an SPL Token (or Token-2022) mint account: byte 44, after the mint authority
/// (4 + 32) and the supply (8).
pub fn mint_decimals(u: &AccountUpdate) -> Option<u8> {
    let token_program = u.owner == programs::SPL_TOKEN || u.owner == programs::SPL_TOKEN_2022;
    (token_program && u.data.len() >= 82).then(|| u.data[44])
}

/// Where the feed connects.
#[derive(Debug, Clone)]
pub struct SolanaOptions {
    /// HTTP JSON-RPC endpoint.
    pub rpc_url: String,
    /// Websocket pubsub endpoint (default: the RPC URL with ws(s)://, port + 1 when the RPC
    /// URL names a port — Solana's own convention).
    pub ws_url: Option<String>,
    /// processed, confirmed or finalized.
    pub commitment: String,
    /// What to watch (a replay's token table, when given with one).
    pub markets: Option<Markets>,
    /// Extra CA certificates (PEM) for https/wss endpoints.
    pub ca: Option<PathBuf>,
    /// Live mode: send as Jito bundles instead of `sendTransaction`.
    pub jito: Option<Jito>,
    /// A Yellowstone gRPC (Geyser) endpoint for `--feed yellowstone`.
    pub grpc: Option<GrpcOptions>,
}

/// A Yellowstone gRPC endpoint and its access token.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// `http://` or `https://` URL of the Geyser service.
    pub url: String,
    /// The `x-token` the provider issued (read from a file; never printed).
    pub x_token: Option<Secret>,
}

/// A secret string: `Debug` shows only that it is there.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl GrpcOptions {
    /// `--grpc-url` with the token in `x_token_file` (its first line), checked.
    pub fn new(url: &str, x_token_file: Option<&Path>) -> Result<Self, BotError> {
        Url::parse(url, HTTP).map_err(|e| BotError::Config(format!("--grpc-url {e}")))?;
        Ok(Self {
            url: url.to_string(),
            x_token: x_token_file.map(Secret::from_token_file).transpose()?,
        })
    }
}

impl Secret {
    /// The token on the first line of `path` (`--grpc-x-token-file`): printable ASCII, as a
    /// gRPC metadata value must be.
    pub fn from_token_file(path: &Path) -> Result<Self, BotError> {
        let bad = |why: String| {
            BotError::Config(format!("--grpc-x-token-file {}: {why}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let token = text.lines().next().unwrap_or_default().trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "the first line is empty or not a printable ASCII token".into(),
            ));
        }
        Ok(Self(token.to_string()))
    }
}

/// The stream a Solana feed follows after its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The RPC node's websocket pubsub.
    Websocket,
    /// A Yellowstone gRPC (Geyser) service (`SolanaOptions::grpc`).
    Yellowstone,
}

impl Via {
    /// The `--feed` that names this stream.
    pub fn feed(self) -> &'static str {
        match self {
            Self::Websocket => "solana",
            Self::Yellowstone => "yellowstone",
        }
    }
}

/// A Jito block engine and the tip each bundle pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jito {
    /// The block engine's JSON-RPC URL (…/api/v1/bundles).
    pub url: String,
    /// One of Jito's tip accounts.
    pub tip_account: Pubkey,
    /// Lamports tipped per bundle.
    pub tip_lamports: u64,
}

impl SolanaOptions {
    fn endpoints(&self) -> Result<(Url, Url), BotError> {
        let bad = |e: String| BotError::Config(e);
        if !["processed", "confirmed", "finalized"].contains(&self.commitment.as_str()) {
            return Err(bad(format!(
                "--commitment {:?}: expected processed, confirmed or finalized",
                self.commitment
            )));
        }
        let rpc = Url::parse(&self.rpc_url, HTTP).map_err(|e| bad(format!("--rpc-url {e}")))?;
        let ws = match &self.ws_url {
            Some(u) => Url::parse(u, WS).map_err(|e| bad(format!("--ws-url {e}")))?,
            None => {
                let mut ws = rpc.clone();
                if ws.explicit_port {
                    ws.port = ws.port.checked_add(1).ok_or_else(|| {
                        bad("--rpc-url: port 65535 leaves no websocket port; give --ws-url".into())
                    })?;
                    ws.authority = match ws.authority.rsplit_once(':') {
                        Some((h, _)) => format!("{h}:{}", ws.port),
                        None => ws.authority,
                    };
                }
                ws
            }
        };
        Ok((rpc, ws))
    }
}

/// A JSON-RPC failure.
#[derive(Debug)]
enum RpcError {
    /// HTTP 429, with the server's Retry-After.
    RateLimited(Option<Duration>),
    /// Anything else, in words.
    Other(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RateLimited(_) => write!(f, "rate limited (HTTP 429)"),
            Self::Other(e) => f.write_str(e),
        }
    }
}

/// A JSON-RPC client over one kept-alive HTTP/1.1 connection (reopened after an error).
pub(crate) struct Rpc {
    url: Url,
    tls: Arc<rustls::ClientConfig>,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    next_id: u64,
}

#[derive(Deserialize)]
struct UiAccount<'a> {
    #[serde(borrow)]
    data: (Cow<'a, str>, Cow<'a, str>),
    #[serde(borrow)]
    owner: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Context {
    slot: u64,
}

#[derive(Deserialize)]
struct RpcErrorBody {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct MultipleAccounts<'a> {
    context: Context,
    #[serde(borrow)]
    value: Vec<Option<UiAccount<'a>>>,
}

#[derive(Deserialize)]
struct RpcResponse<'a> {
    #[serde(borrow, default)]
    result: Option<MultipleAccounts<'a>>,
    #[serde(default)]
    error: Option<RpcErrorBody>,
}

/// An account in the RPC's base64 encoding, as an update (the caller sets the write version).
fn decode_account(
    pubkey: Pubkey,
    account: &UiAccount<'_>,
    slot: u64,
) -> Result<AccountUpdate, String> {
    decode_account_into(pubkey, account, slot, Vec::new())
}

/// [`decode_account`] into `data` (an empty buffer, a pooled one on the hot path).
fn decode_account_into(
    pubkey: Pubkey,
    account: &UiAccount<'_>,
    slot: u64,
    mut data: Vec<u8>,
) -> Result<AccountUpdate, String> {
    use base64::Engine as _;
    if account.data.1 != "base64" {
        return Err(format!(
            "{pubkey}: data encoded {:?}, asked base64",
            account.data.1
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode_vec(account.data.0.as_bytes(), &mut data)
        .map_err(|e| format!("{pubkey}: data is not base64: {e}"))?;
    let owner = account
        .owner
        .parse()
        .map_err(|e| format!("{pubkey}: owner {:?}: {e}", account.owner))?;
    Ok(AccountUpdate {
        pubkey,
        owner,
        slot,
        write_version: 0,
        data,
        received_at: 0,
    })
}

impl Rpc {
    /// A client of `url` (http:// or https://).
    pub(crate) fn new(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self, String> {
        Ok(Self {
            url: Url::parse(url, HTTP)?,
            tls,
            sender: None,
            next_id: 0,
        })
    }

    /// Calls `method` with `params`: its `result`, or the RPC error, the HTTP failure (429s are
    /// retried after their Retry-After, three times) or an unreadable answer, in words.
    pub(crate) async fn call(
        &mut self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        self.next_id += 1;
        let body =
            json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
                .to_string();
        let bytes = self.post_retrying(method, body, None).await?;
        let mut answer: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method}: unreadable answer: {e}"))?;
        if let Some(e) = answer.get("error").filter(|e| !e.is_null()) {
            return Err(format!(
                "{method}: RPC error {}: {}",
                e["code"],
                e["message"].as_str().unwrap_or_default()
            ));
        }
        match answer.get_mut("result") {
            Some(r) => Ok(r.take()),
            None => Err(format!("{method}: answer without result or error")),
        }
    }

    /// Posts `body`, retrying an HTTP 429 up to five times after its Retry-After (or 100 ms
    /// doubling to 5 s), each counted in `rate_limited`.
    async fn post_retrying(
        &mut self,
        method: &str,
        body: String,
        rate_limited: Option<&AtomicU64>,
    ) -> Result<Bytes, String> {
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0;
        loop {
            match self.post(body.clone()).await {
                Ok(b) => return Ok(b),
                Err(RpcError::RateLimited(after)) if attempts < 5 => {
                    attempts += 1;
                    if let Some(n) = rate_limited {
                        n.fetch_add(1, Ordering::Relaxed);
                    }
                    // A server's Retry-After is honoured up to 10 s (a hostile one could park the
                    // reader for ever).
                    tokio::time::sleep(after.unwrap_or(backoff).min(Duration::from_secs(10))).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(format!("{method}: {e}")),
            }
        }
    }

    async fn post(&mut self, body: String) -> Result<Bytes, RpcError> {
        let other = |e: String| RpcError::Other(format!("rpc {}: {e}", self.url.authority));
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let io = self
                .url
                .connect(Some(&self.tls), Duration::from_secs(5))
                .await
                .map_err(|e| RpcError::Other(format!("rpc {e}")))?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                    .await
                    .map_err(|e| other(e.to_string()))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        let Some(sender) = self.sender.as_mut() else {
            return Err(other("no connection".into()));
        };
        let request = hyper::Request::post(self.url.path.as_str())
            .header("host", self.url.authority.as_str())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| other(e.to_string()))?;
        let exchange = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, retry_after, body))
        };
        let (status, retry_after, body) =
            match tokio::time::timeout(Duration::from_secs(10), exchange).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => {
                    self.sender = None;
                    return Err(other(e.to_string()));
                }
                Err(_) => {
                    self.sender = None;
                    return Err(other("no answer within 10 s".into()));
                }
            };
        if status.as_u16() == 429 {
            return Err(RpcError::RateLimited(retry_after));
        }
        if !status.is_success() {
            return Err(other(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            )));
        }
        Ok(body)
    }

    /// `getMultipleAccounts` over `keys` (batches of 100, each retried on 429 up to 5 times):
    /// the accounts that exist, stamped with their batch's context slot.
    pub(crate) async fn accounts(
        &mut self,
        keys: &[Pubkey],
        commitment: &str,
        shared: &FeedShared,
    ) -> Result<Vec<AccountUpdate>, String> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS_PER_CALL) {
            self.next_id += 1;
            let names: Vec<String> = chunk.iter().map(ToString::to_string).collect();
            let body = json!({
                "jsonrpc": "2.0", "id": self.next_id, "method": "getMultipleAccounts",
                "params": [names, {"encoding": "base64", "commitment": commitment}],
            })
            .to_string();
            let bytes = self
                .post_retrying("getMultipleAccounts", body, Some(&shared.rate_limited))
                .await?;
            let response: RpcResponse<'_> = serde_json::from_slice(&bytes)
                .map_err(|e| format!("getMultipleAccounts: unreadable answer: {e}"))?;
            if let Some(e) = response.error {
                return Err(format!(
                    "getMultipleAccounts: RPC error {}: {}",
                    e.code, e.message
                ));
            }
            let result = response
                .result
                .ok_or("getMultipleAccounts: answer without result or error")?;
            if result.value.len() != chunk.len() {
                return Err(format!(
                    "getMultipleAccounts: {} accounts for {} keys",
                    result.value.len(),
                    chunk.len()
                ));
            }
            for (key, account) in chunk.iter().zip(&result.value) {
                if let Some(a) = account {
                    out.push(
                        decode_account(*key, a, result.context.slot)
                            .map_err(|e| format!("getMultipleAccounts: {e}"))?,
                    );
                }
            }
        }
        Ok(out)
    }
}

/// State the reader thread and the runner share.
#[derive(Debug, Default)]
pub(crate) struct FeedShared {
    connected: AtomicBool,
    pub(crate) notifications: AtomicU64,
    pub(crate) malformed: AtomicU64,
    reconnects: AtomicU64,
    rate_limited: AtomicU64,
    pub(crate) slot: AtomicU64,
    last_error: Mutex<Option<String>>,
    last_malformed: Mutex<Option<String>>,
    write_version: AtomicU64,
}

/// Where a reader puts an event: the runtime's ingress, or (while a snapshot is being taken)
/// the account updates held behind it.
pub(crate) enum To<'a> {
    Ingress(&'a mut Ingress),
    Held(&'a mut Vec<AccountUpdate>),
}

impl FeedShared {
    pub(crate) fn malformed(&self, why: String) {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%why, "malformed notification skipped");
        *self
            .last_malformed
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    pub(crate) fn stamp(&self, mut u: AccountUpdate, received_at: u64) -> AccountUpdate {
        u.write_version = self.write_version.fetch_add(1, Ordering::Relaxed) + 1;
        u.received_at = received_at;
        u
    }
}

/// A running Solana feed (its reader thread stops with the bot's stop flag).
#[derive(Debug, Clone)]
pub struct SolanaFeed {
    shared: Arc<FeedShared>,
    ingress: Arc<IngressStats>,
    /// What `/health` names: the feed's kind and endpoint.
    name: String,
}

impl SolanaFeed {
    /// Loads the markets' pools and everything they read (failing with what and where when the
    /// RPC is unreachable or an account is not what the file says), then starts the reader of
    /// the stream `via` names, which hands its events to `ingress`. The reader thread runs on
    /// the cores the calling thread may use.
    pub fn start(
        options: &SolanaOptions,
        via: Via,
        stop: Arc<AtomicBool>,
        clock: MonotonicClock,
        ingress: Ingress,
    ) -> Result<(Universe, Self), BotError> {
        let feed = via.feed();
        let markets = options.markets.clone().ok_or_else(|| {
            BotError::Config(format!(
                "--feed {feed} needs --markets FILE (the pools to watch)"
            ))
        })?;
        let (rpc_url, ws_url) = options.endpoints()?;
        let tls =
            crate::net::tls_client(options.ca.as_deref(), "--rpc-ca").map_err(BotError::Config)?;
        let (stream, name) = match via {
            Via::Websocket => {
                let name = format!("solana feed {}{}", ws_url.authority, ws_url.path);
                (Stream::Websocket(ws_url), name)
            }
            Via::Yellowstone => {
                let grpc = options.grpc.as_ref().ok_or_else(|| {
                    BotError::Config("--feed yellowstone needs --grpc-url URL".into())
                })?;
                let name = format!("yellowstone feed {}", grpc.url);
                (Stream::grpc(grpc, options.ca.as_deref())?, name)
            }
        };
        let shared = Arc::new(FeedShared::default());
        let ingress_stats = Arc::clone(ingress.stats());
        let (tx, rx) = std::sync::mpsc::channel();
        let commitment = options.commitment.clone();
        let reader_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("solana-feed".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(format!("feed runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut rpc = Rpc {
                        url: rpc_url,
                        tls: Arc::clone(&tls),
                        sender: None,
                        next_id: 0,
                    };
                    let found = discover(&mut rpc, &markets, &commitment, &reader_shared).await;
                    let (keys, whirlpools) = match found {
                        Ok((universe, keys)) => {
                            let whirlpools = universe
                                .snapshot()
                                .iter()
                                .filter(|u| {
                                    sniperforge_engine::market::Pool::from_update(u)
                                        .is_some_and(|p| p.dex() == DexKind::Whirlpool)
                                })
                                .map(|u| u.pubkey)
                                .collect();
                            let _ = tx.send(Ok(universe));
                            (keys, whirlpools)
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let reader = Reader {
                        shared: reader_shared,
                        rpc,
                        stream,
                        tls,
                        keys,
                        whirlpools,
                        commitment,
                        stop,
                        clock,
                        ingress,
                    };
                    reader.run().await;
                });
            })
            .map_err(|e| BotError::State(format!("spawning the Solana feed reader: {e}")))?;
        let universe = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| BotError::Config(format!("--feed {feed}: the snapshot took over 60 s")))?
            .map_err(|e| BotError::Config(format!("--feed {feed}: {e}")))?;
        Ok((
            universe,
            Self {
                shared,
                ingress: ingress_stats,
                name,
            },
        ))
    }

    /// A handle for the reporting thread (health and counters).
    pub fn reporter(&self) -> Self {
        self.clone()
    }

    /// Health reasons: the stream down, and why.
    pub fn problems(&self) -> Vec<String> {
        if self.shared.connected.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let why = self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "connecting".into());
        vec![format!("{} down: {why}", self.name)]
    }

    /// Counters for the custom metrics.
    pub fn counters(&self) -> Vec<(&'static str, f64)> {
        let s = &self.shared;
        let coalesced = self.ingress.coalesced.load(Ordering::Relaxed);
        vec![
            (
                "feed_notifications",
                s.notifications.load(Ordering::Relaxed) as f64,
            ),
            ("feed_malformed", s.malformed.load(Ordering::Relaxed) as f64),
            (
                "feed_reconnects",
                s.reconnects.load(Ordering::Relaxed) as f64,
            ),
            (
                "feed_rate_limited",
                s.rate_limited.load(Ordering::Relaxed) as f64,
            ),
            ("feed_coalesced", coalesced as f64),
            ("feed_slot", s.slot.load(Ordering::Relaxed) as f64),
            (
                "feed_connected",
                f64::from(u8::from(s.connected.load(Ordering::Relaxed))),
            ),
        ]
    }

    /// The last malformed notification's problem.
    pub fn last_malformed(&self) -> Option<String> {
        self.shared
            .last_malformed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Fetches the pools, then what they read (vaults, tick arrays) until nothing new is needed,
/// and the token mints: the universe and every key to subscribe.
async fn discover(
    rpc: &mut Rpc,
    markets: &Markets,
    commitment: &str,
    shared: &FeedShared,
) -> Result<(Universe, Vec<Pubkey>), String> {
    let pools: Vec<Pubkey> = markets
        .pools
        .iter()
        .filter_map(|p| p.parse().ok())
        .collect();
    let found = rpc.accounts(&pools, commitment, shared).await?;
    let mut market = Market::new();
    for key in &pools {
        let u = found
            .iter()
            .find(|u| u.pubkey == *key)
            .ok_or_else(|| format!("pool {key}: no such account"))?;
        let pool = sniperforge_engine::market::Pool::from_update(u).ok_or_else(|| {
            format!(
                "pool {key}: not a Raydium AMM v4, Raydium CP-Swap or Orca Whirlpool pool account (owner {})",
                u.owner
            )
        })?;
        for mint in pool.mints() {
            if !markets.mints().contains(&mint) {
                return Err(format!(
                    "pool {key}: mint {mint} is not among the markets file's tokens"
                ));
            }
        }
        market.add_pool(pool);
    }
    let mut keys: Vec<Pubkey> = pools.clone();
    let mut snapshot = found;
    let mut applied = 0;
    let mut changed = Vec::new();
    for round in 0..4 {
        for u in &snapshot[applied..] {
            let _ = market.apply_update(u, &mut changed);
        }
        applied = snapshot.len();
        let wanted: Vec<Pubkey> = (0..market.pool_count())
            .filter_map(|i| market.pool(sniperforge_engine::market::PoolIndex(i as u32)))
            .flat_map(|p| p.accounts())
            .filter(|k| !keys.contains(k))
            .collect();
        if wanted.is_empty() {
            break;
        }
        if round == 3 {
            return Err("the pools' accounts did not settle after 4 rounds".into());
        }
        snapshot.extend(rpc.accounts(&wanted, commitment, shared).await?);
        keys.extend(wanted);
    }
    let mints = markets.mints();
    let mint_accounts = rpc.accounts(&mints, commitment, shared).await?;
    let tokens = markets
        .tokens_with_decimals(&mint_accounts)
        .map_err(|e| e.to_string())?;
    // The rounds' accounts are the universe's snapshot (the reader's first session snapshots
    // every key again and resynchronises before anything is decided); the mints ride along, so
    // a recording of it carries its tokens' decimals.
    snapshot.extend(mint_accounts);
    let snapshot = snapshot.into_iter().map(|u| shared.stamp(u, 0)).collect();
    Ok((Universe::new(tokens, snapshot), keys))
}

/// A websocket message: a subscription's confirmation or error, or a notification.
#[derive(Deserialize)]
struct WsMessage<'a> {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<RpcErrorBody>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<NotificationParams<'a>>,
}

#[derive(Deserialize)]
struct NotificationParams<'a> {
    subscription: u64,
    #[serde(borrow)]
    result: NotificationResult<'a>,
}

#[derive(Deserialize)]
struct NotificationResult<'a> {
    #[serde(default)]
    context: Option<Context>,
    #[serde(default, borrow)]
    value: Option<UiAccount<'a>>,
    #[serde(default)]
    slot: Option<u64>,
}

type Ws = tokio_tungstenite::WebSocketStream<Box<dyn crate::net::Io>>;

/// The stream a reader follows.
enum Stream {
    Websocket(Url),
    #[cfg(feature = "yellowstone")]
    Yellowstone(crate::yellowstone::Endpoint),
}

impl Stream {
    #[cfg(feature = "yellowstone")]
    fn grpc(grpc: &GrpcOptions, ca: Option<&Path>) -> Result<Self, BotError> {
        crate::yellowstone::Endpoint::new(grpc, ca).map(Self::Yellowstone)
    }

    #[cfg(not(feature = "yellowstone"))]
    fn grpc(_: &GrpcOptions, _: Option<&Path>) -> Result<Self, BotError> {
        Err(BotError::Unsupported(
            "--feed yellowstone: this build has no Yellowstone gRPC client (build with `--features yellowstone`)".into(),
        ))
    }
}

pub(crate) struct Reader {
    pub(crate) shared: Arc<FeedShared>,
    pub(crate) rpc: Rpc,
    stream: Stream,
    tls: Arc<rustls::ClientConfig>,
    pub(crate) keys: Vec<Pubkey>,
    /// The Whirlpools among the pools (a Geyser stream also follows tick arrays that name
    /// them, by owner and content, so arrays created later arrive too).
    #[cfg_attr(not(feature = "yellowstone"), allow(dead_code))]
    pub(crate) whirlpools: Vec<Pubkey>,
    pub(crate) commitment: String,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) clock: MonotonicClock,
    pub(crate) ingress: Ingress,
}

/// A session's subscriptions: subscription id → account index (`None`: the slot stream).
#[derive(Default)]
struct Subscriptions {
    by_id: HashMap<u64, Option<usize>>,
    confirmed: usize,
}

impl Reader {
    async fn run(mut self) {
        let mut backoff = Duration::from_millis(100);
        while !self.stop.load(Ordering::Relaxed) && !self.ingress.is_abandoned() {
            let started = Instant::now();
            let why = match self.session().await {
                Ok(()) => return,
                Err(why) => why,
            };
            self.shared.connected.store(false, Ordering::Relaxed);
            tracing::warn!(%why, "solana feed down; reconnecting");
            *self
                .shared
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
            self.ingress.push(FeedEvent::Down(why));
            self.shared.reconnects.fetch_add(1, Ordering::Relaxed);
            if started.elapsed() > Duration::from_secs(30) {
                backoff = Duration::from_millis(100);
            }
            let until = Instant::now() + backoff;
            while Instant::now() < until && !self.stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn connect(&self, at: &Url) -> Result<Ws, String> {
        let io = at
            .connect(Some(&self.tls), Duration::from_secs(5))
            .await
            .map_err(|e| format!("websocket {e}"))?;
        let scheme = if at.tls { "wss" } else { "ws" };
        let url = format!("{scheme}://{}{}", at.authority, at.path);
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio_tungstenite::client_async(url.as_str(), io),
        )
        .await
        .map_err(|_| format!("websocket {url}: handshake timed out"))?
        .map_err(|e| format!("websocket {url}: {e}"))?;
        Ok(ws)
    }

    /// One connection: subscribe, snapshot, stream. `Ok` only when stopped.
    async fn session(&mut self) -> Result<(), String> {
        match &self.stream {
            Stream::Websocket(at) => {
                let at = at.clone();
                self.websocket_session(&at).await
            }
            #[cfg(feature = "yellowstone")]
            Stream::Yellowstone(at) => {
                let at = at.clone();
                crate::yellowstone::session(self, &at).await
            }
        }
    }

    /// One websocket session.
    async fn websocket_session(&mut self, at: &Url) -> Result<(), String> {
        let mut ws = self.connect(at).await?;
        let mut subs = Subscriptions::default();
        let slot_request = json!({"jsonrpc": "2.0", "id": 0, "method": "slotSubscribe"});
        ws.send(Message::Text(slot_request.to_string().into()))
            .await
            .map_err(|e| format!("slotSubscribe: {e}"))?;
        for (i, key) in self.keys.iter().enumerate() {
            let request = json!({
                "jsonrpc": "2.0", "id": i + 1, "method": "accountSubscribe",
                "params": [key.to_string(), {"encoding": "base64", "commitment": self.commitment}],
            });
            ws.send(Message::Text(request.to_string().into()))
                .await
                .map_err(|e| format!("accountSubscribe {key}: {e}"))?;
        }
        // Every subscription confirmed before the snapshot, so no change falls between them;
        // what arrives meanwhile waits behind the snapshot.
        let mut held = Vec::new();
        while subs.confirmed < self.keys.len() + 1 {
            let msg = next_message(&mut ws, &self.stop, Some(&mut self.ingress)).await?;
            handle_message(
                &self.shared,
                &self.keys,
                self.clock,
                msg,
                &mut subs,
                To::Held(&mut held),
            )?;
        }
        let (shared, keys, stop, clock) = (&self.shared, &self.keys, &self.stop, self.clock);
        snapshot_behind(
            &mut self.rpc,
            keys,
            &self.commitment,
            shared,
            &mut self.ingress,
            clock,
            held,
            async |held| {
                let msg = next_message(&mut ws, stop, None).await?;
                if msg.is_none() {
                    // Stopping: the snapshot call ends soon; no spinning meanwhile.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                handle_message(shared, keys, clock, msg, &mut subs, To::Held(held))
            },
        )
        .await?;
        loop {
            let msg = next_message(&mut ws, &self.stop, Some(&mut self.ingress)).await?;
            handle_message(
                &self.shared,
                &self.keys,
                self.clock,
                msg,
                &mut subs,
                To::Ingress(&mut self.ingress),
            )?;
            if self.ingress.take_overflow() {
                return Err(overflowed());
            }
            if self.stop.load(Ordering::Relaxed) || self.ingress.is_abandoned() {
                let _ = ws.close(None).await;
                return Ok(());
            }
        }
    }
}

/// Takes the snapshot of every key while `pump` keeps reading the stream (its account updates
/// held, after those already in `held`), then hands the runner the snapshot (`Resync`) and what
/// was held behind it, and marks the feed up. The market's version check drops a held update
/// older than the snapshot (by slot, then arrival order).
#[allow(clippy::too_many_arguments)] // the session's parts, borrowed apart
pub(crate) async fn snapshot_behind(
    rpc: &mut Rpc,
    keys: &[Pubkey],
    commitment: &str,
    shared: &FeedShared,
    ingress: &mut Ingress,
    clock: MonotonicClock,
    mut held: Vec<AccountUpdate>,
    mut pump: impl AsyncFnMut(&mut Vec<AccountUpdate>) -> Result<(), String>,
) -> Result<(), String> {
    let snapshot = {
        let fetch = rpc.accounts(keys, commitment, shared);
        tokio::pin!(fetch);
        loop {
            tokio::select! {
                done = &mut fetch => break done?,
                pumped = pump(&mut held) => pumped?,
            }
        }
    };
    let now = clock.now_ns();
    let snapshot = snapshot.into_iter().map(|u| shared.stamp(u, now)).collect();
    ingress.push(FeedEvent::Resync(snapshot));
    for u in held {
        ingress.push(FeedEvent::Account(u));
    }
    shared.connected.store(true, Ordering::Relaxed);
    *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    Ok(())
}

/// Why a session ends when the runtime's backlog overflowed.
pub(crate) fn overflowed() -> String {
    format!(
        "the strategy thread fell over {} events behind: resynchronising",
        crate::runtime::ingress::MAX_BACKLOG
    )
}

/// The stream's next item (`None`: stopping), or why the stream is dead: it ended, or nothing
/// came for [`SILENCE`]. The stop flag is looked at every 100 ms.
pub(crate) async fn next_within_silence<S: futures_util::Stream + Unpin>(
    stream: &mut S,
    stop: &AtomicBool,
    mut ingress: Option<&mut Ingress>,
) -> Result<Option<S::Item>, String> {
    let deadline = Instant::now() + SILENCE;
    loop {
        // The strategy thread gone (its bot stopped or restarted): this reader stops too.
        if stop.load(Ordering::Relaxed) || ingress.as_ref().is_some_and(|i| i.is_abandoned()) {
            return Ok(None);
        }
        if Instant::now() >= deadline {
            return Err(format!("no message for {} s", SILENCE.as_secs()));
        }
        // What waits behind a full ring is handed over while the stream is quiet too (every
        // millisecond until it is all in).
        let waiting = ingress.as_mut().is_some_and(|i| !i.flush());
        let tick = Duration::from_millis(if waiting { 1 } else { 100 });
        match tokio::time::timeout(tick, stream.next()).await {
            Err(_) => continue,
            Ok(None) => return Err("the server closed the connection".into()),
            Ok(Some(item)) => return Ok(Some(item)),
        }
    }
}

/// The next websocket message (`None`: stopping), or why the stream is dead.
async fn next_message(
    ws: &mut Ws,
    stop: &AtomicBool,
    ingress: Option<&mut Ingress>,
) -> Result<Option<Message>, String> {
    match next_within_silence(ws, stop, ingress).await? {
        None => Ok(None),
        Some(Err(e)) => Err(format!("websocket: {e}")),
        Some(Ok(Message::Close(frame))) => Err(format!(
            "the server closed the stream{}",
            frame.map_or(String::new(), |f| format!(": {} {}", f.code, f.reason))
        )),
        Some(Ok(m)) => Ok(Some(m)),
    }
}

/// Applies one websocket message, stamped on arrival: a confirmation maps its subscription, a notification
/// becomes an event (or waits in `held` until the snapshot is in; slots are dropped then), a
/// malformed one is counted and skipped. A refused subscription ends the session.
fn handle_message(
    shared: &FeedShared,
    keys: &[Pubkey],
    clock: MonotonicClock,
    msg: Option<Message>,
    subs: &mut Subscriptions,
    mut to: To<'_>,
) -> Result<(), String> {
    // `None`: stopping.
    let Some(msg) = msg else { return Ok(()) };
    let received_at = clock.now_ns();
    let text = match msg {
        Message::Text(t) => t,
        Message::Binary(_) => {
            shared.malformed("a binary message (the pubsub speaks JSON text)".into());
            return Ok(());
        }
        _ => return Ok(()),
    };
    let parsed: WsMessage<'_> = match serde_json::from_str(text.as_str()) {
        Ok(m) => m,
        Err(e) => {
            shared.malformed(format!("unreadable message: {e}"));
            return Ok(());
        }
    };
    if let Some(id) = parsed.id {
        let target = match id {
            0 => None,
            i => Some((i - 1) as usize),
        };
        let what = target.map_or("slotSubscribe".to_string(), |i| {
            format!(
                "accountSubscribe {}",
                keys.get(i).map_or("?".into(), |k| k.to_string())
            )
        });
        if let Some(e) = parsed.error {
            return Err(format!("{what}: RPC error {}: {}", e.code, e.message));
        }
        let Some(sub) = parsed.result.as_ref().and_then(serde_json::Value::as_u64) else {
            return Err(format!("{what}: answer without a subscription id"));
        };
        if target.is_some_and(|i| i >= keys.len()) {
            shared.malformed(format!("an answer to request {id}, which was never sent"));
            return Ok(());
        }
        if subs.by_id.insert(sub, target).is_none() {
            subs.confirmed += 1;
        }
        return Ok(());
    }
    let (Some(method), Some(params)) = (parsed.method.as_deref(), parsed.params) else {
        shared.malformed("a message neither an answer nor a notification".into());
        return Ok(());
    };
    let Some(&target) = subs.by_id.get(&params.subscription) else {
        shared.malformed(format!(
            "{method} for subscription {}, which is not ours",
            params.subscription
        ));
        return Ok(());
    };
    match (method, target) {
        ("slotNotification", None) => {
            let Some(slot) = params.result.slot else {
                shared.malformed("slotNotification without a slot".into());
                return Ok(());
            };
            shared.slot.fetch_max(slot, Ordering::Relaxed);
            if let To::Ingress(ingress) = to {
                ingress.push(FeedEvent::Slot(slot));
            }
        }
        ("accountNotification", Some(i)) => {
            let (Some(context), Some(value)) = (params.result.context, params.result.value) else {
                shared.malformed("accountNotification without context.slot or value".into());
                return Ok(());
            };
            // Into a pooled buffer of the runtime's ingress (decoded size: 3/4 of the base64).
            let buffer = match &mut to {
                To::Ingress(ingress) => ingress.buffer_for(value.data.0.len() / 4 * 3),
                To::Held(_) => Vec::new(),
            };
            let update = match decode_account_into(keys[i], &value, context.slot, buffer) {
                Ok(u) => shared.stamp(u, received_at),
                Err(e) => {
                    shared.malformed(format!("accountNotification: {e}"));
                    return Ok(());
                }
            };
            shared.notifications.fetch_add(1, Ordering::Relaxed);
            match to {
                To::Held(held) => held.push(update),
                To::Ingress(ingress) => ingress.push(FeedEvent::Account(update)),
            }
        }
        (m, _) => shared.malformed(format!(
            "{m} on subscription {}, which is not a subscription of that kind",
            params.subscription
        )),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(key: u8, slot: u64) -> AccountUpdate {
        AccountUpdate {
            pubkey: Pubkey([key; 32]),
            owner: Pubkey([0; 32]),
            slot,
            write_version: slot,
            data: vec![key],
            received_at: 0,
        }
    }

    #[test]
    fn the_websocket_url_follows_the_rpc_url() {
        let opts = |rpc: &str| SolanaOptions {
            rpc_url: rpc.into(),
            ws_url: None,
            commitment: "confirmed".into(),
            markets: None,
            ca: None,
            jito: None,
            grpc: None,
        };
        let (_, ws) = opts("http://127.0.0.1:8899").endpoints().expect("urls");
        assert_eq!(
            (ws.tls, ws.port, ws.authority.as_str()),
            (false, 8900, "127.0.0.1:8900")
        );
        let (_, ws) = opts("https://rpc.example.com/key")
            .endpoints()
            .expect("urls");
        assert_eq!((ws.tls, ws.port, ws.path.as_str()), (true, 443, "/key"));
        let mut bad = opts("http://x");
        bad.commitment = "fast".into();
        assert!(
            bad.endpoints()
                .expect_err("commitment")
                .to_string()
                .contains("--commitment")
        );
    }

    #[test]
    fn mint_decimals_are_read_at_byte_44_of_token_program_accounts() {
        let mut mint = update(9, 1);
        mint.owner = programs::SPL_TOKEN;
        mint.data = vec![0; 82];
        mint.data[44] = 6;
        assert_eq!(mint_decimals(&mint), Some(6));
        mint.owner = programs::ORCA_WHIRLPOOL;
        assert_eq!(mint_decimals(&mint), None);
    }
}
