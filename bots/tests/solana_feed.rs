//! The Solana feed against a loopback server speaking Solana's JSON-RPC and websocket pubsub in
//! their wire formats, and (feature `yellowstone`) the Yellowstone gRPC protocol (the market
//! simulator behind them, real account layouts): snapshot then live updates, a dropped stream
//! resynchronised before anything is decided, malformed notifications counted and skipped, a
//! slow consumer coalesced, 429s retried, and dead endpoints or wrong accounts refused with
//! what and where. Each behaviour runs over both streams; the Geyser-only ones (resuming from a
//! slot, tick arrays found by content, pings, x-token) follow.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sniperforge_bots::bot::{BotFactory, BotOptions};
use sniperforge_bots::feed::FeedEvent;
use sniperforge_bots::{BotStatus, BotType};
use sniperforge_engine::strategy::MonotonicClock;
use sniperforge_sim::rpc_sim::{self, RpcSim};
use sniperforge_solana::{Markets, SolanaFeed, SolanaOptions, Via};

struct Loopback {
    server: Arc<RpcSim>,
    rpc_url: String,
    ws_url: String,
    /// The Geyser service's URL (feature `yellowstone`).
    grpc_url: Option<String>,
    markets: Markets,
    via: Via,
}

async fn loopback(rate: u64, via: Via) -> Loopback {
    loopback_with_token(rate, via, None).await
}

async fn loopback_with_token(rate: u64, via: Via, x_token: Option<&str>) -> Loopback {
    let server = RpcSim::start(rpc_sim::simulator(7, false), rate, 100);
    let (rpc_url, ws_url) = rpc_sim::serve_loopback(Arc::clone(&server)).await.unwrap();
    #[cfg(feature = "yellowstone")]
    let grpc_url = Some(
        sniperforge_sim::geyser::serve_loopback(Arc::clone(&server), x_token.map(str::to_string))
            .await
            .unwrap(),
    );
    #[cfg(not(feature = "yellowstone"))]
    let grpc_url = x_token.and(None);
    let markets =
        serde_json::from_value(rpc_sim::markets(&mut rpc_sim::simulator(7, false))).unwrap();
    Loopback {
        server,
        rpc_url,
        ws_url,
        grpc_url,
        markets,
        via,
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
            grpc: self
                .grpc_url
                .as_ref()
                .map(|url| sniperforge_solana::GrpcOptions {
                    url: url.clone(),
                    x_token: None,
                }),
        }
    }

    /// Starts a feed of this loopback's stream kind with `options`.
    async fn feed(&self, options: SolanaOptions) -> (Result<TestFeed, String>, Arc<AtomicBool>) {
        feed(options, self.via, 4_096).await
    }

    /// Streams (websocket connections or Geyser subscribe streams) the server has opened.
    fn streams(&self) -> u64 {
        match self.via {
            Via::Websocket => self.server.connections.load(Ordering::Relaxed),
            Via::Yellowstone => self.server.geyser.streams.load(Ordering::Relaxed),
        }
    }
}

/// Runs each named behaviour over the websocket and, with the feature, over Yellowstone gRPC.
macro_rules! over_both_streams {
    ($($name:ident),* $(,)?) => {
        mod websocket {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Via::Websocket).await;
                }
            )*
        }
        #[cfg(feature = "yellowstone")]
        mod yellowstone {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Via::Yellowstone).await;
                }
            )*
        }
    };
}

over_both_streams!(
    snapshot_then_live_updates_and_slots_arrive_in_order,
    a_dropped_stream_is_reported_then_resynchronised_before_any_update,
    malformed_notifications_are_counted_and_skipped,
    a_slow_consumer_gets_the_newest_state_of_each_account,
    rate_limited_snapshots_are_retried,
    dead_endpoints_and_wrong_accounts_are_refused_with_what_and_where,
    an_arbitrage_bot_trades_on_the_feed,
);

/// A started feed and the strategy side of its ring (what the runtime's strategy thread pops).
#[derive(Debug)]
struct TestFeed {
    feed: SolanaFeed,
    egress: std::sync::Mutex<sniperforge_bots::runtime::Egress>,
}

impl std::ops::Deref for TestFeed {
    type Target = SolanaFeed;
    fn deref(&self) -> &SolanaFeed {
        &self.feed
    }
}

impl TestFeed {
    /// Moves every waiting event into `out`.
    fn drain(&self, out: &mut Vec<FeedEvent>) {
        let mut egress = self.egress.lock().unwrap();
        out.extend(std::iter::from_fn(|| egress.pop()));
    }
}

