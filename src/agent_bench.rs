//! `sniperforge bench agent`: how fast the agent turns a desired-state change into a running
//! bot, per backend, and how long it takes to reconcile a whole node (start N bots, then stop
//! them), against a real gateway process and a real agent process on loopback.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sniperforge_agent::http::Endpoint;

use crate::local_gateway::{Child, LocalGateway};

#[derive(Debug, clap::Args)]
pub struct AgentBenchArgs {
    /// Backend: process or systemd.
    #[arg(long, default_value = "process")]
    pub backend: String,
    /// systemd backend: the manager's bus (e.g. unix:path=$XDG_RUNTIME_DIR/bus of a user
    /// manager; bench/private-systemd.sh starts a private one safely).
    #[arg(long)]
    pub systemd_bus: Option<String>,
    /// Single-bot start samples.
    #[arg(long, default_value_t = 20)]
    pub samples: usize,
    /// Bots in the whole-node reconcile.
    #[arg(long, default_value_t = 100)]
    pub bots: usize,
    /// Directory for agent-bench.md and agent-bench.json (work files go under it too).
    #[arg(long)]
    pub out: PathBuf,
}

const DEADLINE: Duration = Duration::from_secs(300);

/// The gateway's API with a token.
pub(crate) struct Api {
    pub(crate) ep: Endpoint,
    pub(crate) token: String,
}

impl Api {
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let r = self
            .ep
            .request(
                method,
                path,
                Some(&self.token),
                body.map(|b| b.to_string()),
                Duration::from_secs(30),
            )
            .await?;
        if !(200..300).contains(&r.status) {
            bail!("{method} {path}: HTTP {}: {}", r.status, r.error_message());
        }
        Ok(r.json().unwrap_or(Value::Null))
    }
}

