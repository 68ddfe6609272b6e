//! Per-call costs: exact-in quotes per pool kind, Whirlpool quotes crossing 0, 1 and 5
//! initialized ticks beside `orca_whirlpools_core` 1.0.4 on the same states, and decoding.
//!
//! Run: `cargo bench -p sniperforge-bench --bench quotes`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use orca_whirlpools_core as orca;
use sniperforge_bench::*;
use sniperforge_engine::pubkey::programs;
use sniperforge_engine::quote::{Amm, QuoteRequest, Side, SwapMode};
use sniperforge_engine::raydium_cp::{AmmConfig, PoolState};
use sniperforge_engine::raydium_v4::AmmInfo;
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::whirlpool::{TickArray, Whirlpool};

fn request(amount: u64) -> QuoteRequest {
    QuoteRequest {
        amount,
        side: Side::AToB,
        mode: SwapMode::ExactIn,
        unix_timestamp: 1_750_000_000,
        epoch: 800,
    }
}

fn exact_in_quotes(c: &mut Criterion) {
    let mut g = c.benchmark_group("quote_exact_in");
    let v4 = raydium_v4_pool();
    g.bench_function("raydium_v4", |b| {
        b.iter(|| v4.quote(black_box(&request(1_000_000_000))))
    });
    let cp = raydium_cp_pool();
    g.bench_function("raydium_cp", |b| {
        b.iter(|| cp.quote(black_box(&request(1_000_000_000))))
    });
    let wp = whirlpool_pool();
    let amount = amount_crossing(&wp, 0);
    g.bench_function("whirlpool_0_ticks", |b| {
        b.iter(|| wp.quote(black_box(&request(amount))))
    });
    g.finish();
}

fn orca_facade(start: i32) -> orca::TickArrayFacade {
    let images = tick_images(start);
    let mut out = orca::TickArrayFacade {
        start_tick_index: start,
        ticks: [orca::TickFacade::default(); 88],
    };
    for (f, t) in out.ticks.iter_mut().zip(images) {
        f.initialized = t.initialized;
        f.liquidity_net = t.liquidity_net;
        f.liquidity_gross = t.liquidity_gross;
    }
    out
}

