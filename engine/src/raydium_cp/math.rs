//! The CP-Swap program's swap arithmetic: fees, the constant-product step, and where it fails.

use super::*;
use crate::error::{Check, ProgramError, QuoteError};
use crate::quote::{Quote, SwapMode};

/// The fee parameters one CP-Swap quote uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpFees {
    /// Trade fee rate (ppm).
    pub trade_fee_rate: u64,
    /// Creator fee rate in force (ppm; 0 when the pool does not enable it).
    pub creator_fee_rate: u64,
    /// Whether the creator fee is taken from the input (else from the output).
    pub creator_fee_on_input: bool,
}

/// What `CurveCalculator::swap_base_input` / `swap_base_output` compute for one swap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpSwap {
    /// Input taken by the pool (before any transfer fee).
    pub input: u64,
    /// Output the pool transfers to the trader (before the output mint's transfer fee; a
    /// creator fee on the output already taken off).
    pub output: u64,
    /// Trade fee, in the input token.
    pub trade_fee: u64,
    /// Creator fee, in the input token when charged on the input, else in the output token.
    pub creator_fee: u64,
    /// Whether the creator fee was charged on the input.
    pub creator_fee_on_input: bool,
}

impl CpSwap {
    /// The pool's own fee as `Quote::fee_amount` reports it: the trade fee, plus the creator
    /// fee when it is charged on the input.
    pub fn fee_amount(&self) -> u64 {
        if self.creator_fee_on_input {
            self.trade_fee + self.creator_fee
        } else {
            self.trade_fee
        }
    }
}

pub(super) fn rejected(error: ProgramError, check: Check) -> QuoteError {
    QuoteError::Rejected { error, check }
}

pub(super) fn panic(check: Check) -> QuoteError {
    rejected(ProgramError::CpPanic, check)
}

/// `Fees::calculate_pre_fee_amount` (`curve/fees.rs` L74-80): `ceil(post·1e6 / (1e6 − rate))`,
/// `None` when the rate is 100% or the product overflows.
fn pre_fee_amount(post: u128, rate: u64) -> Option<u128> {
    if rate == 0 {
        return Some(post);
    }
    let denominator = u128::from(FEE_RATE_DENOMINATOR.checked_sub(rate)?);
    if denominator == 0 {
        return None;
    }
    Some(
        post.checked_mul(u128::from(FEE_RATE_DENOMINATOR))?
            .div_ceil(denominator),
    )
}

/// `Fees::split_creator_fee` (`floor_div`): `floor(total·c / (t + c))`; the curve calculator
/// turns its `None` (both rates 0, or the product overflowing) into ZeroTradingTokens.
fn split_creator_fee(total: u128, trade: u64, creator: u64) -> Result<u128, QuoteError> {
    // No creator fee (the common case): 0, without the division.
    if creator == 0 && trade > 0 {
        return Ok(0);
    }
    let check = if trade + creator == 0 {
        Check::ZeroFeeSplit
    } else {
        Check::Overflow {
            stage: "creator fee split",
        }
    };
    total
        .checked_mul(u128::from(creator))
        .and_then(|x| x.checked_div(u128::from(trade + creator)))
        .ok_or_else(|| rejected(ProgramError::CpZeroTradingTokens, check))
}

/// `ceil(amount·rate / 1e6)` (`Fees::trading_fee`, `Fees::creator_fee`).
fn ceil_fee(amount: u128, rate: u64) -> u128 {
    // In u64 when the product fits (a multiply-shift instead of a 128-bit division call).
    if let Some(product) = u64::try_from(amount).ok().and_then(|a| a.checked_mul(rate)) {
        return u128::from(product.div_ceil(FEE_RATE_DENOMINATOR));
    }
    (amount * u128::from(rate)).div_ceil(u128::from(FEE_RATE_DENOMINATOR))
}

