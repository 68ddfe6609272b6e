//! `sniperforge bench bot`: the deployed path measured. Starts a real `sniperforge bot` process
//! on the simulator at a scheduled rate, reads the bot's own `/hdr` (per-stage HDR histograms,
//! ns from each update's scheduled time) once a second, and writes the same report files as
//! `bench latency`: report.md, report.json, one .hgrm per stage, latency.svg.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use sniperforge_bots::BotType;
use sniperforge_bots::runtime::{Plan, STAGES};
use sniperforge_protocol::telemetry::Percentiles;

#[derive(Debug, clap::Args)]
pub struct BenchBotArgs {
    /// Bot type (triangular_arbitrage, enhanced_arbitrage, …).
    #[arg(long = "type")]
    pub bot_type: String,
    /// Simulator updates per second, scheduled open loop.
    #[arg(long, default_value_t = 100_000)]
    pub rate: u64,
    /// Seconds measured (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Directory for report.md, report.json, *.hgrm, latency.svg, the bot's config and log.
    #[arg(long)]
    pub out: PathBuf,
    /// Cores the bot reserves (`resources.cores`: feed, strategy), comma-separated; default:
    /// what measures best on this machine (see report.md).
    #[arg(long, value_delimiter = ',')]
    pub cores: Option<Vec<usize>>,
    /// Busy-poll the reserved cores (`execution.spin`).
    #[arg(long, conflicts_with = "no_spin")]
    pub spin: bool,
    /// Park when idle.
    #[arg(long)]
    pub no_spin: bool,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A request to the bot's control endpoint (`secret`: its control secret).
fn http(addr: &str, secret: &str, method: &str, path: &str) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The answers are small JSON documents; more than 16 MiB is not the bot answering.
    let mut text = String::new();
    s.take(16 << 20).read_to_string(&mut text)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{method} {path}: not an HTTP answer"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("{method} {path}: no status code"))?;
    Ok((code, body.to_string()))
}

