//! The arbitrage worker: the engine's strategy on the strategy thread, with live execution
//! when configured. The arbitrage bots and `bench latency` run this same worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::strategy::{Clock, Decision, Event, Strategy};

use crate::feed::{FeedEvent, RunClock};
use sniperforge_solana::live::LiveRunner;

/// Whether the strategy may trade: paused by the operator, halted by a loss limit, or not
/// holding the trading lease (a standby or handed-over instance). While closed, updates keep
/// the market current but nothing is decided.
#[derive(Debug, Default)]
pub struct Gate {
    /// The operator paused the bot.
    pub paused: AtomicBool,
    /// A loss limit stopped trading (set by the strategy thread as it books a fill, and by the
    /// executor thread as it books one).
    pub halted: AtomicBool,
    /// The instance does not hold the trading lease (standby, draining, released). A runtime
    /// outside a bot process (the latency bench) leaves it false.
    pub standby: AtomicBool,
    /// The handover's bookkeeping between the control, strategy and executor threads.
    pub handover: Handover,
}

impl Gate {
    /// Whether decisions may be taken.
    #[inline]
    pub fn open(&self) -> bool {
        !self.paused.load(Ordering::Relaxed)
            && !self.halted.load(Ordering::Relaxed)
            && !self.standby.load(Ordering::Relaxed)
    }
}

/// A handover's drain, acknowledged in order: the control thread closes the gate and bumps
/// `requested`; the strategy thread, once nothing is in flight and everything it decided has
/// reached the executor's ring, sets `drained` to it; the executor thread books what is left,
/// persists and sets `flushed` to it; then the lease may go.
#[derive(Debug, Default)]
pub struct Handover {
    /// The latest drain asked for.
    pub requested: AtomicU64,
    /// The latest drain the strategy thread acknowledged.
    pub drained: AtomicU64,
    /// The latest drain the executor thread persisted.
    pub flushed: AtomicU64,
    /// The instance holds the trading lease: its state files are its to write.
    pub leased: AtomicBool,
    /// The first update decided on since the gate last opened (`CLOCK_MONOTONIC` ns; 0: none).
    pub first_decision_ns: AtomicU64,
    /// The latest update decided on (`CLOCK_MONOTONIC` ns), published at housekeeping and at a
    /// drain's acknowledgement.
    pub last_decision_ns: AtomicU64,
    /// Updates decided on, published with `last_decision_ns`.
    pub decided: AtomicU64,
    /// Bumped when the lease is taken: the strategy thread's loss guard starts again from the
    /// daily PnL the previous holder persisted, before its next decision.
    pub resumed: AtomicU64,
}

impl Handover {
    /// Whether a drain waits for the strategy thread's acknowledgement.
    #[inline]
    pub fn drain_pending(&self) -> bool {
        self.requested.load(Ordering::Acquire) != self.drained.load(Ordering::Relaxed)
    }

    /// The strategy thread acknowledges the latest drain request.
    pub fn ack_drained(&self) {
        let req = self.requested.load(Ordering::Acquire);
        self.drained.store(req, Ordering::Release);
    }

    /// Whether the strategy thread acknowledged a drain the executor has not persisted.
    #[inline]
    pub fn flush_pending(&self) -> bool {
        self.drained.load(Ordering::Acquire) != self.flushed.load(Ordering::Relaxed)
    }

    /// The executor thread acknowledges what the strategy thread acknowledged.
    pub fn ack_flushed(&self) {
        let drained = self.drained.load(Ordering::Acquire);
        self.flushed.store(drained, Ordering::Release);
    }
}

/// When and how often the strategy thread decided, kept on that thread and published to the
/// [`Handover`] at housekeeping (never an atomic per update).
#[derive(Debug, Default, Clone, Copy)]
pub struct Decisions {
    /// The run clock's zero on `CLOCK_MONOTONIC` (0: a recording's clock, whose times are not
    /// wall times).
    pub origin_ns: u64,
    /// Whether the gate was open at the last update.
    pub open: bool,
    /// The last update decided on (run clock).
    pub last: u64,
    /// Updates decided on.
    pub count: u64,
}

impl Decisions {
    /// A counter for `clock`.
    pub fn on(clock: &RunClock) -> Self {
        Self {
            origin_ns: match clock {
                RunClock::Wall(c) => sniperforge_host::clock::instant_ns(c.origin()),
                RunClock::Recorded(_) => 0,
            },
            ..Self::default()
        }
    }

    /// An update decided on at `at` (run clock); publishes the first one after the gate opened.
    #[inline]
    pub fn decided(&mut self, at: u64, handover: &Handover) {
        if !self.open {
            self.open = true;
            handover
                .first_decision_ns
                .store(self.origin_ns + at, Ordering::Relaxed);
        }
        self.last = at;
        self.count += 1;
    }

