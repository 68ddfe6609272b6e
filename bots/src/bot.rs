//! The `BotInterface`, the factory, and the bots that run on a market feed: the three arbitrage
//! types (the engine's strategy with paper execution, risk limits and a persisted daily PnL) and
//! the real-time dashboard (a market view: spreads, opportunities, alerts).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::quote::DexKind;
use sniperforge_engine::sim::{SimConfig, Simulator, Token};

use crate::feed::{FeedEvent, FeedSpec, Source, Universe};
use sniperforge_engine::strategy::{
    BaseMint, Decision, MonotonicClock, RiskLimits, Strategy, StrategyConfig,
};

use sniperforge_protocol::config::{ValidatedConfig, changes};
use sniperforge_protocol::wire::{BotMetrics, BotStatus, BotType, TransitionError};

mod books;
mod handover;
mod health;
mod worker;
use books::{Books, load_books, save_books};
use handover::{LeaseCell, STOP_DRAIN};
use worker::{BotSink, BotWorker, Engine, LossGuard, loss_limit_reason};

/// Why a bot operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The lifecycle forbids it.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The configuration cannot run (names what and where).
    #[error("{0}")]
    Config(String),
    /// Not available in this build yet (says which issue brings it).
    #[error("{0}")]
    Unsupported(String),
    /// Reading or writing the state directory failed.
    #[error("state directory: {0}")]
    State(String),
    /// A handover cannot happen now (says why; the instance carries on as it was).
    #[error("{0}")]
    Handover(String),
}

impl From<sniperforge_solana::SolanaError> for BotError {
    fn from(e: sniperforge_solana::SolanaError) -> Self {
        use sniperforge_solana::SolanaError as S;
        match e {
            S::Config(m) => Self::Config(m),
            S::Unsupported(m) => Self::Unsupported(m),
            S::State(m) => Self::State(m),
        }
    }
}

pub use sniperforge_protocol::control::{ConfigApplied, HandedOver, Health, Lease, Role};

/// How long a running bot's strategy loop may go without housekeeping before `/live` fails (the
/// systemd watchdog's interval).
pub const LIVE_SILENCE: Duration = Duration::from_secs(5);

/// The interface every bot type implements; the bot process and the agent drive bots through it.
#[async_trait]
pub trait BotInterface: Send + Sync {
    /// Id from the configuration.
    fn bot_id(&self) -> String;
    /// Type.
    fn bot_type(&self) -> BotType;
    /// Lifecycle state.
    async fn status(&self) -> BotStatus;
    /// Starts trading (simulation by default).
    async fn start(&self) -> Result<(), BotError>;
    /// Stops: no new trades, state flushed, threads joined.
    async fn stop(&self) -> Result<(), BotError>;
    /// Stops taking new trades, stays alive.
    async fn pause(&self) -> Result<(), BotError>;
    /// Takes trades again after a pause.
    async fn resume(&self) -> Result<(), BotError>;
    /// Applies the hot fields of `config` at once and reports the cold ones.
    async fn update_config(&self, config: ValidatedConfig) -> Result<ConfigApplied, BotError>;
    /// Counters, PnL and latency.
    async fn metrics(&self) -> BotMetrics;
    /// Threads alive and feed fresh.
    async fn health_check(&self) -> Health;
    /// Whether the process is alive in the sense a supervisor restarts it for: its strategy
    /// thread runs and its loop housekept within [`LIVE_SILENCE`] (a stale feed or a dead venue
    /// is not a reason: a new process would see the same); why not.
    async fn live(&self) -> Result<(), String>;
    /// Per-stage latency since the last call, as HdrHistogram V2 bytes.
    async fn interval_histograms(&self) -> Vec<(String, Vec<u8>)>;
    /// The configuration last accepted (its cold fields may wait for a restart).
    async fn current_config(&self) -> sniperforge_protocol::wire::BotConfig;
    /// What the bot publishes for others (the dashboard's market view); `null` when nothing.
    async fn outputs(&self) -> Value {
        Value::Null
    }
    /// The trading lease as this instance sees it.
    async fn lease(&self) -> Lease;
    /// Hands the lease over: takes no new decision, settles its orders in flight (within
    /// `deadline`), persists its state, lets the lease go and stays up, deciding nothing. An
    /// instance waiting for the lease takes it then. `Err` when it cannot (its orders did not
    /// settle in time: it trades on).
    async fn hand_over(&self, deadline: Duration) -> Result<HandedOver, BotError>;
    /// After a handover that did not complete (the new instance never took the lease): waits
    /// for the lease again and trades when it has it.
    async fn take_over(&self) -> Result<Lease, BotError>;
}

