//! Shared fixtures for the Criterion benches (pools in realistic states, built from account
//! bytes), the open-loop latency report, and the brute-force baseline comparison.

#![warn(missing_docs)]

pub mod baseline;
pub mod latency;

use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, Side, SwapMode};
use sniperforge_engine::raydium_cp::{AmmConfig, PoolState, RaydiumCpPool};
use sniperforge_engine::raydium_v4::{AmmInfo, RaydiumV4Pool};
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::whirlpool::math::sqrt_price_from_tick_index;
use sniperforge_engine::whirlpool::{TickArray, TickImage, Whirlpool, WhirlpoolPool};

/// Address of a fixture account.
pub fn key(tag: u8) -> Pubkey {
    Pubkey([tag; 32])
}

fn apply(pool: &mut impl Amm, pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) {
    let used = pool
        .update(AccountData {
            pubkey,
            owner,
            data,
        })
        .unwrap_or_else(|e| panic!("fixture account {pubkey} decodes: {e}"))
        .applied();
    assert!(used, "fixture account {pubkey} belongs to the pool");
}

fn vault(mint: Pubkey, amount: u64) -> Vec<u8> {
    TokenAccount {
        mint,
        owner: key(99),
        amount,
        is_token_2022: false,
        is_frozen: false,
    }
    .encode()
}

/// Raw bytes of a Raydium v4 SOL/USDC-like pool.
pub fn raydium_v4_amm_info() -> Vec<u8> {
    AmmInfo {
        status: 6,
        coin_decimals: 9,
        pc_decimals: 6,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        trade_fee_numerator: 25,
        trade_fee_denominator: 10_000,
        need_take_pnl_coin: 1_000,
        need_take_pnl_pc: 2_000,
        coin_vault: key(2),
        pc_vault: key(3),
        coin_vault_mint: key(4),
        pc_vault_mint: key(5),
        ..Default::default()
    }
    .encode()
}

/// A Raydium v4 pool with 85k SOL / 12.75M USDC.
pub fn raydium_v4_pool() -> RaydiumV4Pool {
    let pool_key = key(1);
    let mut pool = RaydiumV4Pool::from_account(AccountData {
        pubkey: &pool_key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &raydium_v4_amm_info(),
    })
    .expect("fixture pool decodes");
    apply(
        &mut pool,
        &key(2),
        &programs::SPL_TOKEN,
        &vault(key(4), 85_000_000_000_000),
    );
    apply(
        &mut pool,
        &key(3),
        &programs::SPL_TOKEN,
        &vault(key(5), 12_750_000_000_000),
    );
    pool
}

/// Raw bytes of a CP-Swap pool state.
pub fn raydium_cp_pool_state() -> Vec<u8> {
    PoolState {
        amm_config: key(11),
        token_0_vault: key(12),
        token_1_vault: key(13),
        token_0_mint: key(14),
        token_1_mint: key(15),
        token_0_program: programs::SPL_TOKEN,
        token_1_program: programs::SPL_TOKEN,
        protocol_fees_token_0: 5_000,
        fund_fees_token_1: 7_000,
        ..Default::default()
    }
    .encode()
}

/// Raw bytes of a CP-Swap config (0.25% trade fee).
pub fn raydium_cp_amm_config() -> Vec<u8> {
    AmmConfig {
        trade_fee_rate: 2_500,
        protocol_fee_rate: 120_000,
        fund_fee_rate: 40_000,
        creator_fee_rate: 0,
    }
    .encode()
}

/// A CP-Swap pool with 3.4k SOL / 510k USDC.
pub fn raydium_cp_pool() -> RaydiumCpPool {
    let pool_key = key(10);
    let mut pool = RaydiumCpPool::from_account(AccountData {
        pubkey: &pool_key,
        owner: &programs::RAYDIUM_CP_SWAP,
        data: &raydium_cp_pool_state(),
    })
    .expect("fixture pool decodes");
    apply(
        &mut pool,
        &key(11),
        &programs::RAYDIUM_CP_SWAP,
        &raydium_cp_amm_config(),
    );
    apply(
        &mut pool,
        &key(12),
        &programs::SPL_TOKEN,
        &vault(key(14), 3_400_000_000_000),
    );
    apply(
        &mut pool,
        &key(13),
        &programs::SPL_TOKEN,
        &vault(key(15), 510_000_000_000),
    );
    pool
}

/// Tick spacing of the Whirlpool fixtures.
pub const SPACING: u16 = 8;
/// Current tick of the Whirlpool fixtures.
pub const CURRENT_TICK: i32 = 300;
/// Liquidity in range at the current tick.
pub const LIQUIDITY: u128 = 50_000_000_000_000;

/// The Whirlpool account of the fixtures.
pub fn whirlpool_state() -> Whirlpool {
    Whirlpool {
        tick_spacing: SPACING,
        fee_tier_index_seed: SPACING,
        fee_rate: 3_000,
        protocol_fee_rate: 300,
        liquidity: LIQUIDITY,
        sqrt_price: sqrt_price_from_tick_index(CURRENT_TICK) + 12_345_678,
        tick_current_index: CURRENT_TICK,
        token_mint_a: key(21),
        token_vault_a: key(22),
        token_mint_b: key(23),
        token_vault_b: key(24),
    }
}

