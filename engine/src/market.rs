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

    /// The pool whose main account `u` is, when it is one: owned by one of the three programs
    /// and decoding as that program's pool.
    pub fn from_update(u: &AccountUpdate) -> Option<Self> {
        let known = [
            programs::RAYDIUM_AMM_V4,
            programs::RAYDIUM_CP_SWAP,
            programs::ORCA_WHIRLPOOL,
        ];
        if !known.contains(&u.owner) {
            return None;
        }
        Self::from_account(AccountData {
            pubkey: &u.pubkey,
            owner: &u.owner,
            data: &u.data,
        })
        .ok()
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

    fn visit_accounts(&self, f: &mut dyn FnMut(Pubkey)) {
        self.inner().visit_accounts(f);
    }

    fn references(&self, key: &Pubkey) -> bool {
        self.inner().references(key)
    }

    fn update(&mut self, account: AccountData<'_>) -> Result<Updated, DecodeError> {
        match self {
            Self::RaydiumV4(p) => p.update(account),
            Self::RaydiumCp(p) => p.update(account),
            Self::Whirlpool(p) => p.update(account),
        }
    }

    fn curve(&self, side: crate::quote::Side, epoch: u64) -> Option<crate::curve::Curve> {
        self.inner().curve(side, epoch)
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

/// One account change as a feed delivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// Account address.
    pub pubkey: Pubkey,
    /// Owner program.
    pub owner: Pubkey,
    /// Slot the state is from.
    pub slot: u64,
    /// Write version within the slot (orders writes of one slot).
    pub write_version: u64,
    /// Account data.
    pub data: Vec<u8>,
    /// When the update entered the process (ns on the engine's clock); the origin of every
    /// latency stage.
    pub received_at: u64,
}

/// Every pool the engine tracks, with mints interned to dense indices and an index from
/// account address to the pools that read it.
#[derive(Debug, Default)]
pub struct Market {
    pools: Vec<Pool>,
    pool_mints: Vec<[MintIndex; 2]>,
    pool_slot: Vec<u64>,
    mints: Vec<Pubkey>,
    mint_index: HashMap<Pubkey, MintIndex>,
    readers: HashMap<Pubkey, Vec<PoolIndex>>,
    versions: HashMap<Pubkey, (u64, u64)>,
    stale_updates: u64,
    newest_slot: u64,
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
        self.pool_slot.push(0);
        for key in pool.accounts() {
            self.route(key, index);
        }
        self.pools.push(pool);
        index
    }

    fn route(&mut self, key: Pubkey, index: PoolIndex) {
        route_into(&mut self.readers, key, index);
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

    /// Applies a feed update unless it is older than (or as old as) one already applied to the
    /// same account — by (slot, write_version) — in which case it is counted and ignored
    /// (`Ok(false)`). A malformed update is an error: a pool that refuses it is left as it was
    /// (others reading the same account still apply it), and its version is not recorded.
    pub fn apply_update(
        &mut self,
        update: &AccountUpdate,
        changed: &mut Vec<PoolIndex>,
    ) -> Result<bool, DecodeError> {
        let version = (update.slot, update.write_version);
        if self
            .versions
            .get(&update.pubkey)
            .is_some_and(|seen| version <= *seen)
        {
            // A stale account state still shows how far the cluster has got.
            self.newest_slot = self.newest_slot.max(update.slot);
            self.stale_updates += 1;
            changed.clear();
            return Ok(false);
        }
        self.apply(
            AccountData {
                pubkey: &update.pubkey,
                owner: &update.owner,
                data: &update.data,
            },
            changed,
        )?;
        self.versions.insert(update.pubkey, version);
        self.newest_slot = self.newest_slot.max(update.slot);
        for index in changed.iter() {
            let slot = &mut self.pool_slot[index.0 as usize];
            *slot = (*slot).max(update.slot);
        }
        Ok(true)
    }

    /// Records that the cluster reached `slot` (slot events; updates record their own).
    pub fn observe_slot(&mut self, slot: u64) {
        self.newest_slot = self.newest_slot.max(slot);
    }

    /// The newest slot seen: in an applied or stale update, a slot event or a confirmation.
    pub fn slot(&self) -> u64 {
        self.newest_slot
    }

    /// The epoch of the newest slot seen: the one whose Token-2022 transfer fees apply.
    pub fn epoch(&self) -> u64 {
        crate::mint::epoch_of_slot(self.newest_slot)
    }

    /// Exact output of a route of exact-in swaps for `amount` in: 0 once a hop rounds to
    /// nothing, `None` when a hop rejects the swap or fills only partly (at a price bound).
    pub fn route_output(
        &self,
        hops: &[crate::cycles::Hop],
        amount: u64,
        unix_timestamp: i64,
    ) -> Option<u64> {
        let mut x = amount;
        for hop in hops {
            if x == 0 {
                return Some(0);
            }
            let request = QuoteRequest {
                amount: x,
                side: hop.side,
                mode: crate::quote::SwapMode::ExactIn,
                unix_timestamp,
                epoch: self.epoch(),
            };
            let quote = self.pool(hop.pool)?.quote(&request).ok()?;
            if quote.amount_in < x {
                return None;
            }
            x = quote.amount_out;
        }
        Some(x)
    }

    /// The least input whose route output is at least `out`: each hop's exact-out input for the
    /// next hop's need, from the last hop back. `None` when a hop cannot produce it.
    pub fn route_min_input(
        &self,
        hops: &[crate::cycles::Hop],
        out: u64,
        unix_timestamp: i64,
    ) -> Option<u64> {
        let mut need = out;
        for hop in hops.iter().rev() {
            if need == 0 {
                return Some(0);
            }
            let request = QuoteRequest {
                amount: need,
                side: hop.side,
                mode: crate::quote::SwapMode::ExactOut,
                unix_timestamp,
                epoch: self.epoch(),
            };
            let quote = self.pool(hop.pool)?.quote(&request).ok()?;
            if quote.amount_out < need {
                return None;
            }
            need = quote.amount_in;
        }
        Some(need)
    }

    /// Updates ignored as stale or out of order.
    pub fn stale_updates(&self) -> u64 {
        self.stale_updates
    }

    /// Slot of the newest update applied to a pool's accounts (0 before any).
    pub fn pool_slot(&self, index: PoolIndex) -> u64 {
        self.pool_slot.get(index.0 as usize).copied().unwrap_or(0)
    }

    /// Seeds a pool's freshness slot (its accounts were loaded from a snapshot at `slot`).
    pub fn set_pool_slot(&mut self, index: PoolIndex, slot: u64) {
        if let Some(s) = self.pool_slot.get_mut(index.0 as usize) {
            *s = slot;
        }
    }

    /// Marks every pool's state as confirmed current up to `slot` (a live feed whose account
    /// subscriptions are all up vouches that nothing changed unseen); never moves a slot back.
    pub fn confirm_slot(&mut self, slot: u64) {
        self.observe_slot(slot);
        for s in &mut self.pool_slot {
            *s = (*s).max(slot);
        }
    }

    /// Applies an account update to every pool that reads it (or, for a Whirlpool-owned account
    /// not routed yet, such as a tick array under an address the pool did not derive, to every
    /// Whirlpool, which keeps it only if the array names it). `changed` receives the pools whose
    /// state changed. No allocation unless a pool's set of accounts changed.
    pub fn apply(
        &mut self,
        account: AccountData<'_>,
        changed: &mut Vec<PoolIndex>,
    ) -> Result<(), DecodeError> {
        changed.clear();
        let mut accounts_changed = false;
        // Every reader is visited even when one refuses the bytes (a mint is read by many pools
        // that check it differently): the others still apply it, and the first error is
        // returned once the routes of the pools that changed are updated.
        let mut first_error = None;
        let mut visit = |pool: &mut Pool, index: PoolIndex| match pool.update(account) {
            Ok(Updated::Ignored | Updated::Unchanged) => {}
            Ok(Updated::State) => changed.push(index),
            Ok(Updated::Accounts) => {
                changed.push(index);
                accounts_changed = true;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        };
        match self.readers.get(account.pubkey) {
            Some(readers) => {
                for &index in readers {
                    visit(&mut self.pools[index.0 as usize], index);
                }
            }
            // Only tick arrays can belong to a pool unasked: another Whirlpool-owned account no
            // pool reads (a pool this market does not track, a position) is not ours.
            None if *account.owner == programs::ORCA_WHIRLPOOL
                && account.data.get(..8).is_some_and(|d| {
                    d == crate::whirlpool::state::FIXED_TICK_ARRAY_DISCRIMINATOR
                        || d == crate::whirlpool::state::DYNAMIC_TICK_ARRAY_DISCRIMINATOR
                }) =>
            {
                for (i, pool) in self.pools.iter_mut().enumerate() {
                    if matches!(pool, Pool::Whirlpool(_)) {
                        visit(pool, PoolIndex(i as u32));
                    }
                }
            }
            None => {}
        }
        if accounts_changed {
            let readers = &mut self.readers;
            for &index in changed.iter() {
                self.pools[index.0 as usize]
                    .visit_accounts(&mut |key| route_into(readers, key, index));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Adds `index` to the pools that read `key` (allocates only for a key never seen).
fn route_into(readers: &mut HashMap<Pubkey, Vec<PoolIndex>>, key: Pubkey, index: PoolIndex) {
    let readers = readers.entry(key).or_default();
    if !readers.contains(&index) {
        readers.push(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raydium_v4::AmmInfo;
    use crate::token_account::TokenAccount;
    use crate::whirlpool::{TickArray, TickImage, Whirlpool};

    fn v4(tag: u8, coin: Pubkey, pc: Pubkey) -> (Pubkey, AmmInfo) {
        (
            Pubkey([tag; 32]),
            AmmInfo {
                status: 6,
                swap_fee_numerator: 25,
                swap_fee_denominator: 10_000,
                coin_vault: Pubkey([tag + 1; 32]),
                pc_vault: Pubkey([tag + 2; 32]),
                coin_vault_mint: coin,
                pc_vault_mint: pc,
                ..Default::default()
            },
        )
    }

    #[test]
    fn pools_and_mints_get_dense_indices_and_updates_reach_their_readers() {
        let (sol, usdc, bonk) = (Pubkey([200; 32]), Pubkey([201; 32]), Pubkey([202; 32]));
        let mut market = Market::new();
        let (k1, a1) = v4(10, sol, usdc);
        let (k2, a2) = v4(20, bonk, sol);
        let p1 = market.add_pool(
            Pool::from_account(AccountData {
                pubkey: &k1,
                owner: &programs::RAYDIUM_AMM_V4,
                data: &a1.encode(),
            })
            .unwrap(),
        );
        let p2 = market.add_pool(
            Pool::from_account(AccountData {
                pubkey: &k2,
                owner: &programs::RAYDIUM_AMM_V4,
                data: &a2.encode(),
            })
            .unwrap(),
        );
        assert_eq!((p1, p2), (PoolIndex(0), PoolIndex(1)));
        assert_eq!(market.mint_count(), 3);
        assert_eq!(market.pool_mints(p1), Some([MintIndex(0), MintIndex(1)]));
        assert_eq!(market.pool_mints(p2), Some([MintIndex(2), MintIndex(0)]));
        assert_eq!(market.mint(MintIndex(2)), Some(&bonk));

        let vault = TokenAccount {
            mint: usdc,
            owner: Pubkey([9; 32]),
            amount: 5,
            is_token_2022: false,
            is_frozen: false,
        }
        .encode();
        let mut changed = Vec::new();
        market
            .apply(
                AccountData {
                    pubkey: &a1.pc_vault,
                    owner: &programs::SPL_TOKEN,
                    data: &vault,
                },
                &mut changed,
            )
            .unwrap();
        assert_eq!(changed, vec![p1]);
        market
            .apply(
                AccountData {
                    pubkey: &Pubkey([99; 32]),
                    owner: &programs::SPL_TOKEN,
                    data: &vault,
                },
                &mut changed,
            )
            .unwrap();
        assert!(changed.is_empty());
        // A malformed update is an error and leaves the pool as it was.
        let err = market.apply(
            AccountData {
                pubkey: &a1.pc_vault,
                owner: &programs::SPL_TOKEN,
                data: &vault[..10],
            },
            &mut changed,
        );
        assert!(err.is_err());
    }

    #[test]
    fn a_whirlpool_that_moves_to_another_array_is_rerouted_to_its_new_tick_arrays() {
        let key = Pubkey([30; 32]);
        let mut state = Whirlpool {
            tick_spacing: 8,
            fee_tier_index_seed: 8,
            fee_rate: 3000,
            liquidity: 1,
            sqrt_price: crate::whirlpool::math::sqrt_price_from_tick_index(10),
            tick_current_index: 10,
            ..Default::default()
        };
        let mut market = Market::new();
        let p = market.add_pool(
            Pool::from_account(AccountData {
                pubkey: &key,
                owner: &programs::ORCA_WHIRLPOOL,
                data: &state.encode(),
            })
            .unwrap(),
        );
        let far = crate::pda::whirlpool_tick_array(&key, 704 * 5).unwrap();
        assert!(market.readers(&far).is_empty());
        state.tick_current_index = 704 * 3 + 5;
        state.sqrt_price =
            crate::whirlpool::math::sqrt_price_from_tick_index(state.tick_current_index);
        let mut changed = Vec::new();
        market
            .apply(
                AccountData {
                    pubkey: &key,
                    owner: &programs::ORCA_WHIRLPOOL,
                    data: &state.encode(),
                },
                &mut changed,
            )
            .unwrap();
        assert_eq!(changed, vec![p]);
        assert_eq!(market.readers(&far), &[p]);
        let array = TickArray::encode_dynamic(&key, 704 * 5, &[TickImage::default(); 88]);
        market
            .apply(
                AccountData {
                    pubkey: &far,
                    owner: &programs::ORCA_WHIRLPOOL,
                    data: &array,
                },
                &mut changed,
            )
            .unwrap();
        assert_eq!(changed, vec![p]);
    }
}
