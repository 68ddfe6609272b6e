//! Raydium CP-Swap (CPMM): `PoolState`, `AmmConfig`, vaults, and the program's swap arithmetic.

use crate::bytes::FieldReader;
use crate::error::{AccountKind, Check, DecodeError, ProgramError, QuoteError};
use crate::mint::{FeeError, Mint};
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode, Updated};
use crate::token_account::{TokenAccount, Vault};

/// `PoolState` length including the Anchor discriminator.
pub const POOL_STATE_LEN: usize = 637;
/// `AmmConfig` length including the Anchor discriminator.
pub const AMM_CONFIG_LEN: usize = 236;
/// Anchor discriminator of `PoolState` (sha256("account:PoolState")[..8]).
pub const POOL_STATE_DISCRIMINATOR: [u8; 8] = [247, 237, 227, 245, 215, 195, 222, 70];
/// Anchor discriminator of `AmmConfig` (sha256("account:AmmConfig")[..8]).
pub const AMM_CONFIG_DISCRIMINATOR: [u8; 8] = [218, 244, 33, 104, 203, 203, 43, 111];
/// Fee rates are parts per million.
pub const FEE_RATE_DENOMINATOR: u64 = 1_000_000;
/// Status bit that, when set, disables swaps.
const STATUS_SWAP_DISABLED_BIT: u8 = 1 << 2;

mod pool_offset {
    pub const AMM_CONFIG: usize = 8;
    pub const POOL_CREATOR: usize = 40;
    pub const TOKEN_0_VAULT: usize = 72;
    pub const TOKEN_1_VAULT: usize = 104;
    pub const LP_MINT: usize = 136;
    pub const TOKEN_0_MINT: usize = 168;
    pub const TOKEN_1_MINT: usize = 200;
    pub const TOKEN_0_PROGRAM: usize = 232;
    pub const TOKEN_1_PROGRAM: usize = 264;
    pub const OBSERVATION_KEY: usize = 296;
    pub const STATUS: usize = 329;
    pub const MINT_0_DECIMALS: usize = 331;
    pub const MINT_1_DECIMALS: usize = 332;
    pub const PROTOCOL_FEES_TOKEN_0: usize = 341;
    pub const PROTOCOL_FEES_TOKEN_1: usize = 349;
    pub const FUND_FEES_TOKEN_0: usize = 357;
    pub const FUND_FEES_TOKEN_1: usize = 365;
    pub const OPEN_TIME: usize = 373;
    pub const CREATOR_FEE_ON: usize = 389;
    pub const ENABLE_CREATOR_FEE: usize = 390;
    pub const CREATOR_FEES_TOKEN_0: usize = 397;
    pub const CREATOR_FEES_TOKEN_1: usize = 405;
}

mod config_offset {
    pub const TRADE_FEE_RATE: usize = 12;
    pub const PROTOCOL_FEE_RATE: usize = 20;
    pub const FUND_FEE_RATE: usize = 28;
    pub const CREATOR_FEE_RATE: usize = 108;
}

/// Which token a pool's creator fee is taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreatorFeeOn {
    /// Always the input token.
    #[default]
    BothTokens,
    /// Token 0 only: on the input when token 0 goes in, else on the output.
    OnlyToken0,
    /// Token 1 only: on the input when token 1 goes in, else on the output.
    OnlyToken1,
}

impl CreatorFeeOn {
    fn on_input(self, side: Side) -> bool {
        match self {
            Self::BothTokens => true,
            Self::OnlyToken0 => side == Side::AToB,
            Self::OnlyToken1 => side == Side::BToA,
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Self::BothTokens => 0,
            Self::OnlyToken0 => 1,
            Self::OnlyToken1 => 2,
        }
    }
}

