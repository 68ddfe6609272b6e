//! No free lunch, as a property of whole pools: over random states (empty, one-unit and
//! near-`u64::MAX` vaults, fees or pnl owed above the vault, every status and open time,
//! Token-2022 transfer fees), no quote costs nothing for something, none pays out the whole
//! output reserve or more, and exact-in of an exact-out's input still delivers the output.
//! 100,000 cases per pool kind and mode; each test also requires that a good share of its
//! cases was quoted at all (a property over rejections only would prove nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap fixtures they built

mod common;
use common::request;

use std::cell::Cell;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sniperforge_engine::QuoteError;
use sniperforge_engine::mint::{Mint, TransferFee, TransferFeeConfig};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, Quote, QuoteRequest, Side, SwapMode};
use sniperforge_engine::raydium_cp::{AmmConfig, CreatorFeeOn, PoolState, RaydiumCpPool};
use sniperforge_engine::raydium_v4::{AmmInfo, RaydiumV4Pool};
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::whirlpool::math::sqrt_price_from_tick_index;
use sniperforge_engine::whirlpool::{TickArray, TickImage, Whirlpool, WhirlpoolPool};

const CASES: u32 = 100_000;

/// Runs `case` over `CASES` values of `strategy`; `case` says whether the state was quoted.
/// Fails on a property violation (with the shrunk input) or when fewer than `min_quoted` of
/// the cases were quoted.
fn run<S: Strategy>(
    name: &str,
    strategy: S,
    min_quoted: u32,
    case: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let quoted = Cell::new(0u32);
    let result = runner.run(&strategy, |value| {
        if case(value)? {
            quoted.set(quoted.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let quoted = quoted.get();
    println!("{name}: {quoted} of {CASES} cases quoted");
    assert!(
        quoted >= min_quoted,
        "{name}: only {quoted} of {CASES} cases were quoted"
    );
}

/// A fee set of the epoch the case quotes at and another one, in either order: the quote must
/// take the set `epoch` selects.
fn epoch() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..20, Just(u64::MAX)]
}

/// Balances that hit the edges (0, one unit, a few, near u64::MAX, anything) among mostly
/// ordinary ones, so that most states can trade and the properties are exercised.
fn balance() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        1 => Just(1u64),
        2 => 2u64..100,
        12 => 100u64..1_000_000_000_000,
        1 => (u64::MAX - 1_000)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

/// Amounts owed out of a vault of `vault`: mostly none or some, at times all of it, more, or
/// anything.
fn owed(vault: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => Just(0u64),
        4 => 0..=vault / 2,
        1 => Just(vault),
        1 => Just(vault.saturating_add(1)),
        1 => any::<u64>(),
    ]
}

/// Open times and clocks: mostly open, at times before or after, or anything.
fn open_time() -> impl Strategy<Value = u64> {
    prop_oneof![6 => Just(0u64), 1 => 1_000u64..2_000, 1 => any::<u64>()]
}

fn now() -> impl Strategy<Value = i64> {
    prop_oneof![6 => Just(1_500i64), 1 => 1_000i64..2_000, 1 => any::<i64>()]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::AToB), Just(Side::BToA)]
}

fn vault(mint: Pubkey, amount: u64, program: Pubkey) -> (Vec<u8>, Pubkey) {
    let data = TokenAccount {
        mint,
        owner: Pubkey([9; 32]),
        amount,
        is_token_2022: program == programs::SPL_TOKEN_2022,
        is_frozen: false,
    }
    .encode();
    (data, program)
}

fn feed(pool: &mut impl Amm, key: Pubkey, owner: Pubkey, data: &[u8]) {
    pool.update(AccountData {
        pubkey: &key,
        owner: &owner,
        data,
    })
    .expect("the test's accounts decode");
}

