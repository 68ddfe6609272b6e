//! CrossChainArbitrage: price gaps between a Solana pool and an external venue's price stream.
//!
//! The venue stream is JSON over WebSocket. After connecting, a client may send
//! `{"subscribe": ["SOL/USDC", …]}`; the venue sends text frames
//! `{"type": "ticker", "pair": "SOL/USDC", "bid": 149.95, "ask": 150.05, "ts_ms": …, "seq": …}`
//! (prices in quote per base) and `{"type": "heartbeat", "ts_ms": …}`. `sniperforge venue-sim`
//! serves one from the market simulator's reference prices ([`serve_venue`]).
//!
//! The bot holds paper inventory on both sides (base and quote on Solana and on the venue). For
//! each pair it prices a round trip both ways — buy on the pool (exact quote) and sell at the
//! venue's bid, or buy at the venue's ask and sell on the pool — and trades when the gap, after
//! the venue fee, beats `min_gap_bps` plus the amortised bridge cost (every unit moved must
//! eventually be bridged back: `bridge.fee_bps` per trade). When a token's split between the
//! sides drifts past `rebalance_threshold_pct`, it plans a bridge transfer of half the
//! difference, charged `fee_bps`, arriving after `delay_seconds`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use sniperforge_engine::cycles::Hop;
use sniperforge_engine::market::{AccountUpdate, Market, PoolIndex};
use sniperforge_engine::quote::{Amm, Side};
use sniperforge_engine::sim::{Simulator, Token};

use crate::bot::{BotError, apply_update, pair_tokens, symbols};
use crate::dashboard::{mid_and_depth, venue};
use sniperforge_protocol::config::ValidatedConfig;

/// A venue's best bid and ask for a pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VenueQuote {
    /// Best bid (quote per base).
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Venue timestamp, unix ms.
    pub ts_ms: i64,
    /// When it arrived here.
    pub received: Instant,
}

#[derive(Debug, Deserialize)]
struct Ticker {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    pair: String,
    #[serde(default)]
    bid: f64,
    #[serde(default)]
    ask: f64,
    #[serde(default)]
    ts_ms: i64,
}

/// What the venue reader shares with the strategy: the latest quote per pair and counters. The
/// reader holds the lock only to store a quote; it never waits on the strategy.
#[derive(Debug, Default)]
pub struct VenueFeed {
    quotes: Mutex<HashMap<String, VenueQuote>>,
    /// Frames that were not a valid ticker or heartbeat.
    pub malformed: AtomicU64,
    /// Connections made.
    pub connects: AtomicU64,
    /// Whether a connection is up.
    pub connected: AtomicBool,
    last_error: Mutex<String>,
}

