//! Whirlpool pool behaviour the parity test does not reach: the errors the program raises,
//! price bounds, adaptive-fee pools, tick array routing and partial fills.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap fixtures they built

use sniperforge_engine::mint::Mint;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, QuoteRequest, Side, SwapMode};
use sniperforge_engine::whirlpool::math::{
    MAX_SQRT_PRICE, MIN_SQRT_PRICE, MIN_TICK_INDEX, sqrt_price_from_tick_index,
};
use sniperforge_engine::whirlpool::{TickArray, TickImage, Whirlpool, WhirlpoolPool};
use sniperforge_engine::{DecodeError, QuoteError};

const KEY: Pubkey = Pubkey([7; 32]);

fn state(spacing: u16, tick: i32, liquidity: u128) -> Whirlpool {
    Whirlpool {
        tick_spacing: spacing,
        fee_tier_index_seed: spacing,
        fee_rate: 3000,
        protocol_fee_rate: 300,
        liquidity,
        sqrt_price: sqrt_price_from_tick_index(tick) + 1,
        tick_current_index: tick,
        token_mint_a: Pubkey([1; 32]),
        token_vault_a: Pubkey([2; 32]),
        token_mint_b: Pubkey([3; 32]),
        token_vault_b: Pubkey([4; 32]),
    }
}

fn pool(state: &Whirlpool, arrays: &[(i32, Vec<(usize, i128)>)]) -> WhirlpoolPool {
    pool_with_mints(
        state,
        arrays,
        Mint::plain(state.token_mint_a, 9),
        Mint::plain(state.token_mint_b, 6),
    )
}

/// A pool with its tick arrays and the two mints (whose transfer fees quotes apply).
fn pool_with_mints(
    state: &Whirlpool,
    arrays: &[(i32, Vec<(usize, i128)>)],
    mint_a: Mint,
    mint_b: Mint,
) -> WhirlpoolPool {
    let data = state.encode();
    let mut pool = WhirlpoolPool::from_account(AccountData {
        pubkey: &KEY,
        owner: &programs::ORCA_WHIRLPOOL,
        data: &data,
    })
    .unwrap();
    for (i, (start, ticks)) in arrays.iter().enumerate() {
        let mut images = [TickImage::default(); 88];
        for (slot, net) in ticks {
            images[*slot] = TickImage {
                initialized: true,
                liquidity_net: *net,
                liquidity_gross: net.unsigned_abs(),
            };
        }
        let bytes = TickArray::encode_fixed(&KEY, *start, &images);
        let key = Pubkey([50 + i as u8; 32]);
        assert!(
            pool.update(AccountData {
                pubkey: &key,
                owner: &programs::ORCA_WHIRLPOOL,
                data: &bytes
            })
            .unwrap()
            .applied()
        );
    }
    for mint in [mint_a, mint_b] {
        let bytes = mint.encode();
        assert!(
            pool.update(AccountData {
                pubkey: &mint.key,
                owner: &mint.program(),
                data: &bytes
            })
            .unwrap()
            .applied()
        );
    }
    pool
}

fn quote(
    pool: &WhirlpoolPool,
    amount: u64,
    side: Side,
    mode: SwapMode,
) -> Result<(u64, u64, u64), QuoteError> {
    pool.quote(&QuoteRequest {
        amount,
        side,
        mode,
        unix_timestamp: 0,
        epoch: 0,
    })
    .map(|q| (q.amount_in, q.amount_out, q.fee_amount))
}

#[test]
fn a_swap_that_needs_more_arrays_than_supplied_is_an_error() {
    // Spacing 8: arrays of 704 ticks. Only the current array: a big swap runs off its edge.
    let p = pool(&state(8, 100, 1_000_000_000), &[(0, vec![])]);
    let err = quote(&p, u64::MAX / 2, Side::AToB, SwapMode::ExactIn).unwrap_err();
    assert_eq!(
        err,
        QuoteError::TickArraysExhausted {
            next_start_tick: -704,
            instruction_limit: false,
        }
    );
    let err = quote(&p, u64::MAX / 2, Side::BToA, SwapMode::ExactIn).unwrap_err();
    assert_eq!(
        err,
        QuoteError::TickArraysExhausted {
            next_start_tick: 704,
            instruction_limit: false,
        }
    );
    // A small swap stays inside and quotes.
    let (amount_in, out, fee) = quote(&p, 10_000, Side::AToB, SwapMode::ExactIn).unwrap();
    assert_eq!((amount_in, fee), (10_000, 30));
    assert!(out > 9_900 && out < 10_100, "price ~1.01 B per A: {out}");
}

