//! Raydium v4 and CP-Swap quotes: hand-computed vectors (rounding edges included), property
//! tests of the curve invariants, and pool-level gates (status, open time, owed fees).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap fixtures they built

mod common;
use common::request;

use ethnum::U256;
use proptest::prelude::*;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, QuoteRequest, Side, SwapMode};
use sniperforge_engine::raydium_cp::{
    self, AmmConfig, CpFees, CreatorFeeOn, PoolState, RaydiumCpPool,
};
use sniperforge_engine::raydium_v4::{self, AmmInfo, RaydiumV4Pool};
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::{ProgramError, QuoteError, SwapMode::ExactIn, SwapMode::ExactOut};

struct V4Vector {
    amount: u64,
    exact_in: bool,
    reserve_in: u64,
    reserve_out: u64,
    num: u64,
    den: u64,
    expect: (u64, u64, u64),
}

/// Computed by hand with exact integers: fee = ceil(in·num/den), out = floor(R_out·net/(R_in+net));
/// exact out: net = ceil(R_in·out/(R_out−out)), in = ceil(net·den/(den−num)), fee = in − net.
/// E.g. 401 in at 25/10000: fee = ceil(10025/10000) = 2, net 399, out = floor(399000/1399) = 285.
#[rustfmt::skip]
const V4_VECTORS: &[V4Vector] = &[
    V4Vector { amount: 3, exact_in: true, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (3, 1, 1) },
    V4Vector { amount: 400, exact_in: true, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (400, 285, 1) },
    V4Vector { amount: 401, exact_in: true, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (401, 285, 2) },
    V4Vector { amount: 10000, exact_in: true, reserve_in: 1000000, reserve_out: 2000000, num: 25, den: 10000, expect: (10000, 19752, 25) },
    V4Vector { amount: 10001, exact_in: true, reserve_in: 1000000, reserve_out: 2000000, num: 25, den: 10000, expect: (10001, 19752, 26) },
    V4Vector { amount: 1000000000, exact_in: true, reserve_in: 85000000000000, reserve_out: 12750000000000, num: 25, den: 10000, expect: (1000000000, 149623244, 2500000) },
    V4Vector { amount: 1000000000, exact_in: true, reserve_in: 12750000000000, reserve_out: 85000000000000, num: 25, den: 10000, expect: (1000000000, 6649479775, 2500000) },
    V4Vector { amount: 3, exact_in: true, reserve_in: 10, reserve_out: 10, num: 1, den: 3, expect: (3, 1, 1) },
    V4Vector { amount: 7, exact_in: true, reserve_in: 5, reserve_out: 1000000, num: 0, den: 10000, expect: (7, 583333, 0) },
    V4Vector { amount: 18446744073709551615, exact_in: true, reserve_in: 18446744073709551615, reserve_out: 18446744073709551615, num: 25, den: 10000, expect: (18446744073709551615, 9211828392252955061, 46116860184273880) },
    V4Vector { amount: 18446744073709551615, exact_in: true, reserve_in: 1, reserve_out: 18446744073709551615, num: 25, den: 10000, expect: (18446744073709551615, 18446744073709551613, 46116860184273880) },
    V4Vector { amount: 123456789, exact_in: true, reserve_in: 987654321, reserve_out: 55, num: 25, den: 10000, expect: (123456789, 6, 308642) },
    V4Vector { amount: 1, exact_in: false, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (3, 1, 1) },
    V4Vector { amount: 500, exact_in: false, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (1003, 500, 3) },
    V4Vector { amount: 999, exact_in: false, reserve_in: 1000, reserve_out: 1000, num: 25, den: 10000, expect: (1001504, 999, 2504) },
    V4Vector { amount: 149613837, exact_in: false, reserve_in: 85000000000000, reserve_out: 12750000000000, num: 25, den: 10000, expect: (999937128, 149613837, 2499843) },
    V4Vector { amount: 1, exact_in: false, reserve_in: 1, reserve_out: 2, num: 25, den: 10000, expect: (2, 1, 1) },
    V4Vector { amount: 1000, exact_in: false, reserve_in: 3, reserve_out: 1000000000000, num: 25, den: 10000, expect: (2, 1000, 1) },
    V4Vector { amount: 1000000000, exact_in: false, reserve_in: 1000000000000000, reserve_out: 1000000000000, num: 30, den: 10000, expect: (1004013040123, 1000000000, 3012039121) },
    V4Vector { amount: 12345, exact_in: false, reserve_in: 67890, reserve_out: 12346, num: 1, den: 3, expect: (1257153075, 12345, 419051025) },
    V4Vector { amount: 9223372036854775807, exact_in: false, reserve_in: 1000, reserve_out: 18446744073709551615, num: 25, den: 10000, expect: (1003, 9223372036854775807, 3) },
    V4Vector { amount: 5, exact_in: false, reserve_in: 100, reserve_out: 100, num: 0, den: 10000, expect: (6, 5, 0) },
];