/// The properties every accepted quote satisfies; `reserve_out` is the pool's net output
/// reserve (`None`: a concentrated-liquidity pool, whose vaults the quote does not read) and
/// `requote` quotes exact in on the same pool.
fn check(
    quote: &Quote,
    mode: SwapMode,
    amount: u64,
    reserve_out: Option<u64>,
    requote: impl Fn(u64) -> Result<Quote, QuoteError>,
) -> Result<(), TestCaseError> {
    prop_assert!(
        quote.amount_in > 0 || quote.amount_out == 0,
        "free output: {quote:?}"
    );
    if let Some(reserve_out) = reserve_out {
        prop_assert!(quote.amount_out > 0, "a quote that pays nothing: {quote:?}");
        // What leaves the vault is what arrives plus the output mint's fee.
        prop_assert!(
            u128::from(quote.amount_out) + u128::from(quote.transfer_fee_out)
                < u128::from(reserve_out),
            "{quote:?} reaches the reserve {reserve_out}"
        );
    }
    match mode {
        SwapMode::ExactIn => prop_assert_eq!(quote.amount_in, amount),
        SwapMode::ExactOut => {
            prop_assert_eq!(quote.amount_out, amount);
            let back = requote(quote.amount_in);
            // Near u64::MAX the rounding in the pool's favour can push exact in's output past
            // u64 (the program fails then too): more than was asked for, not less.
            let delivers = match &back {
                Ok(b) => b.amount_out >= amount,
                Err(QuoteError::Overflow { .. }) => amount > u64::MAX / 2,
                Err(_) => false,
            };
            prop_assert!(
                delivers,
                "exact in of {} gives {back:?}, wanted {amount}",
                quote.amount_in
            );
        }
    }
    Ok(())
}

// ---- Raydium AMM v4 ------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct V4State {
    status: u64,
    open_time: u64,
    now: i64,
    coin: u64,
    pc: u64,
    pnl: (u64, u64),
    fee: (u64, u64),
}

fn v4_state() -> impl Strategy<Value = V4State> {
    (
        prop_oneof![8 => Just(6u64), 3 => Just(7u64), 1 => 0u64..10, 1 => any::<u64>()],
        open_time(),
        now(),
        balance(),
        balance(),
        prop_oneof![
            Just((25u64, 10_000u64)),
            Just((0, 10_000)),
            Just((9_999, 10_000))
        ],
    )
        .prop_flat_map(|(status, open_time, now, coin, pc, fee)| {
            (owed(coin), owed(pc)).prop_map(move |pnl| V4State {
                status,
                open_time,
                now,
                coin,
                pc,
                pnl,
                fee,
            })
        })
}

fn v4_pool(s: &V4State) -> RaydiumV4Pool {
    let key = Pubkey([1; 32]);
    let info = AmmInfo {
        status: s.status,
        swap_fee_numerator: s.fee.0,
        swap_fee_denominator: s.fee.1,
        need_take_pnl_coin: s.pnl.0,
        need_take_pnl_pc: s.pnl.1,
        pool_open_time: s.open_time,
        coin_vault: Pubkey([2; 32]),
        pc_vault: Pubkey([3; 32]),
        coin_vault_mint: Pubkey([4; 32]),
        pc_vault_mint: Pubkey([5; 32]),
        ..Default::default()
    };
    let mut pool = RaydiumV4Pool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &info.encode(),
    })
    .unwrap();
    for (key, mint, amount) in [
        (info.coin_vault, info.coin_vault_mint, s.coin),
        (info.pc_vault, info.pc_vault_mint, s.pc),
    ] {
        let (data, owner) = vault(mint, amount, programs::SPL_TOKEN);
        feed(&mut pool, key, owner, &data);
    }
    pool
}

fn v4_case(s: &V4State, amount: u64, side: Side, mode: SwapMode) -> Result<bool, TestCaseError> {
    let pool = v4_pool(s);
    let Ok(q) = pool.quote(&request(amount, side, mode, s.now)) else {
        return Ok(false);
    };
    let (coin, pc) = pool.reserves().unwrap();
    let reserve_out = if side == Side::AToB { pc } else { coin };
    check(&q, mode, amount, Some(reserve_out), |x| {
        pool.quote(&request(x, side, SwapMode::ExactIn, s.now))
    })?;
    Ok(true)
}