/// Starts a feed off the runtime's threads (its start blocks until the snapshot is in).
async fn feed(
    options: SolanaOptions,
    via: Via,
    ring: usize,
) -> (Result<TestFeed, String>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let started = tokio::task::spawn_blocking(move || {
        let (ingress, egress) = sniperforge_bots::runtime::channel(ring);
        SolanaFeed::start(&options, via, s, MonotonicClock::new(), ingress)
            .map(|(_, feed)| TestFeed {
                feed,
                egress: std::sync::Mutex::new(egress),
            })
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap();
    (started, stop)
}

/// Drains `feed` until `done` says so (or fails after 15 s), returning everything drained.
async fn drain_until(feed: &TestFeed, done: impl Fn(&[FeedEvent]) -> bool) -> Vec<FeedEvent> {
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

/// Waits until `done` holds (20 ms apart), failing with `what` after `limit`.
async fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
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

async fn snapshot_then_live_updates_and_slots_arrive_in_order(via: Via) {
    let net = loopback(2_000, via).await;
    let (feed, stop) = net.feed(net.options()).await;
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

async fn a_dropped_stream_is_reported_then_resynchronised_before_any_update(via: Via) {
    let net = loopback(2_000, via).await;
    let (feed, stop) = net.feed(net.options()).await;
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
    match via {
        Via::Websocket => assert!(why.contains("closed") || why.contains("websocket"), "{why}"),
        Via::Yellowstone => assert!(why.contains("connection dropped"), "{why}"),
    }
    // One reconnect for the drop; on a loaded machine the server may also cut a lagging
    // stream off (as the Geyser plugin does), which is one more reconnect of the same kind.
    let reconnects = counter(&feed, "feed_reconnects");
    assert!(reconnects >= 1.0, "{reconnects}");
    assert!(net.server.calls("getMultipleAccounts") > snapshots_before);
    assert!(net.streams() >= 2, "{}", net.streams());
    if via == Via::Yellowstone {
        // The first subscription starts live; the one after the drop resumes from the last
        // slot the first saw. (On a loaded machine a lagging stream may be cut off, and a
        // subscription that fails before its confirming pong is asked again without
        // `from_slot`: more entries.)
        let from = net.server.geyser.from_slots.lock().unwrap().clone();
        assert!(
            from.first() == Some(&None) && from.iter().any(|s| s.is_some_and(|s| s > 0)),
            "{from:?}"
        );
    }
    // Live again after the resync.
    drain_until(&feed, |e| {
        e.iter().any(|e| matches!(e, FeedEvent::Account(_)))
    })
    .await;
    assert!(feed.problems().is_empty(), "{:?}", feed.problems());
    stop.store(true, Ordering::Relaxed);
}

async fn malformed_notifications_are_counted_and_skipped(via: Via) {
    let net = loopback(2_000, via).await;
    let (feed, stop) = net.feed(net.options()).await;
    let feed = feed.unwrap();
    drain_until(&feed, |e| e.iter().any(is_resync)).await;
    net.server.faults.malformed_next.store(3, Ordering::Relaxed);
    wait_until("malformed counted", Duration::from_secs(10), || {
        counter(&feed, "feed_malformed") >= 3.0
    })
    .await;
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

async fn a_slow_consumer_gets_the_newest_state_of_each_account(via: Via) {
    const RING: usize = 64;
    let net = loopback(5_000, via).await;
    let (feed, stop) = feed(net.options(), via, RING).await;
    let feed = feed.unwrap();
    drain_until(&feed, |e| e.iter().any(is_resync)).await;
    // The consumer sleeps while about 2,500 changes arrive (far more than the 64-slot ring
    // holds), then the market stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    net.server.faults.paused.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // What waited behind the full ring comes through while the stream is quiet.
    let mut events = Vec::new();
    loop {
        let before = events.len();
        feed.drain(&mut events);
        if events.len() == before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    // The ring's slots hold what entered before it filled; behind it, one event per account.
    assert!(
        accounts.len() <= RING + keys.len(),
        "{} events for {} accounts",
        accounts.len(),
        keys.len()
    );
    assert!(counter(&feed, "feed_coalesced") > 100.0);
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, FeedEvent::Slot(_)))
            .count()
            <= RING + 1
    );
    // The last state handed over of every account is its newest.
    for key in keys {
        let last = accounts.iter().rev().find(|u| u.pubkey == key).unwrap();
        assert_eq!(Some(&last.data), net.server.account(&key).as_ref(), "{key}");
    }
    stop.store(true, Ordering::Relaxed);
}

async fn rate_limited_snapshots_are_retried(via: Via) {
    let net = loopback(2_000, via).await;
    net.server
        .faults
        .rate_limit_next
        .store(2, Ordering::Relaxed);
    let (feed, stop) = net.feed(net.options()).await;
    let feed = feed.unwrap();
    assert_eq!(counter(&feed, "feed_rate_limited"), 2.0);
    stop.store(true, Ordering::Relaxed);
}

async fn dead_endpoints_and_wrong_accounts_are_refused_with_what_and_where(via: Via) {
    let net = loopback(100, via).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut dead = net.options();
    dead.rpc_url = format!("http://{closed}");
    let e = net.feed(dead).await.0.unwrap_err();
    assert!(
        e.contains(&closed.to_string()) && e.contains("getMultipleAccounts"),
        "{e}"
    );

    // A vault (an SPL token account) named as a pool.
    let vault = {
        let mut sim = rpc_sim::simulator(7, false);
        sim.snapshot()
            .into_iter()
            .find(|u| u.owner == sniperforge_engine::pubkey::programs::SPL_TOKEN)
            .unwrap()
            .pubkey
    };
    let mut wrong = net.options();
    wrong.markets.as_mut().unwrap().pools = vec![vault.to_string()];
    let e = net.feed(wrong).await.0.unwrap_err();
    assert!(e.contains(&format!("pool {vault}: not a Raydium")), "{e}");

    let mut missing = net.options();
    let nobody = sniperforge_engine::pubkey::Pubkey([3; 32]);
    missing.markets.as_mut().unwrap().pools = vec![nobody.to_string()];
    let e = net.feed(missing).await.0.unwrap_err();
    assert!(
        e.contains(&format!("pool {nobody}: no such account")),
        "{e}"
    );

    let mut unlisted = net.options();
    unlisted.markets.as_mut().unwrap().tokens.truncate(1);
    let e = net.feed(unlisted).await.0.unwrap_err();
    assert!(e.contains("is not among the markets file's tokens"), "{e}");

    if via == Via::Yellowstone {
        // The node answers but the Geyser endpoint does not: the feed starts on the snapshot,
        // reports the stream down with the endpoint, and keeps trying.
        let mut no_geyser = net.options();
        let url = format!("http://{closed}");
        no_geyser.grpc = Some(sniperforge_solana::GrpcOptions {
            url: url.clone(),
            x_token: None,
        });
        let (feed, stop) = net.feed(no_geyser).await;
        let feed = feed.unwrap();
        wait_until(
            "the dead Geyser endpoint reported",
            Duration::from_secs(10),
            || !feed.problems().is_empty() && counter(&feed, "feed_reconnects") >= 2.0,
        )
        .await;
        let problem = &feed.problems()[0];
        assert!(
            problem.contains(&format!("yellowstone feed {url} down")) && problem.contains(&url),
            "{problem}"
        );
        stop.store(true, Ordering::Relaxed);
    }
}

async fn an_arbitrage_bot_trades_on_the_feed(via: Via) {
    let net = loopback(2_000, via).await;
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
            feed: match via {
                Via::Websocket => "solana".into(),
                Via::Yellowstone => "yellowstone".into(),
            },
            replay_max_speed: false,
            solana: Some(net.options()),
            seed: 7,
            sim_rate: None,
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

#[cfg(feature = "yellowstone")]
mod geyser_only {
    use super::*;
    use sniperforge_engine::market::AccountUpdate;
    use sniperforge_engine::pubkey::{Pubkey, programs};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tick_array_created_after_the_start_arrives_by_its_content() {
        let net = loopback(500, Via::Yellowstone).await;
        let (feed, stop) = net.feed(net.options()).await;
        let feed = feed.unwrap();
        drain_until(&feed, |e| e.iter().any(is_resync)).await;
        // A fixed-layout tick array of one of the Whirlpools, at an address nobody subscribed.
        let mut sim = rpc_sim::simulator(7, false);
        let pool = sim
            .snapshot()
            .into_iter()
            .find(|u| u.owner == programs::ORCA_WHIRLPOOL && u.data.len() == 653)
            .unwrap()
            .pubkey;
        let array = sniperforge_engine::whirlpool::TickArray::encode_fixed(
            &pool,
            88 * 64 * 40,
            &[Default::default(); 88],
        );
        let fresh = Pubkey([0xa7; 32]);
        net.server.set(&AccountUpdate {
            pubkey: fresh,
            owner: programs::ORCA_WHIRLPOOL,
            slot: 0,
            write_version: 0,
            data: array,
            received_at: 0,
        });
        // Another pool's array at another fresh address does not come.
        let other = sniperforge_engine::whirlpool::TickArray::encode_fixed(
            &Pubkey([0x11; 32]),
            0,
            &[Default::default(); 88],
        );
        net.server.set(&AccountUpdate {
            pubkey: Pubkey([0xa8; 32]),
            owner: programs::ORCA_WHIRLPOOL,
            slot: 0,
            write_version: 0,
            data: other,
            received_at: 0,
        });
        let events = drain_until(&feed, |e| {
            e.iter()
                .any(|e| matches!(e, FeedEvent::Account(u) if u.pubkey == fresh))
        })
        .await;
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, FeedEvent::Account(u) if u.pubkey == Pubkey([0xa8; 32])))
        );
        stop.store(true, Ordering::Relaxed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_pings_are_answered() {
        let net = loopback(200, Via::Yellowstone).await;
        let (feed, stop) = net.feed(net.options()).await;
        let feed = feed.unwrap();
        // One ping confirms the subscription; the server pings every 2 s and each is answered.
        wait_until("pings answered", Duration::from_secs(15), || {
            net.server.geyser.client_pings.load(Ordering::Relaxed) >= 3
        })
        .await;
        assert!(feed.problems().is_empty(), "{:?}", feed.problems());
        assert_eq!(counter(&feed, "feed_reconnects"), 0.0);
        stop.store(true, Ordering::Relaxed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_that_cannot_replay_from_the_slot_is_resubscribed_from_now() {
        let net = loopback(2_000, Via::Yellowstone).await;
        let (feed, stop) = net.feed(net.options()).await;
        let feed = feed.unwrap();
        drain_until(&feed, |e| e.iter().any(|e| matches!(e, FeedEvent::Slot(_)))).await;
        // The server stops keeping history: it cannot replay from the slot the feed asks.
        net.server.keep_history(0);
        net.server.faults.drop_connections();
        let events = drain_until(&feed, |e| {
            e.iter()
                .position(|e| matches!(e, FeedEvent::Down(_)))
                .is_some_and(|down| e[down..].iter().any(is_resync))
        })
        .await;
        assert!(events.iter().any(is_resync));
        let from = net.server.geyser.from_slots.lock().unwrap().clone();
        assert!(matches!(from.as_slice(), [None, Some(_), None]), "{from:?}");
        drain_until(&feed, |e| {
            e.iter().any(|e| matches!(e, FeedEvent::Account(_)))
        })
        .await;
        assert!(feed.problems().is_empty(), "{:?}", feed.problems());
        stop.store(true, Ordering::Relaxed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_x_token_is_sent_and_a_wrong_one_is_reported() {
        let net = loopback_with_token(500, Via::Yellowstone, Some("s3cret")).await;
        let dir = tempfile::tempdir().unwrap();
        let token_file = |token: &str| {
            let path = dir.path().join(format!("{token}.token"));
            std::fs::write(&path, format!("{token}\n")).unwrap();
            path
        };
        let with_token = |token: &str| {
            let mut o = net.options();
            o.grpc = Some(
                sniperforge_solana::GrpcOptions::new(
                    net.grpc_url.as_deref().unwrap(),
                    Some(&token_file(token)),
                )
                .unwrap(),
            );
            o
        };
        let (good, stop) = net.feed(with_token("s3cret")).await;
        let good = good.unwrap();
        drain_until(&good, |e| {
            e.iter().any(|e| matches!(e, FeedEvent::Account(_)))
        })
        .await;
        stop.store(true, Ordering::Relaxed);

        let (bad, stop) = net.feed(with_token("wrong")).await;
        let bad = bad.unwrap();
        wait_until(
            "the refused token reported",
            Duration::from_secs(10),
            || counter(&bad, "feed_reconnects") >= 1.0,
        )
        .await;
        let problem = &bad.problems()[0];
        assert!(
            problem.contains("Unauthenticated") && problem.contains("x-token"),
            "{problem}"
        );
        assert!(
            !problem.contains("wrong"),
            "the token is never shown: {problem}"
        );
        stop.store(true, Ordering::Relaxed);

        // An empty token file is refused before anything connects.
        std::fs::write(dir.path().join("empty.token"), "\n").unwrap();
        let e = sniperforge_solana::GrpcOptions::new(
            "http://127.0.0.1:1",
            Some(&dir.path().join("empty.token")),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--grpc-x-token-file"), "{e}");
    }
}
