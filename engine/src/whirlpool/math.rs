//! Whirlpool fixed-point math: tick ↔ sqrt-price (Q64.64), token deltas and swap steps,
//! in the program's integer widths and rounding.

use ethnum::U256;

use crate::error::QuoteError;

/// Lowest tick index.
pub const MIN_TICK_INDEX: i32 = -443_636;
/// Highest tick index.
pub const MAX_TICK_INDEX: i32 = 443_636;
/// sqrt price (Q64.64) at `MIN_TICK_INDEX`.
pub const MIN_SQRT_PRICE: u128 = 4_295_048_016;
/// sqrt price (Q64.64) at `MAX_TICK_INDEX`.
pub const MAX_SQRT_PRICE: u128 = 79_226_673_515_401_279_992_447_579_055;
/// Ticks per tick array.
pub const TICK_ARRAY_SIZE: i32 = 88;
/// Fee rates are parts per million.
pub const FEE_RATE_DENOMINATOR: u128 = 1_000_000;

/// A token delta that does not fit u64, or an intermediate that does not fit 256 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaError {
    /// The amount exceeds u64 (recoverable inside a swap step).
    ExceedsU64,
    /// A 256-bit intermediate overflowed (the program aborts).
    Overflow,
}

impl From<DeltaError> for QuoteError {
    fn from(e: DeltaError) -> Self {
        match e {
            DeltaError::ExceedsU64 => QuoteError::Overflow {
                stage: "token amount exceeds u64",
            },
            DeltaError::Overflow => QuoteError::Overflow {
                stage: "256-bit intermediate",
            },
        }
    }
}

/// Full 256-bit product of two u128.
#[inline]
fn mul_wide(a: u128, b: u128) -> U256 {
    U256::from(a) * U256::from(b)
}

/// `x << 64` for a 256-bit value, or `None` when bits would be lost (the program's
/// `checked_shift_word_left`).
#[inline]
fn shl64_checked(x: U256) -> Option<U256> {
    if x.high() >> 64 != 0 {
        None
    } else {
        Some(x << 64u32)
    }
}

/// `(a·b) >> 96` for products below 2^224, from four 64-bit partial products.
#[inline]
fn mul_shift_96(a: u128, b: u128) -> u128 {
    let (a_hi, a_lo) = (a >> 64, a & u64::MAX as u128);
    let (b_hi, b_lo) = (b >> 64, b & u64::MAX as u128);
    let lo_lo = a_lo * b_lo;
    let cross_1 = a_lo * b_hi;
    let cross_2 = a_hi * b_lo;
    let mid = (lo_lo >> 64) + (cross_1 & u64::MAX as u128) + (cross_2 & u64::MAX as u128);
    let low = (lo_lo & u64::MAX as u128) | (mid << 64);
    let high = a_hi * b_hi + (cross_1 >> 64) + (cross_2 >> 64) + (mid >> 64);
    (high << 32) | (low >> 96)
}

/// sqrt(1.0001^tick) in Q64.64; `tick` must lie in `[MIN_TICK_INDEX, MAX_TICK_INDEX]`.
pub fn sqrt_price_from_tick_index(tick: i32) -> u128 {
    if tick >= 0 {
        sqrt_price_positive(tick as u32)
    } else {
        sqrt_price_negative(tick.unsigned_abs())
    }
}

// Q96 factors sqrt(1.0001)^(2^i) for the positive side (the program's constants).
const POSITIVE_FACTORS: [u128; 18] = [
    79236085330515764027303304731,
    79244008939048815603706035061,
    79259858533276714757314932305,
    79291567232598584799939703904,
    79355022692464371645785046466,
    79482085999252804386437311141,
    79736823300114093921829183326,
    80248749790819932309965073892,
    81282483887344747381513967011,
    83390072131320151908154831281,
    87770609709833776024991924138,
    97234110755111693312479820773,
    119332217159966728226237229890,
    179736315981702064433883588727,
    407748233172238350107850275304,
    2098478828474011932436660412517,
    55581415166113811149459800483533,
    38992368544603139932233054999993551,
];

// Q64 factors sqrt(1.0001)^(-2^i) for the negative side.
const NEGATIVE_FACTORS: [u128; 18] = [
    18444899583751176498,
    18443055278223354162,
    18439367220385604838,
    18431993317065449817,
    18417254355718160513,
    18387811781193591352,
    18329067761203520168,
    18212142134806087854,
    17980523815641551639,
    17526086738831147013,
    16651378430235024244,
    15030750278693429944,
    12247334978882834399,
    8131365268884726200,
    3584323654723342297,
    696457651847595233,
    26294789957452057,
    37481735321082,
];

