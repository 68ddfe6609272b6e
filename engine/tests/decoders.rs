//! Decoders on hand-built byte images: a distinct sentinel in every field the engine reads, at
//! the offsets of the programs' layouts (written here independently of the encoders), and a
//! typed error naming account and field for every kind of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap fixtures they built

use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::raydium_cp::{AmmConfig, CreatorFeeOn, PoolState};
use sniperforge_engine::raydium_v4::AmmInfo;
use sniperforge_engine::token_account::TokenAccount;
use sniperforge_engine::whirlpool::{TickArray, Whirlpool};
use sniperforge_engine::{AccountKind, DecodeError};

fn put(d: &mut [u8], at: usize, bytes: &[u8]) {
    d[at..at + bytes.len()].copy_from_slice(bytes);
}

fn pk(tag: u8) -> Pubkey {
    Pubkey([tag; 32])
}

const KEY: Pubkey = Pubkey([0xEE; 32]);

fn amm_info_image() -> Vec<u8> {
    let mut d = vec![0xA5u8; 752]; // fields the engine ignores hold noise
    put(&mut d, 0, &6u64.to_le_bytes());
    put(&mut d, 32, &9u64.to_le_bytes());
    put(&mut d, 40, &6u64.to_le_bytes());
    put(&mut d, 144, &0x1111u64.to_le_bytes());
    put(&mut d, 152, &0x2222u64.to_le_bytes());
    put(&mut d, 176, &0x3333u64.to_le_bytes());
    put(&mut d, 184, &0x4444u64.to_le_bytes());
    put(&mut d, 192, &0x5555_0001u64.to_le_bytes());
    put(&mut d, 200, &0x6666_0002u64.to_le_bytes());
    put(&mut d, 224, &0x7777_0003u64.to_le_bytes());
    put(&mut d, 248, &0x8888_0004u64.to_le_bytes());
    for (at, tag) in [
        (336, 1),
        (368, 2),
        (400, 3),
        (432, 4),
        (464, 5),
        (496, 6),
        (528, 7),
    ] {
        put(&mut d, at, &[tag; 32]);
    }
    d
}

#[test]
fn raydium_amm_info_reads_every_field_at_its_offset() {
    let info = AmmInfo::decode(&KEY, &programs::RAYDIUM_AMM_V4, &amm_info_image()).unwrap();
    assert_eq!(
        info,
        AmmInfo {
            status: 6,
            coin_decimals: 9,
            pc_decimals: 6,
            trade_fee_numerator: 0x1111,
            trade_fee_denominator: 0x2222,
            swap_fee_numerator: 0x3333,
            swap_fee_denominator: 0x4444,
            need_take_pnl_coin: 0x5555_0001,
            need_take_pnl_pc: 0x6666_0002,
            pool_open_time: 0x7777_0003,
            orderbook_to_init_time: 0x8888_0004,
            coin_vault: pk(1),
            pc_vault: pk(2),
            coin_vault_mint: pk(3),
            pc_vault_mint: pk(4),
            lp_mint: pk(5),
            open_orders: pk(6),
            market: pk(7),
        }
    );
}

#[test]
fn raydium_amm_info_errors_name_account_and_field() {
    let good = amm_info_image();
    let err = AmmInfo::decode(&KEY, &programs::ORCA_WHIRLPOOL, &good).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::WrongOwner {
            kind: AccountKind::RaydiumAmmInfo,
            ..
        }
    ));
    let err = AmmInfo::decode(&KEY, &programs::RAYDIUM_AMM_V4, &good[..751]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("raydium-v4 AmmInfo {KEY}: data is 751 bytes, expected 752")
    );
    let mut bad = good.clone();
    put(&mut bad, 184, &0u64.to_le_bytes());
    assert!(
        AmmInfo::decode(&KEY, &programs::RAYDIUM_AMM_V4, &bad)
            .unwrap_err()
            .to_string()
            .contains("fees.swap_fee_denominator")
    );
    let mut bad = good.clone();
    put(&mut bad, 176, &0x4444u64.to_le_bytes());
    assert!(
        AmmInfo::decode(&KEY, &programs::RAYDIUM_AMM_V4, &bad)
            .unwrap_err()
            .to_string()
            .contains("fees.swap_fee_numerator")
    );
    let mut bad = good;
    put(&mut bad, 32, &300u64.to_le_bytes());
    assert!(
        AmmInfo::decode(&KEY, &programs::RAYDIUM_AMM_V4, &bad)
            .unwrap_err()
            .to_string()
            .contains("coin_decimals")
    );
}

