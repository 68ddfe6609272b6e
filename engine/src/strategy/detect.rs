//! Detection: the prefilter over the cycles through a changed pool, the closed form that
//! ranks its candidates, and the scan of every cycle after a snapshot.

use super::*;

impl Strategy {
    /// Evaluates every cycle through `pool` and decides on what it finds; returns whether
    /// anything was found. `received_at` is the ingress time of the triggering update.
    pub(super) fn detect(
        &mut self,
        pool: PoolIndex,
        received_at: u64,
        clock: &impl Clock,
        out: &mut Vec<Decision>,
    ) -> bool {
        // Prefilter: a route is worth composing only when the product of its hops' marginal
        // rates beats 1 + min edge, i.e. the sum of their logs beats ln(1 + edge). The margin
        // keeps floating rounding from hiding a route the exact check would accept.
        let threshold = (f64::from(self.config.risk.min_profit_bps + self.config.route_fee_bps)
            / 10_000.0)
            .ln_1p()
            - 1e-9;
        let Some(list) = self.packed.get(pool.0 as usize) else {
            return false;
        };
        self.counters.cycles_evaluated += list.len() as u64;
        // One streaming pass over the packed list collects the candidates (the indices were
        // built in range of `log_rate`); the rare ones are then composed and sized.
        let lr = self.log_rate.as_slice();
        let mut candidates = std::mem::take(&mut self.candidates);
        let from = candidates.len();
        for c in list {
            let sum = lr[c.hops[0] as usize]
                + lr[c.hops[1] as usize]
                + lr[c.hops[2] as usize]
                + lr[c.hops[3] as usize];
            if sum > threshold {
                candidates.push(c.id);
            }
        }
        // Best first by the closed form (profit in USD at the optimum input): the routes
        // through the changed pool all trade its dislocation, so once one is ordered the rest
        // are left unsized (counted), and the exact sizing the tail pays for is spent on the
        // route most likely to be worth it.
        let mut ranked = std::mem::take(&mut self.ranked);
        ranked.clear();
        for &id in &candidates[from..] {
            if let Some(closed) = self.closed_form(id)
                && let Some(score) = self.closed_form_usd(id, &closed)
            {
                ranked.push((score, id, closed.0, closed.1));
            }
        }
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let mut found = false;
        let mut ordered = false;
        for &(_, id, chain, guess) in &ranked {
            if ordered {
                self.counters.overlapping += 1;
                continue;
            }
            if let Some((opportunity, stopped)) = self.evaluate(id, (chain, guess), clock) {
                if !found {
                    self.stamps.detected_at = clock.now_ns();
                    found = true;
                }
                self.decide(opportunity, stopped, received_at, clock, out);
                // Ordered, or stopped by the gate every route shares (orders in flight): the
                // dislocation is dealt with. A route the exact quotes found too thin leaves
                // the next one its chance.
                ordered = matches!(
                    out.last(),
                    Some(
                        Decision::Execute(_)
                            | Decision::Rejected {
                                reason: Rejection::Concurrency,
                                ..
                            }
                    )
                );
            }
        }
        self.candidates = candidates;
        self.ranked = ranked;
        found
    }

    /// The cycle's composed curve when it is profitable past the minimum edge (profit bps plus
    /// the route fee), and the closed form's optimal input: the optimum of A·x/(B+C·x) − (1+f)·x
    /// (the route fee scales the input's cost).
    fn closed_form(&self, id: CycleId) -> Option<(Chain, f64)> {
        let mut chain = Chain::IDENTITY;
        for hop in self.cycles.cycle(id).hops() {
            chain = chain.then(self.curves[hop.pool.0 as usize][side_slot(hop.side)].as_ref()?);
        }
        let min_edge =
            f64::from(self.config.risk.min_profit_bps + self.config.route_fee_bps) / 10_000.0;
        if !chain.is_profitable(min_edge) {
            return None;
        }
        let fee = f64::from(self.config.route_fee_bps) / 10_000.0;
        let guess = Chain {
            a: chain.a / (1.0 + fee),
            ..chain
        }
        .optimal_input();
        Some((chain, guess))
    }

    /// The closed form's profit of a cycle (its composed curve and optimal input, from
    /// [`Self::closed_form`]) at its optimal input capped at the base mint's maximum trade, in
    /// USD; `None` when the start mint is no base. Ranks candidates; the exact sizing decides.
    fn closed_form_usd(&self, id: CycleId, &(chain, guess): &(Chain, f64)) -> Option<f64> {
        let start = self.cycles.cycle(id).start_mint;
        let base = self.base.get(start.0 as usize)?.as_ref()?;
        let fee = f64::from(self.config.route_fee_bps) / 10_000.0;
        let x = guess.min(base.max_trade as f64).max(0.0);
        let profit = chain.output(x) - x * (1.0 + fee);
        let (decimals, usd) = self
            .mint_info
            .get(start.0 as usize)
            .copied()
            .flatten()
            .unwrap_or((0, 1.0));
        Some(profit / 10f64.powi(i32::from(decimals)) * usd)
    }

    /// Evaluates every cycle once (after a snapshot load) and decides on what it finds.
    pub fn scan_all(&mut self, clock: &impl Clock, out: &mut Vec<Decision>) {
        let now = clock.now_ns();
        self.counters.cycles_evaluated += self.cycles.len() as u64;
        for i in 0..self.cycles.len() {
            let id = CycleId(i as u32);
            if let Some(closed) = self.closed_form(id)
                && let Some((opportunity, stopped)) = self.evaluate(id, closed, clock)
            {
                self.decide(opportunity, stopped, now, clock, out);
            }
        }
    }
}
