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
    /// SPL Token or Token-2022 mint.
    Mint,
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
            Self::Mint => "mint",
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
    /// The on-chain program fails the instruction: its own error and the check that raises it.
    #[error("{} fails the swap with {}: {check}", error.program(), error.name())]
    Rejected {
        /// The program's error.
        error: ProgramError,
        /// What the program found.
        check: Check,
    },
    /// A mint's Token-2022 extension changes transfers in a way the engine does not model.
    #[error("mint {mint}: {reason}; the pool is not quoted")]
    UnsupportedMint {
        /// Mint address.
        mint: Pubkey,
        /// The extension.
        reason: &'static str,
    },
}

impl QuoteError {
    /// The program's own error, when the quote fails where the instruction would.
    pub fn program_error(&self) -> Option<ProgramError> {
        match self {
            Self::Rejected { error, .. } => Some(*error),
            _ => None,
        }
    }
}

/// An error by which an on-chain program fails a swap instruction, named as in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgramError {
    /// Raydium AMM v4 `AmmError::InvalidStatus`: the status forbids swaps (or not open yet).
    AmmInvalidStatus,
    /// Raydium AMM v4 `AmmError::InvalidInput`: input or output is 0.
    AmmInvalidInput,
    /// Raydium AMM v4 `AmmError::InsufficientFunds`: the output reaches the reserve.
    AmmInsufficientFunds,
    /// Raydium AMM v4 `AmmError::CheckedSubOverflow`: a vault holds less than its pnl owed.
    AmmCheckedSubOverflow,
    /// Raydium AMM v4 panics in its arithmetic (`unwrap` of a checked operation).
    AmmPanic,
    /// Raydium AMM v4 `AmmError::InvalidSplTokenProgram`: a Token-2022 vault or mint.
    AmmInvalidSplTokenProgram,
    /// CP-Swap `ErrorCode::NotApproved`: swaps disabled by the status bit, or not open yet.
    CpNotApproved,
    /// Anchor `RequireGtViolated` from a CP-Swap `require_gt!` (an amount of 0).
    CpRequireGtViolated,
    /// CP-Swap `ErrorCode::ZeroTradingTokens`: the curve calculator returned `None`.
    CpZeroTradingTokens,
    /// CP-Swap `ErrorCode::InsufficientVault`: a vault holds less than the fees owed on it.
    CpInsufficientVault,
    /// CP-Swap `ErrorCode::MathOverflow`: the fees owed on one side overflow u64.
    CpMathOverflow,
    /// CP-Swap `ErrorCode::TransferFeeCalculateNotMatch`: the inverse transfer fee does not
    /// verify forward.
    CpTransferFeeCalculateNotMatch,
    /// CP-Swap panics in its arithmetic (`unwrap`, a division by zero).
    CpPanic,
    /// Whirlpool `ErrorCode::ZeroTradableAmount`: nothing reaches the pool.
    WhirlpoolZeroTradableAmount,
    /// Whirlpool `ErrorCode::TransferFeeCalculationError`.
    WhirlpoolTransferFeeCalculationError,
    /// The token program's `TokenError::AccountFrozen`: a vault the swap moves tokens through
    /// is frozen.
    TokenAccountFrozen,
}

impl ProgramError {
    /// The program's name for the error.
    pub fn name(self) -> &'static str {
        match self {
            Self::AmmInvalidStatus => "AmmError::InvalidStatus",
            Self::AmmInvalidInput => "AmmError::InvalidInput",
            Self::AmmInsufficientFunds => "AmmError::InsufficientFunds",
            Self::AmmCheckedSubOverflow => "AmmError::CheckedSubOverflow",
            Self::AmmPanic => "a panic",
            Self::AmmInvalidSplTokenProgram => "AmmError::InvalidSplTokenProgram",
            Self::CpNotApproved => "ErrorCode::NotApproved",
            Self::CpRequireGtViolated => "RequireGtViolated",
            Self::CpZeroTradingTokens => "ErrorCode::ZeroTradingTokens",
            Self::CpInsufficientVault => "ErrorCode::InsufficientVault",
            Self::CpMathOverflow => "ErrorCode::MathOverflow",
            Self::CpTransferFeeCalculateNotMatch => "ErrorCode::TransferFeeCalculateNotMatch",
            Self::CpPanic => "a panic",
            Self::WhirlpoolZeroTradableAmount => "ErrorCode::ZeroTradableAmount",
            Self::WhirlpoolTransferFeeCalculationError => "ErrorCode::TransferFeeCalculationError",
            Self::TokenAccountFrozen => "TokenError::AccountFrozen",
        }
    }

    /// The program that raises it.
    pub fn program(self) -> &'static str {
        match self {
            Self::AmmInvalidStatus
            | Self::AmmInvalidInput
            | Self::AmmInsufficientFunds
            | Self::AmmCheckedSubOverflow
            | Self::AmmPanic
            | Self::AmmInvalidSplTokenProgram => "raydium-v4",
            Self::CpNotApproved
            | Self::CpRequireGtViolated
            | Self::CpZeroTradingTokens
            | Self::CpInsufficientVault
            | Self::CpMathOverflow
            | Self::CpTransferFeeCalculateNotMatch
            | Self::CpPanic => "raydium-cp",
            Self::WhirlpoolZeroTradableAmount | Self::WhirlpoolTransferFeeCalculationError => {
                "whirlpool"
            }
            Self::TokenAccountFrozen => "the token program",
        }
    }
}

