//! `sniperforge up`: the whole fleet on this machine in one process tree — the gateway on
//! SQLite under the data directory, a local agent, and a demo fleet in simulation mode on the
//! market simulator. Ctrl-C (or SIGTERM) stops the agent with its bots, then the gateway; a
//! second start resumes the same fleet and history.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use sniperforge_agent::http::Endpoint;
use sniperforge_bots::BotType;

use crate::local_gateway::Child;

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Gateway address (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Data directory: gateway.db, admin.token, the agent's bots.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Agent backend: process, or systemd where a systemd manager runs.
    #[arg(long, default_value = "process")]
    pub backend: String,
    /// The bots' market feed; `--feed solana` without `--rpc-url` starts `rpc-sim` (the
    /// simulator behind Solana's RPC wire protocol) on the gateway's port + 2 and + 3 (free
    /// ports when those are busy); `--feed yellowstone` without `--rpc-url` also has it serve
    /// Yellowstone gRPC on + 4.
    #[command(flatten)]
    pub feed: crate::feed_args::FeedArgs,
    /// Where the simulated external venue (for the cross-chain bot) listens; default: the
    /// gateway's address with the next port (a free one when that is busy).
    #[arg(long)]
    pub venue_listen: Option<std::net::SocketAddr>,
    /// Node id of the local agent.
    #[arg(long, default_value = "local")]
    pub node_id: String,
}

/// One bot of each type.
const DEMO: [BotType; 7] = BotType::ALL;

