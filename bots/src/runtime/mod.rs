//! The one runtime every market bot runs and both latency benches drive: a feed thread hands
//! account updates to a pinned strategy thread through a bounded lock-free SPSC ring (or, with
//! one reserved core, one thread reads, decodes, detects and decides), and an executor thread
//! on an unreserved core books what the strategy decided. Stage latencies are recorded on the
//! strategy thread into HDR histograms and shipped to the executor thread every housekeeping
//! interval through a second ring, with no lock and no allocation per update.

pub mod affinity;
pub use sniperforge_engine::ingress;
pub mod strategy;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use hdrhistogram::Histogram;
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::ring::ring;
use sniperforge_engine::strategy::{Clock, Decision, MonotonicClock};

pub use affinity::{Layout, Plan};
pub use ingress::{Egress, Ingress, channel};

use crate::feed::FeedEvent;

/// Stages recorded per account update, each in ns from ingress.
pub use sniperforge_protocol::control::STAGES;

/// The highest scheduled rate a feed may be given (updates per second): past it the schedule's
/// interval is below the clock's resolution.
pub const MAX_RATE: u64 = 10_000_000;

/// Slots of the feed→strategy ring.
pub const RING_CAPACITY: usize = 8_192;

/// How often the strategy thread ships its histograms and runs its worker's housekeeping.
pub const HOUSEKEEPING: Duration = Duration::from_millis(50);

/// A parking feed (or run-to-completion) thread wakes at most this often (ns) and hands over
/// what came due meanwhile: a scheduled feed at 20,000 updates/s then wakes 1,000 times a
/// second, not 20,000 (seven parking bots on two cores stay light), and its updates wait up to
/// this long, which their scheduled stamps count.
pub const PARK_QUANTUM_NS: u64 = 1_000_000;

/// Sleeps of the calling thread end when asked, not up to 50 µs later (the default timer
/// slack), so a parking feed keeps its schedule.
fn precise_sleeps() {
    let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
}

/// What the strategy thread runs.
pub trait Worker: Send + 'static {
    /// An account update: decisions into `out`; the stage times `[received, decoded, detected,
    /// decided]` (ns).
    fn on_account(&mut self, update: &AccountUpdate, out: &mut Vec<Decision>) -> [u64; 4];
    /// Any other feed event (a slot, a resynchronising snapshot, a broken stream).
    fn on_event(&mut self, event: FeedEvent, out: &mut Vec<Decision>);
    /// Nothing is waiting: settle what has come due (paper fills).
    fn tick(&mut self, out: &mut Vec<Decision>);
    /// Every [`HOUSEKEEPING`]: hot configuration, live results, publishing.
    fn housekeeping(&mut self, out: &mut Vec<Decision>);
    /// Everything decided so far has reached the executor's ring (called when idle and at
    /// housekeeping): acknowledge a handover's drain request once no order is in flight.
    /// `true`: acknowledged now (the executor is woken to persist).
    fn quiesce(&mut self) -> bool {
        false
    }
}

/// What the executor thread runs (never on a reserved core).
pub trait Sink: Send + 'static {
    /// A decision of the strategy thread; `now` on the runtime's clock.
    fn on_decision(&mut self, decision: &Decision, now: u64);
    /// The strategy thread's stage histograms since the last call (one per [`STAGES`]).
    fn on_interval(&mut self, stages: &[Histogram<u64>]);
    /// Every [`HOUSEKEEPING`].
    fn housekeeping(&mut self);
    /// The runtime stops: flush what is kept.
    fn finish(&mut self);
    /// Whether the strategy thread has acknowledged a drain this sink has not persisted yet
    /// (read before the executor empties its ring, so every decision taken before the
    /// acknowledgement is booked first).
    fn flush_requested(&self) -> bool {
        false
    }
    /// Persists what it keeps and acknowledges the drain ([`Sink::flush_requested`]).
    fn flush(&mut self) {}
}

/// A feed the runtime drives on schedule (the simulator, a recording).
pub trait Produce: Send + 'static {
    /// When the next event is due, in ns after the feed started; `None`: nothing more.
    fn due(&mut self) -> Option<u64>;
    /// Hands the due event to `ingress`, stamped `at` (its due time on the runtime's clock for
    /// a scheduled feed, so queueing delay counts; the time of reading for one that is not).
    /// `false`: the strategy thread is gone.
    fn produce(&mut self, ingress: &mut Ingress, at: u64) -> bool;
    /// Whether [`Produce::due`] is a schedule (open loop) rather than "now" (as fast as taken).
    fn scheduled(&self) -> bool {
        true
    }
    /// Gets the next event ready while the runtime waits for its due time (the simulator
    /// builds it then, as an exchange has its message ready before it is sent, so the hot
    /// path measures handing it over, not making it).
    fn prepare(&mut self) {}
    /// Whether every decision must reach the executor, rejections too (a replay, whose counts
    /// a backtest reports): they then wait with the orders when its ring is full, rather than
    /// being dropped and counted in `decisions_dropped`.
    fn keeps_every_decision(&self) -> bool {
        false
    }
}

