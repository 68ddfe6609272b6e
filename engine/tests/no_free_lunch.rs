//! No free lunch, as a property of whole pools: over random states (empty, one-unit and
//! near-`u64::MAX` vaults, fees or pnl owed above the vault, every status and open time,
//! Token-2022 transfer fees), no quote costs nothing for something, none pays out the whole
//! output reserve or more, and exact-in of an exact-out's input still delivers the output.
//! 100,000 cases per pool kind and mode.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap fixtures they built

mod common;
use common::request;

use proptest::prelude::*;
use sniperforge_engine::mint::{Mint, TransferFee, TransferFeeConfig};
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, Quote, Side, SwapMode};
use sniperforge_engine::raydium_cp::{AmmConfig, CreatorFeeOn, PoolState, RaydiumCpPool};
use sniperforge_engine::raydium_v4::{AmmInfo, RaydiumV4Pool};
use sniperforge_engine::token_account::TokenAccount;

const CASES: u32 = 100_000;

/// Balances that hit the edges: 0, one unit, a few, ordinary, and near u64::MAX.
fn balance() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1u64),
        2u64..100,
        100u64..1_000_000_000_000,
        (u64::MAX - 1_000)..=u64::MAX,
        any::<u64>(),
    ]
}

/// Amounts owed out of a vault of `vault`: none, some, all of it, or more.
fn owed(vault: u64) -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0..=vault,
        Just(vault),
        Just(vault.saturating_add(1)),
        any::<u64>(),
    ]
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
/// reserve and `requote` quotes exact in on the same pool.
fn check(
    quote: &Quote,
    mode: SwapMode,
    amount: u64,
    reserve_out: u64,
    requote: impl Fn(u64) -> Option<Quote>,
) -> Result<(), TestCaseError> {
    prop_assert!(quote.amount_in > 0, "free output: {quote:?}");
    prop_assert!(quote.amount_out > 0, "a quote that pays nothing: {quote:?}");
    prop_assert!(
        quote.amount_out < reserve_out,
        "{quote:?} reaches the reserve {reserve_out}"
    );
    match mode {
        SwapMode::ExactIn => prop_assert_eq!(quote.amount_in, amount),
        SwapMode::ExactOut => {
            prop_assert_eq!(quote.amount_out, amount);
            let back = requote(quote.amount_in);
            prop_assert!(
                back.is_some_and(|b| b.amount_out >= amount),
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
        prop_oneof![4 => Just(6u64), 2 => Just(7u64), 1 => 0u64..10, 1 => any::<u64>()],
        prop_oneof![Just(0u64), 1_000u64..2_000, any::<u64>()],
        prop_oneof![Just(0i64), 1_000i64..2_000, any::<i64>()],
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

fn v4_case(s: &V4State, amount: u64, side: Side, mode: SwapMode) -> Result<(), TestCaseError> {
    let pool = v4_pool(s);
    let Ok(q) = pool.quote(&request(amount, side, mode, s.now)) else {
        return Ok(());
    };
    let (coin, pc) = pool.reserves().unwrap();
    let reserve_out = if side == Side::AToB { pc } else { coin };
    check(&q, mode, amount, reserve_out, |x| {
        pool.quote(&request(x, side, SwapMode::ExactIn, s.now)).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn raydium_v4_exact_in_never_quotes_a_free_lunch(s in v4_state(), amount in balance(), side in side()) {
        v4_case(&s, amount, side, SwapMode::ExactIn)?;
    }

    #[test]
    fn raydium_v4_exact_out_never_quotes_a_free_lunch(s in v4_state(), amount in balance(), side in side()) {
        v4_case(&s, amount, side, SwapMode::ExactOut)?;
    }
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
    transfer_fees: [Option<TransferFee>; 2],
}

fn transfer_fee() -> impl Strategy<Value = Option<TransferFee>> {
    prop_oneof![
        2 => Just(None),
        1 => (
            prop_oneof![Just(0u16), 1u16..500, Just(9_999u16), Just(10_000u16)],
            prop_oneof![Just(0u64), 1u64..1_000, Just(u64::MAX)],
        )
            .prop_map(|(basis_points, maximum_fee)| Some(TransferFee {
                epoch: 0,
                maximum_fee,
                basis_points,
            })),
    ]
}

fn cp_state() -> impl Strategy<Value = CpState> {
    (
        prop_oneof![4 => Just(0u8), 1 => any::<u8>()],
        prop_oneof![Just(0u64), 1_000u64..2_000, any::<u64>()],
        prop_oneof![Just(0i64), 1_000i64..2_000, any::<i64>()],
        (balance(), balance()),
        (
            prop_oneof![Just(0u64), 1u64..100_000, Just(1_000_000u64)],
            0u64..=1_000_000,
            0u64..=1_000_000,
            prop_oneof![Just(0u64), 1u64..100_000],
        ),
        (any::<bool>(), 0u8..3),
        (transfer_fee(), transfer_fee()),
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
                    })
            },
        )
}

fn cp_pool(s: &CpState) -> RaydiumCpPool {
    let key = Pubkey([10; 32]);
    let program = |fee: &Option<TransferFee>| {
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
        if let Some(fee) = fee {
            let m = Mint {
                transfer_fee: Some(TransferFeeConfig {
                    older: fee,
                    newer: fee,
                }),
                is_token_2022: true,
                ..Mint::plain(mint, 6)
            };
            feed(&mut pool, mint, programs::SPL_TOKEN_2022, &m.encode());
        }
    }
    pool
}

fn cp_case(s: &CpState, amount: u64, side: Side, mode: SwapMode) -> Result<(), TestCaseError> {
    let pool = cp_pool(s);
    let Ok(q) = pool.quote(&request(amount, side, mode, s.now)) else {
        return Ok(());
    };
    let (r0, r1) = pool.reserves().unwrap();
    let reserve_out = if side == Side::AToB { r1 } else { r0 };
    check(&q, mode, amount, reserve_out, |x| {
        pool.quote(&request(x, side, SwapMode::ExactIn, s.now)).ok()
    })?;
    // The transfer fees are the mints' own: the input's is charged on what leaves the trader.
    let (fee_in, fee_out) = match side {
        Side::AToB => (s.transfer_fees[0], s.transfer_fees[1]),
        Side::BToA => (s.transfer_fees[1], s.transfer_fees[0]),
    };
    prop_assert_eq!(q.transfer_fee_in, fee_in.map_or(0, |f| f.fee(q.amount_in)));
    prop_assert_eq!(
        q.transfer_fee_out,
        fee_out.map_or(0, |f| f.fee(q.amount_out + q.transfer_fee_out))
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn raydium_cp_exact_in_never_quotes_a_free_lunch(s in cp_state(), amount in balance(), side in side()) {
        cp_case(&s, amount, side, SwapMode::ExactIn)?;
    }

    #[test]
    fn raydium_cp_exact_out_never_quotes_a_free_lunch(s in cp_state(), amount in balance(), side in side()) {
        cp_case(&s, amount, side, SwapMode::ExactOut)?;
    }
}