struct CpVector {
    amount: u64,
    exact_in: bool,
    reserve_in: u64,
    reserve_out: u64,
    trade: u64,
    creator: u64,
    on_input: bool,
    expect: (u64, u64, u64),
}

/// Computed by hand (rates per 1e6): creator fee on input: total = ceil(in·(t+c)/1e6), out on
/// in − total; on output: fee = ceil(in·t/1e6), out = swapped − ceil(swapped·c/1e6). Exact out
/// grosses up with ceil(x·1e6/(1e6−rate)) and reports fee = ceil(in·rate/1e6).
#[rustfmt::skip]
const CP_VECTORS: &[CpVector] = &[
    CpVector { amount: 3, exact_in: true, reserve_in: 1000, reserve_out: 1000, trade: 2500, creator: 0, on_input: true, expect: (3, 1, 1) },
    CpVector { amount: 400, exact_in: true, reserve_in: 1000, reserve_out: 1000, trade: 2500, creator: 0, on_input: true, expect: (400, 285, 1) },
    CpVector { amount: 401, exact_in: true, reserve_in: 1000, reserve_out: 1000, trade: 2500, creator: 0, on_input: true, expect: (401, 285, 2) },
    CpVector { amount: 1000000000, exact_in: true, reserve_in: 3402495100000, reserve_out: 510112247000, trade: 2500, creator: 0, on_input: true, expect: (1000000000, 149504355, 2500000) },
    CpVector { amount: 1000000000, exact_in: true, reserve_in: 510112247000, reserve_out: 3402495100000, trade: 2500, creator: 0, on_input: true, expect: (1000000000, 6640430714, 2500000) },
    CpVector { amount: 1000000, exact_in: true, reserve_in: 1000000000000, reserve_out: 1000000000000, trade: 2500, creator: 500, on_input: true, expect: (1000000, 996999, 3000) },
    CpVector { amount: 1000000, exact_in: true, reserve_in: 1000000000000, reserve_out: 1000000000000, trade: 2500, creator: 500, on_input: false, expect: (1000000, 997000, 2500) },
    CpVector { amount: 999999, exact_in: true, reserve_in: 1000000000, reserve_out: 1000000, trade: 10000, creator: 10000, on_input: false, expect: (999999, 979, 10000) },
    CpVector { amount: 18446744073709551615, exact_in: true, reserve_in: 18446744073709551615, reserve_out: 18446744073709551615, trade: 2500, creator: 0, on_input: true, expect: (18446744073709551615, 9211828392252955061, 46116860184273880) },
    CpVector { amount: 3, exact_in: true, reserve_in: 7, reserve_out: 7, trade: 0, creator: 0, on_input: false, expect: (3, 2, 0) },
    CpVector { amount: 1000000000000000, exact_in: true, reserve_in: 1, reserve_out: 1000000, trade: 2500, creator: 1000, on_input: false, expect: (1000000000000000, 998999, 2500000000000) },
    CpVector { amount: 1, exact_in: false, reserve_in: 1000, reserve_out: 1000, trade: 2500, creator: 0, on_input: true, expect: (3, 1, 1) },
    CpVector { amount: 999, exact_in: false, reserve_in: 1000, reserve_out: 1000, trade: 2500, creator: 0, on_input: true, expect: (1001504, 999, 2504) },
    CpVector { amount: 150000000, exact_in: false, reserve_in: 510112247000, reserve_out: 3402495100000, trade: 2500, creator: 0, on_input: true, expect: (22545806, 150000000, 56365) },
    CpVector { amount: 1000000, exact_in: false, reserve_in: 1000000000000, reserve_out: 1000000000000, trade: 2500, creator: 500, on_input: true, expect: (1003012, 1000000, 3010) },
    CpVector { amount: 1000000, exact_in: false, reserve_in: 1000000000000, reserve_out: 1000000000000, trade: 2500, creator: 500, on_input: false, expect: (1003011, 1000000, 2508) },
    CpVector { amount: 12345, exact_in: false, reserve_in: 67890, reserve_out: 1000000, trade: 100, creator: 250000, on_input: false, expect: (1138, 12345, 1) },
    CpVector { amount: 1, exact_in: false, reserve_in: 1, reserve_out: 2, trade: 0, creator: 0, on_input: false, expect: (1, 1, 0) },
    CpVector { amount: 1000000000, exact_in: false, reserve_in: 1000000000000000, reserve_out: 1000000000000, trade: 10000, creator: 0, on_input: true, expect: (1011112122225, 1000000000, 10111121223) },
    CpVector { amount: 5, exact_in: false, reserve_in: 100, reserve_out: 100, trade: 2500, creator: 0, on_input: false, expect: (7, 5, 1) },
    CpVector { amount: 4611686018427387903, exact_in: false, reserve_in: 1000, reserve_out: 18446744073709551615, trade: 2500, creator: 1000, on_input: false, expect: (335, 4611686018427387903, 1) },
];

