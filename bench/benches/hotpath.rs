//! Hot-path costs: detection per update on a market with over 10,000 indexed cycles, decode +
//! apply per account kind, and one ring hop — ours beside crossbeam's ArrayQueue and std's
//! sync_channel — measured as half a ping-pong round trip between two threads.
//!
//! Run: `cargo bench -p sniperforge-bench --bench hotpath`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sniperforge_bench::large_strategy;
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::pubkey::programs;
use sniperforge_engine::ring::ring;
use sniperforge_engine::strategy::{Event, ManualClock};

fn detection(c: &mut Criterion) {
    let (mut strategy, mut sim) = large_strategy(7);
    assert!(
        strategy.cycles().len() >= 10_000,
        "{} cycles",
        strategy.cycles().len()
    );
    let updates: Vec<AccountUpdate> = (0..20_000).map(|_| sim.next_update()).collect();
    let clock = ManualClock::new(0);
    let mut out = Vec::with_capacity(64);
    let mut g = c.benchmark_group("detection");
    let mut i = 0usize;
    g.bench_function(
        format!("process_update_{}_cycles", strategy.cycles().len()),
        |b| {
            b.iter(|| {
                let u = updates[i % updates.len()].clone();
                i += 1;
                clock.advance(10_000);
                out.clear();
                // Replayed updates turn stale after the first pass; bump the version so each is new.
                let event = Event::Account(AccountUpdate {
                    slot: u.slot + (i / updates.len()) as u64 * 1_000_000,
                    ..u
                });
                let _ = strategy.process(black_box(&event), &clock, &mut out);
            })
        },
    );
    g.finish();
}

fn decode_and_apply(c: &mut Criterion) {
    let (_, mut sim) = large_strategy(7);
    let mut market = sim.market();
    let snapshot = sim.snapshot();
    let mut g = c.benchmark_group("decode_and_apply");
    let pick = |pred: &dyn Fn(&AccountUpdate) -> bool| {
        snapshot
            .iter()
            .find(|u| pred(u))
            .cloned()
            .expect("account of that kind")
    };
    let cases = [
        (
            "token_account_vault",
            pick(&|u| u.owner == programs::SPL_TOKEN),
        ),
        (
            "whirlpool",
            pick(&|u| u.owner == programs::ORCA_WHIRLPOOL && u.data.len() == 653),
        ),
        (
            "whirlpool_tick_array",
            pick(&|u| u.owner == programs::ORCA_WHIRLPOOL && u.data.len() == 9988),
        ),
        (
            "raydium_cp_pool_state",
            pick(&|u| u.owner == programs::RAYDIUM_CP_SWAP && u.data.len() == 637),
        ),
        (
            "raydium_v4_amm_info",
            pick(&|u| u.owner == programs::RAYDIUM_AMM_V4),
        ),
    ];
    let mut changed = Vec::new();
    for (name, update) in cases {
        let mut version = update.slot;
        g.bench_function(name, |b| {
            b.iter(|| {
                version += 1;
                let u = AccountUpdate {
                    slot: version,
                    ..update.clone()
                };
                let _ = market.apply_update(black_box(&u), &mut changed);
            })
        });
    }
    g.finish();
}

/// Half the round trip of `iters` ping-pongs between this thread and an echo thread.
fn ping_pong<S, R>(
    iters: u64,
    mut send: S,
    mut recv: R,
    echo: impl FnOnce(u64) + Send + 'static,
) -> Duration
where
    S: FnMut(u64),
    R: FnMut() -> u64,
{
    let handle = std::thread::spawn(move || echo(iters));
    let start = Instant::now();
    for i in 0..iters {
        send(i);
        let back = recv();
        debug_assert_eq!(back, i);
    }
    let elapsed = start.elapsed();
    let _ = handle.join();
    elapsed / 2
}

fn ring_hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_hop_half_round_trip");
    g.bench_function("sniperforge_spsc", |b| {
        b.iter_custom(|iters| {
            let (mut to_echo, mut at_echo) = ring::<u64>(1024);
            let (mut back, mut at_main) = ring::<u64>(1024);
            ping_pong(
                iters,
                |v| while to_echo.push(v).is_err() {},
                || loop {
                    if let Some(v) = at_main.pop() {
                        return v;
                    }
                    std::hint::spin_loop();
                },
                move |n| {
                    for _ in 0..n {
                        let v = loop {
                            if let Some(v) = at_echo.pop() {
                                break v;
                            }
                            std::hint::spin_loop();
                        };
                        while back.push(v).is_err() {}
                    }
                },
            )
        })
    });
    g.bench_function("crossbeam_array_queue", |b| {
        b.iter_custom(|iters| {
            let there = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(1024));
            let home = Arc::new(crossbeam_queue::ArrayQueue::<u64>::new(1024));
            let (t2, h2) = (Arc::clone(&there), Arc::clone(&home));
            ping_pong(
                iters,
                |v| while there.push(v).is_err() {},
                || loop {
                    if let Some(v) = home.pop() {
                        return v;
                    }
                    std::hint::spin_loop();
                },
                move |n| {
                    for _ in 0..n {
                        let v = loop {
                            if let Some(v) = t2.pop() {
                                break v;
                            }
                            std::hint::spin_loop();
                        };
                        while h2.push(v).is_err() {}
                    }
                },
            )
        })
    });
    g.bench_function("std_sync_channel", |b| {
        b.iter_custom(|iters| {
            let (tx, rx_echo) = std::sync::mpsc::sync_channel::<u64>(1024);
            let (tx_back, rx) = std::sync::mpsc::sync_channel::<u64>(1024);
            ping_pong(
                iters,
                |v| {
                    let _ = tx.send(v);
                },
                || loop {
                    if let Ok(v) = rx.try_recv() {
                        return v;
                    }
                    std::hint::spin_loop();
                },
                move |n| {
                    for _ in 0..n {
                        let v = loop {
                            if let Ok(v) = rx_echo.try_recv() {
                                break v;
                            }
                            std::hint::spin_loop();
                        };
                        let _ = tx_back.send(v);
                    }
                },
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = detection, decode_and_apply, ring_hop
}
criterion_main!(benches);
