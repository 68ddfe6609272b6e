//! No allocation on the hot path: over 100,000 updates in steady state, the feed thread's
//! hand-off (pooled buffers, the SPSC ring) and the strategy thread (decode, detect, size,
//! decide, record stages) allocate nothing. A counting allocator counts per thread.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built
#![allow(unsafe_code)] // a global allocator is unsafe to implement; it only forwards to System

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sniperforge_bots::feed::{FeedEvent, RunClock, Universe};
use sniperforge_bots::runtime::strategy::{Gate, StrategyWorker};
use sniperforge_bots::runtime::{self, Feed, Ingress, Plan, Produce, RuntimeStats, Sink, Worker};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    Decision, MonotonicClock, RiskLimits, Strategy, StrategyConfig,
};

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

struct Counting;

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged;
// the counter touches only an atomic and a const-initialised thread-local (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: u64 = 30_000;
const MEASURED: u64 = 100_000;
/// Updates per second.
const RATE: u64 = 50_000;

/// Cycles through recorded simulator updates, each a fresh write (newer slot and version),
/// copied into a pooled buffer the way a network feed fills one, on an open-loop schedule the
/// strategy keeps up with (steady state: the ring does not keep deepening, so the pool has
/// every buffer it needs); never coalesces.
struct Cycle {
    updates: Vec<AccountUpdate>,
    sent: u64,
}

impl Produce for Cycle {
    fn due(&mut self) -> Option<u64> {
        (self.sent < WARM_UP + MEASURED + 1_000).then_some(self.sent * 1_000_000_000 / RATE)
    }

    fn produce(&mut self, ingress: &mut Ingress, at: u64) -> bool {
        COUNTED.with(|c| c.set(true));
        let u = &self.updates[(self.sent % self.updates.len() as u64) as usize];
        self.sent += 1;
        let mut data = ingress.buffer_for(u.data.len());
        data.extend_from_slice(&u.data);
        ingress.push_lossless(
            FeedEvent::Account(AccountUpdate {
                data,
                slot: 1_000 + self.sent / 8,
                write_version: 1_000_000 + self.sent,
                received_at: at,
                ..*u
            }),
            std::hint::spin_loop,
        )
    }
}

/// The arbitrage worker, counted: notes the allocation counter at the window's two ends.
struct Measured {
    inner: StrategyWorker,
    seen: u64,
    marks: Arc<[AtomicU64; 2]>,
}

impl Worker for Measured {
    fn on_account(&mut self, update: &AccountUpdate, out: &mut Vec<Decision>) -> [u64; 4] {
        COUNTED.with(|c| c.set(true));
        self.seen += 1;
        if self.seen == WARM_UP {
            self.marks[0].store(ALLOCATIONS.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        if self.seen == WARM_UP + MEASURED {
            self.marks[1].store(ALLOCATIONS.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.inner.on_account(update, out)
    }
    fn on_event(&mut self, event: FeedEvent, out: &mut Vec<Decision>) {
        self.inner.on_event(event, out);
    }
    fn tick(&mut self, out: &mut Vec<Decision>) {
        self.inner.tick(out);
    }
    fn housekeeping(&mut self, out: &mut Vec<Decision>) {
        self.inner.housekeeping(out);
    }
}

#[derive(Default)]
struct Orders(u64);

impl Sink for Orders {
    fn on_decision(&mut self, d: &Decision, _: u64) {
        self.0 += u64::from(matches!(d, Decision::Execute(_)));
    }
    fn on_interval(&mut self, _: &[Histogram<u64>]) {}
    fn housekeeping(&mut self) {}
    fn finish(&mut self) {}
}

#[test]
fn the_hot_path_allocates_nothing_per_update_in_steady_state() {
    let mut sim = Simulator::new(SimConfig {
        seed: 3,
        noise_scale: 10.0,
        ..SimConfig::default()
    });
    let universe = Universe::from_sim(&mut sim);
    let strategy = Strategy::new(
        universe.market(),
        StrategyConfig {
            base_mints: sim.default_base_mints(),
            max_hops: 3,
            risk: RiskLimits {
                min_profit_bps: 1,
                max_state_age_slots: 1_000_000,
                max_concurrent_trades: 8,
                min_confidence: 0.0,
            },
            paper_latency_ns: 0,
            slippage_bps: 30,
            route_fee_bps: 0,
            mints: sim.mint_infos(),
        },
    );
    let updates: Vec<AccountUpdate> = (0..20_000).map(|_| sim.next_update()).collect();
    let (ingress, egress) = runtime::channel(runtime::RING_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(RuntimeStats::default());
    let clock = MonotonicClock::new();
    let marks: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let running = runtime::start(
        &Plan::new(&[], &[], false, false),
        Feed::Produced(ingress, Box::new(Cycle { updates, sent: 0 })),
        egress,
        Measured {
            inner: StrategyWorker::new(
                Box::new(strategy),
                RunClock::Wall(clock),
                Arc::new(Gate::default()),
                None,
            ),
            seen: 0,
            marks: Arc::clone(&marks),
        },
        Orders::default(),
        clock,
        Arc::clone(&stop),
        Arc::clone(&stats),
        "alloc",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while marks[1].load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "the window never closed");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (worker, orders) = running.join().unwrap();
    let counters = worker.inner.strategy().counters();
    let (start, end) = (
        marks[0].load(Ordering::Relaxed),
        marks[1].load(Ordering::Relaxed),
    );
    // The window did real work: detection ran and decisions were taken.
    assert!(counters.candidates > 0, "{counters:?}");
    assert!(orders.0 > 0, "no order in the run: {counters:?}");
    assert_eq!(
        end - start,
        0,
        "allocations on the feed and strategy threads over {MEASURED} updates ({counters:?})"
    );
}
