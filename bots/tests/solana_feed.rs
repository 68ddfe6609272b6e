//! The Solana feed against a loopback server speaking Solana's JSON-RPC and websocket pubsub in
//! their wire formats (the market simulator behind them, real account layouts): snapshot then
//! live updates, a dropped stream resynchronised before anything is decided, malformed
//! notifications counted and skipped, a slow consumer coalesced, 429s retried, and dead
//! endpoints or wrong accounts refused with what and where.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sniperforge_bots::bot::{BotFactory, BotOptions};
use sniperforge_bots::feed::FeedEvent;
use sniperforge_bots::rpc_sim::{self, RpcSim};
use sniperforge_bots::solana::{Markets, SolanaFeed, SolanaOptions};
use sniperforge_bots::{BotStatus, BotType};
use sniperforge_engine::strategy::MonotonicClock;

struct Loopback {
    server: Arc<RpcSim>,
    rpc_url: String,
    ws_url: String,
    markets: Markets,
}

async fn loopback(rate: u64) -> Loopback {
    let server = RpcSim::start(rpc_sim::simulator(7), rate, 100);
    let (rpc_url, ws_url) = rpc_sim::serve_loopback(Arc::clone(&server)).await.unwrap();
    let markets = serde_json::from_value(rpc_sim::markets(&mut rpc_sim::simulator(7))).unwrap();
    Loopback {
        server,
        rpc_url,
        ws_url,
        markets,
    }
}

impl Loopback {
    fn options(&self) -> SolanaOptions {
        SolanaOptions {
            rpc_url: self.rpc_url.clone(),
            ws_url: Some(self.ws_url.clone()),
            commitment: "confirmed".into(),
            markets: Some(self.markets.clone()),
            ca: None,
            jito: None,
        }
    }
}

