//! The quoting contract shared by every pool kind: request, result and the `Amm` trait.

use crate::error::{DecodeError, QuoteError};
use crate::pubkey::Pubkey;

/// Which way a swap goes through a pool's two tokens.
///
/// A is Raydium v4's coin, CP-Swap's token_0 and Whirlpool's token A; B is the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Token A in, token B out.
    AToB,
    /// Token B in, token A out.
    BToA,
}

impl Side {
    /// The other direction.
    pub fn reverse(self) -> Self {
        match self {
            Self::AToB => Self::BToA,
            Self::BToA => Self::AToB,
        }
    }
}

/// Whether the amount given is the input or the wanted output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwapMode {
    /// `amount` is what goes in.
    ExactIn,
    /// `amount` is what must come out.
    ExactOut,
}

/// One quote request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteRequest {
    /// Input amount (exact in) or wanted output (exact out), in base units.
    pub amount: u64,
    /// Direction.
    pub side: Side,
    /// Exact in or exact out.
    pub mode: SwapMode,
    /// Cluster unix time the quote is for (pools that open later refuse).
    pub unix_timestamp: i64,
    /// Epoch the quote is for: it chooses a Token-2022 mint's transfer fee set (the newer set
    /// from its epoch on; `u64::MAX` always takes the newer set).
    pub epoch: u64,
}

/// The integers a swap moves, as the program computes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quote {
    /// Tokens that leave the trader's account (gross of the input mint's transfer fee).
    pub amount_in: u64,
    /// Tokens that arrive in the trader's account (net of the output mint's transfer fee).
    pub amount_out: u64,
    /// The pool's own fee: the part of the input that reaches the pool but not its curve
    /// (see notes/dex-math.md); transfer fees are apart.
    pub fee_amount: u64,
    /// Token-2022 transfer fee the input mint withholds from `amount_in`.
    pub transfer_fee_in: u64,
    /// Token-2022 transfer fee the output mint withholds from what the pool pays out.
    pub transfer_fee_out: u64,
}

/// Raw bytes of one account as the chain reports it.
#[derive(Debug, Clone, Copy)]
pub struct AccountData<'a> {
    /// Address.
    pub pubkey: &'a Pubkey,
    /// Owner program.
    pub owner: &'a Pubkey,
    /// Account data.
    pub data: &'a [u8],
}

/// What an account update did to a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// The account is not one of this pool's.
    Ignored,
    /// The account is the pool's, but nothing a quote reads changed (the same mint settings).
    Unchanged,
    /// The pool's state changed; it reads the same accounts.
    State,
    /// The pool's state changed and so did the set of accounts it reads (see [`Amm::accounts`]).
    Accounts,
}

impl Updated {
    /// Whether the account was one of the pool's.
    pub fn applied(self) -> bool {
        self != Self::Ignored
    }
}

/// The pool kinds the engine quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DexKind {
    /// Raydium AMM v4.
    RaydiumV4,
    /// Raydium CP-Swap.
    RaydiumCp,
    /// Orca Whirlpool.
    Whirlpool,
}

impl DexKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RaydiumV4 => "raydium-v4",
            Self::RaydiumCp => "raydium-cp",
            Self::Whirlpool => "whirlpool",
        }
    }
}

/// The quoting contract (after Jupiter's `Amm` interface): a pool lists the accounts it needs,
/// `update` decodes each once per change, and `quote` is pure, allocation-free and exact.
pub trait Amm {
    /// Pool kind.
    fn dex(&self) -> DexKind;
    /// Pool address.
    fn key(&self) -> Pubkey;
    /// Mints of token A and token B.
    fn mints(&self) -> [Pubkey; 2];
    /// Every account whose bytes the quote depends on, the pool itself first.
    fn accounts(&self) -> Vec<Pubkey>;
    /// Calls `f` with every account of [`Amm::accounts`] (a key may come twice), without
    /// allocating where the pool can: the hot path re-routes a pool whose accounts changed.
    fn visit_accounts(&self, f: &mut dyn FnMut(Pubkey)) {
        for key in self.accounts() {
            f(key);
        }
    }
    /// Whether the pool's own account names `key` (its vaults, mints, config and the like),
    /// whether or not a quote reads it.
    fn references(&self, key: &Pubkey) -> bool;
    /// Applies one account's new bytes.
    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError>;
    /// Quotes a swap against the current state.
    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError>;
    /// The pool as a constant-product curve at its current price (virtual reserves of the
    /// current range for concentrated liquidity), for sizing, with the Token-2022 transfer fees
    /// of `epoch`; `None` when it cannot trade.
    fn curve(&self, side: Side, epoch: u64) -> Option<crate::curve::Curve>;
}
