//! `sniperforge bench latency`: the bots' runtime (the same threads, ring, pinning and strategy
//! worker a bot runs), open loop, from the simulator; writes the percentile report (markdown,
//! JSON, one .hgrm per stage, an SVG plot).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use sniperforge_bots::feed::{FeedEvent, RunClock};
use sniperforge_bots::runtime::strategy::{Gate, StrategyWorker};
use sniperforge_bots::runtime::{self, Ingress, Plan, Produce, RuntimeStats, Sink};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    BaseMint, Counters, Decision, Event, ManualClock, MonotonicClock, RiskLimits, Strategy,
    StrategyConfig,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Stages of the latency report: the runtime's, then the executor thread's receipt of an order.
pub const STAGES: [&str; 4] = ["decoded", "detected", "decided", "executed"];

/// What a run measured.
#[derive(Debug)]
pub struct RunReport {
    /// One histogram (ns from ingress) per entry of [`STAGES`].
    pub stages: Vec<Histogram<u64>>,
    /// Updates the feed produced.
    pub produced: u64,
    /// Updates the strategy processed.
    pub processed: u64,
    /// Updates replaced by a newer state of the same account while the ring was full.
    pub coalesced: u64,
    /// Wall time of the run, ns.
    pub elapsed_ns: u64,
    /// Strategy counters at the end.
    pub counters: Counters,
    /// Orders executed (paper).
    pub orders: u64,
    /// Paper PnL in USD.
    pub pnl_usd: f64,
    /// The runtime's placement of its threads, in words.
    pub plan: String,
    /// Pinning that could not be applied, in words.
    pub warnings: Vec<String>,
}

/// Updates generated before the run, handed over on schedule (the simulator's own work stays
/// out of the measured path), each copied into a pooled buffer as a network feed would.
struct Prepared {
    updates: Vec<AccountUpdate>,
    next: usize,
    interval_ns: f64,
}

impl Produce for Prepared {
    fn due(&mut self) -> Option<u64> {
        (self.next < self.updates.len()).then_some((self.next as f64 * self.interval_ns) as u64)
    }

    fn produce(&mut self, ingress: &mut Ingress, at: u64) -> bool {
        let Some(u) = self.updates.get(self.next) else {
            return true;
        };
        self.next += 1;
        let mut data = ingress.buffer_for(u.data.len());
        data.extend_from_slice(&u.data);
        ingress.push(FeedEvent::Account(AccountUpdate {
            data,
            received_at: at,
            ..*u
        }));
        !ingress.is_abandoned()
    }

    fn scheduled(&self) -> bool {
        self.interval_ns > 0.0
    }
}

/// The bench's executor side: orders counted and timed, paper PnL summed, the strategy
/// thread's stage histograms accumulated.
struct Tally {
    stages: Vec<Histogram<u64>>,
    executed: Histogram<u64>,
    orders: u64,
    pnl_usd: f64,
}

impl Sink for Tally {
    fn on_decision(&mut self, decision: &Decision, now: u64) {
        match decision {
            Decision::Execute(order) => {
                self.orders += 1;
                let _ = self
                    .executed
                    .record(now.saturating_sub(order.received_at).max(1));
            }
            Decision::Filled(fill) => self.pnl_usd += fill.pnl_usd,
            Decision::Rejected { .. } => {}
        }
    }

    fn on_interval(&mut self, stages: &[Histogram<u64>]) {
        for (total, h) in self.stages.iter_mut().zip(stages) {
            let _ = total.add(h);
        }
    }

    fn housekeeping(&mut self) {}

    fn finish(&mut self) {}
}

