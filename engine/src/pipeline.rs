//! The threaded pipeline: a feed thread and a strategy thread, pinned to cores, joined by
//! bounded SPSC rings, and an executor thread behind the strategy. A full ring never blocks the
//! feed: the newest state of an account replaces an older one still waiting (counted).
//! Latency is recorded per stage, in ns from ingress, into HDR histograms.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::market::AccountUpdate;
use crate::pubkey::Pubkey;
use crate::ring::{Producer, ring};
use crate::strategy::{Clock, Decision, Event, MonotonicClock, Strategy};

/// Where updates come from. `next` returns `None` when the source is exhausted.
pub trait Feed: Send {
    /// The next update (its `received_at` is set by the pipeline).
    fn next(&mut self) -> Option<AccountUpdate>;
}

impl Feed for crate::sim::Simulator {
    fn next(&mut self) -> Option<AccountUpdate> {
        Some(self.next_update())
    }
}

/// Replays a recorded list of updates, in order, then stops.
#[derive(Debug)]
pub struct Replay(std::vec::IntoIter<AccountUpdate>);

impl Replay {
    /// A feed over `updates`.
    pub fn new(updates: Vec<AccountUpdate>) -> Self {
        Self(updates.into_iter())
    }
}

impl Feed for Replay {
    fn next(&mut self) -> Option<AccountUpdate> {
        self.0.next()
    }
}

/// How a waiting thread waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Busy-spin (lowest latency, burns the core).
    Spin,
    /// Park briefly (frees the core, adds wake-up latency).
    Park,
}

/// Pipeline settings.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Slots of the feed→strategy ring.
    pub ring_capacity: usize,
    /// Core for the feed thread.
    pub feed_core: Option<usize>,
    /// Core for the strategy thread.
    pub strategy_core: Option<usize>,
    /// Wait strategy.
    pub idle: Idle,
    /// Updates per second the feed emits on schedule (open loop); 0: as fast as it can.
    pub rate_per_s: u64,
    /// How long to run.
    pub duration: Duration,
}

/// Latency stages, each measured from ingress.
pub const STAGES: [&str; 4] = ["decoded", "detected", "decided", "executed"];

/// What a run measured.
#[derive(Debug)]
pub struct RunReport {
    /// One histogram (ns from ingress) per entry of [`STAGES`].
    pub stages: Vec<Histogram<u64>>,
    /// Updates the feed produced.
    pub produced: u64,
    /// Updates the strategy processed.
    pub processed: u64,
    /// Updates replaced by a newer state of the same account while the ring was full.
    pub coalesced: u64,
    /// Wall time of the run, ns.
    pub elapsed_ns: u64,
    /// Strategy counters at the end.
    pub counters: crate::strategy::Counters,
    /// Orders executed (paper) and their total PnL in USD.
    pub orders: u64,
    /// Paper PnL in USD.
    pub pnl_usd: f64,
    /// Pinning that could not be applied, in words.
    pub warnings: Vec<String>,
}

fn histogram() -> Histogram<u64> {
    crate::telemetry::latency_histogram()
}

fn pin(core: Option<usize>, role: &str, warnings: &mut Vec<String>) {
    let Some(core) = core else { return };
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    match ids.iter().find(|c| c.id == core) {
        Some(id) if core_affinity::set_for_current(*id) => {}
        _ => warnings.push(format!(
            "{role} thread not pinned: core {core} unavailable ({} cores visible)",
            ids.len()
        )),
    }
}

/// Holds updates the ring had no room for; the newest state of an account replaces an older
/// one still waiting (counted), and accounts leave in the order they first arrived.
#[derive(Debug, Default)]
struct Backlog {
    order: std::collections::VecDeque<Pubkey>,
    pending: HashMap<Pubkey, AccountUpdate>,
    coalesced: u64,
}

impl Backlog {
    fn put(&mut self, update: AccountUpdate) {
        let key = update.pubkey;
        if self.pending.insert(key, update).is_some() {
            self.coalesced += 1;
        } else {
            self.order.push_back(key);
        }
    }