fn mode(exact_in: bool) -> SwapMode {
    if exact_in { ExactIn } else { ExactOut }
}

#[test]
fn raydium_v4_matches_hand_computed_vectors() {
    assert!(V4_VECTORS.len() >= 20);
    for (i, v) in V4_VECTORS.iter().enumerate() {
        let q = raydium_v4::swap(
            v.amount,
            mode(v.exact_in),
            v.reserve_in,
            v.reserve_out,
            v.num,
            v.den,
        )
        .unwrap_or_else(|e| panic!("vector {i}: {e}"));
        assert_eq!(
            (q.amount_in, q.amount_out, q.fee_amount),
            v.expect,
            "vector {i}"
        );
    }
}

#[test]
fn raydium_cp_matches_hand_computed_vectors() {
    assert!(CP_VECTORS.len() >= 20);
    for (i, v) in CP_VECTORS.iter().enumerate() {
        let fees = CpFees {
            trade_fee_rate: v.trade,
            creator_fee_rate: v.creator,
            creator_fee_on_input: v.on_input,
        };
        let q = raydium_cp::swap(
            v.amount,
            mode(v.exact_in),
            v.reserve_in,
            v.reserve_out,
            fees,
        )
        .unwrap_or_else(|e| panic!("vector {i}: {e}"));
        assert_eq!(
            (q.amount_in, q.amount_out, q.fee_amount),
            v.expect,
            "vector {i}"
        );
    }
}

/// Every check by which the programs fail a swap, as `swap` reproduces it: (amount, exact in,
/// reserve in, reserve out, the program's error).
#[test]
fn every_program_failure_is_a_typed_rejection_naming_the_programs_error() {
    use ProgramError::*;
    #[rustfmt::skip]
    let v4: &[(u64, bool, u64, u64, ProgramError)] = &[
        (0, true, 10, 10, AmmInvalidInput),            // amount_in == 0
        (1, true, 1000, 1000, AmmInvalidInput),        // fee 1 of 1: output 0
        (2, true, 1000, 1000, AmmInvalidInput),        // floor(1000·1/1001) = 0
        (0, true, 0, 10, AmmPanic),                    // r_in + net = 0: checked_div(0).unwrap()
        (5, true, 1000, 0, AmmInvalidInput),           // empty output side pays 0
        (1000, true, 0, 1000, AmmInsufficientFunds),   // empty input side: out = the whole reserve
        (1000, false, 1000, 1000, AmmPanic),           // out == reserve: ceil-div by 0
        (1001, false, 1000, 1000, AmmPanic),           // out > reserve: checked_sub.unwrap()
        (10, false, u64::MAX, 11, AmmPanic),           // input with fee beyond u64 (as_u64)
        (0, false, 10, 10, AmmInvalidInput),           // amount_out == 0
        (5, false, 0, 1000, AmmInvalidInput),          // empty input side: costs 0 for 5 out
    ];
    for (i, &(amount, exact_in, r_in, r_out, error)) in v4.iter().enumerate() {
        match raydium_v4::swap(amount, mode(exact_in), r_in, r_out, 25, 10_000) {
            Err(QuoteError::Rejected { error: e, .. }) if e == error => {}
            other => panic!("v4 case {i}: {other:?}, expected {error:?}"),
        }
    }
    let fees = |t, c, on_input| CpFees {
        trade_fee_rate: t,
        creator_fee_rate: c,
        creator_fee_on_input: on_input,
    };
    #[rustfmt::skip]
    let cp: &[(u64, bool, u64, u64, CpFees, ProgramError)] = &[
        (0, true, 10, 10, fees(2500, 0, true), CpRequireGtViolated),
        (1, true, 1000, 1000, fees(2500, 0, true), CpRequireGtViolated),    // out 0
        (5, true, 0, 1000, fees(2500, 0, true), CpPanic),                   // token_price_x32 / 0
        (5, true, 1000, 0, fees(2500, 0, true), CpPanic),
        (5, false, 0, 1000, fees(2500, 0, true), CpPanic),
        (5, true, 10, 10, fees(0, 0, true), CpZeroTradingTokens),           // split_creator_fee / 0
        (5, false, 100, 100, fees(0, 0, true), CpZeroTradingTokens),
        (1000, false, 1000, 1000, fees(2500, 0, true), CpPanic),            // out == reserve
        (u64::MAX, false, 1000, 1000, fees(2500, 0, true), CpPanic),
        (10, false, u64::MAX, 11, fees(2500, 0, true), CpPanic),            // input beyond u64
        (5, false, 1000, 1000, fees(1_000_000, 0, false), CpPanic),         // pre-fee at 100%
        (5, false, 1000, 1000, fees(0, 1_000_000, false), CpZeroTradingTokens), // creator at 100%
    ];
    for (i, &(amount, exact_in, r_in, r_out, f, error)) in cp.iter().enumerate() {
        match raydium_cp::swap(amount, mode(exact_in), r_in, r_out, f) {
            Err(QuoteError::Rejected { error: e, .. }) if e == error => {}
            other => panic!("cp case {i}: {other:?}, expected {error:?}"),
        }
    }
    // Messages name the program, its error and the numbers compared.
    let e = raydium_v4::swap(1000, ExactIn, 0, 1000, 25, 10_000).unwrap_err();
    assert_eq!(
        e.to_string(),
        "raydium-v4 fails the swap with AmmError::InsufficientFunds: the output 1000 reaches the output reserve 1000"
    );
}

