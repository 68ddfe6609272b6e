//! The strategy against a brute-force oracle on random markets, sizing against an exhaustive
//! search, stale and out-of-order updates, risk gates, the paper executor and the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

mod common;

use proptest::prelude::*;
use sniperforge_engine::baseline::BruteForce;
use sniperforge_engine::market::{AccountUpdate, Market, Pool};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::raydium_v4::AmmInfo;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    BaseMint, Clock, Decision, Event, ManualClock, Opportunity, Order, Rejection, RiskLimits,
    Strategy as Engine, StrategyConfig,
};
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::{AccountData, Amm, PoolIndex, SwapMode};

fn mint(i: usize) -> Pubkey {
    Pubkey([i as u8 + 1; 32])
}

/// A Raydium v4 pool between mints `a` and `b` with the given reserves, as account updates.
fn v4_pool(
    n: usize,
    a: usize,
    b: usize,
    ra: u64,
    rb: u64,
    slot: u64,
) -> (Pool, Vec<AccountUpdate>) {
    let key = Pubkey([100 + n as u8; 32]);
    let info = AmmInfo {
        status: 6,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        coin_vault: Pubkey([150 + n as u8; 32]),
        pc_vault: Pubkey([200 + n as u8; 32]),
        coin_vault_mint: mint(a),
        pc_vault_mint: mint(b),
        ..Default::default()
    };
    let pool = Pool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &info.encode(),
    })
    .unwrap();
    let vault = |key: Pubkey, mint: Pubkey, amount: u64, wv: u64| AccountUpdate {
        pubkey: key,
        owner: programs::SPL_TOKEN,
        slot,
        write_version: wv,
        data: TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: false,
            is_frozen: false,
        }
        .encode(),
        received_at: 0,
    };
    let updates = vec![
        vault(info.coin_vault, mint(a), ra, 1),
        vault(info.pc_vault, mint(b), rb, 2),
    ];
    (pool, updates)
}

fn market_of(pools: &[(usize, usize, u64, u64)]) -> (Market, Vec<AccountUpdate>) {
    let mut market = Market::new();
    let mut all = Vec::new();
    for (n, &(a, b, ra, rb)) in pools.iter().enumerate() {
        let (pool, updates) = v4_pool(n, a, b, ra, rb, 1);
        market.add_pool(pool);
        all.extend(updates);
    }
    let mut changed = Vec::new();
    for u in &all {
        market.apply_update(u, &mut changed).unwrap();
    }
    (market, all)
}

fn permissive(max_trade: u64, max_hops: usize) -> StrategyConfig {
    StrategyConfig {
        base_mints: vec![BaseMint {
            mint: mint(0),
            max_trade,
            min_profit: 0,
        }],
        max_hops,
        risk: RiskLimits {
            min_profit_bps: 0,
            max_state_age_slots: u64::MAX,
            max_concurrent_trades: usize::MAX,
            min_confidence: 0.0,
        },
        paper_latency_ns: 1_000,
        slippage_bps: 0,
        route_fee_bps: 0,
        mints: vec![],
    }
}

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