#[test]
fn raydium_v4_exact_in_never_quotes_a_free_lunch() {
    run(
        "raydium-v4 exact in",
        (v4_state(), balance(), side()),
        CASES / 5,
        |(s, amount, side)| v4_case(&s, amount, side, SwapMode::ExactIn),
    );
}

#[test]
fn raydium_v4_exact_out_never_quotes_a_free_lunch() {
    run(
        "raydium-v4 exact out",
        (v4_state(), balance(), side()),
        CASES / 10,
        |(s, amount, side)| v4_case(&s, amount, side, SwapMode::ExactOut),
    );
}

// ---- Raydium CP-Swap -----------------------------------------------------------------------

#[derive(Debug, Clone)]
struct CpState {
    status: u8,
    open_time: u64,
    now: i64,
    vaults: (u64, u64),
    owed: [u64; 6],
    config: AmmConfig,
    creator: (bool, u8),
    transfer_fees: [Option<TransferFeeConfig>; 2],
    epoch: u64,
}

fn fee_set() -> impl Strategy<Value = TransferFee> {
    (
        0u64..20,
        prop_oneof![Just(0u64), 1u64..1_000, Just(u64::MAX)],
        prop_oneof![Just(0u16), 1u16..500, Just(9_999u16), Just(10_000u16)],
    )
        .prop_map(|(epoch, maximum_fee, basis_points)| TransferFee {
            epoch,
            maximum_fee,
            basis_points,
        })
}

/// No fee (an SPL Token mint), or a Token-2022 mint with two fee sets.
pub fn transfer_fee() -> impl Strategy<Value = Option<TransferFeeConfig>> {
    prop_oneof![
        2 => Just(None),
        1 => (fee_set(), fee_set()).prop_map(|(older, newer)| Some(TransferFeeConfig { older, newer })),
    ]
}

/// A Token-2022 mint charging `config`, or a plain SPL Token mint.
fn mint_with(key: Pubkey, config: Option<TransferFeeConfig>) -> Mint {
    match config {
        Some(_) => Mint::token_2022(key, 6, config),
        None => Mint::plain(key, 6),
    }
}

fn cp_state() -> impl Strategy<Value = CpState> {
    (
        prop_oneof![8 => Just(0u8), 1 => any::<u8>()],
        open_time(),
        now(),
        (balance(), balance()),
        (
            prop_oneof![1 => Just(0u64), 6 => 1u64..100_000, 1 => Just(1_000_000u64)],
            0u64..=1_000_000,
            0u64..=1_000_000,
            prop_oneof![Just(0u64), 1u64..100_000],
        ),
        (any::<bool>(), 0u8..3),
        (transfer_fee(), transfer_fee(), epoch()),
    )
        .prop_flat_map(
            |(
                status,
                open_time,
                now,
                vaults,
                (trade, protocol, fund, creator_rate),
                creator,
                fees,
            )| {
                let creator_rate = creator_rate.min(1_000_000 - trade);
                (
                    owed(vaults.0),
                    owed(vaults.0),
                    owed(vaults.0),
                    owed(vaults.1),
                    owed(vaults.1),
                    owed(vaults.1),
                )
                    .prop_map(move |(a, b, c, d, e, f)| CpState {
                        status,
                        open_time,
                        now,
                        vaults,
                        // Mostly one kind of debt per side, so sums stay meaningful.
                        owed: [a, b / 4, c / 4, d, e / 4, f / 4],
                        config: AmmConfig {
                            trade_fee_rate: trade,
                            protocol_fee_rate: protocol,
                            fund_fee_rate: fund,
                            creator_fee_rate: creator_rate,
                        },
                        creator,
                        transfer_fees: [fees.0, fees.1],
                        epoch: fees.2,
                    })
            },
        )
}