/// The fields of `PoolState` the engine reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolState {
    /// The `AmmConfig` holding the fee rates.
    pub amm_config: Pubkey,
    /// The pool's creator (receives the creator fee).
    pub pool_creator: Pubkey,
    /// Vault of token 0.
    pub token_0_vault: Pubkey,
    /// Vault of token 1.
    pub token_1_vault: Pubkey,
    /// LP mint.
    pub lp_mint: Pubkey,
    /// Mint of token 0.
    pub token_0_mint: Pubkey,
    /// Mint of token 1.
    pub token_1_mint: Pubkey,
    /// Token program of token 0.
    pub token_0_program: Pubkey,
    /// Token program of token 1.
    pub token_1_program: Pubkey,
    /// The pool's price observation account (not read by quotes).
    pub observation_key: Pubkey,
    /// Status bits (bit 2 set: swaps disabled).
    pub status: u8,
    /// Decimals of mint 0.
    pub mint_0_decimals: u8,
    /// Decimals of mint 1.
    pub mint_1_decimals: u8,
    /// Protocol fees owed in token 0.
    pub protocol_fees_token_0: u64,
    /// Protocol fees owed in token 1.
    pub protocol_fees_token_1: u64,
    /// Fund fees owed in token 0.
    pub fund_fees_token_0: u64,
    /// Fund fees owed in token 1.
    pub fund_fees_token_1: u64,
    /// Unix time from which the pool trades.
    pub open_time: u64,
    /// Which token the creator fee is taken in.
    pub creator_fee_on: CreatorFeeOn,
    /// Whether the creator fee is charged at all.
    pub enable_creator_fee: bool,
    /// Creator fees owed in token 0.
    pub creator_fees_token_0: u64,
    /// Creator fees owed in token 1.
    pub creator_fees_token_1: u64,
}