/// Fee configurations the programs actually use, and odd ones.
fn v4_fee() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![
        Just((25, 10_000)),
        Just((0, 10_000)),
        Just((1, 3)),
        (1u64..1_000_000).prop_flat_map(|den| (0..den, Just(den))),
    ]
}

fn cp_fees() -> impl Strategy<Value = CpFees> {
    (0u64..200_000, 0u64..100_000, any::<bool>()).prop_map(|(t, c, on_input)| CpFees {
        trade_fee_rate: t,
        creator_fee_rate: c,
        creator_fee_on_input: on_input,
    })
}

fn reserves() -> impl Strategy<Value = (u64, u64)> {
    (1u64..=u64::MAX, 2u64..=u64::MAX)
}

/// Invariants every constant-product quote must satisfy.
fn check_invariants(
    amount: u64,
    r_in: u64,
    r_out: u64,
    quote: impl Fn(u64, SwapMode) -> Result<sniperforge_engine::Quote, QuoteError>,
) -> Result<(), TestCaseError> {
    if let Ok(q) = quote(amount, ExactIn) {
        prop_assert_eq!(q.amount_in, amount);
        let net = (q.amount_in - q.fee_amount) as u128;
        // The curve never pays more than the real-valued output: k never decreases.
        prop_assert!(
            U256::from(r_in as u128 + net) * U256::from(r_out as u128 - q.amount_out as u128)
                >= U256::from(r_in as u128) * U256::from(r_out as u128)
        );
        // Monotone in input.
        if amount < u64::MAX
            && let Ok(next) = quote(amount + 1, ExactIn)
        {
            prop_assert!(next.amount_out >= q.amount_out);
        }
    }
    let out = amount % r_out;
    if out > 0
        && let Ok(q) = quote(out, ExactOut)
    {
        prop_assert_eq!(q.amount_out, out);
        // Paying the exact-out input, exact in delivers at least the requested output.
        if let Ok(back) = quote(q.amount_in, ExactIn) {
            prop_assert!(
                back.amount_out >= out,
                "exact-in of {} gave {} < {}",
                q.amount_in,
                back.amount_out,
                out
            );
        }
        // One token less would not be enough, or the exact-out input is already minimal.
        if q.amount_in > 1
            && let Ok(less) = quote(q.amount_in - 1, ExactIn)
        {
            prop_assert!(less.amount_out <= out);
        }
        if out + 1 < r_out
            && let Ok(more) = quote(out + 1, ExactOut)
        {
            prop_assert!(more.amount_in >= q.amount_in);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn raydium_v4_curve_invariants(amount in 1u64..=u64::MAX, (r_in, r_out) in reserves(), (num, den) in v4_fee()) {
        check_invariants(amount, r_in, r_out, |a, m| raydium_v4::swap(a, m, r_in, r_out, num, den))?;
        // Rounding favours the pool: the fee is never below its exact value.
        if let Ok(q) = raydium_v4::swap(amount, ExactIn, r_in, r_out, num, den) {
            prop_assert!(q.fee_amount as u128 * den as u128 >= amount as u128 * num as u128);
        }
    }

    #[test]
    fn raydium_cp_curve_invariants(amount in 1u64..=u64::MAX, (r_in, r_out) in reserves(), fees in cp_fees()) {
        check_invariants(amount, r_in, r_out, |a, m| raydium_cp::swap(a, m, r_in, r_out, fees))?;
        if let Ok(q) = raydium_cp::swap(amount, ExactIn, r_in, r_out, fees) {
            let rate = if fees.creator_fee_on_input { fees.trade_fee_rate + fees.creator_fee_rate } else { fees.trade_fee_rate };
            prop_assert!(q.fee_amount as u128 * 1_000_000 >= amount as u128 * rate as u128);
        }
    }

    #[test]
    fn small_reserves_and_amounts(amount in 1u64..5000, r_in in 1u64..5000, r_out in 2u64..5000, (num, den) in v4_fee()) {
        check_invariants(amount, r_in, r_out, |a, m| raydium_v4::swap(a, m, r_in, r_out, num, den))?;
    }
}

// ---- pool level: accounts, gates, owed amounts --------------------------------------------

fn v4_pool(status: u64, open_time: u64, coin: u64, pc: u64, pnl: (u64, u64)) -> RaydiumV4Pool {
    let key = Pubkey([1; 32]);
    let info = AmmInfo {
        status,
        coin_decimals: 9,
        pc_decimals: 6,
        trade_fee_numerator: 25,
        trade_fee_denominator: 10_000,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        need_take_pnl_coin: pnl.0,
        need_take_pnl_pc: pnl.1,
        pool_open_time: open_time,
        coin_vault: Pubkey([2; 32]),
        pc_vault: Pubkey([3; 32]),
        coin_vault_mint: Pubkey([4; 32]),
        pc_vault_mint: Pubkey([5; 32]),
        ..Default::default()
    };
    let data = info.encode();
    let mut pool = RaydiumV4Pool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &data,
    })
    .expect("valid pool");
    for (vault, mint, amount) in [
        (info.coin_vault, info.coin_vault_mint, coin),
        (info.pc_vault, info.pc_vault_mint, pc),
    ] {
        let bytes = TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: false,
            is_frozen: false,
        }
        .encode();
        assert!(
            pool.update(AccountData {
                pubkey: &vault,
                owner: &programs::SPL_TOKEN,
                data: &bytes
            })
            .expect("vault")
            .applied()
        );
    }
    pool
}

