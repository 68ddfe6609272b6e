//! The runtime every bot runs: a burst larger than the ring coalesces and the newest state of
//! every account arrives; the strategy thread runs where the plan puts it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sniperforge_bots::feed::{FeedEvent, RunClock, Universe};
use sniperforge_bots::runtime::strategy::{Gate, StrategyWorker};
use sniperforge_bots::runtime::{self, Feed, Ingress, Plan, Produce, RuntimeStats, Sink};
use sniperforge_engine::PoolIndex;
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    Decision, MonotonicClock, RiskLimits, Strategy, StrategyConfig,
};

/// Hands over a fixed list of updates as fast as it can (coalescing when the ring is full).
struct Burst {
    updates: std::vec::IntoIter<AccountUpdate>,
}

impl Produce for Burst {
    fn due(&mut self) -> Option<u64> {
        (self.updates.len() > 0).then_some(0)
    }

    fn produce(&mut self, ingress: &mut Ingress, at: u64) -> bool {
        if let Some(mut u) = self.updates.next() {
            u.received_at = at;
            ingress.push(FeedEvent::Account(u));
        }
        true
    }

    fn scheduled(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct Count {
    decisions: u64,
    recorded: u64,
}

impl Sink for Count {
    fn on_decision(&mut self, _: &Decision, _: u64) {
        self.decisions += 1;
    }
    fn on_interval(&mut self, stages: &[Histogram<u64>]) {
        self.recorded += stages[0].len();
    }
    fn housekeeping(&mut self) {}
    fn finish(&mut self) {}
}

fn strategy_of(sim: &mut Simulator) -> Strategy {
    let universe = Universe::from_sim(sim);
    Strategy::new(
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
            paper_latency_ns: 400_000,
            slippage_bps: 30,
            route_fee_bps: 0,
            mints: sim.mint_infos(),
        },
    )
}

#[test]
fn a_burst_larger_than_the_ring_coalesces_and_the_newest_state_of_every_account_arrives() {
    let mut sim = Simulator::new(SimConfig {
        seed: 5,
        noise_scale: 10.0,
        ..SimConfig::default()
    });
    let strategy = strategy_of(&mut sim);
    let mut reference = strategy_of(&mut sim);
    let burst: Vec<AccountUpdate> = (0..20_000).map(|_| sim.next_update()).collect();
    for u in &burst {
        reference.load(u).unwrap();
    }
    let produced = burst.len() as u64;
    // A 4-slot ring: far less than the burst.
    let (ingress, egress) = runtime::channel(4);
    let ingress_stats = Arc::clone(ingress.stats());
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(RuntimeStats::default());
    let clock = MonotonicClock::new();
    let running = runtime::start(
        &Plan::new(&[], &[], false, false),
        Feed::Produced(
            ingress,
            Box::new(Burst {
                updates: burst.into_iter(),
            }),
        ),
        egress,
        StrategyWorker::new(
            Box::new(strategy),
            RunClock::Wall(clock),
            Arc::new(Gate::default()),
            None,
        ),
        Count::default(),
        clock,
        Arc::clone(&stop),
        Arc::clone(&stats),
        "burst",
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Done when every update was processed or replaced by a newer state of its account.
    while stats.processed.load(Ordering::Relaxed) + ingress_stats.coalesced.load(Ordering::Relaxed)
        < produced
    {
        assert!(Instant::now() < deadline, "the burst never drained");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (worker, count) = running.join().unwrap();
    let coalesced = ingress_stats.coalesced.load(Ordering::Relaxed);
    let processed = stats.processed.load(Ordering::Relaxed);
    assert_eq!(ingress_stats.produced.load(Ordering::Relaxed), produced);
    assert_eq!(processed + coalesced, produced);
    assert!(coalesced > 0, "the 4-slot ring never filled");
    assert_eq!(
        count.recorded, processed,
        "every update's stages reached the executor"
    );
    let market = worker.strategy().market();
    for i in 0..market.pool_count() {
        let i = PoolIndex(i as u32);
        assert_eq!(
            market.pool(i),
            reference.market().pool(i),
            "pool {i:?}: the newest state arrived"
        );
    }
    assert_eq!(worker.strategy().counters().stale, 0);
}

#[test]
fn the_strategy_thread_runs_on_its_reserved_core() {
    let allowed = runtime::affinity::allowed_cores().to_vec();
    assert!(!allowed.is_empty(), "no affinity mask");
    let core = *allowed.last().unwrap();
    let plan = Plan::new(&[core], &allowed, false, false);
    let mut sim = Simulator::new(SimConfig::default());
    let strategy = strategy_of(&mut sim);
    let (ingress, egress) = runtime::channel(64);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(RuntimeStats::default());
    let clock = MonotonicClock::new();
    let running = runtime::start(
        &plan,
        Feed::Produced(
            ingress,
            Box::new(sniperforge_bots::feed::SimFeed::new(Box::new(sim), 1_000)),
        ),
        egress,
        StrategyWorker::new(
            Box::new(strategy),
            RunClock::Wall(clock),
            Arc::new(Gate::default()),
            None,
        ),
        Count::default(),
        clock,
        Arc::clone(&stop),
        stats,
        "pin",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut seen = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let status =
            std::fs::read_to_string(task.unwrap().path().join("status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        seen.push((field("Name:"), field("Cpus_allowed_list:")));
    }
    stop.store(true, Ordering::Relaxed);
    running.join().unwrap();
    let strategy = seen
        .iter()
        .find(|(n, _)| n == "strategy-pin")
        .expect("strategy thread");
    assert_eq!(strategy.1, core.to_string(), "{seen:?}");
    if allowed.len() > 1 {
        let exec = seen
            .iter()
            .find(|(n, _)| n == "exec-pin")
            .expect("executor thread");
        let exec_cores: Vec<usize> = exec
            .1
            .split(',')
            .flat_map(|part| match part.split_once('-') {
                Some((a, b)) => (a.parse::<usize>().unwrap()..=b.parse().unwrap()).collect(),
                None => vec![part.parse::<usize>().unwrap()],
            })
            .collect();
        assert!(
            !exec_cores.contains(&core),
            "the executor stays off the reserved core: {seen:?}"
        );
    }
}