#[test]
fn missing_current_array_is_an_error_naming_it() {
    let p = pool(&state(8, 100, 1_000_000_000), &[(704, vec![])]);
    assert_eq!(
        quote(&p, 1000, Side::AToB, SwapMode::ExactIn).unwrap_err(),
        QuoteError::TickArraysExhausted {
            next_start_tick: 0,
            instruction_limit: false
        }
    );
}

#[test]
fn b_to_a_window_starts_one_array_right_when_the_tick_sits_in_the_last_slot() {
    // Tick 700 lies in the last slot (696..703) of array 0: the program's b→a window starts
    // at array 704, so array 0 is not needed.
    let p = pool(
        &state(8, 700, 1_000_000_000),
        &[(704, vec![]), (1408, vec![])],
    );
    assert!(quote(&p, 1000, Side::BToA, SwapMode::ExactIn).is_ok());
    assert!(quote(&p, 1000, Side::AToB, SwapMode::ExactIn).is_err());
}

#[test]
fn crossing_an_initialized_tick_changes_liquidity() {
    // Liquidity 1e9 between ticks 0 and 64, nothing below: selling A past tick 0 runs into
    // zero liquidity, and the swap fills only up to the array edge (exact in stops, exact out
    // without a limit is a partial-fill error once the price bound is reached).
    let p = pool(
        &state(8, 32, 1_000_000_000),
        &[
            (0, vec![(0, 1_000_000_000), (8, -1_000_000_000)]),
            (-704, vec![]),
            (-1408, vec![]),
        ],
    );
    let all = quote(&p, u64::MAX / 4, Side::AToB, SwapMode::ExactIn);
    assert_eq!(
        all,
        Err(QuoteError::TickArraysExhausted {
            next_start_tick: -2112,
            instruction_limit: true,
        })
    );
    // What the range holds between the price and tick 0:
    let max_out = sniperforge_engine::whirlpool::math::amount_delta_b(
        sqrt_price_from_tick_index(0),
        sqrt_price_from_tick_index(32) + 1,
        1_000_000_000,
        false,
    )
    .unwrap();
    let err = quote(&p, max_out + 1, Side::AToB, SwapMode::ExactOut).unwrap_err();
    assert!(
        matches!(err, QuoteError::TickArraysExhausted { .. }),
        "{err}"
    );
    let (_, out, _) = quote(&p, max_out, Side::AToB, SwapMode::ExactOut).unwrap();
    assert_eq!(out, max_out);
}

#[test]
fn exact_in_at_the_minimum_price_fills_partly_and_a_pool_at_the_bound_refuses() {
    let spacing = 64u16;
    let per = 88 * 64;
    let min_array = MIN_TICK_INDEX.div_euclid(per) * per;
    let mut s = state(spacing, MIN_TICK_INDEX + 10, 1_000_000);
    let p = pool(&s, &[(min_array, vec![])]);
    let (amount_in, out, _) = quote(&p, u64::MAX, Side::AToB, SwapMode::ExactIn).unwrap();
    assert!(amount_in < u64::MAX, "partial fill at the minimum price");
    assert_eq!(out, 0, "B is worth ~1e-38 A down there");
    let err = quote(&p, u64::MAX, Side::AToB, SwapMode::ExactOut);
    assert!(
        matches!(
            err,
            Err(QuoteError::PartialFill { .. }) | Err(QuoteError::Overflow { .. })
        ),
        "{err:?}"
    );
    s.sqrt_price = MIN_SQRT_PRICE;
    s.tick_current_index = MIN_TICK_INDEX;
    s.liquidity = 10u128.pow(18);
    let at_bound = pool(&s, &[(min_array, vec![])]);
    assert_eq!(
        quote(&at_bound, 5, Side::AToB, SwapMode::ExactIn),
        Err(QuoteError::PriceAtBound)
    );
    // Away from the bound the swap proceeds (here into amounts of A beyond u64: an error the
    // program raises too, but not the bound).
    let up = quote(&at_bound, 5, Side::BToA, SwapMode::ExactIn);
    assert!(!matches!(up, Err(QuoteError::PriceAtBound)), "{up:?}");
    assert!(sqrt_price_from_tick_index(-MIN_TICK_INDEX) == MAX_SQRT_PRICE);
}

