//! The cycle index: every cycle of 2 to `max_hops` pools that starts and ends at a base mint,
//! built once per pool set, with the list of cycles each pool takes part in.

use crate::market::{Market, MintIndex, PoolIndex};
use crate::quote::Side;

/// Longest route the index builds.
pub const MAX_HOPS: usize = 4;

/// One swap of a route: a pool and the direction through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    /// Pool traded.
    pub pool: PoolIndex,
    /// Direction through the pool.
    pub side: Side,
}

/// Dense index of a cycle in a [`CycleIndex`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CycleId(pub u32);

/// A closed route from a base mint back to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cycle {
    hops: [Hop; MAX_HOPS],
    len: u8,
    /// The mint the route starts and ends in (profit is counted in it).
    pub start_mint: MintIndex,
}

impl Cycle {
    /// The hops, in order.
    pub fn hops(&self) -> &[Hop] {
        &self.hops[..self.len as usize]
    }
}

/// All cycles through the base mints, and for each pool the cycles that contain it.
#[derive(Debug, Default, Clone)]
pub struct CycleIndex {
    cycles: Vec<Cycle>,
    by_pool: Vec<Vec<CycleId>>,
}

impl CycleIndex {
    /// Enumerates every simple cycle of 2..=`max_hops` distinct pools from each base mint.
    /// Intermediate mints are distinct and differ from the start; both directions of a loop
    /// are kept (they are different trades).
    pub fn build(market: &Market, base_mints: &[MintIndex], max_hops: usize) -> Self {
        let max_hops = max_hops.clamp(2, MAX_HOPS);
        let mut adjacency: Vec<Vec<PoolIndex>> = vec![Vec::new(); market.mint_count()];
        for p in 0..market.pool_count() {
            let index = PoolIndex(p as u32);
            if let Some([a, b]) = market.pool_mints(index)
                && a != b
            {
                adjacency[a.0 as usize].push(index);
                adjacency[b.0 as usize].push(index);
            }
        }
        let mut index = Self {
            cycles: Vec::new(),
            by_pool: vec![Vec::new(); market.pool_count()],
        };
        let mut path: Vec<Hop> = Vec::with_capacity(max_hops);
        let mut visited: Vec<MintIndex> = Vec::with_capacity(max_hops);
        for &base in base_mints {
            if (base.0 as usize) < adjacency.len() {
                index.extend(
                    market,
                    &adjacency,
                    base,
                    base,
                    max_hops,
                    &mut path,
                    &mut visited,
                );
            }
        }
        for (i, cycle) in index.cycles.iter().enumerate() {
            for hop in cycle.hops() {
                let list = &mut index.by_pool[hop.pool.0 as usize];
                if list.last() != Some(&CycleId(i as u32)) {
                    list.push(CycleId(i as u32));
                }
            }
        }
        index
    }

    #[allow(clippy::too_many_arguments)]
    fn extend(
        &mut self,
        market: &Market,
        adjacency: &[Vec<PoolIndex>],
        start: MintIndex,
        at: MintIndex,
        max_hops: usize,
        path: &mut Vec<Hop>,
        visited: &mut Vec<MintIndex>,
    ) {
        for &pool in &adjacency[at.0 as usize] {
            if path.iter().any(|h| h.pool == pool) {
                continue;
            }
            let Some([a, b]) = market.pool_mints(pool) else {
                continue;
            };
            let (side, next) = if a == at {
                (Side::AToB, b)
            } else {
                (Side::BToA, a)
            };
            path.push(Hop { pool, side });
            if next == start {
                if path.len() >= 2 {
                    let mut hops = [path[0]; MAX_HOPS];
                    hops[..path.len()].copy_from_slice(path);
                    self.cycles.push(Cycle {
                        hops,
                        len: path.len() as u8,
                        start_mint: start,
                    });
                }
            } else if path.len() < max_hops && !visited.contains(&next) {
                visited.push(next);
                self.extend(market, adjacency, start, next, max_hops, path, visited);
                visited.pop();
            }
            path.pop();
        }
    }

    /// Number of cycles.
    pub fn len(&self) -> usize {
        self.cycles.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.cycles.is_empty()
    }

    /// A cycle by id.
    pub fn cycle(&self, id: CycleId) -> &Cycle {
        &self.cycles[id.0 as usize]
    }

    /// Every cycle.
    pub fn cycles(&self) -> &[Cycle] {
        &self.cycles
    }

    /// Cycles containing `pool`.
    pub fn containing(&self, pool: PoolIndex) -> &[CycleId] {
        self.by_pool.get(pool.0 as usize).map_or(&[], Vec::as_slice)
    }
}
