//! Sizing: a candidate confirmed with exact quotes, at the closed form's optimum where every
//! hop follows its curve, else by Brent's search (`crate::search`).

use super::*;

/// The sizes the exact search looks at around the closed form's optimum `x0` (capped).
/// Where every hop follows its curve up to `x0`, the closed form's optimum is the exact one to
/// within rounding and is quoted alone (each hop's marginal rate only falls as its input grows,
/// so the exact profit is concave to within rounding, and its slope at `x0` is the curve's, 0);
/// the narrow bracket (x0 ± 1/64) is what the closed-form rejections consider there. A
/// concentrated-liquidity hop that leaves its range does not follow the virtual reserves, and
/// the wide bracket (x0/2 to 2·x0) is searched.
struct Bracket {
    x0: u64,
    cap: u64,
    narrow: (u64, u64),
    wide: (u64, u64),
}

impl Bracket {
    /// Brackets this small are scanned whole: at a few units of profit the rounding of every
    /// hop makes the exact profit too bumpy for a bracketing search.
    const SCAN: u64 = 2_048;

    fn new(guess: f64, cap: u64) -> Option<Self> {
        if guess.is_nan() || guess < 1.0 || cap == 0 {
            return None;
        }
        let x0 = (guess.round() as u64).clamp(1, cap);
        Some(Self {
            x0,
            cap,
            narrow: ((x0 - x0 / 64).max(1), x0.saturating_add(x0 / 64).min(cap)),
            wide: ((x0 / 2).max(1), x0.saturating_mul(2).min(cap)),
        })
    }

    /// Whether the exact search takes the closed form's optimum: every hop follows its curve up to
    /// it, and the sizes are not tiny (over tiny reserves the exact profit is flat to within a
    /// few units across a wide range around the closed form: the wide bracket is then scanned
    /// whole, at most `SCAN` quotes).
    fn narrow_holds(&self, exact_curves: bool) -> bool {
        exact_curves && self.wide.1 - self.wide.0 > Self::SCAN
    }
}

