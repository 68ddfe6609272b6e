//! Fuzz the CP-Swap `PoolState` and `AmmConfig` decoders, then quote on what decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::SwapMode;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::raydium_cp::{self, AmmConfig, CpFees, PoolState};

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    if let Ok(state) = PoolState::decode(&key, &programs::RAYDIUM_CP_SWAP, data) {
        let fees = CpFees {
            trade_fee_rate: 2500,
            creator_fee_rate: 1000,
            creator_fee_on_input: state.enable_creator_fee,
        };
        for mode in [SwapMode::ExactIn, SwapMode::ExactOut] {
            let _ = raydium_cp::swap(
                state.open_time,
                mode,
                state.protocol_fees_token_0,
                state.fund_fees_token_1,
                fees,
            );
        }
    }
    if let Ok(config) = AmmConfig::decode(&key, &programs::RAYDIUM_CP_SWAP, data) {
        let fees = CpFees {
            trade_fee_rate: config.trade_fee_rate,
            creator_fee_rate: config.creator_fee_rate,
            creator_fee_on_input: config.fund_fee_rate % 2 == 0,
        };
        for mode in [SwapMode::ExactIn, SwapMode::ExactOut] {
            let _ = raydium_cp::swap(
                config.protocol_fee_rate.max(1),
                mode,
                1_000_000,
                1_000_000,
                fees,
            );
        }
    }
});
