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