/// The program's curve arithmetic on net reserves (`curve/calculator.rs`,
/// `curve/constant_product.rs`), with the program's failures: `amount` is what reaches the
/// curve side of the swap (exact in: the input after its transfer fee; exact out: the output
/// including its transfer fee).
#[inline]
pub fn swap_curve(
    amount: u64,
    mode: SwapMode,
    reserve_in: u64,
    reserve_out: u64,
    fees: CpFees,
) -> Result<CpSwap, QuoteError> {
    let CpFees {
        trade_fee_rate: t,
        creator_fee_rate: c,
        creator_fee_on_input: on_input,
    } = fees;
    // `PoolState::token_price_x32` (states/pool.rs L223) divides by both reserves with `/`:
    // an empty side panics before the curve runs, in either direction.
    for (reserve, side) in [(reserve_in, "input"), (reserve_out, "output")] {
        if reserve == 0 {
            return Err(panic(Check::EmptyReserve { side }));
        }
    }
    let (x, y) = (u128::from(reserve_in), u128::from(reserve_out));
    let amount = u128::from(amount);
    let too_big = |stage| panic(Check::Overflow { stage });
    // `calculate_pre_fee_amount` is `None` at a 100% rate (a division by zero) or on overflow.
    let pre_fee_failure = |rate: u64, stage| {
        if rate >= FEE_RATE_DENOMINATOR {
            Check::FullFeeRate { rate }
        } else {
            Check::Overflow { stage }
        }
    };
    match mode {
        SwapMode::ExactIn => {
            // calculator.rs L108-115: the trade (and creator) fee off the input, rounded up.
            let (less_fees, trade_fee, mut creator_fee) = if on_input {
                let total = ceil_fee(amount, t + c);
                let creator = split_creator_fee(total, t, c)?;
                (amount - total, total - creator, creator)
            } else {
                let trade = ceil_fee(amount, t);
                (amount - trade, trade, 0)
            };
            // constant_product.rs L26-28: floor(dx·y / (x + dx)); x > 0 here.
            let swapped = less_fees * y / (x + less_fees);
            // calculator.rs L126-130: a creator fee on the output comes off what the curve pays.
            let output = if on_input {
                swapped
            } else {
                creator_fee = ceil_fee(swapped, c);
                swapped - creator_fee
            };
            // All of these are at most the u64 amount or reserve they come from.
            Ok(CpSwap {
                input: amount as u64,
                output: output as u64,
                trade_fee: trade_fee as u64,
                creator_fee: creator_fee as u64,
                creator_fee_on_input: on_input,
            })
        }
        SwapMode::ExactOut => {
            // calculator.rs L158-163: a creator fee on the output is added to what the curve pays.
            let (actual_out, mut creator_fee) = if on_input {
                (amount, 0)
            } else {
                // `?` there: ZeroTradingTokens.
                let with_creator = pre_fee_amount(amount, c).ok_or_else(|| {
                    rejected(
                        ProgramError::CpZeroTradingTokens,
                        pre_fee_failure(c, "output with creator fee"),
                    )
                })?;
                (with_creator, with_creator - amount)
            };
            // constant_product.rs L39-41: `y.checked_sub(dy).unwrap()` and a ceiling division by
            // `y − dy` that fails at 0: an output at or past the reserve panics.
            if actual_out >= y {
                return Err(panic(Check::OutputReachesReserve {
                    amount_out: u64::try_from(actual_out).unwrap_or(u64::MAX),
                    reserve: reserve_out,
                }));
            }
            let swapped = (x * actual_out).div_ceil(y - actual_out);
            // calculator.rs L173-186: the input grossed up by the fee rate(s), `.unwrap()`ped.
            let (input, trade_fee) = if on_input {
                let with_fee = pre_fee_amount(swapped, t + c)
                    .ok_or_else(|| panic(pre_fee_failure(t + c, "input with fees")))?;
                let total = with_fee - swapped;
                let creator = split_creator_fee(total, t, c)?;
                creator_fee = creator;
                (with_fee, total - creator)
            } else {
                let with_fee = pre_fee_amount(swapped, t)
                    .ok_or_else(|| panic(pre_fee_failure(t, "input with fee")))?;
                (with_fee, with_fee - swapped)
            };
            // swap_base_output.rs L79: `u64::try_from(result.input_amount).unwrap()`.
            let input = u64::try_from(input).map_err(|_| too_big("input amount"))?;
            Ok(CpSwap {
                input,
                output: amount as u64,
                trade_fee: trade_fee as u64,
                creator_fee: u64::try_from(creator_fee).map_err(|_| too_big("creator fee"))?,
                creator_fee_on_input: on_input,
            })
        }
    }
}

/// The program's `swap_base_input` / `swap_base_output` on net reserves for mints without
/// transfer fees: the curve plus the zero-amount checks (`require_gt!`).
pub fn swap(
    amount: u64,
    mode: SwapMode,
    reserve_in: u64,
    reserve_out: u64,
    fees: CpFees,
) -> Result<Quote, QuoteError> {
    if amount == 0 {
        return Err(rejected(
            ProgramError::CpRequireGtViolated,
            Check::ZeroAmount,
        ));
    }
    let result = swap_curve(amount, mode, reserve_in, reserve_out, fees)?;
    if result.output == 0 {
        return Err(rejected(
            ProgramError::CpRequireGtViolated,
            Check::ZeroOutput,
        ));
    }
    Ok(Quote {
        amount_in: result.input,
        amount_out: result.output,
        fee_amount: result.fee_amount(),
        ..Quote::default()
    })
}

/// Protocol and fund shares of a trade fee, `floor(fee·rate / 1e6)` (`Fees::protocol_fee`,
/// `Fees::fund_fee`); rates are at most 1e6 (checked at decode), so each share fits u64.
pub fn fee_shares(trade_fee: u64, config: &AmmConfig) -> (u64, u64) {
    let share = |rate: u64| {
        (u128::from(trade_fee) * u128::from(rate) / u128::from(FEE_RATE_DENOMINATOR)) as u64
    };
    (share(config.protocol_fee_rate), share(config.fund_fee_rate))
}
