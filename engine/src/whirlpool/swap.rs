//! The Whirlpool swap loop across initialized ticks and tick arrays, as the program runs it.

use crate::error::QuoteError;

use super::math::{
    MAX_SQRT_PRICE, MAX_TICK_INDEX, MIN_SQRT_PRICE, MIN_TICK_INDEX, TICK_ARRAY_SIZE,
    compute_swap_step, sqrt_price_from_tick_index, tick_index_from_sqrt_price,
};
use super::state::TickArray;

/// A standard swap instruction takes three tick arrays.
pub const MAX_SWAP_TICK_ARRAYS: usize = 3;

/// Pool state the swap loop starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapStart {
    /// Tick spacing.
    pub tick_spacing: u16,
    /// Fee rate (per million).
    pub fee_rate: u16,
    /// Liquidity in range.
    pub liquidity: u128,
    /// Sqrt price, Q64.64.
    pub sqrt_price: u128,
    /// Current tick index as stored by the program.
    pub tick_current_index: i32,
}

/// The outcome of a swap: token amounts and where the price ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapOutcome {
    /// Input taken from the trader (fees included).
    pub amount_in: u64,
    /// Output paid to the trader.
    pub amount_out: u64,
    /// Total fee (LP and protocol shares).
    pub fee_amount: u64,
    /// Sqrt price after the swap.
    pub sqrt_price: u128,
    /// Tick index after the swap.
    pub tick_current_index: i32,
    /// Liquidity after the swap.
    pub liquidity: u128,
}

/// Contiguous tick arrays in the swap's direction, the first holding the start position.
struct Window<'a> {
    arrays: [Option<&'a TickArray>; MAX_SWAP_TICK_ARRAYS],
    len: usize,
    ticks_per_array: i32,
    spacing: i32,
}

impl<'a> Window<'a> {
    /// `sorted` must be sorted by start tick index.
    fn new(
        sorted: &'a [TickArray],
        first_start: i32,
        a_to_b: bool,
        spacing: i32,
    ) -> Result<Self, QuoteError> {
        let ticks_per_array = TICK_ARRAY_SIZE * spacing;
        let mut window = Self {
            arrays: [None; MAX_SWAP_TICK_ARRAYS],
            len: 0,
            ticks_per_array,
            spacing,
        };
        let Ok(mut i) = sorted.binary_search_by_key(&first_start, |a| a.start_tick_index) else {
            return Err(QuoteError::TickArraysExhausted {
                next_start_tick: first_start,
                instruction_limit: false,
            });
        };
        let mut expected = first_start;
        while window.len < MAX_SWAP_TICK_ARRAYS {
            let Some(array) = sorted.get(i).filter(|a| a.start_tick_index == expected) else {
                break;
            };
            window.arrays[window.len] = Some(array);
            window.len += 1;
            let last_in_direction = if a_to_b {
                array.start_tick_index <= MIN_TICK_INDEX
            } else {
                array.start_tick_index + ticks_per_array > MAX_TICK_INDEX
            };
            if last_in_direction {
                break;
            }
            if a_to_b {
                if i == 0 {
                    break;
                }
                i -= 1;
                expected -= ticks_per_array;
            } else {
                i += 1;
                expected += ticks_per_array;
            }
        }
        Ok(window)
    }