/// The cores a bench run reserves: `[feed, strategy]`, or the strategy's alone (run to
/// completion).
pub fn bench_cores(feed: Option<usize>, strategy: Option<usize>) -> anyhow::Result<Vec<usize>> {
    match (feed, strategy) {
        (Some(f), Some(s)) if f == s => Ok(vec![s]),
        (Some(f), Some(s)) => Ok(vec![f, s]),
        (None, Some(s)) => Ok(vec![s]),
        (None, None) => Ok(Vec::new()),
        (Some(_), None) => anyhow::bail!(
            "--feed-core needs --strategy-core too (alone, --strategy-core runs to completion on that core)"
        ),
    }
}

/// Runs `strategy` in the bots' runtime on `updates` at `rate` for `duration`, placed by
/// `plan`; what it measured.
pub fn run_runtime(
    strategy: Strategy,
    updates: Vec<AccountUpdate>,
    rate: u64,
    duration: Duration,
    plan: &Plan,
) -> anyhow::Result<RunReport> {
    let clock = MonotonicClock::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (ingress, egress) = runtime::channel(runtime::RING_CAPACITY);
    let ingress_stats = Arc::clone(ingress.stats());
    let stats = Arc::new(RuntimeStats::default());
    let feed = runtime::Feed::Produced(
        ingress,
        Box::new(Prepared {
            updates,
            next: 0,
            interval_ns: if rate == 0 { 0.0 } else { 1e9 / rate as f64 },
        }),
    );
    let worker = StrategyWorker::new(
        Box::new(strategy),
        RunClock::Wall(clock),
        Arc::new(Gate::default()),
        None,
    );
    let sink = Tally {
        stages: runtime::STAGES
            .iter()
            .map(|_| sniperforge_protocol::telemetry::latency_histogram())
            .collect(),
        executed: sniperforge_protocol::telemetry::latency_histogram(),
        orders: 0,
        pnl_usd: 0.0,
    };
    let started = Instant::now();
    let running = runtime::start(
        plan,
        feed,
        egress,
        worker,
        sink,
        clock,
        Arc::clone(&stop),
        Arc::clone(&stats),
        "bench",
    )
    .context("starting the runtime")?;
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let (worker, tally) = running.join().map_err(anyhow::Error::msg)?;
    let elapsed_ns = started.elapsed().as_nanos() as u64;
    let mut stages = tally.stages;
    stages.push(tally.executed);
    let mut warnings = plan.warnings.clone();
    warnings.extend(
        stats
            .pin_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned(),
    );
    Ok(RunReport {
        stages,
        produced: ingress_stats.produced.load(Ordering::Relaxed),
        processed: stats.processed.load(Ordering::Relaxed),
        coalesced: ingress_stats.coalesced.load(Ordering::Relaxed),
        elapsed_ns,
        counters: worker.strategy().counters(),
        orders: tally.orders,
        pnl_usd: tally.pnl_usd,
        plan: plan.describe(),
        warnings,
    })
}
use sniperforge_protocol::telemetry::Percentiles;

/// Settings of a latency run.
#[derive(Debug, Clone)]
pub struct LatencyArgs {
    /// Updates per second, scheduled open loop.
    pub rate: u64,
    /// Seconds to run.
    pub duration_s: u64,
    /// Output directory.
    pub out: PathBuf,
    /// Simulator seed.
    pub seed: u64,
    /// Core for the feed thread.
    pub feed_core: Option<usize>,
    /// Core for the strategy thread.
    pub strategy_core: Option<usize>,
    /// Busy-spin instead of parking.
    pub spin: bool,
    /// A recording to replay instead of the simulator.
    pub replay: Option<PathBuf>,
}

/// The strategy of the benchmarks over `base_mints`: routes of up to `max_hops` pools, paper
/// execution after 400 µs, at most 8 orders in flight.
pub fn strategy_on(sim: &mut Simulator, base_mints: Vec<BaseMint>, max_hops: usize) -> Strategy {
    let market = sim.market();
    Strategy::new(
        market,
        StrategyConfig {
            base_mints,
            max_hops,
            risk: RiskLimits {
                min_profit_bps: 1,
                max_state_age_slots: 20,
                max_concurrent_trades: 8,
                min_confidence: 0.0,
            },
            paper_latency_ns: 400_000,
            slippage_bps: 30,
            route_fee_bps: 0,
            mints: sim.mint_infos(),
        },
    )
}