/// Where the events come from.
#[allow(clippy::large_enum_variant)] // one per runtime, moved once
pub enum Feed {
    /// A feed the runtime runs, on the feed thread or inline (run to completion).
    Produced(Ingress, Box<dyn Produce>),
    /// A feed with a thread of its own (a Solana reader), pushing into the ingress it holds.
    External,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Produced(..) => "Feed::Produced",
            Self::External => "Feed::External",
        })
    }
}

/// Counters the runtime keeps, readable from anywhere.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    /// Events the strategy thread has processed (updated every housekeeping interval).
    pub processed: AtomicU64,
    /// Rejections dropped because the executor ring was full (orders and fills wait instead).
    pub decisions_dropped: AtomicU64,
    /// Pinning that failed, in words (set once at start).
    pub pin_errors: std::sync::Mutex<Vec<String>>,
}

/// systemd's watchdog, pinged from the strategy loop at half its interval (nothing without
/// `$WATCHDOG_USEC`, as outside systemd).
struct Watchdog {
    notifier: sniperforge_host::notify::Notifier,
    every: Duration,
    last: std::time::Instant,
}

impl Watchdog {
    fn from_env() -> Option<Self> {
        let interval = sniperforge_host::notify::watchdog_interval()?;
        match sniperforge_host::notify::Notifier::from_env() {
            Ok(Some(notifier)) => Some(Self {
                notifier,
                every: interval / 2,
                last: std::time::Instant::now(),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "systemd watchdog: $NOTIFY_SOCKET unusable");
                None
            }
        }
    }

    fn ping(&mut self) {
        if self.last.elapsed() >= self.every {
            self.last = std::time::Instant::now();
            if let Err(e) = self.notifier.notify("WATCHDOG=1") {
                tracing::warn!(error = %e, "systemd watchdog ping");
            }
        }
    }
}

/// A running runtime: join it after setting the stop flag.
pub struct Running<W, S> {
    strategy: JoinHandle<W>,
    executor: JoinHandle<S>,
    feed: Option<JoinHandle<()>>,
    /// Its counters.
    pub stats: Arc<RuntimeStats>,
}

impl<W, S> std::fmt::Debug for Running<W, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").finish_non_exhaustive()
    }
}

impl<W, S> Running<W, S> {
    /// Waits for every thread (set the stop flag first); the worker and the sink come back.
    /// `Err` names a thread that panicked.
    pub fn join(self) -> Result<(W, S), Panicked> {
        let worker = self.strategy.join().map_err(|_| Panicked("strategy"))?;
        let sink = self.executor.join().map_err(|_| Panicked("executor"))?;
        if let Some(f) = self.feed {
            f.join().map_err(|_| Panicked("feed"))?;
        }
        Ok((worker, sink))
    }
}

