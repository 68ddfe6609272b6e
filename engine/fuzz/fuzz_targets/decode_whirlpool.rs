//! Fuzz the `Whirlpool` decoder, then run the swap loop from whatever state decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::quote::{AccountData, Amm, QuoteRequest, Side, SwapMode};
use sniperforge_engine::whirlpool::{TickArray, WhirlpoolPool};

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    let Ok(mut pool) = WhirlpoolPool::from_account(AccountData {
        pubkey: &key,
        owner: &programs::ORCA_WHIRLPOOL,
        data,
    }) else {
        return;
    };
    // Give it the array holding the current tick and its neighbours, all empty.
    let s = *pool.state();
    let per = 88 * i32::from(s.tick_spacing);
    let center = s.tick_current_index.div_euclid(per) * per;
    for k in -3..=3 {
        let start = center + k * per;
        let bytes = TickArray::encode_dynamic(&key, start, &[Default::default(); 88]);
        let array_key = Pubkey([10 + (k + 3) as u8; 32]);
        let _ = pool.update(AccountData {
            pubkey: &array_key,
            owner: &programs::ORCA_WHIRLPOOL,
            data: &bytes,
        });
    }
    // And its two mints, without extensions.
    for mint in [s.token_mint_a, s.token_mint_b] {
        let bytes = sniperforge_engine::mint::Mint::plain(mint, 6).encode();
        let _ = pool.update(AccountData {
            pubkey: &mint,
            owner: &programs::SPL_TOKEN,
            data: &bytes,
        });
    }
    let amount = u64::from_le_bytes(
        data.get(600..608)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([1; 8]),
    );
    for side in [Side::AToB, Side::BToA] {
        for mode in [SwapMode::ExactIn, SwapMode::ExactOut] {
            let _ = pool.quote(&QuoteRequest {
                amount,
                side,
                mode,
                unix_timestamp: 0,
                epoch: 0,
            });
        }
    }
});
