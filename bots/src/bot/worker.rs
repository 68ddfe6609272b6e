//! The runtime's two sides of a market bot: the strategy thread's worker (the arbitrage strategy
//! or an observing engine, the loss limits checked as fills are booked, the observers'
//! publishing) and the executor thread's sink (booking, the fills journal, the daily PnL, the
//! feed's health and counters).

use super::*;

/// The loss limits of a configuration and today's PnL: the emergency stop's one rule, kept by
/// the strategy thread (which halts before the next decision) and by the executor thread
/// (which books, persists and reports).
#[derive(Debug, Clone)]
pub(super) struct LossGuard {
    enabled: bool,
    max_daily_usd: f64,
    stop_loss_bps: f64,
    day: i64,
    daily_pnl_usd: f64,
}

impl LossGuard {
    pub(super) fn of(cfg: &ValidatedConfig, day: i64, daily_pnl_usd: f64) -> Self {
        Self {
            enabled: cfg.params.risk().is_some_and(|r| r.emergency_stop_enabled),
            max_daily_usd: match (cfg.params.risk(), cfg.params.portfolio()) {
                (Some(r), _) => r.max_daily_loss_usd,
                (None, Some((_, _, risk))) => risk.max_daily_loss_usd,
                (None, None) => 0.0,
            },
            stop_loss_bps: cfg.params.risk().map_or(0.0, |r| r.stop_loss_bps as f64),
            day,
            daily_pnl_usd,
        }
    }

    /// A reason when a loss limit is reached (`trade_loss_bps`: the loss of the trade just
    /// booked).
    fn reason(&self, trade_loss_bps: Option<f64>) -> Option<String> {
        if !self.enabled {
            return None;
        }
        if self.daily_pnl_usd <= -self.max_daily_usd {
            return Some(format!(
                "daily loss limit reached: {:.2} USD lost today, limit {:.2}",
                -self.daily_pnl_usd, self.max_daily_usd
            ));
        }
        match trade_loss_bps {
            Some(loss) if loss >= self.stop_loss_bps => Some(format!(
                "stop loss: a trade lost {loss:.0} bps, limit {:.0}",
                self.stop_loss_bps
            )),
            _ => None,
        }
    }

    /// Books a fill; a reason when it reaches a limit.
    fn book(&mut self, fill: &sniperforge_engine::strategy::Fill) -> Option<String> {
        let today = today();
        if self.day != today {
            self.day = today;
            self.daily_pnl_usd = 0.0;
        }
        self.daily_pnl_usd += fill.pnl_usd;
        let loss_bps = (fill.pnl < 0).then(|| {
            (-fill.pnl) as f64 * 10_000.0 / fill.order.opportunity.amount_in.max(1) as f64
        });
        self.reason(loss_bps)
    }
}

/// The emergency stop check on the shared state: a reason when a loss limit is reached.
pub(super) fn loss_limit_reason(shared: &Shared, trade_loss_bps: Option<f64>) -> Option<String> {
    LossGuard::of(&shared.config, shared.day, shared.daily_pnl_usd).reason(trade_loss_bps)
}

/// What a market bot runs on each update.
pub(super) enum Engine {
    /// The arbitrage strategy (decisions, paper fills).
    Strategy(Box<Strategy>),
    /// The dashboard's market view.
    View(Box<crate::dashboard::MarketView>),
    /// The portfolio manager's books.
    Portfolio(Box<crate::portfolio::Portfolio>),
    /// The ML analytics: samples, models, predictions.
    Ml(Box<crate::ml::Analytics>),
    /// The cross-chain book and the venue stream its reader thread keeps current.
    Cross(
        Box<crate::cross_chain::CrossChain>,
        Arc<crate::cross_chain::VenueFeed>,
    ),
}