impl PoolState {
    /// Decodes and validates a `PoolState` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        use pool_offset as o;
        let r = FieldReader::new(AccountKind::RaydiumCpPoolState, *pubkey, data);
        r.expect_owner(owner, &programs::RAYDIUM_CP_SWAP)?;
        r.expect_len(POOL_STATE_LEN, "637")?;
        r.expect_discriminator(&POOL_STATE_DISCRIMINATOR)?;
        let creator_fee_on = match r.u8(o::CREATOR_FEE_ON, "creator_fee_on")? {
            0 => CreatorFeeOn::BothTokens,
            1 => CreatorFeeOn::OnlyToken0,
            2 => CreatorFeeOn::OnlyToken1,
            v => {
                return Err(r.invalid(
                    "creator_fee_on",
                    v.into(),
                    "is not 0 (both), 1 (token 0) or 2 (token 1)",
                ));
            }
        };
        let state = Self {
            amm_config: r.pubkey_at(o::AMM_CONFIG, "amm_config")?,
            pool_creator: r.pubkey_at(o::POOL_CREATOR, "pool_creator")?,
            token_0_vault: r.pubkey_at(o::TOKEN_0_VAULT, "token_0_vault")?,
            token_1_vault: r.pubkey_at(o::TOKEN_1_VAULT, "token_1_vault")?,
            lp_mint: r.pubkey_at(o::LP_MINT, "lp_mint")?,
            token_0_mint: r.pubkey_at(o::TOKEN_0_MINT, "token_0_mint")?,
            token_1_mint: r.pubkey_at(o::TOKEN_1_MINT, "token_1_mint")?,
            token_0_program: r.pubkey_at(o::TOKEN_0_PROGRAM, "token_0_program")?,
            token_1_program: r.pubkey_at(o::TOKEN_1_PROGRAM, "token_1_program")?,
            observation_key: r.pubkey_at(o::OBSERVATION_KEY, "observation_key")?,
            status: r.u8(o::STATUS, "status")?,
            mint_0_decimals: r.u8(o::MINT_0_DECIMALS, "mint_0_decimals")?,
            mint_1_decimals: r.u8(o::MINT_1_DECIMALS, "mint_1_decimals")?,
            protocol_fees_token_0: r.u64(o::PROTOCOL_FEES_TOKEN_0, "protocol_fees_token_0")?,
            protocol_fees_token_1: r.u64(o::PROTOCOL_FEES_TOKEN_1, "protocol_fees_token_1")?,
            fund_fees_token_0: r.u64(o::FUND_FEES_TOKEN_0, "fund_fees_token_0")?,
            fund_fees_token_1: r.u64(o::FUND_FEES_TOKEN_1, "fund_fees_token_1")?,
            open_time: r.u64(o::OPEN_TIME, "open_time")?,
            creator_fee_on,
            enable_creator_fee: r.bool(o::ENABLE_CREATOR_FEE, "enable_creator_fee")?,
            creator_fees_token_0: r.u64(o::CREATOR_FEES_TOKEN_0, "creator_fees_token_0")?,
            creator_fees_token_1: r.u64(o::CREATOR_FEES_TOKEN_1, "creator_fees_token_1")?,
        };
        for (field, program) in [
            ("token_0_program", state.token_0_program),
            ("token_1_program", state.token_1_program),
        ] {
            if program != programs::SPL_TOKEN && program != programs::SPL_TOKEN_2022 {
                return Err(r.invalid(field, 0, "is neither SPL Token nor Token-2022"));
            }
        }
        if state.token_0_vault == state.token_1_vault {
            return Err(r.invalid("token_1_vault", 0, "equals token_0_vault"));
        }
        Ok(state)
    }

    /// (vault, mint, token program) of token 0 and token 1.
    pub fn sides(&self) -> [(Pubkey, Pubkey, Pubkey); 2] {
        [
            (self.token_0_vault, self.token_0_mint, self.token_0_program),
            (self.token_1_vault, self.token_1_mint, self.token_1_program),
        ]
    }

    /// Writes the fields the engine reads into a 637-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        use pool_offset as o;
        let mut d = vec![0u8; POOL_STATE_LEN];
        let mut put = |at: usize, bytes: &[u8]| d[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, &POOL_STATE_DISCRIMINATOR);
        put(o::AMM_CONFIG, &self.amm_config.0);
        put(o::POOL_CREATOR, &self.pool_creator.0);
        put(o::TOKEN_0_VAULT, &self.token_0_vault.0);
        put(o::TOKEN_1_VAULT, &self.token_1_vault.0);
        put(o::LP_MINT, &self.lp_mint.0);
        put(o::TOKEN_0_MINT, &self.token_0_mint.0);
        put(o::TOKEN_1_MINT, &self.token_1_mint.0);
        put(o::TOKEN_0_PROGRAM, &self.token_0_program.0);
        put(o::TOKEN_1_PROGRAM, &self.token_1_program.0);
        put(o::OBSERVATION_KEY, &self.observation_key.0);
        put(o::STATUS, &[self.status]);
        put(o::MINT_0_DECIMALS, &[self.mint_0_decimals]);
        put(o::MINT_1_DECIMALS, &[self.mint_1_decimals]);
        put(
            o::PROTOCOL_FEES_TOKEN_0,
            &self.protocol_fees_token_0.to_le_bytes(),
        );
        put(
            o::PROTOCOL_FEES_TOKEN_1,
            &self.protocol_fees_token_1.to_le_bytes(),
        );
        put(o::FUND_FEES_TOKEN_0, &self.fund_fees_token_0.to_le_bytes());
        put(o::FUND_FEES_TOKEN_1, &self.fund_fees_token_1.to_le_bytes());
        put(o::OPEN_TIME, &self.open_time.to_le_bytes());
        put(o::CREATOR_FEE_ON, &[self.creator_fee_on.to_byte()]);
        put(o::ENABLE_CREATOR_FEE, &[u8::from(self.enable_creator_fee)]);
        put(
            o::CREATOR_FEES_TOKEN_0,
            &self.creator_fees_token_0.to_le_bytes(),
        );
        put(
            o::CREATOR_FEES_TOKEN_1,
            &self.creator_fees_token_1.to_le_bytes(),
        );
        d
    }
}

/// The fee rates of an `AmmConfig` (parts per million).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AmmConfig {
    /// Fee on each swap, kept by the pool.
    pub trade_fee_rate: u64,
    /// Share of the trade fee owed to the protocol.
    pub protocol_fee_rate: u64,
    /// Share of the trade fee owed to the fund.
    pub fund_fee_rate: u64,
    /// Creator fee, charged on top when the pool enables it.
    pub creator_fee_rate: u64,
}