fn cp_pool(s: &CpState) -> RaydiumCpPool {
    let key = Pubkey([10; 32]);
    let program = |fee: &Option<TransferFeeConfig>| {
        if fee.is_some() {
            programs::SPL_TOKEN_2022
        } else {
            programs::SPL_TOKEN
        }
    };
    let state = PoolState {
        amm_config: Pubkey([11; 32]),
        token_0_vault: Pubkey([12; 32]),
        token_1_vault: Pubkey([13; 32]),
        token_0_mint: Pubkey([14; 32]),
        token_1_mint: Pubkey([15; 32]),
        token_0_program: program(&s.transfer_fees[0]),
        token_1_program: program(&s.transfer_fees[1]),
        status: s.status,
        protocol_fees_token_0: s.owed[0],
        fund_fees_token_0: s.owed[1],
        creator_fees_token_0: s.owed[2],
        protocol_fees_token_1: s.owed[3],
        fund_fees_token_1: s.owed[4],
        creator_fees_token_1: s.owed[5],
        open_time: s.open_time,
        enable_creator_fee: s.creator.0,
        creator_fee_on: match s.creator.1 {
            0 => CreatorFeeOn::BothTokens,
            1 => CreatorFeeOn::OnlyToken0,
            _ => CreatorFeeOn::OnlyToken1,
        },
        ..Default::default()
    };
    let mut pool = RaydiumCpPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_CP_SWAP,
        data: &state.encode(),
    })
    .unwrap();
    feed(
        &mut pool,
        state.amm_config,
        programs::RAYDIUM_CP_SWAP,
        &s.config.encode(),
    );
    for (i, (key, mint, amount)) in [
        (state.token_0_vault, state.token_0_mint, s.vaults.0),
        (state.token_1_vault, state.token_1_mint, s.vaults.1),
    ]
    .into_iter()
    .enumerate()
    {
        let fee = s.transfer_fees[i];
        let (data, owner) = vault(mint, amount, program(&fee));
        feed(&mut pool, key, owner, &data);
        if fee.is_some() {
            let m = mint_with(mint, fee);
            feed(&mut pool, mint, programs::SPL_TOKEN_2022, &m.encode());
        }
    }
    pool
}

fn cp_case(s: &CpState, amount: u64, side: Side, mode: SwapMode) -> Result<bool, TestCaseError> {
    let pool = cp_pool(s);
    let at = |amount, mode| QuoteRequest {
        epoch: s.epoch,
        ..request(amount, side, mode, s.now)
    };
    let Ok(q) = pool.quote(&at(amount, mode)) else {
        return Ok(false);
    };
    let (r0, r1) = pool.reserves().unwrap();
    let reserve_out = if side == Side::AToB { r1 } else { r0 };
    check(&q, mode, amount, Some(reserve_out), |x| {
        pool.quote(&at(x, SwapMode::ExactIn))
    })?;
    // The transfer fees are the mints' own, from the set the epoch selects: the input's is
    // charged on what leaves the trader, the output's on what leaves the vault.
    let (fee_in, fee_out) = match side {
        Side::AToB => (s.transfer_fees[0], s.transfer_fees[1]),
        Side::BToA => (s.transfer_fees[1], s.transfer_fees[0]),
    };
    let charged = |config: Option<TransferFeeConfig>, amount| {
        config.map_or(0, |c| c.epoch_fee(s.epoch).fee(amount))
    };
    prop_assert_eq!(q.transfer_fee_in, charged(fee_in, q.amount_in));
    prop_assert_eq!(
        q.transfer_fee_out,
        charged(fee_out, q.amount_out + q.transfer_fee_out)
    );
    Ok(true)
}

#[test]
fn raydium_cp_exact_in_never_quotes_a_free_lunch() {
    run(
        "raydium-cp exact in",
        (cp_state(), balance(), side()),
        CASES / 10,
        |(s, amount, side)| cp_case(&s, amount, side, SwapMode::ExactIn),
    );
}

