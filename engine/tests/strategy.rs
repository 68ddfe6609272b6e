//! The strategy against a brute-force oracle on random markets, sizing against an exhaustive
//! search, stale and out-of-order updates, risk gates, the paper executor and the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use common::*;

use proptest::prelude::*;
use sniperforge_engine::baseline::BruteForce;
use sniperforge_engine::market::{AccountUpdate, Market};
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    Decision, Event, ManualClock, Opportunity, Order, Rejection, RiskLimits, Strategy as Engine,
    StrategyConfig,
};
use sniperforge_engine::{PoolIndex, SwapMode};

fn random_market() -> impl Strategy<Value = Vec<(usize, usize, u64, u64)>> {
    // 4 tokens with a random "true" price each; pools priced off it by up to ±3%.
    (
        prop::collection::vec(1.0f64..1000.0, 4),
        prop::collection::vec(
            (0usize..4, 0usize..4, 1_000u64..5_000_000, -0.03f64..0.03),
            3..9,
        ),
    )
        .prop_map(|(prices, specs)| {
            specs
                .into_iter()
                .filter(|(a, b, _, _)| a != b)
                .map(|(a, b, depth, skew)| {
                    let rb = (depth as f64 * prices[a] / prices[b] * (1.0 + skew)).max(10.0) as u64;
                    (a, b, depth, rb)
                })
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn detection_finds_every_cycle_the_brute_force_oracle_finds(pools in random_market(), max_trade in 1_000u64..10_000_000) {
        let (market, _) = market_of(&pools);
        let bases = market.mint_index(&mint(0)).map(|m| vec![(m, max_trade)]).unwrap_or_default();
        let oracle = BruteForce { bases, max_hops: 3, unix_timestamp: 0 };
        let expected = oracle.scan(&market);
        let mut strategy = Engine::new(market, permissive(max_trade, 3));
        let found = opportunities(&mut strategy);
        for f in &expected {
            let ours = found.iter().find(|o| strategy.cycles().cycle(o.cycle).hops() == f.hops.as_slice());
            prop_assert!(ours.is_some(), "missed {:?} (profit {} at {})", f.hops, f.profit, f.amount_in);
            prop_assert!(ours.unwrap().profit >= f.profit, "ours {} < oracle {}", ours.unwrap().profit, f.profit);
        }
    }
}

#[test]
fn sizing_is_within_the_route_quantum_of_the_exhaustive_optimum() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(500));
    let small = (
        prop::collection::vec(1.0f64..20.0, 3),
        prop::collection::vec((0usize..3, 0usize..3, 500u64..20_000, -0.08f64..0.08), 2..5),
    );
    runner
        .run(&small, |(prices, specs)| {
            let pools: Vec<_> = specs
                .into_iter()
                .filter(|(a, b, _, _)| a != b)
                .map(|(a, b, depth, skew)| {
                    (
                        a,
                        b,
                        depth,
                        (depth as f64 * prices[a] / prices[b] * (1.0 + skew)).max(10.0) as u64,
                    )
                })
                .collect();
            let max_trade = 20_000;
            let (market, _) = market_of(&pools);
            let oracle = BruteForce {
                bases: vec![],
                max_hops: 3,
                unix_timestamp: 0,
            };
            let mut strategy = Engine::new(market, permissive(max_trade, 3));
            for o in opportunities(&mut strategy) {
                let hops = strategy.cycles().cycle(o.cycle).hops().to_vec();
                let best = (1..=max_trade)
                    .filter_map(|x| {
                        oracle
                            .route_output(strategy.market(), &hops, x)
                            .map(|out| out as i128 - x as i128)
                    })
                    .max()
                    .unwrap_or(0);
                // Each hop rounds its output down to whole units of the next token, so the
                // exact profit is a sawtooth whose teeth are one unit of each intermediate token
                // (in base units) high; the exhaustive optimum sits on the luckiest tooth. Our
                // size is within one unit plus those quanta (on real pools: a few lamports).
                let quanta: i128 = (1..hops.len())
                    .filter_map(|k| oracle.route_output(strategy.market(), &hops[..k], o.amount_in))
                    .filter(|q| *q > 0)
                    .map(|q| (o.amount_in as i128 + q as i128 - 1) / q as i128)
                    .sum();
                prop_assert!(
                    o.profit as i128 >= best - 1 - quanta,
                    "{hops:?}: ours {} vs optimum {best} (quanta {quanta})",
                    o.profit
                );
            }
            Ok(())
        })
        .unwrap();
}

