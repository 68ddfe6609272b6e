//! The arbitrage worker: the engine's strategy on the strategy thread, with live execution
//! when configured. The arbitrage bots and `bench latency` run this same worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::strategy::{Clock, Decision, Event, Strategy};

use crate::feed::{FeedEvent, RunClock};
use sniperforge_solana::live::LiveRunner;

/// Whether the strategy may trade: paused by the operator, halted by a loss limit. While
/// closed, updates keep the market current but nothing is decided.
#[derive(Debug, Default)]
pub struct Gate {
    /// The operator paused the bot.
    pub paused: AtomicBool,
    /// A loss limit stopped trading (set by the strategy thread as it books a fill, and by the
    /// executor thread as it books one).
    pub halted: AtomicBool,
}

impl Gate {
    /// Whether decisions may be taken.
    #[inline]
    pub fn open(&self) -> bool {
        !self.paused.load(Ordering::Relaxed) && !self.halted.load(Ordering::Relaxed)
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
            // Paused or halted: the market stays current, nothing is decided on it.
            if self.strategy.load(update).is_err() {
                self.malformed += 1;
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
    }
}