fn pool_state_image() -> Vec<u8> {
    let mut d = vec![0xA5u8; 637];
    put(&mut d, 0, &[247, 237, 227, 245, 215, 195, 222, 70]);
    for (at, tag) in [
        (8, 1),
        (40, 8),
        (72, 2),
        (104, 3),
        (136, 4),
        (168, 5),
        (200, 6),
        (296, 9),
    ] {
        put(&mut d, at, &[tag; 32]);
    }
    put(&mut d, 232, &programs::SPL_TOKEN.0);
    put(&mut d, 264, &programs::SPL_TOKEN_2022.0);
    put(&mut d, 329, &[0b10]);
    put(&mut d, 331, &[9, 6]);
    for (i, at) in [341usize, 349, 357, 365, 373, 397, 405]
        .into_iter()
        .enumerate()
    {
        put(&mut d, at, &(0x1000_0000 + i as u64).to_le_bytes());
    }
    put(&mut d, 389, &[2, 1]);
    d
}

#[test]
fn raydium_cp_pool_state_reads_every_field_at_its_offset() {
    let s = PoolState::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &pool_state_image()).unwrap();
    assert_eq!(
        s,
        PoolState {
            amm_config: pk(1),
            pool_creator: pk(8),
            token_0_vault: pk(2),
            token_1_vault: pk(3),
            lp_mint: pk(4),
            token_0_mint: pk(5),
            token_1_mint: pk(6),
            token_0_program: programs::SPL_TOKEN,
            token_1_program: programs::SPL_TOKEN_2022,
            observation_key: pk(9),
            status: 0b10,
            mint_0_decimals: 9,
            mint_1_decimals: 6,
            protocol_fees_token_0: 0x1000_0000,
            protocol_fees_token_1: 0x1000_0001,
            fund_fees_token_0: 0x1000_0002,
            fund_fees_token_1: 0x1000_0003,
            open_time: 0x1000_0004,
            creator_fee_on: CreatorFeeOn::OnlyToken1,
            enable_creator_fee: true,
            creator_fees_token_0: 0x1000_0005,
            creator_fees_token_1: 0x1000_0006,
        }
    );
}

#[test]
fn raydium_cp_errors_name_account_and_field() {
    let good = pool_state_image();
    let mut bad = good.clone();
    bad[0] ^= 1;
    assert!(matches!(
        PoolState::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &bad),
        Err(DecodeError::WrongDiscriminator {
            kind: AccountKind::RaydiumCpPoolState,
            ..
        })
    ));
    let mut bad = good.clone();
    bad[389] = 3;
    assert!(
        PoolState::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &bad)
            .unwrap_err()
            .to_string()
            .contains("creator_fee_on")
    );
    let mut bad = good.clone();
    bad[390] = 2;
    assert!(
        PoolState::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &bad)
            .unwrap_err()
            .to_string()
            .contains("enable_creator_fee")
    );
    let mut bad = good;
    put(&mut bad, 232, &[9; 32]);
    assert!(
        PoolState::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &bad)
            .unwrap_err()
            .to_string()
            .contains("token_0_program")
    );
}

#[test]
fn raydium_cp_amm_config_reads_rates_and_rejects_impossible_ones() {
    let mut d = vec![0xA5u8; 236];
    put(&mut d, 0, &[218, 244, 33, 104, 203, 203, 43, 111]);
    put(&mut d, 12, &2_500u64.to_le_bytes());
    put(&mut d, 20, &120_000u64.to_le_bytes());
    put(&mut d, 28, &40_000u64.to_le_bytes());
    put(&mut d, 108, &700u64.to_le_bytes());
    let c = AmmConfig::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &d).unwrap();
    assert_eq!(
        c,
        AmmConfig {
            trade_fee_rate: 2_500,
            protocol_fee_rate: 120_000,
            fund_fee_rate: 40_000,
            creator_fee_rate: 700
        }
    );
    put(&mut d, 12, &1_000_001u64.to_le_bytes());
    let err = AmmConfig::decode(&KEY, &programs::RAYDIUM_CP_SWAP, &d).unwrap_err();
    assert!(
        err.to_string().contains("raydium-cp AmmConfig")
            && err.to_string().contains("trade_fee_rate"),
        "{err}"
    );
}

