//! Fuzz the SPL Token / Token-2022 account decoder under both owners.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sniperforge_engine::pubkey::{Pubkey, programs};
use sniperforge_engine::token_account::TokenAccount;

fuzz_target!(|data: &[u8]| {
    let key = Pubkey([1; 32]);
    let _ = TokenAccount::decode(&key, &programs::SPL_TOKEN, data);
    let _ = TokenAccount::decode(&key, &programs::SPL_TOKEN_2022, data);
});