/// The benchmarks' standard strategy: SOL and USDC as bases, routes of up to 3 pools.
pub fn bench_strategy(sim: &mut Simulator) -> Strategy {
    let bases = sim.default_base_mints();
    strategy_on(sim, bases, 3)
}

/// Updates per second the strategy sustains on one thread at maximum speed (no runtime, no threads).
pub fn strategy_max_rate(seed: u64, updates: usize) -> f64 {
    let mut sim = Simulator::new(SimConfig {
        seed,
        ..SimConfig::default()
    });
    let mut strategy = bench_strategy(&mut sim);
    let batch: Vec<_> = (0..updates).map(|_| sim.next_update()).collect();
    let clock = ManualClock::new(0);
    let mut out = Vec::with_capacity(64);
    let start = Instant::now();
    for update in batch {
        clock.advance(1_000);
        out.clear();
        let _ = strategy.process(&Event::Account(update), &clock, &mut out);
    }
    updates as f64 / start.elapsed().as_secs_f64()
}

/// Runs the bots' runtime and writes the report files; returns the run's measurements.
pub fn run_latency(args: &LatencyArgs) -> anyhow::Result<(RunReport, f64)> {
    fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut sim = Simulator::new(SimConfig {
        seed: args.seed,
        ..SimConfig::default()
    });
    let (strategy, updates) = match &args.replay {
        Some(path) => {
            // The simulator's mints do not depend on the seed: its base mints and prices
            // describe a recording of it.
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let reader = sniperforge_engine::record::Reader::new(std::io::BufReader::new(file))
                .with_context(|| format!("reading {}", path.display()))?;
            let n = reader.snapshot_records as usize;
            let mut all = reader
                .read_all()
                .with_context(|| format!("reading {}", path.display()))?;
            let stream = all.split_off(n.min(all.len()));
            let market = sniperforge_engine::record::market_from_snapshot(&all);
            let config = StrategyConfig {
                base_mints: sim.default_base_mints(),
                max_hops: 3,
                risk: RiskLimits {
                    min_profit_bps: 1,
                    max_state_age_slots: 20,
                    max_concurrent_trades: 8,
                    min_confidence: 0.0,
                },
                paper_latency_ns: 400_000,
                slippage_bps: 30,
                route_fee_bps: 0,
                mints: sim.mint_infos(),
            };
            (Strategy::new(market, config), stream)
        }
        None => {
            let strategy = bench_strategy(&mut sim);
            // The simulator's own work (swaps, encoding) stays out of the measured path: the
            // updates are generated first and replayed on schedule.
            let count = if args.rate > 0 {
                args.rate.saturating_mul(args.duration_s)
            } else {
                2_000_000
            };
            (strategy, (0..count).map(|_| sim.next_update()).collect())
        }
    };
    let allowed = runtime::affinity::allowed_cores();
    let (cores, chosen) = match (args.feed_core, args.strategy_core) {
        // Neither given: the placement that measures best here (`bench bot`'s choice).
        (None, None) => {
            let (cores, _, why) = runtime::affinity::best_placement(allowed);
            (cores, Some(why))
        }
        (f, s) => (bench_cores(f, s)?, None),
    };
    let plan = Plan::new(&cores, allowed, args.spin, false);
    let mut report = run_runtime(
        strategy,
        updates,
        args.rate,
        Duration::from_secs(args.duration_s),
        &plan,
    )?;
    if let Some(why) = chosen {
        report.plan = format!("{} (cores chosen for this machine: {why})", report.plan);
    }
    let max_rate = strategy_max_rate(args.seed, 500_000);
    let detection = crate::detection_per_update(args.seed, 200_000);
    write_report(&args.out, args, &report, max_rate, &detection)?;
    Ok((report, max_rate))
}

