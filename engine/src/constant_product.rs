//! The x·y=k curve both Raydium programs share, in their exact integer rounding.

use crate::error::QuoteError;

/// Output for `net_in` tokens that reach the curve: `floor(r_out·net_in / (r_in + net_in))`.
#[inline]
pub fn out_given_in(net_in: u64, reserve_in: u64, reserve_out: u64) -> Result<u64, QuoteError> {
    let denominator = reserve_in as u128 + net_in as u128;
    if denominator == 0 || reserve_out == 0 {
        return Err(QuoteError::InsufficientLiquidity {
            requested: net_in,
            available: 0,
        });
    }
    // u64·u64 always fits u128.
    let out = (reserve_out as u128 * net_in as u128) / denominator;
    // out < reserve_out, so it fits u64.
    Ok(out as u64)
}

/// Curve input needed for `out`: `ceil(r_in·out / (r_out − out))`; `out` must be below `r_out`.
#[inline]
pub fn in_given_out(out: u64, reserve_in: u64, reserve_out: u64) -> Result<u64, QuoteError> {
    if out >= reserve_out {
        return Err(QuoteError::InsufficientLiquidity {
            requested: out,
            available: reserve_out.saturating_sub(1),
        });
    }
    let numerator = reserve_in as u128 * out as u128;
    let net = numerator.div_ceil((reserve_out - out) as u128);
    u64::try_from(net).map_err(|_| QuoteError::Overflow {
        stage: "curve input for exact out",
    })
}

/// `ceil(amount·numerator / denominator)` as u64 (fees charged on an amount).
#[inline]
pub fn fee_ceil(amount: u64, numerator: u64, denominator: u64) -> Result<u64, QuoteError> {
    if denominator == 0 {
        return Err(QuoteError::Overflow {
            stage: "fee with zero denominator",
        });
    }
    let fee = (amount as u128 * numerator as u128).div_ceil(denominator as u128);
    u64::try_from(fee).map_err(|_| QuoteError::Overflow { stage: "fee" })
}

/// `floor(amount·numerator / denominator)` as u64.
#[inline]
pub fn fee_floor(amount: u64, numerator: u64, denominator: u64) -> Result<u64, QuoteError> {
    if denominator == 0 {
        return Err(QuoteError::Overflow {
            stage: "fee split with zero denominator",
        });
    }
    let fee = (amount as u128 * numerator as u128) / denominator as u128;
    u64::try_from(fee).map_err(|_| QuoteError::Overflow { stage: "fee split" })
}

/// Gross amount whose fee-less part is `net`: `ceil(net·denominator / (denominator − numerator))`.
#[inline]
pub fn gross_up(net: u64, numerator: u64, denominator: u64) -> Result<u64, QuoteError> {
    if numerator == 0 {
        return Ok(net);
    }
    let keep = denominator
        .checked_sub(numerator)
        .filter(|k| *k > 0)
        .ok_or(QuoteError::Overflow {
            stage: "fee of 100% or more",
        })?;
    let gross = (net as u128 * denominator as u128).div_ceil(keep as u128);
    u64::try_from(gross).map_err(|_| QuoteError::Overflow {
        stage: "input with fee for exact out",
    })
}

/// Reserve net of amounts owed out of the vault.
#[inline]
pub fn net_reserve(
    pool: crate::pubkey::Pubkey,
    side: &'static str,
    vault: u64,
    owed: u64,
) -> Result<u64, QuoteError> {
    vault.checked_sub(owed).ok_or(QuoteError::OwedExceedsVault {
        pool,
        side,
        vault,
        owed,
    })
}
