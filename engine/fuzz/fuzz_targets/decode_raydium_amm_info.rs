//! Fuzz the Raydium v4 `AmmInfo` decoder, then quote on whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::SwapMode;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::raydium_v4::{self, AmmInfo};

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    if let Ok(info) = AmmInfo::decode(&key, &programs::RAYDIUM_AMM_V4, data) {
        // Reserves from the pnl fields, amounts from the open time: any u64 must be safe.
        for mode in [SwapMode::ExactIn, SwapMode::ExactOut] {
            let _ = raydium_v4::swap(
                info.pool_open_time,
                mode,
                info.need_take_pnl_coin,
                info.need_take_pnl_pc,
                info.swap_fee_numerator,
                info.swap_fee_denominator,
            );
        }
    }
});