#[test]
fn raydium_v4_pool_nets_pnl_and_gates_on_status_and_open_time() {
    let pool = v4_pool(6, 0, 1_000_000 + 500, 2_000_000 + 700, (500, 700));
    let q = pool
        .quote(&request(10_000, Side::AToB, ExactIn, 0))
        .unwrap();
    assert_eq!(
        (q.amount_out, q.fee_amount),
        (19752, 25),
        "reserves net of pnl: 1e6 and 2e6"
    );
    let back = pool
        .quote(&request(10_000, Side::BToA, ExactIn, 0))
        .unwrap();
    assert_eq!(
        back.amount_out,
        raydium_v4::swap(10_000, ExactIn, 2_000_000, 1_000_000, 25, 10_000)
            .unwrap()
            .amount_out
    );

    let error = |pool: &RaydiumV4Pool, now| {
        pool.quote(&request(5, Side::AToB, ExactIn, now))
            .unwrap_err()
            .program_error()
    };
    // Uninitialized, Initialized and OrderBookOnly (the order-book permission), Disabled,
    // WithdrawOnly, LiquidityOnly: InvalidStatus; past WaitingTrade `from_u64` panics.
    for status in [0, 1, 2, 3, 4, 5] {
        let pool = v4_pool(status, 0, 1000, 1000, (0, 0));
        assert_eq!(
            error(&pool, 0),
            Some(ProgramError::AmmInvalidStatus),
            "status {status}"
        );
    }
    for status in [8, u64::MAX] {
        let pool = v4_pool(status, 0, 1000, 1000, (0, 0));
        assert_eq!(error(&pool, 0), Some(ProgramError::AmmPanic));
    }
    let waiting = v4_pool(7, 1_700_000_000, 1000, 1000, (0, 0));
    assert_eq!(
        error(&waiting, 1_699_999_999),
        Some(ProgramError::AmmInvalidStatus)
    );
    assert!(
        waiting
            .quote(&request(5, Side::AToB, ExactIn, 1_700_000_000))
            .is_ok()
    );
    // The program casts the clock `as u64`: a negative time passes any open time.
    assert!(waiting.quote(&request(5, Side::AToB, ExactIn, -1)).is_ok());

    let owed = v4_pool(6, 0, 100, 100, (101, 0));
    assert_eq!(error(&owed, 0), Some(ProgramError::AmmCheckedSubOverflow));
    // An empty side (all of it pnl owed): selling into it would pay out the whole other side.
    let empty = v4_pool(6, 0, 100, 1_000_000, (100, 0));
    assert_eq!(error(&empty, 0), Some(ProgramError::AmmInsufficientFunds));
}

#[test]
fn raydium_v4_pool_rejects_vaults_of_the_wrong_mint_and_waits_for_missing_ones() {
    let key = Pubkey([1; 32]);
    let info = AmmInfo {
        status: 6,
        swap_fee_numerator: 25,
        swap_fee_denominator: 10_000,
        coin_vault: Pubkey([2; 32]),
        pc_vault: Pubkey([3; 32]),
        coin_vault_mint: Pubkey([4; 32]),
        pc_vault_mint: Pubkey([5; 32]),
        ..Default::default()
    };
    let data = info.encode();
    let mut pool = RaydiumV4Pool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_AMM_V4,
        data: &data,
    })
    .unwrap();
    assert!(matches!(
        pool.quote(&request(5, Side::AToB, ExactIn, 0)),
        Err(QuoteError::MissingAccount { .. })
    ));
    let wrong = TokenAccount {
        mint: Pubkey([5; 32]),
        owner: Pubkey([9; 32]),
        amount: 1,
        is_token_2022: false,
        is_frozen: false,
    }
    .encode();
    let err = pool
        .update(AccountData {
            pubkey: &info.coin_vault,
            owner: &programs::SPL_TOKEN,
            data: &wrong,
        })
        .unwrap_err();
    assert!(err.to_string().contains("`mint`"), "{err}");
    let stranger = Pubkey([77; 32]);
    assert_eq!(
        pool.update(AccountData {
            pubkey: &stranger,
            owner: &programs::SPL_TOKEN,
            data: &wrong
        }),
        Ok(sniperforge_engine::Updated::Ignored)
    );
}

