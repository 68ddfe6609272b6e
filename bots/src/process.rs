//! The bot process (`sniperforge bot`): runs one bot, serves its control endpoint over HTTP,
//! re-reads its config file on SIGHUP and stops gracefully on SIGTERM. JSON logs to stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::bot::{BotError, BotFactory, BotInterface, BotOptions};
use sniperforge_protocol::config;

/// Command-line settings of the bot process.
#[derive(Debug, Clone)]
pub struct BotArgs {
    /// Configuration file (JSON).
    pub config: PathBuf,
    /// Control endpoint address (port 0: any free port; the log says which).
    pub control_addr: SocketAddr,
    /// Feed: `sim`, `replay:FILE`, `solana` or `yellowstone`.
    pub feed: String,
    /// Replay at maximum speed rather than the recorded pace.
    pub replay_max_speed: bool,
    /// Solana HTTP JSON-RPC endpoint (`--feed solana`).
    pub rpc_url: Option<String>,
    /// Solana websocket endpoint (default from the RPC URL).
    pub ws_url: Option<String>,
    /// Commitment of snapshots and subscriptions.
    pub commitment: String,
    /// The markets file: tokens and pools to watch (`--feed solana`; a replay's tokens).
    pub markets: Option<PathBuf>,
    /// Extra CA certificates (PEM) for https/wss endpoints.
    pub rpc_ca: Option<PathBuf>,
    /// Yellowstone gRPC (Geyser) endpoint (`--feed yellowstone`).
    pub grpc_url: Option<String>,
    /// File holding the Geyser endpoint's x-token.
    pub grpc_x_token_file: Option<PathBuf>,
    /// Live mode: a Jito block engine's JSON-RPC URL (bundles instead of sendTransaction).
    pub jito_url: Option<String>,
    /// Live mode: the Jito tip account each bundle pays.
    pub jito_tip_account: Option<String>,
    /// Live mode: lamports tipped per bundle.
    pub jito_tip_lamports: u64,
    /// Directory for persisted state (default `data/bots/<bot_id>`).
    pub state_dir: Option<PathBuf>,
    /// Simulator seed.
    pub seed: u64,
    /// Simulator updates per second, scheduled open loop (`None`: the bot type's default).
    pub sim_rate: Option<u64>,
    /// Append log lines to this file instead of stdout (for supervisors that keep stdout
    /// elsewhere, such as Nomad).
    pub log_file: Option<PathBuf>,
    /// The control endpoint's secret (`None`: made here and written to
    /// `<state_dir>/control.secret`).
    pub control_secret_file: Option<PathBuf>,
    /// The cores the node leaves to work off the hot paths (no bot's reserved core): the
    /// executor, the control endpoint and reporting keep to them (empty: every core the
    /// process may use that its configuration does not reserve).
    pub shared_cores: Vec<usize>,
    /// The fencing lease of a bot that fails over, as its agent writes it
    /// ([`sniperforge_host::fence`]): the bot stops, within the grace, and exits once the end has passed or the
    /// file is gone (its agent lost the gateway, or died, and the gateway may run it
    /// elsewhere); it does not start past it.
    pub fence_file: Option<PathBuf>,
}

/// How often a fenced bot reads its lease's end.
const FENCE_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a fenced bot may take to stop before it exits anyway (the lease's grace).
fn fence_grace(file: &std::path::Path) -> std::time::Duration {
    std::time::Duration::from_millis(
        sniperforge_host::fence::read(file)
            .map_or(sniperforge_host::fence::DEFAULT_GRACE_MS, |(_, grace)| {
                grace
            }),
    )
}

/// Resolves when the fencing lease in `file` lapses (never without one), with why.
async fn fenced(file: Option<PathBuf>) -> String {
    let Some(file) = file else {
        return std::future::pending().await;
    };
    loop {
        if let Some(why) = sniperforge_host::fence::lapsed(&file) {
            return why;
        }
        tokio::time::sleep(FENCE_CHECK).await;
    }
}

#[derive(Clone)]
struct AppState {
    bot: Arc<dyn BotInterface>,
    shutdown: Arc<Notify>,
    /// What every request but `/health` must present as `Authorization: Bearer …`.
    secret: Arc<str>,
}

pub use sniperforge_host::files::{
    CONTROL_SECRET_FILE, CONTROL_SECRET_MIN, create_private, new_control_secret, private_files,
    read_control_secret, write_control_secret, write_control_secret_for,
};

/// Compares without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether a Host header names the loopback interface (a browser page that rebinds its own
/// name to 127.0.0.1 still sends that name).
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Every request: a loopback Host (else 403); every route but `/health`: the secret (else 401).
async fn authorize(
    axum::extract::State(s): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !loopback_host(host) {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the control endpoint answers loopback Host names only",
            Value::Null,
        );
    }
    if !matches!(request.uri().path(), "/health" | "/live") {
        let presented = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if !same_secret(presented.as_bytes(), s.secret.as_bytes()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the control endpoint needs Authorization: Bearer <control secret>",
                Value::Null,
            );
        }
    }
    next.run(request).await
}