impl AmmConfig {
    /// Decodes and validates an `AmmConfig` account.
    pub fn decode(pubkey: &Pubkey, owner: &Pubkey, data: &[u8]) -> Result<Self, DecodeError> {
        use config_offset as o;
        let r = FieldReader::new(AccountKind::RaydiumCpAmmConfig, *pubkey, data);
        r.expect_owner(owner, &programs::RAYDIUM_CP_SWAP)?;
        r.expect_len(AMM_CONFIG_LEN, "236")?;
        r.expect_discriminator(&AMM_CONFIG_DISCRIMINATOR)?;
        let config = Self {
            trade_fee_rate: r.u64(o::TRADE_FEE_RATE, "trade_fee_rate")?,
            protocol_fee_rate: r.u64(o::PROTOCOL_FEE_RATE, "protocol_fee_rate")?,
            fund_fee_rate: r.u64(o::FUND_FEE_RATE, "fund_fee_rate")?,
            creator_fee_rate: r.u64(o::CREATOR_FEE_RATE, "creator_fee_rate")?,
        };
        for (field, rate) in [
            ("trade_fee_rate", config.trade_fee_rate),
            ("protocol_fee_rate", config.protocol_fee_rate),
            ("fund_fee_rate", config.fund_fee_rate),
            ("creator_fee_rate", config.creator_fee_rate),
        ] {
            if rate > FEE_RATE_DENOMINATOR {
                return Err(r.invalid(field, rate.into(), "exceeds 1,000,000 (100%)"));
            }
        }
        // `update_amm_config` keeps trade + creator at most 100% (`create_amm_config` below).
        if config.trade_fee_rate + config.creator_fee_rate > FEE_RATE_DENOMINATOR {
            return Err(r.invalid(
                "creator_fee_rate",
                config.creator_fee_rate.into(),
                "plus trade_fee_rate exceeds 100%",
            ));
        }
        Ok(config)
    }