/// The CPU model and core count, for reports.
pub fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// Writes report.md, report.json, one .hgrm per stage and latency.svg into `dir`.
pub fn write_report(
    dir: &Path,
    args: &LatencyArgs,
    report: &RunReport,
    max_rate: f64,
    detection: &(usize, Histogram<u64>),
) -> anyhow::Result<()> {
    let (cycles, detection) = (detection.0, Percentiles::of(&detection.1));
    let throughput = report.processed as f64 / (report.elapsed_ns as f64 / 1e9);
    let machine = machine();
    let stages: Vec<(&str, Percentiles)> = STAGES
        .iter()
        .copied()
        .zip(report.stages.iter().map(Percentiles::of))
        .collect();

    let json = serde_json::json!({
        "machine": machine,
        "rate_per_s": args.rate,
        "duration_s": args.duration_s,
        "seed": args.seed,
        "unit": "ns from ingress (scheduled time)",
        "stages": stages_json(&stages),
        "throughput_per_s": throughput,
        "strategy_max_updates_per_s": max_rate,
        "detection_per_update_ns": {
            "indexed_cycles": cycles, "count": detection.count, "p50": detection.p50, "p90": detection.p90,
            "p99": detection.p99, "p999": detection.p999, "max": detection.max
        },
        "updates_produced": report.produced,
        "updates_processed": report.processed,
        "updates_coalesced": report.coalesced,
        "cycles_evaluated": report.counters.cycles_evaluated,
        "opportunities": report.counters.opportunities,
        "orders": report.orders,
        "paper_pnl_usd": report.pnl_usd,
        "runtime": report.plan,
        "warnings": report.warnings,
    });
    fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .context("writing report.json")?;

    let mut md = String::new();
    let _ = writeln!(md, "# Latency report\n");
    let _ = writeln!(
        md,
        "`sniperforge bench latency --rate {} --duration {}` on {machine}; open loop from the simulator (seed {}), \
         latencies from each update's scheduled time.\n\nRuntime (the bots' own): {}.\n",
        args.rate, args.duration_s, args.seed, report.plan
    );
    md.push_str(&stage_table(&stages));
    let _ = writeln!(
        md,
        "\nThroughput {throughput:.0} updates/s processed ({} produced, {} coalesced); strategy alone at maximum \
         speed: {max_rate:.0} updates/s. {} cycles evaluated, {} opportunities, {} paper orders, paper PnL ${:.2}.",
        report.produced,
        report.coalesced,
        report.counters.cycles_evaluated,
        report.counters.opportunities,
        report.orders,
        report.pnl_usd
    );
    let _ = writeln!(
        md,
        "\nDetection per update (decode, re-evaluate the cycles through the changed pool, size and confirm), \
         one thread, on a 60-pool market with {cycles} indexed cycles (routes of up to 4 pools through every \
         token), {} updates: p50 {:.2} µs, p90 {:.2} µs, p99 {:.2} µs, p99.9 {:.2} µs, max {:.2} µs.",
        detection.count,
        us(detection.p50),
        us(detection.p90),
        us(detection.p99),
        us(detection.p999),
        us(detection.max)
    );
    for w in &report.warnings {
        let _ = writeln!(md, "\nWarning: {w}");
    }
    fs::write(dir.join("report.md"), md).context("writing report.md")?;

    for (name, h) in STAGES.iter().zip(&report.stages) {
        fs::write(dir.join(format!("{name}.hgrm")), hgrm(h))
            .with_context(|| format!("writing {name}.hgrm"))?;
    }
    fs::write(dir.join("latency.svg"), svg(&report.stages)).context("writing latency.svg")?;
    Ok(())
}