#[test]
fn tiny_exact_in_whose_output_rounds_to_zero_is_a_valid_quote() {
    let p = pool(&state(8, 100, 1_000_000_000_000), &[(0, vec![])]);
    assert_eq!(quote(&p, 1, Side::AToB, SwapMode::ExactIn), Ok((1, 0, 1)));
}

#[test]
fn adaptive_fee_pools_are_refused_not_mispriced() {
    let mut s = state(8, 100, 1_000_000_000);
    s.fee_tier_index_seed = 1025;
    let p = pool(&s, &[(0, vec![])]);
    assert!(matches!(
        quote(&p, 1000, Side::AToB, SwapMode::ExactIn),
        Err(QuoteError::Unsupported(_))
    ));
}

#[test]
fn tick_arrays_of_other_pools_are_ignored_and_misaligned_ones_rejected() {
    let mut p = pool(&state(8, 100, 1_000_000_000), &[(0, vec![])]);
    let other = TickArray::encode_fixed(&Pubkey([99; 32]), 704, &[TickImage::default(); 88]);
    assert_eq!(
        p.update(AccountData {
            pubkey: &Pubkey([60; 32]),
            owner: &programs::ORCA_WHIRLPOOL,
            data: &other
        }),
        Ok(sniperforge_engine::Updated::Ignored)
    );
    let misaligned = TickArray::encode_fixed(&KEY, 700, &[TickImage::default(); 88]);
    let err = p
        .update(AccountData {
            pubkey: &Pubkey([61; 32]),
            owner: &programs::ORCA_WHIRLPOOL,
            data: &misaligned,
        })
        .unwrap_err();
    assert!(matches!(
        err,
        DecodeError::InvalidField {
            field: "start_tick_index",
            ..
        }
    ));
    // The pool, the six window arrays by address (two below, the current one, three above), and
    // the one array supplied under a non-derived address, then the two mints.
    let accounts = p.accounts();
    assert_eq!(accounts[0], KEY);
    assert_eq!(accounts.len(), 1 + 6 + 1 + 2);
    assert_eq!(accounts[8..], [Pubkey([1; 32]), Pubkey([3; 32])]);
    assert!(accounts.contains(&Pubkey([50; 32])));
    assert!(accounts.contains(&sniperforge_engine::pda::whirlpool_tick_array(&KEY, 704).unwrap()));
}

/// A Token-2022 mint charging `basis_points` capped at `maximum_fee` from epoch 10 on (nothing
/// before).
fn fee_mint(key: Pubkey, basis_points: u16, maximum_fee: u64) -> Mint {
    use sniperforge_engine::mint::TransferFeeConfig;
    Mint::token_2022(
        key,
        6,
        Some(TransferFeeConfig::from_epoch(10, basis_points, maximum_fee)),
    )
}

fn quote_at(
    pool: &WhirlpoolPool,
    amount: u64,
    side: Side,
    mode: SwapMode,
    epoch: u64,
) -> Result<sniperforge_engine::Quote, QuoteError> {
    pool.quote(&QuoteRequest {
        amount,
        side,
        mode,
        unix_timestamp: 0,
        epoch,
    })
}