/// A runtime thread that panicked: `strategy`, `executor` or `feed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {0} thread panicked")]
pub struct Panicked(pub &'static str);

fn histograms() -> Vec<Histogram<u64>> {
    STAGES
        .iter()
        .map(|_| sniperforge_protocol::telemetry::latency_histogram())
        .collect()
}

fn note_pin(stats: &RuntimeStats, role: &str, result: Result<(), affinity::PinError>) {
    if let Err(e) = result {
        tracing::warn!(role, error = %e, "thread not pinned");
        stats
            .pin_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(format!("{role} thread not pinned: {e}"));
    }
}

/// Drives a produced feed: hands over every event that is due by now (at most `budget`);
/// returns the due time of the next one still waiting (`None`: the feed is over or its
/// consumer gone).
fn produce_due(
    source: &mut dyn Produce,
    ingress: &mut Ingress,
    start: u64,
    clock: &MonotonicClock,
    budget: usize,
) -> Option<u64> {
    let now = clock.now_ns();
    for _ in 0..budget {
        let due = start.saturating_add(source.due()?);
        if due > now {
            return Some(due);
        }
        let at = if source.scheduled() {
            due
        } else {
            clock.now_ns()
        };
        if !source.produce(ingress, at) {
            return None;
        }
    }
    Some(now)
}

/// Starts the runtime: the strategy thread runs `worker` on what `egress` delivers (fed by
/// `feed`), the executor thread runs `sink`, both placed by `plan`; `stats` counts. Threads end
/// when `stop` is set.
#[allow(clippy::too_many_arguments)]
pub fn start<W: Worker, S: Sink>(
    plan: &Plan,
    feed: Feed,
    egress: Egress,
    worker: W,
    sink: S,
    clock: MonotonicClock,
    stop: Arc<AtomicBool>,
    stats: Arc<RuntimeStats>,
    name: &str,
) -> std::io::Result<Running<W, S>> {
    let keep_all = matches!(&feed, Feed::Produced(_, source) if source.keeps_every_decision());
    let (mut to_executor, mut decisions) = ring::<Decision>(4_096);
    let (mut intervals_tx, mut intervals_rx) = ring::<Vec<Histogram<u64>>>(4);
    let (mut spare_tx, mut spare_rx) = ring::<Vec<Histogram<u64>>>(4);
    for _ in 0..2 {
        let _ = spare_tx.push(histograms());
    }

    let executor = {
        let (stats, stop, others) = (Arc::clone(&stats), Arc::clone(&stop), plan.others.clone());
        let mut sink = sink;
        thread::Builder::new()
            .name(format!("exec-{name}"))
            .spawn(move || {
                note_pin(&stats, "executor", affinity::confine_current(&others));
                let mut last = clock.now_ns();
                loop {
                    let mut busy = false;
                    let flush = sink.flush_requested();
                    while let Some(d) = decisions.pop() {
                        sink.on_decision(&d, clock.now_ns());
                        busy = true;
                    }
                    while let Some(mut set) = intervals_rx.pop() {
                        sink.on_interval(&set);
                        set.iter_mut().for_each(Histogram::reset);
                        let _ = spare_tx.push(set);
                    }
                    if flush {
                        sink.flush();
                    }
                    let now = clock.now_ns();
                    if now - last >= HOUSEKEEPING.as_nanos() as u64 {
                        last = now;
                        sink.housekeeping();
                    }
                    if stop.load(Ordering::Relaxed) && decisions.is_abandoned() {
                        while let Some(d) = decisions.pop() {
                            sink.on_decision(&d, clock.now_ns());
                        }
                        while let Some(set) = intervals_rx.pop() {
                            sink.on_interval(&set);
                        }
                        sink.housekeeping();
                        sink.finish();
                        return sink;
                    }
                    if !busy {
                        // Woken by the strategy thread when it decides (rarely); the timeout
                        // bounds housekeeping and the wait for the stop flag.
                        thread::park_timeout(Duration::from_millis(5));
                    }
                }
            })?
    };
    let executor_thread = executor.thread().clone();

    let (inline, feed_thread) = match (plan.layout, feed) {
        (Layout::RunToCompletion, Feed::Produced(ingress, source)) => {
            (Some((ingress, source)), None)
        }
        (_, Feed::Produced(mut ingress, mut source)) => {
            let (stats, stop, core, spin) =
                (Arc::clone(&stats), Arc::clone(&stop), plan.feed, plan.spin);
            let handle = thread::Builder::new()
                .name(format!("feed-{name}"))
                .spawn(move || {
                    note_pin(&stats, "feed", affinity::pin_current(core));
                    precise_sleeps();
                    let start = clock.now_ns();
                    while !stop.load(Ordering::Relaxed) {
                        ingress.flush();
                        let now = clock.now_ns();
                        let Some(next) =
                            produce_due(&mut *source, &mut ingress, start, &clock, 256)
                        else {
                            break;
                        };
                        if next > now {
                            source.prepare();
                            let wait = next.saturating_sub(clock.now_ns());
                            if spin {
                                std::hint::spin_loop();
                            } else {
                                // Parking: wake at most every PARK_QUANTUM and hand over what
                                // came due meanwhile (stamped at its scheduled time, so the
                                // wait counts); at most 1 ms at a time, so a recording's long
                                // gap does not hold up the stop flag.
                                thread::sleep(Duration::from_nanos(
                                    wait.clamp(PARK_QUANTUM_NS, 1_000_000),
                                ));
                            }
                        }
                    }
                    // What still waits reaches the strategy (the newest state of every account).
                    while !ingress.flush()
                        && !ingress.is_abandoned()
                        && !stop.load(Ordering::Relaxed)
                    {
                        thread::sleep(Duration::from_micros(50));
                    }
                })?;
            (None, Some(handle))
        }
        (_, Feed::External) => (None, None),
    };

    let strategy = {
        let (stats, stop, core, spin) = (
            Arc::clone(&stats),
            Arc::clone(&stop),
            plan.strategy,
            plan.spin,
        );
        let mut worker = worker;
        let mut egress = egress;
        let mut inline = inline;
        thread::Builder::new()
            .name(format!("strategy-{name}"))
            .spawn(move || {
                note_pin(&stats, "strategy", affinity::pin_current(core));
                precise_sleeps();
                // Under systemd with WatchdogSec, this loop is what keeps the unit alive: a
                // wedged strategy thread stops the pings and systemd restarts the bot.
                let mut watchdog = Watchdog::from_env();
                let mut local = histograms();
                let mut out: Vec<Decision> = Vec::with_capacity(64);
                let housekeeping_ns = HOUSEKEEPING.as_nanos() as u64;
                let mut last_housekeeping = clock.now_ns();
                let feed_start = clock.now_ns();
                let mut next_due = Some(feed_start);
                let (mut processed, mut idle, mut polls) = (0u64, 0u32, 0u32);
                // Orders and fills the executor ring had no room for wait here (the loss limits
                // must see every fill); a rejection is only counted then.
                let mut spilled: std::collections::VecDeque<Decision> = Default::default();
                // Returns whether everything reached the executor's ring.
                let mut send = |out: &mut Vec<Decision>| -> bool {
                    if out.is_empty() && spilled.is_empty() {
                        return true;
                    }
                    while let Some(d) = spilled.pop_front() {
                        if let Err(d) = to_executor.push(d) {
                            spilled.push_front(d);
                            break;
                        }
                    }
                    for d in out.drain(..) {
                        let d = if spilled.is_empty() {
                            match to_executor.push(d) {
                                Ok(()) => continue,
                                Err(d) => d,
                            }
                        } else {
                            d
                        };
                        if matches!(d, Decision::Rejected { .. }) && !keep_all {
                            stats.decisions_dropped.fetch_add(1, Ordering::Relaxed);
                        } else {
                            spilled.push_back(d);
                        }
                    }
                    executor_thread.unpark();
                    spilled.is_empty()
                };
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Some((ingress, source)) = &mut inline
                        && next_due.is_some()
                    {
                        ingress.flush();
                        let now = clock.now_ns();
                        if next_due.is_some_and(|d| d <= now) {
                            next_due = produce_due(&mut **source, ingress, feed_start, &clock, 1);
                        }
                    }
                    match egress.pop() {
                        Some(FeedEvent::Account(update)) => {
                            idle = 0;
                            let s = worker.on_account(&update, &mut out);
                            for (h, at) in local.iter_mut().zip(&s[1..]) {
                                let _ = h.record(at.saturating_sub(s[0]).max(1));
                            }
                            egress.recycle(update.data);
                            send(&mut out);
                            processed += 1;
                        }
                        Some(other) => {
                            idle = 0;
                            worker.on_event(other, &mut out);
                            send(&mut out);
                            processed += 1;
                        }
                        None => {
                            idle = idle.wrapping_add(1);
                            if let Some((_, source)) = &mut inline {
                                source.prepare();
                            }
                            // Paper fills come due while nothing arrives: a spinner settles them
                            // every 1,024 idle polls, a parked thread at every wake-up.
                            if !spin || idle.is_multiple_of(1024) {
                                worker.tick(&mut out);
                                if send(&mut out) && worker.quiesce() {
                                    executor_thread.unpark();
                                }
                            }
                            if spin {
                                std::hint::spin_loop();
                            } else if let Some((_, _)) = &inline {
                                let wait = next_due
                                    .map_or(PARK_QUANTUM_NS, |d| d.saturating_sub(clock.now_ns()));
                                if wait > 0 {
                                    thread::sleep(Duration::from_nanos(PARK_QUANTUM_NS));
                                }
                            } else {
                                // Woken by the feed's next event; the timeout bounds a missed
                                // wake-up and paces the idle ticks.
                                egress.park(Duration::from_millis(2));
                            }
                        }
                    }
                    polls = polls.wrapping_add(1);
                    if polls.is_multiple_of(64)
                        && clock.now_ns() - last_housekeeping >= housekeeping_ns
                    {
                        last_housekeeping = clock.now_ns();
                        worker.housekeeping(&mut out);
                        if send(&mut out) && worker.quiesce() {
                            executor_thread.unpark();
                        }
                        stats.processed.store(processed, Ordering::Relaxed);
                        if let Some(w) = &mut watchdog {
                            w.ping();
                        }
                        if let Some(mut spare) = spare_rx.pop() {
                            std::mem::swap(&mut spare, &mut local);
                            let _ = intervals_tx.push(spare);
                        }
                    }
                }
                // Orders and fills still waiting reach the executor before it stops (it drains
                // until this thread is gone); at most a second.
                for _ in 0..1_000 {
                    if send(&mut out) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                stats.processed.store(processed, Ordering::Relaxed);
                // The last interval reaches the executor (its spare sets come back promptly).
                for _ in 0..1_000 {
                    if let Some(mut spare) = spare_rx.pop() {
                        std::mem::swap(&mut spare, &mut local);
                        let _ = intervals_tx.push(spare);
                        break;
                    }
                    executor_thread.unpark();
                    thread::sleep(Duration::from_millis(1));
                }
                executor_thread.unpark();
                worker
            })?
    };
    Ok(Running {
        strategy,
        executor,
        feed: feed_thread,
        stats,
    })
}