/// What the program found when it failed a swap (the numbers it compared).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The pool's status forbids swaps.
    Status {
        /// Status value.
        status: u64,
    },
    /// The pool opens later than the clock.
    NotOpenYet {
        /// Open time.
        open_time: u64,
        /// Cluster unix time of the quote.
        now: i64,
    },
    /// The amount given is 0.
    ZeroAmount,
    /// Nothing is left to reach the pool after the input mint's transfer fee.
    ZeroAfterTransferFee {
        /// Amount given.
        amount: u64,
    },
    /// The output rounds to 0 (after the output mint's transfer fee, where it has one).
    ZeroOutput,
    /// The input for a positive output rounds to 0.
    ZeroInput,
    /// The output reaches or exceeds the output reserve.
    OutputReachesReserve {
        /// Output the pool would pay.
        amount_out: u64,
        /// Output reserve.
        reserve: u64,
    },
    /// A reserve the curve divides by is 0.
    EmptyReserve {
        /// Which side.
        side: &'static str,
    },
    /// A vault holds less than what is owed out of it.
    OwedExceedsVault {
        /// Which vault.
        side: &'static str,
        /// Vault balance.
        vault: u64,
        /// Amount owed (pnl or fees).
        owed: u64,
    },
    /// A checked operation overflows.
    Overflow {
        /// Which computation.
        stage: &'static str,
    },
    /// The creator fee sits on the input and trade + creator fee rates are 0 (the creator fee
    /// split divides by zero).
    ZeroFeeSplit,
    /// A mint's transfer fee cannot be inverted for this amount.
    TransferFee {
        /// Mint address.
        mint: Pubkey,
        /// Net amount wanted.
        amount: u64,
    },
    /// A vault or mint belongs to Token-2022, which the program does not use.
    Token2022 {
        /// The account.
        account: Pubkey,
    },
    /// A vault is frozen.
    Frozen {
        /// The vault.
        account: Pubkey,
    },
    /// A fee rate of 100% leaves nothing to swap (or divides by zero grossing up).
    FullFeeRate {
        /// The rate, parts per million.
        rate: u64,
    },
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status { status } => write!(f, "status {status} does not allow swaps"),
            Self::NotOpenYet { open_time, now } => {
                write!(f, "the pool opens at unix time {open_time}, clock is {now}")
            }
            Self::ZeroAmount => f.write_str("the amount is 0"),
            Self::ZeroAfterTransferFee { amount } => write!(
                f,
                "nothing of {amount} reaches the pool after the input mint's transfer fee"
            ),
            Self::ZeroOutput => f.write_str("the output rounds to 0"),
            Self::ZeroInput => f.write_str("the input for this output rounds to 0"),
            Self::OutputReachesReserve {
                amount_out,
                reserve,
            } => write!(
                f,
                "the output {amount_out} reaches the output reserve {reserve}"
            ),
            Self::EmptyReserve { side } => write!(f, "the {side} reserve is 0"),
            Self::OwedExceedsVault { side, vault, owed } => write!(
                f,
                "the {side} vault holds {vault} but {owed} is owed out of it"
            ),
            Self::Overflow { stage } => write!(f, "overflow in {stage}"),
            Self::ZeroFeeSplit => f.write_str(
                "trade and creator fee rates are both 0 with the creator fee on the input",
            ),
            Self::TransferFee { mint, amount } => write!(
                f,
                "the transfer fee of mint {mint} for a net {amount} cannot be computed"
            ),
            Self::Token2022 { account } => {
                write!(f, "{account} belongs to Token-2022")
            }
            Self::Frozen { account } => write!(f, "vault {account} is frozen"),
            Self::FullFeeRate { rate } => {
                write!(f, "a fee rate of {rate} ppm (100%) leaves nothing to swap")
            }
        }
    }
}
