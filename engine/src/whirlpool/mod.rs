//! Orca Whirlpool (concentrated liquidity): decoders, math, the swap loop and the pool.

pub mod math;
pub mod state;
pub mod swap;

use crate::error::{Check, DecodeError, ProgramError, QuoteError};
use crate::mint::{FeeError, Mint};
use crate::pda;
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode, Updated};

pub use state::{TickArray, TickImage, Whirlpool};
pub use swap::{SwapOutcome, SwapParams, SwapStart};

use math::{MAX_TICK_INDEX, MIN_TICK_INDEX, TICK_ARRAY_SIZE};

/// A Whirlpool and the tick arrays received for it, kept sorted by start tick index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhirlpoolPool {
    key: Pubkey,
    state: Whirlpool,
    tick_arrays: Vec<TickArray>,
    tick_array_keys: Vec<Pubkey>,
    /// Addresses of the arrays a swap from the current price may need, by start tick index.
    window: Vec<(i32, Pubkey)>,
    /// Mints of token A and B (their transfer fees), once received.
    mints: [Option<Mint>; 2],
    /// Every account the pool account names (config, vaults, mints, rewards; zeros unused).
    referenced: [Pubkey; 11],
}

impl WhirlpoolPool {
    /// A pool from its `Whirlpool` account; tick arrays arrive through [`Amm::update`].
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        let mut pool = Self {
            key: *account.pubkey,
            state: Whirlpool::decode(account.pubkey, account.owner, account.data)?,
            tick_arrays: Vec::new(),
            tick_array_keys: Vec::new(),
            window: Vec::with_capacity(6),
            mints: [None, None],
            referenced: Whirlpool::referenced_accounts(account.data),
        };
        pool.refresh_window();
        Ok(pool)
    }

    /// Recomputes the tick-array addresses around the current tick (two arrays below, three
    /// above: both swap directions' windows); reuses derived addresses. Returns whether the set
    /// changed.
    fn refresh_window(&mut self) -> bool {
        let per = TICK_ARRAY_SIZE * i32::from(self.state.tick_spacing);
        let center = self.state.tick_current_index.div_euclid(per) * per;
        let starts = (-2..=3)
            .map(|k| center + k * per)
            .filter(|start| start + per > MIN_TICK_INDEX && *start <= MAX_TICK_INDEX);
        if starts
            .clone()
            .eq(self.window.iter().map(|(start, _)| *start))
        {
            return false;
        }
        // At most six arrays: built on the stack, then copied into the kept allocation.
        let mut next = [(0i32, Pubkey([0; 32])); 6];
        let mut len = 0;
        for start in starts {
            let cached = self
                .window
                .iter()
                .find(|(s, _)| *s == start)
                .map(|(_, k)| *k);
            if let Some(key) = cached.or_else(|| pda::whirlpool_tick_array(&self.key, start))
                && let Some(slot) = next.get_mut(len)
            {
                *slot = (start, key);
                len += 1;
            }
        }
        self.window.clear();
        self.window.extend_from_slice(&next[..len]);
        true
    }

    /// The decoded pool account.
    pub fn state(&self) -> &Whirlpool {
        &self.state
    }

    /// Tick arrays held, sorted by start tick index.
    pub fn tick_arrays(&self) -> &[TickArray] {
        &self.tick_arrays
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
        swap::swap(
            &self.swap_start()?,
            &self.tick_arrays,
            params(amount, side, mode, sqrt_price_limit),
        )
    }

    /// The largest input (before fees) for which a swap on `side` stays in the current range:
    /// up to the first initialized tick in the swap's direction, or the edge of the tick arrays
    /// it may use, and below where a transfer fee of `epoch` stops following the curve. Within
    /// it the swap is one constant-product step on the virtual reserves of the current
    /// liquidity ([`Amm::curve`]); 0 when that cannot be said.
    pub fn exact_input(&self, side: Side, epoch: u64) -> f64 {
        let s = &self.state;
        let (Ok(start), Some(curve)) = (self.swap_start(), self.fee_curve(side, epoch)) else {
            return 0.0;
        };
        let a_to_b = side == Side::AToB;
        let Some(end) = swap::range_end(&start, &self.tick_arrays, a_to_b) else {
            return 0.0;
        };
        let sqrt_price = s.sqrt_price as f64 / 18_446_744_073_709_551_616.0;
        let end = end as f64 / 18_446_744_073_709_551_616.0;
        let liquidity = s.liquidity as f64;
        // The input (after fees) that takes the price to the end of the range: Δa = L·(1/√P_end
        // − 1/√P) or Δb = L·(√P_end − √P); before fees, divided by γ.
        let delta = if a_to_b {
            liquidity * (1.0 / end - 1.0 / sqrt_price)
        } else {
            liquidity * (end - sqrt_price)
        };
        if curve.gamma <= 0.0 {
            return 0.0;
        }
        curve.exact_up_to.min((delta / curve.gamma).max(0.0))
    }

    /// The curve of the current range with the transfer fees of `epoch`; its `exact_up_to` is
    /// where those fees stop following it (the range's end is not looked for here).
    fn fee_curve(&self, side: Side, epoch: u64) -> Option<crate::curve::Curve> {
        let s = &self.state;
        if s.is_adaptive_fee() || s.liquidity == 0 {
            return None;
        }
        let (mint_a, mint_b) = (self.mint(0).ok()?, self.mint(1).ok()?);
        let (mint_in, mint_out) = match side {
            Side::AToB => (mint_a, mint_b),
            Side::BToA => (mint_b, mint_a),
        };
        // Virtual reserves of the current range: x = L/√P (token A), y = L·√P (token B).
        let sqrt_price = s.sqrt_price as f64 / 18_446_744_073_709_551_616.0;
        let liquidity = s.liquidity as f64;
        let (a, b) = (liquidity / sqrt_price, liquidity * sqrt_price);
        let (reserve_in, reserve_out) = match side {
            Side::AToB => (a, b),
            Side::BToA => (b, a),
        };
        // A swap may cross into deeper ranges and pay out more than this range holds: nothing
        // short of the vault bounds the output, so a transfer fee with a cap is left out.
        Some(
            crate::curve::Curve {
                reserve_in,
                reserve_out,
                gamma: 1.0 - f64::from(s.fee_rate) / 1_000_000.0,
                exact_up_to: f64::INFINITY,
            }
            .with_transfer_fees(
                mint_in.transfer_fee_curve(epoch),
                mint_out.transfer_fee_curve(epoch),
                f64::INFINITY,
            ),
        )
    }

    /// The mints of token A and B as received (`None` before their accounts arrive).
    pub fn known_mints(&self) -> [Option<&Mint>; 2] {
        [self.mints[0].as_ref(), self.mints[1].as_ref()]
    }

    /// The mint of token A (0) or B (1), or why the pool cannot be quoted without it.
    fn mint(&self, index: usize) -> Result<&Mint, QuoteError> {
        Mint::required(
            self.mints[index].as_ref(),
            self.key,
            ["token A mint", "token B mint"][index],
        )
    }

    /// `calculate_transfer_fee_included_amount` (util/v2/token.rs L388-435) with the program's
    /// error.
    fn gross_for(mint: &Mint, net: u64, epoch: u64) -> Result<u64, QuoteError> {
        mint.gross_for(net, epoch)
            .map(|t| t.gross)
            .map_err(|_: FeeError| QuoteError::Rejected {
                error: ProgramError::WhirlpoolTransferFeeCalculationError,
                check: Check::TransferFee {
                    mint: mint.key,
                    amount: net,
                },
            })
    }

    /// The swap loop's starting state, or why this pool cannot be quoted.
    fn swap_start(&self) -> Result<SwapStart, QuoteError> {
        if self.state.is_adaptive_fee() {
            return Err(QuoteError::Unsupported(
                "adaptive-fee Whirlpool (fee_tier_index_seed differs from tick_spacing)",
            ));
        }
        Ok(SwapStart {
            tick_spacing: self.state.tick_spacing,
            fee_rate: self.state.fee_rate,
            liquidity: self.state.liquidity,
            sqrt_price: self.state.sqrt_price,
            tick_current_index: self.state.tick_current_index,
        })
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
        let mut keys: Vec<Pubkey> = std::iter::once(self.key)
            .chain(self.window.iter().map(|(_, key)| *key))
            .collect();
        for key in &self.tick_array_keys {
            if !keys.contains(key) {
                keys.push(*key);
            }
        }
        keys.push(self.state.token_mint_a);
        keys.push(self.state.token_mint_b);
        keys
    }

    fn visit_accounts(&self, f: &mut dyn FnMut(Pubkey)) {
        f(self.key);
        for (_, key) in &self.window {
            f(*key);
        }
        for key in &self.tick_array_keys {
            f(*key);
        }
        f(self.state.token_mint_a);
        f(self.state.token_mint_b);
    }

    fn references(&self, key: &Pubkey) -> bool {
        *key == self.key || (*key != Pubkey([0; 32]) && self.referenced.contains(key))
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        if *account.pubkey == self.key {
            let state = Whirlpool::decode(account.pubkey, account.owner, account.data)?;
            let spacing_changed = state.tick_spacing != self.state.tick_spacing;
            if spacing_changed {
                self.tick_arrays.clear();
                self.tick_array_keys.clear();
            }
            let mints_changed = (state.token_mint_a, state.token_mint_b)
                != (self.state.token_mint_a, self.state.token_mint_b);
            if mints_changed {
                self.mints = [None, None];
            }
            self.state = state;
            self.referenced = Whirlpool::referenced_accounts(account.data);
            let window_moved = self.refresh_window();
            return Ok(if spacing_changed || window_moved || mints_changed {
                Updated::Accounts
            } else {
                Updated::State
            });
        }
        for (index, mint_key) in [self.state.token_mint_a, self.state.token_mint_b]
            .into_iter()
            .enumerate()
        {
            if *account.pubkey == mint_key {
                let mint = Mint::decode(account.pubkey, account.owner, account.data)?;
                // A mint rewritten without a change a quote reads (its supply moved) is no news.
                if self.mints[index] == Some(mint) {
                    return Ok(Updated::Unchanged);
                }
                self.mints[index] = Some(mint);
                return Ok(Updated::State);
            }
        }
        // Not tick arrays: other programs' accounts, and the pool's own config or rewards.
        if *account.owner != programs::ORCA_WHIRLPOOL || self.references(account.pubkey) {
            return Ok(Updated::Ignored);
        }
        let known = self.tick_array_keys.contains(account.pubkey)
            || self.window.iter().any(|(_, key)| key == account.pubkey);
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
            return Ok(Updated::Ignored);
        }
        self.insert_tick_array(*account.pubkey, array)?;
        Ok(if known {
            Updated::State
        } else {
            Updated::Accounts
        })
    }

    fn curve(&self, side: Side, epoch: u64) -> Option<crate::curve::Curve> {
        // Where the current range ends costs a tick search: asked for only when a route through
        // this pool is sized ([`WhirlpoolPool::exact_input`]).
        self.fee_curve(side, epoch).map(|c| crate::curve::Curve {
            exact_up_to: 0.0,
            ..c
        })
    }

    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        let start = self.swap_start()?;
        let (mint_a, mint_b) = (self.mint(0)?, self.mint(1)?);
        let (mint_in, mint_out) = match request.side {
            Side::AToB => (mint_a, mint_b),
            Side::BToA => (mint_b, mint_a),
        };
        let (amount, epoch) = (request.amount, request.epoch);
        let swap = |amount, mode| {
            swap::swap_amounts(
                &start,
                &self.tick_arrays,
                params(amount, request.side, mode, 0),
            )
        };
        // `swap_with_transfer_fee_extension` (instructions/v2/swap.rs L236-317).
        let (amount_in, swap_in, swap_out, fee_amount) = match request.mode {
            SwapMode::ExactIn => {
                // L238-241: the input mint's fee comes off before the swap math; if nothing is
                // left, `swap` fails with ZeroTradableAmount (swap_manager.rs L55).
                let excluded = amount - mint_in.fee_on(amount, epoch);
                if excluded == 0 && amount > 0 {
                    return Err(QuoteError::Rejected {
                        error: ProgramError::WhirlpoolZeroTradableAmount,
                        check: Check::ZeroAfterTransferFee { amount },
                    });
                }
                let (swap_in, swap_out, fee) = swap(excluded, SwapMode::ExactIn)?;
                // L259-266: a full fill charges exactly the amount given; a partial one (the
                // price bound reached) the fee-included amount of what the pool took.
                let amount_in = if swap_in == excluded {
                    amount
                } else {
                    Self::gross_for(mint_in, swap_in, epoch)?
                };
                (amount_in, swap_in, swap_out, fee)
            }
            SwapMode::ExactOut => {
                // L295-300: the wanted output grossed up by its mint's fee; L316-317: the input
                // the pool takes grossed up by the input mint's fee.
                let pool_out = Self::gross_for(mint_out, amount, epoch)?;
                let (swap_in, swap_out, fee) = swap(pool_out, SwapMode::ExactOut)?;
                (
                    Self::gross_for(mint_in, swap_in, epoch)?,
                    swap_in,
                    swap_out,
                    fee,
                )
            }
        };
        // The vault sends `swap_out`; the output mint withholds its fee on the way.
        let transfer_fee_out = mint_out.fee_on(swap_out, epoch);
        Ok(Quote {
            amount_in,
            amount_out: swap_out - transfer_fee_out,
            fee_amount,
            transfer_fee_in: amount_in - swap_in,
            transfer_fee_out,
        })
    }
}

fn params(amount: u64, side: Side, mode: SwapMode, sqrt_price_limit: u128) -> SwapParams {
    SwapParams {
        amount,
        a_to_b: side == Side::AToB,
        exact_in: mode == SwapMode::ExactIn,
        sqrt_price_limit,
    }
}
