//! `sniperforge bench handover`: restarts paper bots through the agent's warm handovers, and
//! the same bots through stop-then-start (`agent --cold-restarts`), on one shared market (the
//! simulator behind Solana's RPC and pubsub, in this process), against a real gateway and real
//! agents on loopback. Per restart: the gap between the old instance's last decision and the
//! new one's first (both stamp the node's `CLOCK_MONOTONIC`), the account updates the simulator
//! published in that gap (decided on by neither), and from each process's own log of when it
//! held the trading lease, the intervals where two held it at once.

use std::collections::BTreeMap;

use sniperforge_bots::lease::LeaseLog;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sniperforge_agent::http::Endpoint;

use crate::agent_bench::{Api, bot_status, machine, pct, spawn_agent, wait_until};
use crate::local_gateway::LocalGateway;

#[derive(Debug, clap::Args)]
pub struct HandoverBenchArgs {
    /// Paper bots restarted (each one in turn, every round).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub bots: u64,
    /// Restarts of every bot, per way (warm handover, stop-then-start).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub rounds: u64,
    /// Account updates a second the simulated market publishes.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(100..=100_000))]
    pub rate: u64,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Directory for report.md and report.json (work files go under it too).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// One restart as measured.
#[derive(Debug, Clone)]
struct Sample {
    bot: String,
    /// Signed: the new instance's first decision before the old one's last would be negative.
    gap_ns: i64,
    missed: u64,
    /// The old instance letting the lease go to the new one taking it.
    handoff_ns: i64,
}

/// The node's monotonic clock as [`Instant`]s: one pair read together, then offsets.
struct Clock {
    at: Instant,
    ns: u64,
}

impl Clock {
    fn now() -> Self {
        Self {
            at: Instant::now(),
            ns: sniperforge_host::clock::monotonic_ns(),
        }
    }