impl VenueFeed {
    /// Parses one frame; a ticker updates its pair. Malformed frames are counted.
    pub fn on_frame(&self, text: &str) {
        match serde_json::from_str::<Ticker>(text) {
            Ok(t) if t.kind == "ticker" => {
                let sane = t.bid.is_finite() && t.ask.is_finite() && t.bid > 0.0 && t.ask >= t.bid;
                if t.pair.is_empty() || !sane {
                    self.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                if let Ok(mut q) = self.quotes.lock() {
                    q.insert(
                        t.pair,
                        VenueQuote {
                            bid: t.bid,
                            ask: t.ask,
                            ts_ms: t.ts_ms,
                            received: Instant::now(),
                        },
                    );
                }
            }
            Ok(t) if t.kind == "heartbeat" => {}
            _ => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The latest quote of a pair.
    pub fn quote(&self, pair: &str) -> Option<VenueQuote> {
        self.quotes.lock().ok()?.get(pair).copied()
    }

    /// The last connection error, if any.
    pub fn last_error(&self) -> String {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }
}

/// Reads the venue at `url` on a thread of its own until `stop`: subscribes to `pairs`, stores
/// each ticker, reconnects with backoff (0.25 s doubling to 5 s) when the connection fails.
pub fn spawn_reader(
    url: String,
    pairs: Vec<String>,
    feed: Arc<VenueFeed>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("venue-reader".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use futures_util::{SinkExt, StreamExt};
                let mut backoff = Duration::from_millis(250);
                while !stop.load(Ordering::Relaxed) {
                    let conn = tokio::time::timeout(
                        Duration::from_secs(5),
                        tokio_tungstenite::connect_async(url.as_str()),
                    )
                    .await;
                    let mut ws = match conn {
                        Ok(Ok((ws, _))) => ws,
                        Ok(Err(e)) => {
                            if let Ok(mut l) = feed.last_error.lock() {
                                *l = format!("connecting to {url}: {e}");
                            }
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                            continue;
                        }
                        Err(_) => {
                            if let Ok(mut l) = feed.last_error.lock() {
                                *l = format!("connecting to {url}: timed out");
                            }
                            continue;
                        }
                    };
                    backoff = Duration::from_millis(250);
                    feed.connects.fetch_add(1, Ordering::Relaxed);
                    feed.connected.store(true, Ordering::Relaxed);
                    let sub = json!({"subscribe": pairs}).to_string();
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::Text(sub.into()))
                        .await;
                    loop {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let next =
                            tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
                        match next {
                            Err(_) => continue,
                            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                                feed.on_frame(t.as_str());
                            }
                            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))) => {
                                feed.malformed.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Some(Ok(_))) => {}
                            Ok(Some(Err(e))) => {
                                if let Ok(mut l) = feed.last_error.lock() {
                                    *l = format!("venue stream {url}: {e}");
                                }
                                break;
                            }
                            Ok(None) => {
                                if let Ok(mut l) = feed.last_error.lock() {
                                    *l = format!("venue stream {url}: closed by the venue");
                                }
                                break;
                            }
                        }
                    }
                    feed.connected.store(false, Ordering::Relaxed);
                }
            });
        })
}

/// A quote older than this is not traded on.
pub const VENUE_STALE: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct PairState {
    name: String,
    base: Token,
    quote: Token,
    /// Pools trading it, with whether the pool's token A is the base.
    pools: Vec<(PoolIndex, bool)>,
    last_trade: Option<i64>,
    last_gap: Option<(f64, f64)>,
}

/// A bridge transfer in flight or done.
#[derive(Debug, Clone)]
struct Transfer {
    token: String,
    from: &'static str,
    to: &'static str,
    amount: f64,
    fee: f64,
    started_ms: i64,
    arrives_ms: i64,
    done: bool,
}

/// Settings that apply without a restart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrossSettings {
    min_gap_bps: f64,
    max_trade_usd: f64,
    venue_fee_bps: f64,
    bridge_fee_bps: f64,
    delay_ms: i64,
    rebalance_pct: f64,
}

impl CrossSettings {
    /// From a cross_chain_arbitrage configuration's sections.
    pub fn of(
        trading: &sniperforge_protocol::params::CrossChainTrading,
        bridge: &sniperforge_protocol::params::Bridge,
    ) -> Self {
        Self {
            min_gap_bps: trading.min_gap_bps as f64,
            max_trade_usd: trading.max_trade_usd,
            venue_fee_bps: trading.venue_fee_bps as f64,
            bridge_fee_bps: bridge.fee_bps as f64,
            delay_ms: (bridge.delay_seconds as f64 * 1000.0) as i64,
            rebalance_pct: bridge.rebalance_threshold_pct,
        }
    }
}

/// The cross-chain book: pools, inventories, trades and transfers.
#[derive(Debug)]
pub struct CrossChain {
    market: Market,
    pairs: Vec<PairState>,
    settings: CrossSettings,
    /// Token → quantity per side.
    solana: BTreeMap<String, f64>,
    venue_side: BTreeMap<String, f64>,
    transfers: VecDeque<Transfer>,
    trades: VecDeque<Value>,
    /// Trades made, realised profit (USD), bridge fees paid (USD).
    pub trade_count: u64,
    /// Realised profit in USD, bridge fees deducted.
    pub realised_usd: f64,
    inventory_usd: f64,
    funded: bool,
    changed: Vec<PoolIndex>,
}