/// The `{ "error": { code, message, details } }` body every failure answers with.
fn error(status: StatusCode, code: &str, message: impl Into<String>, details: Value) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message.into(), "details": details}})),
    )
        .into_response()
}

fn bot_error(e: BotError) -> Response {
    match e {
        BotError::Transition(t) => error(
            StatusCode::CONFLICT,
            "illegal_transition",
            t.to_string(),
            json!({"from": t.from, "to": t.to}),
        ),
        BotError::Config(m) => error(StatusCode::CONFLICT, "config_mismatch", m, Value::Null),
        BotError::Unsupported(m) => {
            error(StatusCode::NOT_IMPLEMENTED, "unsupported", m, Value::Null)
        }
        BotError::State(m) => error(StatusCode::INTERNAL_SERVER_ERROR, "state", m, Value::Null),
        BotError::Handover(m) => error(StatusCode::CONFLICT, "handover_refused", m, Value::Null),
    }
}

async fn health(State(s): State<AppState>) -> Response {
    let h = s.bot.health_check().await;
    let code = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(h)).into_response()
}

/// `GET /live`: 200 while the process is alive for its supervisor (the strategy loop
/// housekeeps), 503 with why not; no secret, as `/health`.
async fn live(State(s): State<AppState>) -> Response {
    match s.bot.live().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({"live": true}))).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"live": false, "reason": why})),
        )
            .into_response(),
    }
}

