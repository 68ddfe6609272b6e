//! Backtests: a bot's own runtime over a recording, on the recording's clock, and what it
//! would have earned. The same configuration and recording give the same report, byte for
//! byte: it holds no wall-clock time and no measured latency (its latency is the modelled
//! `paper_latency_us`); what the run measured goes to a timing file of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::bot::{BotFactory, BotOptions};
use crate::portfolio::FillRecord;

mod report;
pub use report::{pnl_svg, report_md, sweep_md};

/// One backtest: a configuration over a recording.
#[derive(Debug, Clone)]
pub struct Backtest {
    /// The configuration (as its file holds it).
    pub config: Value,
    /// The parameters this run sets over it (a sweep's: `section.field` → value).
    pub params: BTreeMap<String, Value>,
    /// The recording (`sniperforge record` writes one).
    pub recording: PathBuf,
    /// The modelled decision-to-fill latency, µs (`None`: the configuration's
    /// `paper_latency_us`).
    pub latency_us: Option<u64>,
    /// A real market's token table (a recording of a Solana node; `None`: the simulator's).
    pub markets: Option<sniperforge_solana::Markets>,
    /// Longest a run may take, wall clock.
    pub timeout: Duration,
    /// Where the run keeps the bot's state while it runs (emptied first, removed after).
    pub work_dir: PathBuf,
}

pub use sniperforge_protocol::backtests::backtest_runs;
use sniperforge_protocol::backtests::run_config;

/// Routes a report lists (the best by PnL; the count says how many there were).
pub const ROUTES_LISTED: usize = 200;

/// Percentiles of a latency, µs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

impl Spread {
    fn of(mut v: Vec<u64>) -> Self {
        if v.is_empty() {
            return Self::default();
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.5),
            p99: at(0.99),
            max: v[v.len() - 1],
        }
    }
}

/// One route's trades.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteLine {
    /// The route's name.
    pub route: String,
    /// Its trades.
    pub trades: u64,
    /// With a profit.
    pub wins: u64,
    /// Failed at fill time.
    pub failed: u64,
    /// Its PnL, USD.
    pub pnl_usd: f64,
}

/// What a backtest found: everything in it follows from the configuration and the recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The bot's id and type.
    pub bot_id: String,
    /// Its type.
    pub bot_type: String,
    /// The parameters a sweep set for this run (`section.field` → value).
    pub params: BTreeMap<String, Value>,
    /// The recording's file name and size.
    pub recording: String,
    /// Its size, bytes.
    pub recording_bytes: u64,
    /// Updates replayed.
    pub updates: u64,
    /// The recording's span, ms (first update to last fill's clock).
    pub span_ms: f64,
    /// The modelled decision-to-fill latency, µs.
    pub latency_model_us: u64,
    /// Confirmed opportunities (the exact quotes confirmed them): executed or rejected.
    pub opportunities_seen: u64,
    /// Orders sent to the paper executor.
    pub orders: u64,
    /// Opportunities the risk gates stopped, by gate.
    pub rejected: BTreeMap<String, u64>,
    /// Fills booked.
    pub trades: u64,
    /// Orders still open when the recording ended (the market stops before they were due).
    pub open_at_end: u64,
    /// Fills with a profit.
    pub wins: u64,
    /// Fills with a loss.
    pub losses: u64,
    /// Routes that failed at fill time.
    pub failed: u64,
    /// `wins / trades` (`None`: no trades).
    pub win_rate: Option<f64>,
    /// PnL, USD (fees taken off).
    pub pnl_usd: f64,
    /// Fees, USD.
    pub fee_usd: f64,
    /// Inputs traded, USD.
    pub volume_usd: f64,
    /// The deepest fall of the cumulative PnL below its running peak (0 included), USD.
    pub max_drawdown_usd: f64,
    /// The best and worst fill, USD.
    pub best_usd: f64,
    /// The worst fill, USD.
    pub worst_usd: f64,
    /// Latency per stage on the recording's clock, µs: ingress to decision (0: the strategy's
    /// own time is not modelled; `timing.json` has it measured) and decision to fill (at
    /// least the modelled latency: a due order fills at the first update at or after it).
    pub latency_us: BTreeMap<String, Spread>,
    /// Routes by PnL, best first (the best [`ROUTES_LISTED`]).
    pub routes: Vec<RouteLine>,
    /// Routes traded in all.
    pub routes_total: u64,
    /// Why the bot stopped trading before the end (a loss limit), if it did.
    pub halted: Option<String>,
}