/// Where a bot gets its market from and keeps its state.
#[derive(Debug, Clone)]
pub struct BotOptions {
    /// Directory for the persisted daily PnL.
    pub state_dir: PathBuf,
    /// Feed: `sim` (the embedded simulator), `replay:FILE` or `solana`.
    pub feed: String,
    /// Replay as fast as the bot takes it rather than at the recorded pace.
    pub replay_max_speed: bool,
    /// The Solana endpoints and markets (`--feed solana`; a replay's token table).
    pub solana: Option<sniperforge_solana::SolanaOptions>,
    /// Simulator seed.
    pub seed: u64,
    /// Simulator updates per second, scheduled open loop (`None`: 20,000; the ML analytics,
    /// whose market clock runs faster, 100,000).
    pub sim_rate: Option<u64>,
}

/// Builds bots by type.
#[derive(Debug)]
pub struct BotFactory;

impl BotFactory {
    /// A bot of the configuration's type.
    pub fn create_bot(
        config: ValidatedConfig,
        options: BotOptions,
    ) -> Result<Arc<dyn BotInterface>, BotError> {
        match config.config.bot_type {
            BotType::EnhancedArbitrage
            | BotType::TriangularArbitrage
            | BotType::FlashLoanArbitrage
            | BotType::RealTimeDashboard
            | BotType::PortfolioManager
            | BotType::CrossChainArbitrage
            | BotType::MlAnalytics => Ok(Arc::new(MarketBot::new(config, options)?)),
        }
    }
}

use sniperforge_protocol::control::STAGES;

fn histogram() -> Histogram<u64> {
    sniperforge_protocol::telemetry::latency_histogram()
}

fn today() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 / 86_400)
}

#[derive(Debug)]
struct Shared {
    status: BotStatus,
    config: ValidatedConfig,
    started: Instant,
    trades: u64,
    filled: u64,
    failed: u64,
    profit_usd: f64,
    day: i64,
    daily_pnl_usd: f64,
    /// The highest sequence number given to a fill (kept with the books: a journal cut short
    /// never makes a number come round again).
    last_seq: u64,
    last_feed: Option<Instant>,
    runner_alive: bool,
    pending: Option<ValidatedConfig>,
    interval: Vec<Histogram<u64>>,
    opportunities: u64,
    /// What the bot publishes (the dashboard's market view).
    outputs: Value,
    /// Type-specific numbers the runner sets (the dashboard's spreads and alerts).
    custom: std::collections::BTreeMap<String, f64>,
    /// What the runner finds wrong besides the feed (a stale venue stream).
    problems: Vec<String>,
    /// What the feed reports wrong (a broken stream, a recording at its end).
    feed_problems: Vec<String>,
    /// How the runtime placed its threads, and what it could not honour (`/health` details).
    runtime: Vec<String>,
    /// The strategy thread has run its first housekeeping since the start (what it finds
    /// wrong, a stale venue stream, is known only from then: not ready before).
    housekept: bool,
    /// When its loop last housekept (`/live`).
    last_housekeeping: Option<Instant>,
}

/// EnhancedArbitrage, TriangularArbitrage and FlashLoanArbitrage (the engine's strategy with the
/// routes, sizes and fees their parameters select) and RealTimeDashboard (a market view).
pub struct MarketBot {
    id: String,
    bot_type: BotType,
    options: BotOptions,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    gate: Arc<crate::runtime::strategy::Gate>,
    runner: Mutex<Option<crate::runtime::Running<BotWorker, BotSink>>>,
    lease: Arc<LeaseCell>,
}

impl std::fmt::Debug for MarketBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketBot")
            .field("id", &self.id)
            .field("bot_type", &self.bot_type)
            .finish()
    }
}