fn gap_market() -> (Market, Vec<AccountUpdate>) {
    // Token 1 is cheap in pool 0 and dear in pool 1: a 2-pool cycle through mint 0.
    market_of(&[
        (0, 1, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_050_000_000),
    ])
}

#[test]
fn stale_and_out_of_order_updates_never_lead_to_a_decision() {
    let (market, _) = market_of(&[
        (0, 1, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_000_000_000),
    ]);
    let mut strategy = Engine::new(market, permissive(100_000_000, 2));
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    // A newer update (slot 5) balances pool 1; an older one (slot 3) that would open a gap
    // arrives after it, and a duplicate of the newer one too.
    let (_, newer) = v4_pool(1, 1, 0, 1_000_000_000, 1_000_000_000, 5);
    let (_, older) = v4_pool(1, 1, 0, 1_000_000_000, 1_200_000_000, 3);
    for u in &newer {
        strategy
            .process(&Event::Account(u.clone()), &clock, &mut out)
            .unwrap();
    }
    assert!(out.is_empty());
    for u in older.iter().chain(&newer) {
        strategy
            .process(&Event::Account(u.clone()), &clock, &mut out)
            .unwrap();
    }
    assert!(out.is_empty(), "stale updates decided: {out:?}");
    assert_eq!(strategy.counters().stale, 4);
    // The same gap at a newer slot does decide.
    let (_, fresh) = v4_pool(1, 1, 0, 1_000_000_000, 1_200_000_000, 6);
    for u in &fresh {
        strategy
            .process(&Event::Account(u.clone()), &clock, &mut out)
            .unwrap();
    }
    assert!(
        out.iter().any(|d| matches!(d, Decision::Execute(_))),
        "{out:?}"
    );
}

#[test]
fn a_resync_loads_whole_before_one_scan_and_confirmed_slots_keep_quiet_pools_fresh() {
    let (market, _) = market_of(&[
        (0, 1, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_000_000_000),
    ]);
    let mut config = permissive(100_000_000, 2);
    config.risk.max_state_age_slots = 10;
    let mut strategy = Engine::new(market, config);
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    // A snapshot at slot 7 whose first half opens a gap its second half closes again: loaded,
    // nothing is decided on the half-applied state, and the scan after sees no gap.
    let (_, open) = v4_pool(1, 1, 0, 1_000_000_000, 1_200_000_000, 7);
    let (_, closed) = v4_pool(1, 1, 0, 1_000_000_000, 1_000_000_000, 7);
    let mut snapshot = open.clone();
    for (i, mut u) in closed.into_iter().enumerate() {
        u.write_version = 10 + i as u64;
        snapshot.push(u);
    }
    for u in &snapshot {
        assert!(strategy.load(u).unwrap());
    }
    strategy.scan_all(&clock, &mut out);
    assert!(out.is_empty(), "{out:?}");
    // A gap at slot 8, then the cluster moves to slot 30: the pools' states are 22 slots old
    // and the route is refused, unless the feed confirmed them current.
    let (_, gap) = v4_pool(1, 1, 0, 1_000_000_000, 1_200_000_000, 8);
    for u in &gap {
        strategy.load(u).unwrap();
    }
    let slot = Event::Slot {
        slot: 30,
        unix_timestamp: 0,
    };
    strategy.process(&slot, &clock, &mut out).unwrap();
    strategy.scan_all(&clock, &mut out);
    assert!(
        out.iter().all(|d| !matches!(d, Decision::Execute(_))),
        "{out:?}"
    );
    out.clear();
    strategy.confirm_slot(30);
    strategy.scan_all(&clock, &mut out);
    assert!(
        out.iter().any(|d| matches!(d, Decision::Execute(_))),
        "{out:?}"
    );
    // A malformed account is an error and changes nothing.
    let mut bad = gap[0].clone();
    bad.data.truncate(10);
    bad.slot = 31;
    assert!(strategy.load(&bad).is_err());
}

