//! systemd's watchdog is fed by the strategy loop: under `$WATCHDOG_USEC` the runtime pings
//! `$NOTIFY_SOCKET` from the strategy thread's housekeeping, so a wedged strategy loop stops
//! the pings (and systemd restarts the bot) while every other thread carries on. The runtime
//! reads the environment, so the runtime runs in a child process of this test binary, with the
//! variables set on it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers unwrap what they built

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use sniperforge_bots::feed::{FeedEvent, SimFeed};
use sniperforge_bots::runtime::{self, Feed, Plan, RuntimeStats, Sink, Worker};
use sniperforge_engine::market::AccountUpdate;
use sniperforge_engine::sim::{SimConfig, Simulator};
use sniperforge_engine::strategy::{Decision, MonotonicClock};

const CHILD: &str = "SNIPERFORGE_WATCHDOG_TEST_CHILD";
/// When the child's strategy loop wedges, after its start.
const WEDGE_AFTER: Duration = Duration::from_millis(700);

/// A worker that stops returning once `WEDGE_AFTER` has passed (a strategy loop stuck).
struct Wedging {
    started: Instant,
}

impl Worker for Wedging {
    fn on_account(&mut self, _: &AccountUpdate, _: &mut Vec<Decision>) -> [u64; 4] {
        if self.started.elapsed() >= WEDGE_AFTER {
            std::thread::sleep(Duration::from_secs(3_600));
        }
        [0; 4]
    }
    fn on_event(&mut self, _: FeedEvent, _: &mut Vec<Decision>) {}
    fn tick(&mut self, _: &mut Vec<Decision>) {}
    fn housekeeping(&mut self, _: &mut Vec<Decision>) {}
}

struct Nothing;

impl Sink for Nothing {
    fn on_decision(&mut self, _: &Decision, _: u64) {}
    fn on_interval(&mut self, _: &[Histogram<u64>]) {}
    fn housekeeping(&mut self) {}
    fn finish(&mut self) {}
}

/// The child: the runtime over the simulator with the wedging worker, until killed.
fn child() {
    let (ingress, egress) = runtime::channel(1_024);
    let sim = Simulator::new(SimConfig::default());
    let clock = MonotonicClock::new();
    let _running = runtime::start(
        &Plan::new(&[], &[], false, false),
        Feed::Produced(ingress, Box::new(SimFeed::new(Box::new(sim), 2_000))),
        egress,
        Wedging {
            started: Instant::now(),
        },
        Nothing,
        clock,
        Arc::new(AtomicBool::new(false)),
        Arc::new(RuntimeStats::default()),
        "wedge",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3_600));
}

#[test]
fn the_watchdog_pings_stop_when_the_strategy_loop_wedges() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "the_watchdog_pings_stop_when_the_strategy_loop_wedges",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("NOTIFY_SOCKET", &path)
        // Pings due every 100 ms.
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut pings = Vec::new();
    while started.elapsed() < Duration::from_millis(2_400) {
        let mut buf = [0u8; 64];
        if let Ok(n) = socket.recv(&mut buf) {
            assert_eq!(&buf[..n], b"WATCHDOG=1");
            pings.push(started.elapsed());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let before: Vec<_> = pings.iter().filter(|t| **t < WEDGE_AFTER).collect();
    let after: Vec<_> = pings
        .iter()
        .filter(|t| **t > WEDGE_AFTER + Duration::from_millis(600))
        .collect();
    assert!(
        before.len() >= 3,
        "the strategy loop pings while it runs: {pings:?}"
    );
    assert!(
        after.is_empty(),
        "pings after the strategy loop wedged: {pings:?}"
    );
}