    /// Writes the fee rates into a 236-byte image (simulator, tests).
    pub fn encode(&self) -> Vec<u8> {
        use config_offset as o;
        let mut d = vec![0u8; AMM_CONFIG_LEN];
        d[0..8].copy_from_slice(&AMM_CONFIG_DISCRIMINATOR);
        for (at, v) in [
            (o::TRADE_FEE_RATE, self.trade_fee_rate),
            (o::PROTOCOL_FEE_RATE, self.protocol_fee_rate),
            (o::FUND_FEE_RATE, self.fund_fee_rate),
            (o::CREATOR_FEE_RATE, self.creator_fee_rate),
        ] {
            d[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        d
    }
}

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

fn rejected(error: ProgramError, check: Check) -> QuoteError {
    QuoteError::Rejected { error, check }
}

fn panic(check: Check) -> QuoteError {
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

/// A CP-Swap pool: `PoolState`, its `AmmConfig`, both vault balances and, for Token-2022
/// tokens, the mints (their transfer fees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaydiumCpPool {
    key: Pubkey,
    state: PoolState,
    config: Option<AmmConfig>,
    /// The token 0 and token 1 vaults as last received.
    vaults: [Option<Vault>; 2],
    mints: [Option<Mint>; 2],
    /// [`Self::reserves`], recomputed whenever the pool account or a vault changes (quotes
    /// outnumber updates).
    net_reserves: Result<(u64, u64), QuoteError>,
}

impl RaydiumCpPool {
    /// A pool from its `PoolState` account; config, vaults and mints arrive through
    /// [`Amm::update`].
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: *account.pubkey,
            state: PoolState::decode(account.pubkey, account.owner, account.data)?,
            config: None,
            vaults: [None, None],
            mints: [None, None],
            net_reserves: Err(QuoteError::MissingAccount {
                pool: *account.pubkey,
                missing: "token 0 vault",
            }),
        })
    }

    /// The decoded pool account.
    pub fn state(&self) -> &PoolState {
        &self.state
    }

    /// Token 0 and token 1 reserves net of protocol, fund and creator fees owed, as
    /// `PoolState::vault_amount_without_fee` computes them (states/pool.rs L200-216).
    pub fn reserves(&self) -> Result<(u64, u64), QuoteError> {
        self.net_reserves.clone()
    }

    fn compute_reserves(&self) -> Result<(u64, u64), QuoteError> {
        let missing = |what| QuoteError::MissingAccount {
            pool: self.key,
            missing: what,
        };
        let v0 = self.vaults[0]
            .ok_or_else(|| missing("token 0 vault"))?
            .amount;
        let v1 = self.vaults[1]
            .ok_or_else(|| missing("token 1 vault"))?
            .amount;
        let s = &self.state;
        // `checked_add(..).ok_or(ErrorCode::MathOverflow)`.
        let owed = |p: u64, f: u64, c: u64, side| {
            p.checked_add(f)
                .and_then(|x| x.checked_add(c))
                .ok_or_else(|| {
                    rejected(
                        ProgramError::CpMathOverflow,
                        Check::Overflow { stage: side },
                    )
                })
        };
        let owed_0 = owed(
            s.protocol_fees_token_0,
            s.fund_fees_token_0,
            s.creator_fees_token_0,
            "fees owed in token 0",
        )?;
        let owed_1 = owed(
            s.protocol_fees_token_1,
            s.fund_fees_token_1,
            s.creator_fees_token_1,
            "fees owed in token 1",
        )?;
        // `vault.checked_sub(fees).ok_or(ErrorCode::InsufficientVault)`.
        let net = |vault: u64, owed: u64, side| {
            vault.checked_sub(owed).ok_or_else(|| {
                rejected(
                    ProgramError::CpInsufficientVault,
                    Check::OwedExceedsVault { side, vault, owed },
                )
            })
        };
        Ok((net(v0, owed_0, "token 0")?, net(v1, owed_1, "token 1")?))
    }

    /// The mint of token `index` when it can charge a transfer fee (a Token-2022 mint); `None`
    /// for SPL Token, whose mints have no extensions.
    #[inline]
    fn fee_mint(&self, index: usize) -> Result<Option<&Mint>, QuoteError> {
        let program = [&self.state.token_0_program, &self.state.token_1_program][index];
        if *program != programs::SPL_TOKEN_2022 {
            return Ok(None);
        }
        Mint::required(
            self.mints[index].as_ref(),
            self.key,
            ["token 0 mint", "token 1 mint"][index],
        )
        .map(Some)
    }

    /// What the instruction does after the arithmetic: `PoolState::update_fees` (states/pool.rs
    /// L326) books the protocol and fund shares of the trade fee on the input side and the
    /// creator fee on its side, each with `checked_add(..).unwrap()`; then the transfers
    /// through the vaults fail on a frozen one with the token program's `AccountFrozen`.
    #[inline(always)]
    fn check_after_swap(
        &self,
        side: Side,
        result: &CpSwap,
        config: &AmmConfig,
    ) -> Result<(), QuoteError> {
        let s = &self.state;
        let input = if side == Side::AToB { 0 } else { 1 };
        let creator_side = if result.creator_fee_on_input {
            input
        } else {
            1 - input
        };
        let (protocol, fund) = if input == 0 {
            (s.protocol_fees_token_0, s.fund_fees_token_0)
        } else {
            (s.protocol_fees_token_1, s.fund_fees_token_1)
        };
        let creator = if creator_side == 0 {
            s.creator_fees_token_0
        } else {
            s.creator_fees_token_1
        };
        // The shares are at most the trade fee: books a trade fee short of u64::MAX fit.
        let books_fit = protocol.max(fund) <= u64::MAX - result.trade_fee
            && creator <= u64::MAX - result.creator_fee;
        let frozen = self.vaults.iter().flatten().any(|v| v.is_frozen);
        if books_fit && !frozen {
            return Ok(());
        }
        self.refuse_after_swap(protocol, fund, creator, result, config)
    }

    /// The exact verdict of [`Self::check_after_swap`] once its quick test fails.
    #[cold]
    fn refuse_after_swap(
        &self,
        protocol: u64,
        fund: u64,
        creator: u64,
        result: &CpSwap,
        config: &AmmConfig,
    ) -> Result<(), QuoteError> {
        let (protocol_fee, fund_fee) = fee_shares(result.trade_fee, config);
        if protocol.checked_add(protocol_fee).is_none()
            || fund.checked_add(fund_fee).is_none()
            || creator.checked_add(result.creator_fee).is_none()
        {
            return Err(panic(Check::Overflow {
                stage: "the pool's fee books (update_fees)",
            }));
        }
        match (0..2).find(|&i| self.vaults[i].is_some_and(|v| v.is_frozen)) {
            Some(i) => Err(rejected(
                ProgramError::TokenAccountFrozen,
                Check::Frozen {
                    account: self.state.sides()[i].0,
                },
            )),
            None => Ok(()),
        }
    }

    fn fees(&self, config: &AmmConfig, side: Side) -> CpFees {
        let s = &self.state;
        CpFees {
            trade_fee_rate: config.trade_fee_rate,
            // `adjust_creator_fee_rate` (states/pool.rs L318): 0 unless enabled.
            creator_fee_rate: if s.enable_creator_fee {
                config.creator_fee_rate
            } else {
                0
            },
            creator_fee_on_input: s.creator_fee_on.on_input(side),
        }
    }
}