fn whirlpool_vs_reference(c: &mut Criterion) {
    let pool = whirlpool_pool();
    let s = whirlpool_state();
    let facade = orca::WhirlpoolFacade {
        tick_spacing: s.tick_spacing,
        fee_rate: s.fee_rate,
        protocol_fee_rate: s.protocol_fee_rate,
        liquidity: s.liquidity,
        sqrt_price: s.sqrt_price,
        tick_current_index: s.tick_current_index,
        ..Default::default()
    };
    let starts = tick_array_starts();
    let current = orca_facade(starts[2]);
    let five = orca::TickArrays::Five(
        orca_facade(starts[0]),
        orca_facade(starts[1]),
        orca_facade(starts[2]),
        orca_facade(starts[3]),
        orca_facade(starts[4]),
    );
    let mut g = c.benchmark_group("whirlpool_exact_in_a_to_b");
    for ticks in [0u32, 1, 5] {
        let amount = amount_crossing(&pool, ticks);
        // Same state, same amount: the two must agree before they are timed.
        let ours = pool.quote(&request(amount)).expect("quote");
        let theirs =
            orca::swap_quote_by_input_token(amount, true, 0, facade, five.clone(), None, None)
                .expect("reference quote");
        assert_eq!(
            (ours.amount_out, ours.fee_amount),
            (theirs.token_est_out, theirs.trade_fee)
        );
        g.bench_function(format!("ours_{ticks}_ticks"), |b| {
            b.iter(|| pool.quote(black_box(&request(amount))))
        });
        // The reference's swap loop on one tick array (its sequence is taken by value, so the
        // copy of the array is part of each call).
        g.bench_function(format!("orca_compute_swap_{ticks}_ticks"), |b| {
            b.iter(|| {
                let seq = orca::TickArraySequence::new([Some(current)], s.tick_spacing)
                    .expect("sequence");
                orca::compute_swap(black_box(amount), 0, facade, seq, true, true, 0)
            })
        });
        g.bench_function(
            format!("orca_swap_quote_by_input_token_{ticks}_ticks"),
            |b| {
                b.iter(|| {
                    orca::swap_quote_by_input_token(
                        black_box(amount),
                        true,
                        0,
                        facade,
                        five.clone(),
                        None,
                        None,
                    )
                })
            },
        );
    }
    g.finish();
}

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let k = key(1);
    let amm = raydium_v4_amm_info();
    g.bench_function("raydium_v4_amm_info", |b| {
        b.iter(|| AmmInfo::decode(&k, &programs::RAYDIUM_AMM_V4, black_box(&amm)))
    });
    let ps = raydium_cp_pool_state();
    g.bench_function("raydium_cp_pool_state", |b| {
        b.iter(|| PoolState::decode(&k, &programs::RAYDIUM_CP_SWAP, black_box(&ps)))
    });
    let cfg = raydium_cp_amm_config();
    g.bench_function("raydium_cp_amm_config", |b| {
        b.iter(|| AmmConfig::decode(&k, &programs::RAYDIUM_CP_SWAP, black_box(&cfg)))
    });
    let wp = whirlpool_state().encode();
    g.bench_function("whirlpool", |b| {
        b.iter(|| Whirlpool::decode(&k, &programs::ORCA_WHIRLPOOL, black_box(&wp)))
    });
    let start = tick_array_starts()[2];
    let fixed = TickArray::encode_fixed(&k, start, &tick_images(start));
    g.bench_function("tick_array_fixed", |b| {
        b.iter(|| TickArray::decode(&k, &programs::ORCA_WHIRLPOOL, black_box(&fixed)))
    });
    let dynamic = TickArray::encode_dynamic(&k, start, &tick_images(start));
    g.bench_function("tick_array_dynamic", |b| {
        b.iter(|| TickArray::decode(&k, &programs::ORCA_WHIRLPOOL, black_box(&dynamic)))
    });
    let token = TokenAccount {
        mint: key(2),
        owner: key(3),
        amount: 42,
        is_token_2022: false,
        is_frozen: false,
    }
    .encode();
    g.bench_function("token_account", |b| {
        b.iter(|| TokenAccount::decode(&k, &programs::SPL_TOKEN, black_box(&token)))
    });
    // A Token-2022 mint with its transfer fee extension (278 bytes).
    let mint = sniperforge_engine::mint::Mint::token_2022(
        key(4),
        6,
        Some(sniperforge_engine::mint::TransferFeeConfig::from_epoch(
            10, 100, 5_000,
        )),
    )
    .encode();
    g.bench_function("mint_token_2022_transfer_fee", |b| {
        b.iter(|| {
            sniperforge_engine::mint::Mint::decode(&k, &programs::SPL_TOKEN_2022, black_box(&mint))
        })
    });
    g.finish();
}

fn whirlpool_math(c: &mut Criterion) {
    use sniperforge_engine::whirlpool::math::*;
    let mut g = c.benchmark_group("whirlpool_math");
    let (lo, hi) = (
        sqrt_price_from_tick_index(-20_000),
        sqrt_price_from_tick_index(-19_990),
    );
    let l = LIQUIDITY;
    g.bench_function("sqrt_price_from_tick_positive", |b| {
        b.iter(|| sqrt_price_from_tick_index(black_box(123_457)))
    });
    g.bench_function("sqrt_price_from_tick_negative", |b| {
        b.iter(|| sqrt_price_from_tick_index(black_box(-123_457)))
    });
    g.bench_function("tick_from_sqrt_price", |b| {
        b.iter(|| tick_index_from_sqrt_price(black_box(hi - 77)))
    });
    g.bench_function("amount_delta_a", |b| {
        b.iter(|| amount_delta_a(black_box(lo), black_box(hi), black_box(l), true))
    });
    g.bench_function("amount_delta_b", |b| {
        b.iter(|| amount_delta_b(black_box(lo), black_box(hi), black_box(l), true))
    });
    g.bench_function("next_sqrt_price_from_a", |b| {
        b.iter(|| next_sqrt_price_from_a(black_box(hi), black_box(l), black_box(1_000_000), true))
    });
    g.bench_function("compute_swap_step_partial", |b| {
        b.iter(|| {
            compute_swap_step(
                black_box(1_000_000),
                3000,
                black_box(l),
                black_box(hi),
                black_box(lo),
                true,
                true,
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = exact_in_quotes, whirlpool_vs_reference, decoding, whirlpool_math
}
criterion_main!(benches);
