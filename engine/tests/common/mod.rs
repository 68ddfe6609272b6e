//! Helpers the engine's integration tests share.

#![allow(dead_code)] // each test file uses a subset

use sniperforge_engine::quote::{QuoteRequest, Side, SwapMode};

/// A quote request at cluster time `now`, in epoch 0.
pub fn request(amount: u64, side: Side, mode: SwapMode, now: i64) -> QuoteRequest {
    QuoteRequest {
        amount,
        side,
        mode,
        unix_timestamp: now,
        epoch: 0,
    }
}