/// Starts a feed off the runtime's threads (its start blocks until the snapshot is in).
async fn feed(options: SolanaOptions) -> (Result<SolanaFeed, String>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let started = tokio::task::spawn_blocking(move || {
        SolanaFeed::start(&options, s, MonotonicClock::new())
            .map(|(_, f)| f)
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    (started, stop)
}

/// Drains `feed` until `done` says so (or fails after 15 s), returning everything drained.
async fn drain_until(feed: &SolanaFeed, done: impl Fn(&[FeedEvent]) -> bool) -> Vec<FeedEvent> {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut all = Vec::new();
    loop {
        feed.drain(&mut all);
        if done(&all) {
            return all;
        }
        assert!(
            Instant::now() < deadline,
            "gave up; drained {} events",
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn counter(feed: &SolanaFeed, name: &str) -> f64 {
    feed.counters()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap()
}

fn is_resync(e: &FeedEvent) -> bool {
    matches!(e, FeedEvent::Resync(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_live_updates_and_slots_arrive_in_order() {
    let net = loopback(2_000).await;
    let (feed, stop) = feed(net.options()).await;
    let feed = feed.unwrap();
    let events = drain_until(&feed, |e| {
        e.iter()
            .filter(|e| matches!(e, FeedEvent::Account(_)))
            .count()
            > 50
            && e.iter().any(|e| matches!(e, FeedEvent::Slot(_)))
    })
    .await;
    // The first session's snapshot comes first; updates and slots follow it.
    assert!(is_resync(&events[0]), "first event: {:?}", events[0]);
    let FeedEvent::Resync(snapshot) = &events[0] else {
        unreachable!()
    };
    assert!(snapshot.len() > net.markets.pools.len());
    for e in &events[1..] {
        if let FeedEvent::Account(u) = e {
            assert!(u.received_at > 0 && u.slot > 0 && !u.data.is_empty());
        }
    }
    assert!(feed.problems().is_empty(), "{:?}", feed.problems());
    assert_eq!(counter(&feed, "feed_connected"), 1.0);
    assert_eq!(counter(&feed, "feed_malformed"), 0.0);
    // Snapshots went out in calls of at most 100 keys.
    assert!(net.server.calls("getMultipleAccounts") >= 3);
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_is_reported_then_resynchronised_before_any_update() {
    let net = loopback(2_000).await;
    let (feed, stop) = feed(net.options()).await;
    let feed = feed.unwrap();
    drain_until(&feed, |e| e.iter().any(is_resync)).await;
    let snapshots_before = net.server.calls("getMultipleAccounts");
    net.server.faults.drop_connections();
    let events = drain_until(&feed, |e| {
        e.iter()
            .position(|e| matches!(e, FeedEvent::Down(_)))
            .is_some_and(|down| e[down..].iter().any(is_resync))
    })
    .await;
    let down = events
        .iter()
        .position(|e| matches!(e, FeedEvent::Down(_)))
        .unwrap();
    let resync = down + events[down..].iter().position(is_resync).unwrap();
    // Between the break and the new snapshot: nothing a decision could be made on.
    assert!(
        events[down + 1..resync]
            .iter()
            .all(|e| matches!(e, FeedEvent::Down(_))),
        "{:?}",
        &events[down + 1..resync]
    );
    let FeedEvent::Down(why) = &events[down] else {
        unreachable!()
    };
    assert!(why.contains("closed") || why.contains("websocket"), "{why}");
    assert_eq!(counter(&feed, "feed_reconnects"), 1.0);
    assert!(net.server.calls("getMultipleAccounts") > snapshots_before);
    assert_eq!(net.server.connections.load(Ordering::Relaxed), 2);
    // Live again after the resync.
    drain_until(&feed, |e| {
        e.iter().any(|e| matches!(e, FeedEvent::Account(_)))
    })
    .await;
    assert!(feed.problems().is_empty(), "{:?}", feed.problems());
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_notifications_are_counted_and_skipped() {
    let net = loopback(2_000).await;
    let (feed, stop) = feed(net.options()).await;
    let feed = feed.unwrap();
    drain_until(&feed, |e| e.iter().any(is_resync)).await;
    net.server.faults.malformed_next.store(3, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter(&feed, "feed_malformed") < 3.0 {
        assert!(Instant::now() < deadline, "malformed never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = counter(&feed, "feed_notifications");
    drain_until(&feed, |_| {
        counter(&feed, "feed_notifications") > seen + 20.0
    })
    .await;
    assert_eq!(counter(&feed, "feed_malformed"), 3.0);
    assert_eq!(
        counter(&feed, "feed_reconnects"),
        0.0,
        "the stream stays up"
    );
    let last = feed.last_malformed().unwrap();
    assert!(!last.is_empty());
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_gets_the_newest_state_of_each_account() {
    let net = loopback(5_000).await;
    let (feed, stop) = feed(net.options()).await;
    let feed = feed.unwrap();
    drain_until(&feed, |e| e.iter().any(is_resync)).await;
    // The consumer sleeps while about 2,500 changes arrive, then the market stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    net.server.faults.paused.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut events = Vec::new();
    feed.drain(&mut events);
    let accounts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            FeedEvent::Account(u) => Some(u),
            _ => None,
        })
        .collect();
    let mut keys: Vec<_> = accounts.iter().map(|u| u.pubkey).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), accounts.len(), "one event per account");
    assert!(counter(&feed, "feed_coalesced") > 100.0);
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, FeedEvent::Slot(_)))
            .count()
            <= 1
    );
    for u in accounts {
        assert_eq!(
            Some(&u.data),
            net.server.account(&u.pubkey).as_ref(),
            "{}",
            u.pubkey
        );
    }
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_snapshots_are_retried() {
    let net = loopback(2_000).await;
    net.server
        .faults
        .rate_limit_next
        .store(2, Ordering::Relaxed);
    let (feed, stop) = feed(net.options()).await;
    let feed = feed.unwrap();
    assert_eq!(counter(&feed, "feed_rate_limited"), 2.0);
    stop.store(true, Ordering::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_endpoints_and_wrong_accounts_are_refused_with_what_and_where() {
    let net = loopback(100).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut dead = net.options();
    dead.rpc_url = format!("http://{closed}");
    let e = feed(dead).await.0.unwrap_err();
    assert!(
        e.contains(&closed.to_string()) && e.contains("getMultipleAccounts"),
        "{e}"
    );

    // A vault (an SPL token account) named as a pool.
    let vault = {
        let mut sim = rpc_sim::simulator(7);
        sim.snapshot()
            .into_iter()
            .find(|u| u.owner == sniperforge_engine::pubkey::programs::SPL_TOKEN)
            .unwrap()
            .pubkey
    };
    let mut wrong = net.options();
    wrong.markets.as_mut().unwrap().pools = vec![vault.to_string()];
    let e = feed(wrong).await.0.unwrap_err();
    assert!(e.contains(&format!("pool {vault}: not a Raydium")), "{e}");

    let mut missing = net.options();
    let nobody = sniperforge_engine::pubkey::Pubkey([3; 32]);
    missing.markets.as_mut().unwrap().pools = vec![nobody.to_string()];
    let e = feed(missing).await.0.unwrap_err();
    assert!(
        e.contains(&format!("pool {nobody}: no such account")),
        "{e}"
    );

    let mut unlisted = net.options();
    unlisted.markets.as_mut().unwrap().tokens.truncate(1);
    let e = feed(unlisted).await.0.unwrap_err();
    assert!(e.contains("is not among the markets file's tokens"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arbitrage_bot_trades_on_the_rpc_feed() {
    let net = loopback(2_000).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = sniperforge_bots::template(BotType::EnhancedArbitrage);
    config["bot_id"] = "rpc-arb".into();
    config["parameters"]["trading"]["min_profit_bps"] = 5.into();
    config["parameters"]["trading"]["confidence_threshold"] = 0.0.into();
    let valid = sniperforge_bots::validate(&config).unwrap();
    let bot = BotFactory::create_bot(
        valid,
        BotOptions {
            state_dir: dir.path().to_path_buf(),
            feed: "solana".into(),
            replay_max_speed: false,
            solana: Some(net.options()),
            seed: 7,
        },
    )
    .unwrap();
    bot.start().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = bot.metrics().await;
        let notified = m.custom_metrics.get("feed_notifications").copied();
        if m.trades_executed > 0 && notified.unwrap_or(0.0) > 100.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no trades on the RPC feed: {m:?} {:?}",
            bot.health_check().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health = bot.health_check().await;
    assert!(health.healthy, "{health:?}");
    // A broken stream shows in health until the feed is back.
    net.server.faults.paused.store(true, Ordering::Relaxed);
    assert_eq!(bot.status().await, BotStatus::Running);
    bot.stop().await.unwrap();
}