async fn status(State(s): State<AppState>) -> Response {
    // Outputs first: the runner updates them with the metrics, so metrics read after are at
    // least as new (a reader never sees outputs ahead of the numbers that go with them).
    let outputs = s.bot.outputs().await;
    let st = s.bot.status().await;
    let m = s.bot.metrics().await;
    axum::Json(sniperforge_protocol::control::StatusBody {
        bot_id: s.bot.bot_id(),
        bot_type: s.bot.bot_type(),
        status: st,
        pid: std::process::id(),
        uptime_seconds: m.uptime_seconds,
        metrics: m,
        config: s.bot.current_config().await,
        outputs,
        lease: s.bot.lease().await,
        build: sniperforge_protocol::fleet::Build {
            version: sniperforge_host::build::VERSION.to_string(),
            build_id: sniperforge_host::build::this_build_id().to_string(),
        },
    })
    .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let m = s.bot.metrics().await;
    let id = s.bot.bot_id();
    let t = s.bot.bot_type();
    let labels = format!("bot_id=\"{id}\",bot_type=\"{t}\"");
    let mut text = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{{labels}}} {value}\n"
        ));
    };
    metric(
        "sniperforge_trades_executed_total",
        "counter",
        "Orders sent (paper or live).",
        m.trades_executed as f64,
    );
    metric(
        "sniperforge_profit_usd",
        "gauge",
        "Realised profit in USD since start.",
        m.profit_usd,
    );
    metric(
        "sniperforge_success_rate",
        "gauge",
        "Filled orders over settled orders.",
        m.success_rate,
    );
    metric(
        "sniperforge_uptime_seconds",
        "gauge",
        "Seconds since start.",
        m.uptime_seconds as f64,
    );
    metric(
        "sniperforge_memory_bytes",
        "gauge",
        "Resident memory.",
        m.memory_usage as f64,
    );
    for (k, v) in &m.custom_metrics {
        metric(&format!("sniperforge_{k}"), "gauge", "Bot-specific.", *v);
    }
    text.push_str("# HELP sniperforge_stage_latency_ns Latency from ingress per stage (current interval).\n# TYPE sniperforge_stage_latency_ns gauge\n");
    for (stage, l) in &m.latency {
        for (q, v) in [
            ("0.5", l.p50),
            ("0.99", l.p99),
            ("0.999", l.p999),
            ("1", l.max),
        ] {
            text.push_str(&format!(
                "sniperforge_stage_latency_ns{{{labels},stage=\"{stage}\",quantile=\"{q}\"}} {v}\n"
            ));
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

async fn hdr(State(s): State<AppState>) -> Response {
    use sniperforge_protocol::control::{HDR_FORMAT, HDR_UNIT, HdrBody};
    let stages = s
        .bot
        .interval_histograms()
        .await
        .into_iter()
        .map(|(name, bytes)| {
            (
                name,
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )
        })
        .collect();
    axum::Json(HdrBody {
        format: HDR_FORMAT.to_string(),
        unit: HDR_UNIT.to_string(),
        stages,
    })
    .into_response()
}

async fn put_config(State(s): State<AppState>, body: String) -> Response {
    let valid = match config::parse(&body) {
        Ok(v) => v,
        Err(errors) => {
            let details: Vec<Value> = errors
                .iter()
                .map(|e| json!({"path": e.path, "message": e.message}))
                .collect();
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_config",
                format!("{} error(s)", errors.len()),
                Value::Array(details),
            );
        }
    };
    match s.bot.update_config(valid).await {
        Ok(applied) => axum::Json(applied).into_response(),
        Err(e) => bot_error(e),
    }
}

async fn pause(State(s): State<AppState>) -> Response {
    match s.bot.pause().await {
        Ok(()) => axum::Json(json!({"status": s.bot.status().await})).into_response(),
        Err(e) => bot_error(e),
    }
}

async fn resume(State(s): State<AppState>) -> Response {
    match s.bot.resume().await {
        Ok(()) => axum::Json(json!({"status": s.bot.status().await})).into_response(),
        Err(e) => bot_error(e),
    }
}

/// How long `POST /handover` waits for the orders in flight by default, and at most.
pub const HANDOVER_DRAIN_DEFAULT_MS: u64 = 5_000;
/// The longest drain a handover may ask for.
pub const HANDOVER_DRAIN_MAX_MS: u64 = 120_000;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoverQuery {
    drain_ms: Option<u64>,
}

/// `POST /handover[?drain_ms=N]`: no new decision, orders in flight settled, state persisted,
/// the trading lease let go (the instance stays up, deciding nothing).
async fn handover(
    State(s): State<AppState>,
    query: Result<axum::extract::Query<HandoverQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let drain_ms = match query {
        Ok(q) => q.0.drain_ms.unwrap_or(HANDOVER_DRAIN_DEFAULT_MS),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                format!("query: {e} (drain_ms=N only)"),
                Value::Null,
            );
        }
    };
    if drain_ms > HANDOVER_DRAIN_MAX_MS {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("drain_ms: at most {HANDOVER_DRAIN_MAX_MS}"),
            Value::Null,
        );
    }
    // Its own task: a client that goes away mid-drain (a timeout, an agent restarted) does not
    // leave the instance draining; it hands over, or trades on, all the same.
    let bot = Arc::clone(&s.bot);
    let done = tokio::spawn(async move {
        bot.hand_over(std::time::Duration::from_millis(drain_ms))
            .await
    })
    .await;
    match done {
        Ok(Ok(done)) => axum::Json(done).into_response(),
        Ok(Err(e)) => bot_error(e),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "state",
            format!("the handover task: {e}"),
            Value::Null,
        ),
    }
}

/// `POST /takeover`: a released instance waits for the lease again (a handover whose new
/// instance never took it).
async fn takeover(State(s): State<AppState>) -> Response {
    match s.bot.take_over().await {
        Ok(lease) => axum::Json(lease).into_response(),
        Err(e) => bot_error(e),
    }
}

async fn stop(State(s): State<AppState>) -> Response {
    s.shutdown.notify_one();
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"status": "stopping"})),
    )
        .into_response()
}

/// The control endpoint's routes.
pub fn router(bot: Arc<dyn BotInterface>, shutdown: Arc<Notify>, secret: Arc<str>) -> Router {
    let state = AppState {
        bot,
        shutdown,
        secret,
    };
    Router::new()
        .route("/health", get(health))
        .route("/live", get(live))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/hdr", get(hdr))
        .route("/config", put(put_config))
        .route("/pause", post(pause))
        .route("/resume", post(resume))
        .route("/stop", post(stop))
        .route("/handover", post(handover))
        .route("/takeover", post(takeover))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorize,
        ))
        .with_state(state)
}

