//! The strategy core: `process(event) -> decisions` with an injected clock. Applies account
//! updates, re-evaluates only the cycles through the pools that changed, sizes candidates in
//! closed form, confirms them with exact integer quotes, gates them on risk limits, and runs
//! the paper executor.

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Instant;

use crate::curve::{Chain, Curve};
use crate::cycles::{CycleId, CycleIndex};
use crate::error::DecodeError;
use crate::market::{AccountUpdate, Market, MintIndex, PoolIndex};
use crate::pubkey::Pubkey;
use crate::quote::{Amm, Side};

/// Time source of the engine, in nanoseconds from an arbitrary origin.
pub trait Clock {
    /// Now, in ns.
    fn now_ns(&self) -> u64;
}

/// The live clock: monotonic ns since construction.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }

    /// The instant that reads as `ns`.
    pub fn origin(&self) -> Instant {
        self.origin
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

/// A clock tests and replay advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(Cell<u64>);

impl ManualClock {
    /// A clock reading `ns`.
    pub fn new(ns: u64) -> Self {
        Self(Cell::new(ns))
    }

    /// Sets the time.
    pub fn set(&self, ns: u64) {
        self.0.set(ns);
    }

    /// Moves the time forward.
    pub fn advance(&self, ns: u64) {
        self.0.set(self.0.get() + ns);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

/// A mint routes may start and end in, with its size limits in base units.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseMint {
    /// Mint address.
    pub mint: Pubkey,
    /// Largest input per trade.
    pub max_trade: u64,
    /// Smallest absolute profit worth a trade.
    pub min_profit: u64,
}

/// A mint's decimals and reference USD price, for PnL in USD.
#[derive(Debug, Clone, PartialEq)]
pub struct MintInfo {
    /// Mint address.
    pub mint: Pubkey,
    /// Decimals.
    pub decimals: u8,
    /// Reference price in USD per whole token.
    pub usd_price: f64,
}

/// Risk gates applied before anything executes.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskLimits {
    /// Smallest profit relative to the input, in basis points.
    pub min_profit_bps: u32,
    /// Oldest pool state (in slots behind the newest slot seen) a route may trade on.
    pub max_state_age_slots: u64,
    /// Orders in flight at once.
    pub max_concurrent_trades: usize,
    /// Smallest confidence a trade needs, 0 to 1 (0: no confidence gate). Confidence is the
    /// product of state freshness (1 − age / (max age + 1)), depth (1 − the largest price impact
    /// of a hop) and quote stability (exact profit over the closed-form estimate, at most 1).
    pub min_confidence: f64,
}

/// Strategy configuration (validated by the bot config layer).
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyConfig {
    /// Mints routes start and end in.
    pub base_mints: Vec<BaseMint>,
    /// Longest route, 2 to 4 pools.
    pub max_hops: usize,
    /// Risk gates.
    pub risk: RiskLimits,
    /// Paper executor: time from decision to fill.
    pub paper_latency_ns: u64,
    /// Minimum-out below the expected output, in basis points.
    pub slippage_bps: u32,
    /// A cost charged on every route's input, in basis points (a flash loan's fee); profits
    /// are net of it.
    pub route_fee_bps: u32,
    /// Decimals and USD prices of the mints.
    pub mints: Vec<MintInfo>,
}

/// A profitable route, sized and confirmed with exact quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opportunity {
    /// The route.
    pub cycle: CycleId,
    /// Input, in base units of the start mint.
    pub amount_in: u64,
    /// Exact output the programs would pay.
    pub expected_out: u64,
    /// `expected_out − amount_in`.
    pub profit: u64,
    /// Profit relative to the input.
    pub profit_bps: u32,
    /// Newest slot among the route's pool states.
    pub slot: u64,
    /// When it was found (ns).
    pub detected_at: u64,
}

/// An order sent to the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// Sequence number.
    pub id: u64,
    /// What was found.
    pub opportunity: Opportunity,
    /// Output below which the route fails.
    pub min_out: u64,
    /// Ingress time of the update that triggered it.
    pub received_at: u64,
    /// When the risk gates passed it.
    pub decided_at: u64,
    /// When the paper executor fills it.
    pub due_at: u64,
}