/// The strings of a JSON array (a config's symbols, pairs or venues).
pub(crate) fn symbols(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a pool of `kind` is on one of the configured venues.
pub(crate) fn dex_allowed(dexs: &[String], kind: DexKind) -> bool {
    dexs.iter().any(|d| match d.as_str() {
        "Jupiter" => true,
        "Orca" => kind == DexKind::Whirlpool,
        "Raydium" => matches!(kind, DexKind::RaydiumV4 | DexKind::RaydiumCp),
        _ => false,
    })
}

/// The market's tokens of a `BASE/QUOTE` pair named at config path `path`.
pub(crate) fn pair_tokens(
    sim: &Universe,
    pair: &str,
    path: &str,
) -> Result<(Token, Token), BotError> {
    let (b, q) = pair
        .split_once('/')
        .ok_or_else(|| BotError::Config(format!("{path}: {pair:?} is not written BASE/QUOTE")))?;
    let token = |s: &str| {
        sim.token(s).cloned().ok_or_else(|| {
            BotError::Config(format!(
                "{path}: {s:?} (in {pair:?}) is not a token of the market"
            ))
        })
    };
    Ok((token(b)?, token(q)?))
}

/// Applies a feed update to `market` (`changed`: a reused buffer); a malformed update is an
/// error naming the account and changes nothing, a stale one is ignored.
pub(crate) fn apply_update(
    market: &mut sniperforge_engine::market::Market,
    changed: &mut Vec<sniperforge_engine::market::PoolIndex>,
    update: &sniperforge_engine::market::AccountUpdate,
) -> Result<bool, BotError> {
    market
        .apply_update(update, changed)
        .map_err(|e| BotError::Config(format!("account {}: {e}", update.pubkey)))
}

/// Base units of `token` worth `sol` SOL at reference prices.
fn sol_to_units(sim: &Universe, sol: f64, token: &Token) -> u64 {
    let sol_usd = sim.token("SOL").map_or(150.0, |t| t.usd);
    (sol * sol_usd / token.usd * 10f64.powi(i32::from(token.decimals))) as u64
}

/// The engine strategy a configuration selects, over the universe's market.
pub fn build_strategy(sim: &Universe, cfg: &ValidatedConfig) -> Result<Strategy, BotError> {
    let t = cfg.config.bot_type;
    let Some(m) = cfg.params.market() else {
        return Err(BotError::Unsupported(format!(
            "{t} is not an arbitrage type"
        )));
    };
    let dexs = &m.execution.dexs;
    let lookup = |sim: &Universe, symbol: &str, path: &str| -> Result<Token, BotError> {
        sim.token(symbol).cloned().ok_or_else(|| {
            BotError::Config(format!("{path}: {symbol:?} is not a token of the market"))
        })
    };
    let (base_symbols, pairs) = match t {
        BotType::EnhancedArbitrage => {
            let pairs: Vec<(String, String)> = m
                .symbols
                .iter()
                .filter_map(|s| {
                    s.split_once('/')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                })
                .collect();
            if pairs.is_empty() {
                return Err(BotError::Config(
                    "trading.pairs: needs pairs written BASE/QUOTE".into(),
                ));
            }
            let mut bases: Vec<String> = pairs
                .iter()
                .flat_map(|(a, b)| [a.clone(), b.clone()])
                .collect();
            bases.dedup();
            (bases, Some(pairs))
        }
        _ => (m.symbols.to_vec(), None),
    };
    let (max_hops, max_trade_sol) = (m.max_hops as usize, m.max_trade_sol);
    let mut base_mints = Vec::new();
    let mut seen = Vec::new();
    for s in &base_symbols {
        if seen.contains(s) {
            continue;
        }
        seen.push(s.clone());
        let token = lookup(sim, s, "trading")?;
        base_mints.push(BaseMint {
            mint: token.mint,
            max_trade: sol_to_units(sim, max_trade_sol, &token),
            min_profit: 0,
        });
    }
    if let Some(pairs) = &pairs {
        for (a, b) in pairs {
            lookup(sim, a, "trading.pairs")?;
            lookup(sim, b, "trading.pairs")?;
        }
    }
    let market = sim.market_where(|kind, a, b| {
        dex_allowed(dexs, kind)
            && pairs.as_ref().is_none_or(|pairs| {
                pairs.iter().any(|(x, y)| {
                    (x == a.symbol && y == b.symbol) || (x == b.symbol && y == a.symbol)
                })
            })
    });
    let config = StrategyConfig {
        base_mints,
        max_hops,
        risk: risk_limits(&m),
        paper_latency_ns: m.execution.paper_latency_us * 1_000,
        slippage_bps: m.execution.slippage_bps as u32,
        route_fee_bps: m.flash_fee_bps as u32,
        mints: sim.mint_infos(),
    };
    Ok(Strategy::new(market, config))
}

fn risk_limits(m: &sniperforge_protocol::params::Market<'_>) -> RiskLimits {
    RiskLimits {
        min_profit_bps: m.min_profit_bps as u32,
        max_state_age_slots: m.risk.max_state_age_slots,
        max_concurrent_trades: m.max_concurrent_trades as usize,
        // EnhancedArbitrage's confidence gate; the other types have no such parameter (0: off).
        min_confidence: m.confidence_threshold,
    }
}

/// Applies a configuration's hot fields to a running strategy: risk gates, slippage, paper
/// latency, the flash-loan fee and the per-trade size limit (re-priced per base mint).
fn apply_hot(strategy: &mut Strategy, sim: &Universe, cfg: &ValidatedConfig) {
    let Some(m) = cfg.params.market() else {
        return;
    };
    let max_sol = m.max_trade_sol;
    let bases: Vec<BaseMint> = strategy
        .config()
        .base_mints
        .iter()
        .map(|b| {
            let max_trade = sim
                .tokens()
                .iter()
                .find(|t| t.mint == b.mint)
                .map_or(b.max_trade, |t| sol_to_units(sim, max_sol, t));
            BaseMint {
                max_trade,
                ..b.clone()
            }
        })
        .collect();
    strategy.update_limits(
        risk_limits(&m),
        m.execution.slippage_bps as u32,
        m.execution.paper_latency_us * 1_000,
        m.flash_fee_bps as u32,
        &bases,
    );
}

impl MarketBot {
    /// A stopped bot; refuses live mode and feeds this build does not have.
    pub fn new(config: ValidatedConfig, options: BotOptions) -> Result<Self, BotError> {
        let spec = FeedSpec::parse(&options.feed, options.replay_max_speed)
            .map_err(|e| BotError::Config(e.to_string()))?;
        if is_live(&config) {
            match config.config.bot_type {
                BotType::EnhancedArbitrage
                | BotType::TriangularArbitrage
                | BotType::FlashLoanArbitrage => {}
                other => {
                    return Err(BotError::Unsupported(format!(
                        "execution.simulation_mode: {other} does not trade; live mode is for the arbitrage types"
                    )));
                }
            }
            if !spec.is_node() {
                return Err(BotError::Config(format!(
                    "execution.simulation_mode is false: live execution needs --feed solana or yellowstone (the node that sends and confirms the transactions), not --feed {}",
                    options.feed
                )));
            }
            let path = config
                .params
                .execution()
                .map_or("", |e| e.keypair_path.as_str());
            sniperforge_solana::live::load_keypair(std::path::Path::new(path))
                .map_err(|e| BotError::Config(format!("execution.keypair_path: {e}")))?;
        }
        let books = load_books(&options.state_dir)?;
        let today = today();
        Ok(Self {
            id: config.config.bot_id.clone(),
            bot_type: config.config.bot_type,
            shared: Arc::new(Mutex::new(Shared {
                status: BotStatus::Stopped,
                config,
                started: Instant::now(),
                trades: books.trades,
                filled: books.filled,
                failed: books.failed,
                profit_usd: books.profit_usd,
                last_seq: books.last_seq,
                day: today,
                daily_pnl_usd: if books.day == today {
                    books.daily_pnl_usd
                } else {
                    0.0
                },
                last_feed: None,
                runner_alive: false,
                pending: None,
                interval: STAGES.iter().map(|_| histogram()).collect(),
                opportunities: 0,
                outputs: Value::Null,
                custom: Default::default(),
                problems: Vec::new(),
                feed_problems: Vec::new(),
                runtime: Vec::new(),
                housekept: false,
                last_housekeeping: None,
            })),
            options,
            stop: Arc::new(AtomicBool::new(false)),
            gate: Arc::default(),
            runner: Mutex::new(None),
            lease: Arc::default(),
        })
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock means a runner panic; the state is still readable for reporting.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The engine the configuration's type runs, over `universe`'s market.
    fn build_engine(
        &self,
        config: &ValidatedConfig,
        universe: &Universe,
    ) -> Result<Engine, BotError> {
        if config.config.bot_type == BotType::RealTimeDashboard {
            crate::dashboard::MarketView::new(universe, config).map(|v| Engine::View(Box::new(v)))
        } else if config.config.bot_type == BotType::PortfolioManager {
            crate::portfolio::Portfolio::new(universe, config, &self.options.state_dir)
                .map(|p| Engine::Portfolio(Box::new(p)))
        } else if config.config.bot_type == BotType::MlAnalytics {
            crate::ml::Analytics::new(universe, config, self.options.seed)
                .map(|a| Engine::Ml(Box::new(a)))
        } else if config.config.bot_type == BotType::CrossChainArbitrage {
            crate::cross_chain::CrossChain::new(universe, config).and_then(|book| {
                let feed = Arc::new(crate::cross_chain::VenueFeed::default());
                let (trading, _) = config
                    .params
                    .cross_chain()
                    .ok_or_else(|| BotError::Config("not cross_chain_arbitrage".into()))?;
                let url = trading.venue_url.clone();
                let pairs = trading.pairs.clone();
                crate::cross_chain::spawn_reader(
                    url,
                    pairs,
                    Arc::clone(&feed),
                    Arc::clone(&self.stop),
                )
                .map_err(|e| BotError::State(format!("spawning the venue reader: {e}")))?;
                Ok(Engine::Cross(Box::new(book), feed))
            })
        } else {
            build_strategy(universe, config).map(|s| Engine::Strategy(Box::new(s)))
        }
    }
}

/// Whether a configuration trades for real (the config layer has checked that it then names a
/// keypair and sets auto_execute).
fn is_live(config: &ValidatedConfig) -> bool {
    config.params.live()
}

/// Locks the shared state; a poisoned lock still holds readable state.
fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl BotInterface for MarketBot {
    fn bot_id(&self) -> String {
        self.id.clone()
    }

    fn bot_type(&self) -> BotType {
        self.bot_type
    }

    async fn status(&self) -> BotStatus {
        self.shared().status.clone()
    }

    async fn start(&self) -> Result<(), BotError> {
        let config = {
            let mut g = self.shared();
            g.status.transition(BotStatus::Starting)?;
            g.config.clone()
        };
        // The live feed's reader thread runs until the stop flag: set it only once the bot runs.
        self.stop.store(false, Ordering::Relaxed);
        self.gate.halted.store(false, Ordering::Relaxed);
        self.gate.paused.store(false, Ordering::Relaxed);
        // Nothing is decided before this instance holds the trading lease.
        self.gate.standby.store(true, Ordering::SeqCst);
        // The lease, at once when no other instance of this bot holds it: then this instance
        // decides from its feed's very first update (a replay decides the same every time).
        let leased_at_once = match self
            .lease
            .open(&self.options.state_dir)
            .and_then(|()| self.take_lease_now())
        {
            Ok(taken) => taken,
            Err(e) => {
                let e = BotError::State(format!("the trading lease: {e}"));
                let _ = self
                    .shared()
                    .status
                    .transition(BotStatus::Error(e.to_string()));
                return Err(e);
            }
        };
        let spec = FeedSpec::parse(&self.options.feed, self.options.replay_max_speed)
            .map_err(|e| BotError::Config(e.to_string()))?;
        let (ml, seed) = (
            config.config.bot_type == BotType::MlAnalytics,
            self.options.seed,
        );
        let plan = crate::runtime::Plan::for_this_process(
            &config.config.resources.cores,
            config.params.execution().is_some_and(|e| e.spin),
            spec.is_node(),
        );
        for w in &plan.warnings {
            tracing::warn!(bot_id = %self.id, warning = %w, "runtime placement");
        }
        tracing::info!(bot_id = %self.id, plan = %plan.describe(), "runtime placement");
        let solana = self.options.solana.clone();
        let stop = Arc::clone(&self.stop);
        let clock = MonotonicClock::new();
        let (ingress, egress) = crate::runtime::channel(crate::runtime::RING_CAPACITY);
        let ingress_stats = Arc::clone(ingress.stats());
        // A Solana reader started by the opener inherits its mask: the feed's core when the
        // plan has one, else the unreserved cores (never the strategy's, unless nothing else
        // is left). The pool thread gets its own mask back after.
        let reader_cores = plan.feed.map_or_else(|| plan.others.clone(), |c| vec![c]);
        let opened = tokio::task::spawn_blocking(move || {
            let before = crate::runtime::affinity::current_mask();
            if let Err(e) = crate::runtime::affinity::confine_current(&reader_cores) {
                tracing::warn!(error = %e, "feed reader not placed");
            }
            let sim = move || {
                if ml {
                    crate::ml::ml_sim(seed)
                } else {
                    Simulator::new(SimConfig {
                        seed,
                        noise_scale: 10.0,
                        ..SimConfig::default()
                    })
                }
            };
            let mut ingress = Some(ingress);
            let opened = Source::open(&spec, sim, solana.as_ref(), stop, clock, &mut ingress);
            let _ = crate::runtime::affinity::confine_current(&before);
            opened.map(|(u, s)| (u, s, ingress))
        })
        .await
        .map_err(|e| BotError::State(format!("opening the feed: {e}")))
        .and_then(|r| r);
        let built = opened.and_then(|(universe, source, ingress)| {
            self.build_engine(&config, &universe)
                .map(|engine| (engine, universe, source, ingress))
        });
        // Live mode: the executor on the feed's node, the strategy's fills left to it.
        let built = built.and_then(|(mut engine, universe, source, ingress)| {
            let live = match (&mut engine, is_live(&config), &self.options.solana) {
                (Engine::Strategy(strategy), true, Some(options)) => {
                    strategy.set_external_fills(true);
                    Some(sniperforge_solana::live::LiveRunner::start(options, &config, &universe)?)
                }
                (_, true, _) => {
                    return Err(BotError::Config(
                        "execution.simulation_mode is false: live execution needs an arbitrage type on --feed solana".into(),
                    ));
                }
                _ => None,
            };
            Ok((engine, universe, source, ingress, live))
        });
        let (engine, universe, source, ingress, live) = match built {
            Ok(s) => s,
            Err(e) => {
                // Nothing traded: the lease goes (another instance may run this bot).
                self.release_lease();
                self.stop.store(true, Ordering::Relaxed);
                let _ = self
                    .shared()
                    .status
                    .transition(BotStatus::Error(e.to_string()));
                return Err(e);
            }
        };
        {
            let mut g = self.shared();
            g.started = Instant::now();
            g.runner_alive = true;
            g.housekept = false;
            // `/live`'s clock starts with the runner: a loop stuck before its first
            // housekeeping fails it too.
            g.last_housekeeping = Some(Instant::now());
            g.last_feed = Some(Instant::now());
            g.runtime = std::iter::once(plan.describe())
                .chain(plan.warnings.iter().cloned())
                .collect();
            if let Some(reason) = loss_limit_reason(&g, None) {
                // The persisted daily loss is already over the limit: alive, not trading.
                g.status.transition(BotStatus::Error(reason))?;
                self.gate.halted.store(true, Ordering::Relaxed);
            } else {
                g.status.transition(BotStatus::Running)?;
            }
        }
        let run_clock = source.run_clock(clock);
        let report = source.report();
        let sim_rate = self
            .options
            .sim_rate
            .unwrap_or(if ml { 100_000 } else { 20_000 });
        let feed = match (source, ingress) {
            (Source::Sim(sim), Some(ingress)) => crate::runtime::Feed::Produced(
                ingress,
                Box::new(crate::feed::SimFeed::new(sim, sim_rate)),
            ),
            (Source::Replay(replay), Some(ingress)) => {
                crate::runtime::Feed::Produced(ingress, replay)
            }
            _ => crate::runtime::Feed::External,
        };
        let starts = match &engine {
            Engine::Strategy(strategy) => Some(
                (0..strategy.cycles().len())
                    .map(|i| {
                        let cycle = strategy
                            .cycles()
                            .cycle(sniperforge_engine::cycles::CycleId(i as u32));
                        let mint = strategy.market().mint(cycle.start_mint)?;
                        let token = universe.tokens().iter().find(|t| &t.mint == mint)?;
                        Some(worker::Start {
                            token: token.clone(),
                            route: route_label(strategy.market(), universe.tokens(), cycle).into(),
                        })
                    })
                    .collect(),
            ),
            _ => None,
        };
        let worker = match engine {
            Engine::Strategy(strategy) => BotWorker::Strategy {
                worker: crate::runtime::strategy::StrategyWorker::new(
                    strategy,
                    run_clock,
                    Arc::clone(&self.gate),
                    live,
                ),
                universe: Box::new(universe),
                shared: Arc::clone(&self.shared),
                guard: {
                    let g = self.shared();
                    LossGuard::of(&g.config, g.day, g.daily_pnl_usd)
                },
                gate: Arc::clone(&self.gate),
                resumed: 0,
            },
            observer => BotWorker::Observer {
                engine: observer,
                clock: run_clock,
                shared: Arc::clone(&self.shared),
                malformed: 0,
                last_publish: None,
                gate: Arc::clone(&self.gate),
            },
        };
        let runtime_stats = Arc::new(crate::runtime::RuntimeStats::default());
        let sink = BotSink {
            shared: Arc::clone(&self.shared),
            gate: Arc::clone(&self.gate),
            state_dir: self.options.state_dir.clone(),
            bot_id: self.id.clone(),
            starts,
            journal: Vec::new(),
            report,
            runtime: Arc::clone(&runtime_stats),
            ingress: ingress_stats,
            seen: 0,
            saved_books: None,
            journal_synced: std::time::Instant::now(),
        };
        let running = crate::runtime::start(
            &plan,
            feed,
            egress,
            worker,
            sink,
            clock,
            Arc::clone(&self.stop),
            runtime_stats,
            &self.id,
        )
        .map_err(|e| {
            self.release_lease();
            self.stop.store(true, Ordering::Relaxed);
            BotError::State(format!("spawning the runtime's threads: {e}"))
        })?;
        *self.runner.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
        // Started means ready: the strategy thread's first housekeeping has run (what it finds
        // wrong is known from then), at most a second after the runtime starts.
        let ready_by = Instant::now() + Duration::from_secs(1);
        while !self.shared().housekept && Instant::now() < ready_by {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if leased_at_once {
            return Ok(());
        }
        // Market loaded, feed connected: standby until the lease is ours.
        self.lease.set_role(Role::Standby);
        self.wait_for_lease()
    }

    async fn stop(&self) -> Result<(), BotError> {
        self.shared().status.transition(BotStatus::Stopping)?;
        // A stop is a handover to no one: no new decision, orders in flight settled and the
        // state persisted while the lease is still held.
        // A waiter that gets the lease from now on lets it go at once.
        self.lease.cancel_waiters();
        if self.lease.transition(Role::Trading, Role::Draining)
            && let Err(open) = self.drain(STOP_DRAIN).await
        {
            tracing::warn!(bot_id = %self.id, open_orders = open, "stopping with orders in flight after {STOP_DRAIN:?}");
        }
        self.stop.store(true, Ordering::Relaxed);
        let running = self.runner.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(r) = running {
            let joined = tokio::task::spawn_blocking(move || r.join().map(|_| ())).await;
            if let Ok(Err(e)) = joined {
                tracing::error!(bot_id = %self.id, error = %e, "runtime thread panicked");
            }
        }
        self.release_lease();
        self.shared().status.transition(BotStatus::Stopped)?;
        Ok(())
    }

    async fn pause(&self) -> Result<(), BotError> {
        self.shared().status.transition(BotStatus::Paused)?;
        self.gate.paused.store(true, Ordering::Relaxed);
        Ok(())
    }

    async fn resume(&self) -> Result<(), BotError> {
        self.shared().status.transition(BotStatus::Running)?;
        self.gate.paused.store(false, Ordering::Relaxed);
        Ok(())
    }

    async fn update_config(&self, config: ValidatedConfig) -> Result<ConfigApplied, BotError> {
        let mut g = self.shared();
        if config.config.bot_type != self.bot_type || config.config.bot_id != self.id {
            return Err(BotError::Config(format!(
                "bot_id/bot_type: this bot is {} ({}); a configuration for {} ({}) cannot apply",
                self.id, self.bot_type, config.config.bot_id, config.config.bot_type
            )));
        }
        let mut applied = ConfigApplied::default();
        for change in changes(&g.config, &config) {
            if change.hot {
                applied.applied_hot.push(change.path);
            } else {
                applied.restart_required.push(change.path);
            }
        }
        g.pending = Some(config.clone());
        g.config = config;
        Ok(applied)
    }

    async fn metrics(&self) -> BotMetrics {
        let g = self.shared();
        let mut m = BotMetrics {
            trades_executed: g.trades,
            profit_usd: g.profit_usd,
            success_rate: if g.filled + g.failed > 0 {
                g.filled as f64 / (g.filled + g.failed) as f64
            } else {
                0.0
            },
            uptime_seconds: g.started.elapsed().as_secs(),
            cpu_usage: health::cpu_since_start(),
            memory_usage: health::resident_bytes(),
            ..BotMetrics::default()
        };
        m.custom_metrics
            .extend(g.custom.iter().map(|(k, v)| (k.clone(), *v)));
        m.custom_metrics
            .insert("daily_pnl_usd".into(), g.daily_pnl_usd);
        m.custom_metrics
            .insert("trades_failed".into(), g.failed as f64);
        m.custom_metrics
            .insert("opportunities_rejected".into(), g.opportunities as f64);
        // Age of the newest market update (the gateway's feed_stale alerts read it); absent
        // before the first update.
        if let Some(t) = g.last_feed {
            m.custom_metrics
                .insert("feed_age_ms".into(), t.elapsed().as_millis() as f64);
        }
        for (name, h) in STAGES.iter().zip(&g.interval) {
            m.latency.insert(
                (*name).to_string(),
                sniperforge_protocol::wire::StageLatency {
                    p50: h.value_at_quantile(0.5),
                    p99: h.value_at_quantile(0.99),
                    p999: h.value_at_quantile(0.999),
                    max: h.max(),
                },
            );
        }
        m
    }

    async fn live(&self) -> Result<(), String> {
        self.live_now()
    }

    async fn health_check(&self) -> Health {
        self.health_now()
    }

    async fn current_config(&self) -> sniperforge_protocol::wire::BotConfig {
        self.shared().config.config.clone()
    }

    async fn outputs(&self) -> Value {
        self.shared().outputs.clone()
    }

    async fn lease(&self) -> Lease {
        self.lease.snapshot(&self.gate.handover)
    }

    async fn hand_over(&self, deadline: Duration) -> Result<HandedOver, BotError> {
        self.hand_over_within(deadline).await
    }

    async fn take_over(&self) -> Result<Lease, BotError> {
        // Only a released instance waits again, and only once however many ask at once.
        if self.lease.transition(Role::Released, Role::Standby) {
            self.wait_for_lease()?;
        } else if self.lease.role() == Role::Starting {
            return Err(BotError::Handover(
                "the bot is still starting: it takes the lease once its market is loaded".into(),
            ));
        }
        Ok(self.lease.snapshot(&self.gate.handover))
    }

    async fn interval_histograms(&self) -> Vec<(String, Vec<u8>)> {
        let mut g = self.shared();
        let mut out = Vec::new();
        for (name, h) in STAGES.iter().zip(g.interval.iter_mut()) {
            if let Ok(bytes) = sniperforge_protocol::telemetry::encode_v2(h) {
                out.push(((*name).to_string(), bytes));
            }
            h.reset();
        }
        out
    }
}

/// A route as fills name it: the mints it passes through by symbol (a mint the universe does
/// not name by its address's first 4 characters) and the venue of each hop, as in
/// `SOL>USDC>SOL via raydium-v4,whirlpool`.
fn route_label(
    market: &sniperforge_engine::Market,
    tokens: &[sniperforge_engine::sim::Token],
    cycle: &sniperforge_engine::cycles::Cycle,
) -> String {
    use sniperforge_engine::{Amm, Side};
    let symbol = |i: sniperforge_engine::MintIndex| match market.mint(i) {
        Some(m) => match tokens.iter().find(|t| &t.mint == m) {
            Some(t) => t.symbol.to_string(),
            None => m.to_string().chars().take(4).collect(),
        },
        None => "?".into(),
    };
    let mut path = symbol(cycle.start_mint);
    let mut venues = Vec::new();
    for hop in cycle.hops() {
        let out = market.pool_mints(hop.pool).map(|[a, b]| match hop.side {
            Side::AToB => b,
            Side::BToA => a,
        });
        path.push('>');
        path.push_str(&out.map_or_else(|| "?".into(), symbol));
        venues.push(market.pool(hop.pool).map_or("?", |p| p.dex().name()));
    }
    // A markets file's symbols are outside text: what a fill may not carry is left out, and
    // the name kept to what a fill takes, so no fill is refused for its route's name.
    format!("{path} via {}", venues.join(","))
        .chars()
        .filter(|c| !sniperforge_protocol::fleet::hidden_char(*c))
        .take(sniperforge_protocol::fleet::ROUTE_MAX)
        .collect()
}