impl CrossChain {
    /// The book over the simulator's pools of `cfg`'s pairs.
    pub fn new(sim: &crate::feed::Universe, cfg: &ValidatedConfig) -> Result<Self, BotError> {
        let (trading, bridge) = cfg.params.cross_chain().ok_or_else(|| {
            BotError::Config(format!(
                "{} is not cross_chain_arbitrage",
                cfg.config.bot_type
            ))
        })?;
        let mut pairs = Vec::new();
        for name in trading.pairs.iter().cloned() {
            let (base, quote) = pair_tokens(sim, &name, "trading.pairs")?;
            pairs.push(PairState {
                name,
                base,
                quote,
                pools: Vec::new(),
                last_trade: None,
                last_gap: None,
            });
        }
        let market = sim.market_where(|_, a, b| {
            pairs.iter().any(|p| {
                (p.base.symbol == a.symbol && p.quote.symbol == b.symbol)
                    || (p.base.symbol == b.symbol && p.quote.symbol == a.symbol)
            })
        });
        for i in 0..market.pool_count() {
            let index = PoolIndex(i as u32);
            let Some(pool) = market.pool(index) else {
                continue;
            };
            let [a, _] = pool.mints();
            for p in &mut pairs {
                let mints = pool.mints();
                if mints.contains(&p.base.mint) && mints.contains(&p.quote.mint) {
                    p.pools.push((index, a == p.base.mint));
                }
            }
        }
        if let Some(p) = pairs.iter().find(|p| p.pools.is_empty()) {
            return Err(BotError::Config(format!(
                "trading.pairs: no Solana pool trades {}",
                p.name
            )));
        }
        Ok(Self {
            market,
            pairs,
            settings: CrossSettings::of(trading, bridge),
            solana: BTreeMap::new(),
            venue_side: BTreeMap::new(),
            transfers: VecDeque::new(),
            trades: VecDeque::new(),
            trade_count: 0,
            realised_usd: 0.0,
            inventory_usd: trading.inventory_usd,
            funded: false,
            changed: Vec::new(),
        })
    }

    /// Applies hot settings.
    pub fn set(&mut self, settings: CrossSettings) {
        self.settings = settings;
    }

    /// Applies one account update (stale ones are ignored; a malformed one is an error).
    pub fn apply(&mut self, update: &AccountUpdate) -> Result<(), BotError> {
        apply_update(&mut self.market, &mut self.changed, update).map(|_| ())
    }

    /// The deepest pool of a pair and its mid (quote per base).
    fn pool_mid(&self, p: &PairState) -> Option<(PoolIndex, bool, f64)> {
        p.pools
            .iter()
            .filter_map(|&(i, base_is_a)| {
                let pool = self.market.pool(i)?;
                let (mid, depth) =
                    mid_and_depth(pool, base_is_a, &p.base, &p.quote, self.market.epoch())?;
                Some((i, base_is_a, mid, depth))
            })
            .max_by(|a, b| a.3.total_cmp(&b.3))
            .map(|(i, a, mid, _)| (i, a, mid))
    }

    /// Splits the inventory evenly at the first prices: on each side a quarter in base, a
    /// quarter in quote (per pair, the inventory divided among the pairs).
    fn fund(&mut self) {
        let share = self.inventory_usd / self.pairs.len().max(1) as f64 / 4.0;
        for p in &self.pairs {
            let Some((_, _, mid)) = self.pool_mid(p) else {
                return;
            };
            let base_usd = mid * p.quote.usd;
            for side in [&mut self.solana, &mut self.venue_side] {
                *side.entry(p.base.symbol.into()).or_default() += share / base_usd;
                *side.entry(p.quote.symbol.into()).or_default() += share / p.quote.usd;
            }
        }
        self.funded = true;
    }