fn sqrt_price_positive(tick: u32) -> u128 {
    let mut ratio: u128 = if tick & 1 != 0 {
        79232123823359799118286999567
    } else {
        79228162514264337593543950336
    };
    for (bit, factor) in POSITIVE_FACTORS.iter().enumerate() {
        if tick & (2 << bit) != 0 {
            ratio = mul_shift_96(ratio, *factor);
        }
    }
    ratio >> 32
}

fn sqrt_price_negative(abs_tick: u32) -> u128 {
    let mut ratio: u128 = if abs_tick & 1 != 0 {
        18445821805675392311
    } else {
        18446744073709551616
    };
    for (bit, factor) in NEGATIVE_FACTORS.iter().enumerate() {
        if abs_tick & (2 << bit) != 0 {
            // ratio ≤ 2^64 and factor < 2^64: the product fits u128.
            ratio = (ratio * factor) >> 64;
        }
    }
    ratio
}

const LOG_B_2_X32: i128 = 59543866431248;
const BIT_PRECISION: u32 = 14;
const LOG_B_P_ERR_MARGIN_LOWER_X64: i128 = 184467440737095516;
const LOG_B_P_ERR_MARGIN_UPPER_X64: i128 = 15793534762490258745;

/// The greatest tick whose sqrt price is ≤ `sqrt_price`; `sqrt_price` must lie in
/// `[MIN_SQRT_PRICE, MAX_SQRT_PRICE]`.
pub fn tick_index_from_sqrt_price(sqrt_price: u128) -> i32 {
    let msb = 127 - sqrt_price.leading_zeros();
    let log2_integer_x32 = (msb as i128 - 64) << 32;
    let mut r = if msb >= 64 {
        sqrt_price >> (msb - 63)
    } else {
        sqrt_price << (63 - msb)
    };
    let mut bit: i128 = 1 << 63;
    let mut log2_fraction_x64: i128 = 0;
    for _ in 0..BIT_PRECISION {
        r = r.wrapping_mul(r);
        let above_two = (r >> 127) as u32;
        r >>= 63 + above_two;
        log2_fraction_x64 += bit * above_two as i128;
        bit >>= 1;
    }
    let log2_x32 = log2_integer_x32 + (log2_fraction_x64 >> 32);
    let log_b_x64 = log2_x32 * LOG_B_2_X32;
    let tick_low = ((log_b_x64 - LOG_B_P_ERR_MARGIN_LOWER_X64) >> 64) as i32;
    let tick_high = ((log_b_x64 + LOG_B_P_ERR_MARGIN_UPPER_X64) >> 64) as i32;
    if tick_low == tick_high || sqrt_price_from_tick_index(tick_high) > sqrt_price {
        tick_low
    } else {
        tick_high
    }
}

/// Token A between two sqrt prices for `liquidity`: `L·(√pu − √pl)·2^64 / (√pu·√pl)`.
pub fn amount_delta_a(
    p0: u128,
    p1: u128,
    liquidity: u128,
    round_up: bool,
) -> Result<u64, DeltaError> {
    let (lower, upper) = if p0 < p1 { (p0, p1) } else { (p1, p0) };
    let numerator =
        shl64_checked(mul_wide(liquidity, upper - lower)).ok_or(DeltaError::Overflow)?;
    let denominator = mul_wide(upper, lower);
    if denominator == U256::ZERO {
        return Err(DeltaError::Overflow);
    }
    let quotient = numerator / denominator;
    let result = if round_up && quotient * denominator != numerator {
        quotient + 1
    } else {
        quotient
    };
    if result > U256::from(u64::MAX) {
        Err(DeltaError::ExceedsU64)
    } else {
        Ok(result.as_u64())
    }
}

/// Token B between two sqrt prices for `liquidity`: `L·(√pu − √pl) / 2^64`.
pub fn amount_delta_b(
    p0: u128,
    p1: u128,
    liquidity: u128,
    round_up: bool,
) -> Result<u64, DeltaError> {
    let diff = p0.abs_diff(p1);
    let product = mul_wide(liquidity, diff);
    let quotient = product >> 64u32;
    let round = round_up && (*product.low() as u64) != 0;
    let result = if round { quotient + 1 } else { quotient };
    if result > U256::from(u64::MAX) {
        Err(DeltaError::ExceedsU64)
    } else {
        Ok(result.as_u64())
    }
}