fn cp_pool(
    status: u8,
    open_time: u64,
    creator: (bool, CreatorFeeOn),
    token_2022: bool,
) -> RaydiumCpPool {
    let key = Pubkey([10; 32]);
    let state = PoolState {
        amm_config: Pubkey([11; 32]),
        token_0_vault: Pubkey([12; 32]),
        token_1_vault: Pubkey([13; 32]),
        token_0_mint: Pubkey([14; 32]),
        token_1_mint: Pubkey([15; 32]),
        token_0_program: programs::SPL_TOKEN,
        token_1_program: if token_2022 {
            programs::SPL_TOKEN_2022
        } else {
            programs::SPL_TOKEN
        },
        status,
        protocol_fees_token_0: 100,
        fund_fees_token_0: 20,
        creator_fees_token_0: 3,
        protocol_fees_token_1: 7,
        open_time,
        enable_creator_fee: creator.0,
        creator_fee_on: creator.1,
        ..Default::default()
    };
    let data = state.encode();
    let mut pool = RaydiumCpPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_CP_SWAP,
        data: &data,
    })
    .unwrap();
    let config = AmmConfig {
        trade_fee_rate: 2500,
        protocol_fee_rate: 120_000,
        fund_fee_rate: 40_000,
        creator_fee_rate: 500,
    }
    .encode();
    assert!(
        pool.update(AccountData {
            pubkey: &state.amm_config,
            owner: &programs::RAYDIUM_CP_SWAP,
            data: &config
        })
        .unwrap()
        .applied()
    );
    for (vault, mint, amount, is_2022) in [
        (
            state.token_0_vault,
            state.token_0_mint,
            1_000_000_123,
            false,
        ),
        (
            state.token_1_vault,
            state.token_1_mint,
            1_000_000_007,
            token_2022,
        ),
    ] {
        let bytes = TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: is_2022,
            is_frozen: false,
        }
        .encode();
        let owner = if is_2022 {
            programs::SPL_TOKEN_2022
        } else {
            programs::SPL_TOKEN
        };
        assert!(
            pool.update(AccountData {
                pubkey: &vault,
                owner: &owner,
                data: &bytes
            })
            .unwrap()
            .applied()
        );
    }
    pool
}

#[test]
fn raydium_cp_pool_nets_owed_fees_and_applies_the_creator_fee_side() {
    let plain = cp_pool(0, 0, (false, CreatorFeeOn::BothTokens), false);
    assert_eq!(plain.reserves().unwrap(), (1_000_000_000, 1_000_000_000));
    let q = plain
        .quote(&request(1_000_000, Side::AToB, ExactIn, 0))
        .unwrap();
    assert_eq!((q.amount_out, q.fee_amount), (996_505, 2500));

    // Creator fee only on token 0: on the input when token 0 goes in, on the output otherwise.
    let on0 = cp_pool(0, 0, (true, CreatorFeeOn::OnlyToken0), false);
    let a_to_b = on0
        .quote(&request(1_000_000, Side::AToB, ExactIn, 0))
        .unwrap();
    assert_eq!(
        a_to_b.fee_amount, 3000,
        "trade 2500 + creator 500 ppm on the input"
    );
    let b_to_a = on0
        .quote(&request(1_000_000, Side::BToA, ExactIn, 0))
        .unwrap();
    assert_eq!(
        b_to_a.fee_amount, 2500,
        "creator fee comes out of the output"
    );
    assert_eq!(b_to_a.amount_out, 996_505 - 499);
}

#[test]
fn raydium_cp_pool_gates_on_status_bit_open_time_and_waits_for_token_2022_mints() {
    let disabled = cp_pool(0b100, 0, (false, CreatorFeeOn::BothTokens), false);
    assert_eq!(
        disabled
            .quote(&request(5, Side::AToB, ExactIn, 0))
            .unwrap_err()
            .program_error(),
        Some(ProgramError::CpNotApproved)
    );
    // Deposit/withdraw bits do not stop swaps.
    assert!(
        cp_pool(0b011, 0, (false, CreatorFeeOn::BothTokens), false)
            .quote(&request(5, Side::AToB, ExactIn, 0))
            .is_ok()
    );
    let later = cp_pool(0, 2_000_000_000, (false, CreatorFeeOn::BothTokens), false);
    assert_eq!(
        later
            .quote(&request(5, Side::AToB, ExactIn, 1_999_999_999))
            .unwrap_err()
            .program_error(),
        Some(ProgramError::CpNotApproved)
    );
    assert!(
        later
            .quote(&request(5, Side::AToB, ExactIn, 2_000_000_000))
            .is_ok()
    );
    // A Token-2022 token needs its mint (its transfer fee) before anything is quoted.
    let t22 = cp_pool(0, 0, (false, CreatorFeeOn::BothTokens), true);
    assert!(matches!(
        t22.quote(&request(5, Side::AToB, ExactIn, 0)),
        Err(QuoteError::MissingAccount {
            missing: "token 1 mint",
            ..
        })
    ));
}

