//! Fuzz both tick array decoders (fixed and dynamic layouts), then swap through what decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::whirlpool::TickArray;
use sniperforge_engine::whirlpool::math::sqrt_price_from_tick_index;
use sniperforge_engine::whirlpool::swap::{SwapParams, SwapStart, swap};

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    let Ok(array) = TickArray::decode(&key, &programs::ORCA_WHIRLPOOL, data) else {
        return;
    };
    // Swap through the array with liquidity that its own nets keep non-negative or not:
    // overflow must surface as an error, never a panic.
    let tick = array.start_tick_index.clamp(-443_000, 443_000);
    let start = SwapStart {
        tick_spacing: 1,
        fee_rate: 3000,
        liquidity: array
            .liquidity_net
            .iter()
            .map(|n| n.unsigned_abs())
            .max()
            .unwrap_or(0),
        sqrt_price: sqrt_price_from_tick_index(tick),
        tick_current_index: tick,
    };
    let arrays = [array];
    for a_to_b in [true, false] {
        for exact_in in [true, false] {
            let params = SwapParams {
                amount: 1 << 40,
                a_to_b,
                exact_in,
                sqrt_price_limit: 0,
            };
            let _ = swap(&start, &arrays, params);
        }
    }
});