/// `swap_v2` with transfer fees, computed by hand on top of the fee-free swap of the same pool:
/// mint A charges 1% capped at 7, mint B 0.5% capped at 3 (both caps bind at these sizes).
/// Exact in: the input fee min(ceil(1e6·100/1e4), 7) = 7 comes off first; the output fee
/// min(ceil(out·50/1e4), 3) = 3 comes off what the vault sends. Exact out of 10,000 B: the
/// pool must send 10,003 (pre-fee ceil(10,000·1e4/9,950) = 10,051 exceeds the cap, so
/// 10,000 + 3; fee(10,003) = 3 verifies) and the trader pays the pool's input plus 7.
#[test]
fn transfer_fees_follow_swap_v2_in_both_modes_and_directions() {
    let s = state(8, 100, 1_000_000_000_000);
    let arrays = [(-704, vec![]), (0, vec![]), (704, vec![])];
    let plain = pool(&s, &arrays);
    let fees = pool_with_mints(
        &s,
        &arrays,
        fee_mint(s.token_mint_a, 100, 7),
        fee_mint(s.token_mint_b, 50, 3),
    );
    // (side, input fee, output fee)
    for (side, fee_in, fee_out) in [(Side::AToB, 7, 3), (Side::BToA, 3, 7)] {
        let base = quote_at(&plain, 1_000_000 - fee_in, side, SwapMode::ExactIn, 10).unwrap();
        let q = quote_at(&fees, 1_000_000, side, SwapMode::ExactIn, 10).unwrap();
        assert_eq!(
            (q.amount_in, q.amount_out, q.fee_amount),
            (1_000_000, base.amount_out - fee_out, base.fee_amount),
            "{side:?} exact in"
        );
        assert_eq!((q.transfer_fee_in, q.transfer_fee_out), (fee_in, fee_out));

        let pool_out = 10_000 + fee_out;
        let base = quote_at(&plain, pool_out, side, SwapMode::ExactOut, 10).unwrap();
        let q = quote_at(&fees, 10_000, side, SwapMode::ExactOut, 10).unwrap();
        assert_eq!(
            (q.amount_in, q.amount_out, q.fee_amount),
            (base.amount_in + fee_in, 10_000, base.fee_amount),
            "{side:?} exact out"
        );
        assert_eq!((q.transfer_fee_in, q.transfer_fee_out), (fee_in, fee_out));
        // Exact in of what exact out charges delivers at least the output asked for.
        let back = quote_at(&fees, q.amount_in, side, SwapMode::ExactIn, 10).unwrap();
        assert!(back.amount_out >= 10_000, "{back:?}");
    }
    // Before epoch 10 the older set (no fee) is in force: the fee-free numbers.
    assert_eq!(
        quote_at(&fees, 1_000_000, Side::AToB, SwapMode::ExactIn, 9).unwrap(),
        quote_at(&plain, 1_000_000, Side::AToB, SwapMode::ExactIn, 9).unwrap()
    );
    // Uncapped rounding edges: at 1% with no cap, 99 net needs ceil(99·1e4/9,900) = 100 gross
    // (fee 1), and 1 in leaves ceil(0.01) = 1 fee, nothing for the pool.
    let uncapped = pool_with_mints(
        &s,
        &arrays,
        fee_mint(s.token_mint_a, 100, u64::MAX),
        Mint::plain(s.token_mint_b, 6),
    );
    let q = quote_at(&uncapped, 99, Side::BToA, SwapMode::ExactOut, 10).unwrap();
    assert_eq!((q.amount_out, q.transfer_fee_out), (99, 1));
    let err = quote_at(&uncapped, 1, Side::AToB, SwapMode::ExactIn, 10).unwrap_err();
    assert_eq!(
        err.program_error(),
        Some(sniperforge_engine::ProgramError::WhirlpoolZeroTradableAmount)
    );
    // 100%: everything sent is withheld up to the cap; a 5-unit input at cap 5 leaves nothing.
    let full = pool_with_mints(
        &s,
        &arrays,
        fee_mint(s.token_mint_a, 10_000, 5),
        Mint::plain(s.token_mint_b, 6),
    );
    assert!(quote_at(&full, 5, Side::AToB, SwapMode::ExactIn, 10).is_err());
    let q = quote_at(&full, 1_000, Side::AToB, SwapMode::ExactIn, 10).unwrap();
    assert_eq!(q.transfer_fee_in, 5);
    // A mint with a transfer hook (extension 14, a program id set) makes the pool unquotable.
    let mut p = pool(&s, &arrays);
    let mut hooked = Mint::plain(s.token_mint_a, 6).encode();
    hooked.resize(165, 0);
    hooked.push(1); // account type: mint
    hooked.extend_from_slice(&14u16.to_le_bytes());
    hooked.extend_from_slice(&64u16.to_le_bytes());
    hooked.extend_from_slice(&[0; 32]);
    hooked.extend_from_slice(&[9; 32]);
    p.update(AccountData {
        pubkey: &s.token_mint_a,
        owner: &programs::SPL_TOKEN_2022,
        data: &hooked,
    })
    .unwrap();
    let err = quote_at(&p, 1_000, Side::BToA, SwapMode::ExactIn, 10).unwrap_err();
    assert!(matches!(err, QuoteError::UnsupportedMint { .. }), "{err}");
    assert!(err.to_string().contains("transfer hook"), "{err}");
}