/// The paper executor's result for an order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    /// The order.
    pub order: Order,
    /// Output at fill time (re-quoted exactly), or `None` when the route would fail.
    pub realised_out: Option<u64>,
    /// Profit in the start mint's base units (0 when failed).
    pub pnl: i128,
    /// Profit in USD at reference prices.
    pub pnl_usd: f64,
    /// When it was booked.
    pub executed_at: u64,
}

/// Why a confirmed opportunity did not execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Below `min_profit_bps`.
    ProfitBps,
    /// Below the base mint's `min_profit`.
    ProfitAbsolute,
    /// A pool state older than `max_state_age_slots`.
    StaleState,
    /// `max_concurrent_trades` orders already in flight.
    Concurrency,
    /// Confidence (freshness × depth × quote stability) below `min_confidence`.
    Confidence,
}

/// What the strategy decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send this order.
    Execute(Order),
    /// A confirmed opportunity the risk gates stopped.
    Rejected {
        /// What was found.
        opportunity: Opportunity,
        /// Which gate.
        reason: Rejection,
    },
    /// The paper executor booked (or failed) an order.
    Filled(Fill),
}

/// Input to the strategy.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An account changed.
    Account(AccountUpdate),
    /// The cluster reached a slot (with its unix time).
    Slot {
        /// Slot.
        slot: u64,
        /// Cluster unix time.
        unix_timestamp: i64,
    },
    /// A reference USD price moved.
    Price {
        /// Mint.
        mint: Pubkey,
        /// USD per whole token.
        usd: f64,
    },
    /// Time passed (settles due paper fills).
    Tick,
}

/// Times of the stages of the last account update processed (ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamps {
    /// Ingress.
    pub received_at: u64,
    /// Decoded and applied.
    pub decoded_at: u64,
    /// Detection and sizing done.
    pub detected_at: u64,
    /// Risk gates done (equal to `detected_at` when nothing was found).
    pub decided_at: u64,
}

/// Counters of the strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Account updates received.
    pub updates: u64,
    /// Updates ignored as stale or out of order.
    pub stale: u64,
    /// Updates that failed to decode.
    pub decode_errors: u64,
    /// Cycles evaluated.
    pub cycles_evaluated: u64,
    /// Cycles whose composed curve was profitable.
    pub candidates: u64,
    /// Candidates the exact quotes confirmed.
    pub opportunities: u64,
    /// Opportunities the risk gates stopped.
    pub rejected: u64,
    /// Orders sent.
    pub executed: u64,
    /// Orders filled.
    pub filled: u64,
    /// Orders whose route failed its minimum-out.
    pub failed: u64,
    /// Candidates through a changed pool left unsized because a better-ranked route through
    /// that pool was ordered on the same update (it trades the same dislocation), or stopped
    /// by the orders-in-flight gate that stops every route alike.
    pub overlapping: u64,
    /// Exact sizings that took the closed form's optimum (every hop follows its curve up to it).
    pub sized_at_optimum: u64,
    /// Exact sizings by Brent's search (a hop leaves its curve before the optimum).
    pub sized_by_search: u64,
    /// Exact sizings that scanned every size of a small bracket (at most 2,049).
    pub sized_by_scan: u64,
    /// Exact route passes (exact-in quotes, and the exact-out pass of the trim of rounding)
    /// of the sizings at the optimum, by search and by scan, with the cap's halvings.
    pub quotes_at_optimum: u64,
    /// See `quotes_at_optimum`.
    pub quotes_by_search: u64,
    /// See `quotes_at_optimum`.
    pub quotes_by_scan: u64,
}