/// `get_transfer_inverse_fee` (utils/token.rs L170-200): the fee to add so that `net` arrives;
/// its `unwrap`s panic and a fee that does not verify forward is `TransferFeeCalculateNotMatch`.
fn inverse_transfer_fee(mint: Option<&Mint>, net: u64, epoch: u64) -> Result<u64, QuoteError> {
    let Some(mint) = mint else { return Ok(0) };
    let check = Check::TransferFee {
        mint: mint.key,
        amount: net,
    };
    match mint.gross_for(net, epoch) {
        Ok(transfer) => Ok(transfer.fee),
        Err(FeeError::Overflow) => Err(panic(check)),
        Err(FeeError::Mismatch) => Err(rejected(
            ProgramError::CpTransferFeeCalculateNotMatch,
            check,
        )),
    }
}

impl Amm for RaydiumCpPool {
    fn dex(&self) -> DexKind {
        DexKind::RaydiumCp
    }

    fn key(&self) -> Pubkey {
        self.key
    }

    fn mints(&self) -> [Pubkey; 2] {
        [self.state.token_0_mint, self.state.token_1_mint]
    }

    fn accounts(&self) -> Vec<Pubkey> {
        let s = &self.state;
        let mut keys = vec![self.key, s.amm_config, s.token_0_vault, s.token_1_vault];
        for (mint, program) in [
            (s.token_0_mint, s.token_0_program),
            (s.token_1_mint, s.token_1_program),
        ] {
            if program == programs::SPL_TOKEN_2022 {
                keys.push(mint);
            }
        }
        keys
    }

