//! Where a bot's market comes from: the tokens and the account snapshot it starts on (the
//! [`Universe`]), then a stream of [`FeedEvent`]s from the simulator, a recording, or a Solana
//! RPC node ([`Source`]). Every source hands over accounts in their on-chain byte layouts, so
//! the engines decode the same bytes in simulation, replay and live.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sniperforge_engine::market::{AccountUpdate, Market};
use sniperforge_engine::pubkey::Pubkey;
use sniperforge_engine::quote::{Amm, DexKind};
use sniperforge_engine::record::{Reader, market_from_snapshot_where};
use sniperforge_engine::sim::{SimConfig, Simulator, Token};
use sniperforge_engine::strategy::{Clock, MintInfo, MonotonicClock};

use crate::bot::BotError;

/// The tokens a bot may name and the accounts its market starts from.
#[derive(Debug, Clone)]
pub struct Universe {
    tokens: Vec<Token>,
    snapshot: Vec<AccountUpdate>,
}

impl Universe {
    /// `tokens` (symbols, mints, decimals, reference prices) over `snapshot`.
    pub fn new(tokens: Vec<Token>, snapshot: Vec<AccountUpdate>) -> Self {
        Self { tokens, snapshot }
    }

    /// The simulator's tokens and a snapshot of every account it holds.
    pub fn from_sim(sim: &mut Simulator) -> Self {
        Self::new(sim.tokens().to_vec(), sim.snapshot())
    }

    /// The tokens.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// A token by symbol.
    pub fn token(&self, symbol: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.symbol == symbol)
    }

    /// The snapshot's accounts.
    pub fn snapshot(&self) -> &[AccountUpdate] {
        &self.snapshot
    }

    /// A market of every pool between two known tokens.
    pub fn market(&self) -> Market {
        self.market_where(|_, _, _| true)
    }

    /// A market of the snapshot's pools between two known tokens that `keep` accepts (by kind
    /// and the pool's two tokens, in the pool's order), with the snapshot applied.
    pub fn market_where(&self, keep: impl Fn(DexKind, &Token, &Token) -> bool) -> Market {
        let token = |mint: Pubkey| self.tokens.iter().find(|t| t.mint == mint);
        market_from_snapshot_where(&self.snapshot, |pool| {
            let [a, b] = pool.mints();
            matches!((token(a), token(b)), (Some(a), Some(b)) if keep(pool.dex(), a, b))
        })
    }

    /// Mint decimals and reference prices for the strategy's USD accounting.
    pub fn mint_infos(&self) -> Vec<MintInfo> {
        sniperforge_engine::sim::mint_infos(&self.tokens)
    }
}

/// What a source hands the runner.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// An account's new state.
    Account(AccountUpdate),
    /// The cluster reached this slot with every subscription up: every pool's state is
    /// current as of it.
    Slot(u64),
    /// A fresh snapshot after a reconnect: applied whole before anything is decided on it.
    Resync(Vec<AccountUpdate>),
    /// The stream broke (the reason); nothing comes until the next `Resync`.
    Down(String),
}

/// `--feed` as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSpec {
    /// The embedded market simulator.
    Sim,
    /// A recording (`replay:FILE`), at its recorded pace or as fast as the bot takes it.
    Replay {
        /// The file.
        path: PathBuf,
        /// Ignore the recorded timestamps.
        max_speed: bool,
    },
    /// A Solana RPC node (HTTP JSON-RPC for snapshots, websocket pubsub for updates).
    Solana,
    /// A Solana RPC node for snapshots and a Yellowstone gRPC (Geyser) stream for updates.
    Yellowstone,
}

impl FeedSpec {
    /// Parses `sim`, `replay:FILE`, `solana` or `yellowstone`.
    pub fn parse(feed: &str, replay_max_speed: bool) -> Result<Self, String> {
        match feed {
            "sim" => Ok(Self::Sim),
            "solana" => Ok(Self::Solana),
            "yellowstone" => Ok(Self::Yellowstone),
            f => match f.strip_prefix("replay:") {
                Some(path) if !path.is_empty() => Ok(Self::Replay {
                    path: PathBuf::from(path),
                    max_speed: replay_max_speed,
                }),
                _ => Err(format!(
                    "--feed {feed:?}: expected sim, replay:FILE, solana or yellowstone"
                )),
            },
        }
    }

    /// The stream a Solana node feed follows (`None`: not a node).
    pub fn via(&self) -> Option<crate::solana::Via> {
        match self {
            Self::Solana => Some(crate::solana::Via::Websocket),
            Self::Yellowstone => Some(crate::solana::Via::Yellowstone),
            Self::Sim | Self::Replay { .. } => None,
        }
    }

    /// Whether the feed is a Solana node (the one live orders go to).
    pub fn is_node(&self) -> bool {
        self.via().is_some()
    }
}

