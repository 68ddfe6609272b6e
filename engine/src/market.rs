//! Pools and mints under dense integer indices, and the routing of account updates to pools.

use std::collections::HashMap;

use crate::error::{DecodeError, QuoteError};
use crate::pubkey::{Pubkey, programs};
use crate::quote::{AccountData, Amm, DexKind, Quote, QuoteRequest, Updated};
use crate::raydium_cp::RaydiumCpPool;
use crate::raydium_v4::RaydiumV4Pool;
use crate::whirlpool::WhirlpoolPool;

/// Dense index of a pool in a [`Market`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolIndex(pub u32);

/// Dense index of a mint in a [`Market`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MintIndex(pub u32);

/// Any supported pool, dispatched statically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pool {
    /// Raydium AMM v4.
    RaydiumV4(RaydiumV4Pool),
    /// Raydium CP-Swap.
    RaydiumCp(RaydiumCpPool),
    /// Orca Whirlpool.
    Whirlpool(WhirlpoolPool),
}

impl Pool {
    /// Builds the pool whose main account this is, recognised by owner program.
    pub fn from_account(account: AccountData<'_>) -> Result<Self, DecodeError> {
        let owner = *account.owner;
        if owner == programs::RAYDIUM_AMM_V4 {
            RaydiumV4Pool::from_account(account).map(Self::RaydiumV4)
        } else if owner == programs::RAYDIUM_CP_SWAP {
            RaydiumCpPool::from_account(account).map(Self::RaydiumCp)
        } else {
            WhirlpoolPool::from_account(account).map(Self::Whirlpool)
        }
    }

    fn inner(&self) -> &dyn Amm {
        match self {
            Self::RaydiumV4(p) => p,
            Self::RaydiumCp(p) => p,
            Self::Whirlpool(p) => p,
        }
    }
}

impl Amm for Pool {
    fn dex(&self) -> DexKind {
        self.inner().dex()
    }

    fn key(&self) -> Pubkey {
        self.inner().key()
    }

    fn mints(&self) -> [Pubkey; 2] {
        self.inner().mints()
    }

    fn accounts(&self) -> Vec<Pubkey> {
        self.inner().accounts()
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        match self {
            Self::RaydiumV4(p) => p.update(account),
            Self::RaydiumCp(p) => p.update(account),
            Self::Whirlpool(p) => p.update(account),
        }
    }

    #[inline]
    fn quote(&self, request: &QuoteRequest) -> Result<Quote, QuoteError> {
        match self {
            Self::RaydiumV4(p) => p.quote(request),
            Self::RaydiumCp(p) => p.quote(request),
            Self::Whirlpool(p) => p.quote(request),
        }
    }
}

/// Every pool the engine tracks, with mints interned to dense indices and an index from
/// account address to the pools that read it.
#[derive(Debug, Default)]
pub struct Market {
    pools: Vec<Pool>,
    pool_mints: Vec<[MintIndex; 2]>,
    mints: Vec<Pubkey>,
    mint_index: HashMap<Pubkey, MintIndex>,
    readers: HashMap<Pubkey, Vec<PoolIndex>>,
}

impl Market {
    /// An empty market.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pool; its mints are interned and its accounts routed to it.
    pub fn add_pool(&mut self, pool: Pool) -> PoolIndex {
        let index = PoolIndex(self.pools.len() as u32);
        let [a, b] = pool.mints();
        let mints = [self.intern_mint(a), self.intern_mint(b)];
        self.pool_mints.push(mints);
        for key in pool.accounts() {
            self.route(key, index);
        }
        self.pools.push(pool);
        index
    }

    fn route(&mut self, key: Pubkey, index: PoolIndex) {
        let readers = self.readers.entry(key).or_default();
        if !readers.contains(&index) {
            readers.push(index);
        }
    }

    /// The dense index of `mint`, assigning the next one on first sight.
    pub fn intern_mint(&mut self, mint: Pubkey) -> MintIndex {
        let next = MintIndex(self.mints.len() as u32);
        *self.mint_index.entry(mint).or_insert_with(|| {
            self.mints.push(mint);
            next
        })
    }

    /// The index of a mint already seen.
    pub fn mint_index(&self, mint: &Pubkey) -> Option<MintIndex> {
        self.mint_index.get(mint).copied()
    }

    /// Mint address of an index.
    pub fn mint(&self, index: MintIndex) -> Option<&Pubkey> {
        self.mints.get(index.0 as usize)
    }

    /// The pool at `index`.
    pub fn pool(&self, index: PoolIndex) -> Option<&Pool> {
        self.pools.get(index.0 as usize)
    }

    /// Token A and token B mints of a pool as dense indices.
    pub fn pool_mints(&self, index: PoolIndex) -> Option<[MintIndex; 2]> {
        self.pool_mints.get(index.0 as usize).copied()
    }

    /// Number of pools.
    pub fn pool_count(&self) -> usize {
        self.pools.len()
    }

    /// Number of mints.
    pub fn mint_count(&self) -> usize {
        self.mints.len()
    }

    /// Pools that read `key`.
    pub fn readers(&self, key: &Pubkey) -> &[PoolIndex] {
        self.readers.get(key).map_or(&[], Vec::as_slice)
    }

    /// Applies an account update to every pool that reads it (or, for a tick array not yet
    /// routed, to the pool it names); returns the pools whose state changed.
    pub fn apply(
        &mut self,
        account: AccountData<'_>,
        changed: &mut Vec<PoolIndex>,
    ) -> Result<(), DecodeError> {
        changed.clear();
        let readers: Vec<PoolIndex> = match self.readers.get(account.pubkey) {
            Some(r) => r.clone(),
            None if *account.owner == programs::ORCA_WHIRLPOOL => (0..self.pools.len() as u32)
                .map(PoolIndex)
                .filter(|i| matches!(self.pools[i.0 as usize], Pool::Whirlpool(_)))
                .collect(),
            None => return Ok(()),
        };
        for index in readers {
            let pool = &mut self.pools[index.0 as usize];
            match pool.update(account)? {
                Updated::Ignored => {}
                Updated::State => changed.push(index),
                Updated::Accounts => {
                    changed.push(index);
                    for key in pool.accounts() {
                        self.route(key, index);
                    }
                }
            }
        }
        Ok(())
    }
}
