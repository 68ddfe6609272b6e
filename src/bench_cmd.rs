//! `sniperforge bench latency|baseline`: thin wrappers over the bench crate.

use std::fs;
use std::process::ExitCode;

use anyhow::Context;
use sniperforge_bench::{baseline, latency};

use crate::BenchCommand;

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

fn latency_run(a: &crate::LatencyArgs) -> anyhow::Result<()> {
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

fn baseline_run(a: &crate::BaselineArgs) -> anyhow::Result<()> {
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

/// `sniperforge record`: the snapshot, then `updates` updates stamped at `rate`.
pub fn record(a: &crate::RecordArgs) -> ExitCode {
    let result = (|| -> anyhow::Result<u64> {
        use sniperforge_bots::feed::FeedSpec;
        let spec = FeedSpec::parse(&a.feed, false).ok();
        if let Some(via) = spec.as_ref().and_then(FeedSpec::via) {
            return record_solana(a, via);
        }
        if spec != Some(FeedSpec::Sim) {
            anyhow::bail!(
                "--feed {}: expected sim, solana or yellowstone (a recording is replayed, not recorded)",
                a.feed
            );
        }
        if a.rate == 0 {
            anyhow::bail!("--rate must be at least 1 update per second");
        }
        let mut sim = sniperforge_engine::sim::Simulator::new(sniperforge_engine::sim::SimConfig {
            seed: a.seed,
            updates_per_slot: a.updates_per_slot,
            ..Default::default()
        });
        let snapshot = sim.snapshot();
        let file =
            fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
        let mut recorder = sniperforge_engine::record::Recorder::new(
            std::io::BufWriter::new(file),
            snapshot.len() as u64,
            0,
        )
        .with_context(|| format!("writing {}", a.out.display()))?;
        for u in &snapshot {
            recorder
                .write(u)
                .with_context(|| format!("writing {}", a.out.display()))?;
        }
        let interval = 1_000_000_000 / a.rate;
        for i in 0..a.updates {
            let mut u = sim.next_update();
            u.received_at = i * interval;
            recorder
                .write(&u)
                .with_context(|| format!("writing {}", a.out.display()))?;
        }
        recorder
            .finish()
            .with_context(|| format!("writing {}", a.out.display()))?;
        Ok(snapshot.len() as u64 + a.updates)
    })();
    match result {
        Ok(n) => {
            println!("wrote {n} records to {}", a.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Records a Solana feed: its snapshot, then every account update (a reconnect's snapshot
/// included) with its receive time, until `--updates` or `--max-seconds`.
fn record_solana(a: &crate::RecordArgs, via: sniperforge_solana::Via) -> anyhow::Result<u64> {
    use sniperforge_bots::feed::FeedEvent;
    let options = a.solana.options()?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clock = sniperforge_engine::strategy::MonotonicClock::new();
    let (ingress, mut egress) =
        sniperforge_bots::runtime::channel(sniperforge_bots::runtime::RING_CAPACITY);
    let (universe, _feed) = sniperforge_solana::SolanaFeed::start(
        &options,
        via,
        std::sync::Arc::clone(&stop),
        clock,
        ingress,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let file = fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let snapshot = universe.snapshot();
    let mut recorder = sniperforge_engine::record::Recorder::new(
        std::io::BufWriter::new(file),
        snapshot.len() as u64,
        0,
    )
    .with_context(|| format!("writing {}", a.out.display()))?;
    for u in snapshot {
        recorder
            .write(u)
            .with_context(|| format!("writing {}", a.out.display()))?;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(a.max_seconds);
    let (mut written, mut events, mut downs) = (0u64, Vec::new(), 0u64);
    while written < a.updates && std::time::Instant::now() < deadline {
        events.clear();
        events.extend(std::iter::from_fn(|| egress.pop()));
        for event in &events {
            let accounts: &[_] = match event {
                FeedEvent::Account(u) => std::slice::from_ref(u),
                FeedEvent::Resync(all) => all,
                FeedEvent::Down(why) => {
                    downs += 1;
                    eprintln!("record: feed down ({why}); reconnecting");
                    &[]
                }
                FeedEvent::Slot(_) => &[],
            };
            for u in accounts.iter().take((a.updates - written) as usize) {
                recorder
                    .write(u)
                    .with_context(|| format!("writing {}", a.out.display()))?;
                written += 1;
            }
        }
        if events.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    recorder
        .finish()
        .with_context(|| format!("writing {}", a.out.display()))?;
    if written < a.updates {
        eprintln!("record: --max-seconds reached after {written} updates ({downs} disconnects)");
    }
    Ok(snapshot.len() as u64 + written)
}

/// `bench ml`: minute samples from the simulator (the ML bot's clock) or a recording, then the
/// walk-forward evaluation of the configured models against the naive baselines.
fn ml_run(a: &crate::MlBenchArgs) -> anyhow::Result<()> {
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
    let (models, features) = cfg
        .params
        .ml()
        .ok_or_else(|| anyhow::anyhow!("the evaluation needs an ml_analytics configuration"))?;
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
