//! The strategy core: `process(event) -> decisions` with an injected clock. Applies account
//! updates, re-evaluates only the cycles through the pools that changed, sizes candidates in
//! closed form, confirms them with exact integer quotes, gates them on risk limits, and runs
//! the paper executor. By job: `clock` (time sources), `config` (base mints, risk limits),
//! `events` (what goes in and out), `detect` (prefilter, closed form, ranking), `sizing` (exact
//! confirmation), `risk` (gates, confidence, the decision) and `paper` (fills); this module holds
//! the state, the event loop and the curve cache.

use std::cell::Cell;
use std::collections::VecDeque;

use crate::curve::{Chain, Curve};
use crate::cycles::{CycleId, CycleIndex};
use crate::error::DecodeError;
use crate::market::{AccountUpdate, Market, MintIndex, PoolIndex};
use crate::quote::{Amm, Side};

mod clock;
mod config;
mod detect;
mod events;
mod paper;
mod risk;
mod sizing;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{BaseMint, MintInfo, RiskLimits, StrategyConfig};
pub use events::{Counters, Decision, Event, Fill, Opportunity, Order, Rejection, Stamps};

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

    /// Exact output of the route for `amount` in (see [`Market::route_output`]).
    pub fn route_output(&self, id: CycleId, amount: u64) -> Option<u64> {
        self.market
            .route_output(self.cycles.cycle(id).hops(), amount, self.unix_timestamp)
    }
}