    fn instant(&self, ns: u64) -> Instant {
        if ns >= self.ns {
            self.at + Duration::from_nanos(ns - self.ns)
        } else {
            self.at - Duration::from_nanos(self.ns - ns)
        }
    }
}

/// Polls `check` every 2 ms until it has an answer (at most 5 minutes).
async fn until_some<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A started bot instance's `/status` lease and pid (`None` while it starts).
async fn lease(node_dir: &Path, bot_id: &str) -> Option<(u32, Value)> {
    let v = bot_status(node_dir, bot_id).await?;
    if v["status"]["state"] != "running" {
        return None;
    }
    Some((v["pid"].as_u64()? as u32, v["lease"].clone()))
}

/// The instance now trading, once it has decided: its pid and first decision.
async fn trading(node_dir: &Path, bot_id: &str, not_pid: u32) -> Option<(u32, u64)> {
    let (pid, l) = lease(node_dir, bot_id).await?;
    let first = l["first_decision_ns"].as_u64()?;
    (pid != not_pid && l["role"] == "trading" && first > 0).then_some((pid, first))
}

/// What a bot's log says of its lease.
fn log_of(log: &Path) -> LeaseLog {
    LeaseLog::parse(&std::fs::read_to_string(log).unwrap_or_default())
}

fn stats(values: &[i64]) -> Value {
    let mut v: Vec<f64> = values.iter().map(|x| *x as f64).collect();
    v.sort_by(f64::total_cmp);
    json!({
        "n": v.len(),
        "p50": pct(&v, 0.5) as i64,
        "p99": pct(&v, 0.99) as i64,
        "p999": pct(&v, 0.999) as i64,
        "max": v.last().copied().unwrap_or(0.0) as i64,
    })
}

/// One way of restarting, over every bot and round.
async fn measure(
    a: &HandoverBenchArgs,
    work: &Path,
    gateway: &LocalGateway,
    market: &sniperforge_sim::rpc_sim::RpcSim,
    feed: &[String],
    cold: bool,
) -> anyhow::Result<Value> {
    let way = if cold { "cold" } else { "warm" };
    let node = format!("bench-{way}");
    let node_dir = work.join(&node);
    let mut extra = feed.to_vec();
    if cold {
        extra.push("--cold-restarts".into());
    }
    let agent = spawn_agent(gateway, &node_dir, &node, &extra)?;
    let api = Api {
        ep: Endpoint::parse(&format!("http://{}", gateway.addr))?,
        token: gateway.token.clone(),
    };
    wait_until("the agent to register", || async {
        api.call("GET", "/api/v1/nodes", None)
            .await
            .is_ok_and(|v| v["nodes"].to_string().contains(&node))
    })
    .await?;
    let mut template = sniperforge_bots::template(sniperforge_bots::BotType::EnhancedArbitrage);
    template["resources"]["cores"] = json!([]);
    let ids: Vec<String> = (0..a.bots).map(|i| format!("{way}-{i}")).collect();
    for id in &ids {
        let mut cfg = template.clone();
        cfg["bot_id"] = json!(id);
        api.call(
            "POST",
            "/api/v1/bots",
            Some(json!({"node_id": node, "config": cfg})),
        )
        .await?;
        api.call("POST", &format!("/api/v1/bots/{id}/start"), None)
            .await?;
    }
    let mut pids = BTreeMap::new();
    for id in &ids {
        let (pid, _) = until_some(&format!("{id} trading"), || trading(&node_dir, id, 0)).await?;
        pids.insert(id.clone(), pid);
    }
    let clock = Clock::now();
    let mut samples = Vec::new();
    for _ in 0..a.rounds {
        for id in &ids {
            let old = pids[id];
            api.call("POST", &format!("/api/v1/bots/{id}/restart"), None)
                .await?;
            let (pid, first) = until_some(&format!("{id}: a new instance trading"), || {
                trading(&node_dir, id, old)
            })
            .await?;
            let log = node_dir.join("logs").join(format!("{id}.log"));
            // The old instance's release is in the log once it has let the lease go.
            let last = until_some(&format!("{id}: the old instance's release logged"), || {
                std::future::ready(
                    log_of(&log)
                        .last_decision
                        .get(&u64::from(old))
                        .copied()
                        .filter(|d| *d > 0),
                )
            })
            .await?;
            pids.insert(id.clone(), pid);
            // Updates in the gap: published after the old instance's last decision and
            // before the new one's first.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let missed = market
                .published_between(clock.instant(last), clock.instant(first))
                .context("the simulator's publish log does not reach back to the gap")?;
            let lease = log_of(&log);
            let released = lease
                .held
                .get(&u64::from(old))
                .and_then(|v| v.last())
                .map_or(0, |i| i.1);
            let taken = lease
                .held
                .get(&u64::from(pid))
                .and_then(|v| v.last())
                .map_or(0, |i| i.0);
            samples.push(Sample {
                bot: id.clone(),
                gap_ns: first as i64 - last as i64,
                missed,
                handoff_ns: taken as i64 - released as i64,
            });
        }
    }
    for id in &ids {
        api.call("POST", &format!("/api/v1/bots/{id}/stop"), None)
            .await?;
    }
    drop(agent);
    // Two instances trading at once: lease intervals of two processes that overlap in their
    // own logs, or a new instance deciding before the old one's last decision.
    let mut double = samples.iter().filter(|s| s.gap_ns <= 0).count() as u64;
    for id in &ids {
        double += log_of(&node_dir.join("logs").join(format!("{id}.log"))).overlaps();
    }
    let of = |sel: &dyn Fn(&Sample) -> bool| {
        let chosen: Vec<&Sample> = samples.iter().filter(|s| sel(s)).collect();
        let gaps: Vec<i64> = chosen.iter().map(|s| s.gap_ns).collect();
        let missed: Vec<i64> = chosen.iter().map(|s| s.missed as i64).collect();
        let mut m = stats(&missed);
        m["total"] = json!(missed.iter().sum::<i64>());
        (stats(&gaps), m)
    };
    let (gap, missed) = of(&|_| true);
    let handoff: Vec<i64> = samples.iter().map(|s| s.handoff_ns).collect();
    let per_bot: serde_json::Map<String, Value> = ids
        .iter()
        .map(|id| {
            let (gap, missed) = of(&|s| &s.bot == id);
            (id.clone(), json!({"gap_ns": gap, "missed_updates": missed}))
        })
        .collect();
    Ok(json!({
        "restarts": samples.len(),
        "gap_ns": gap,
        "double_trading": double,
        "missed_updates": missed,
        "lease_handoff_ns": stats(&handoff),
        "per_bot": per_bot,
    }))
}

pub async fn run(a: &HandoverBenchArgs) -> anyhow::Result<()> {
    let work = std::path::absolute(a.out.join("work"))?;
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    // The shared market: the simulator behind Solana's JSON-RPC and websocket pubsub.
    let rpc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let (rpc_at, ws_at) = (rpc.local_addr()?, ws.local_addr()?);
    let markets = work.join("markets.json");
    std::fs::write(
        &markets,
        serde_json::to_vec_pretty(&sniperforge_sim::rpc_sim::markets(
            &mut sniperforge_sim::rpc_sim::simulator(a.seed, false),
        ))?,
    )?;
    let market = sniperforge_sim::rpc_sim::RpcSim::start(
        sniperforge_sim::rpc_sim::simulator(a.seed, false),
        a.rate,
        400,
    );
    // Enough for every restart of the run at the highest rate.
    market.log_publishes(a.rate as usize * 600);
    let server = tokio::spawn(sniperforge_sim::rpc_sim::serve(
        std::sync::Arc::clone(&market),
        rpc,
        ws,
    ));
    let feed: Vec<String> = [
        "--feed".to_string(),
        "solana".into(),
        "--rpc-url".into(),
        format!("http://{rpc_at}"),
        "--ws-url".into(),
        format!("ws://{ws_at}"),
        "--markets".into(),
    ]
    .into_iter()
    .chain([markets.display().to_string()])
    .collect();
    let gateway = LocalGateway::start(&work.join("gateway"))?;
    let started = Instant::now();
    let warm = measure(a, &work, &gateway, &market, &feed, false).await?;
    let cold = measure(a, &work, &gateway, &market, &feed, true).await?;
    let took = started.elapsed();
    drop(gateway);
    server.abort();
    if warm["restarts"].as_u64() == Some(0) {
        bail!("no restart measured");
    }
    let mut report = warm.clone();
    report["stop_then_start"] = cold.clone();
    report["bots"] = json!(a.bots);
    report["rounds"] = json!(a.rounds);
    report["rate"] = json!(a.rate);
    report["machine"] = json!(machine());
    report["seconds"] = json!(took.as_secs_f64());
    let ms = |v: &Value, k: &str| v["gap_ns"][k].as_i64().unwrap_or(0) as f64 / 1e6;
    let row = |name: &str, v: &Value| {
        format!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {:.2} | {} |\n",
            v["restarts"],
            ms(v, "p50"),
            ms(v, "p99"),
            ms(v, "p999"),
            ms(v, "max"),
            v["missed_updates"]["p50"],
            v["missed_updates"]["max"],
            v["lease_handoff_ns"]["p50"].as_i64().unwrap_or(0) as f64 / 1e6,
            v["double_trading"],
        )
    };
    let md = format!(
        "# Restarts: warm handover vs stop-then-start\n\n\
         Machine: {machine}. {bots} paper bots (enhanced_arbitrage) on one simulated market \
         publishing {rate} account updates/s over Solana's pubsub, each restarted {rounds} \
         times per way through a real gateway and agent (process backend).\n\n\
         Gap: the old instance's last decision to the new one's first (it includes the market's \
         own quiet before the switch). Missed: account updates published in that gap (decided \
         on by neither). Handoff: the old instance letting its trading lease go to the new one \
         taking it (p50). Double: intervals where two instances of one bot traded at once (lease \
         intervals that overlap in the processes' own logs, or a new first decision before the \
         old last one).\n\n\
         | way | restarts | gap p50 ms | p99 | p99.9 | max | missed p50 | missed max | handoff p50 ms | double |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{}{}\n\
         Whole run: {secs:.0} s.\n",
        row("warm handover", &warm),
        row("stop then start", &cold),
        machine = report["machine"].as_str().unwrap_or_default(),
        bots = a.bots,
        rate = a.rate,
        rounds = a.rounds,
        secs = took.as_secs_f64(),
    );
    std::fs::write(
        a.out.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(a.out.join("report.md"), &md)?;
    print!("{md}");
    Ok(())
}