/// A CP-Swap pool on reserves 1e9 (token 0) and 2e9 (token 1), 0.25% trade fee, both tokens
/// Token-2022: token 0 charges 1% capped at 1,000,000, token 1 0.5% capped at 30, both from
/// epoch 10 on (nothing before).
fn cp_pool_with_transfer_fees() -> RaydiumCpPool {
    use sniperforge_engine::mint::{Mint, TransferFeeConfig};
    let key = Pubkey([20; 32]);
    let state = PoolState {
        amm_config: Pubkey([21; 32]),
        token_0_vault: Pubkey([22; 32]),
        token_1_vault: Pubkey([23; 32]),
        token_0_mint: Pubkey([24; 32]),
        token_1_mint: Pubkey([25; 32]),
        token_0_program: programs::SPL_TOKEN_2022,
        token_1_program: programs::SPL_TOKEN_2022,
        ..Default::default()
    };
    let mut pool = RaydiumCpPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::RAYDIUM_CP_SWAP,
        data: &state.encode(),
    })
    .unwrap();
    let config = AmmConfig {
        trade_fee_rate: 2_500,
        ..Default::default()
    };
    let mut feed = |key: Pubkey, owner: Pubkey, data: Vec<u8>| {
        assert!(
            pool.update(AccountData {
                pubkey: &key,
                owner: &owner,
                data: &data
            })
            .unwrap()
            .applied()
        );
    };
    feed(state.amm_config, programs::RAYDIUM_CP_SWAP, config.encode());
    for (vault, mint, amount, bps, max) in [
        (
            state.token_0_vault,
            state.token_0_mint,
            1_000_000_000,
            100,
            1_000_000,
        ),
        (
            state.token_1_vault,
            state.token_1_mint,
            2_000_000_000,
            50,
            30,
        ),
    ] {
        let bytes = TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: true,
            is_frozen: false,
        }
        .encode();
        feed(vault, programs::SPL_TOKEN_2022, bytes);
        let m = Mint::token_2022(mint, 6, Some(TransferFeeConfig::from_epoch(10, bps, max)));
        feed(mint, programs::SPL_TOKEN_2022, m.encode());
    }
    pool
}

/// Hand-computed (integers throughout; ceil(a/b) = (a + b − 1) / b):
/// - in 0→1, 1,000,000: input fee ceil(1e6·100/1e4) = 10,000 → 990,000 reach the pool; trade fee
///   ceil(990,000·2,500/1e6) = 2,475; floor(987,525·2e9 / 1,000,987,525) = 1,973,101 leave the
///   vault; output fee min(ceil(1,973,101·50/1e4), 30) = 30 → 1,973,071 arrive.
/// - in 0→1, 1,000,001: input fee ceil(10,000.01) = 10,001: the same 990,000 reach the pool.
/// - in 1→0, 1,000,000: input fee 30 (cap) → 999,970; trade fee ceil(2,499.925) = 2,500;
///   floor(997,470·1e9 / 2,000,997,470) = 498,486; output fee ceil(4,984.86) = 4,985 → 493,501.
/// - out 1→0, 500,000: pre-fee ceil(500,000·1e4/9,900) = 505,051 (fee 5,051 < cap, and
///   fee(505,051) = ceil(5,050.51) = 5,051 verifies) → the curve pays 505,051 for
///   ceil(2e9·505,051 / (1e9 − 505,051)) = 1,010,613, grossed up ceil(1,010,613·1e6/997,500) =
///   1,013,146 (trade fee 2,533); its input fee: the pre-fee amount exceeds the cap → 30.
/// - out 0→1, 1,000,000: output fee 30 (cap) → the curve pays 1,000,030 for
///   ceil(1e9·1,000,030 / (2e9 − 1,000,030)) = 500,266, grossed up to 501,520 (trade fee 1,254);
///   input fee: pre-fee ceil(501,520·1e4/9,900) = 506,586, fee 5,066 → 506,586 in.
#[test]
fn cp_swap_transfer_fees_match_hand_computed_vectors() {
    let pool = cp_pool_with_transfer_fees();
    let at = |amount, side, mode, epoch| {
        let q = pool
            .quote(&QuoteRequest {
                epoch,
                ..request(amount, side, mode, 0)
            })
            .unwrap();
        (
            q.amount_in,
            q.amount_out,
            q.fee_amount,
            q.transfer_fee_in,
            q.transfer_fee_out,
        )
    };
    assert_eq!(
        at(1_000_000, Side::AToB, ExactIn, 10),
        (1_000_000, 1_973_071, 2_475, 10_000, 30)
    );
    assert_eq!(
        at(1_000_001, Side::AToB, ExactIn, 10),
        (1_000_001, 1_973_071, 2_475, 10_001, 30)
    );
    assert_eq!(
        at(1_000_000, Side::BToA, ExactIn, 10),
        (1_000_000, 493_501, 2_500, 30, 4_985)
    );
    assert_eq!(
        at(500_000, Side::BToA, ExactOut, 10),
        (1_013_176, 500_000, 2_533, 30, 5_051)
    );
    assert_eq!(
        at(1_000_000, Side::AToB, ExactOut, 10),
        (506_586, 1_000_000, 1_254, 5_066, 30)
    );
    // Epoch 9: the older set (no fee) is in force.
    let (_, out, _, fee_in, fee_out) = at(1_000_000, Side::AToB, ExactIn, 9);
    assert_eq!((fee_in, fee_out), (0, 0));
    assert!(out > 1_973_071);
    // One unit in at 1%: ceil(0.01) = 1 is withheld and nothing reaches the pool.
    let err = pool
        .quote(&QuoteRequest {
            epoch: 10,
            ..request(1, Side::AToB, ExactIn, 0)
        })
        .unwrap_err();
    assert_eq!(err.program_error(), Some(ProgramError::CpRequireGtViolated));
}

