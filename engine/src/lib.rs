//! Exact DEX quotes from raw account bytes, market state and the arbitrage hot path.

#![warn(missing_docs)]

pub mod baseline;
pub mod bytes;
pub mod curve;
pub mod cycles;
pub mod error;
pub mod feed;
pub mod ingress;
pub mod market;
pub mod mint;
pub mod pda;
pub mod pubkey;
pub mod quote;
pub mod raydium_cp;
pub mod raydium_v4;
pub mod record;
pub mod ring;
pub mod search;
pub mod sim;
pub mod strategy;
pub mod swap_ix;
pub mod token_account;
pub mod whirlpool;

pub use error::{AccountKind, Check, DecodeError, ProgramError, QuoteError};
pub use market::{AccountUpdate, Market, MintIndex, Pool, PoolIndex};
pub use pubkey::Pubkey;
pub use quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Side, SwapMode, Updated};