/// A recording played back: its snapshot section is the universe's snapshot, its records the
/// stream.
#[derive(Debug)]
pub struct ReplayFeed {
    path: PathBuf,
    reader: Reader<BufReader<std::fs::File>>,
    next: Option<AccountUpdate>,
    max_speed: bool,
    started: Option<(Instant, u64)>,
    first: Option<u64>,
    replayed: u64,
    problem: Option<String>,
}

impl ReplayFeed {
    /// Opens `path` and reads its snapshot section.
    pub fn open(path: &Path, max_speed: bool) -> Result<(Self, Vec<AccountUpdate>), BotError> {
        let err = |e: &dyn std::fmt::Display| {
            BotError::Config(format!("--feed replay:{}: {e}", path.display()))
        };
        let file = std::fs::File::open(path).map_err(|e| err(&e))?;
        let mut reader = Reader::new(BufReader::new(file)).map_err(|e| err(&e))?;
        let mut snapshot = Vec::new();
        for _ in 0..reader.snapshot_records {
            match reader.next_update().map_err(|e| err(&e))? {
                Some(u) => snapshot.push(u),
                None => return Err(err(&"the file ends inside its snapshot section")),
            }
        }
        let mut feed = Self {
            path: path.to_path_buf(),
            reader,
            next: None,
            max_speed,
            started: None,
            first: None,
            replayed: 0,
            problem: None,
        };
        feed.advance();
        Ok((feed, snapshot))
    }

    fn advance(&mut self) {
        self.next = match self.reader.next_update() {
            Ok(next) => next,
            Err(e) => {
                self.problem = Some(format!("recording {}: {e}", self.path.display()));
                None
            }
        };
    }

    /// Records due by now, at most `max`, with their receive times made relative to the
    /// recording's first; the recorded pace keeps the gaps between them.
    fn poll(&mut self, max: usize, out: &mut Vec<FeedEvent>) {
        for _ in 0..max {
            let Some(next) = self.next.as_ref() else {
                return;
            };
            if !self.max_speed {
                let (_, first) = *self
                    .started
                    .get_or_insert((Instant::now(), next.received_at));
                let due = next.received_at.saturating_sub(first);
                let elapsed = self
                    .started
                    .map_or(0, |(t, _)| t.elapsed().as_nanos() as u64);
                if due > elapsed {
                    return;
                }
            }
            if let Some(mut update) = self.next.take() {
                let first = *self.first.get_or_insert(update.received_at);
                update.received_at = update.received_at.saturating_sub(first).max(1);
                out.push(FeedEvent::Account(update));
                self.replayed += 1;
            }
            self.advance();
        }
    }

    /// How long until the next record is due (`None`: the recording is over).
    fn until_next(&self) -> Option<Duration> {
        let next = self.next.as_ref()?;
        if self.max_speed {
            return Some(Duration::ZERO);
        }
        let (t, first) = self.started?;
        let due = Duration::from_nanos(next.received_at.saturating_sub(first));
        Some(due.saturating_sub(t.elapsed()))
    }
}

/// The clock a bot's strategy runs on: the wall clock, or for a recording the receive time of
/// the record being processed (so a replay decides and fills the same way every time, at any
/// pace; stage latencies then read the recording's time, 1 ns each).
#[derive(Debug, Clone)]
pub enum RunClock {
    /// Monotonic wall time.
    Wall(MonotonicClock),
    /// The current record's receive time (ns from the recording's start).
    Recorded(std::sync::Arc<std::sync::atomic::AtomicU64>),
}