/// Ticks of the array starting at `start`: every spacing-aligned tick at or below the current
/// one in this array and its left neighbours is initialized with a small net, so an a→b swap
/// crosses one initialized tick per spacing step.
pub fn tick_images(start: i32) -> [TickImage; 88] {
    let mut ticks = [TickImage::default(); 88];
    for (slot, t) in ticks.iter_mut().enumerate() {
        let index = start + slot as i32 * i32::from(SPACING);
        if index <= CURRENT_TICK {
            *t = TickImage {
                initialized: true,
                liquidity_net: 1_000_000_000,
                liquidity_gross: 1_000_000_000,
            };
        }
    }
    ticks
}

/// Start tick indices of the fixture's tick arrays, lowest first: two below the current one,
/// the current one, two above.
pub fn tick_array_starts() -> [i32; 5] {
    let per = 88 * i32::from(SPACING);
    let center = CURRENT_TICK.div_euclid(per) * per;
    [
        center - 2 * per,
        center - per,
        center,
        center + per,
        center + 2 * per,
    ]
}

/// The Whirlpool with its five tick arrays, built from account bytes.
pub fn whirlpool_pool() -> WhirlpoolPool {
    let pool_key = key(20);
    let mut pool = WhirlpoolPool::from_account(AccountData {
        pubkey: &pool_key,
        owner: &programs::ORCA_WHIRLPOOL,
        data: &whirlpool_state().encode(),
    })
    .expect("fixture pool decodes");
    for (i, start) in tick_array_starts().into_iter().enumerate() {
        let bytes = TickArray::encode_fixed(&pool_key, start, &tick_images(start));
        apply(
            &mut pool,
            &key(30 + i as u8),
            &programs::ORCA_WHIRLPOOL,
            &bytes,
        );
    }
    for (mint, decimals) in [(key(21), 9), (key(23), 6)] {
        let bytes = sniperforge_engine::mint::Mint::plain(mint, decimals).encode();
        apply(&mut pool, &mint, &programs::SPL_TOKEN, &bytes);
    }
    pool
}

/// The exact-in amount of token A that makes an a→b swap cross exactly `ticks` initialized
/// ticks and stop halfway into the next range.
pub fn amount_crossing(pool: &WhirlpoolPool, ticks: u32) -> u64 {
    let crossed = |amount: u64| -> i32 {
        // Past the tick arrays: more than any count asked for.
        let Ok(out) = pool.quote_with_limit(amount, Side::AToB, SwapMode::ExactIn, 0) else {
            return i32::MAX;
        };
        // Initialized ticks sit at every spacing step at or below the current tick.
        let first = CURRENT_TICK.div_euclid(i32::from(SPACING)) * i32::from(SPACING);
        (first - out.tick_current_index - 1).div_euclid(i32::from(SPACING)) + 1
    };
    let (mut lo, mut hi) = (1u64, 1u64 << 50);
    // Smallest amount that crosses `ticks + 1`, then take the middle of the range before it.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if crossed(mid) > ticks as i32 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let upper = lo;
    let (mut lo, mut hi) = (1u64, upper);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if crossed(mid) >= ticks as i32 {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let amount = lo + (upper - lo) / 2;
    assert_eq!(
        crossed(amount),
        ticks as i32,
        "fixture amount crosses {ticks} ticks"
    );
    amount
}

/// A simulator market large enough for the detection benches: 60 pools, routes of up to 4
/// pools through every token (over 10,000 cycles).
pub fn large_strategy(
    seed: u64,
) -> (
    sniperforge_engine::strategy::Strategy,
    sniperforge_engine::sim::Simulator,
) {
    use sniperforge_engine::sim::{SimConfig, Simulator};
    use sniperforge_engine::strategy::BaseMint;
    let mut sim = Simulator::new(SimConfig {
        seed,
        pools_per_pair: 3,
        ..SimConfig::default()
    });
    let base_mints = sim
        .tokens()
        .iter()
        .map(|t| BaseMint {
            mint: t.mint,
            max_trade: (50_000.0 / t.usd * 10f64.powi(i32::from(t.decimals))) as u64,
            min_profit: 0,
        })
        .collect();
    let strategy = latency::strategy_on(&mut sim, base_mints, 4);
    (strategy, sim)
}

/// Per-update time of the strategy (decode, detection, sizing) on the large market, in ns.
pub fn detection_per_update(seed: u64, updates: usize) -> (usize, hdrhistogram::Histogram<u64>) {
    use sniperforge_engine::strategy::{Event, ManualClock};
    let (mut strategy, mut sim) = large_strategy(seed);
    let batch: Vec<_> = (0..updates).map(|_| sim.next_update()).collect();
    let clock = ManualClock::new(0);
    let mut out = Vec::with_capacity(64);
    let mut h = sniperforge_protocol::telemetry::latency_histogram();
    for update in batch {
        clock.advance(10_000);
        out.clear();
        let event = Event::Account(update);
        let t = std::time::Instant::now();
        let _ = strategy.process(&event, &clock, &mut out);
        let _ = h.record(t.elapsed().as_nanos().max(1) as u64);
    }
    (strategy.cycles().len(), h)
}