/// Adds one `/hdr` answer into `totals` (one per stage).
fn merge_hdr(addr: &str, secret: &str, totals: &mut [Histogram<u64>]) -> anyhow::Result<()> {
    use base64::Engine as _;
    let (code, body) = http(addr, secret, "GET", "/hdr")?;
    if code != 200 {
        bail!("GET /hdr: {code} {body}");
    }
    let v: Value = serde_json::from_str(&body).context("GET /hdr: not JSON")?;
    for (name, total) in STAGES.iter().zip(totals.iter_mut()) {
        let Some(text) = v["stages"][name].as_str() else {
            bail!("GET /hdr: no stage {name}");
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .with_context(|| format!("GET /hdr: stage {name} is not base64"))?;
        sniperforge_protocol::telemetry::merge_v2(total, &bytes)
            .map_err(|e| anyhow::anyhow!("GET /hdr: stage {name}: {e}"))?;
    }
    Ok(())
}

pub fn run(a: &BenchBotArgs) -> anyhow::Result<()> {
    if !(1..=86_400).contains(&a.duration) {
        bail!("--duration must be 1 to 86400 seconds");
    }
    if !(1..=sniperforge_bots::runtime::MAX_RATE).contains(&a.rate) {
        bail!(
            "--rate must be 1 to {} updates per second",
            sniperforge_bots::runtime::MAX_RATE
        );
    }
    let bot_type: BotType = a
        .bot_type
        .parse()
        .map_err(|e| anyhow::anyhow!("--type {:?}: {e}", a.bot_type))?;
    fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let allowed = sniperforge_bots::runtime::affinity::allowed_cores();
    let (default_cores, default_spin, why) =
        sniperforge_bots::runtime::affinity::best_placement(allowed);
    let chosen = a.cores.is_none() && !a.spin && !a.no_spin;
    let cores = a.cores.clone().unwrap_or(default_cores);
    let spin = if a.spin {
        true
    } else if a.no_spin {
        false
    } else {
        default_spin
    };
    let mut config = sniperforge_bots::template(bot_type);
    config["bot_id"] = json!(format!("bench-{bot_type}"));
    config["resources"]["cores"] = json!(cores);
    config["parameters"]["execution"]["spin"] = json!(spin);
    let config_text = serde_json::to_string_pretty(&config)?;
    if let Err(errors) = sniperforge_bots::parse(&config_text) {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        bail!("the bench's configuration is invalid: {}", all.join("; "));
    }
    let config_path = a.out.join("bot.json");
    fs::write(&config_path, &config_text).context("writing bot.json")?;
    let plan = Plan::new(&cores, allowed, spin, false);

    let secret_path = a.out.join("control.secret");
    let secret = sniperforge_bots::process::new_control_secret()
        .and_then(|s| sniperforge_bots::process::write_control_secret(&secret_path, &s).map(|()| s))
        .with_context(|| format!("writing {}", secret_path.display()))?;
    let exe = std::env::current_exe().context("locating this binary")?;
    let mut child = Command::new(exe)
        .args(["bot", "--feed", "sim", "--control-addr", "127.0.0.1:0"])
        .arg("--config")
        .arg(&config_path)
        .arg("--control-secret-file")
        .arg(&secret_path)
        .arg("--state-dir")
        .arg(a.out.join("state"))
        .args([
            "--seed",
            &a.seed.to_string(),
            "--sim-rate",
            &a.rate.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the bot process")?;
    let stdout = child.stdout.take().context("the bot's stdout")?;
    let bot = Bot(child);
    let (tx, rx) = std::sync::mpsc::channel();
    let log_path = a.out.join("bot.log");
    std::thread::spawn(move || {
        let mut log = fs::File::create(log_path).ok();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(f) = log.as_mut() {
                let _ = writeln!(f, "{line}");
            }
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(addr) = v["fields"]["control_addr"].as_str()
            {
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .context("the bot never logged its control address (see bot.log)")?;
    // Warm-up: the market and caches settle; what it measured is thrown away.
    std::thread::sleep(Duration::from_secs(1));
    let mut discard: Vec<Histogram<u64>> = STAGES
        .iter()
        .map(|_| sniperforge_protocol::telemetry::latency_histogram())
        .collect();
    merge_hdr(&addr, &secret, &mut discard)?;
    let before: Value = serde_json::from_str(&http(&addr, &secret, "GET", "/status")?.1)
        .context("GET /status: not JSON")?;
    let mut totals: Vec<Histogram<u64>> = STAGES
        .iter()
        .map(|_| sniperforge_protocol::telemetry::latency_histogram())
        .collect();
    let started = Instant::now();
    let end = started + Duration::from_secs(a.duration);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1).min(end - Instant::now()));
        merge_hdr(&addr, &secret, &mut totals)?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let status: Value = serde_json::from_str(&http(&addr, &secret, "GET", "/status")?.1)
        .context("GET /status: not JSON")?;
    let health: Value = serde_json::from_str(&http(&addr, &secret, "GET", "/health")?.1)
        .context("GET /health: not JSON")?;
    let _ = http(&addr, &secret, "POST", "/stop");
    drop(bot);

    let count = totals[0].len();
    let custom = |v: &Value, k: &str| v["metrics"]["custom_metrics"][k].as_f64().unwrap_or(0.0);
    let machine = sniperforge_bench::latency::machine();
    let stages: Vec<(&str, Percentiles)> = STAGES
        .iter()
        .copied()
        .zip(totals.iter().map(Percentiles::of))
        .collect();
    let details = health["details"].clone();
    let report = json!({
        "machine": machine,
        "bot_type": bot_type.to_string(),
        "rate_per_s": a.rate,
        "duration_s": a.duration,
        "seed": a.seed,
        "unit": "ns from ingress (scheduled time)",
        "stages": sniperforge_bench::latency::stages_json(&stages),
        "throughput_per_s": count as f64 / elapsed,
        "cores": cores,
        "spin": spin,
        "placement_chosen": chosen.then_some(why),
        "runtime": plan.describe(),
        "warnings": plan.warnings,
        "bot_health_details": details,
        "ring_coalesced": custom(&status, "ring_coalesced") - custom(&before, "ring_coalesced"),
        "trades_executed": status["metrics"]["trades_executed"],
    });
    fs::write(
        a.out.join("report.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )
    .context("writing report.json")?;
    let mut md = String::new();
    let _ = writeln!(md, "# Bot latency report\n");
    let _ = writeln!(
        md,
        "`sniperforge bench bot --type {bot_type} --rate {} --duration {}` on {machine}: a real `sniperforge bot` \
         process on the simulator (seed {}), open loop at {} updates/s, latencies from each update's scheduled time, \
         read from the bot's own `/hdr` after 1 s of warm-up.\n",
        a.rate, a.duration, a.seed, a.rate
    );
    let _ = writeln!(
        md,
        "Runtime: {}{}.\n",
        plan.describe(),
        if chosen {
            format!(" (chosen for this machine: {why})")
        } else {
            String::new()
        }
    );
    md.push_str(&sniperforge_bench::latency::stage_table(&stages));
    let _ = writeln!(
        md,
        "\nThroughput {:.0} updates/s processed; {} updates coalesced in the ring.",
        count as f64 / elapsed,
        report["ring_coalesced"]
    );
    for w in &plan.warnings {
        let _ = writeln!(md, "\nWarning: {w}");
    }
    fs::write(a.out.join("report.md"), &md).context("writing report.md")?;
    for (name, h) in STAGES.iter().zip(&totals) {
        fs::write(
            a.out.join(format!("{name}.hgrm")),
            sniperforge_bench::latency::hgrm(h),
        )
        .with_context(|| format!("writing {name}.hgrm"))?;
    }
    fs::write(
        a.out.join("latency.svg"),
        sniperforge_bench::latency::svg(&totals),
    )
    .context("writing latency.svg")?;
    println!("{md}");
    println!(
        "wrote {}/{{report.md,report.json,*.hgrm,latency.svg,bot.json,bot.log}}",
        a.out.display()
    );
    if count == 0 {
        bail!(
            "the bot processed no update in {} s (see bot.log)",
            a.duration
        );
    }
    Ok(())
}
