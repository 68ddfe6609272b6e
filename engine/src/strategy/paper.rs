//! Fills: the paper executor (orders re-quoted exactly when due) and live completions.

use super::*;

impl Strategy {
    /// Live mode: orders stay in flight (counted against `max_concurrent_trades`) until the
    /// executor reports them with [`Strategy::complete`]; the paper executor is off.
    pub fn set_external_fills(&mut self, external: bool) {
        self.external_fills = external;
    }

    /// Books an order the live executor finished: `realised_out` is what the route paid
    /// (`None`: it failed or never landed), `signature` its transaction's once signed. `None`
    /// when no such order is in flight.
    pub fn complete(
        &mut self,
        order_id: u64,
        realised_out: Option<u64>,
        signature: Option<[u8; 64]>,
        now: u64,
    ) -> Option<Fill> {
        let at = self.pending.iter().position(|o| o.id == order_id)?;
        let order = self.pending.remove(at)?;
        let mut fill = self.fill(order, realised_out, now);
        fill.signature = signature;
        Some(fill)
    }

    /// Fills due paper orders by re-quoting their routes exactly on the state of now.
    pub(super) fn settle(&mut self, now: u64, out: &mut Vec<Decision>) {
        if self.external_fills {
            return;
        }
        while self.pending.front().is_some_and(|o| o.due_at <= now) {
            let Some(order) = self.pending.pop_front() else {
                break;
            };
            let realised = self
                .route_output(order.opportunity.cycle, order.opportunity.amount_in)
                .filter(|o| *o >= order.min_out);
            let fill = self.fill(order, realised, now);
            out.push(Decision::Filled(fill));
        }
    }

    fn fill(&mut self, order: Order, realised: Option<u64>, now: u64) -> Fill {
        let start = self.cycles.cycle(order.opportunity.cycle).start_mint;
        let amount_in = order.opportunity.amount_in;
        let fee = realised.map_or(0, |_| self.route_cost(amount_in));
        let pnl = realised.map_or(0, |o| {
            i128::from(o) - i128::from(amount_in) - i128::from(fee)
        });
        let usd = |units: f64| match self.mint_info.get(start.0 as usize).copied().flatten() {
            Some((decimals, usd)) => units / 10f64.powi(i32::from(decimals)) * usd,
            None => 0.0,
        };
        // A route that failed traded nothing: no volume, no fee.
        let traded = realised.map_or(0, |_| amount_in);
        let (pnl_usd, fee_usd, volume_usd) = (usd(pnl as f64), usd(fee as f64), usd(traded as f64));
        if realised.is_some() {
            self.counters.filled += 1;
        } else {
            self.counters.failed += 1;
        }
        Fill {
            order,
            realised_out: realised,
            pnl,
            pnl_usd,
            fee,
            fee_usd,
            volume_usd,
            signature: None,
            executed_at: now,
        }
    }
}
