//! The engine beside the brute-force baseline on the same market and the same updates: time
//! per update, opportunities found, and a check that the engine finds everything it finds.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;

use hdrhistogram::Histogram;
use sniperforge_engine::baseline::BruteForce;
use sniperforge_engine::cycles::Hop;
use sniperforge_engine::market::PoolIndex;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    BaseMint, Decision, Event, ManualClock, Order, RiskLimits, Strategy, StrategyConfig,
};
use sniperforge_protocol::telemetry::Percentiles;

/// What the comparison measured.
#[derive(Debug)]
pub struct BaselineReport {
    /// Updates replayed.
    pub updates: usize,
    /// Per-update time of the engine (ns): decode, detection, ranking, exact sizing and
    /// confirmation of what it orders, risk gates, paper fills.
    pub ours: Percentiles,
    /// Per-update time of the brute-force search (ns).
    pub baseline: Percentiles,
    /// Routes the engine flagged as profitable (each when one of its pools changed).
    pub ours_found: u64,
    /// Of those, routes it sized with exact quotes and ordered.
    pub ours_ordered: u64,
    /// Flagged routes left unsized because a better-ranked route through the same changed pool
    /// was ordered on that update (`Counters::overlapping`).
    pub ours_unsized: u64,
    /// Ordered routes the baseline also found on that update, and how many of them the
    /// baseline's own sizing made more profit on.
    pub ordered_compared: u64,
    /// See `ordered_compared`.
    pub ordered_below: u64,
    /// Profitable paths the baseline reported, summed over updates (it re-finds standing ones).
    pub baseline_found: u64,
    /// Distinct (path, update) findings of the baseline the engine did not hold (had not
    /// flagged, on that update or since the last change of one of the route's pools).
    pub missed: u64,
    /// Cycles the engine indexes.
    pub cycles: usize,
}

fn hist() -> Histogram<u64> {
    sniperforge_protocol::telemetry::latency_histogram()
}