fn whirlpool_image() -> Vec<u8> {
    let mut d = vec![0xA5u8; 653];
    put(&mut d, 0, &[63, 149, 209, 12, 225, 128, 99, 9]);
    put(&mut d, 41, &64u16.to_le_bytes());
    put(&mut d, 43, &64u16.to_le_bytes());
    put(&mut d, 45, &3_000u16.to_le_bytes());
    put(&mut d, 47, &1_300u16.to_le_bytes());
    put(&mut d, 49, &0x0123_4567_89ab_cdef_0011u128.to_le_bytes());
    put(&mut d, 65, &(7u128 << 64).to_le_bytes());
    put(&mut d, 81, &(-1234i32).to_le_bytes());
    for (at, tag) in [(101, 1), (133, 2), (181, 3), (213, 4)] {
        put(&mut d, at, &[tag; 32]);
    }
    d
}

#[test]
fn whirlpool_reads_every_field_at_its_offset() {
    let w = Whirlpool::decode(&KEY, &programs::ORCA_WHIRLPOOL, &whirlpool_image()).unwrap();
    assert_eq!(
        w,
        Whirlpool {
            tick_spacing: 64,
            fee_tier_index_seed: 64,
            fee_rate: 3_000,
            protocol_fee_rate: 1_300,
            liquidity: 0x0123_4567_89ab_cdef_0011,
            sqrt_price: 7u128 << 64,
            tick_current_index: -1234,
            token_mint_a: pk(1),
            token_vault_a: pk(2),
            token_mint_b: pk(3),
            token_vault_b: pk(4),
        }
    );
    assert!(!w.is_adaptive_fee());
}

#[test]
fn whirlpool_rejects_impossible_values() {
    for (at, bytes, field) in [
        (41usize, 0u16.to_le_bytes().to_vec(), "tick_spacing"),
        (45, 60_001u16.to_le_bytes().to_vec(), "fee_rate"),
        (65, 1u128.to_le_bytes().to_vec(), "sqrt_price"),
        (81, 500_000i32.to_le_bytes().to_vec(), "tick_current_index"),
    ] {
        let mut d = whirlpool_image();
        put(&mut d, at, &bytes);
        let err = Whirlpool::decode(&KEY, &programs::ORCA_WHIRLPOOL, &d).unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
}

fn fixed_tick_array_image(start: i32) -> Vec<u8> {
    let mut d = vec![0u8; 9988];
    put(&mut d, 0, &[69, 97, 189, 190, 110, 7, 66, 187]);
    put(&mut d, 8, &start.to_le_bytes());
    for slot in [0usize, 5, 87] {
        let at = 12 + slot * 113;
        d[at] = 1;
        put(
            &mut d,
            at + 1,
            &(-(slot as i128 + 1) * 1_000_003).to_le_bytes(),
        );
        put(&mut d, at + 17, &[0xA5; 96]); // gross, fee growths, rewards: ignored
    }
    put(&mut d, 9956, &[0x77; 32]);
    d
}

#[test]
fn fixed_tick_array_reads_initialized_ticks_and_owner_pool() {
    let a = TickArray::decode(
        &KEY,
        &programs::ORCA_WHIRLPOOL,
        &fixed_tick_array_image(-5632),
    )
    .unwrap();
    assert_eq!(a.start_tick_index, -5632);
    assert_eq!(a.whirlpool, Pubkey([0x77; 32]));
    assert_eq!(a.initialized, 1 | 1 << 5 | 1 << 87);
    assert_eq!(a.liquidity_net[5], -6 * 1_000_003);
    assert_eq!(a.liquidity_net[87], -88 * 1_000_003);
    assert_eq!(a.liquidity_net[1], 0);
    assert!(!a.dynamic);
    let mut bad = fixed_tick_array_image(0);
    bad[12 + 3 * 113] = 2;
    assert!(
        TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &bad)
            .unwrap_err()
            .to_string()
            .contains("ticks[].initialized")
    );
    let err = TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &bad[..9000]).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::WrongLength {
            kind: AccountKind::WhirlpoolTickArray,
            found: 9000,
            ..
        }
    ));
}