    /// Moves waiting updates into the ring until it is full or the backlog empty.
    fn drain_into(&mut self, ring: &mut Producer<AccountUpdate>) {
        while let Some(key) = self.order.front().copied() {
            let Some(update) = self.pending.remove(&key) else {
                self.order.pop_front();
                continue;
            };
            match ring.push(update) {
                Ok(()) => {
                    self.order.pop_front();
                }
                Err(update) => {
                    self.pending.insert(key, update);
                    return;
                }
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Sends an update on, or keeps it (coalescing) when the ring is full or others wait first.
fn forward(update: AccountUpdate, ring: &mut Producer<AccountUpdate>, backlog: &mut Backlog) {
    if backlog.is_empty() {
        if let Err(update) = ring.push(update) {
            backlog.put(update);
        }
    } else {
        backlog.put(update);
    }
}

/// Runs `strategy` on `feed` for `config.duration`; returns the measurements and the strategy.
pub fn run<F: Feed + 'static>(
    feed: F,
    strategy: Strategy,
    config: &PipelineConfig,
) -> (RunReport, Strategy) {
    let clock = MonotonicClock::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (mut to_strategy, mut from_feed) = ring::<AccountUpdate>(config.ring_capacity);
    let (mut to_executor, mut from_strategy) = ring::<Decision>(4_096);
    let idle = config.idle;
    let rate = config.rate_per_s;
    let duration_ns = config.duration.as_nanos() as u64;

    let feed_core = config.feed_core;
    let feed_stop = Arc::clone(&stop);
    let feed_thread = thread::spawn(move || {
        let mut warnings = Vec::new();
        pin(feed_core, "feed", &mut warnings);
        let mut feed = feed;
        let mut backlog = Backlog::default();
        let mut produced = 0u64;
        let start = clock.now_ns();
        let interval = if rate > 0 {
            1_000_000_000f64 / rate as f64
        } else {
            0.0
        };
        while !feed_stop.load(Ordering::Relaxed) {
            let now = clock.now_ns();
            if now - start >= duration_ns {
                break;
            }
            backlog.drain_into(&mut to_strategy);
            // Open loop: the next update is due at its scheduled time, whatever happened.
            let due = start + (produced as f64 * interval) as u64;
            if now < due {
                if idle == Idle::Spin || due - now < 20_000 {
                    std::hint::spin_loop();
                } else {
                    thread::sleep(Duration::from_nanos((due - now) / 2));
                }
                continue;
            }
            let Some(mut update) = feed.next() else { break };
            // Stamp the scheduled time, not the send time, so queueing delay counts.
            update.received_at = if rate > 0 { due } else { clock.now_ns() };
            produced += 1;
            forward(update, &mut to_strategy, &mut backlog);
        }
        // Hand over what still waits: the newest state of every account reaches the strategy.
        while !backlog.is_empty() {
            backlog.drain_into(&mut to_strategy);
            if to_strategy.is_abandoned() {
                break;
            }
            std::hint::spin_loop();
        }
        (produced, backlog.coalesced, warnings)
    });

    let executor_stop = Arc::clone(&stop);
    let executor_thread = thread::spawn(move || {
        let mut executed = histogram();
        let (mut orders, mut pnl_usd) = (0u64, 0.0f64);
        loop {
            match from_strategy.pop() {
                Some(Decision::Execute(order)) => {
                    orders += 1;
                    let _ =
                        executed.record(clock.now_ns().saturating_sub(order.received_at).max(1));
                }
                Some(Decision::Filled(fill)) => pnl_usd += fill.pnl_usd,
                Some(Decision::Rejected { .. }) => {}
                None => {
                    if executor_stop.load(Ordering::Relaxed) && from_strategy.is_abandoned() {
                        break;
                    }
                    // Woken by the strategy when it sends something (decisions are rare); the
                    // timeout only bounds the wait for the stop signal.
                    thread::park_timeout(Duration::from_millis(5));
                }
            }
        }
        (executed, orders, pnl_usd)
    });

    let executor_handle = executor_thread.thread().clone();

    let strategy_core = config.strategy_core;
    let strategy_stop = Arc::clone(&stop);
    let strategy_thread = thread::spawn(move || {
        let mut warnings = Vec::new();
        pin(strategy_core, "strategy", &mut warnings);
        let mut strategy = strategy;
        let mut stages: Vec<Histogram<u64>> = (0..3).map(|_| histogram()).collect();
        let mut out: Vec<Decision> = Vec::with_capacity(64);
        let mut processed = 0u64;
        let mut idle_spins = 0u32;
        loop {
            match from_feed.pop() {
                Some(update) => {
                    idle_spins = 0;
                    out.clear();
                    let event = Event::Account(update);
                    let _ = strategy.process(&event, &clock, &mut out);
                    processed += 1;
                    let s = strategy.stamps();
                    for (h, at) in
                        stages
                            .iter_mut()
                            .zip([s.decoded_at, s.detected_at, s.decided_at])
                    {
                        let _ = h.record(at.saturating_sub(s.received_at).max(1));
                    }
                    if !out.is_empty() {
                        for d in out.drain(..) {
                            let _ = to_executor.push(d);
                        }
                        executor_handle.unpark();
                    }
                }
                None => {
                    if strategy_stop.load(Ordering::Relaxed) && from_feed.is_abandoned() {
                        break;
                    }
                    idle_spins += 1;
                    if idle_spins.is_multiple_of(1024) {
                        out.clear();
                        let _ = strategy.process(&Event::Tick, &clock, &mut out);
                        if !out.is_empty() {
                            for d in out.drain(..) {
                                let _ = to_executor.push(d);
                            }
                            executor_handle.unpark();
                        }
                    }
                    match idle {
                        Idle::Spin => std::hint::spin_loop(),
                        Idle::Park => thread::park_timeout(Duration::from_micros(50)),
                    }
                }
            }
        }
        (strategy, stages, processed, warnings)
    });

    let started = clock.now_ns();
    let (produced, coalesced, mut warnings) =
        feed_thread
            .join()
            .unwrap_or((0, 0, vec!["feed thread panicked".into()]));
    stop.store(true, Ordering::Relaxed);
    let joined = strategy_thread.join();
    let elapsed_ns = clock.now_ns() - started;
    let Ok((strategy, mut stages, processed, w)) = joined else {
        // The strategy never panics on outside data; reaching this is a bug worth a loud stop.
        panic!("strategy thread panicked");
    };
    warnings.extend(w);
    let (executed, orders, pnl_usd) = executor_thread.join().unwrap_or((histogram(), 0, 0.0));
    stages.push(executed);
    let counters = strategy.counters();
    (
        RunReport {
            stages,
            produced,
            processed,
            coalesced,
            elapsed_ns,
            counters,
            orders,
            pnl_usd,
            warnings,
        },
        strategy,
    )
}