    fn references(&self, key: &Pubkey) -> bool {
        let s = &self.state;
        [
            self.key,
            s.amm_config,
            s.pool_creator,
            s.token_0_vault,
            s.token_1_vault,
            s.lp_mint,
            s.token_0_mint,
            s.token_1_mint,
            s.observation_key,
        ]
        .contains(key)
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        let key = account.pubkey;
        if *key == self.key {
            let state = PoolState::decode(key, account.owner, account.data)?;
            let mut outcome = Updated::State;
            if state.amm_config != self.state.amm_config {
                self.config = None;
                outcome = Updated::Accounts;
            }
            let (was, now) = (self.state.sides(), state.sides());
            for side in 0..2 {
                // A vault read against another address, mint or token program is no longer
                // this side's; a mint under another address or program neither.
                if now[side] != was[side] {
                    self.vaults[side] = None;
                    outcome = Updated::Accounts;
                }
                if (now[side].1, now[side].2) != (was[side].1, was[side].2) {
                    self.mints[side] = None;
                }
            }
            self.state = state;
            self.net_reserves = self.compute_reserves();
            return Ok(outcome);
        }
        if *key == self.state.amm_config {
            self.config = Some(AmmConfig::decode(key, account.owner, account.data)?);
            return Ok(Updated::State);
        }
        let sides = self.state.sides();
        if let Some(side) = sides.iter().position(|(_, mint, _)| mint == key) {
            let mint = Mint::decode(key, account.owner, account.data)?;
            let program = sides[side].2;
            if mint.program() != program {
                return Err(DecodeError::Mismatch {
                    kind: AccountKind::Mint,
                    pubkey: *key,
                    field: "owner program",
                    expected: program,
                    found: mint.program(),
                });
            }
            // A mint rewritten without a change a quote reads (its supply moved) is no news.
            if self.mints[side] == Some(mint) {
                return Ok(Updated::Unchanged);
            }
            self.mints[side] = Some(mint);
            return Ok(Updated::State);
        }
        let Some(side) = sides.iter().position(|(vault, _, _)| vault == key) else {
            return Ok(Updated::Ignored);
        };
        let (_, mint, program) = sides[side];
        let vault = TokenAccount::decode(key, account.owner, account.data)?;
        if vault.mint != mint {
            return Err(DecodeError::Mismatch {
                kind: AccountKind::TokenAccount,
                pubkey: *key,
                field: "mint",
                expected: mint,
                found: vault.mint,
            });
        }
        if vault.program() != program {
            return Err(DecodeError::Mismatch {
                kind: AccountKind::TokenAccount,
                pubkey: *key,
                field: "owner program",
                expected: program,
                found: vault.program(),
            });
        }
        self.vaults[side] = Some(Vault::from(&vault));
        self.net_reserves = self.compute_reserves();
        Ok(Updated::State)
    }