#[test]
fn raydium_cp_exact_out_never_quotes_a_free_lunch() {
    run(
        "raydium-cp exact out",
        (cp_state(), balance(), side()),
        CASES / 20,
        |(s, amount, side)| cp_case(&s, amount, side, SwapMode::ExactOut),
    );
}

// ---- Orca Whirlpool ------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct WhirlpoolState {
    spacing: u16,
    tick: i32,
    /// Where the price sits inside the tick, in thousandths.
    within: u128,
    liquidity: u128,
    fee_rate: u16,
    transfer_fees: [Option<TransferFeeConfig>; 2],
    epoch: u64,
}

fn whirlpool_state() -> impl Strategy<Value = WhirlpoolState> {
    (
        prop_oneof![Just(1u16), Just(8u16), Just(64u16), Just(128u16)],
        -60_000i32..60_000,
        0u128..1_000,
        prop_oneof![
            Just(0u128),
            Just(1u128),
            1u128..1_000_000,
            1_000_000u128..1_000_000_000_000_000,
            (u128::from(u64::MAX) - 1_000)..=u128::from(u64::MAX),
            any::<u64>().prop_map(|x| u128::from(x) << 32),
        ],
        prop_oneof![Just(0u16), Just(100u16), Just(3_000u16), Just(60_000u16)],
        (transfer_fee(), transfer_fee(), epoch()),
    )
        .prop_map(
            |(spacing, tick, within, liquidity, fee_rate, (fee_a, fee_b, epoch))| WhirlpoolState {
                spacing,
                tick,
                within,
                liquidity,
                fee_rate,
                transfer_fees: [fee_a, fee_b],
                epoch,
            },
        )
}

/// The pool with the five tick arrays around its price (no initialized tick: the liquidity
/// holds across them) and its two mints.
fn whirlpool_pool(s: &WhirlpoolState) -> WhirlpoolPool {
    let key = Pubkey([30; 32]);
    let low = sqrt_price_from_tick_index(s.tick);
    let high = sqrt_price_from_tick_index(s.tick + 1);
    let state = Whirlpool {
        tick_spacing: s.spacing,
        fee_tier_index_seed: s.spacing,
        fee_rate: s.fee_rate,
        protocol_fee_rate: 300,
        liquidity: s.liquidity,
        sqrt_price: low + (high - low) * s.within / 1_000,
        tick_current_index: s.tick,
        token_mint_a: Pubkey([31; 32]),
        token_vault_a: Pubkey([32; 32]),
        token_mint_b: Pubkey([33; 32]),
        token_vault_b: Pubkey([34; 32]),
    };
    let mut pool = WhirlpoolPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::ORCA_WHIRLPOOL,
        data: &state.encode(),
    })
    .unwrap();
    let per = 88 * i32::from(s.spacing);
    let center = s.tick.div_euclid(per) * per;
    for k in -2..=2i32 {
        let bytes = TickArray::encode_fixed(&key, center + k * per, &[TickImage::default(); 88]);
        feed(
            &mut pool,
            Pubkey([(42 + k) as u8; 32]),
            programs::ORCA_WHIRLPOOL,
            &bytes,
        );
    }
    for (mint, fee) in [state.token_mint_a, state.token_mint_b]
        .into_iter()
        .zip(s.transfer_fees)
    {
        let m = mint_with(mint, fee);
        feed(&mut pool, mint, m.program(), &m.encode());
    }
    pool
}

fn whirlpool_case(
    s: &WhirlpoolState,
    amount: u64,
    side: Side,
    mode: SwapMode,
) -> Result<bool, TestCaseError> {
    let pool = whirlpool_pool(s);
    let at = |amount, mode| QuoteRequest {
        epoch: s.epoch,
        ..request(amount, side, mode, 0)
    };
    let Ok(q) = pool.quote(&at(amount, mode)) else {
        return Ok(false);
    };
    // An exact-in that reaches the price bound fills partly (and is charged for what it took).
    if mode == SwapMode::ExactIn && q.amount_in < amount {
        prop_assert!(q.amount_in > 0);
        return Ok(true);
    }
    check(&q, mode, amount, None, |x| {
        pool.quote(&at(x, SwapMode::ExactIn))
    })?;
    Ok(true)
}