    /// Evaluates every pair against the venue's quotes at `now_ms` and books the trades whose
    /// gap clears the bar; completes due transfers and plans new ones.
    pub fn evaluate(&mut self, quotes: &dyn Fn(&str) -> Option<VenueQuote>, now_ms: i64) {
        if !self.funded {
            self.fund();
            if !self.funded {
                return;
            }
        }
        self.complete_transfers(now_ms);
        let s = self.settings;
        for k in 0..self.pairs.len() {
            let p = &self.pairs[k];
            let Some(q) = quotes(&p.name).filter(|q| q.received.elapsed() <= VENUE_STALE) else {
                continue;
            };
            let Some((_, _, mid)) = self.pool_mid(p) else {
                continue;
            };
            let (bu, qu) = (
                10f64.powi(i32::from(p.base.decimals)),
                10f64.powi(i32::from(p.quote.decimals)),
            );
            let size_quote = (s.max_trade_usd / p.quote.usd)
                .min(self.solana.get(p.quote.symbol).copied().unwrap_or(0.0))
                .min(self.venue_side.get(p.base.symbol).copied().unwrap_or(0.0) * q.bid);
            let size_base = (s.max_trade_usd / (mid * p.quote.usd))
                .min(self.solana.get(p.base.symbol).copied().unwrap_or(0.0))
                .min(self.venue_side.get(p.quote.symbol).copied().unwrap_or(0.0) / q.ask);
            let fee = 1.0 - s.venue_fee_bps / 10_000.0;
            let best = |a: Option<(f64, f64, f64)>, b: Option<(f64, f64, f64)>| match (a, b) {
                (Some(x), Some(y)) => Some(if y.2 > x.2 { y } else { x }),
                (x, y) => x.or(y),
            };
            let (mut buy_sol, mut buy_venue) = (None, None);
            // Every pool of the pair, both ways; the best exact outcome decides.
            for &(pool, base_is_a) in &p.pools {
                let quote_to_base = if base_is_a { Side::BToA } else { Side::AToB };
                // Buy the base on Solana, sell it at the venue's bid.
                let sol = (size_quote * qu >= 1.0)
                    .then(|| {
                        let hop = [Hop {
                            pool,
                            side: quote_to_base,
                        }];
                        let out = self.market.route_output(
                            &hop,
                            (size_quote * qu) as u64,
                            now_ms / 1000,
                        )?;
                        let base = out as f64 / bu;
                        let proceeds = base * q.bid * fee;
                        Some((
                            base,
                            proceeds,
                            (proceeds - size_quote) / size_quote * 10_000.0,
                        ))
                    })
                    .flatten();
                // Buy the base at the venue's ask, sell it on Solana.
                let ven = (size_base * bu >= 1.0)
                    .then(|| {
                        let hop = [Hop {
                            pool,
                            side: quote_to_base.reverse(),
                        }];
                        let out = self.market.route_output(
                            &hop,
                            (size_base * bu) as u64,
                            now_ms / 1000,
                        )?;
                        let proceeds = out as f64 / qu;
                        let cost = size_base * q.ask / fee;
                        Some((cost, proceeds, (proceeds - cost) / cost * 10_000.0))
                    })
                    .flatten();
                buy_sol = best(buy_sol, sol);
                buy_venue = best(buy_venue, ven);
            }
            let p = &mut self.pairs[k];
            p.last_gap = Some((
                buy_sol.map_or(f64::NAN, |x| x.2),
                buy_venue.map_or(f64::NAN, |x| x.2),
            ));
            // One trade per pair per second: paper fills do not move the pool.
            if p.last_trade.is_some_and(|t| now_ms - t < 1_000) {
                continue;
            }
            let bar = s.min_gap_bps + s.bridge_fee_bps;
            let (base_sym, quote_sym, quote_usd) = (p.base.symbol, p.quote.symbol, p.quote.usd);
            let name = p.name.clone();
            if let Some((base, proceeds, gap)) = buy_sol.filter(|x| x.2 >= bar) {
                *self.solana.entry(quote_sym.into()).or_default() -= size_quote;
                *self.solana.entry(base_sym.into()).or_default() += base;
                *self.venue_side.entry(base_sym.into()).or_default() -= base;
                *self.venue_side.entry(quote_sym.into()).or_default() += proceeds;
                self.book(
                    k,
                    now_ms,
                    &name,
                    "buy on Solana, sell on the venue",
                    gap,
                    (proceeds - size_quote) * quote_usd,
                );
            } else if let Some((cost, proceeds, gap)) = buy_venue.filter(|x| x.2 >= bar) {
                *self.venue_side.entry(quote_sym.into()).or_default() -= cost;
                *self.venue_side.entry(base_sym.into()).or_default() += size_base;
                *self.solana.entry(base_sym.into()).or_default() -= size_base;
                *self.solana.entry(quote_sym.into()).or_default() += proceeds;
                self.book(
                    k,
                    now_ms,
                    &name,
                    "buy on the venue, sell on Solana",
                    gap,
                    (proceeds - cost) * quote_usd,
                );
            }
        }
        self.plan_transfers(now_ms);
    }