async fn api(
    ep: &Endpoint,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(u16, Value)> {
    let r = ep
        .request(
            method,
            path,
            Some(token),
            body.map(|b| b.to_string()),
            Duration::from_secs(10),
        )
        .await?;
    Ok((r.status, r.json().unwrap_or(Value::Null)))
}

/// Creates and starts the demo bots that do not exist yet; existing ones keep their state.
async fn demo_fleet(
    ep: &Endpoint,
    token: &str,
    node: &str,
    venue_url: &str,
) -> anyhow::Result<Vec<String>> {
    let (_, bots) = api(ep, token, "GET", "/api/v1/bots", None).await?;
    let existing: Vec<String> = bots["bots"]
        .as_array()
        .map(|b| {
            b.iter()
                .filter_map(|b| b["bot_id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut ids = Vec::new();
    for t in DEMO {
        let id = format!("demo-{}", t.as_str().replace('_', "-"));
        ids.push(id.clone());
        if existing.contains(&id) {
            continue;
        }
        let mut cfg = sniperforge_bots::template(t);
        cfg["bot_id"] = json!(id);
        if t == BotType::CrossChainArbitrage {
            cfg["parameters"]["trading"]["venue_url"] = json!(venue_url);
        }
        // Seven bots share one machine: none reserves cores (the templates reserve none), each
        // parks when idle.
        let (s, b) = api(
            ep,
            token,
            "POST",
            "/api/v1/bots",
            Some(json!({"node_id": node, "config": cfg})),
        )
        .await?;
        if s != 201 {
            bail!("creating {id}: HTTP {s}: {b}");
        }
        let (s, b) = api(ep, token, "POST", &format!("/api/v1/bots/{id}/start"), None).await?;
        if s != 200 {
            bail!("starting {id}: HTTP {s}: {b}");
        }
    }
    Ok(ids)
}

async fn run_async(a: &UpArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding this binary")?;
    let data = std::path::absolute(&a.data_dir)?;
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    let gateway_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("gateway.log"))?;
    let mut gateway = Child(
        Command::new(&exe)
            .args(["gateway", "--listen", &a.listen.to_string(), "--data-dir"])
            .arg(&data)
            .arg("--database")
            .arg(format!("sqlite://{}", data.join("gateway.db").display()))
            .stdout(gateway_log.try_clone()?)
            .stderr(gateway_log)
            .spawn()
            .context("starting the gateway")?,
    );
    let ep = Endpoint::parse(&format!("http://{}", a.listen))?;
    let mut healthy = false;
    for _ in 0..300 {
        if let Ok(Some(st)) = gateway.0.try_wait() {
            bail!(
                "the gateway exited ({st}); see {}",
                data.join("gateway.log").display()
            );
        }
        if ep
            .request(
                "GET",
                "/api/v1/system/health",
                None,
                None,
                Duration::from_millis(500),
            )
            .await
            .is_ok_and(|r| r.status == 200)
        {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !healthy {
        bail!("the gateway did not answer on {} within 15 s", a.listen);
    }
    let token_file = data.join("admin.token");
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading {}", token_file.display()))?
        .trim()
        .to_string();
    // The agent gets its own token, bound to its node: it reaches the agent routes for that
    // node only (the admin token stays with the operator).
    let agent_token_file = data.join("agent.token");
    let agent_token_name = format!("agent-{}", a.node_id);
    let (status, _) = api(
        &ep,
        &token,
        "DELETE",
        &format!("/api/v1/auth/tokens/{agent_token_name}"),
        None,
    )
    .await?;
    if status != 200 && status != 404 {
        bail!("revoking the previous {agent_token_name} token: HTTP {status}");
    }
    let (status, made) = api(
        &ep,
        &token,
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({"name": agent_token_name, "role": "agent", "node_id": a.node_id})),
    )
    .await?;
    let Some(agent_token) = made["token"].as_str().filter(|_| status == 201) else {
        bail!("making the agent's token: HTTP {status}: {made}");
    };
    write_private(&agent_token_file, agent_token)?;
    let agent_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("agent.log"))?;
    // A Solana feed with no node named: the simulator behind Solana's RPC, in this tree.
    let mut feed = a.feed.clone();
    let mut rpc_sim = None;
    let yellowstone = feed.feed == "yellowstone";
    if (feed.feed == "solana" || yellowstone) && feed.solana.rpc_url.is_none() {
        let (rpc, ws, grpc) = (
            neighbour_or_free(a.listen, 2).port(),
            neighbour_or_free(a.listen, 3).port(),
            neighbour_or_free(a.listen, 4).port(),
        );
        let markets = data.join("markets.json");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data.join("rpc-sim.log"))?;
        let ip = a.listen.ip();
        rpc_sim = Some(Child(
            Command::new(&exe)
                .args(["rpc-sim", "--listen", &format!("{ip}:{rpc}")])
                .args(["--ws-listen", &format!("{ip}:{ws}"), "--markets-out"])
                .arg(&markets)
                .args(if yellowstone {
                    vec!["--grpc-listen".to_string(), format!("{ip}:{grpc}")]
                } else {
                    Vec::new()
                })
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting rpc-sim")?,
        ));
        let last = if yellowstone { grpc } else { ws };
        for _ in 0..300 {
            if markets.exists() && std::net::TcpStream::connect((ip, last)).is_ok() {
                break;
            }
            if let Some(Ok(Some(st))) = rpc_sim.as_mut().map(|c: &mut Child| c.0.try_wait()) {
                bail!(
                    "rpc-sim exited ({st}); see {}",
                    data.join("rpc-sim.log").display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        feed.solana.rpc_url = Some(format!("http://{ip}:{rpc}"));
        feed.solana.ws_url = Some(format!("ws://{ip}:{ws}"));
        if yellowstone {
            feed.solana.grpc_url = Some(format!("http://{ip}:{grpc}"));
        }
        feed.solana.markets = Some(markets);
    }
    // A recording of the simulator for backtests (the Backtests page, `POST /api/v1/backtests`),
    // made once: 20,000 updates, a fraction of a second.
    let recordings = data.join("node").join("recordings");
    let demo = recordings.join("demo.sfrec");
    if !demo.exists() {
        std::fs::create_dir_all(&recordings)
            .with_context(|| format!("creating {}", recordings.display()))?;
        let made = Command::new(&exe)
            .args(["record", "--updates", "20000", "--out"])
            .arg(&demo)
            .stdout(std::process::Stdio::null())
            .status()
            .context("recording the simulator for backtests")?;
        if !made.success() {
            bail!("recording {} failed ({made})", demo.display());
        }
    }
    let mut agent = Child(
        Command::new(&exe)
            .args([
                "agent",
                "--gateway",
                &format!("http://{}", a.listen),
                "--node-id",
                &a.node_id,
            ])
            .args(["--backend", &a.backend])
            .args(feed.bot_args())
            .args(["--stop-bots-on-exit", "--token-file"])
            .arg(&agent_token_file)
            .arg("--data-dir")
            .arg(data.join("node"))
            .stdout(agent_log.try_clone()?)
            .stderr(agent_log)
            .spawn()
            .context("starting the agent")?,
    );
    // The external venue the cross-chain bot compares the pools with.
    let venue_addr = a
        .venue_listen
        .unwrap_or_else(|| neighbour_or_free(a.listen, 1));
    let venue_log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("venue.log"))?;
    let mut venue = Child(
        Command::new(&exe)
            .args(["venue-sim", "--listen", &venue_addr.to_string()])
            .stdout(venue_log.try_clone()?)
            .stderr(venue_log)
            .spawn()
            .context("starting the venue simulator")?,
    );
    // Its port taken after all (or any other start failure) shows here, not as a cross-chain bot
    // that never sees a quote.
    for _ in 0..100 {
        if std::net::TcpStream::connect(venue_addr).is_ok() {
            break;
        }
        if let Ok(Some(st)) = venue.0.try_wait() {
            bail!(
                "the venue simulator exited ({st}); see {}",
                data.join("venue.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let venue_url = format!("ws://{venue_addr}/ticker");
    let ids = demo_fleet(&ep, &token, &a.node_id, &venue_url).await?;
    println!("SniperForge is up (simulation mode: nothing is ever sent on-chain)");
    println!(
        "  web UI:      http://{}/  (sign in with the admin token)",
        a.listen
    );
    println!(
        "  API:         http://{}/api/v1  (OpenAPI: /api/v1/openapi.json)",
        a.listen
    );
    println!("  admin token: {}", token_file.display());
    println!("  venue:       {venue_url}  (simulated external venue for cross-chain arbitrage)");
    println!("  demo bots:   {}", ids.join(", "));
    match (&rpc_sim, &feed.solana.rpc_url) {
        (Some(_), Some(url)) if yellowstone => println!(
            "  market:      {url} + Yellowstone gRPC {}  (rpc-sim: the simulator behind Solana's RPC and Geyser)",
            feed.solana.grpc_url.as_deref().unwrap_or_default()
        ),
        (Some(_), Some(url)) => {
            println!("  market:      {url}  (rpc-sim: the simulator behind Solana's RPC)")
        }
        (None, Some(url)) => println!("  market:      {url}  (Solana RPC)"),
        _ => println!("  market:      {}", feed.feed),
    }
    println!(
        "  logs:        {} and {}",
        data.join("gateway.log").display(),
        data.join("agent.log").display()
    );
    println!(
        "  try:         curl -H \"Authorization: Bearer $(cat {})\" http://{}/api/v1/bots",
        token_file.display(),
        a.listen
    );
    println!("Ctrl-C stops everything.");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick() => {
                if let Ok(Some(st)) = gateway.0.try_wait() {
                    eprintln!("up: the gateway exited ({st}); stopping");
                    break;
                }
                if let Ok(Some(st)) = agent.0.try_wait() {
                    eprintln!("up: the agent exited ({st}); stopping");
                    break;
                }
            }
        }
    }
    println!("stopping: the agent stops its bots, then the gateway");
    agent.stop(Duration::from_secs(30));
    venue.stop(Duration::from_secs(5));
    if let Some(mut sim) = rpc_sim {
        sim.stop(Duration::from_secs(5));
    }
    gateway.stop(Duration::from_secs(15));
    println!("stopped");
    Ok(())
}

/// The gateway's address with its port + `offset` when that port is free now, otherwise a port
/// the system picks (a busy neighbour, say an outgoing connection's port, must not stop `up`).
fn neighbour_or_free(listen: std::net::SocketAddr, offset: u16) -> std::net::SocketAddr {
    let mut addr = listen;
    addr.set_port(listen.port().wrapping_add(offset));
    if std::net::TcpListener::bind(addr).is_ok() {
        return addr;
    }
    addr.set_port(0);
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.local_addr())
        .unwrap_or(addr)
}

pub fn run(a: &UpArgs) -> ExitCode {
    if a.backend != "process" && a.backend != "systemd" {
        eprintln!("error: --backend {}: process or systemd", a.backend);
        return ExitCode::from(2);
    }
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(run_async(a)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes a secret to a new file only its owner can read (0600 from its creation on).
fn write_private(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = sniperforge_bots::process::create_private(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(secret.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
