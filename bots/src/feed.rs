//! Where a bot's market comes from: the tokens and the account snapshot it starts on (the
//! [`Universe`]), then a stream of [`FeedEvent`]s from the simulator, a recording, or a Solana
//! RPC node ([`Source`]). Every source hands over accounts in their on-chain byte layouts, so
//! the engines decode the same bytes in simulation, replay and live.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::record::Reader;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{Clock, MonotonicClock};

use crate::bot::BotError;

pub use sniperforge_engine::feed::{FeedEvent, Universe};

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

/// A `--feed` that names no feed (the text, cut to 200 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--feed {0:?}: expected sim, replay:FILE, solana or yellowstone")]
pub struct UnknownFeed(pub String);

impl FeedSpec {
    /// Parses `sim`, `replay:FILE`, `solana` or `yellowstone`.
    pub fn parse(feed: &str, replay_max_speed: bool) -> Result<Self, UnknownFeed> {
        match feed {
            "sim" => Ok(Self::Sim),
            "solana" => Ok(Self::Solana),
            "yellowstone" => Ok(Self::Yellowstone),
            f => match f.strip_prefix("replay:") {
                Some(path) if !path.is_empty() => Ok(Self::Replay {
                    path: PathBuf::from(path),
                    max_speed: replay_max_speed,
                }),
                _ => Err(UnknownFeed(feed.chars().take(200).collect())),
            },
        }
    }

    /// The stream a Solana node feed follows (`None`: not a node).
    pub fn via(&self) -> Option<sniperforge_solana::Via> {
        match self {
            Self::Solana => Some(sniperforge_solana::Via::Websocket),
            Self::Yellowstone => Some(sniperforge_solana::Via::Yellowstone),
            Self::Sim | Self::Replay { .. } => None,
        }
    }

    /// Whether the feed is a Solana node (the one live orders go to).
    pub fn is_node(&self) -> bool {
        self.via().is_some()
    }
}

/// A recording played back: its snapshot section is the universe's snapshot, its records the
/// stream, handed to the strategy thread without coalescing (every record counts).
#[derive(Debug)]
pub struct ReplayFeed {
    path: PathBuf,
    reader: Reader<BufReader<std::fs::File>>,
    next: Option<AccountUpdate>,
    max_speed: bool,
    first: Option<u64>,
    /// What `/health` and the metrics read while the feed thread owns the feed.
    pub notes: Arc<ReplayNotes>,
}

/// A recording's progress and problems, shared with the reporting thread.
#[derive(Debug, Default)]
pub struct ReplayNotes {
    /// Records handed over.
    pub replayed: AtomicU64,
    /// Set when the recording is over or unreadable.
    pub problem: Mutex<Option<String>>,
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
            first: None,
            notes: Arc::default(),
        };
        feed.advance();
        Ok((feed, snapshot))
    }

    fn advance(&mut self) {
        self.next = match self.reader.next_update() {
            Ok(Some(next)) => Some(next),
            Ok(None) => {
                self.note(format!(
                    "recording {} replayed to its end ({} updates)",
                    self.path.display(),
                    self.notes.replayed.load(Ordering::Relaxed)
                ));
                None
            }
            Err(e) => {
                self.note(format!("recording {}: {e}", self.path.display()));
                None
            }
        };
    }

    fn note(&self, problem: String) {
        *self.notes.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }
}

impl crate::runtime::Produce for ReplayFeed {
    /// A replay is counted whole (a backtest reports its rejections by gate).
    fn keeps_every_decision(&self) -> bool {
        true
    }

    /// The recorded pace keeps the gaps between records (from the first); at maximum speed
    /// every record is due at once.
    fn due(&mut self) -> Option<u64> {
        let next = self.next.as_ref()?;
        let first = *self.first.get_or_insert(next.received_at);
        Some(if self.max_speed {
            0
        } else {
            next.received_at.saturating_sub(first)
        })
    }

    /// Receive times stay the recording's (relative to its first record), so a replay decides
    /// and fills the same way at any pace.
    fn produce(&mut self, ingress: &mut crate::runtime::Ingress, _at: u64) -> bool {
        let Some(mut update) = self.next.take() else {
            return true;
        };
        let first = *self.first.get_or_insert(update.received_at);
        update.received_at = update.received_at.saturating_sub(first).max(1);
        // Counted before the next read, whose end-of-recording note says how many there were.
        self.notes.replayed.fetch_add(1, Ordering::Relaxed);
        self.advance();
        ingress.push_lossless(FeedEvent::Account(update), || {
            std::thread::sleep(Duration::from_micros(20));
        })
    }