    fn book(&mut self, k: usize, now_ms: i64, pair: &str, way: &str, gap_bps: f64, pnl_usd: f64) {
        self.pairs[k].last_trade = Some(now_ms);
        self.trade_count += 1;
        self.realised_usd += pnl_usd;
        self.trades.push_front(
            json!({"at": now_ms, "pair": pair, "way": way, "gap_bps": gap_bps, "pnl_usd": pnl_usd}),
        );
        self.trades.truncate(20);
    }

    fn usd(&self, token: &str) -> f64 {
        // Quote tokens at their reference price, bases at their pool mid.
        for p in &self.pairs {
            if p.quote.symbol == token {
                return p.quote.usd;
            }
            if p.base.symbol == token {
                return self
                    .pool_mid(p)
                    .map_or(p.base.usd, |(_, _, m)| m * p.quote.usd);
            }
        }
        0.0
    }

    /// Each token's split between the sides: |Solana − venue| / total, percent.
    pub fn drift_pct(&self) -> BTreeMap<String, f64> {
        self.solana
            .iter()
            .map(|(t, s)| {
                let v = self.venue_side.get(t).copied().unwrap_or(0.0);
                let total = s + v;
                let d = if total > 0.0 {
                    (s - v).abs() / total * 100.0
                } else {
                    0.0
                };
                (t.clone(), d)
            })
            .collect()
    }

    fn plan_transfers(&mut self, now_ms: i64) {
        let s = self.settings;
        for (token, drift) in self.drift_pct() {
            let in_flight = self.transfers.iter().any(|t| !t.done && t.token == token);
            if drift <= s.rebalance_pct || in_flight {
                continue;
            }
            let sol = self.solana.get(&token).copied().unwrap_or(0.0);
            let ven = self.venue_side.get(&token).copied().unwrap_or(0.0);
            let amount = (sol - ven).abs() / 2.0;
            let (from, to) = if sol > ven {
                ("solana", "venue")
            } else {
                ("venue", "solana")
            };
            let side = if from == "solana" {
                &mut self.solana
            } else {
                &mut self.venue_side
            };
            *side.entry(token.clone()).or_default() -= amount;
            let fee = amount * s.bridge_fee_bps / 10_000.0;
            self.realised_usd -= fee * self.usd(&token);
            self.transfers.push_front(Transfer {
                token,
                from,
                to,
                amount,
                fee,
                started_ms: now_ms,
                arrives_ms: now_ms + s.delay_ms,
                done: false,
            });
            self.transfers.truncate(50);
        }
    }

    fn complete_transfers(&mut self, now_ms: i64) {
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| !t.done && t.arrives_ms <= now_ms)
        {
            let side = if t.to == "solana" {
                &mut self.solana
            } else {
                &mut self.venue_side
            };
            *side.entry(t.token.clone()).or_default() += t.amount - t.fee;
            t.done = true;
        }
    }

    /// Transfers still in flight.
    pub fn pending_transfers(&self) -> usize {
        self.transfers.iter().filter(|t| !t.done).count()
    }

    /// The book: `{pairs, inventory, drift_pct, transfers, trades, realised_usd}`.
    pub fn publish(&self, quotes: &dyn Fn(&str) -> Option<VenueQuote>) -> Value {
        let pairs: Vec<Value> = self
            .pairs
            .iter()
            .map(|p| {
                let q = quotes(&p.name);
                let pool = self.pool_mid(p);
                json!({
                    "pair": p.name,
                    "venue": q.map(|q| json!({"bid": q.bid, "ask": q.ask, "ts_ms": q.ts_ms,
                        "age_ms": q.received.elapsed().as_millis() as u64})),
                    "solana": pool.map(|(i, _, mid)| json!({"mid": mid,
                        "pool": self.market.pool(i).map(|x| venue(x.dex()))})),
                    "gap_bps": p.last_gap.map(|(a, b)| json!({
                        "buy_solana_sell_venue": a.is_finite().then_some(a),
                        "buy_venue_sell_solana": b.is_finite().then_some(b)})),
                })
            })
            .collect();
        let in_transit: BTreeMap<String, f64> =
            self.transfers
                .iter()
                .filter(|t| !t.done)
                .fold(BTreeMap::new(), |mut m, t| {
                    *m.entry(t.token.clone()).or_default() += t.amount - t.fee;
                    m
                });
        let transfers: Vec<Value> = self
            .transfers
            .iter()
            .map(|t| {
                json!({"token": t.token, "from": t.from, "to": t.to, "amount": t.amount,
                "fee": t.fee, "started_ms": t.started_ms, "arrives_ms": t.arrives_ms,
                "state": if t.done { "arrived" } else { "in flight" }})
            })
            .collect();
        json!({
            "pairs": pairs,
            "inventory": {"solana": self.solana, "venue": self.venue_side, "in_transit": in_transit},
            "drift_pct": self.drift_pct(),
            "transfers": transfers,
            "trades": self.trades,
            "trade_count": self.trade_count,
            "realised_usd": self.realised_usd,
        })
    }
}