/// The report's per-stage percentiles (`report.json`'s `stages`): ns.
pub fn stages_json(stages: &[(&str, Percentiles)]) -> serde_json::Value {
    let mut json = serde_json::Map::new();
    for (name, p) in stages {
        json.insert(
            (*name).to_string(),
            serde_json::json!({
                "count": p.count, "p50": p.p50, "p90": p.p90, "p99": p.p99,
                "p999": p.p999, "p9999": p.p9999, "max": p.max
            }),
        );
    }
    serde_json::Value::Object(json)
}

/// The report's per-stage table (`report.md`): µs.
pub fn stage_table(stages: &[(&str, Percentiles)]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| stage (from ingress) | count | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (name, p) in stages {
        let _ = writeln!(
            md,
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            p.count,
            us(p.p50),
            us(p.p90),
            us(p.p99),
            us(p.p999),
            us(p.p9999),
            us(p.max)
        );
    }
    md
}

/// HdrHistogram's percentile distribution text format, values in µs.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut s = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in h.iter_quantiles(2) {
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "{:12.3} {:14.12} {:10} {inverse}",
            us(v.value_iterated_to()),
            q,
            v.count_since_last_iteration()
        );
    }
    let _ = writeln!(
        s,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1_000.0,
        h.stdev() / 1_000.0
    );
    let _ = writeln!(
        s,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        us(h.max()),
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    s
}

/// A percentile plot: x = percentile on a 1/(1−p) log scale, y = latency (µs, log scale).
pub fn svg(stages: &[Histogram<u64>]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 70.0;
    const BOTTOM: f64 = 50.0;
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    let max_us = stages.iter().map(|h| us(h.max())).fold(1.0f64, f64::max);
    let min_us = stages
        .iter()
        .filter(|h| !h.is_empty())
        .map(|h| us(h.min().max(1)))
        .fold(max_us, f64::min)
        .max(0.01);
    let (ylo, yhi) = (
        min_us.log10().floor(),
        max_us.log10().ceil().max(min_us.log10().floor() + 1.0),
    );
    let xmax = 5.0; // up to 99.999%
    let x = |q: f64| LEFT + (1.0 / (1.0 - q.min(0.99999))).log10() / xmax * (W - LEFT - 20.0);
    let y = |v: f64| {
        H - BOTTOM - (v.max(10f64.powf(ylo)).log10() - ylo) / (yhi - ylo) * (H - BOTTOM - 20.0)
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    for (i, label) in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"]
        .iter()
        .enumerate()
    {
        let xi = LEFT + i as f64 / xmax * (W - LEFT - 20.0);
        let _ = writeln!(
            s,
            "<line x1=\"{xi:.1}\" y1=\"20\" x2=\"{xi:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{xi:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    let mut e = ylo;
    while e <= yhi {
        let yi = y(10f64.powf(e));
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{yi:.1}\" x2=\"{:.1}\" y2=\"{yi:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} µs</text>",
            W - 20.0,
            LEFT - 6.0,
            yi + 4.0,
            10f64.powf(e)
        );
        e += 1.0;
    }
    for ((h, color), name) in stages.iter().zip(colors).zip(STAGES) {
        if h.is_empty() {
            continue;
        }
        let points: Vec<String> = h
            .iter_quantiles(4)
            .map(|v| {
                format!(
                    "{:.1},{:.1}",
                    x(v.quantile_iterated_to()),
                    y(us(v.value_iterated_to()))
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        let _ = name;
    }
    for (i, (name, color)) in STAGES.iter().zip(colors).enumerate() {
        let ly = 30.0 + i as f64 * 16.0;
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{name}</text>",
            LEFT + 12.0,
            ly - 4.0,
            LEFT + 30.0,
            ly
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>",
        (W + LEFT) / 2.0,
        H - 10.0
    );
    let _ = writeln!(
        s,
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">latency from ingress</text>",
        H / 2.0,
        H / 2.0
    );
    s.push_str("</svg>\n");
    s
}
