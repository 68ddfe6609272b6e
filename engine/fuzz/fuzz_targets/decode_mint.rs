//! Fuzz the SPL Token / Token-2022 mint decoder (extension entries included) under both
//! owners, then the transfer fee arithmetic of whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::mint::Mint;
use sniperforge_engine::pubkey::{Pubkey, programs};

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    let _ = Mint::decode(&key, &programs::SPL_TOKEN, data);
    if let Ok(mint) = Mint::decode(&key, &programs::SPL_TOKEN_2022, data) {
        for amount in [0, 1, 10_000, u64::MAX] {
            for epoch in [0, u64::MAX] {
                let _ = mint.fee_on(amount, epoch);
                let _ = mint.gross_for(amount, epoch);
            }
        }
    }
});