fn dynamic_tick_array_image(start: i32, initialized: &[usize]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&[17, 216, 246, 142, 225, 199, 218, 56]);
    d.extend_from_slice(&start.to_le_bytes());
    d.extend_from_slice(&[0x66; 32]);
    let bitmap = initialized.iter().fold(0u128, |b, s| b | 1 << s);
    d.extend_from_slice(&bitmap.to_le_bytes());
    for slot in 0..88 {
        if initialized.contains(&slot) {
            d.push(1);
            d.extend_from_slice(&(slot as i128 * 99 - 5000).to_le_bytes());
            d.extend_from_slice(&[0xA5; 96]);
        } else {
            d.push(0);
        }
    }
    d
}

#[test]
fn dynamic_tick_array_reads_variable_length_ticks() {
    let empty = dynamic_tick_array_image(88, &[]);
    assert_eq!(empty.len(), 148);
    let a = TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &empty).unwrap();
    assert_eq!(
        (a.start_tick_index, a.initialized, a.dynamic),
        (88, 0, true)
    );
    let full: Vec<usize> = (0..88).collect();
    assert_eq!(dynamic_tick_array_image(0, &full).len(), 10004);
    let d = dynamic_tick_array_image(-176, &[0, 3, 40, 87]);
    let a = TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &d).unwrap();
    assert_eq!(a.whirlpool, Pubkey([0x66; 32]));
    assert_eq!(a.initialized, 1 | 1 << 3 | 1 << 40 | 1 << 87);
    assert_eq!(a.liquidity_net[40], 40 * 99 - 5000);
    assert_eq!(a.liquidity_net[87], 87 * 99 - 5000);
}

#[test]
fn dynamic_tick_array_rejects_a_bitmap_that_disagrees_with_the_tags() {
    let mut d = dynamic_tick_array_image(0, &[3]);
    put(&mut d, 44, &(1u128 << 4).to_le_bytes());
    let err = TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &d).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidField {
                kind: AccountKind::WhirlpoolDynamicTickArray,
                field: "tick_bitmap",
                ..
            }
        ),
        "{err}"
    );
    let mut d = dynamic_tick_array_image(0, &[3]);
    d.push(0);
    assert!(TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &d).is_err());
    let d = dynamic_tick_array_image(0, &[3]);
    assert!(TickArray::decode(&KEY, &programs::ORCA_WHIRLPOOL, &d[..100]).is_err());
}

#[test]
fn token_account_reads_mint_owner_amount() {
    let mut d = vec![0u8; 165];
    put(&mut d, 0, &[1; 32]);
    put(&mut d, 32, &[2; 32]);
    put(&mut d, 64, &0x0102_0304_0506_0708u64.to_le_bytes());
    d[108] = 1;
    let t = TokenAccount::decode(&KEY, &programs::SPL_TOKEN, &d).unwrap();
    assert_eq!(
        (t.mint, t.owner, t.amount),
        (pk(1), pk(2), 0x0102_0304_0506_0708)
    );
}

#[test]
fn no_decoder_panics_on_truncations_and_random_bytes() {
    let images = [
        (amm_info_image(), programs::RAYDIUM_AMM_V4),
        (pool_state_image(), programs::RAYDIUM_CP_SWAP),
        (whirlpool_image(), programs::ORCA_WHIRLPOOL),
        (fixed_tick_array_image(0), programs::ORCA_WHIRLPOOL),
        (
            dynamic_tick_array_image(0, &[1, 2, 3]),
            programs::ORCA_WHIRLPOOL,
        ),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for (image, owner) in images {
        for len in (0..image.len()).step_by(7) {
            let d = &image[..len];
            let _ = AmmInfo::decode(&KEY, &owner, d);
            let _ = PoolState::decode(&KEY, &owner, d);
            let _ = AmmConfig::decode(&KEY, &owner, d);
            let _ = Whirlpool::decode(&KEY, &owner, d);
            let _ = TickArray::decode(&KEY, &owner, d);
            let _ = TokenAccount::decode(&KEY, &programs::SPL_TOKEN_2022, d);
        }
        for _ in 0..200 {
            let mut d = image.clone();
            for _ in 0..16 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % d.len();
                d[at] = (state >> 32) as u8;
            }
            let _ = AmmInfo::decode(&KEY, &owner, &d);
            let _ = PoolState::decode(&KEY, &owner, &d);
            let _ = Whirlpool::decode(&KEY, &owner, &d);
            let _ = TickArray::decode(&KEY, &owner, &d);
        }
    }
}