impl Engine {
    /// Applies an update to an observing engine (every one but the strategy, which decides).
    fn observe(&mut self, update: &AccountUpdate) -> Result<(), BotError> {
        match self {
            Self::Strategy(s) => s
                .load(update)
                .map(|_| ())
                .map_err(|e| BotError::Config(e.to_string())),
            Self::View(v) => v.apply(update).map(|_| ()),
            Self::Portfolio(p) => p.apply(update),
            Self::Ml(a) => a.apply(update),
            Self::Cross(c, _) => c.apply(update),
        }
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Books a strategy's decision; `true` when a loss limit halts trading.
fn book(shared: &Mutex<Shared>, d: &Decision) -> bool {
    let mut g = lock(shared);
    match d {
        Decision::Execute(_) => g.trades += 1,
        Decision::Filled(fill) => {
            if fill.realised_out.is_some() {
                g.filled += 1;
            } else {
                g.failed += 1;
            }
            g.profit_usd += fill.pnl_usd;
            let mut guard = LossGuard::of(&g.config, g.day, g.daily_pnl_usd);
            let reason = guard.book(fill);
            (g.day, g.daily_pnl_usd) = (guard.day, guard.daily_pnl_usd);
            if let Some(reason) = reason {
                tracing::error!(bot_id = %g.config.config.bot_id, %reason, "emergency stop");
                let _ = g.status.transition(BotStatus::Error(reason));
                return true;
            }
        }
        Decision::Rejected { reason, .. } => {
            g.opportunities += 1;
            // By gate (a static name each: no allocation after the first).
            let name = reason.metric();
            match g.custom.get_mut(name) {
                Some(n) => *n += 1.0,
                None => {
                    g.custom.insert(name.into(), 1.0);
                }
            }
        }
    }
    false
}

/// The strategy thread's worker of a market bot: the arbitrage strategy, or an observing
/// engine (dashboard, portfolio, ML, cross-chain) with its publishing.
#[allow(clippy::large_enum_variant)] // one per bot; a box would add an indirection per update
pub(super) enum BotWorker {
    Strategy {
        worker: crate::runtime::strategy::StrategyWorker,
        universe: Box<Universe>,
        shared: Arc<Mutex<Shared>>,
        /// The loss limits, checked on this thread so a halt stops the very next decision.
        guard: LossGuard,
        gate: Arc<crate::runtime::strategy::Gate>,
        /// The lease takings the guard has started again from ([`Handover::resumed`]).
        ///
        /// [`Handover::resumed`]: crate::runtime::strategy::Handover::resumed
        resumed: u64,
    },
    Observer {
        engine: Engine,
        clock: crate::feed::RunClock,
        shared: Arc<Mutex<Shared>>,
        malformed: u64,
        last_publish: Option<Instant>,
        /// Closed: the cross-chain book trades nothing (paused, halted, standby).
        gate: Arc<crate::runtime::strategy::Gate>,
    },
}

/// The guard starts again from the daily PnL the previous holder persisted when the lease was
/// taken since it last looked (one atomic load, only when there is something to book: the guard
/// acts on fills alone, so every fill is booked on a rebased guard).
#[inline]
fn rebase_on_takeover(
    guard: &mut LossGuard,
    gate: &crate::runtime::strategy::Gate,
    shared: &Mutex<Shared>,
    resumed: &mut u64,
) {
    let now = gate.handover.resumed.load(Ordering::Acquire);
    if now != *resumed {
        *resumed = now;
        let g = lock(shared);
        *guard = LossGuard::of(&g.config, g.day, g.daily_pnl_usd);
    }
}

/// Books the fills among `out` on the strategy thread's guard; halts the gate at a limit.
fn guard_fills(guard: &mut LossGuard, gate: &crate::runtime::strategy::Gate, out: &[Decision]) {
    for d in out {
        if let Decision::Filled(fill) = d
            && guard.book(fill).is_some()
        {
            gate.halted.store(true, Ordering::Relaxed);
        }
    }
}

impl crate::runtime::Worker for BotWorker {
    #[inline]
    fn on_account(&mut self, update: &AccountUpdate, out: &mut Vec<Decision>) -> [u64; 4] {
        match self {
            Self::Strategy {
                worker,
                guard,
                gate,
                shared,
                resumed,
                ..
            } => {
                let stamps = worker.on_account(update, out);
                if !out.is_empty() {
                    rebase_on_takeover(guard, gate, shared, resumed);
                    guard_fills(guard, gate, out);
                }
                stamps
            }
            // The other engines observe the market: decoded and applied in one step, their
            // view current once it returns.
            Self::Observer {
                engine,
                clock,
                malformed,
                ..
            } => {
                clock.advance(update.received_at);
                if engine.observe(update).is_err() {
                    *malformed += 1;
                }
                let at = sniperforge_engine::strategy::Clock::now_ns(clock);
                [update.received_at, at, at, at]
            }
        }
    }

    fn on_event(&mut self, event: FeedEvent, out: &mut Vec<Decision>) {
        match self {
            Self::Strategy {
                worker,
                guard,
                gate,
                shared,
                resumed,
                ..
            } => {
                worker.on_event(event, out);
                if !out.is_empty() {
                    rebase_on_takeover(guard, gate, shared, resumed);
                    guard_fills(guard, gate, out);
                }
            }
            Self::Observer {
                engine, malformed, ..
            } => match event {
                FeedEvent::Account(u) => {
                    *malformed += u64::from(engine.observe(&u).is_err());
                }
                FeedEvent::Resync(accounts) => {
                    for u in &accounts {
                        *malformed += u64::from(engine.observe(u).is_err());
                    }
                }
                FeedEvent::Down(why) => {
                    tracing::warn!(%why, "feed down: the view waits for it to resynchronise");
                }
                FeedEvent::Slot(_) => {}
            },
        }
    }

    fn tick(&mut self, out: &mut Vec<Decision>) {
        if let Self::Strategy {
            worker,
            guard,
            gate,
            shared,
            resumed,
            ..
        } = self
        {
            worker.tick(out);
            if !out.is_empty() {
                rebase_on_takeover(guard, gate, shared, resumed);
                guard_fills(guard, gate, out);
            }
        }
    }

    fn housekeeping(&mut self, out: &mut Vec<Decision>) {
        match self {
            Self::Strategy {
                worker,
                universe,
                shared,
                guard,
                gate,
                resumed,
            } => {
                worker.housekeeping(out);
                if !out.is_empty() {
                    rebase_on_takeover(guard, gate, shared, resumed);
                    guard_fills(guard, gate, out);
                }
                // A contended lock waits for the next round rather than stall the hot thread.
                let Ok(mut g) = shared.try_lock() else {
                    return;
                };
                if let Some(outputs) = worker.live_outputs() {
                    g.outputs = json!({ "live": outputs });
                }
                g.custom
                    .insert("updates_malformed".into(), worker.malformed() as f64);
                g.housekept = true;
                g.last_housekeeping = Some(Instant::now());
                g.custom
                    .insert("open_orders".into(), worker.strategy().open_orders() as f64);
                let pending = g.pending.take();
                drop(g);
                if let Some(cfg) = pending {
                    *guard = LossGuard::of(&cfg, guard.day, guard.daily_pnl_usd);
                    let (strategy, live) = worker.parts_mut();
                    apply_hot(strategy, universe, &cfg);
                    if let Some(live) = live {
                        live.set(&cfg);
                    }
                }
            }
            Self::Observer {
                engine,
                shared,
                malformed,
                last_publish,
                gate,
                ..
            } => publish_observer(engine, shared, *malformed, last_publish, gate.open()),
        }
    }

    fn quiesce(&mut self) -> bool {
        match self {
            Self::Strategy { worker, .. } => worker.quiesce(),
            // The observers hold no order in flight. (The cross-chain book, its bridge
            // transfers in flight included, lives in this process's memory only: a new instance
            // starts a book of its own, as after any restart.)
            Self::Observer { gate, .. } => {
                if gate.handover.drain_pending() && !gate.open() {
                    gate.handover.ack_drained();
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// An observing engine's housekeeping: hot configuration and what it publishes.
fn publish_observer(
    engine: &mut Engine,
    shared: &Mutex<Shared>,
    malformed: u64,
    last_publish: &mut Option<Instant>,
    trading: bool,
) {
    let mut g = lock(shared);
    g.housekept = true;
    g.last_housekeeping = Some(Instant::now());
    let pending = g.pending.take();
    // Publishing every second where the type has no view of its own.
    let refresh = g.config.params.view().map_or(1_000, |v| v.refresh_ms);
    drop(g);
    match engine {
        Engine::Strategy(_) => {}
        Engine::Ml(analytics) => {
            if let Some(cfg) = pending {
                analytics.set(&cfg);
            }
            if last_publish.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                *last_publish = Some(Instant::now());
                let view = analytics.publish();
                let first = &view["pairs"][0];
                let mut g = lock(shared);
                g.custom
                    .insert("samples".into(), first["samples"].as_f64().unwrap_or(0.0));
                if let Some(p) = first["prediction"].as_object() {
                    for (k, name) in [
                        ("return_bps", "prediction_bps"),
                        ("confidence", "confidence"),
                    ] {
                        if let Some(v) = p.get(k).and_then(Value::as_f64) {
                            g.custom.insert(name.into(), v);
                        }
                    }
                }
                if let Some(r) = first["regime"].as_str() {
                    let code = match r {
                        "calm" => 0.0,
                        "normal" => 1.0,
                        _ => 2.0,
                    };
                    g.custom.insert("regime".into(), code);
                }
                let e = &first["evaluation"];
                for (k, name) in [
                    ("ensemble", "eval_ensemble_rmse_bps"),
                    ("naive_zero_return", "eval_naive_rmse_bps"),
                ] {
                    if let Some(v) = e[k]["rmse_bps"].as_f64() {
                        g.custom.insert(name.into(), v);
                    }
                }
                g.custom
                    .insert("updates_malformed".into(), malformed as f64);
                g.outputs = json!({"ml": view});
            }
        }
        Engine::Cross(book, feed) => {
            if let Some((trading, bridge)) = pending.as_ref().and_then(|c| c.params.cross_chain()) {
                book.set(crate::cross_chain::CrossSettings::of(trading, bridge));
            }
            let quotes = |p: &str| feed.quote(p);
            let before = book.trade_count;
            if trading {
                book.evaluate(&quotes, unix_ms());
            }
            let fresh = book.publish(&quotes);
            let stale: Vec<String> = fresh["pairs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| {
                    p["venue"]["age_ms"]
                        .as_u64()
                        .is_none_or(|a| a > crate::cross_chain::VENUE_STALE.as_millis() as u64)
                })
                .filter_map(|p| p["pair"].as_str().map(String::from))
                .collect();
            let mut g = lock(shared);
            g.trades += book.trade_count - before;
            g.filled += book.trade_count - before;
            g.profit_usd = book.realised_usd;
            g.problems = if stale.is_empty() {
                Vec::new()
            } else {
                vec![format!(
                    "venue stream: no fresh quote for {} ({})",
                    stale.join(", "),
                    if feed.connected.load(Ordering::Relaxed) {
                        "connected".to_string()
                    } else {
                        feed.last_error()
                    }
                )]
            };
            let max_drift = book.drift_pct().values().copied().fold(0.0, f64::max);
            g.custom.insert("inventory_drift_pct".into(), max_drift);
            g.custom
                .insert("transfers_pending".into(), book.pending_transfers() as f64);
            g.custom.insert(
                "venue_malformed".into(),
                feed.malformed.load(Ordering::Relaxed) as f64,
            );
            g.custom.insert(
                "venue_connects".into(),
                feed.connects.load(Ordering::Relaxed) as f64,
            );
            g.custom
                .insert("updates_malformed".into(), malformed as f64);
            g.outputs = json!({"cross_chain": fresh});
        }
        Engine::Portfolio(portfolio) => {
            if let Some((p, r, risk)) = pending.as_ref().and_then(|c| c.params.portfolio()) {
                portfolio.set(crate::portfolio::PortfolioSettings::of(p, r, risk));
            }
            if last_publish.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                *last_publish = Some(Instant::now());
                let book = portfolio.publish(unix_ms());
                let num = |k: &str| book[k].as_f64().unwrap_or(0.0);
                let mut g = lock(shared);
                for k in ["total_value_usd", "realised_pnl_usd", "unrealised_pnl_usd"] {
                    g.custom.insert(k.into(), num(k));
                }
                g.custom.insert(
                    "portfolio_alerts".into(),
                    book["alerts"].as_array().map_or(0, Vec::len) as f64,
                );
                g.custom.insert(
                    "plan_trades".into(),
                    book["plan"].as_array().map_or(0, Vec::len) as f64,
                );
                g.custom
                    .insert("updates_malformed".into(), malformed as f64);
                g.profit_usd = num("realised_pnl_usd");
                g.outputs = json!({"portfolio": book});
            }
        }
        Engine::View(view) => {
            if let Some(v) = pending.as_ref().and_then(|c| c.params.view()) {
                view.set(crate::dashboard::ViewSettings::of(v));
            }
            if last_publish.is_none_or(|t| t.elapsed() >= Duration::from_millis(refresh)) {
                *last_publish = Some(Instant::now());
                let market = view.publish(unix_ms());
                let alerts = market["alerts"].as_array().map_or(0, Vec::len);
                let mut g = lock(shared);
                g.custom
                    .insert("max_spread_bps".into(), view.max_spread_bps());
                g.custom.insert("market_alerts".into(), alerts as f64);
                g.custom.insert(
                    "opportunities_listed".into(),
                    market["opportunities"].as_array().map_or(0, Vec::len) as f64,
                );
                g.custom
                    .insert("updates_applied".into(), view.updates() as f64);
                g.custom
                    .insert("updates_malformed".into(), malformed as f64);
                g.outputs = json!({"market": market});
            }
        }
    }
}

/// What a fill of one cycle is booked under.
pub(super) struct Start {
    /// The token it starts and ends in (symbol, decimals).
    pub(super) token: Token,
    /// The route's name, as fills carry it.
    pub(super) route: Arc<str>,
}

/// The executor thread's side of a market bot: books decisions, journals fills for the
/// portfolio manager, persists the books (daily PnL and counters), and reports the feed's
/// health and counters.
pub(super) struct BotSink {
    pub(super) shared: Arc<Mutex<Shared>>,
    pub(super) gate: Arc<crate::runtime::strategy::Gate>,
    pub(super) state_dir: PathBuf,
    pub(super) bot_id: String,
    /// The start mint's token and the route's name of every cycle, by cycle id (arbitrage
    /// only).
    pub(super) starts: Option<Vec<Option<Start>>>,
    pub(super) journal: Vec<crate::portfolio::FillRecord>,
    pub(super) report: crate::feed::SourceReport,
    pub(super) runtime: Arc<crate::runtime::RuntimeStats>,
    pub(super) ingress: Arc<crate::runtime::ingress::IngressStats>,
    pub(super) seen: u64,
    /// The books last written: written again only on change.
    pub(super) saved_books: Option<super::Books>,
    /// When the fills journal was last synced to disk.
    pub(super) journal_synced: std::time::Instant,
}

impl BotSink {
    /// Writes the books (when changed) and the fills journal (synced when `sync`): only
    /// while this instance holds the trading lease (a standby's files are the trading one's).
    fn persist(&mut self, sync: bool) {
        if self.starts.is_none() || !self.gate.handover.leased.load(Ordering::Acquire) {
            return;
        }
        // Fills for the portfolio manager and, through the agent, the gateway: numbered here,
        // once, in the order they were booked, after the highest number the journal (whichever
        // instance wrote it) or the books hold; then written; then the books, which count
        // them. Kept for the next try when the write fails (with their numbers).
        let numbered = !self.journal.iter().any(|f| f.seq == 0) || self.number_fills();
        if numbered {
            match crate::portfolio::append_fills(&self.state_dir, &self.journal) {
                Ok(()) => self.journal.clear(),
                Err(e) => tracing::warn!(error = %e, "fills not journaled"),
            }
        }
        // The books whether or not the journal could be written (the loss limit reads them);
        // their highest number is at least the journal's, so none comes round again.
        let books = super::Books::of(&lock(&self.shared));
        if self.saved_books != Some(books) {
            match super::save_books(&self.state_dir, &books) {
                Ok(()) => self.saved_books = Some(books),
                Err(e) => tracing::warn!(error = %e, "books not persisted"),
            }
        }
        if sync {
            self.journal_synced = std::time::Instant::now();
            if let Err(e) = crate::portfolio::sync_fills(&self.state_dir) {
                tracing::warn!(error = %e, "fills journal not synced");
            }
        }
    }
}

impl BotSink {
    /// Numbers the fills not numbered yet, after the highest number the journal's tail
    /// (whichever instance wrote it) or the books hold; `false` (none numbered, kept for the
    /// next try) when the journal's tail is unreadable or the numbers would pass 2^63 − 1.
    fn number_fills(&mut self) -> bool {
        let tail = match crate::portfolio::last_seq(&self.state_dir) {
            Ok(last) => last,
            Err(e) => {
                tracing::warn!(error = %e, "fills not journaled: the journal's last number is unreadable");
                return false;
            }
        };
        let mut g = lock(&self.shared);
        let mut n = g.last_seq.max(tail);
        let unnumbered = self.journal.iter().filter(|f| f.seq == 0).count() as u64;
        if n.checked_add(unnumbered)
            .is_none_or(|last| i64::try_from(last).is_err())
        {
            tracing::error!(
                last = n,
                "fills not journaled: their numbers would pass 2^63 - 1"
            );
            return false;
        }
        for f in self.journal.iter_mut().filter(|f| f.seq == 0) {
            n += 1;
            f.seq = n;
        }
        g.last_seq = n;
        true
    }
}

/// How often the fills journal is synced to disk at most.
const JOURNAL_SYNC: std::time::Duration = std::time::Duration::from_secs(1);

impl BotSink {
    fn record(
        &self,
        fill: &sniperforge_engine::strategy::Fill,
    ) -> Option<crate::portfolio::FillRecord> {
        let start = self
            .starts
            .as_ref()?
            .get(fill.order.opportunity.cycle.0 as usize)?
            .as_ref()?;
        let token = &start.token;
        let unit = 10f64.powi(i32::from(token.decimals));
        let o = &fill.order.opportunity;
        Some(crate::portfolio::FillRecord {
            seq: 0,
            at_ms: unix_ms(),
            bot_id: self.bot_id.clone(),
            token: token.symbol.to_string(),
            amount_in: o.amount_in as f64 / unit,
            amount_out: fill.realised_out.map(|o| o as f64 / unit),
            pnl: fill.pnl as f64 / unit,
            pnl_usd: fill.pnl_usd,
            cycle: o.cycle.0,
            expected_out: o.expected_out as f64 / unit,
            slot: o.slot,
            latency_us: fill.executed_at.saturating_sub(fill.order.decided_at) / 1_000,
            fee: fill.fee as f64 / unit,
            fee_usd: fill.fee_usd,
            volume_usd: fill.volume_usd,
            route: Some(start.route.to_string()),
            signature: fill.signature.map(|s| bs58::encode(s).into_string()),
            clock_ns: fill.executed_at,
            ingress_us: fill.order.decided_at.saturating_sub(fill.order.received_at) / 1_000,
        })
    }
}

impl crate::runtime::Sink for BotSink {
    fn on_decision(&mut self, decision: &Decision, _now: u64) {
        if let Decision::Filled(fill) = decision
            && let Some(r) = self.record(fill)
        {
            self.journal.push(r);
        }
        if book(&self.shared, decision) {
            self.gate.halted.store(true, Ordering::Relaxed);
        }
    }

    fn on_interval(&mut self, stages: &[Histogram<u64>]) {
        let mut g = lock(&self.shared);
        for (shared_h, h) in g.interval.iter_mut().zip(stages) {
            let _ = shared_h.add(h);
        }
    }

    fn housekeeping(&mut self) {
        let processed = self.runtime.processed.load(Ordering::Relaxed);
        let problems = self.report.problems();
        let counters = self.report.counters();
        let mut g = lock(&self.shared);
        if processed != self.seen {
            self.seen = processed;
            g.last_feed = Some(Instant::now());
        }
        g.feed_problems = problems;
        for (name, value) in counters {
            g.custom.insert(name.into(), value);
        }
        g.custom
            .insert("updates_processed".into(), processed as f64);
        g.custom.insert(
            "ring_coalesced".into(),
            self.ingress.coalesced.load(Ordering::Relaxed) as f64,
        );
        g.custom.insert(
            "decisions_dropped".into(),
            self.runtime.decisions_dropped.load(Ordering::Relaxed) as f64,
        );
        let pin_errors = self
            .runtime
            .pin_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for e in pin_errors {
            if !g.runtime.contains(&e) {
                g.runtime.push(e);
            }
        }
        drop(g);
        let sync = self.journal_synced.elapsed() >= JOURNAL_SYNC;
        self.persist(sync);
    }

    fn flush_requested(&self) -> bool {
        self.gate.handover.flush_pending()
    }

    fn flush(&mut self) {
        self.persist(true);
        self.gate.handover.ack_flushed();
    }

    fn finish(&mut self) {
        lock(&self.shared).runner_alive = false;
        self.persist(true);
        if !self.journal.is_empty() {
            tracing::warn!(
                fills = self.journal.len(),
                "fills booked without the trading lease are not journaled"
            );
            self.journal.clear();
        }
    }
}