/// Replays `updates` simulator updates through both. `volatile`: no competing arbitrageurs and
/// 30× noise swaps (gaps everywhere, every update); otherwise the default simulator.
pub fn compare(seed: u64, updates: usize, volatile: bool) -> BaselineReport {
    // A volatile market without competing arbitrageurs: reference prices jump often and gaps
    // stand until noise closes them, so both searches have something to find.
    let mut sim = Simulator::new(if volatile {
        SimConfig {
            seed,
            competitors: false,
            noise_scale: 30.0,
            ..SimConfig::default()
        }
    } else {
        SimConfig {
            seed,
            ..SimConfig::default()
        }
    });
    let bases = sim.default_base_mints();
    let mut market_b = sim.market();
    let market = sim.market();
    let brute = BruteForce {
        bases: bases
            .iter()
            .filter_map(|b| market_b.mint_index(&b.mint).map(|m| (m, b.max_trade)))
            .collect(),
        max_hops: 3,
        unix_timestamp: 0,
    };
    // The engine trades as a bot does, with no gate that could hide work: any profit counts
    // (the baseline's rule), no limit on orders in flight, paper fills after 400 µs. On each
    // update it flags the profitable routes through the changed pool, ranks them by the
    // closed form, and sizes and confirms with exact quotes the best one (the next ones only
    // while the exact quotes find the better ones too thin); the others trade the same
    // dislocation and are left unsized.
    let any_profit: Vec<BaseMint> = bases
        .iter()
        .map(|b| BaseMint {
            min_profit: 0,
            ..b.clone()
        })
        .collect();
    let mut strategy = Strategy::new(
        market,
        StrategyConfig {
            base_mints: any_profit,
            max_hops: 3,
            risk: RiskLimits {
                min_profit_bps: 0,
                max_state_age_slots: u64::MAX,
                max_concurrent_trades: usize::MAX,
                min_confidence: 0.0,
            },
            paper_latency_ns: 400_000,
            slippage_bps: 30,
            route_fee_bps: 0,
            mints: sim.mint_infos(),
        },
    );
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    let (mut ours_h, mut base_h) = (hist(), hist());
    let (mut ours_found, mut ours_ordered, mut baseline_found, mut missed) = (0u64, 0, 0, 0);
    let (mut ordered_compared, mut ordered_below) = (0u64, 0u64);
    let mut held: HashSet<Vec<Hop>> = HashSet::new();
    let mut changed = Vec::new();
    // Standing opportunities at the start: both see them (the engine sizes every route once).
    strategy.scan_all(&clock, &mut out);
    for d in out.drain(..) {
        if let Decision::Execute(Order { opportunity, .. })
        | Decision::Rejected { opportunity, .. } = d
        {
            held.insert(strategy.cycles().cycle(opportunity.cycle).hops().to_vec());
        }
    }
    for _ in 0..updates {
        let update = sim.next_update();
        out.clear();
        // 100,000 updates/s: paper fills come due 40 updates after their order.
        clock.advance(10_000);
        let t = Instant::now();
        let _ = strategy.process(&Event::Account(update.clone()), &clock, &mut out);
        let _ = ours_h.record(t.elapsed().as_nanos().max(1) as u64);

        let _ = market_b.apply_update(&update, &mut changed);
        let t = Instant::now();
        let found = brute.scan(&market_b);
        let _ = base_h.record(t.elapsed().as_nanos().max(1) as u64);

        let touched: Vec<PoolIndex> = changed.clone();
        held.retain(|hops| !hops.iter().any(|h| touched.contains(&h.pool)));
        // A route through two pools the update changed is flagged twice: counted once.
        for hops in strategy
            .flagged()
            .iter()
            .map(|&id| strategy.cycles().cycle(id).hops().to_vec())
            .collect::<HashSet<_>>()
        {
            ours_found += 1;
            held.insert(hops);
        }
        for d in &out {
            if let Decision::Execute(order) = d {
                ours_ordered += 1;
                let hops = strategy.cycles().cycle(order.opportunity.cycle).hops();
                if let Some(f) = found.iter().find(|f| f.hops == hops) {
                    ordered_compared += 1;
                    ordered_below += u64::from(order.opportunity.profit < f.profit);
                }
            }
        }
        baseline_found += found.len() as u64;
        missed += found.iter().filter(|f| !held.contains(&f.hops)).count() as u64;
    }
    BaselineReport {
        updates,
        ours: Percentiles::of(&ours_h),
        baseline: Percentiles::of(&base_h),
        ours_found,
        ours_ordered,
        ours_unsized: strategy.counters().overlapping,
        ordered_compared,
        ordered_below,
        baseline_found,
        missed,
        cycles: strategy.cycles().len(),
    }
}

/// The comparison as a markdown table.
pub fn markdown(r: &BaselineReport) -> String {
    let us = |ns: u64| ns as f64 / 1_000.0;
    let mut s = String::new();
    let _ = writeln!(s, "| per update | p50 µs | p99 µs | p99.9 µs | max µs |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (name, p) in [
        (
            "SniperForge (incremental, closed form, exact sizing of what it orders)",
            &r.ours,
        ),
        ("brute force (DFS ≤ 3 hops, sizes N, N/2, …)", &r.baseline),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            us(p.p50),
            us(p.p99),
            us(p.p999),
            us(p.max)
        );
    }
    let _ = writeln!(
        s,
        "\n{} updates, {} indexed cycles. Speed-up at p50: {:.0}×, at p99: {:.0}×. Opportunities: SniperForge flagged {} \
         (each when one of its pools changed), sized and ordered {} and left {} unsized (a better-ranked route through the same pool was ordered); \
         the baseline found {} (re-finding standing ones on every update). \
         Baseline findings the engine had not flagged: {}. Ordered routes the baseline also found: {}, of which the baseline's \
         sizing made more profit on {}.",
        r.updates,
        r.cycles,
        r.baseline.p50 as f64 / r.ours.p50.max(1) as f64,
        r.baseline.p99 as f64 / r.ours.p99.max(1) as f64,
        r.ours_found,
        r.ours_ordered,
        r.ours_unsized,
        r.baseline_found,
        r.missed,
        r.ordered_compared,
        r.ordered_below
    );
    s
}