#[test]
fn raydium_v4_refuses_a_token_2022_vault() {
    let mut pool = v4_pool(6, 0, 1_000, 1_000, (0, 0));
    let info = *pool.info();
    let bytes = TokenAccount {
        mint: info.coin_vault_mint,
        owner: Pubkey([9; 32]),
        amount: 1_000,
        is_token_2022: true,
        is_frozen: false,
    }
    .encode();
    pool.update(AccountData {
        pubkey: &info.coin_vault,
        owner: &programs::SPL_TOKEN_2022,
        data: &bytes,
    })
    .unwrap();
    assert_eq!(
        pool.quote(&request(5, Side::AToB, ExactIn, 0))
            .unwrap_err()
            .program_error(),
        Some(ProgramError::AmmInvalidSplTokenProgram)
    );
}

#[test]
fn a_frozen_vault_fails_the_swap_as_the_token_program_does() {
    let frozen = |mint, amount| {
        TokenAccount {
            mint,
            owner: Pubkey([9; 32]),
            amount,
            is_token_2022: false,
            is_frozen: true,
        }
        .encode()
    };
    let mut v4 = v4_pool(6, 0, 1_000_000, 1_000_000, (0, 0));
    let info = *v4.info();
    v4.update(AccountData {
        pubkey: &info.pc_vault,
        owner: &programs::SPL_TOKEN,
        data: &frozen(info.pc_vault_mint, 1_000_000),
    })
    .unwrap();
    let err = v4
        .quote(&request(1_000, Side::AToB, ExactIn, 0))
        .unwrap_err();
    assert_eq!(err.program_error(), Some(ProgramError::TokenAccountFrozen));
    assert!(err.to_string().contains("is frozen"), "{err}");
    assert!(
        v4.curve(Side::AToB, 0).is_none(),
        "no sizing through it either"
    );

    let mut cp = cp_pool(0, 0, (false, CreatorFeeOn::BothTokens), false);
    let s = *cp.state();
    cp.update(AccountData {
        pubkey: &s.token_0_vault,
        owner: &programs::SPL_TOKEN,
        data: &frozen(s.token_0_mint, 1_000_000_123),
    })
    .unwrap();
    assert_eq!(
        cp.quote(&request(1_000, Side::BToA, ExactOut, 0))
            .unwrap_err()
            .program_error(),
        Some(ProgramError::TokenAccountFrozen)
    );
}

#[test]
fn a_mint_rewritten_with_the_same_settings_changes_nothing() {
    use sniperforge_engine::Updated;
    use sniperforge_engine::mint::Mint;
    let mut pool = cp_pool(0, 0, (false, CreatorFeeOn::BothTokens), true);
    let s = *pool.state();
    let mint = Mint {
        is_token_2022: true,
        ..Mint::plain(s.token_1_mint, 6)
    };
    let mut apply = |data: &[u8]| {
        pool.update(AccountData {
            pubkey: &s.token_1_mint,
            owner: &programs::SPL_TOKEN_2022,
            data,
        })
        .unwrap()
    };
    let mut bytes = mint.encode();
    assert_eq!(apply(&bytes), Updated::State);
    // The supply moved (a burn): nothing a quote reads.
    bytes[36] = 7;
    assert_eq!(apply(&bytes), Updated::Unchanged);
    assert!(Updated::Unchanged.applied());
}