#[test]
fn risk_gates_stop_small_stale_and_excess_trades() {
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    // Minimum profit in bps above what the gap pays.
    let (market, _) = gap_market();
    let mut config = permissive(100_000_000, 2);
    config.risk.min_profit_bps = 5_000;
    let mut s = Engine::new(market, config);
    s.scan_all(&clock, &mut out);
    assert!(out.iter().all(|d| !matches!(d, Decision::Execute(_))));
    // Absolute minimum.
    let (market, _) = gap_market();
    let mut config = permissive(100_000_000, 2);
    config.base_mints[0].min_profit = u64::MAX;
    let mut s = Engine::new(market, config);
    out.clear();
    s.scan_all(&clock, &mut out);
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Rejected {
            reason: Rejection::ProfitAbsolute,
            ..
        }
    )));
    // State older than allowed: the cluster is at slot 100, the pools at slot 1.
    let (market, _) = gap_market();
    let mut config = permissive(100_000_000, 2);
    config.risk.max_state_age_slots = 10;
    let mut s = Engine::new(market, config);
    out.clear();
    s.process(
        &Event::Slot {
            slot: 100,
            unix_timestamp: 0,
        },
        &clock,
        &mut out,
    )
    .unwrap();
    s.scan_all(&clock, &mut out);
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Rejected {
            reason: Rejection::StaleState,
            ..
        }
    )));
    assert!(out.iter().all(|d| !matches!(d, Decision::Execute(_))));
    // Concurrency: one order in flight at most.
    let (market, _) = market_of(&[
        (0, 1, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_050_000_000),
        (0, 2, 1_000_000_000, 1_000_000_000),
        (2, 0, 1_000_000_000, 1_050_000_000),
    ]);
    let mut config = permissive(100_000_000, 2);
    config.risk.max_concurrent_trades = 1;
    let mut s = Engine::new(market, config);
    out.clear();
    s.scan_all(&clock, &mut out);
    assert_eq!(
        out.iter()
            .filter(|d| matches!(d, Decision::Execute(_)))
            .count(),
        1
    );
    assert!(out.iter().any(|d| matches!(
        d,
        Decision::Rejected {
            reason: Rejection::Concurrency,
            ..
        }
    )));
}