impl Strategy {
    /// A profitable route (its composed curve and the closed form's optimal input, from
    /// [`Self::closed_form`]): when it passes the size-free gates, sizes it and confirms it with
    /// exact quotes. Returns the opportunity and, when a size-free gate stopped it, the reason
    /// (the opportunity is then the closed-form estimate).
    pub(super) fn evaluate(
        &mut self,
        id: CycleId,
        (chain, guess): (Chain, f64),
        clock: &impl Clock,
    ) -> Option<(Opportunity, Option<Rejection>)> {
        let cycle = self.cycles.cycle(id);
        let states = cycle
            .hops()
            .iter()
            .map(|h| self.generation[h.pool.0 as usize])
            .sum::<u64>();
        if self.traded_at[id.0 as usize] == states {
            return None; // already traded on exactly these pool states
        }
        self.counters.candidates += 1;
        let base = self.base.get(cycle.start_mint.0 as usize)?.as_ref()?;
        let slot = cycle
            .hops()
            .iter()
            .map(|h| self.market.pool_slot(h.pool))
            .max()
            .unwrap_or(0);
        // Gates that need no size are applied before the exact confirmation, which costs tens
        // of quotes: such a rejection carries the closed-form estimate, once one exact quote
        // of the route at that size shows every hop would take the swap (a route through a
        // pool the program refuses is no opportunity, not even a rejected one).
        let cap = base.max_trade;
        let (min_profit, min_bps) = (base.min_profit, self.config.risk.min_profit_bps);
        let estimate = |reason: Rejection| {
            let amount_in = guess.min(cap as f64).max(1.0);
            self.route_output(id, amount_in as u64)
                .filter(|out| *out > 0)?;
            let expected_out = chain.output(amount_in);
            let fee = f64::from(self.config.route_fee_bps) / 10_000.0;
            let profit = (expected_out - amount_in * (1.0 + fee)).max(0.0);
            let estimate = Opportunity {
                cycle: id,
                amount_in: amount_in as u64,
                expected_out: expected_out as u64,
                profit: profit as u64,
                profit_bps: (profit / amount_in * 10_000.0) as u32,
                slot,
                detected_at: clock.now_ns(),
            };
            Some((estimate, Some(reason)))
        };
        if let Some(reason) = self.pre_sizing_gate(id) {
            return estimate(reason);
        }
        let bracket = Bracket::new(guess, cap)?;
        // Where every hop follows its curve up to the closed form's optimum, that optimum is the
        // exact one (to within rounding, which only lowers the profit): a route too thin for the
        // profit gates at any size of the narrow bracket is rejected on the estimate, not sized.
        // (The exact search keeps the sizes whose rounding makes the profit bumpy.)
        let limit = self.exact_limit(id);
        let exact_curves = bracket.x0 as f64 <= limit * (1.0 - 1e-6);
        if bracket.narrow_holds(exact_curves) {
            let fee = f64::from(self.config.route_fee_bps) / 10_000.0;
            let profit = |x: f64| chain.output(x) - x * (1.0 + fee);
            // The bracket's smallest size has its best return; its optimum the most profit.
            let low = bracket.narrow.0 as f64;
            let best_bps = profit(low) / low * 10_000.0;
            let best_profit = profit(bracket.x0 as f64);
            if best_bps + 0.01 < f64::from(min_bps) {
                return estimate(Rejection::ProfitBps);
            }
            if best_profit * (1.0 + 1e-6) + 2.0 < min_profit as f64 {
                return estimate(Rejection::ProfitAbsolute);
            }
        }
        let (amount_in, expected_out) = self.best_input(id, &chain, &bracket, limit)?;
        let profit = expected_out
            .checked_sub(amount_in)
            .and_then(|p| p.checked_sub(self.route_cost(amount_in)))
            .filter(|p| *p > 0)?;
        self.counters.opportunities += 1;
        Some((
            Opportunity {
                cycle: id,
                amount_in,
                expected_out,
                profit,
                profit_bps: (u128::from(profit) * 10_000 / u128::from(amount_in))
                    .min(u128::from(u32::MAX)) as u32,
                slot,
                detected_at: clock.now_ns(),
            },
            None,
        ))
    }