fn opportunities(strategy: &mut Engine) -> Vec<Opportunity> {
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    strategy.scan_all(&clock, &mut out);
    out.iter()
        .filter_map(|d| match d {
            Decision::Execute(o) => Some(o.opportunity),
            Decision::Rejected { opportunity, .. } => Some(*opportunity),
            Decision::Filled(_) => None,
        })
        .collect()
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

/// The strategy settings the simulator tests trade with: SOL and USDC bases, 3 hops.
fn sim_strategy_config(sim: &Simulator) -> StrategyConfig {
    StrategyConfig {
        base_mints: sim.default_base_mints(),
        max_hops: 3,
        risk: RiskLimits {
            min_profit_bps: 1,
            max_state_age_slots: 10,
            max_concurrent_trades: 4,
            min_confidence: 0.0,
        },
        paper_latency_ns: 50_000,
        slippage_bps: 30,
        route_fee_bps: 0,
        mints: sim.mint_infos(),
    }
}

/// Feeds `n` simulator updates 10 µs apart to the strategy; decisions go to `on_decision`.
fn drive(
    sim: &mut Simulator,
    strategy: &mut Engine,
    n: usize,
    mut on_decision: impl FnMut(&Engine, Decision),
) {
    let clock = ManualClock::new(0);
    let mut out = Vec::new();
    for _ in 0..n {
        let mut u = sim.next_update();
        clock.advance(10_000);
        u.received_at = clock.now_ns();
        strategy
            .process(&Event::Account(u), &clock, &mut out)
            .expect("simulator bytes decode");
        for d in out.drain(..) {
            on_decision(strategy, d);
        }
    }
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
    let config = |sim: &Simulator| StrategyConfig {
        base_mints: sim.default_base_mints(),
        max_hops: 3,
        risk: RiskLimits {
            min_profit_bps: 1,
            max_state_age_slots: 20,
            max_concurrent_trades: 4,
            min_confidence: 0.0,
        },
        paper_latency_ns: 50_000,
        slippage_bps: 30,
        route_fee_bps: 0,
        mints: sim.mint_infos(),
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

#[test]
fn whirlpool_routes_are_sized_to_the_exact_optimum_inside_and_across_tick_ranges() {
    // Volatile prices and no competitors leave wide gaps, so the sizes cross the concentrated
    // positions' ticks as often as they stay in range; each sized route through a Whirlpool is
    // checked against a dense log grid of exact quotes and the halvings around the best of it.
    let mut sim = Simulator::new(SimConfig {
        seed: 11,
        price_volatility: 0.004,
        jump_probability: 0.002,
        competitors: false,
        ..SimConfig::default()
    });
    let config = sim_strategy_config(&sim);
    let caps: Vec<(Pubkey, u64)> = config
        .base_mints
        .iter()
        .map(|b| (b.mint, b.max_trade))
        .collect();
    let mut strategy = Engine::new(sim.market(), config);
    let mut checked = 0;
    drive(&mut sim, &mut strategy, 30_000, |s, d| {
        let Decision::Execute(order) = d else { return };
        let o = order.opportunity;
        let cycle = s.cycles().cycle(o.cycle);
        let through_whirlpool = cycle
            .hops()
            .iter()
            .any(|h| matches!(s.market().pool(h.pool), Some(Pool::Whirlpool(_))));
        if !through_whirlpool {
            return;
        }
        let start = s.market().mint(cycle.start_mint).unwrap();
        let cap = caps.iter().find(|(m, _)| m == start).unwrap().1;
        let best = dense_optimum(
            s,
            o.cycle,
            (o.amount_in / 16).max(1),
            o.amount_in.saturating_mul(16).min(cap),
        );
        let quanta: i128 = (1..cycle.hops().len())
            .filter_map(|k| s.market().route_output(&cycle.hops()[..k], o.amount_in, 0))
            .filter(|q| *q > 0)
            .map(|q| (o.amount_in as i128 + q as i128 - 1) / q as i128)
            .sum();
        // The search stops within 1/64 of the input, where the profit is flat to 0.025%.
        let tolerance = best.1 / 1_000 + quanta + 1;
        assert!(
            o.profit as i128 >= best.1 - tolerance,
            "{:?}: ours {} at {} vs {} at {}",
            cycle.hops(),
            o.profit,
            o.amount_in,
            best.1,
            best.0
        );
        checked += 1;
    });
    assert!(checked >= 20, "only {checked} Whirlpool routes were sized");
}

/// The best exact profit of a route over `[lo, hi]`: a log grid of 4,000 sizes, then every
/// 1/64 of a grid step around its best. Returns (input, profit).
fn dense_optimum(
    strategy: &Engine,
    cycle: sniperforge_engine::cycles::CycleId,
    lo: u64,
    hi: u64,
) -> (u64, i128) {
    let profit = |x: u64| {
        strategy
            .route_output(cycle, x)
            .map_or(i128::MIN, |out| out as i128 - x as i128)
    };
    let steps = 4_000u32;
    let ratio = (hi as f64 / lo as f64).powf(1.0 / f64::from(steps));
    let mut best = (lo, profit(lo));
    let mut x = lo as f64;
    for _ in 0..steps {
        x *= ratio;
        let xi = (x as u64).min(hi);
        let p = profit(xi);
        if p > best.1 {
            best = (xi, p);
        }
    }
    let step = ((best.0 as f64 * (ratio - 1.0)) as u64).max(1);
    let around = best.0.saturating_sub(step);
    for k in 0..=128u64 {
        let xi = (around + k * step / 64).clamp(1, hi);
        let p = profit(xi);
        if p > best.1 {
            best = (xi, p);
        }
    }
    best
}

#[test]
fn a_whirlpool_route_whose_optimum_crosses_a_tick_is_sized_past_it() {
    use sniperforge_engine::mint::Mint;
    use sniperforge_engine::whirlpool::math::sqrt_price_from_tick_index;
    use sniperforge_engine::whirlpool::{TickArray, TickImage, Whirlpool, WhirlpoolPool};
    // Mint 1 is 3% dearer on a deep Raydium pool than on a Whirlpool whose price sits at tick 0
    // with liquidity L up to tick 80 (0.8% up) and 1.6·L past it. The closed form sees L only:
    // its optimum moves the price past tick 80, where the deeper range takes more input.
    let liquidity: u128 = 100_000_000_000;
    let key = Pubkey([77; 32]);
    let state = Whirlpool {
        tick_spacing: 8,
        fee_tier_index_seed: 8,
        fee_rate: 3_000,
        protocol_fee_rate: 300,
        liquidity,
        sqrt_price: sqrt_price_from_tick_index(0) + 1,
        tick_current_index: 0,
        token_mint_a: mint(0),
        token_vault_a: Pubkey([78; 32]),
        token_mint_b: mint(1),
        token_vault_b: Pubkey([79; 32]),
    };
    let mut pool = WhirlpoolPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::ORCA_WHIRLPOOL,
        data: &state.encode(),
    })
    .unwrap();
    for (i, start) in [0, 704, 1408, -704, -1408].into_iter().enumerate() {
        let mut images = [TickImage::default(); 88];
        if start == 0 {
            let net = (liquidity * 6 / 10) as i128;
            images[10] = TickImage {
                initialized: true,
                liquidity_net: net,
                liquidity_gross: net.unsigned_abs(),
            };
        }
        let bytes = TickArray::encode_fixed(&key, start, &images);
        pool.update(AccountData {
            pubkey: &Pubkey([90 + i as u8; 32]),
            owner: &programs::ORCA_WHIRLPOOL,
            data: &bytes,
        })
        .unwrap();
    }
    for m in [Mint::plain(mint(0), 9), Mint::plain(mint(1), 9)] {
        pool.update(AccountData {
            pubkey: &m.key,
            owner: &m.program(),
            data: &m.encode(),
        })
        .unwrap();
    }
    let mut market = Market::new();
    let (v4, updates) = v4_pool(0, 0, 1, 10_000_000_000_000, 10_300_000_000_000, 1);
    market.add_pool(v4);
    market.add_pool(Pool::Whirlpool(pool));
    let mut changed = Vec::new();
    for u in &updates {
        market.apply_update(u, &mut changed).unwrap();
    }
    let cap = 1_000_000_000_000;
    let mut strategy = Engine::new(market, permissive(cap, 2));
    let found = opportunities(&mut strategy);
    let o = found
        .iter()
        .find(|o| {
            strategy
                .cycles()
                .cycle(o.cycle)
                .hops()
                .iter()
                .any(|h| matches!(strategy.market().pool(h.pool), Some(Pool::Whirlpool(_))))
        })
        .expect("the Raydium → Whirlpool route is found");
    let (best_in, best) = dense_optimum(&strategy, o.cycle, 1, cap);
    // The optimum lies past the tick: the Whirlpool hop crosses it.
    let hops = strategy.cycles().cycle(o.cycle).hops().to_vec();
    let into_whirlpool = strategy
        .market()
        .route_output(&hops[..1], best_in, 0)
        .unwrap();
    let Some(Pool::Whirlpool(wp)) = strategy.market().pool(hops[1].pool) else {
        panic!("the second hop is the Whirlpool")
    };
    let after = wp
        .quote_with_limit(into_whirlpool, hops[1].side, SwapMode::ExactIn, 0)
        .unwrap();
    assert_ne!(after.liquidity, liquidity, "the optimum stays in range");
    assert!(
        o.profit as i128 >= best - best / 1_000,
        "ours {} at {} vs {best} at {best_in}",
        o.profit,
        o.amount_in
    );
}

#[test]
fn routes_rejected_on_the_closed_form_fail_the_profit_gates_at_their_exact_optimum() {
    // A route whose closed form cannot meet the profit gates is rejected on the estimate
    // without exact sizing; at its exact optimum (searched densely) it must fail them too.
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    let markets = (
        prop::collection::vec(1.0f64..20.0, 3),
        prop::collection::vec(
            (
                0usize..3,
                0usize..3,
                1_000_000u64..1_000_000_000,
                -0.04f64..0.04,
            ),
            2..6,
        ),
        0u32..40,
        0u64..200_000,
    );
    let (rejected, executed) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&markets, |(prices, specs, min_bps, min_profit)| {
            let pools: Vec<_> = specs
                .into_iter()
                .filter(|(a, b, _, _)| a != b)
                .map(|(a, b, depth, skew)| {
                    let other = depth as f64 * prices[a] / prices[b] * (1.0 + skew);
                    (a, b, depth, (other as u64).max(10))
                })
                .collect();
            let (market, _) = market_of(&pools);
            let mut config = permissive(1_000_000_000, 3);
            config.risk.min_profit_bps = min_bps;
            config.base_mints[0].min_profit = min_profit;
            let mut strategy = Engine::new(market, config);
            let clock = ManualClock::new(0);
            let mut out = Vec::new();
            strategy.scan_all(&clock, &mut out);
            for d in out {
                let (o, reason) = match d {
                    Decision::Execute(order) => (order.opportunity, None),
                    Decision::Rejected {
                        opportunity,
                        reason,
                    } => (opportunity, Some(reason)),
                    Decision::Filled(_) => continue,
                };
                let (best_in, best) = dense_optimum(
                    &strategy,
                    o.cycle,
                    (o.amount_in / 8).max(1),
                    o.amount_in.saturating_mul(8),
                );
                match reason {
                    None => {
                        executed.set(executed.get() + 1);
                        prop_assert!(o.profit_bps >= min_bps && o.profit >= min_profit);
                    }
                    Some(Rejection::ProfitBps) => {
                        rejected.set(rejected.get() + 1);
                        // At the exact optimum the return is below the gate, to within the
                        // hops' rounding (a unit or two of profit, many bps of a tiny trade,
                        // where sizes of equal profit tie).
                        let bps = best.max(0) * 10_000 / i128::from(best_in.max(1));
                        let rounding = 1 + 20_000 / i128::from(best_in.max(1));
                        prop_assert!(
                            bps < i128::from(min_bps) + rounding,
                            "{o:?}: {bps} bps at {best_in} (profit {best})"
                        );
                    }
                    Some(Rejection::ProfitAbsolute) => {
                        rejected.set(rejected.get() + 1);
                        prop_assert!(best < i128::from(min_profit), "{o:?}: {best} at {best_in}");
                    }
                    Some(other) => prop_assert!(false, "unexpected {other:?}"),
                }
            }
            Ok(())
        })
        .unwrap();
    let (rejected, executed) = (rejected.get(), executed.get());
    assert!(
        rejected >= 50 && executed >= 20,
        "{rejected} rejected, {executed} executed"
    );
}