    /// Publishes the count and the last decision.
    pub fn publish(&self, handover: &Handover) {
        if self.count > 0 {
            handover
                .last_decision_ns
                .store(self.origin_ns + self.last, Ordering::Relaxed);
        }
        handover.decided.store(self.count, Ordering::Relaxed);
    }
}

/// The strategy and what drives it on the strategy thread.
#[derive(Debug)]
pub struct StrategyWorker {
    strategy: Box<Strategy>,
    clock: RunClock,
    gate: Arc<Gate>,
    live: Option<LiveRunner>,
    fills: Vec<Decision>,
    malformed: u64,
    decisions: Decisions,
}

impl StrategyWorker {
    /// `strategy` on `clock`, trading while `gate` is open; `live` sends its orders.
    pub fn new(
        strategy: Box<Strategy>,
        clock: RunClock,
        gate: Arc<Gate>,
        live: Option<LiveRunner>,
    ) -> Self {
        Self {
            decisions: Decisions::on(&clock),
            strategy,
            clock,
            gate,
            live,
            fills: Vec::with_capacity(16),
            malformed: 0,
        }
    }

    /// The strategy.
    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The strategy and the live runner, for hot configuration changes.
    pub fn parts_mut(&mut self) -> (&mut Strategy, Option<&mut LiveRunner>) {
        (&mut self.strategy, self.live.as_mut())
    }

    /// The live runner's outputs, when live.
    pub fn live_outputs(&self) -> Option<serde_json::Value> {
        self.live.as_ref().map(LiveRunner::outputs)
    }

    /// Updates that did not decode.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    fn dispatch(&mut self, out: &mut Vec<Decision>) {
        if let Some(live) = &mut self.live {
            let now = self.clock.now_ns();
            live.dispatch(&mut self.strategy, out, now, &mut self.fills);
            out.append(&mut self.fills);
        }
    }
}

impl super::Worker for StrategyWorker {
    #[inline]
    fn on_account(&mut self, update: &AccountUpdate, out: &mut Vec<Decision>) -> [u64; 4] {
        self.clock.advance(update.received_at);
        if !self.gate.open() {
            // Paused, halted or in standby: the market stays current, nothing is decided on it.
            self.decisions.open = false;
            if self.strategy.load(update).is_err() {
                self.malformed += 1;
            }
            // Orders already in flight still fill when due, at this update's time (on a
            // recording's clock the same on every replay, not whenever the thread goes idle).
            let _ = self.strategy.process(&Event::Tick, &self.clock, out);
            if !out.is_empty() {
                self.dispatch(out);
            }
            let at = self.clock.now_ns();
            return [update.received_at, at, at, at];
        }
        if self
            .strategy
            .process_update(update, &self.clock, out)
            .is_err()
        {
            self.malformed += 1;
        }
        if !out.is_empty() {
            self.dispatch(out);
        }
        let s = self.strategy.stamps();
        self.decisions.decided(s.decided_at, &self.gate.handover);
        [s.received_at, s.decoded_at, s.detected_at, s.decided_at]
    }

    fn on_event(&mut self, event: FeedEvent, out: &mut Vec<Decision>) {
        match event {
            FeedEvent::Account(u) => {
                self.on_account(&u, out);
            }
            FeedEvent::Slot(slot) => self.strategy.confirm_slot(slot),
            // A whole snapshot first, then one scan: nothing is decided on half of it.
            FeedEvent::Resync(accounts) => {
                for u in &accounts {
                    self.malformed += u64::from(self.strategy.load(u).is_err());
                }
                if self.gate.open() {
                    self.strategy.scan_all(&self.clock, out);
                    self.dispatch(out);
                }
            }
            FeedEvent::Down(why) => {
                tracing::warn!(%why, "feed down: nothing is decided until it resynchronises");
            }
        }
    }

    fn tick(&mut self, out: &mut Vec<Decision>) {
        let _ = self.strategy.process(&Event::Tick, &self.clock, out);
        // Live results free their order slots as soon as the thread is idle, not only at the
        // next housekeeping.
        if let Some(live) = &mut self.live {
            live.collect(&mut self.strategy, self.clock.now_ns(), out);
        }
    }

    fn housekeeping(&mut self, out: &mut Vec<Decision>) {
        // Live orders finish whether or not the bot still takes new ones.
        if let Some(live) = &mut self.live {
            live.collect(&mut self.strategy, self.clock.now_ns(), out);
        }
        self.decisions.publish(&self.gate.handover);
    }

    fn quiesce(&mut self) -> bool {
        let handover = &self.gate.handover;
        if !handover.drain_pending() || self.gate.open() || self.strategy.open_orders() > 0 {
            return false;
        }
        self.decisions.publish(handover);
        handover.ack_drained();
        true
    }
}