#[test]
fn whirlpool_exact_in_never_quotes_a_free_lunch() {
    run(
        "whirlpool exact in",
        (whirlpool_state(), balance(), side()),
        CASES / 10,
        |(s, amount, side)| whirlpool_case(&s, amount, side, SwapMode::ExactIn),
    );
}

#[test]
fn whirlpool_exact_out_never_quotes_a_free_lunch() {
    run(
        "whirlpool exact out",
        (whirlpool_state(), balance(), side()),
        CASES / 10,
        |(s, amount, side)| whirlpool_case(&s, amount, side, SwapMode::ExactOut),
    );
}

// ---- The sizing curves ---------------------------------------------------------------------

/// A pool's sizing curve bounds its exact quotes from above (rounding and fees only lower
/// them) up to the input where the pool says the curve holds (`exact_up_to`, or a Whirlpool's
/// current range): there the strategy takes the curve's optimum and rejects routes on the
/// curve's profit. At any size the exact output stays below the curve's marginal rate at 0
/// times the input, which the detection prefilter relies on (a route the exact quotes find
/// profitable is never filtered out). Transfer fees count, from the set the epoch selects:
/// their caps make large transfers cheaper than the rate says.
fn curve_bounds(
    curve: Option<sniperforge_engine::curve::Curve>,
    limit: f64,
    amount: u64,
    quote: impl Fn(u64) -> Result<Quote, QuoteError>,
    state: &dyn std::fmt::Debug,
) -> Result<bool, TestCaseError> {
    let Some(curve) = curve else {
        return Ok(false);
    };
    let mut quoted = false;
    let marginal = curve.gamma * curve.reserve_out / curve.reserve_in;
    for (amount, within) in [
        ((amount as f64).min(limit * (1.0 - 1e-6)) as u64, true),
        (amount, false),
    ] {
        if amount == 0 {
            continue;
        }
        let Ok(q) = quote(amount) else {
            continue;
        };
        quoted = true;
        let bound = if within {
            curve.output(amount as f64)
        } else {
            marginal * amount as f64
        };
        prop_assert!(
            q.amount_out as f64 <= bound * (1.0 + 1e-9) + 1.0,
            "{amount} in (curve holds to {limit}, within: {within}): exact {} > bound {bound} \
             ({curve:?}, {state:?})",
            q.amount_out
        );
    }
    Ok(quoted)
}

#[test]
fn raydium_cp_never_beats_its_sizing_curve_where_it_claims_to_follow_it() {
    run(
        "raydium-cp curve",
        (cp_state(), balance(), side()),
        CASES / 20,
        |(s, amount, side)| {
            let pool = cp_pool(&s);
            let curve = pool.curve(side, s.epoch);
            let limit = curve.map_or(0.0, |c| c.exact_up_to);
            let quote = |x| {
                pool.quote(&QuoteRequest {
                    epoch: s.epoch,
                    ..request(x, side, SwapMode::ExactIn, s.now)
                })
            };
            curve_bounds(curve, limit, amount, quote, &s)
        },
    );
}

#[test]
fn whirlpool_never_beats_its_sizing_curve_inside_its_range() {
    run(
        "whirlpool curve",
        (whirlpool_state(), balance(), side()),
        CASES / 20,
        |(s, amount, side)| {
            let pool = whirlpool_pool(&s);
            let quote = |x| {
                pool.quote(&QuoteRequest {
                    epoch: s.epoch,
                    ..request(x, side, SwapMode::ExactIn, 0)
                })
            };
            curve_bounds(
                pool.curve(side, s.epoch),
                pool.exact_input(side, s.epoch),
                amount,
                quote,
                &s,
            )
        },
    );
}