/// Serves a venue price stream (the format above) on `listener`: a market simulator seeded with
/// `seed` runs at about 20,000 updates a second, and every `period` each subscribed pair's
/// reference price, moved by `skew_bps`, goes out as a ticker with `half_spread_bps` each side.
pub async fn serve_venue(
    listener: tokio::net::TcpListener,
    seed: u64,
    half_spread_bps: f64,
    skew_bps: f64,
    period: Duration,
) -> std::io::Result<()> {
    use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
    let prices: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
    let walker = Arc::clone(&prices);
    std::thread::Builder::new()
        .name("venue-sim".into())
        .spawn(move || {
            let mut sim = Simulator::new(sniperforge_engine::sim::SimConfig {
                seed,
                noise_scale: 10.0,
                ..Default::default()
            });
            loop {
                for _ in 0..200 {
                    sim.next_update();
                }
                if let Ok(mut p) = walker.lock() {
                    for t in sim.tokens() {
                        p.insert(t.symbol.to_string(), t.usd);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })?;
    let handler = move |ws: WebSocketUpgrade| {
        let prices = Arc::clone(&prices);
        async move {
            ws.on_upgrade(move |mut socket: WebSocket| async move {
                let mut pairs: Vec<String> = Vec::new();
                let mut seq = 0u64;
                let mut tick = tokio::time::interval(period);
                loop {
                    tokio::select! {
                        msg = socket.recv() => match msg {
                            Some(Ok(Message::Text(t))) => {
                                if let Ok(v) = serde_json::from_str::<Value>(t.as_str()) {
                                    pairs = symbols(&v["subscribe"]);
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => return,
                        },
                        _ = tick.tick() => {
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as i64);
                            let snapshot = prices.lock().map(|p| p.clone()).unwrap_or_default();
                            let mut frames = vec![json!({"type": "heartbeat", "ts_ms": now})];
                            for pair in &pairs {
                                let Some((b, q)) = pair.split_once('/') else { continue };
                                let (Some(b), Some(q)) = (snapshot.get(b), snapshot.get(q)) else { continue };
                                let mid = b / q * (1.0 + skew_bps / 10_000.0);
                                seq += 1;
                                frames.push(json!({"type": "ticker", "pair": pair,
                                    "bid": mid * (1.0 - half_spread_bps / 10_000.0),
                                    "ask": mid * (1.0 + half_spread_bps / 10_000.0),
                                    "ts_ms": now, "seq": seq}));
                            }
                            for f in frames {
                                if socket.send(Message::Text(f.to_string().into())).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
            })
        }
    };
    let app = axum::Router::new().route("/ticker", axum::routing::get(handler));
    axum::serve(listener, app).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use sniperforge_engine::sim::SimConfig;

    fn book(edit: impl FnOnce(&mut Value)) -> (CrossChain, Simulator) {
        let mut c = crate::template(crate::BotType::CrossChainArbitrage);
        edit(&mut c["parameters"]);
        let cfg = sniperforge_protocol::config::validate(&c).unwrap();
        let mut sim = Simulator::new(SimConfig::default());
        (
            CrossChain::new(&crate::feed::Universe::from_sim(&mut sim), &cfg).unwrap(),
            sim,
        )
    }

    fn quote(mid: f64) -> VenueQuote {
        VenueQuote {
            bid: mid * 0.9999,
            ask: mid * 1.0001,
            ts_ms: 0,
            received: Instant::now(),
        }
    }

    #[test]
    fn trades_only_past_fees_and_bridge_cost_then_rebalances() {
        let (mut cc, _sim) = book(|p| {
            p["trading"]["min_gap_bps"] = json!(50);
            p["trading"]["max_trade_usd"] = json!(5_000.0);
            p["bridge"]["delay_seconds"] = json!(60);
            p["bridge"]["rebalance_threshold_pct"] = json!(10.0);
        });
        let mid = cc.pool_mid(&cc.pairs[0]).unwrap().2;
        // The venue at the pool's price: no gap beats the bar.
        cc.evaluate(&|_| Some(quote(mid)), 1_000);
        assert_eq!(cc.trade_count, 0);
        let gap = cc.publish(&|_| Some(quote(mid)))["pairs"][0]["gap_bps"].clone();
        // At the pool's own price the round trip costs the cheapest pool's fee, the venue's
        // fee (10 bps) and its half spread: a few tens of bps, not a percent.
        let cost = gap["buy_solana_sell_venue"].as_f64().unwrap();
        assert!(cost < 0.0 && cost > -60.0, "{gap}");
        // The venue 2% above: buy SOL on Solana, sell on the venue.
        let rich = |_: &str| Some(quote(mid * 1.02));
        cc.evaluate(&rich, 2_000);
        assert_eq!(cc.trade_count, 1);
        assert!(cc.realised_usd > 0.0);
        // Within the second: no second trade on an unmoved pool.
        cc.evaluate(&rich, 2_500);
        assert_eq!(cc.trade_count, 1);
        // Trading one way moves SOL to the Solana side until the split drifts past 10%: a
        // transfer of half the difference leaves, charged the bridge fee, and lands after 60 s.
        for t in 0..20 {
            cc.evaluate(&rich, 3_000 + t * 1_000);
        }
        assert!(cc.trade_count > 1);
        assert!(cc.pending_transfers() >= 1);
        let v = cc.publish(&rich);
        let t = &v["transfers"][0];
        assert_eq!(t["state"], "in flight", "{v}");
        let arrives = t["arrives_ms"].as_i64().unwrap();
        cc.evaluate(&|_| None, arrives);
        assert_eq!(
            cc.publish(&|_| None)["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["state"] == "in flight")
                .count(),
            cc.pending_transfers()
        );
        assert!(
            cc.publish(&|_| None)["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["state"] == "arrived")
        );
    }

    #[test]
    fn stale_or_missing_venue_quotes_are_not_traded() {
        let (mut cc, _sim) = book(|p| p["trading"]["min_gap_bps"] = json!(1));
        let mid = cc.pool_mid(&cc.pairs[0]).unwrap().2;
        let old = VenueQuote {
            received: Instant::now() - Duration::from_secs(10),
            ..quote(mid * 1.5)
        };
        cc.evaluate(&|_| Some(old), 1_000);
        cc.evaluate(&|_| None, 2_000);
        assert_eq!(cc.trade_count, 0);
    }

    #[test]
    fn malformed_venue_frames_are_counted_and_skipped() {
        let feed = VenueFeed::default();
        feed.on_frame(
            r#"{"type": "ticker", "pair": "SOL/USDC", "bid": 150.0, "ask": 150.1, "ts_ms": 1}"#,
        );
        feed.on_frame(r#"{"type": "heartbeat", "ts_ms": 2}"#);
        feed.on_frame("not json");
        feed.on_frame(r#"{"type": "ticker", "pair": "SOL/USDC", "bid": 151.0, "ask": 150.0}"#);
        feed.on_frame(r#"{"type": "ticker", "pair": "SOL/USDC", "bid": -1, "ask": 1}"#);
        assert_eq!(feed.malformed.load(Ordering::Relaxed), 3);
        assert_eq!(feed.quote("SOL/USDC").unwrap().bid, 150.0);
    }
}