#[test]
fn paper_executor_fills_on_the_state_at_fill_time_and_records_failures() {
    let (market, _) = gap_market();
    let mut config = permissive(100_000_000, 2);
    config.paper_latency_ns = 50_000;
    config.slippage_bps = 10;
    let mut s = Engine::new(market, config);
    let clock = ManualClock::new(1_000);
    let mut out = Vec::new();
    s.scan_all(&clock, &mut out);
    let orders: Vec<Order> = out
        .iter()
        .filter_map(|d| {
            if let Decision::Execute(o) = d {
                Some(*o)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].due_at, 51_000);
    // Before the latency has passed nothing fills.
    out.clear();
    clock.set(50_999);
    s.process(&Event::Tick, &clock, &mut out).unwrap();
    assert!(out.is_empty());
    // The gap closes before the fill: the route now fails its minimum-out.
    let (_, closing) = v4_pool(1, 1, 0, 1_000_000_000, 1_000_000_000, 9);
    for u in &closing {
        s.process(&Event::Account(u.clone()), &clock, &mut out)
            .unwrap();
    }
    clock.set(51_000);
    s.process(&Event::Tick, &clock, &mut out).unwrap();
    let fill = out
        .iter()
        .find_map(|d| {
            if let Decision::Filled(f) = d {
                Some(*f)
            } else {
                None
            }
        })
        .expect("a fill");
    assert_eq!(fill.realised_out, None);
    assert_eq!(fill.pnl, 0);
    assert_eq!(s.counters().failed, 1);
}

#[test]
fn paper_fill_books_the_exact_profit_when_the_state_holds() {
    let (market, _) = gap_market();
    let mut s = Engine::new(market, permissive(100_000_000, 2));
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    s.scan_all(&clock, &mut out);
    clock.advance(10_000);
    s.process(&Event::Tick, &clock, &mut out).unwrap();
    let fill = out
        .iter()
        .find_map(|d| {
            if let Decision::Filled(f) = d {
                Some(*f)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(fill.realised_out, Some(fill.order.opportunity.expected_out));
    assert_eq!(fill.pnl, i128::from(fill.order.opportunity.profit));
}

#[test]
fn simulator_is_deterministic_for_a_seed() {
    let run = |seed| {
        let mut sim = Simulator::new(SimConfig {
            seed,
            ..SimConfig::default()
        });
        (0..5_000).map(|_| sim.next_update()).collect::<Vec<_>>()
    };
    let a = run(11);
    assert_eq!(a, run(11));
    assert_ne!(a, run(12));
}

#[test]
fn simulator_emits_real_layouts_the_decoders_accept_and_trades_are_found() {
    let mut sim = Simulator::new(SimConfig::default());
    assert_eq!(sim.tokens().len(), 12);
    assert_eq!(sim.pool_count(), 40);
    let market = sim.market();
    let kinds: std::collections::HashSet<_> = (0..market.pool_count())
        .map(|p| {
            format!(
                "{:?}",
                sniperforge_engine::Amm::dex(market.pool(PoolIndex(p as u32)).unwrap())
            )
        })
        .collect();
    assert_eq!(kinds.len(), 3);
    let config = sim_strategy_config(&sim);
    let mut strategy = Engine::new(market, config);
    assert!(strategy.cycles().len() > 100);
    drive(&mut sim, &mut strategy, 50_000, |_, _| {});
    let c = strategy.counters();
    assert_eq!(c.decode_errors, 0);
    assert!(c.executed > 0 && c.filled > 0, "{c:?}");
}

#[test]
fn the_confidence_gate_weighs_depth_freshness_and_quote_stability() {
    let clock = ManualClock::new(0);
    let decide = |min_confidence: f64| {
        let (market, _) = gap_market();
        let mut config = permissive(100_000_000_000, 2);
        config.risk.min_confidence = min_confidence;
        let mut s = Engine::new(market, config);
        let mut out = Vec::new();
        s.scan_all(&clock, &mut out);
        let confidence = out.iter().find_map(|d| match d {
            Decision::Execute(o) => Some(s.confidence(&o.opportunity)),
            Decision::Rejected { opportunity, .. } => Some(s.confidence(opportunity)),
            Decision::Filled(_) => None,
        });
        (out, confidence.unwrap())
    };
    let (out, confidence) = decide(0.5);
    // A 5% gap sized at its optimum moves each pool about 1%: confidence just below 1.
    assert!(confidence > 0.9 && confidence < 1.0, "{confidence}");
    assert!(out.iter().any(|d| matches!(d, Decision::Execute(_))));
    let (out, _) = decide(0.9999);
    assert!(
        out.iter().any(|d| matches!(
            d,
            Decision::Rejected {
                reason: Rejection::Confidence,
                ..
            }
        )),
        "{out:?}"
    );
    assert!(out.iter().all(|d| !matches!(d, Decision::Execute(_))));
}

#[test]
fn replaying_a_recording_gives_the_same_decisions_every_time() {
    use sniperforge_engine::record::{Reader, Recorder, market_from_snapshot};
    let mut sim = Simulator::new(SimConfig {
        seed: 3,
        noise_scale: 10.0,
        ..SimConfig::default()
    });
    let snapshot = sim.snapshot();
    let stream: Vec<AccountUpdate> = (0..20_000u64)
        .map(|i| AccountUpdate {
            received_at: i * 10_000,
            ..sim.next_update()
        })
        .collect();
    let mut recorder = Recorder::new(Vec::new(), snapshot.len() as u64, 0).unwrap();
    for u in snapshot.iter().chain(&stream) {
        recorder.write(u).unwrap();
    }
    let bytes = recorder.finish().unwrap();
    let config = |sim: &Simulator| {
        let base = sim_strategy_config(sim);
        StrategyConfig {
            risk: RiskLimits {
                max_state_age_slots: 20,
                ..base.risk.clone()
            },
            ..base
        }
    };
    let replay = || {
        let reader = Reader::new(bytes.as_slice()).unwrap();
        let n = reader.snapshot_records as usize;
        let all = reader.read_all().unwrap();
        let mut engine = Engine::new(market_from_snapshot(&all[..n]), config(&sim));
        let clock = ManualClock::new(0);
        let mut decisions = Vec::new();
        for u in &all[n..] {
            clock.set(u.received_at);
            engine
                .process(&Event::Account(u.clone()), &clock, &mut decisions)
                .unwrap();
        }
        decisions
    };
    let first = replay();
    assert!(
        first.iter().any(|d| matches!(d, Decision::Execute(_))),
        "the recording holds trades"
    );
    assert_eq!(first, replay());
    assert_eq!(
        Reader::new(bytes.as_slice()).unwrap().read_all().unwrap()[snapshot.len()..],
        stream[..]
    );
    // A damaged recording is an error naming the record, never a panic.
    let truncated = &bytes[..bytes.len() - 7];
    let err = Reader::new(truncated).unwrap().read_all().unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(Reader::new(&b"NOTREC"[..]).is_err());
}

#[test]
fn the_engine_never_trades_through_drained_disabled_or_one_sided_pools() {
    let mut sim = Simulator::new(SimConfig {
        edge_pools: true,
        ..SimConfig::default()
    });
    assert_eq!(sim.pool_count(), 48, "40 pools and 8 the programs refuse");
    let market = sim.market();
    let edge: Vec<PoolIndex> = (40..48).map(PoolIndex).collect();
    // The last two look tradeable to sizing: only their exact quotes refuse them.
    for p in [PoolIndex(46), PoolIndex(47)] {
        let pool = market.pool(p).unwrap();
        assert!(sniperforge_engine::Amm::curve(pool, sniperforge_engine::Side::AToB, 0).is_some());
    }
    // Each of them fails every swap as its program would (or, drained, pays nothing).
    for &p in &edge {
        let pool = market.pool(p).unwrap();
        for side in [
            sniperforge_engine::Side::AToB,
            sniperforge_engine::Side::BToA,
        ] {
            for amount in [1, 1_000, 1_000_000, 1_000_000_000] {
                let request = common::request(amount, side, SwapMode::ExactIn, 0);
                let err = sniperforge_engine::Amm::quote(pool, &request).unwrap_err();
                assert!(err.program_error().is_some(), "pool {p:?}: {err}");
            }
        }
    }
    let config = sim_strategy_config(&sim);
    let mut strategy = Engine::new(market, config);
    let through_edge = |s: &Engine, o: &Opportunity| {
        s.cycles()
            .cycle(o.cycle)
            .hops()
            .iter()
            .any(|h| edge.contains(&h.pool))
    };
    let found = opportunities(&mut strategy);
    assert!(!found.iter().any(|o| through_edge(&strategy, o)));
    let mut decided = 0;
    drive(&mut sim, &mut strategy, 30_000, |strategy, d| {
        let o = match d {
            Decision::Execute(o) => o.opportunity,
            Decision::Rejected { opportunity, .. } => opportunity,
            Decision::Filled(_) => return,
        };
        decided += 1;
        assert!(
            !through_edge(strategy, &o),
            "{o:?} goes through an edge pool: {:?}",
            strategy.cycles().cycle(o.cycle).hops()
        );
    });
    assert!(decided > 0, "the rest of the market still trades");
}

#[test]
fn routes_through_a_changed_pool_trade_its_dislocation_once_best_first() {
    // Pools 1 and 2 both price token 1 dear against pool 0 (pool 2 more so). When pool 0
    // moves, the two 2-pool cycles through it are candidates for the same dislocation: the one
    // the closed form ranks higher (through pool 2) is sized and ordered; the other is left
    // unsized and counted.
    let (market, _) = market_of(&[
        (0, 1, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_000_000_000),
        (1, 0, 1_000_000_000, 1_000_000_000),
    ]);
    let mut strategy = Engine::new(market, permissive(100_000_000, 2));
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    for (n, ra, rb) in [
        (1, 1_000_000_000, 1_030_000_000),
        (2, 1_000_000_000, 1_060_000_000),
    ] {
        let (_, moved) = v4_pool(n, 1, 0, ra, rb, 2 + n as u64);
        for u in &moved {
            strategy
                .process(&Event::Account(u.clone()), &clock, &mut out)
                .unwrap();
        }
    }
    // Now pool 0's token-1 vault grows (one account update): token 1 gets cheaper there, and
    // both cycles through pool 0 (with pool 1, with pool 2) gain. One order, through pool 2.
    out.clear();
    let before = strategy.counters();
    let (_, moved) = v4_pool(0, 0, 1, 1_000_000_000, 1_040_000_000, 10);
    strategy
        .process(&Event::Account(moved[1].clone()), &clock, &mut out)
        .unwrap();
    let orders: Vec<_> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Execute(o) => Some(o.opportunity),
            _ => None,
        })
        .collect();
    assert_eq!(orders.len(), 1, "one order for one dislocation: {out:?}");
    let pools: Vec<u32> = strategy
        .cycles()
        .cycle(orders[0].cycle)
        .hops()
        .iter()
        .map(|h| h.pool.0)
        .collect();
    assert!(
        pools.contains(&2),
        "the better route, through pool 2: {pools:?}"
    );
    assert!(
        strategy.counters().overlapping > before.overlapping,
        "{:?}",
        strategy.counters()
    );
}
