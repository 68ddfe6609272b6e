//! `sniperforge bench gateway`: a bounded load run against a real gateway process on loopback.
//! Starts `sniperforge gateway` (SQLite in a temporary directory), creates `--bots` bots, then
//! (1) ingests one report per bot per second carrying three HDR V2 interval snapshots and measures
//! the gateway process's CPU from /proc, and (2) sends `GET /api/v1/bots` open loop at `--rate`,
//! timing each request from its scheduled send time (no coordinated omission).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// What to run.
#[derive(Debug, clap::Args)]
pub struct GatewayLoadArgs {
    /// Bots to create (each reports once a second in the ingest phase).
    #[arg(long, default_value_t = 1000)]
    pub bots: usize,
    /// `GET /api/v1/bots` requests per second in the read phase.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Connections for the read phase.
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Directory for gateway-load.md and gateway-load.json.
    #[arg(long)]
    pub out: PathBuf,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// Sends a request and reads the whole response; its status.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
    ) -> anyhow::Result<u16> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.stream.write_all(req.as_bytes()).await?;
        self.buf.clear();
        let mut chunk = [0u8; 65536];
        let (head_end, status, length) = loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed mid-response");
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let status: u16 = head
                    .get(9..12)
                    .and_then(|s| s.parse().ok())
                    .context("bad status line")?;
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .context("response without content-length")?;
                break (end + 4, status, length);
            }
        };
        while self.buf.len() < head_end + length {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed mid-body");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(status)
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("bad /proc stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).context("utime")?.parse::<f64>()?
        + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Stops the gateway we started when the run ends, however it ends.
/// Runs the load and writes the report.
pub async fn run(a: &GatewayLoadArgs) -> anyhow::Result<()> {
    if a.duration == 0 || a.rate == 0 || a.bots == 0 || a.connections == 0 {
        bail!("--duration, --rate, --bots and --connections must be at least 1");
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let dir = std::env::temp_dir().join(format!("sniperforge-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let gateway = crate::local_gateway::LocalGateway::start(&dir)?;
    let (addr, token, pid) = (gateway.addr, gateway.token.clone(), gateway.child.0.id());

    // Setup: a node and the bots.
    let mut c = Conn::open(addr).await?;
    let node = json!({"node_id": "load-1", "hostname": "load", "cores": 16, "isolated_cores": [], "memory_mb": 1024, "backend": "process"});
    let s = c
        .request("POST", "/api/v1/agent/register", &token, &node.to_string())
        .await?;
    if s != 200 {
        bail!("register answered {s}");
    }
    let template = sniperforge_bots::template(sniperforge_bots::BotType::EnhancedArbitrage);
    for i in 0..a.bots {
        let mut cfg = template.clone();
        cfg["bot_id"] = json!(format!("load-{i}"));
        let body = json!({"config": cfg, "node_id": "load-1"}).to_string();
        let s = c.request("POST", "/api/v1/bots", &token, &body).await?;
        if s != 201 {
            bail!("creating bot {i} answered {s}");
        }
    }

    // Phase 1: ingest, one report per bot per second, in batches of 100 bots.
    let mut h = sniperforge_protocol::telemetry::latency_histogram();
    for v in 1..2_000u64 {
        h.record(v * 37 % 50_000 + 500)?;
    }
    let snap = base64::engine::general_purpose::STANDARD
        .encode(sniperforge_protocol::telemetry::encode_v2(&h)?);
    let batches: Vec<String> = (0..a.bots)
        .collect::<Vec<_>>()
        .chunks(100)
        .map(|ids| {
            let bots: Vec<Value> = ids
                .iter()
                .map(|i| json!({"bot_id": format!("load-{i}"), "status": {"state": "running"}, "metrics": {"trades_executed": i}, "hdr": {"decoded": snap, "detected": snap, "decided": snap}}))
                .collect();
            json!({"node_id": "load-1", "bots": bots}).to_string()
        })
        .collect();
    // One unmeasured round first: a bot's first report allocates its merged histograms (a
    // one-time cost per bot and stage, ~200 KB each), which is not the steady state measured.
    for b in &batches {
        let s = c.request("POST", "/api/v1/agent/report", &token, b).await?;
        if s != 200 {
            bail!("report answered {s}");
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ingest = sniperforge_protocol::telemetry::latency_histogram();
    let cpu0 = cpu_seconds(pid)?;
    let t0 = Instant::now();
    for second in 0..a.duration {
        for b in &batches {
            let sent = Instant::now();
            let s = c.request("POST", "/api/v1/agent/report", &token, b).await?;
            if s != 200 {
                bail!("report answered {s}");
            }
            ingest.record(sent.elapsed().as_nanos().max(1) as u64)?;
        }
        let next = t0 + Duration::from_secs(second + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    let ingest_wall = t0.elapsed().as_secs_f64();
    let ingest_cores = (cpu_seconds(pid)? - cpu0) / ingest_wall;

    // Phase 2: GET /api/v1/bots open loop.
    let total = a.rate * a.duration;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let interval_ns = 1_000_000_000 / a.rate;
    let mut tasks = Vec::new();
    for k in 0..a.connections {
        let token = token.clone();
        let conns = a.connections as u64;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut hist = sniperforge_protocol::telemetry::latency_histogram();
            let mut errors = 0u64;
            let mut i = k as u64;
            while i < total {
                let due = start + Duration::from_nanos(i * interval_ns);
                tokio::time::sleep_until(due).await;
                match conn.request("GET", "/api/v1/bots", &token, "").await {
                    Ok(200) => {}
                    _ => errors += 1,
                }
                hist.record(due.elapsed().as_nanos().max(1) as u64)?;
                i += conns;
            }
            anyhow::Ok((hist, errors))
        }));
    }
    let cpu1 = cpu_seconds(pid)?;
    let read_t0 = Instant::now();
    let mut reads = sniperforge_protocol::telemetry::latency_histogram();
    let mut errors = 0;
    for t in tasks {
        let (hist, e) = t.await??;
        reads.add(&hist)?;
        errors += e;
    }
    let read_wall = read_t0.elapsed().as_secs_f64();
    let read_cores = (cpu_seconds(pid)? - cpu1) / read_wall;
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);

    let p = |h: &hdrhistogram::Histogram<u64>| sniperforge_protocol::telemetry::Percentiles::of(h);
    let (pi, pr) = (p(&ingest), p(&reads));
    let us = |ns: u64| ns as f64 / 1000.0;
    let report = json!({
        "bots": a.bots, "duration_s": a.duration, "rate": a.rate, "connections": a.connections,
        "ingest": {"reports_per_s": a.bots, "requests": ingest.len(), "gateway_cores": ingest_cores,
                   "request_us": {"p50": us(pi.p50), "p99": us(pi.p99), "p999": us(pi.p999), "max": us(pi.max)}},
        "get_bots": {"requests": reads.len(), "errors": errors, "achieved_per_s": reads.len() as f64 / read_wall, "gateway_cores": read_cores,
                     "latency_us": {"p50": us(pr.p50), "p99": us(pr.p99), "p999": us(pr.p999), "max": us(pr.max)}},
    });
    let md = format!(
        "# Gateway load ({} bots, {} s per phase)\n\n\
         | phase | requests | gateway CPU (cores) | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n\
         | ingest: {} reports/s in batches of 100 (3 HDR snapshots each) | {} | {:.3} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |\n\
         | `GET /api/v1/bots` open loop at {}/s over {} connections ({} errors) | {} | {:.3} | {:.0} µs | {:.0} µs | {:.0} µs | {:.0} µs |\n",
        a.bots,
        a.duration,
        a.bots,
        ingest.len(),
        ingest_cores,
        us(pi.p50),
        us(pi.p99),
        us(pi.p999),
        us(pi.max),
        a.rate,
        a.connections,
        errors,
        reads.len(),
        read_cores,
        us(pr.p50),
        us(pr.p99),
        us(pr.p999),
        us(pr.max),
    );
    std::fs::write(
        a.out.join("gateway-load.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    std::fs::write(a.out.join("gateway-load.md"), &md)?;
    print!("{md}");
    Ok(())
}