/// Runs the bot process to completion; returns the exit code.
pub fn run(args: BotArgs) -> i32 {
    let logs = tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .with_current_span(false);
    match &args.log_file {
        None => {
            let _ = logs.try_init();
        }
        Some(path) => {
            let file = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                });
            match file {
                Ok(f) => {
                    let _ = logs.with_writer(std::sync::Mutex::new(f)).try_init();
                }
                Err(e) => {
                    eprintln!("error: opening the log file {}: {e}", path.display());
                    return 2;
                }
            }
        }
    }
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: reading {}: {e}", args.config.display());
            return 2;
        }
    };
    let valid = match config::parse(&text) {
        Ok(v) => v,
        Err(errors) => {
            eprintln!("{}: {} error(s)", args.config.display(), errors.len());
            for e in errors {
                eprintln!("  {e}");
            }
            return 2;
        }
    };
    // The control endpoint, reporting and every thread not on the hot path stay off the
    // reserved cores (the runtime pins its own hot threads); the mask the process started with
    // is read first.
    crate::runtime::affinity::set_shared_cores(args.shared_cores.clone());
    let plan = crate::runtime::Plan::for_this_process(&valid.config.resources.cores, false, false);
    if let Err(e) = crate::runtime::affinity::confine_current(&plan.others) {
        tracing::warn!(error = %e, "control threads not confined");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the control runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve(args, valid))
}

