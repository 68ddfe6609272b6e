//! A bot replaying a recording decides and fills the same way every time: its strategy runs on
//! the recording's clock, not the wall clock.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use sniperforge_bots::BotType;
use sniperforge_bots::bot::{BotFactory, BotOptions};
use sniperforge_engine::record::Recorder;
use sniperforge_engine::sim::{SimConfig, Simulator};

fn recording(path: &std::path::Path) {
    let mut sim = Simulator::new(SimConfig {
        seed: 11,
        noise_scale: 10.0,
        ..SimConfig::default()
    });
    let snapshot = sim.snapshot();
    let file = std::fs::File::create(path).unwrap();
    let mut r = Recorder::new(std::io::BufWriter::new(file), snapshot.len() as u64, 0).unwrap();
    for u in &snapshot {
        r.write(u).unwrap();
    }
    // 20,000 updates 50 µs apart: one second of market.
    for i in 0..20_000u64 {
        let mut u = sim.next_update();
        u.received_at = (i + 1) * 50_000;
        r.write(&u).unwrap();
    }
    r.finish().unwrap();
}

async fn replay_once(path: &std::path::Path, max_speed: bool) -> (u64, f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = sniperforge_bots::template(BotType::TriangularArbitrage);
    config["parameters"]["trading"]["min_profit_bps"] = 1.into();
    config["parameters"]["risk_management"]["emergency_stop_enabled"] = false.into();
    let bot = BotFactory::create_bot(
        sniperforge_bots::validate(&config).unwrap(),
        BotOptions {
            state_dir: dir.path().to_path_buf(),
            feed: format!("replay:{}", path.display()),
            replay_max_speed: max_speed,
            solana: None,
            seed: 7,
            sim_rate: None,
        },
    )
    .unwrap();
    bot.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bot
        .health_check()
        .await
        .reasons
        .iter()
        .any(|r| r.contains("replayed to its end"))
    {
        assert!(Instant::now() < deadline, "the replay did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The end is reported at a flush after the last record; let the runner book what is due.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let m = bot.metrics().await;
    bot.stop().await.unwrap();
    let failed = m.custom_metrics["trades_failed"];
    (m.trades_executed, m.success_rate, m.profit_usd, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_replays_to_the_same_trades_and_fills_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("market.sfrec");
    recording(&path);
    let first = replay_once(&path, true).await;
    assert!(first.0 > 0, "no trades on the recording: {first:?}");
    assert_eq!(replay_once(&path, true).await, first);
    // At the recorded pace too (the same clock, read from the records).
    assert_eq!(replay_once(&path, false).await, first);
}
