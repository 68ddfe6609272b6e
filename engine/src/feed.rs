//! What a feed hands the hot path: the [`Universe`] a bot starts from (tokens and the account
//! snapshot) and the [`FeedEvent`]s that follow, whatever the source (the simulator, a
//! recording, a Solana node).

use crate::market::{AccountUpdate, Market};
use crate::pubkey::Pubkey;
use crate::quote::{Amm, DexKind};
use crate::record::market_from_snapshot_where;
use crate::sim::{Simulator, Token};
use crate::strategy::MintInfo;

/// The tokens a bot may name and the accounts its market starts from.
#[derive(Debug, Clone)]
pub struct Universe {
    tokens: Vec<Token>,
    snapshot: Vec<AccountUpdate>,
}

impl Universe {
    /// `tokens` (symbols, mints, decimals, reference prices) over `snapshot`.
    pub fn new(tokens: Vec<Token>, snapshot: Vec<AccountUpdate>) -> Self {
        Self { tokens, snapshot }
    }

    /// The simulator's tokens and a snapshot of every account it holds.
    pub fn from_sim(sim: &mut Simulator) -> Self {
        Self::new(sim.tokens().to_vec(), sim.snapshot())
    }

    /// The tokens.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// A token by symbol.
    pub fn token(&self, symbol: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.symbol == symbol)
    }

    /// The snapshot's accounts.
    pub fn snapshot(&self) -> &[AccountUpdate] {
        &self.snapshot
    }

    /// A market of every pool between two known tokens.
    pub fn market(&self) -> Market {
        self.market_where(|_, _, _| true)
    }

    /// A market of the snapshot's pools between two known tokens that `keep` accepts (by kind
    /// and the pool's two tokens, in the pool's order), with the snapshot applied.
    pub fn market_where(&self, keep: impl Fn(DexKind, &Token, &Token) -> bool) -> Market {
        let token = |mint: Pubkey| self.tokens.iter().find(|t| t.mint == mint);
        market_from_snapshot_where(&self.snapshot, |pool| {
            let [a, b] = pool.mints();
            matches!((token(a), token(b)), (Some(a), Some(b)) if keep(pool.dex(), a, b))
        })
    }

    /// Mint decimals and reference prices for the strategy's USD accounting.
    pub fn mint_infos(&self) -> Vec<MintInfo> {
        crate::sim::mint_infos(&self.tokens)
    }
}

/// What a source hands the runner.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedEvent {
    /// An account's new state.
    Account(AccountUpdate),
    /// The cluster reached this slot with every subscription up: every pool's state is
    /// current as of it.
    Slot(u64),
    /// A fresh snapshot after a reconnect: applied whole before anything is decided on it.
    Resync(Vec<AccountUpdate>),
    /// The stream broke (the reason); nothing comes until the next `Resync`.
    Down(String),
}
