//! `sniperforge record`: account updates from a feed (the simulator or a Solana node) into a
//! replayable file.

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Feed to record: sim (the embedded simulator) or solana (an RPC node: --rpc-url and
    /// --markets).
    #[arg(long, default_value = "sim")]
    pub feed: String,
    /// Updates to record after the snapshot.
    #[arg(long, default_value_t = 100_000)]
    pub updates: u64,
    /// Stop recording a live feed after this many seconds even if --updates are not in.
    #[arg(long, default_value_t = 3_600)]
    pub max_seconds: u64,
    #[command(flatten)]
    pub solana: crate::feed_args::SolanaArgs,
    /// Pace stamped on simulator updates (updates per second).
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Updates per slot of the simulator's market clock (20 for the ML analytics' clock).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub updates_per_slot: u64,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
}

/// `sniperforge record`: the snapshot, then `updates` updates stamped at `rate`.
pub fn run(a: &RecordArgs) -> ExitCode {
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
fn record_solana(a: &RecordArgs, via: sniperforge_solana::Via) -> anyhow::Result<u64> {
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