/// The strategy: market, cycle index, curve cache, risk gates and paper book.
#[derive(Debug)]
pub struct Strategy {
    market: Market,
    cycles: CycleIndex,
    curves: Vec<[Option<Curve>; 2]>,
    base: Vec<Option<BaseMint>>,
    mint_info: Vec<Option<(u8, f64)>>,
    config: StrategyConfig,
    unix_timestamp: i64,
    pending: VecDeque<Order>,
    external_fills: bool,
    next_order: u64,
    counters: Counters,
    changed: Vec<PoolIndex>,
    stamps: Stamps,
    /// Per pool: how many times its state changed.
    generation: Vec<u64>,
    /// ln of each pool side's marginal rate γ·R_out/R_in, at index `2·pool + side`; the last
    /// entry is 0 (padding for routes shorter than four hops), −∞ marks a side that cannot trade.
    log_rate: Vec<f64>,
    /// Per pool: the cycles through it with their hops' `log_rate` indices, laid out flat so
    /// the prefilter streams through memory.
    packed: Vec<Vec<PackedCycle>>,
    /// The prefilter's candidates of the last account update, over every pool it changed
    /// (reused: no allocation per update in steady state).
    candidates: Vec<CycleId>,
    /// Candidates by closed-form profit in USD, best first, with their composed curve and
    /// optimal input (reused).
    ranked: Vec<(f64, CycleId, Chain, f64)>,
    /// Per cycle: the sum of its pools' generations when it was last traded (a route is not
    /// traded twice on the same states).
    traded_at: Vec<u64>,
    /// The epoch whose Token-2022 transfer fees the curves take (they are all refreshed when
    /// the cluster enters another).
    curve_epoch: u64,
    /// Sizing counters kept from `&self` (see [`Counters`]): sizings at the optimum, by search
    /// and by scan, then their route passes.
    sizing: [Cell<u64>; 6],
}

/// A cycle as the detection prefilter reads it: its id and the `log_rate` index of each hop.
#[derive(Debug, Clone, Copy)]
struct PackedCycle {
    id: CycleId,
    hops: [u32; 4],
}

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

fn side_slot(side: Side) -> usize {
    match side {
        Side::AToB => 0,
        Side::BToA => 1,
    }
}

impl Strategy {
    /// A strategy over `market`; builds the cycle index through the configured base mints.
    pub fn new(mut market: Market, config: StrategyConfig) -> Self {
        let bases: Vec<MintIndex> = config
            .base_mints
            .iter()
            .map(|b| market.intern_mint(b.mint))
            .collect();
        let cycles = CycleIndex::build(&market, &bases, config.max_hops);
        let mut base = vec![None; market.mint_count()];
        for (b, index) in config.base_mints.iter().zip(&bases) {
            base[index.0 as usize] = Some(b.clone());
        }
        let mut mint_info = vec![None; market.mint_count()];
        for m in &config.mints {
            if let Some(i) = market.mint_index(&m.mint) {
                mint_info[i.0 as usize] = Some((m.decimals, m.usd_price));
            }
        }
        let mut strategy = Self {
            curves: vec![[None, None]; market.pool_count()],
            market,
            cycles,
            base,
            mint_info,
            config,
            unix_timestamp: 0,
            pending: VecDeque::new(),
            external_fills: false,
            next_order: 0,
            counters: Counters::default(),
            changed: Vec::with_capacity(8),
            stamps: Stamps::default(),
            generation: Vec::new(),
            traded_at: Vec::new(),
            curve_epoch: 0,
            sizing: Default::default(),
            log_rate: Vec::new(),
            packed: Vec::new(),
            candidates: Vec::with_capacity(64),
            ranked: Vec::with_capacity(64),
        };
        let pools = strategy.market.pool_count();
        strategy.log_rate = vec![f64::NEG_INFINITY; 2 * pools + 1];
        strategy.log_rate[2 * pools] = 0.0;
        strategy.packed = (0..pools)
            .map(|p| {
                strategy
                    .cycles
                    .containing(PoolIndex(p as u32))
                    .iter()
                    .map(|&id| {
                        let mut hops = [(2 * pools) as u32; 4];
                        for (slot, hop) in hops.iter_mut().zip(strategy.cycles.cycle(id).hops()) {
                            *slot = (2 * hop.pool.0 as usize + side_slot(hop.side)) as u32;
                        }
                        PackedCycle { id, hops }
                    })
                    .collect()
            })
            .collect();
        strategy.generation = vec![0; strategy.market.pool_count()];
        strategy.traded_at = vec![u64::MAX; strategy.cycles.len()];
        strategy.curve_epoch = strategy.market.epoch();
        for p in 0..strategy.market.pool_count() {
            strategy.refresh_curves(PoolIndex(p as u32));
        }
        strategy
    }

    /// Refreshes every curve when the newest slot seen belongs to another epoch than the one
    /// the curves took their transfer fees from (once an epoch, about two days).
    fn follow_epoch(&mut self) {
        let epoch = self.market.epoch();
        if epoch != self.curve_epoch {
            self.curve_epoch = epoch;
            for p in 0..self.market.pool_count() {
                self.refresh_curves(PoolIndex(p as u32));
            }
        }
    }

    /// The market state.
    pub fn market(&self) -> &Market {
        &self.market
    }

