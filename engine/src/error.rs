//! Typed errors for account decoding and quoting; each names the account and field involved.

use std::fmt;

use crate::pubkey::Pubkey;

/// The kinds of on-chain account the engine decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// Raydium AMM v4 `AmmInfo`.
    RaydiumAmmInfo,
    /// Raydium CP-Swap `PoolState`.
    RaydiumCpPoolState,
    /// Raydium CP-Swap `AmmConfig`.
    RaydiumCpAmmConfig,
    /// Orca `Whirlpool`.
    Whirlpool,
    /// Orca `TickArray` (fixed layout).
    WhirlpoolTickArray,
    /// Orca `DynamicTickArray`.
    WhirlpoolDynamicTickArray,
    /// SPL Token or Token-2022 token account (a pool vault).
    TokenAccount,
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RaydiumAmmInfo => "raydium-v4 AmmInfo",
            Self::RaydiumCpPoolState => "raydium-cp PoolState",
            Self::RaydiumCpAmmConfig => "raydium-cp AmmConfig",
            Self::Whirlpool => "whirlpool Whirlpool",
            Self::WhirlpoolTickArray => "whirlpool TickArray",
            Self::WhirlpoolDynamicTickArray => "whirlpool DynamicTickArray",
            Self::TokenAccount => "token account",
        })
    }
}

/// Why an account's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The account is owned by another program than its layout belongs to.
    #[error("{kind} {pubkey}: owner is {found}, expected {expected}")]
    WrongOwner {
        /// Account kind being decoded.
        kind: AccountKind,
        /// Account address.
        pubkey: Pubkey,
        /// Owner program the layout belongs to.
        expected: Pubkey,
        /// Owner found.
        found: Pubkey,
    },
    /// The data length does not fit the layout.
    #[error("{kind} {pubkey}: data is {found} bytes, expected {expected}")]
    WrongLength {
        /// Account kind being decoded.
        kind: AccountKind,
        /// Account address.
        pubkey: Pubkey,
        /// The lengths the layout allows, in words.
        expected: &'static str,
        /// Length found.
        found: usize,
    },
    /// The Anchor discriminator is not the layout's.
    #[error("{kind} {pubkey}: discriminator {found:?}, expected {expected:?}")]
    WrongDiscriminator {
        /// Account kind being decoded.
        kind: AccountKind,
        /// Account address.
        pubkey: Pubkey,
        /// Discriminator of the layout.
        expected: [u8; 8],
        /// Discriminator found.
        found: [u8; 8],
    },
    /// A field holds a value the program could never have written.
    #[error("{kind} {pubkey}: field `{field}` = {value} {problem}")]
    InvalidField {
        /// Account kind being decoded.
        kind: AccountKind,
        /// Account address.
        pubkey: Pubkey,
        /// Field name as in the program's source.
        field: &'static str,
        /// The value found.
        value: i128,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A field points at another account than the one this account is paired with.
    #[error("{kind} {pubkey}: field `{field}` is {found}, expected {expected}")]
    Mismatch {
        /// Account kind being decoded.
        kind: AccountKind,
        /// Account address.
        pubkey: Pubkey,
        /// Field name.
        field: &'static str,
        /// The address the pool expects.
        expected: Pubkey,
        /// The address found.
        found: Pubkey,
    },
}

/// Why a pool cannot quote a swap; each case is one the on-chain program would reject too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// A quote of zero tokens.
    #[error("amount is zero")]
    ZeroAmount,
    /// The pool has not received an account it needs.
    #[error("pool {pool} has no {missing} yet")]
    MissingAccount {
        /// Pool address.
        pool: Pubkey,
        /// Which account is missing.
        missing: &'static str,
    },
    /// The pool's status forbids swaps.
    #[error("pool {pool}: swaps are disabled (status {status})")]
    SwapDisabled {
        /// Pool address.
        pool: Pubkey,
        /// Status value read from the pool.
        status: u64,
    },
    /// The pool opens for trading later than the given clock.
    #[error("pool {pool}: opens at unix time {open_time}, clock is {now}")]
    NotOpenYet {
        /// Pool address.
        pool: Pubkey,
        /// Open time read from the pool.
        open_time: u64,
        /// Clock used for the quote.
        now: i64,
    },
    /// Fees owed exceed a vault's balance: the state is inconsistent.
    #[error("pool {pool}: {side} vault holds {vault} but {owed} is owed out of it")]
    OwedExceedsVault {
        /// Pool address.
        pool: Pubkey,
        /// Which vault.
        side: &'static str,
        /// Vault balance.
        vault: u64,
        /// Owed amount (pnl or fees).
        owed: u64,
    },
    /// The output asked for is not less than the reserve (or the pool is empty).
    #[error("not enough liquidity: {requested} requested, {available} available")]
    InsufficientLiquidity {
        /// Amount requested.
        requested: u64,
        /// Amount the pool can give.
        available: u64,
    },
    /// An intermediate or result does not fit the program's integer type.
    #[error("amount overflow in {stage}")]
    Overflow {
        /// The computation that overflowed.
        stage: &'static str,
    },
    /// A CLMM swap needs tick arrays beyond the ones supplied, or beyond the three one swap
    /// instruction takes.
    #[error(
        "swap runs past {} (next array starts at tick {next_start_tick})",
        if *instruction_limit { "the 3 tick arrays one swap instruction takes" } else { "the supplied tick arrays" }
    )]
    TickArraysExhausted {
        /// Start tick index of the array the swap would need next.
        next_start_tick: i32,
        /// Whether the window was full (the array may exist but one swap cannot use it).
        instruction_limit: bool,
    },
    /// An exact-out swap cannot be filled completely before the price bound.
    #[error("exact-out swap fills only {filled} of {requested}")]
    PartialFill {
        /// Output requested.
        requested: u64,
        /// Output reachable.
        filled: u64,
    },
    /// The pool's price already sits at the bound in the swap's direction.
    #[error("price already at its bound in this direction")]
    PriceAtBound,
    /// The sqrt-price limit is out of bounds or on the wrong side of the price.
    #[error("invalid sqrt price limit {limit}")]
    InvalidSqrtPriceLimit {
        /// Limit given.
        limit: u128,
    },
    /// A pool feature the engine does not model yet; refusing beats a wrong number.
    #[error("unsupported pool: {0}")]
    Unsupported(&'static str),
}
