//! The baseline the engine is measured against: what popular open-source bots do. On every
//! update, a depth-first search over all paths of up to `max_hops` pools from each base mint
//! back to it, trying input sizes N, N/2, N/4, … with exact quotes. No index, no closed form.

use crate::cycles::Hop;
use crate::market::{Market, MintIndex, PoolIndex};
use crate::quote::Side;

/// A profitable path the brute-force search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The hops, in order.
    pub hops: Vec<Hop>,
    /// Best input among the sizes tried.
    pub amount_in: u64,
    /// Its profit.
    pub profit: u64,
}

/// The brute-force searcher.
#[derive(Debug, Clone)]
pub struct BruteForce {
    /// Base mints with their largest trade size N.
    pub bases: Vec<(MintIndex, u64)>,
    /// Longest path.
    pub max_hops: usize,
    /// Cluster time for the quotes.
    pub unix_timestamp: i64,
}

impl BruteForce {
    /// Searches the whole market; returns every profitable path.
    pub fn scan(&self, market: &Market) -> Vec<Found> {
        let mut found = Vec::new();
        let mut path = Vec::with_capacity(self.max_hops);
        for &(base, n) in &self.bases {
            self.dfs(market, base, base, n, &mut path, &mut found);
        }
        found
    }

    fn dfs(
        &self,
        market: &Market,
        start: MintIndex,
        at: MintIndex,
        n: u64,
        path: &mut Vec<Hop>,
        found: &mut Vec<Found>,
    ) {
        for p in 0..market.pool_count() {
            let pool = PoolIndex(p as u32);
            if path.iter().any(|h| h.pool == pool) {
                continue;
            }
            let Some([a, b]) = market.pool_mints(pool) else {
                continue;
            };
            let (side, next) = if a == at {
                (Side::AToB, b)
            } else if b == at {
                (Side::BToA, a)
            } else {
                continue;
            };
            // Simple paths only: no intermediate mint twice.
            let revisits = next != start
                && path.iter().any(|h| {
                    market.pool_mints(h.pool).is_some_and(|[x, y]| {
                        (h.side == Side::AToB && x == next) || (h.side == Side::BToA && y == next)
                    })
                });
            if revisits {
                continue;
            }
            path.push(Hop { pool, side });
            if next == start {
                if path.len() >= 2 {
                    self.try_sizes(market, path, n, found);
                }
            } else if path.len() < self.max_hops {
                self.dfs(market, start, next, n, path, found);
            }
            path.pop();
        }
    }

    fn try_sizes(&self, market: &Market, path: &[Hop], n: u64, found: &mut Vec<Found>) {
        let mut best: Option<(u64, u64)> = None;
        let mut size = n;
        while size > 0 {
            if let Some(out) = self.route_output(market, path, size)
                && out > size
                && best.is_none_or(|(_, p)| out - size > p)
            {
                best = Some((size, out - size));
            }
            size /= 2;
        }
        if let Some((amount_in, profit)) = best {
            found.push(Found {
                hops: path.to_vec(),
                amount_in,
                profit,
            });
        }
    }

    /// Exact output of a path (see [`Market::route_output`]).
    pub fn route_output(&self, market: &Market, path: &[Hop], amount: u64) -> Option<u64> {
        market.route_output(path, amount, self.unix_timestamp)
    }
}