impl RunClock {
    /// Moves a recorded clock to `ns` (never back); the wall clock ignores it.
    pub fn advance(&self, ns: u64) {
        if let Self::Recorded(t) = self {
            t.fetch_max(ns, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

impl Clock for RunClock {
    fn now_ns(&self) -> u64 {
        match self {
            Self::Wall(c) => c.now_ns(),
            Self::Recorded(t) => t.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// A running source of market events.
#[derive(Debug)]
pub enum Source {
    /// The simulator, throttled to about 20,000 updates a second (100,000 for the analytics).
    Sim(Box<Simulator>),
    /// A recording.
    Replay(Box<ReplayFeed>),
    /// A Solana RPC node (its websocket or a Yellowstone stream).
    Solana(Box<crate::solana::SolanaFeed>),
}

/// Updates the runner takes from the simulator between its 1 ms rests: about 20,000 a second.
/// Small batches keep market time and wall time close: the paper executor fills 400 µs of wall
/// time after a decision, on the state of that moment, and a batch of 200 (with 10 ms rests) let
/// up to 200 updates, 10 ms of market, pass first, so competitors had closed nearly every two-pool
/// gap (the demo's enhanced arbitrage filled none).
const SIM_BATCH: usize = 20;

impl Source {
    /// Opens the source `spec` names and the universe it starts on. `sim` builds the simulator
    /// (the analytics run theirs at another clock); a recording's tokens and a Solana feed's
    /// come from `markets` (a recording of the simulator needs none).
    pub fn open(
        spec: &FeedSpec,
        sim: impl FnOnce() -> Simulator,
        solana: Option<&crate::solana::SolanaOptions>,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        clock: MonotonicClock,
    ) -> Result<(Universe, Self), BotError> {
        match spec {
            FeedSpec::Sim => {
                let mut sim = sim();
                let universe = Universe::from_sim(&mut sim);
                Ok((universe, Self::Sim(Box::new(sim))))
            }
            FeedSpec::Replay { path, max_speed } => {
                let (feed, snapshot) = ReplayFeed::open(path, *max_speed)?;
                let tokens = match solana.and_then(|s| s.markets.as_ref()) {
                    Some(markets) => markets.tokens_with_decimals(&snapshot)?,
                    None => Simulator::new(SimConfig::default()).tokens().to_vec(),
                };
                Ok((
                    Universe::new(tokens, snapshot),
                    Self::Replay(Box::new(feed)),
                ))
            }
            FeedSpec::Solana | FeedSpec::Yellowstone => {
                let via = spec.via().unwrap_or(crate::solana::Via::Websocket);
                let options = solana.ok_or_else(|| {
                    BotError::Config(format!(
                        "--feed {} needs --rpc-url and --markets",
                        via.feed()
                    ))
                })?;
                let (universe, feed) = crate::solana::SolanaFeed::start(options, via, stop, clock)?;
                Ok((universe, Self::Solana(Box::new(feed))))
            }
        }
    }

    /// The clock the strategy runs on with this source: a recording's own, else `wall`.
    pub fn run_clock(&self, wall: MonotonicClock) -> RunClock {
        match self {
            Self::Replay(_) => RunClock::Recorded(std::sync::Arc::default()),
            _ => RunClock::Wall(wall),
        }
    }

    /// Up to `max` events into `out`, stamped at ingress on `clock` (a recording's keep their
    /// recorded receive times).
    pub fn poll(&mut self, max: usize, clock: &RunClock, out: &mut Vec<FeedEvent>) {
        match self {
            Self::Sim(sim) => {
                for _ in 0..max.min(SIM_BATCH * 5) {
                    let mut update = sim.next_update();
                    update.received_at = clock.now_ns();
                    out.push(FeedEvent::Account(update));
                }
            }
            Self::Replay(replay) => replay.poll(max, out),
            Self::Solana(feed) => feed.drain(out),
        }
    }

    /// Updates a batch holds: the simulator's pace (five times as many for the analytics'
    /// faster market clock), otherwise as many as are waiting.
    pub fn batch(&self, analytics: bool) -> usize {
        match self {
            Self::Sim(_) if analytics => SIM_BATCH * 5,
            Self::Sim(_) => SIM_BATCH,
            _ => 4_096,
        }
    }

    /// Rests after a batch that gave `got` events: the simulator 1 ms (its pace), a paced
    /// recording until its next record (at most 10 ms), a live feed until the reader wakes
    /// the runner (at most 5 ms) when nothing came.
    pub fn rest(&self, got: usize) {
        match self {
            Self::Sim(_) => std::thread::sleep(Duration::from_millis(1)),
            Self::Replay(r) => match r.until_next() {
                Some(d) if d.is_zero() => {}
                Some(d) => std::thread::sleep(d.min(Duration::from_millis(10))),
                None => std::thread::sleep(Duration::from_millis(10)),
            },
            Self::Solana(_) if got == 0 => std::thread::park_timeout(Duration::from_millis(5)),
            Self::Solana(_) => {}
        }
    }

    /// Wakes this thread when events arrive (live feeds).
    pub fn attach(&self) {
        if let Self::Solana(feed) = self {
            feed.attach(std::thread::current());
        }
    }

    /// What is wrong with the source (health reasons).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Sim(_) => Vec::new(),
            Self::Replay(r) => match (&r.problem, &r.next) {
                (Some(p), _) => vec![p.clone()],
                (None, None) => vec![format!(
                    "recording {} replayed to its end ({} updates)",
                    r.path.display(),
                    r.replayed
                )],
                (None, Some(_)) => Vec::new(),
            },
            Self::Solana(feed) => feed.problems(),
        }
    }

    /// The source's counters, as custom metrics.
    pub fn counters(&self) -> Vec<(&'static str, f64)> {
        match self {
            Self::Sim(_) => Vec::new(),
            Self::Replay(r) => vec![("replayed_updates", r.replayed as f64)],
            Self::Solana(feed) => feed.counters(),
        }
    }
}