    /// The cycle index.
    pub fn cycles(&self) -> &CycleIndex {
        &self.cycles
    }

    /// Counters so far.
    pub fn counters(&self) -> Counters {
        Counters {
            stale: self.market.stale_updates(),
            sized_at_optimum: self.sizing[0].get(),
            sized_by_search: self.sizing[1].get(),
            sized_by_scan: self.sizing[2].get(),
            quotes_at_optimum: self.sizing[3].get(),
            quotes_by_search: self.sizing[4].get(),
            quotes_by_scan: self.sizing[5].get(),
            ..self.counters
        }
    }

    /// The routes the last account update's prefilter flagged, through every pool it changed:
    /// those whose hops' marginal rates multiply past 1 + the minimum edge (profitable at some
    /// size before rounding). The best by the closed form is sized and decided; the others are
    /// sized in turn only while none is ordered (see [`Counters::overlapping`]).
    pub fn flagged(&self) -> &[CycleId] {
        &self.candidates
    }

    /// Stage times of the last account update.
    pub fn stamps(&self) -> Stamps {
        self.stamps
    }

    /// Orders in flight.
    pub fn open_orders(&self) -> usize {
        self.pending.len()
    }

    fn refresh_curves(&mut self, pool: PoolIndex) {
        if let Some(g) = self.generation.get_mut(pool.0 as usize) {
            *g += 1;
        }
        if let Some(p) = self.market.pool(pool) {
            let epoch = self.market.epoch();
            let curves = [p.curve(Side::AToB, epoch), p.curve(Side::BToA, epoch)];
            for (slot, curve) in curves.iter().enumerate() {
                self.log_rate[2 * pool.0 as usize + slot] = curve
                    .filter(|c| c.reserve_in > 0.0 && c.reserve_out > 0.0 && c.gamma > 0.0)
                    .map_or(f64::NEG_INFINITY, |c| {
                        (c.gamma * c.reserve_out / c.reserve_in).ln()
                    });
            }
            self.curves[pool.0 as usize] = curves;
        }
    }

    /// Processes one event; decisions are appended to `out`.
    pub fn process(
        &mut self,
        event: &Event,
        clock: &impl Clock,
        out: &mut Vec<Decision>,
    ) -> Result<(), DecodeError> {
        match event {
            Event::Account(update) => self.on_account(update, clock, out)?,
            Event::Slot {
                slot,
                unix_timestamp,
            } => {
                self.market.observe_slot(*slot);
                self.follow_epoch();
                self.unix_timestamp = *unix_timestamp;
            }
            Event::Price { mint, usd } => {
                if let Some(i) = self.market.mint_index(mint)
                    && let Some(Some(info)) = self.mint_info.get_mut(i.0 as usize)
                {
                    info.1 = *usd;
                }
            }
            Event::Tick => {}
        }
        self.settle(clock.now_ns(), out);
        Ok(())
    }

    /// Processes one account update (the same as `process` of `Event::Account`, without moving
    /// the update: a runtime keeps its buffer for the next one).
    pub fn process_update(
        &mut self,
        update: &AccountUpdate,
        clock: &impl Clock,
        out: &mut Vec<Decision>,
    ) -> Result<(), DecodeError> {
        let result = self.on_account(update, clock, out);
        self.settle(clock.now_ns(), out);
        result
    }

    fn on_account(
        &mut self,
        update: &AccountUpdate,
        clock: &impl Clock,
        out: &mut Vec<Decision>,
    ) -> Result<(), DecodeError> {
        self.counters.updates += 1;
        self.candidates.clear();
        self.stamps.received_at = update.received_at;
        let mut changed = std::mem::take(&mut self.changed);
        let applied = self.market.apply_update(update, &mut changed);
        self.follow_epoch();
        let now = clock.now_ns();
        self.stamps.decoded_at = now;
        self.stamps.detected_at = now;
        self.stamps.decided_at = now;
        let fresh = match applied {
            Ok(fresh) => fresh,
            Err(e) => {
                self.counters.decode_errors += 1;
                self.changed = changed;
                return Err(e);
            }
        };
        if fresh {
            for &pool in &changed {
                self.refresh_curves(pool);
            }
            let mut found = false;
            for &pool in &changed {
                found |= self.detect(pool, update.received_at, clock, out);
            }
            if !found {
                self.stamps.detected_at = clock.now_ns();
            }
            self.stamps.decided_at = clock.now_ns();
        }
        self.changed = changed;
        Ok(())
    }