    /// Refines the closed-form guess with exact quotes: the optimum itself where every hop
    /// follows its curve up to it, else Brent's search ([`crate::search::maximize`]) on the
    /// exact profit over the wide bracket; then the cap's halvings nearby and the trim of
    /// rounding. Returns (input, output) of the best found.
    /// `chain`: the route's composed curve; `limit`: the route input up to which every hop
    /// follows it ([`Self::exact_limit`]).
    fn best_input(
        &self,
        id: CycleId,
        chain: &Chain,
        bracket: &Bracket,
        limit: f64,
    ) -> Option<(u64, u64)> {
        let follows = |x: u64| x as f64 <= limit * (1.0 - 1e-6);
        let exact_curves = follows(bracket.x0);
        let narrow = bracket.narrow_holds(exact_curves);
        let scan = bracket.wide.1 - bracket.wide.0 <= Bracket::SCAN;
        let kind = if scan { 2 } else { usize::from(!narrow) };
        let count = |i: usize| self.sizing[i].set(self.sizing[i].get() + 1);
        count(kind);
        // (profit, output) of `x` in; each size is quoted once.
        let quote = |x: u64| -> Option<(i128, u64)> {
            count(3 + kind);
            self.route_output(id, x).map(|out| {
                let profit = i128::from(out) - i128::from(x) - i128::from(self.route_cost(x));
                (profit, out)
            })
        };
        let profit = |q: Option<(i128, u64)>| q.map_or(i128::MIN, |(p, _)| p);
        // The best (input, output) so far, and its profit (only a positive one counts).
        let mut best: (Option<(u64, u64)>, i128) = (None, 0);
        let keep = |best: &mut (Option<(u64, u64)>, i128), x: u64, q: Option<(i128, u64)>| {
            if let Some((p, out)) = q
                && p > best.1
            {
                *best = (Some((x, out)), p);
            }
        };
        let (x0, cap) = (bracket.x0, bracket.cap);
        if scan {
            for x in bracket.wide.0..=bracket.wide.1 {
                keep(&mut best, x, quote(x));
            }
        } else if narrow {
            // Every hop follows its curve up to the closed form's optimum: it is the exact one
            // to within the hops' rounding, which a search over nearby sizes could only trade
            // for a luckier unit or two.
            keep(&mut best, x0, quote(x0));
        } else {
            let (mut lo, hi) = bracket.wide;
            if limit > lo as f64 && limit < x0 as f64 {
                // The curve's profit still rises where a hop leaves its curve (its optimum lies
                // past it), and so does the exact one there: the exact optimum is past that
                // input.
                lo = lo.max((limit * (1.0 - 1.0 / 128.0)) as u64).min(hi);
            }
            // Near the optimum the profit is flat: an input 1.6% off loses 0.025% of it. At
            // these sizes a unit's rounding is far below the tolerance: the best point the
            // search quoted stands (the ladder below is still tried).
            let tolerance = 16u64.max(x0 >> 7);
            crate::search::maximize(lo, hi, tolerance, |x| {
                let q = quote(x);
                keep(&mut best, x, q);
                profit(q) as f64
            });
        }
        // Near the optimum the exact profit is flat to within the hops' rounding: the halvings
        // of the cap that land nearby are tried too (a few quotes), so no ladder of sizes, the
        // brute-force baseline's, can beat the result. Where every hop follows its curve up to
        // such a size, rounding only lowers the exact profit below the curve's: a size whose
        // curve profit is already below the best exact one cannot win and is not quoted.
        let fee = f64::from(self.config.route_fee_bps) / 10_000.0;
        for x in (0..64)
            .map(|k| cap >> k)
            .take_while(|x| *x > 0)
            .filter(|x| *x >= x0 / 4 && *x <= x0.saturating_mul(4))
        {
            let curve_profit = chain.output(x as f64) - x as f64 * (1.0 + fee);
            if follows(x) && curve_profit * (1.0 + 1e-6) + 2.0 < best.1 as f64 {
                continue;
            }
            keep(&mut best, x, quote(x));
        }
        // Every hop rounds its output down to whole units: the input past the least one that
        // buys the same intermediate amounts is paid for nothing. Trim it (exact-out quotes
        // back from the output; the trimmed input is re-quoted exact-in before it is used).
        if let (Some((x, out)), _) = best {
            let hops = self.cycles.cycle(id).hops();
            count(3 + kind);
            if let Some(min) = self
                .market
                .route_min_input(hops, out, self.unix_timestamp)
                .filter(|m| *m >= 1 && *m < x)
            {
                keep(&mut best, min, quote(min));
            }
        }
        best.0
    }

    /// The largest route input for which every hop follows its curve (to within rounding),
    /// each hop's input walked along the curves before it; 0 when a hop promises nothing.
    fn exact_limit(&self, id: CycleId) -> f64 {
        let mut chain = Chain::IDENTITY;
        let mut limit = f64::INFINITY;
        for hop in self.cycles.cycle(id).hops() {
            let Some(curve) = self.curves[hop.pool.0 as usize][side_slot(hop.side)].as_ref() else {
                return 0.0;
            };
            let hop_limit = match self.market.pool(hop.pool) {
                Some(crate::market::Pool::Whirlpool(w)) => {
                    w.exact_input(hop.side, self.market.epoch())
                }
                _ => curve.exact_up_to,
            };
            if hop_limit.is_finite() {
                limit = limit.min(chain.input_for(hop_limit));
            }
            chain = chain.then(curve);
        }
        limit.max(0.0)
    }
}