    fn get(&self, index: usize) -> Option<&'a TickArray> {
        self.arrays.get(index).copied().flatten()
    }

    /// The next initialized tick from `tick` in the swap's direction, starting the search in
    /// array `index`: `(array index, tick index, initialized)`. When the window holds none, the
    /// edge of the window (or of the tick range) comes back uninitialized, as in the program.
    fn next_tick(
        &self,
        tick: i32,
        mut index: usize,
        a_to_b: bool,
    ) -> Result<(usize, i32, bool), QuoteError> {
        let spacing = self.spacing;
        // a→b searches from the slot holding `tick` (inclusive); b→a from the slot after it.
        let mut search = if a_to_b {
            tick.div_euclid(spacing) * spacing
        } else {
            tick.div_euclid(spacing) * spacing + spacing
        };
        loop {
            let Some(array) = self.get(index) else {
                let next_start = self.get(index.wrapping_sub(1)).map_or(search, |a| {
                    if a_to_b {
                        a.start_tick_index - self.ticks_per_array
                    } else {
                        a.start_tick_index + self.ticks_per_array
                    }
                });
                return Err(QuoteError::TickArraysExhausted {
                    next_start_tick: next_start,
                    instruction_limit: self.len == MAX_SWAP_TICK_ARRAYS,
                });
            };
            let start = array.start_tick_index;
            let end = start + self.ticks_per_array; // exclusive
            if search < start || search >= end {
                // The position left this array: move on.
                if (a_to_b && search < start) || (!a_to_b && search >= end) {
                    index += 1;
                    continue;
                }
                return Err(QuoteError::TickArraysExhausted {
                    next_start_tick: search.div_euclid(self.ticks_per_array) * self.ticks_per_array,
                    instruction_limit: false,
                });
            }
            let slot = ((search - start) / spacing) as u32;
            let candidates = if a_to_b {
                array.initialized & (u128::MAX >> (127 - slot))
            } else {
                array.initialized & (u128::MAX << slot)
            };
            if candidates != 0 {
                let found = if a_to_b {
                    127 - candidates.leading_zeros()
                } else {
                    candidates.trailing_zeros()
                };
                return Ok((index, start + found as i32 * spacing, true));
            }
            let last = index + 1 == self.len;
            if a_to_b {
                if start <= MIN_TICK_INDEX {
                    return Ok((index, MIN_TICK_INDEX, false));
                }
                if last {
                    return Ok((index, start, false));
                }
                search = start - 1;
            } else {
                if end > MAX_TICK_INDEX {
                    return Ok((index, MAX_TICK_INDEX, false));
                }
                if last {
                    return Ok((index, end - 1, false));
                }
                search = end;
            }
            index += 1;
        }
    }
}

/// What to swap: amount, direction, mode and price limit (0: none, the price bound, as on chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapParams {
    /// Input (exact in) or wanted output (exact out).
    pub amount: u64,
    /// Token A in, token B out.
    pub a_to_b: bool,
    /// Whether `amount` is the input.
    pub exact_in: bool,
    /// Sqrt price at which the swap stops; 0 for none.
    pub sqrt_price_limit: u128,
}

/// Runs the swap loop over `arrays` (sorted by start tick index, any number; the swap uses the
/// three the program would).
pub fn swap(
    start: &SwapStart,
    arrays: &[TickArray],
    params: SwapParams,
) -> Result<SwapOutcome, QuoteError> {
    let end = run(start, arrays, params)?;
    Ok(SwapOutcome {
        amount_in: end.amount_in,
        amount_out: end.amount_out,
        fee_amount: end.fee_amount,
        sqrt_price: end.sqrt_price,
        tick_current_index: if end.tick_stale {
            tick_index_from_sqrt_price(end.sqrt_price)
        } else {
            end.tick
        },
        liquidity: end.liquidity,
    })
}

/// The amounts of [`swap`] alone (in, out, fee), without deriving the final tick: the quote's
/// hot path.
pub fn swap_amounts(
    start: &SwapStart,
    arrays: &[TickArray],
    params: SwapParams,
) -> Result<(u64, u64, u64), QuoteError> {
    let end = run(start, arrays, params)?;
    Ok((end.amount_in, end.amount_out, end.fee_amount))
}

/// The sqrt price (Q64.64) at which a swap from `start` in the given direction leaves the
/// current liquidity: the first initialized tick the loop would cross, or the edge of the tick
/// arrays it may use (past which the swap fails). Up to there the swap is one constant-product
/// step on the virtual reserves of `start.liquidity`. `None` when the window cannot be built.
pub fn range_end(start: &SwapStart, arrays: &[TickArray], a_to_b: bool) -> Option<u128> {
    if start.tick_spacing == 0 {
        return None;
    }
    let window = window_for(start, arrays, a_to_b).ok()?;
    let (_, tick, _) = window.next_tick(start.tick_current_index, 0, a_to_b).ok()?;
    Some(sqrt_price_from_tick_index(tick))
}

/// The tick arrays a swap from `start` in this direction uses: the program's b→a window
/// starts one slot to the right of the current tick.
fn window_for<'a>(
    start: &SwapStart,
    arrays: &'a [TickArray],
    a_to_b: bool,
) -> Result<Window<'a>, QuoteError> {
    let spacing = i32::from(start.tick_spacing);
    let ticks_per_array = TICK_ARRAY_SIZE * spacing;
    let first_position = if a_to_b {
        start.tick_current_index
    } else {
        start.tick_current_index.div_euclid(spacing) * spacing + spacing
    };
    let first_start = first_position.div_euclid(ticks_per_array) * ticks_per_array;
    Window::new(arrays, first_start, a_to_b, spacing)
}

/// Where the loop stopped. After a step that ends between ticks the tick index is derived from
/// the price only when the loop goes on or a caller asks for it (`tick_stale`).
struct LoopEnd {
    amount_in: u64,
    amount_out: u64,
    fee_amount: u64,
    sqrt_price: u128,
    tick: i32,
    tick_stale: bool,
    liquidity: u128,
}