    /// Applies an update without detecting anything (a resynchronising snapshot: no decision
    /// may see half of it); `scan_all` once the whole snapshot is in. `Ok(false)`: stale.
    pub fn load(&mut self, update: &AccountUpdate) -> Result<bool, DecodeError> {
        let mut changed = std::mem::take(&mut self.changed);
        let applied = self.market.apply_update(update, &mut changed);
        self.follow_epoch();
        if applied.is_err() {
            self.counters.decode_errors += 1;
        } else {
            self.counters.updates += 1;
            for &pool in &changed {
                self.refresh_curves(pool);
            }
        }
        self.changed = changed;
        applied
    }

    /// A live feed confirmed every pool's state up to `slot` (see [`Market::confirm_slot`]).
    pub fn confirm_slot(&mut self, slot: u64) {
        self.market.confirm_slot(slot);
        self.follow_epoch();
    }

    /// Evaluates every cycle through `pool` and decides on what it finds; returns whether
    /// anything was found. `received_at` is the ingress time of the triggering update.
    fn detect(
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

    /// A profitable route (its composed curve and the closed form's optimal input, from
    /// [`Self::closed_form`]): when it passes the size-free gates, sizes it and confirms it with
    /// exact quotes. Returns the opportunity and, when a size-free gate stopped it, the reason
    /// (the opportunity is then the closed-form estimate).
    fn evaluate(
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

    /// The route cost (`route_fee_bps` of the input, rounded up) for `amount` in.
    fn route_cost(&self, amount: u64) -> u64 {
        (u128::from(amount) * u128::from(self.config.route_fee_bps)).div_ceil(10_000) as u64
    }

    /// Replaces the limits a running strategy may change without a restart: risk gates,
    /// slippage, paper latency, route fee and each base mint's size limits (matched by mint).
    pub fn update_limits(
        &mut self,
        risk: RiskLimits,
        slippage_bps: u32,
        paper_latency_ns: u64,
        route_fee_bps: u32,
        base_mints: &[BaseMint],
    ) {
        self.config.risk = risk;
        self.config.slippage_bps = slippage_bps;
        self.config.paper_latency_ns = paper_latency_ns;
        self.config.route_fee_bps = route_fee_bps;
        for b in base_mints {
            if let Some(i) = self.market.mint_index(&b.mint)
                && let Some(Some(slot)) = self.base.get_mut(i.0 as usize)
            {
                *slot = b.clone();
            }
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &StrategyConfig {
        &self.config
    }

    /// Risk gates that do not depend on the trade's size.
    fn pre_sizing_gate(&self, id: CycleId) -> Option<Rejection> {
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

    /// Exact output of the route for `amount` in (see [`Market::route_output`]).
    pub fn route_output(&self, id: CycleId, amount: u64) -> Option<u64> {
        self.market
            .route_output(self.cycles.cycle(id).hops(), amount, self.unix_timestamp)
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

    fn decide(
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

    /// Live mode: orders stay in flight (counted against `max_concurrent_trades`) until the
    /// executor reports them with [`Strategy::complete`]; the paper executor is off.
    pub fn set_external_fills(&mut self, external: bool) {
        self.external_fills = external;
    }

    /// Books an order the live executor finished: `realised_out` is what the route paid
    /// (`None`: it failed or never landed). `None` when no such order is in flight.
    pub fn complete(&mut self, order_id: u64, realised_out: Option<u64>, now: u64) -> Option<Fill> {
        let at = self.pending.iter().position(|o| o.id == order_id)?;
        let order = self.pending.remove(at)?;
        Some(self.fill(order, realised_out, now))
    }

    /// Fills due paper orders by re-quoting their routes exactly on the state of now.
    fn settle(&mut self, now: u64, out: &mut Vec<Decision>) {
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
        let pnl = realised.map_or(0, |o| {
            i128::from(o) - i128::from(amount_in) - i128::from(self.route_cost(amount_in))
        });
        let pnl_usd = match self.mint_info.get(start.0 as usize).copied().flatten() {
            Some((decimals, usd)) => pnl as f64 / 10f64.powi(i32::from(decimals)) * usd,
            None => 0.0,
        };
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
            executed_at: now,
        }
    }
}