/// The sqrt price after `amount` of token A enters (input) or leaves (output); rounds up.
pub fn next_sqrt_price_from_a(
    sqrt_price: u128,
    liquidity: u128,
    amount: u64,
    amount_is_input: bool,
) -> Result<u128, QuoteError> {
    if amount == 0 {
        return Ok(sqrt_price);
    }
    let overflow = QuoteError::Overflow {
        stage: "next sqrt price from token A",
    };
    let product = mul_wide(sqrt_price, amount.into());
    let numerator = shl64_checked(mul_wide(liquidity, sqrt_price)).ok_or(overflow.clone())?;
    let liquidity_shifted = U256::from(liquidity) << 64u32;
    let denominator = if amount_is_input {
        liquidity_shifted
            .checked_add(product)
            .ok_or(overflow.clone())?
    } else {
        liquidity_shifted
            .checked_sub(product)
            .filter(|d| *d != U256::ZERO)
            .ok_or(overflow.clone())?
    };
    let quotient = numerator / denominator;
    let result = if quotient * denominator != numerator {
        quotient + 1
    } else {
        quotient
    };
    if result < U256::from(MIN_SQRT_PRICE) || result > U256::from(MAX_SQRT_PRICE) {
        return Err(QuoteError::Overflow {
            stage: "sqrt price out of bounds",
        });
    }
    Ok(result.as_u128())
}

/// The sqrt price after `amount` of token B enters (input) or leaves (output); rounds down.
pub fn next_sqrt_price_from_b(
    sqrt_price: u128,
    liquidity: u128,
    amount: u64,
    amount_is_input: bool,
) -> Result<u128, QuoteError> {
    if amount == 0 {
        return Ok(sqrt_price);
    }
    if liquidity == 0 {
        return Err(QuoteError::Overflow {
            stage: "division by zero liquidity",
        });
    }
    let shifted = (amount as u128) << 64;
    let quotient = shifted / liquidity;
    let delta = if !amount_is_input && quotient * liquidity != shifted {
        quotient + 1
    } else {
        quotient
    };
    let result = if amount_is_input {
        sqrt_price.checked_add(delta)
    } else {
        sqrt_price.checked_sub(delta)
    };
    match result {
        Some(p) if (MIN_SQRT_PRICE..=MAX_SQRT_PRICE).contains(&p) => Ok(p),
        _ => Err(QuoteError::Overflow {
            stage: "sqrt price out of bounds",
        }),
    }
}

/// One step of the swap loop: how far the price moves toward `target` and what moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwapStep {
    /// Input consumed by the curve in this step (fee excluded).
    pub amount_in: u64,
    /// Output produced.
    pub amount_out: u64,
    /// Sqrt price after the step.
    pub next_sqrt_price: u128,
    /// Fee charged on the input.
    pub fee_amount: u64,
}

#[inline]
fn fixed_delta(
    cur: u128,
    target: u128,
    liquidity: u128,
    a_to_b: bool,
    exact_in: bool,
) -> Result<u64, DeltaError> {
    if a_to_b == exact_in {
        amount_delta_a(cur, target, liquidity, exact_in)
    } else {
        amount_delta_b(cur, target, liquidity, exact_in)
    }
}

#[inline]
fn unfixed_delta(
    cur: u128,
    next: u128,
    liquidity: u128,
    a_to_b: bool,
    exact_in: bool,
) -> Result<u64, DeltaError> {
    if a_to_b == exact_in {
        amount_delta_b(cur, next, liquidity, !exact_in)
    } else {
        amount_delta_a(cur, next, liquidity, !exact_in)
    }
}

