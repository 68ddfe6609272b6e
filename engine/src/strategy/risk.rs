//! Risk: the gates before sizing (state age, orders in flight), confidence, and the decision
//! (an order, or a rejection with its reason).

use super::*;

impl Strategy {
    /// Confidence in a confirmed opportunity, 0 to 1: state freshness × depth × quote
    /// stability (see [`RiskLimits::min_confidence`]).
    pub fn confidence(&self, opportunity: &Opportunity) -> f64 {
        let cycle = self.cycles.cycle(opportunity.cycle);
        let oldest = cycle
            .hops()
            .iter()
            .map(|h| self.market.pool_slot(h.pool))
            .min()
            .unwrap_or(0);
        let age = self.market.slot().saturating_sub(oldest) as f64;
        let freshness =
            (1.0 - age / (self.config.risk.max_state_age_slots as f64 + 1.0)).clamp(0.0, 1.0);
        // Walk the route on the curves: each hop's input against its reserve.
        let mut x = opportunity.amount_in as f64;
        let mut worst_impact: f64 = 0.0;
        let mut chain = Chain::IDENTITY;
        for hop in cycle.hops() {
            let Some(curve) = self.curves[hop.pool.0 as usize][side_slot(hop.side)] else {
                return 0.0;
            };
            worst_impact = worst_impact.max(curve.gamma * x / (curve.reserve_in + curve.gamma * x));
            x = curve.gamma * curve.reserve_out * x / (curve.reserve_in + curve.gamma * x);
            chain = chain.then(&curve);
        }
        let depth = (1.0 - worst_impact).clamp(0.0, 1.0);
        let amount = opportunity.amount_in as f64;
        let estimated =
            chain.output(amount) - amount - self.route_cost(opportunity.amount_in) as f64;
        let stability = if estimated > 0.0 {
            (opportunity.profit as f64 / estimated).clamp(0.0, 1.0)
        } else {
            0.0
        };
        freshness * depth * stability
    }

    /// Risk gates that do not depend on the trade's size.
    pub(super) fn pre_sizing_gate(&self, id: CycleId) -> Option<Rejection> {
        let oldest = self
            .cycles
            .cycle(id)
            .hops()
            .iter()
            .map(|h| self.market.pool_slot(h.pool))
            .min()
            .unwrap_or(0);
        if self.market.slot().saturating_sub(oldest) > self.config.risk.max_state_age_slots {
            Some(Rejection::StaleState)
        } else if self.pending.len() >= self.config.risk.max_concurrent_trades {
            Some(Rejection::Concurrency)
        } else {
            None
        }
    }

    pub(super) fn decide(
        &mut self,
        opportunity: Opportunity,
        stopped: Option<Rejection>,
        received_at: u64,
        clock: &impl Clock,
        out: &mut Vec<Decision>,
    ) {
        let risk = &self.config.risk;
        let cycle = self.cycles.cycle(opportunity.cycle);
        let min_profit = self
            .base
            .get(cycle.start_mint.0 as usize)
            .and_then(Option::as_ref)
            .map_or(0, |b| b.min_profit);
        let reason = stopped.or(if opportunity.profit_bps < risk.min_profit_bps {
            Some(Rejection::ProfitBps)
        } else if opportunity.profit < min_profit {
            Some(Rejection::ProfitAbsolute)
        } else if risk.min_confidence > 0.0 && self.confidence(&opportunity) < risk.min_confidence {
            Some(Rejection::Confidence)
        } else {
            None
        });
        if let Some(reason) = reason {
            self.counters.rejected += 1;
            out.push(Decision::Rejected {
                opportunity,
                reason,
            });
            return;
        }
        let decided_at = clock.now_ns();
        let slippage =
            u128::from(opportunity.expected_out) * u128::from(self.config.slippage_bps) / 10_000;
        let order = Order {
            id: self.next_order,
            opportunity,
            min_out: opportunity.expected_out - slippage as u64,
            received_at,
            decided_at,
            due_at: decided_at + self.config.paper_latency_ns,
        };
        self.next_order += 1;
        self.counters.executed += 1;
        let cycle = self.cycles.cycle(opportunity.cycle);
        self.traded_at[opportunity.cycle.0 as usize] = cycle
            .hops()
            .iter()
            .map(|h| self.generation[h.pool.0 as usize])
            .sum();
        self.pending.push_back(order);
        out.push(Decision::Execute(order));
    }
}