    fn scheduled(&self) -> bool {
        !self.max_speed
    }
}

/// The simulator as a feed: updates at a scheduled open-loop rate, each copied into a pooled
/// buffer and stamped with its scheduled time.
#[derive(Debug)]
pub struct SimFeed {
    sim: Box<Simulator>,
    interval_ns: f64,
    produced: u64,
    /// The next update, made while the runtime waited for its due time.
    next: Option<AccountUpdate>,
}

impl SimFeed {
    /// `rate` updates a second (0: as fast as the strategy takes them).
    pub fn new(sim: Box<Simulator>, rate: u64) -> Self {
        Self {
            sim,
            interval_ns: if rate == 0 { 0.0 } else { 1e9 / rate as f64 },
            produced: 0,
            next: None,
        }
    }
}

impl crate::runtime::Produce for SimFeed {
    fn due(&mut self) -> Option<u64> {
        Some((self.produced as f64 * self.interval_ns) as u64)
    }

    fn produce(&mut self, ingress: &mut crate::runtime::Ingress, at: u64) -> bool {
        let update = self.next.take().unwrap_or_else(|| self.sim.next_update());
        let mut data = ingress.buffer_for(update.data.len());
        data.extend_from_slice(&update.data);
        self.produced += 1;
        ingress.push(FeedEvent::Account(AccountUpdate {
            data,
            received_at: at,
            ..update
        }));
        !ingress.is_abandoned()
    }

    fn scheduled(&self) -> bool {
        self.interval_ns > 0.0
    }

    fn prepare(&mut self) {
        if self.next.is_none() {
            self.next = Some(self.sim.next_update());
        }
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
    /// The simulator (the runtime paces it: `--sim-rate`).
    Sim(Box<Simulator>),
    /// A recording.
    Replay(Box<ReplayFeed>),
    /// A Solana RPC node (its websocket or a Yellowstone stream): its reader thread pushes
    /// into the runtime's ingress.
    Solana(Box<sniperforge_solana::SolanaFeed>),
}

impl Source {
    /// Opens the source `spec` names and the universe it starts on. `sim` builds the simulator
    /// (the analytics run theirs at another clock); a recording's tokens and a Solana feed's
    /// come from `markets` (a recording of the simulator needs none).
    pub fn open(
        spec: &FeedSpec,
        sim: impl FnOnce() -> Simulator,
        solana: Option<&sniperforge_solana::SolanaOptions>,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        clock: MonotonicClock,
        ingress: &mut Option<crate::runtime::Ingress>,
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
                let via = spec.via().unwrap_or(sniperforge_solana::Via::Websocket);
                let options = solana.ok_or_else(|| {
                    BotError::Config(format!(
                        "--feed {} needs --rpc-url and --markets",
                        via.feed()
                    ))
                })?;
                let ingress = ingress.take().ok_or_else(|| {
                    BotError::State("the runtime's ingress was already taken".into())
                })?;
                let (universe, feed) =
                    sniperforge_solana::SolanaFeed::start(options, via, stop, clock, ingress)?;
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

    /// What the reporting thread reads of the source once the runtime owns it.
    pub fn report(&self) -> SourceReport {
        match self {
            Self::Sim(_) => SourceReport::Sim,
            Self::Replay(r) => SourceReport::Replay(Arc::clone(&r.notes)),
            Self::Solana(f) => SourceReport::Solana(f.reporter()),
        }
    }
}

/// A source's health and counters, read off the hot path.
#[derive(Debug)]
pub enum SourceReport {
    /// The simulator: nothing to report.
    Sim,
    /// A recording's progress.
    Replay(Arc<ReplayNotes>),
    /// A Solana feed's counters and stream state.
    Solana(sniperforge_solana::SolanaFeed),
}

impl SourceReport {
    /// What is wrong with the source (health reasons).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Sim => Vec::new(),
            Self::Replay(n) => n
                .problem
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .cloned()
                .collect(),
            Self::Solana(feed) => feed.problems(),
        }
    }

    /// The source's counters, as custom metrics.
    pub fn counters(&self) -> Vec<(&'static str, f64)> {
        match self {
            Self::Sim => Vec::new(),
            Self::Replay(n) => vec![(
                "replayed_updates",
                n.replayed.load(Ordering::Relaxed) as f64,
            )],
            Self::Solana(feed) => feed.counters(),
        }
    }
}