/// A partial fill (the price bound reached) charges the fee-included amount of what the pool
/// took (swap.rs L263-265), not the amount given: with 1% capped at 7 on A, the pool's input
/// plus 7.
#[test]
fn a_partial_fill_with_a_transfer_fee_charges_what_the_pool_took_plus_its_fee() {
    let per = 88 * 64;
    let min_array = MIN_TICK_INDEX.div_euclid(per) * per;
    let s = state(64, MIN_TICK_INDEX + 10, 1_000_000);
    let arrays = [(min_array, vec![])];
    let plain = pool(&s, &arrays);
    let fees = pool_with_mints(
        &s,
        &arrays,
        fee_mint(s.token_mint_a, 100, 7),
        Mint::plain(s.token_mint_b, 6),
    );
    let amount = u64::MAX / 2;
    let base = quote_at(&plain, amount - 7, Side::AToB, SwapMode::ExactIn, 10).unwrap();
    assert!(
        base.amount_in < amount - 7,
        "the fee-free swap fills partly too"
    );
    let q = quote_at(&fees, amount, Side::AToB, SwapMode::ExactIn, 10).unwrap();
    assert_eq!(
        (q.amount_in, q.transfer_fee_in, q.amount_out),
        (base.amount_in + 7, 7, base.amount_out)
    );
}

#[test]
fn the_curve_is_exact_up_to_the_first_initialized_tick_or_the_window_edge() {
    // Liquidity 1e12 around tick 100; an initialized tick at 64 (a→b runs into it) and at 200
    // (b→a); the curve's range ends there: just inside, the swap keeps the liquidity and
    // follows the curve; just past, it crosses.
    let l: u128 = 1_000_000_000_000;
    let p = pool(
        &state(8, 100, l),
        &[
            (0, vec![(8, (l / 2) as i128), (25, -((l / 2) as i128))]),
            (-704, vec![]),
            (704, vec![]),
        ],
    );
    for side in [Side::AToB, Side::BToA] {
        let curve = p.curve(side, 0).unwrap();
        let end = p.exact_input(side, 0);
        assert!(end.is_finite() && end > 1e6, "{side:?}: {end}");
        let inside = p
            .quote_with_limit((end * 0.999) as u64, side, SwapMode::ExactIn, 0)
            .unwrap();
        assert_eq!(inside.liquidity, l, "{side:?}");
        let out = curve.output((end * 0.999).floor());
        assert!(
            (inside.amount_out as f64 - out).abs() <= out * 1e-6 + 2.0,
            "{side:?}: {} vs {out}",
            inside.amount_out
        );
        let past = p
            .quote_with_limit((end * 1.001) as u64, side, SwapMode::ExactIn, 0)
            .unwrap();
        assert_eq!(past.liquidity, l / 2, "{side:?}");
    }
    // No initialized tick ahead: the range ends at the window's edge, past which the swap
    // fails.
    let p = pool(
        &state(8, 100, l),
        &[(0, vec![]), (704, vec![]), (1408, vec![])],
    );
    let end = p.exact_input(Side::BToA, 0);
    assert!(end.is_finite() && end > 1e6, "{end}");
    assert!(
        p.quote_with_limit((end * 0.999) as u64, Side::BToA, SwapMode::ExactIn, 0)
            .is_ok()
    );
    assert!(matches!(
        p.quote_with_limit((end * 1.001) as u64, Side::BToA, SwapMode::ExactIn, 0),
        Err(QuoteError::TickArraysExhausted { .. })
    ));
}
