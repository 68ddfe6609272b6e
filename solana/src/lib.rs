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
//!
//! By job: `markets` (the markets file), `rpc` (the JSON-RPC client), `ws` (the pubsub reader and
//! what the Yellowstone reader shares with it); this module holds the options, the feed and
//! discovery.

#![warn(missing_docs)]

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

use sniperforge_engine::feed::{FeedEvent, Universe};
use sniperforge_engine::ingress::Ingress;
use sniperforge_engine::ingress::IngressStats;
use sniperforge_host::net::Url;

pub mod live;
mod markets;
mod rpc;
mod ws;
#[cfg(feature = "yellowstone")]
pub mod yellowstone;

pub use markets::*;
pub(crate) use rpc::*;
pub(crate) use ws::*;

/// Why the Solana edge could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SolanaError {
    /// The configuration or an option cannot work (names what and where).
    #[error("{0}")]
    Config(String),
    /// Not in this build (says which feature brings it).
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing the state directory failed.
    #[error("state directory: {0}")]
    State(String),
}

/// Keys a `getMultipleAccounts` call may carry.
pub const MAX_KEYS_PER_CALL: usize = 100;
/// Without any message for this long (slots come every 0.4 s) the stream counts as dead.
pub(crate) const SILENCE: Duration = Duration::from_secs(10);
const HTTP: &[(&str, bool)] = &[("http", false), ("https", true)];
const WS: &[(&str, bool)] = &[("ws", false), ("wss", true)];

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
    pub fn new(url: &str, x_token_file: Option<&Path>) -> Result<Self, SolanaError> {
        Url::parse(url, HTTP).map_err(|e| SolanaError::Config(format!("--grpc-url {e}")))?;
        Ok(Self {
            url: url.to_string(),
            x_token: x_token_file.map(Secret::from_token_file).transpose()?,
        })
    }
}

impl Secret {
    /// The token on the first line of `path` (`--grpc-x-token-file`): printable ASCII, as a
    /// gRPC metadata value must be.
    pub fn from_token_file(path: &Path) -> Result<Self, SolanaError> {
        let bad = |why: String| {
            SolanaError::Config(format!("--grpc-x-token-file {}: {why}", path.display()))
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
    fn endpoints(&self) -> Result<(Url, Url), SolanaError> {
        let bad = |e: String| SolanaError::Config(e);
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
    ) -> Result<(Universe, Self), SolanaError> {
        let feed = via.feed();
        let markets = options.markets.clone().ok_or_else(|| {
            SolanaError::Config(format!(
                "--feed {feed} needs --markets FILE (the pools to watch)"
            ))
        })?;
        let (rpc_url, ws_url) = options.endpoints()?;
        let tls = sniperforge_host::net::tls_client(options.ca.as_deref(), "--rpc-ca")
            .map_err(|e| SolanaError::Config(e.to_string()))?;
        let (stream, name) = match via {
            Via::Websocket => {
                let name = format!("solana feed {}{}", ws_url.authority, ws_url.path);
                (Stream::Websocket(ws_url), name)
            }
            Via::Yellowstone => {
                let grpc = options.grpc.as_ref().ok_or_else(|| {
                    SolanaError::Config("--feed yellowstone needs --grpc-url URL".into())
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
            .map_err(|e| SolanaError::State(format!("spawning the Solana feed reader: {e}")))?;
        let universe = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| {
                SolanaError::Config(format!("--feed {feed}: the snapshot took over 60 s"))
            })?
            .map_err(|e| SolanaError::Config(format!("--feed {feed}: {e}")))?;
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
