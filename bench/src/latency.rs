//! `sniperforge bench latency`: the whole pipeline, open loop, from the simulator; writes the
//! percentile report (markdown, JSON, one .hgrm per stage, an SVG plot).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use sniperforge_engine::pipeline::{Idle, PipelineConfig, Replay, RunReport, STAGES, run};
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{
    BaseMint, Event, ManualClock, RiskLimits, Strategy, StrategyConfig,
};
use sniperforge_engine::telemetry::Percentiles;

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

/// Updates per second the strategy sustains on one thread at maximum speed (no pipeline).
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

/// Runs the pipeline and writes the report files; returns the run's measurements.
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
    let config = PipelineConfig {
        ring_capacity: 8_192,
        feed_core: args.feed_core,
        strategy_core: args.strategy_core,
        idle: if args.spin { Idle::Spin } else { Idle::Park },
        rate_per_s: args.rate,
        duration: Duration::from_secs(args.duration_s),
    };
    let (report, _) = run(Replay::new(updates), strategy, &config);
    let max_rate = strategy_max_rate(args.seed, 500_000);
    let detection = crate::detection_per_update(args.seed, 200_000);
    write_report(&args.out, args, &report, max_rate, &detection)?;
    Ok((report, max_rate))
}

fn machine() -> String {
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

    let mut json_stages = serde_json::Map::new();
    for (name, p) in &stages {
        json_stages.insert(
            (*name).to_string(),
            serde_json::json!({
                "count": p.count, "p50": p.p50, "p90": p.p90, "p99": p.p99,
                "p999": p.p999, "p9999": p.p9999, "max": p.max
            }),
        );
    }
    let json = serde_json::json!({
        "machine": machine,
        "rate_per_s": args.rate,
        "duration_s": args.duration_s,
        "seed": args.seed,
        "unit": "ns from ingress (scheduled time)",
        "stages": json_stages,
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
         latencies from each update's scheduled time.\n",
        args.rate, args.duration_s, args.seed
    );
    let _ = writeln!(
        md,
        "| stage (from ingress) | count | p50 µs | p90 µs | p99 µs | p99.9 µs | p99.99 µs | max µs |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (name, p) in &stages {
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