    fn curve(&self, side: Side, epoch: u64) -> Option<crate::curve::Curve> {
        let s = &self.state;
        if s.status & STATUS_SWAP_DISABLED_BIT != 0
            || self.vaults.iter().flatten().any(|v| v.is_frozen)
        {
            return None;
        }
        let config = self.config.as_ref()?;
        let (r0, r1) = *self.net_reserves.as_ref().ok()?;
        let (r_in, r_out, mint_in, mint_out) = match side {
            Side::AToB => (r0, r1, self.fee_mint(0).ok()?, self.fee_mint(1).ok()?),
            Side::BToA => (r1, r0, self.fee_mint(1).ok()?, self.fee_mint(0).ok()?),
        };
        let fees = self.fees(config, side);
        if fees.creator_fee_on_input && fees.trade_fee_rate + fees.creator_fee_rate == 0 {
            return None;
        }
        let keep = |rate: u64| 1.0 - rate as f64 / FEE_RATE_DENOMINATOR as f64;
        let pool_gamma = if fees.creator_fee_on_input {
            keep(fees.trade_fee_rate + fees.creator_fee_rate)
        } else {
            keep(fees.trade_fee_rate) * keep(fees.creator_fee_rate)
        };
        let fee = |mint: Option<&Mint>| {
            mint.map_or((1.0, f64::INFINITY), |m| m.transfer_fee_curve(epoch))
        };
        (r_in > 0 && r_out > 0).then(|| {
            crate::curve::Curve {
                reserve_in: r_in as f64,
                reserve_out: r_out as f64,
                gamma: pool_gamma,
                exact_up_to: f64::INFINITY,
            }
            .with_transfer_fees(fee(mint_in), fee(mint_out), r_out as f64)
        })
    }

    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        let s = &self.state;
        let amount = request.amount;
        // swap_base_output.rs L14: `require_gt!(amount_out_received, 0)` comes first.
        if request.mode == SwapMode::ExactOut && amount == 0 {
            return Err(rejected(
                ProgramError::CpRequireGtViolated,
                Check::ZeroAmount,
            ));
        }
        // swap_base_input.rs L76-83 (swap_base_output.rs L15-22): the swap status bit, and
        // `unix_timestamp as u64 < open_time` → NotApproved.
        if s.status & STATUS_SWAP_DISABLED_BIT != 0 {
            return Err(rejected(
                ProgramError::CpNotApproved,
                Check::Status {
                    status: s.status.into(),
                },
            ));
        }
        if (request.unix_timestamp as u64) < s.open_time {
            return Err(rejected(
                ProgramError::CpNotApproved,
                Check::NotOpenYet {
                    open_time: s.open_time,
                    now: request.unix_timestamp,
                },
            ));
        }
        let config = self.config.as_ref().ok_or(QuoteError::MissingAccount {
            pool: self.key,
            missing: "amm config",
        })?;
        let (index_in, index_out) = match request.side {
            Side::AToB => (0, 1),
            Side::BToA => (1, 0),
        };
        // Pools of two SPL Token tokens (most of them) have no mint to consult.
        let (mint_in, mint_out) = if self.state.token_0_program == programs::SPL_TOKEN
            && self.state.token_1_program == programs::SPL_TOKEN
        {
            (None, None)
        } else {
            (self.fee_mint(index_in)?, self.fee_mint(index_out)?)
        };
        let fees = self.fees(config, request.side);
        let epoch = request.epoch;
        let net_reserves = |this: &Self| -> Result<(u64, u64), QuoteError> {
            let (r0, r1) = *this.net_reserves.as_ref().map_err(Clone::clone)?;
            Ok(match request.side {
                Side::AToB => (r0, r1),
                Side::BToA => (r1, r0),
            })
        };
        match request.mode {
            SwapMode::ExactIn => {
                // swap_base_input.rs L85-89: the input mint's fee first; `require_gt!` on
                // what is left.
                let transfer_fee_in = mint_in.map_or(0, |m| m.fee_on(amount, epoch));
                let actual_in = amount.saturating_sub(transfer_fee_in);
                if actual_in == 0 {
                    let check = if amount == 0 {
                        Check::ZeroAmount
                    } else {
                        Check::ZeroAfterTransferFee { amount }
                    };
                    return Err(rejected(ProgramError::CpRequireGtViolated, check));
                }
                let (reserve_in, reserve_out) = net_reserves(self)?;
                let result =
                    swap_curve(actual_in, SwapMode::ExactIn, reserve_in, reserve_out, fees)?;
                // swap_base_input.rs L141-148: the output mint's fee off what the pool sends;
                // `require_gt!(amount_received, 0)`.
                let transfer_fee_out = mint_out.map_or(0, |m| m.fee_on(result.output, epoch));
                let received = result.output - transfer_fee_out;
                if received == 0 {
                    return Err(rejected(
                        ProgramError::CpRequireGtViolated,
                        Check::ZeroOutput,
                    ));
                }
                self.check_after_swap(request.side, &result, config)?;
                Ok(Quote {
                    amount_in: amount,
                    amount_out: received,
                    fee_amount: result.fee_amount(),
                    transfer_fee_in,
                    transfer_fee_out,
                })
            }
            SwapMode::ExactOut => {
                // swap_base_output.rs L23-27: the output grossed up by its mint's inverse fee
                // (`checked_add(..).unwrap()`).
                let transfer_fee_out = inverse_transfer_fee(mint_out, amount, epoch)?;
                let pool_out = amount.checked_add(transfer_fee_out).ok_or_else(|| {
                    panic(Check::Overflow {
                        stage: "output with its transfer fee",
                    })
                })?;
                let (reserve_in, reserve_out) = net_reserves(self)?;
                let result =
                    swap_curve(pool_out, SwapMode::ExactOut, reserve_in, reserve_out, fees)?;
                // swap_base_output.rs L79-85: `require_gt!(input_amount, 0)`, then the input
                // mint's inverse fee on top (`checked_add(..).unwrap()`).
                if result.input == 0 {
                    return Err(rejected(
                        ProgramError::CpRequireGtViolated,
                        Check::ZeroInput,
                    ));
                }
                let transfer_fee_in = inverse_transfer_fee(mint_in, result.input, epoch)?;
                let amount_in = result.input.checked_add(transfer_fee_in).ok_or_else(|| {
                    panic(Check::Overflow {
                        stage: "input with its transfer fee",
                    })
                })?;
                self.check_after_swap(request.side, &result, config)?;
                Ok(Quote {
                    amount_in,
                    amount_out: amount,
                    fee_amount: result.fee_amount(),
                    transfer_fee_in,
                    transfer_fee_out,
                })
            }
        }
    }
}