/// The program's `compute_swap` for one price range with constant liquidity.
pub fn compute_swap_step(
    amount_remaining: u64,
    fee_rate: u16,
    liquidity: u128,
    sqrt_price: u128,
    target_sqrt_price: u128,
    a_to_b: bool,
    exact_in: bool,
) -> Result<SwapStep, QuoteError> {
    let fee_rate = fee_rate as u128;
    let initial_fixed = fixed_delta(sqrt_price, target_sqrt_price, liquidity, a_to_b, exact_in);
    let initial_overflowed = initial_fixed == Err(DeltaError::ExceedsU64);
    let amount_calc = if exact_in {
        // floor(amount · (1e6 − fee) / 1e6) fits u64.
        ((amount_remaining as u128 * (FEE_RATE_DENOMINATOR - fee_rate)) / FEE_RATE_DENOMINATOR)
            as u64
    } else {
        amount_remaining
    };
    let reaches_target = match initial_fixed {
        Ok(delta) => delta <= amount_calc,
        Err(DeltaError::ExceedsU64) => false,
        Err(e) => return Err(e.into()),
    };
    let next_sqrt_price = if reaches_target {
        target_sqrt_price
    } else if a_to_b == exact_in {
        next_sqrt_price_from_a(sqrt_price, liquidity, amount_calc, exact_in)?
    } else {
        next_sqrt_price_from_b(sqrt_price, liquidity, amount_calc, exact_in)?
    };
    let is_max_swap = next_sqrt_price == target_sqrt_price;
    let unfixed = unfixed_delta(sqrt_price, next_sqrt_price, liquidity, a_to_b, exact_in)?;
    let fixed = match initial_fixed {
        Ok(delta) if is_max_swap && !initial_overflowed => delta,
        _ => fixed_delta(sqrt_price, next_sqrt_price, liquidity, a_to_b, exact_in)?,
    };
    let (amount_in, mut amount_out) = if exact_in {
        (fixed, unfixed)
    } else {
        (unfixed, fixed)
    };
    if !exact_in && amount_out > amount_remaining {
        amount_out = amount_remaining;
    }
    let fee_amount = if exact_in && !is_max_swap {
        amount_remaining - amount_in
    } else {
        // ceil(amount_in · fee / (1e6 − fee))
        let fee = (amount_in as u128 * fee_rate).div_ceil(FEE_RATE_DENOMINATOR - fee_rate);
        u64::try_from(fee).map_err(|_| QuoteError::Overflow { stage: "swap fee" })?
    };
    Ok(SwapStep {
        amount_in,
        amount_out,
        next_sqrt_price,
        fee_amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_mul_shift_matches_the_wide_one() {
        let mut x = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834u128;
        for factor in POSITIVE_FACTORS {
            for _ in 0..200 {
                x = x.rotate_left(17) ^ 0x2545_f491_4f6c_dd1d;
                let a = x >> (x % 40);
                if a.leading_zeros() + factor.leading_zeros() < 32 {
                    continue; // products past 2^224: not a ratio the tick loop builds
                }
                assert_eq!(
                    mul_shift_96(a, factor),
                    (mul_wide(a, factor) >> 96u32).as_u128()
                );
            }
        }
    }

    #[test]
    fn tick_bounds_map_to_price_bounds() {
        assert_eq!(sqrt_price_from_tick_index(MIN_TICK_INDEX), MIN_SQRT_PRICE);
        assert_eq!(sqrt_price_from_tick_index(MAX_TICK_INDEX), MAX_SQRT_PRICE);
        assert_eq!(sqrt_price_from_tick_index(0), 1u128 << 64);
        assert_eq!(tick_index_from_sqrt_price(MIN_SQRT_PRICE), MIN_TICK_INDEX);
        assert_eq!(tick_index_from_sqrt_price(MAX_SQRT_PRICE), MAX_TICK_INDEX);
    }

    #[test]
    fn tick_from_price_inverts_price_from_tick() {
        for tick in (MIN_TICK_INDEX..=MAX_TICK_INDEX).step_by(997) {
            let p = sqrt_price_from_tick_index(tick);
            assert_eq!(tick_index_from_sqrt_price(p), tick);
            if tick < MAX_TICK_INDEX {
                let next = sqrt_price_from_tick_index(tick + 1);
                assert_eq!(tick_index_from_sqrt_price(next - 1), tick);
            }
        }
    }

    #[test]
    fn deltas_round_in_the_pools_favour() {
        let (p0, p1, l) = (4u128 << 64, 2u128 << 64, 4u128);
        assert_eq!(amount_delta_a(p0, p1, l, true), Ok(1));
        assert_eq!(amount_delta_b(p0, p1, l, false), Ok(8));
        let (lo, hi) = (
            sqrt_price_from_tick_index(-10),
            sqrt_price_from_tick_index(7),
        );
        let up = amount_delta_a(lo, hi, 123_456_789, true).unwrap();
        let down = amount_delta_a(lo, hi, 123_456_789, false).unwrap();
        assert_eq!(up, down + 1);
    }

    #[test]
    fn shifted_overflow_is_an_error_not_a_truncation() {
        assert_eq!(
            amount_delta_a(MIN_SQRT_PRICE, MAX_SQRT_PRICE, u128::MAX, false),
            Err(DeltaError::Overflow)
        );
    }
}