/// A run's report, its cumulative PnL by recording time (ms, USD) and what was measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report (deterministic).
    pub report: Report,
    /// The cumulative PnL after each fill: (ms since the recording's start, USD).
    pub equity: Vec<(f64, f64)>,
    /// What the run measured (wall time, throughput, the strategy's stage latencies).
    pub timing: Value,
    /// The fills, as the bot journaled them (lines of JSON).
    pub fills: String,
}

/// Runs `spec`: the bot replays the recording as fast as it takes it, then stops; its
/// journal and counters make the report.
pub async fn run(spec: &Backtest) -> Result<Outcome, String> {
    let valid = run_config(&spec.config, &spec.params, spec.latency_us)?;
    let latency_model_us = valid.params.execution().map_or(0, |e| e.paper_latency_us);
    let recording_bytes = std::fs::metadata(&spec.recording)
        .map_err(|e| format!("{}: {e}", spec.recording.display()))?
        .len();
    // A fresh state directory: books or a journal left from another run would carry on.
    let state = spec.work_dir.clone();
    if state.exists() {
        std::fs::remove_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    }
    std::fs::create_dir_all(&state).map_err(|e| format!("{}: {e}", state.display()))?;
    let bot_id = valid.config.bot_id.clone();
    let bot_type = valid.config.bot_type;
    let bot = BotFactory::create_bot(
        valid,
        BotOptions {
            state_dir: state.clone(),
            feed: format!("replay:{}", spec.recording.display()),
            replay_max_speed: true,
            solana: spec
                .markets
                .clone()
                .map(|m| sniperforge_solana::SolanaOptions {
                    rpc_url: String::new(),
                    ws_url: None,
                    commitment: "confirmed".into(),
                    markets: Some(m),
                    ca: None,
                    jito: None,
                    grpc: None,
                }),
            seed: 7,
            sim_rate: None,
        },
    )
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    bot.start().await.map_err(|e| e.to_string())?;
    let deadline = started + spec.timeout;
    // To the recording's end, then until the strategy has taken every update.
    let mut halted = None;
    loop {
        let health = bot.health_check().await;
        let m = bot.metrics().await;
        let custom = |k: &str| m.custom_metrics.get(k).copied().unwrap_or(0.0);
        let ended = health
            .reasons
            .iter()
            .any(|r| r.contains("replayed to its end"));
        if let Some(bad) = health
            .reasons
            .iter()
            .find(|r| r.starts_with("recording ") && !r.contains("replayed to its end"))
        {
            let _ = bot.stop().await;
            return Err(bad.clone());
        }
        // A loss limit halts trading, not the replay: the market runs to the recording's end
        // (orders in flight fill when due), so a halted run is as repeatable as any.
        if let sniperforge_protocol::wire::BotStatus::Error(reason) = bot.status().await {
            halted = Some(reason);
        }
        if ended && custom("updates_processed") >= custom("replayed_updates") {
            break;
        }
        if Instant::now() >= deadline {
            let _ = bot.stop().await;
            return Err(format!(
                "the backtest ran past {} s (--timeout-s): {} of the recording's updates taken",
                spec.timeout.as_secs(),
                custom("updates_processed")
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bot.stop().await.map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let m = bot.metrics().await;
    let fills = std::fs::read_to_string(state.join(crate::portfolio::FILLS)).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&state);
    let records: Vec<FillRecord> = fills
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let custom = |k: &str| m.custom_metrics.get(k).copied().unwrap_or(0.0) as u64;
    let rejected: BTreeMap<String, u64> = sniperforge_engine::strategy::Rejection::ALL
        .iter()
        .map(|g| (g.name().to_string(), custom(g.metric())))
        .collect();
    let mut report = summarise(&records);
    report.bot_id = bot_id;
    report.bot_type = bot_type.as_str().to_string();
    report.recording = spec
        .recording
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    report.recording_bytes = recording_bytes;
    report.updates = custom("replayed_updates");
    report.latency_model_us = latency_model_us;
    report.orders = m.trades_executed;
    report.opportunities_seen = m.trades_executed + custom("opportunities_rejected");
    report.rejected = rejected;
    report.open_at_end = m.trades_executed.saturating_sub(report.trades);
    report.halted = halted;
    report.params = spec.params.clone();
    let equity = equity(&records);
    let secs = wall.as_secs_f64();
    let timing = serde_json::json!({
        "wall_ms": wall.as_millis() as u64,
        "updates": report.updates,
        "updates_per_s": if secs > 0.0 { (report.updates as f64 / secs).round() } else { 0.0 },
        "wall_us_per_update": if report.updates > 0 { (secs * 1e6 / report.updates as f64 * 1000.0).round() / 1000.0 } else { 0.0 },
        "cpu_usage_pct": m.cpu_usage,
        "memory_bytes": m.memory_usage,
        "note": "measured on this machine for this run, start and stop included: differs between runs (report.json does not). The hot path's per-stage latency on real time is what `sniperforge bench` measures.",
    });
    Ok(Outcome {
        report,
        equity,
        timing,
        fills,
    })
}

/// The cumulative PnL after each fill, by the fill's time on the recording's clock.
fn equity(records: &[FillRecord]) -> Vec<(f64, f64)> {
    let mut cum = 0.0;
    records
        .iter()
        .map(|r| {
            cum += r.pnl_usd;
            (r.clock_ns as f64 / 1e6, cum)
        })
        .collect()
}

/// The report's sums over the journaled fills (in journal order).
pub fn summarise(records: &[FillRecord]) -> Report {
    let mut r = Report {
        trades: records.len() as u64,
        ..Report::default()
    };
    let (mut cum, mut peak) = (0.0f64, 0.0f64);
    let mut routes: BTreeMap<String, RouteLine> = BTreeMap::new();
    let (mut ingress, mut fill) = (Vec::new(), Vec::new());
    for (i, f) in records.iter().enumerate() {
        let failed = f.amount_out.is_none();
        if failed {
            r.failed += 1;
        } else if f.pnl_usd > 0.0 {
            r.wins += 1;
        } else if f.pnl_usd < 0.0 {
            r.losses += 1;
        }
        r.pnl_usd += f.pnl_usd;
        r.fee_usd += f.fee_usd;
        r.volume_usd += f.volume_usd;
        (r.best_usd, r.worst_usd) = if i == 0 {
            (f.pnl_usd, f.pnl_usd)
        } else {
            (r.best_usd.max(f.pnl_usd), r.worst_usd.min(f.pnl_usd))
        };
        cum += f.pnl_usd;
        peak = peak.max(cum);
        r.max_drawdown_usd = r.max_drawdown_usd.max(peak - cum);
        r.span_ms = r.span_ms.max(f.clock_ns as f64 / 1e6);
        let name = f
            .route
            .clone()
            .unwrap_or_else(|| format!("cycle {}", f.cycle));
        let line = routes.entry(name.clone()).or_insert_with(|| RouteLine {
            route: name,
            ..RouteLine::default()
        });
        line.trades += 1;
        line.pnl_usd += f.pnl_usd;
        if failed {
            line.failed += 1;
        } else if f.pnl_usd > 0.0 {
            line.wins += 1;
        }
        ingress.push(f.ingress_us);
        fill.push(f.latency_us);
    }
    r.win_rate = (r.trades > 0).then(|| r.wins as f64 / r.trades as f64);
    let mut routes: Vec<RouteLine> = routes.into_values().collect();
    // Best first; ties by name (the map's order), so the order never depends on a sort's
    // stability.
    routes.sort_by(|a, b| {
        b.pnl_usd
            .total_cmp(&a.pnl_usd)
            .then_with(|| a.route.cmp(&b.route))
    });
    r.routes_total = routes.len() as u64;
    routes.truncate(ROUTES_LISTED);
    r.routes = routes;
    r.latency_us = BTreeMap::from([
        ("ingress_to_decision".to_string(), Spread::of(ingress)),
        ("decision_to_fill".to_string(), Spread::of(fill)),
    ]);
    r
}

/// Writes `report.json`, `report.md`, `pnl.svg`, `timing.json` and `fills.jsonl` into `out`.
pub fn write(out: &Path, o: &Outcome) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut json = serde_json::to_string_pretty(&o.report).map_err(std::io::Error::other)?;
    json.push('\n');
    std::fs::write(out.join("report.json"), json)?;
    std::fs::write(out.join("report.md"), report_md(&o.report))?;
    std::fs::write(out.join("pnl.svg"), pnl_svg(&o.equity, &o.report.bot_id))?;
    let mut timing = serde_json::to_string_pretty(&o.timing).map_err(std::io::Error::other)?;
    timing.push('\n');
    std::fs::write(out.join("timing.json"), timing)?;
    std::fs::write(out.join("fills.jsonl"), &o.fills)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(pnl_usd: f64, failed: bool, route: &str, t_ms: u64) -> FillRecord {
        FillRecord {
            at_ms: 0,
            bot_id: "b".into(),
            token: "SOL".into(),
            amount_in: 1.0,
            amount_out: (!failed).then_some(1.0),
            pnl: 0.0,
            pnl_usd,
            cycle: 0,
            expected_out: 1.0,
            slot: 0,
            latency_us: 400,
            seq: 0,
            fee: 0.0,
            fee_usd: 0.01,
            volume_usd: 100.0,
            route: Some(route.into()),
            signature: None,
            clock_ns: t_ms * 1_000_000,
            ingress_us: 0,
        }
    }

    #[test]
    fn sums_drawdown_and_routes() {
        // The best and worst start from the first fill, whatever it is.
        let r = summarise(&[fill(0.0, true, "b", 0), fill(-5.0, false, "b", 1)]);
        assert_eq!((r.best_usd, r.worst_usd), (0.0, -5.0));
        let r = summarise(&[fill(-2.0, false, "b", 0), fill(-5.0, false, "b", 1)]);
        assert_eq!((r.best_usd, r.worst_usd), (-2.0, -5.0));
        let r = summarise(&[
            fill(3.0, false, "a", 1),
            fill(-5.0, false, "b", 2),
            fill(0.0, true, "b", 3),
            fill(1.0, false, "a", 4),
        ]);
        assert_eq!((r.trades, r.wins, r.losses, r.failed), (4, 2, 1, 1));
        assert_eq!(r.pnl_usd, -1.0);
        assert_eq!(r.win_rate, Some(0.5));
        assert_eq!(r.max_drawdown_usd, 5.0);
        assert_eq!((r.best_usd, r.worst_usd), (3.0, -5.0));
        assert_eq!(r.routes[0].route, "a");
        assert_eq!(r.routes[0].pnl_usd, 4.0);
        assert_eq!(r.routes[1].failed, 1);
        assert_eq!(r.latency_us["decision_to_fill"].p99, 400);
        assert_eq!(r.span_ms, 4.0);
    }
}
