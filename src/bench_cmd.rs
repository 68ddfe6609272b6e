//! `sniperforge bench latency|baseline`: thin wrappers over the bench crate.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use sniperforge_bench::{baseline, latency};

pub fn run(command: &BenchCommand) -> ExitCode {
    let result = match command {
        BenchCommand::Latency(a) => latency_run(a),
        BenchCommand::Bot(a) => crate::bench_bot::run(a),
        BenchCommand::Baseline(a) => baseline_run(a),
        BenchCommand::Gateway(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(crate::gateway_load::run(a))),
        BenchCommand::Agent(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(crate::agent_bench::run(a))),
        BenchCommand::Handover(a) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(crate::handover_bench::run(a))),
        BenchCommand::Ml(a) => ml_run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn latency_run(a: &LatencyArgs) -> anyhow::Result<()> {
    if a.duration == 0 {
        anyhow::bail!("--duration must be at least 1 second");
    }
    if a.rate > sniperforge_bots::runtime::MAX_RATE {
        anyhow::bail!(
            "--rate must be at most {} updates per second (0: as fast as possible)",
            sniperforge_bots::runtime::MAX_RATE
        );
    }
    let args = latency::LatencyArgs {
        rate: a.rate,
        duration_s: a.duration,
        out: a.out.clone(),
        seed: a.seed,
        feed_core: a.feed_core,
        strategy_core: a.strategy_core,
        spin: a.spin,
        replay: a.replay.clone(),
    };
    latency::run_latency(&args)?;
    let md = fs::read_to_string(a.out.join("report.md")).context("reading back report.md")?;
    println!("{md}");
    println!(
        "wrote {}/{{report.md,report.json,*.hgrm,latency.svg}}",
        a.out.display()
    );
    Ok(())
}

fn baseline_run(a: &BaselineArgs) -> anyhow::Result<()> {
    if a.updates == 0 {
        anyhow::bail!("--updates must be at least 1");
    }
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let report = baseline::compare(a.seed, a.updates, !a.calm);
    let md = baseline::markdown(&report);
    fs::write(a.out.join("baseline.md"), &md).context("writing baseline.md")?;
    let json = serde_json::json!({
        "updates": report.updates,
        "cycles": report.cycles,
        "ours_ns": {"p50": report.ours.p50, "p99": report.ours.p99, "p999": report.ours.p999, "max": report.ours.max},
        "baseline_ns": {"p50": report.baseline.p50, "p99": report.baseline.p99, "p999": report.baseline.p999, "max": report.baseline.max},
        "ours_found": report.ours_found,
        "ours_ordered": report.ours_ordered,
        "ours_unsized": report.ours_unsized,
        "ordered_compared": report.ordered_compared,
        "ordered_below": report.ordered_below,
        "baseline_found": report.baseline_found,
        "missed": report.missed,
    });
    fs::write(
        a.out.join("baseline.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )
    .context("writing baseline.json")?;
    println!("{md}");
    Ok(())
}

/// `bench ml`: minute samples from the simulator (the ML bot's clock) or a recording, then the
/// walk-forward evaluation of the configured models against the naive baselines.
fn ml_run(a: &MlBenchArgs) -> anyhow::Result<()> {
    use sniperforge_bots::ml;
    let cfg_json = match &a.config {
        Some(p) => serde_json::from_str(
            &fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => sniperforge_bots::template(sniperforge_bots::BotType::MlAnalytics),
    };
    let cfg = sniperforge_bots::validate(&cfg_json).map_err(|errors| {
        anyhow::anyhow!(
            "the configuration: {}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let (models, features) = cfg.params.ml().ok_or_else(|| {
        anyhow::anyhow!(
            "the evaluation needs an ml_analytics configuration, not {}",
            cfg.config.bot_type
        )
    })?;
    let mut sim = ml::ml_sim(a.seed);
    let mut sampler = ml::Sampler::new(
        &sniperforge_bots::feed::Universe::from_sim(&mut sim),
        &a.pair,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = std::time::Instant::now();
    let (source, mut updates) = match &a.replay {
        Some(path) => {
            let file =
                fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let mut reader = sniperforge_engine::record::Reader::new(std::io::BufReader::new(file))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let mut n = 0u64;
            while sampler.samples.len() < a.samples {
                match reader
                    .next_update()
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                {
                    Some(u) => {
                        let _ = sampler.apply(&u);
                        n += 1;
                    }
                    None => break,
                }
            }
            (format!("replay of {}", path.display()), n)
        }
        None => {
            let mut n = 0u64;
            while sampler.samples.len() < a.samples {
                let _ = sampler.apply(&sim.next_update());
                n += 1;
            }
            (format!("simulator, seed {}", a.seed), n)
        }
    };
    if sampler.samples.len() < 2 * ml::MIN_TRAIN {
        anyhow::bail!(
            "{} samples: the evaluation needs at least {} (a longer recording, or one made with --updates-per-slot 20)",
            sampler.samples.len(),
            2 * ml::MIN_TRAIN
        );
    }
    updates = updates.max(1);
    let features = ml::FeatureSpec::of(features, models);
    let spec = ml::ModelSpec::of(models);
    let e = ml::walk_forward(&sampler.samples, &features, &spec, 0.5, a.seed);
    let row = |name: &str, k: &str| {
        format!(
            "| {name} | {} | {:.1} | {:.1} % |\n",
            e[k]["n"],
            e[k]["rmse_bps"].as_f64().unwrap_or(f64::NAN),
            e[k]["direction_hit_rate"].as_f64().unwrap_or(f64::NAN) * 100.0
        )
    };
    let mut md = format!(
        "# ML walk-forward evaluation ({source}, {}, {} samples of 1 min, horizon {} min, {} folds; {updates} updates in {:.1} s)\n\n| model | predictions | RMSE (bps) | direction hit rate |\n|---|---|---|---|\n",
        a.pair,
        sampler.samples.len(),
        features.horizon,
        e["folds"],
        started.elapsed().as_secs_f64()
    );
    for (name, k) in [
        ("LSTM", "lstm"),
        ("random forest", "random_forest"),
        ("linear (ridge)", "linear"),
        ("ensemble", "ensemble"),
        ("ensemble, confident calls only", "ensemble_confident"),
        ("naive: zero return", "naive_zero_return"),
        ("naive: momentum", "naive_momentum"),
    ] {
        md.push_str(&row(name, k));
    }
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    fs::write(a.out.join("ml-eval.md"), &md)?;
    fs::write(
        a.out.join("ml-eval.json"),
        serde_json::to_string_pretty(&e)?,
    )?;
    print!("{md}");
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Run the bots' runtime open loop from the simulator and write a percentile report.
    Latency(LatencyArgs),
    /// Run a real bot process on the simulator at a scheduled rate and write the same report
    /// from its own `/hdr`.
    Bot(crate::bench_bot::BenchBotArgs),
    /// Replay simulator updates through the engine and the brute-force baseline side by side.
    Baseline(BaselineArgs),
    /// Bounded load against a real gateway process on loopback: snapshot ingest and
    /// `GET /api/v1/bots` open loop.
    Gateway(crate::gateway_load::GatewayLoadArgs),
    /// Desired-state change → bot running, per agent backend, and a whole node's reconcile,
    /// against a real gateway and agent on loopback.
    Agent(crate::agent_bench::AgentBenchArgs),
    /// Restarts of paper bots through warm handovers and through stop-then-start on one shared
    /// simulated market: the trading gap, the updates missed, double trading.
    Handover(crate::handover_bench::HandoverBenchArgs),
    /// Walk-forward evaluation of the ML analytics' models against naive baselines, on
    /// simulator data or a recording.
    Ml(MlBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct MlBenchArgs {
    /// Minute samples to take (each 150 slots of market time).
    #[arg(long, default_value_t = 1_500)]
    pub samples: usize,
    /// Simulator seed (the recording's, with --replay).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Read the updates from this recording (`sniperforge record --updates-per-slot 20`)
    /// instead of running the simulator.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// Pair modelled.
    #[arg(long, default_value = "SOL/USDC")]
    pub pair: String,
    /// Configuration whose features and models are evaluated (default: the template).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Directory for ml-eval.md and ml-eval.json.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct LatencyArgs {
    /// Account updates per second, scheduled open loop.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Directory for report.md, report.json, *.hgrm and latency.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Core for the feed thread (with --strategy-core: the ring hand-off between the two).
    #[arg(long)]
    pub feed_core: Option<usize>,
    /// Core for the strategy thread (alone: run to completion on it). Neither core given: the
    /// placement that measures best on this machine (as `bench bot` chooses; --spin still decides
    /// spin or park).
    #[arg(long)]
    pub strategy_core: Option<usize>,
    /// Busy-spin waiting threads instead of parking them.
    #[arg(long)]
    pub spin: bool,
    /// Replay a recording (`sniperforge record`) instead of the simulator: at --rate, or as
    /// fast as possible with --rate 0.
    #[arg(long)]
    pub replay: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Updates to replay.
    #[arg(long, default_value_t = 2_000)]
    pub updates: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory for baseline.md and baseline.json.
    #[arg(long)]
    pub out: PathBuf,
    /// The default simulator (competing arbitrageurs close gaps) instead of the volatile one
    /// (no competitors, 30× noise: profitable routes on every update).
    #[arg(long)]
    pub calm: bool,
}