fn run(start: &SwapStart, arrays: &[TickArray], params: SwapParams) -> Result<LoopEnd, QuoteError> {
    let SwapParams {
        amount,
        a_to_b,
        exact_in,
        sqrt_price_limit,
    } = params;
    if amount == 0 {
        return Err(QuoteError::ZeroAmount);
    }
    let limit = match sqrt_price_limit {
        0 if a_to_b => MIN_SQRT_PRICE,
        0 => MAX_SQRT_PRICE,
        l => l,
    };
    if !(MIN_SQRT_PRICE..=MAX_SQRT_PRICE).contains(&limit)
        || (a_to_b && limit > start.sqrt_price)
        || (!a_to_b && limit < start.sqrt_price)
    {
        return Err(QuoteError::InvalidSqrtPriceLimit { limit });
    }
    if limit == start.sqrt_price {
        return Err(QuoteError::PriceAtBound);
    }
    let spacing = i32::from(start.tick_spacing);
    let window = window_for(start, arrays, a_to_b)?;

    let mut remaining = amount;
    let mut calculated: u64 = 0;
    let mut fee_sum: u64 = 0;
    let mut sqrt_price = start.sqrt_price;
    let mut tick = start.tick_current_index;
    let mut liquidity = start.liquidity;
    let mut array_index = 0usize;
    let mut tick_stale = false;
    let overflow = |stage| QuoteError::Overflow { stage };

    while remaining > 0 && sqrt_price != limit {
        if tick_stale {
            tick = tick_index_from_sqrt_price(sqrt_price);
            tick_stale = false;
        }
        let (next_index, next_tick, initialized) = window.next_tick(tick, array_index, a_to_b)?;
        let next_tick_price = sqrt_price_from_tick_index(next_tick);
        let target = if a_to_b {
            next_tick_price.max(limit)
        } else {
            next_tick_price.min(limit)
        };
        let step = compute_swap_step(
            remaining,
            start.fee_rate,
            liquidity,
            sqrt_price,
            target,
            a_to_b,
            exact_in,
        )?;
        if exact_in {
            remaining = remaining
                .checked_sub(step.amount_in)
                .and_then(|r| r.checked_sub(step.fee_amount))
                .ok_or(overflow("amount remaining"))?;
            calculated = calculated
                .checked_add(step.amount_out)
                .ok_or(overflow("amount out"))?;
        } else {
            remaining = remaining
                .checked_sub(step.amount_out)
                .ok_or(overflow("amount remaining"))?;
            calculated = calculated
                .checked_add(step.amount_in)
                .and_then(|c| c.checked_add(step.fee_amount))
                .ok_or(overflow("amount in"))?;
        }
        fee_sum = fee_sum
            .checked_add(step.fee_amount)
            .ok_or(overflow("fee sum"))?;

        if step.next_sqrt_price == next_tick_price {
            if initialized {
                let Some(array) = window.get(next_index) else {
                    return Err(overflow("tick array index"));
                };
                let slot = ((next_tick - array.start_tick_index) / spacing) as usize;
                let net = array.liquidity_net[slot];
                let signed = if a_to_b { net.checked_neg() } else { Some(net) };
                liquidity = signed
                    .and_then(|delta| liquidity.checked_add_signed(delta))
                    .ok_or(overflow("liquidity after crossing a tick"))?;
            }
            let offset = (next_tick
                - window
                    .get(next_index)
                    .map_or(next_tick, |a| a.start_tick_index))
            .div_euclid(spacing);
            array_index = if (a_to_b && offset == 0) || (!a_to_b && offset == TICK_ARRAY_SIZE - 1) {
                next_index + 1
            } else {
                next_index
            };
            tick = if a_to_b { next_tick - 1 } else { next_tick };
        } else if step.next_sqrt_price != sqrt_price {
            tick_stale = true;
        }
        sqrt_price = step.next_sqrt_price;
    }

    if remaining > 0 && !exact_in && sqrt_price_limit == 0 {
        return Err(QuoteError::PartialFill {
            requested: amount,
            filled: amount - remaining,
        });
    }
    let swapped = amount - remaining;
    let (amount_in, amount_out) = if exact_in {
        (swapped, calculated)
    } else {
        (calculated, swapped)
    };
    Ok(LoopEnd {
        amount_in,
        amount_out,
        fee_amount: fee_sum,
        sqrt_price,
        tick,
        tick_stale,
        liquidity,
    })
}