/// The control port and secret the agent gave a bot (from its record), once it exists.
pub(crate) fn control_port(node_dir: &Path, bot_id: &str) -> Option<(u16, String)> {
    let record: Value = serde_json::from_slice(
        &std::fs::read(node_dir.join("agent/bots").join(format!("{bot_id}.json"))).ok()?,
    )
    .ok()?;
    let port = record["spec"]["control_port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())?;
    let secret = record["spec"]["control_secret"].as_str()?.to_string();
    Some((port, secret))
}

/// The bot's own `/status` (through the control port and secret of its record).
pub(crate) async fn bot_status(node_dir: &Path, bot_id: &str) -> Option<Value> {
    let (port, secret) = control_port(node_dir, bot_id)?;
    let r = Endpoint::loopback(port)
        .request(
            "GET",
            "/status",
            Some(&secret),
            None,
            Duration::from_millis(500),
        )
        .await
        .ok()?;
    (r.status == 200).then(|| r.json().ok()).flatten()
}

/// Whether the bot's own control endpoint says it is running.
async fn bot_running(node_dir: &Path, bot_id: &str) -> bool {
    bot_status(node_dir, bot_id)
        .await
        .is_some_and(|v| v["status"]["state"] == "running")
}

async fn reported(api: &Api, bot_id: &str) -> String {
    api.call("GET", &format!("/api/v1/bots/{bot_id}/status"), None)
        .await
        .ok()
        .and_then(|v| {
            v["reported"]["status"]["state"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default()
}

pub(crate) async fn wait_until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        if start.elapsed() > DEADLINE {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(start.elapsed())
}

pub(crate) fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> Value {
    ms.sort_by(f64::total_cmp);
    json!({"n": ms.len(), "p50_ms": pct(&ms, 0.5), "p99_ms": pct(&ms, 0.99),
           "p999_ms": pct(&ms, 0.999), "max_ms": ms.last().copied().unwrap_or(0.0)})
}

/// This machine in words: its CPU model and how many cores this process may use.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// An agent process for `gateway` (its admin token) with its data in `node_dir`; its bots stop
/// with it.
pub(crate) fn spawn_agent(
    gateway: &LocalGateway,
    node_dir: &Path,
    node_id: &str,
    extra: &[String],
) -> anyhow::Result<Child> {
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args([
        "agent",
        "--gateway",
        &format!("http://{}", gateway.addr),
        "--node-id",
        node_id,
        "--stop-bots-on-exit",
        "--token-file",
    ])
    .arg(gateway.dir.join("admin.token"))
    .arg("--data-dir")
    .arg(node_dir)
    .args(extra)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    Ok(Child(cmd.spawn().context("starting the agent")?))
}

pub async fn run(a: &AgentBenchArgs) -> anyhow::Result<()> {
    if a.backend != "process" && a.backend != "systemd" {
        bail!("--backend {}: process or systemd", a.backend);
    }
    if a.backend == "systemd" && a.systemd_bus.is_none() {
        bail!("--backend systemd needs --systemd-bus (see bench/private-systemd.sh)");
    }
    let work = std::path::absolute(a.out.join("work"))?;
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let gateway = LocalGateway::start(&work.join("gateway"))?;
    let api = Api {
        ep: Endpoint::parse(&format!("http://{}", gateway.addr))?,
        token: gateway.token.clone(),
    };
    let node_dir = work.join("node");
    let mut extra = vec!["--backend".to_string(), a.backend.clone()];
    if let Some(bus) = &a.systemd_bus {
        extra.extend(["--systemd-bus".to_string(), bus.clone()]);
    }
    let agent = spawn_agent(&gateway, &node_dir, "bench", &extra)?;
    wait_until("the agent to register", || async {
        api.call("GET", "/api/v1/nodes", None)
            .await
            .is_ok_and(|v| v["nodes"].as_array().is_some_and(|n| !n.is_empty()))
    })
    .await?;
    let template = sniperforge_bots::template(sniperforge_bots::BotType::EnhancedArbitrage);
    let create = |id: String| {
        let mut cfg = template.clone();
        cfg["bot_id"] = json!(id);
        // A hundred bots on a few cores: none pinned.
        cfg["resources"]["cores"] = json!([]);
        json!({"node_id": "bench", "config": cfg})
    };

    // One bot at a time: desired running → the bot's control endpoint says running, and →
    // the gateway shows the agent's report of it.
    let (mut to_bot, mut to_gateway, mut to_stop) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..a.samples {
        let id = format!("lat-{i}");
        api.call("POST", "/api/v1/bots", Some(create(id.clone())))
            .await?;
        let t0 = Instant::now();
        api.call("POST", &format!("/api/v1/bots/{id}/start"), None)
            .await?;
        wait_until(&format!("{id} running"), || bot_running(&node_dir, &id)).await?;
        to_bot.push(t0.elapsed().as_secs_f64() * 1e3);
        wait_until(&format!("{id} reported"), || async {
            reported(&api, &id).await == "running"
        })
        .await?;
        to_gateway.push(t0.elapsed().as_secs_f64() * 1e3);
        let port = control_port(&node_dir, &id).map(|(p, _)| p);
        let t1 = Instant::now();
        api.call("POST", &format!("/api/v1/bots/{id}/stop"), None)
            .await?;
        wait_until(&format!("{id} stopped"), || async {
            match port {
                Some(p) => Endpoint::loopback(p)
                    .request("GET", "/health", None, None, Duration::from_millis(200))
                    .await
                    .is_err(),
                None => true,
            }
        })
        .await?;
        to_stop.push(t1.elapsed().as_secs_f64() * 1e3);
        api.call("DELETE", &format!("/api/v1/bots/{id}"), None)
            .await?;
    }

    // The whole node: N bots desired running at once, then the emergency stop.
    for i in 0..a.bots {
        api.call("POST", "/api/v1/bots", Some(create(format!("fleet-{i}"))))
            .await?;
    }
    let t0 = Instant::now();
    for i in 0..a.bots {
        api.call("POST", &format!("/api/v1/bots/fleet-{i}/start"), None)
            .await?;
    }
    let issued = t0.elapsed();
    let ids: Vec<String> = (0..a.bots).map(|i| format!("fleet-{i}")).collect();
    let mut pending: Vec<String> = ids.clone();
    while !pending.is_empty() {
        if t0.elapsed() > DEADLINE {
            bail!("timed out: {} fleet bots not running", pending.len());
        }
        let mut still = Vec::new();
        for id in pending {
            if !bot_running(&node_dir, &id).await {
                still.push(id);
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let all_running = t0.elapsed();
    let ports: Vec<u16> = ids
        .iter()
        .filter_map(|id| control_port(&node_dir, id).map(|(p, _)| p))
        .collect();
    let t1 = Instant::now();
    api.call("POST", "/api/v1/system/emergency-stop", None)
        .await?;
    let mut alive = ports.clone();
    while !alive.is_empty() {
        if t1.elapsed() > DEADLINE {
            bail!("timed out: {} fleet bots still answering", alive.len());
        }
        let mut still = Vec::new();
        for p in alive {
            if Endpoint::loopback(p)
                .request("GET", "/health", None, None, Duration::from_millis(200))
                .await
                .is_ok()
            {
                still.push(p);
            }
        }
        alive = still;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let all_stopped = t1.elapsed();
    drop(agent);
    drop(gateway);

    let report = json!({
        "backend": a.backend,
        "machine": machine(),
        "single_bot": {
            "desired_to_bot_running": summary(to_bot),
            "desired_to_gateway_reported_running": summary(to_gateway),
            "stop_to_process_gone": summary(to_stop),
        },
        "node": {
            "bots": a.bots,
            "start_requests_issued_ms": issued.as_secs_f64() * 1e3,
            "desired_to_all_running_ms": all_running.as_secs_f64() * 1e3,
            "emergency_stop_to_all_gone_ms": all_stopped.as_secs_f64() * 1e3,
        },
    });
    let row = |name: &str, v: &Value| {
        format!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            v["n"],
            v["p50_ms"].as_f64().unwrap_or(0.0),
            v["p99_ms"].as_f64().unwrap_or(0.0),
            v["p999_ms"].as_f64().unwrap_or(0.0),
            v["max_ms"].as_f64().unwrap_or(0.0)
        )
    };
    let s = &report["single_bot"];
    let n = &report["node"];
    let md = format!(
        "# Agent reconcile ({backend} backend)\n\nMachine: {machine}\n\n\
         | one bot, ms | n | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|\n{}{}{}\n\
         Whole node: {bots} bots desired running → all running at their control endpoints in \
         {:.0} ms (requests issued in {:.0} ms); emergency stop → all gone in {:.0} ms.\n",
        row(
            "desired running → bot says running",
            &s["desired_to_bot_running"]
        ),
        row(
            "desired running → gateway shows running",
            &s["desired_to_gateway_reported_running"]
        ),
        row("desired stopped → process gone", &s["stop_to_process_gone"]),
        n["desired_to_all_running_ms"].as_f64().unwrap_or(0.0),
        n["start_requests_issued_ms"].as_f64().unwrap_or(0.0),
        n["emergency_stop_to_all_gone_ms"].as_f64().unwrap_or(0.0),
        backend = a.backend,
        machine = report["machine"].as_str().unwrap_or_default(),
        bots = a.bots,
    );
    std::fs::write(
        a.out.join("agent-bench.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(a.out.join("agent-bench.md"), &md)?;
    print!("{md}");
    Ok(())
}
