//! Orca Whirlpool (concentrated liquidity): decoders, math, the swap loop and the pool.

pub mod math;
pub mod state;
pub mod swap;

use crate::error::{DecodeError, QuoteError};
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode};

pub use state::{TickArray, TickImage, Whirlpool};
pub use swap::{SwapOutcome, SwapStart};

use math::TICK_ARRAY_SIZE;

/// A Whirlpool and the tick arrays received for it, kept sorted by start tick index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhirlpoolPool {
    key: Pubkey,
    state: Whirlpool,
    tick_arrays: Vec<TickArray>,
    tick_array_keys: Vec<Pubkey>,
}

impl WhirlpoolPool {
    /// A pool from its `Whirlpool` account; tick arrays arrive through [`Amm::update`].
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: *account.pubkey,
            state: Whirlpool::decode(account.pubkey, account.owner, account.data)?,
            tick_arrays: Vec::new(),
            tick_array_keys: Vec::new(),
        })
    }

    /// The decoded pool account.
    pub fn state(&self) -> &Whirlpool {
        &self.state
    }

    /// Tick arrays held, sorted by start tick index.
    pub fn tick_arrays(&self) -> &[TickArray] {
        &self.tick_arrays
    }

    /// The swap loop's starting state.
    pub fn swap_start(&self) -> SwapStart {
        SwapStart {
            tick_spacing: self.state.tick_spacing,
            fee_rate: self.state.fee_rate,
            liquidity: self.state.liquidity,
            sqrt_price: self.state.sqrt_price,
            tick_current_index: self.state.tick_current_index,
        }
    }

    /// A quote that stops at `sqrt_price_limit` (0: no limit, as on chain); with a limit, an
    /// exact-out swap may fill partly.
    pub fn quote_with_limit(
        &self,
        amount: u64,
        side: Side,
        mode: SwapMode,
        sqrt_price_limit: u128,
    ) -> Result<SwapOutcome, QuoteError> {
        if self.state.is_adaptive_fee() {
            return Err(QuoteError::Unsupported(
                "adaptive-fee Whirlpool (fee_tier_index_seed differs from tick_spacing)",
            ));
        }
        swap::swap(
            &self.swap_start(),
            &self.tick_arrays,
            amount,
            side == Side::AToB,
            mode == SwapMode::ExactIn,
            sqrt_price_limit,
        )
    }

    fn insert_tick_array(&mut self, key: Pubkey, array: TickArray) -> Result<(), DecodeError> {
        let spacing = i32::from(self.state.tick_spacing);
        if array.start_tick_index.rem_euclid(TICK_ARRAY_SIZE * spacing) != 0 {
            return Err(DecodeError::InvalidField {
                kind: if array.dynamic {
                    crate::error::AccountKind::WhirlpoolDynamicTickArray
                } else {
                    crate::error::AccountKind::WhirlpoolTickArray
                },
                pubkey: key,
                field: "start_tick_index",
                value: array.start_tick_index.into(),
                problem: "is not a multiple of 88 × the pool's tick_spacing",
            });
        }
        if let Some(i) = self.tick_array_keys.iter().position(|k| *k == key) {
            self.tick_arrays.remove(i);
            self.tick_array_keys.remove(i);
        }
        match self
            .tick_arrays
            .binary_search_by_key(&array.start_tick_index, |a| a.start_tick_index)
        {
            Ok(i) => {
                self.tick_arrays[i] = array;
                self.tick_array_keys[i] = key;
            }
            Err(i) => {
                self.tick_arrays.insert(i, array);
                self.tick_array_keys.insert(i, key);
            }
        }
        Ok(())
    }
}

impl Amm for WhirlpoolPool {
    fn dex(&self) -> DexKind {
        DexKind::Whirlpool
    }

    fn key(&self) -> Pubkey {
        self.key
    }

    fn mints(&self) -> [Pubkey; 2] {
        [self.state.token_mint_a, self.state.token_mint_b]
    }

    fn accounts(&self) -> Vec<Pubkey> {
        std::iter::once(self.key)
            .chain(self.tick_array_keys.iter().copied())
            .collect()
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<bool, DecodeError> {
        if *account.pubkey == self.key {
            let state = Whirlpool::decode(account.pubkey, account.owner, account.data)?;
            if state.tick_spacing != self.state.tick_spacing {
                self.tick_arrays.clear();
                self.tick_array_keys.clear();
            }
            self.state = state;
            return Ok(true);
        }
        if *account.owner != programs::ORCA_WHIRLPOOL {
            return Ok(false);
        }
        let known = self.tick_array_keys.contains(account.pubkey);
        let array = TickArray::decode(account.pubkey, account.owner, account.data)?;
        if array.whirlpool != self.key {
            if known {
                return Err(DecodeError::Mismatch {
                    kind: crate::error::AccountKind::WhirlpoolTickArray,
                    pubkey: *account.pubkey,
                    field: "whirlpool",
                    expected: self.key,
                    found: array.whirlpool,
                });
            }
            return Ok(false);
        }
        self.insert_tick_array(*account.pubkey, array)?;
        Ok(true)
    }

    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        let outcome = self.quote_with_limit(request.amount, request.side, request.mode, 0)?;
        Ok(Quote {
            amount_in: outcome.amount_in,
            amount_out: outcome.amount_out,
            fee_amount: outcome.fee_amount,
        })
    }
}