async fn serve(args: BotArgs, valid: config::ValidatedConfig) -> i32 {
    let bot_id = valid.config.bot_id.clone();
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data").join("bots").join(&bot_id));
    let markets = match args
        .markets
        .as_deref()
        .map(sniperforge_solana::Markets::load)
    {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
        Some(Ok(m)) => Some(m),
        None => None,
    };
    let jito = match (&args.jito_url, &args.jito_tip_account) {
        (None, _) => None,
        (Some(url), Some(account)) => match account.parse() {
            Ok(tip_account) => Some(sniperforge_solana::Jito {
                url: url.clone(),
                tip_account,
                tip_lamports: args.jito_tip_lamports,
            }),
            Err(e) => {
                eprintln!("error: --jito-tip-account {account:?}: {e}");
                return 2;
            }
        },
        (Some(_), None) => {
            eprintln!("error: --jito-url needs --jito-tip-account (one of Jito's tip accounts)");
            return 2;
        }
    };
    let grpc = match args
        .grpc_url
        .as_deref()
        .map(|url| sniperforge_solana::GrpcOptions::new(url, args.grpc_x_token_file.as_deref()))
    {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return 2;
        }
        Some(Ok(g)) => Some(g),
        None => None,
    };
    let solana =
        (args.rpc_url.is_some() || markets.is_some()).then(|| sniperforge_solana::SolanaOptions {
            rpc_url: args.rpc_url.clone().unwrap_or_default(),
            ws_url: args.ws_url.clone(),
            commitment: args.commitment.clone(),
            markets,
            ca: args.rpc_ca.clone(),
            jito,
            grpc,
        });
    let node = crate::feed::FeedSpec::parse(&args.feed, false).is_ok_and(|f| f.is_node());
    if node && args.rpc_url.is_none() {
        eprintln!(
            "error: --feed {} needs --rpc-url URL (and --markets FILE)",
            args.feed
        );
        return 2;
    }
    if args.sim_rate.is_some_and(|r| r > crate::runtime::MAX_RATE) {
        eprintln!(
            "error: --sim-rate must be at most {} updates per second (0: as fast as the strategy takes them)",
            crate::runtime::MAX_RATE
        );
        return 2;
    }
    if args.feed == "yellowstone" && args.grpc_url.is_none() {
        eprintln!("error: --feed yellowstone needs --grpc-url URL (the Geyser endpoint)");
        return 2;
    }
    let options = BotOptions {
        state_dir,
        feed: args.feed.clone(),
        replay_max_speed: args.replay_max_speed,
        solana,
        seed: args.seed,
        sim_rate: args.sim_rate,
    };
    // The control secret: the supervisor's, or one made here for whoever can read the state
    // directory.
    let secret = match &args.control_secret_file {
        Some(path) => match read_control_secret(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        None => {
            let path = options.state_dir.join(CONTROL_SECRET_FILE);
            let made = std::fs::create_dir_all(&options.state_dir)
                .and_then(|()| new_control_secret())
                .and_then(|s| write_control_secret(&path, &s).map(|()| s));
            match made {
                Ok(s) => {
                    tracing::info!(path = %path.display(), "control secret written (send it as Authorization: Bearer)");
                    s
                }
                Err(e) => {
                    eprintln!("error: writing the control secret {}: {e}", path.display());
                    return 1;
                }
            }
        }
    };
    let bot = match BotFactory::create_bot(valid, options) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    // Signals from here on: a SIGTERM while the market loads ends the process (below), one
    // after stops the bot gracefully; never the default action.
    let (mut hup, mut term, mut int) = match (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            eprintln!("error: installing signal handlers");
            return 1;
        }
    };
    // The control endpoint listens before the market loads (`/health` answers 503 "starting"
    // meanwhile): its port is never free for another process to take while this one loads.
    let listener = match tokio::net::TcpListener::bind(args.control_addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "error: binding the control endpoint {}: {e}",
                args.control_addr
            );
            return 1;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let shutdown = Arc::new(Notify::new());
    let server_shutdown = Arc::clone(&shutdown);
    let stopped = Arc::new(Notify::new());
    let server_stopped = Arc::clone(&stopped);
    let app = router(Arc::clone(&bot), Arc::clone(&shutdown), Arc::from(secret));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_stopped.notified().await })
            .await;
    });
    // A signal while the market loads ends the process at once (what the start took, the
    // trading lease included, goes with it; nothing has been decided on a half-loaded market
    // that the stop would have to settle beyond what the process's end settles).
    // Once it holds the trading lease its runtime may decide already: then the start runs to
    // its end and the bot stops gracefully (orders settled, state persisted).
    // A bot that fails over does not start past its fencing lease.
    if let Some(why) = args
        .fence_file
        .as_deref()
        .and_then(sniperforge_host::fence::lapsed)
    {
        tracing::warn!(bot_id = %bot_id, %why, "fenced: not starting");
        std::process::exit(0);
    }
    let fence = fenced(args.fence_file.clone());
    tokio::pin!(fence);
    let start = bot.start();
    tokio::pin!(start);
    let mut stop_at_once = false;
    let mut fenced_at_start = false;
    let started = tokio::select! {
        r = &mut start => r,
        _ = async { tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} } } => {
            if bot.lease().await.role != crate::bot::Role::Trading {
                tracing::info!(bot_id = %bot_id, "stopped while starting");
                std::process::exit(0);
            }
            stop_at_once = true;
            start.await
        }
        why = &mut fence => {
            tracing::warn!(bot_id = %bot_id, %why, "fenced while starting");
            if bot.lease().await.role != crate::bot::Role::Trading {
                std::process::exit(0);
            }
            stop_at_once = true;
            fenced_at_start = true;
            start.await
        }
    };
    let mut fenced = fenced_at_start;
    if let Err(e) = started {
        eprintln!("error: starting bot {bot_id}: {e}");
        stopped.notify_one();
        let _ = server.await;
        return 1;
    }
    tracing::info!(bot_id = %bot_id, control_addr = %addr, pid = std::process::id(), "control endpoint listening");
    // Under systemd (Type=notify): started means the market is loaded and /health answers.
    match sniperforge_host::notify::Notifier::from_env() {
        Ok(Some(n)) => {
            if let Err(e) = n.notify("READY=1") {
                tracing::warn!(error = %e, "sd_notify READY=1");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "sd_notify: $NOTIFY_SOCKET unusable"),
    }
    if !stop_at_once {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    match std::fs::read_to_string(&args.config).map_err(|e| e.to_string()).and_then(|t| {
                        config::parse(&t).map_err(|errs| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))
                    }) {
                        Ok(v) => match bot.update_config(v).await {
                            Ok(applied) => tracing::info!(bot_id = %bot_id, hot = ?applied.applied_hot, restart_required = ?applied.restart_required, "config reloaded on SIGHUP"),
                            Err(e) => tracing::error!(bot_id = %bot_id, error = %e, "config reload refused"),
                        },
                        Err(e) => tracing::error!(bot_id = %bot_id, error = %e, "config reload refused: invalid file"),
                    }
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = server_shutdown.notified() => break,
                why = &mut fence => {
                    tracing::warn!(bot_id = %bot_id, %why, "fenced: stopping");
                    fenced = true;
                    break;
                }
            }
        }
    }

    tracing::info!(bot_id = %bot_id, "stopping: no new trades, flushing state");
    // Fenced: the stop has the lease's grace, then the process ends whatever it was settling
    // (the bot may run elsewhere soon after).
    let result = match args.fence_file.as_deref().filter(|_| fenced) {
        Some(file) => match tokio::time::timeout(fence_grace(file), bot.stop()).await {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(bot_id = %bot_id, "fenced: the stop outlasted the lease's grace; exiting now");
                std::process::exit(1);
            }
        },
        None => bot.stop().await,
    };
    stopped.notify_one();
    let _ = server.await;
    match result {
        Ok(()) => {
            tracing::info!(bot_id = %bot_id, "stopped");
            0
        }
        Err(e) => {
            eprintln!("error: stopping bot {bot_id}: {e}");
            1
        }
    }
}
