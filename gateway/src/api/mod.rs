//! The REST API (`/api/v1/…`): bots and their desired state, versioned configurations with
//! templates and schemas, system health and the emergency stop. Every route is authenticated;
//! mutating ones need the operator role (the emergency stop: admin) and are audited.
//!
//! By resource: `bots` (bots, configurations, actions, emergency stop, audit), `agents` (the
//! node agents' protocol), `observe` (logs, status, metrics, latency, Prometheus), `alerts` and
//! `auth` (tokens, users, sign-in); this module holds the state, errors, authentication, the
//! router and the OpenAPI document.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sniperforge_protocol::{BotType, changes, config};

use crate::store::{Role, Store, StoreError};

mod agents;
mod alerts;
mod auth;
pub mod backtests;
pub mod bodies;
mod bots;
mod observe;
mod placing;
pub mod pnl;
mod replicas;
mod rollouts;

use agents::*;
use alerts::*;
use auth::*;
use backtests::*;
use bodies::*;
use bots::*;
pub use observe::*;
use pnl::pnl;
use replicas::*;
pub use rollouts::RolloutList;
use rollouts::*;

/// Merged latency: bot id → stage → histogram (ns from ingress).
type LatencyByBot = std::collections::BTreeMap<
    String,
    std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>>,
>;

/// Shared state of the routes.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The desired-state index, for agents' blocking queries.
    index: tokio::sync::watch::Sender<i64>,
    /// Latency merged from the bots' reported interval histograms: bot → stage → histogram.
    latency: Arc<std::sync::Mutex<LatencyByBot>>,
    /// Latency over time: 1 s and 1 min windows per scope and stage.
    pub(crate) windows: Arc<std::sync::Mutex<crate::windows::Windows>>,
    /// How long 1 min windows stay in the store (ms).
    minutes_kept_ms: i64,
    /// Trades kept, ms.
    trades_kept_ms: i64,
    /// Alert webhooks: delivered off the evaluation loop (TLS roots for https://).
    webhooks: Arc<crate::alerts::WebhookQueue>,
    /// Bot id → type at a desired-state index (every bot change bumps it).
    bot_types: Arc<std::sync::Mutex<(i64, Arc<BotTypes>)>>,
    /// The last [`LOG_LINES_KEPT`] log lines of each bot, as agents reported them.
    logs: Arc<
        std::sync::Mutex<
            std::collections::HashMap<String, std::collections::VecDeque<Arc<LogLine>>>,
        >,
    >,
    /// Every reported log line, for `/api/v1/ws/logs`.
    pub(crate) log_lines: tokio::sync::broadcast::Sender<Arc<LogLine>>,
    /// `GET /api/v1/bots`'s body at a desired-state index. Every change to a bot row bumps the
    /// index (this gateway is the store's only writer), so a body at the current index is fresh.
    bots_body: Arc<std::sync::Mutex<Option<(i64, axum::body::Bytes)>>>,
    /// Each bot and stage's reported interval p99s (unix ms, ns) for the last
    /// [`RECENT_P99_MS`], for "p99 above a budget for N s" alerts.
    recent_p99: Arc<std::sync::Mutex<RecentP99>>,
    /// Failed logins per client address in the last [`LOGIN_WINDOW`].
    login_failures: Arc<std::sync::Mutex<LoginFailures>>,
    /// Password verifications running at once (each argon2 hash holds ~19 MiB for tens of ms).
    login_slots: Arc<tokio::sync::Semaphore>,
    /// Desired-state queries waiting at once ([`DESIRED_WAITERS`]).
    desired_waiters: Arc<tokio::sync::Semaphore>,
    /// Desired-state queries waiting per node ([`DESIRED_WAITERS_PER_NODE`]).
    desired_by_node: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// WebSocket streams open at once ([`STREAMS_MAX`]).
    pub(crate) streams: Arc<tokio::sync::Semaphore>,
    /// Each bot's last handover written to the audit trail (when it ended, unix ms): a report
    /// carries a bot's last handover every time, the trail gets it once.
    handovers_audited: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// Held by the rollout driver's tick and by operators' rollout actions.
    pub(crate) rollouts_lock: Arc<tokio::sync::Mutex<()>>,
    /// Held while the core ledger is read and a placement written (creates, config changes,
    /// the placement loop): two never take one core.
    placement_lock: Arc<tokio::sync::Mutex<()>>,
    /// A node silent this long (ms) is lost; its agent's fencing lease is half of it.
    failover_after_ms: i64,
    /// When this gateway started (unix ms, the store's clock): no node is lost before a
    /// window has passed.
    started_at_ms: i64,
}

/// A node silent this long (ms) is lost, unless told otherwise (`--failover-after-s`).
pub const DEFAULT_FAILOVER_AFTER_MS: i64 = 30_000;

/// Trades kept, unless told otherwise (`--trades-kept-s`): 90 days.
pub const TRADES_KEPT_MS: i64 = 90 * 86_400_000;

/// Desired-state queries one node may have waiting (an agent holds one).
pub const DESIRED_WAITERS_PER_NODE: usize = 4;
/// WebSocket streams open at once across the gateway (more get 503).
pub const STREAMS_MAX: usize = 1_024;

/// One waiting desired-state query of a node, counted until dropped.
struct NodeWaiter {
    map: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    node: String,
}

impl NodeWaiter {
    fn take(
        map: &Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
        node: &str,
    ) -> Option<Self> {
        let mut m = map.lock().ok()?;
        let n = m.entry(node.to_string()).or_default();
        if *n >= DESIRED_WAITERS_PER_NODE {
            return None;
        }
        *n += 1;
        Some(Self {
            map: Arc::clone(map),
            node: node.to_string(),
        })
    }
}

impl Drop for NodeWaiter {
    fn drop(&mut self) {
        if let Ok(mut m) = self.map.lock()
            && let Some(n) = m.get_mut(&self.node)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.node);
            }
        }
    }
}

/// Blocking desired-state queries that may wait at once; past it a query answers 503 with
/// Retry-After instead of holding a task and a connection.
pub const DESIRED_WAITERS: usize = 1_024;

/// Failed (and in-flight) logins in the last [`LOGIN_WINDOW`], by client address and by user.
#[derive(Debug, Default)]
struct LoginFailures {
    by_client: std::collections::HashMap<String, std::collections::VecDeque<std::time::Instant>>,
    by_user: std::collections::HashMap<String, std::collections::VecDeque<std::time::Instant>>,
}

impl LoginFailures {
    /// Drops what is older than the window (and keys left empty).
    fn expire(&mut self, now: std::time::Instant) {
        for map in [&mut self.by_client, &mut self.by_user] {
            map.retain(|_, times| {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > LOGIN_WINDOW)
                {
                    times.pop_front();
                }
                !times.is_empty()
            });
        }
    }

    /// How long `client` (or `user`) must wait, or `None` after counting this attempt as a
    /// failure until it succeeds: counted before the password is verified, so parallel
    /// attempts cannot all pass the check first.
    fn admit(
        &mut self,
        client: &str,
        user: &str,
        now: std::time::Instant,
    ) -> Option<std::time::Duration> {
        // The two keys at hand are trimmed every time; the whole maps only once they are
        // large (a spray from many addresses stays linear in attempts, bounded in memory).
        for times in [self.by_client.get_mut(client), self.by_user.get_mut(user)]
            .into_iter()
            .flatten()
        {
            while times
                .front()
                .is_some_and(|t| now.duration_since(*t) > LOGIN_WINDOW)
            {
                times.pop_front();
            }
        }
        if self.by_client.len() + self.by_user.len() > LOGIN_KEYS_PRUNED_AT {
            self.expire(now);
        }
        let wait = |times: Option<&std::collections::VecDeque<std::time::Instant>>, allowed| {
            times
                .filter(|t| t.len() >= allowed)
                .and_then(|t| t.front())
                .map(|t| LOGIN_WINDOW.saturating_sub(now.duration_since(*t)))
        };
        if let Some(w) = wait(self.by_client.get(client), LOGIN_FAILURES_ALLOWED)
            .or_else(|| wait(self.by_user.get(user), LOGIN_USER_FAILURES_ALLOWED))
        {
            return Some(w);
        }
        self.by_client
            .entry(client.to_string())
            .or_default()
            .push_back(now);
        self.by_user
            .entry(user.to_string())
            .or_default()
            .push_back(now);
        None
    }

    /// An admitted attempt succeeded: it no longer counts.
    fn succeeded(&mut self, client: &str, user: &str, at: std::time::Instant) {
        for times in [self.by_client.get_mut(client), self.by_user.get_mut(user)]
            .into_iter()
            .flatten()
        {
            if let Some(i) = times.iter().rposition(|t| *t == at) {
                times.remove(i);
            }
        }
    }
}

/// Bot id → bot type and environment.
pub(crate) type BotTypes = std::collections::HashMap<String, (String, crate::store::Environment)>;

/// (bot, stage) → reported interval p99s, oldest first: (unix ms, ns).
type RecentP99 =
    std::collections::HashMap<(String, String), std::collections::VecDeque<(i64, u64)>>;

/// How far back interval p99s are kept (the longest `for_s` a p99 alert can use).
pub const RECENT_P99_MS: i64 = 15 * 60_000;
/// Most interval p99s kept per bot and stage (a report a second for the whole window, and
/// room for faster ones; a node reporting faster than that cannot grow the gateway).
pub const RECENT_P99_SAMPLES: usize = 4_096;

/// Failed logins a client may make per [`LOGIN_WINDOW`] before it gets 429.
pub const LOGIN_FAILURES_ALLOWED: usize = 5;
/// Failed logins for one user name (from any client) per [`LOGIN_WINDOW`] before 429.
pub const LOGIN_USER_FAILURES_ALLOWED: usize = 10;
/// Past this many limiter keys, expired ones are dropped.
const LOGIN_KEYS_PRUNED_AT: usize = 10_000;
/// Password verifications the gateway runs at once; more wait for a slot (≤ 1 s) or get 429.
pub const LOGIN_VERIFICATIONS: usize = 4;
/// See [`LOGIN_FAILURES_ALLOWED`].
pub const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// How long a login session lasts.
pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

/// Highest latency the merged histograms track (that of `telemetry::latency_histogram`).
static LATENCY_MAX_NS: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| sniperforge_protocol::telemetry::latency_histogram().high());

/// Log lines kept per bot for `GET /api/v1/system/logs/{bot_id}`.
pub const LOG_LINES_KEPT: usize = 2_000;
pub use sniperforge_protocol::control::REPORT_STAGES;
pub use sniperforge_protocol::fleet::{
    LOG_LINE_MAX, LOG_LINES_PER_REPORT, REPORT_BOTS_MAX, REPORT_OBJECT_MAX,
};

/// One log line of a bot, as its agent reported it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct LogLine {
    /// Bot.
    pub bot_id: String,
    /// Node whose agent reported it.
    pub node_id: String,
    /// Received at the gateway, unix ms.
    pub at: i64,
    /// The line (a JSON log record from the bot process, or plain text).
    pub line: String,
}

impl AppState {
    /// Drops what is kept in memory for a deleted bot: its merged latency, recent p99s, log
    /// lines and 1 s windows.
    fn forget_bot(&self, bot_id: &str) {
        if let Ok(mut latency) = self.latency.lock() {
            latency.remove(bot_id);
        }
        if let Ok(mut recent) = self.recent_p99.lock() {
            recent.retain(|(bot, _), _| bot != bot_id);
        }
        if let Ok(mut logs) = self.logs.lock() {
            logs.remove(bot_id);
        }
        if let Ok(mut windows) = self.windows.lock() {
            windows.forget(&format!("bot:{bot_id}"));
        }
        if let Ok(mut seen) = self.handovers_audited.lock() {
            seen.remove(bot_id);
        }
    }

    /// The bots anything is kept for in memory (merged latency, recent p99s, log lines),
    /// sorted: what agents' reports can grow.
    pub fn tracked_bots(&self) -> Vec<String> {
        let mut bots = std::collections::BTreeSet::new();
        if let Ok(latency) = self.latency.lock() {
            bots.extend(latency.keys().cloned());
        }
        if let Ok(recent) = self.recent_p99.lock() {
            bots.extend(recent.keys().map(|(bot, _)| bot.clone()));
        }
        if let Ok(logs) = self.logs.lock() {
            bots.extend(logs.keys().cloned());
        }
        bots.into_iter().collect()
    }

    /// State over `store`, starting from its stored desired-state index.
    pub async fn new(store: Store) -> Result<Self, StoreError> {
        let current = store.desired_index().await?;
        let started_at_ms = store.now_ms();
        Ok(Self {
            store,
            index: tokio::sync::watch::Sender::new(current),
            latency: Arc::default(),
            windows: Arc::default(),
            minutes_kept_ms: crate::windows::MINUTES_KEPT_MS,
            trades_kept_ms: TRADES_KEPT_MS,
            webhooks: Arc::new(crate::alerts::WebhookQueue::start(
                crate::alerts::Webhooks::default(),
            )),
            bot_types: Arc::new(std::sync::Mutex::new((-1, Arc::default()))),
            logs: Arc::default(),
            log_lines: tokio::sync::broadcast::Sender::new(4_096),
            bots_body: Arc::default(),
            login_failures: Arc::default(),
            login_slots: Arc::new(tokio::sync::Semaphore::new(LOGIN_VERIFICATIONS)),
            desired_waiters: Arc::new(tokio::sync::Semaphore::new(DESIRED_WAITERS)),
            desired_by_node: Arc::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(STREAMS_MAX)),
            recent_p99: Arc::default(),
            handovers_audited: Arc::default(),
            rollouts_lock: Arc::default(),
            placement_lock: Arc::default(),
            failover_after_ms: DEFAULT_FAILOVER_AFTER_MS,
            started_at_ms,
        })
    }

    /// The same state trusting the CA certificates in `ca` (PEM) for https:// webhooks, besides
    /// the system's.
    pub fn with_webhook_ca(
        self,
        ca: &std::path::Path,
    ) -> Result<Self, sniperforge_host::net::TlsConfigError> {
        Ok(self.with_webhooks(crate::alerts::Webhooks::new(ca)?))
    }

    /// The same state delivering alert webhooks through `webhooks`.
    pub fn with_webhooks(mut self, webhooks: crate::alerts::Webhooks) -> Self {
        self.webhooks = Arc::new(crate::alerts::WebhookQueue::start(webhooks));
        self
    }

    /// The same state keeping trades `ms` (then deleted, a minute at a time).
    pub fn with_trades_kept(mut self, ms: i64) -> Self {
        self.trades_kept_ms = ms;
        self
    }

    /// The same state keeping latency windows as `retention` says.
    pub fn with_retention(mut self, retention: crate::windows::Retention) -> Self {
        self.windows = Arc::new(std::sync::Mutex::new(crate::windows::Windows::new(
            retention.seconds_ms,
            retention.bot_seconds_ms,
        )));
        self.minutes_kept_ms = retention.minutes_ms;
        self
    }

    /// Every bot's type, read again from the store only after a change.
    pub(crate) async fn bot_types(&self) -> Result<Arc<BotTypes>, StoreError> {
        let index = *self.index.borrow();
        if let Ok(c) = self.bot_types.lock()
            && c.0 == index
        {
            return Ok(Arc::clone(&c.1));
        }
        let types: Arc<BotTypes> = Arc::new(
            self.store
                .bots()
                .await?
                .into_iter()
                .map(|b| (b.bot_id, (b.bot_type, b.environment)))
                .collect(),
        );
        if let Ok(mut c) = self.bot_types.lock() {
            *c = (index, Arc::clone(&types));
        }
        Ok(types)
    }

    /// Closes the latency windows `now_ms` has passed and writes up to
    /// [`MINUTES_PER_FLUSH`] closed minutes to the store (a minute boundary closes one per bot,
    /// type, node and stage at once: spread over the next seconds, SQLite's one connection stays
    /// free for reports), then deletes minutes past their retention. The gateway calls this
    /// every second; a failed write puts its minutes back for the next call.
    pub async fn flush_windows(&self, now_ms: i64) -> Result<(), StoreError> {
        let minutes = match self.windows.lock() {
            Ok(mut w) => {
                w.tick(now_ms);
                w.take_pending(MINUTES_PER_FLUSH)
            }
            Err(_) => return Ok(()),
        };
        if minutes.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.store.put_latency_minutes(&minutes).await {
            if let Ok(mut w) = self.windows.lock() {
                let dropped = w.requeue(minutes);
                if dropped > 0 {
                    tracing::error!(dropped, "latency minutes dropped: the store keeps failing");
                }
            }
            return Err(e);
        }
        self.store
            .prune_latency_minutes(now_ms - self.minutes_kept_ms)
            .await?;
        Ok(())
    }

    /// Deletes the trades past their retention (the gateway calls it every minute).
    pub async fn prune_trades(&self, now_ms: i64) -> Result<u64, StoreError> {
        // Finished backtests are kept as long as trades; one running past the node's limit
        // (an hour) and a margin without a result has failed.
        if let Err(e) = self
            .store
            .prune_backtests(now_ms - self.trades_kept_ms, now_ms - backtests::SILENT_MS)
            .await
        {
            tracing::error!(error = %e, "deleting old backtests failed");
        }
        self.store.prune_trades(now_ms - self.trades_kept_ms).await
    }

    /// A bot by id, or 404 naming it: also when it is in an environment `envs` does not
    /// reach (a scoped caller cannot tell it from an absent one).
    pub(crate) async fn bot_or_404(
        &self,
        id: &str,
        envs: &crate::store::EnvFilter,
    ) -> Result<crate::store::BotRow, ApiError> {
        self.store
            .bot(id)
            .await?
            .filter(|b| envs.allows(b.environment))
            .ok_or_else(|| ApiError::not_found(format!("bot {id}")))
    }

    /// Evaluates the alert rules now (the gateway also does it every second).
    pub async fn evaluate_alerts(&self) -> Result<crate::alerts::Evaluation, StoreError> {
        let now = self.store.now_ms();
        let p99 = |bot: &str, stage: &str, for_s: Option<u64>| -> Option<u64> {
            let Some(for_s) = for_s else {
                return self
                    .latency
                    .lock()
                    .ok()?
                    .get(bot)?
                    .get(stage)
                    .map(|h| h.value_at_quantile(0.99));
            };
            // Every interval reported in the window must be over: the lowest decides, and the
            // reports must reach back over the whole window (a report per second, some slack).
            let recent = self.recent_p99.lock().ok()?;
            let samples = recent.get(&(bot.to_string(), stage.to_string()))?;
            let start = now - (for_s as i64) * 1000;
            let covered = samples.front().is_some_and(|(at, _)| *at <= start + 1_500);
            let window = samples.iter().filter(|(at, _)| *at >= start);
            covered.then(|| window.map(|(_, p)| *p).min()).flatten()
        };
        crate::alerts::evaluate(&self.store, &p99, &self.webhooks).await
    }

    /// Records that desired state changed: agents blocked on an older index wake up.
    async fn changed(&self) -> Result<(), ApiError> {
        Ok(self.bump_index().await?)
    }

    /// Bumps the desired-state index: agents' blocking queries answer with the new state.
    pub(crate) async fn bump_index(&self) -> Result<(), crate::StoreError> {
        let next = self.store.bump_desired_index().await?;
        self.index.send_replace(next);
        Ok(())
    }
}

/// Every failure: a status and `{ "error": { code, message, details } }`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::VersionConflict { current, .. } = &e {
            return Self::new(StatusCode::CONFLICT, "version_conflict", e.to_string())
                .details(json!({"current_version": current}));
        }
        tracing::error!(error = %e, "store");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "store", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"error": {"code": self.code, "message": self.message, "details": self.details}})))
            .into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// Who made the request (set by the auth middleware).
#[derive(Debug, Clone)]
struct Caller {
    name: String,
    role: Role,
    /// The node an agent token is bound to.
    node_id: Option<String>,
    /// The environments it reaches (`None`: all).
    environments: Option<Vec<crate::store::Environment>>,
}

/// The token a request presented (streams check it again while they run).
#[derive(Debug, Clone)]
pub(crate) struct Presented(pub(crate) String);

/// Whether `token` still authenticates with `role`: not revoked, not expired, role unchanged.
pub(crate) async fn still_valid(state: &AppState, token: &Presented, role: Role) -> bool {
    matches!(
        state.store.authenticate(&token.0).await,
        Ok(Some(crate::store::Identity { role: now, .. })) if now == role
    )
}

/// The environments a request's token reaches (none when unknown).
pub(crate) fn caller_envs(ext: &axum::http::Extensions) -> crate::store::EnvFilter {
    caller(ext).envs()
}

/// The role a request was authenticated with (a viewer's when unknown).
pub(crate) fn caller_role(ext: &axum::http::Extensions) -> Role {
    ext.get::<Caller>().map_or(Role::Viewer, |c| c.role)
}

impl Caller {
    /// The environments the caller reaches.
    fn envs(&self) -> crate::store::EnvFilter {
        crate::store::EnvFilter::only(self.environments.clone())
    }

    /// 403 unless the caller reaches `env` (for writes that would create what it cannot see).
    fn may_write(&self, env: crate::store::Environment) -> Result<(), ApiError> {
        if self.sees(env) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "environment_forbidden",
            format!(
                "token {} reaches {}; this configuration is {env}",
                self.name,
                crate::store::Environment::join(self.environments.as_deref().unwrap_or_default())
            ),
        )
        .details(json!([{"path": "environment"}])))
    }

    /// Whether the caller reaches `env`.
    fn sees(&self, env: crate::store::Environment) -> bool {
        self.envs().allows(env)
    }

    /// What a list answers the caller: its environments, narrowed by `?env=` (a name that
    /// is not an environment is a 400).
    fn env_filter(&self, env: Option<&str>) -> Result<crate::store::EnvFilter, ApiError> {
        let asked = env
            .map(crate::store::Environment::parse_list)
            .transpose()
            .map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_query", format!("env: {e}"))
                    .details(json!([{"path": "env"}]))
            })?;
        Ok(self.envs().and(&crate::store::EnvFilter::only(asked)))
    }

    /// Whether the caller may act for `node_id` on the agent routes: an agent for its own
    /// node only (403 otherwise); an admin for any.
    fn for_node(&self, node_id: &str) -> Result<(), ApiError> {
        match (&self.role, &self.node_id) {
            (Role::Agent, Some(own)) if own == node_id => Ok(()),
            (Role::Admin, _) => Ok(()),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "token {} may not act for node {node_id:?}{}",
                    self.name,
                    self.node_id
                        .as_deref()
                        .map(|n| format!(" (it is bound to node {n:?})"))
                        .unwrap_or_default()
                ),
            )),
        }
    }
}

async fn authenticate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Response {
    // Browsers cannot set headers on a WebSocket: streams also take `?token=`.
    let query_token = request
        .uri()
        .path()
        .starts_with("/api/v1/ws/")
        .then(|| request.uri().query())
        .flatten()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .map(str::to_string);
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_string)
        .or(query_token);
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "missing Authorization: Bearer <token>",
        )
        .into_response();
    };
    match state.store.authenticate(&token).await {
        Ok(Some(crate::store::Identity {
            name,
            role,
            node_id,
            environments,
        })) => {
            let matched = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or(request.uri().path(), |m| m.as_str());
            let needed = required_role(request.method(), matched);
            // Agent tokens reach the agent routes and nothing else; the agent routes take an
            // agent token (for its node, checked by each route) or an admin's.
            let allowed = match (role, needed) {
                (Role::Agent, needed) => needed == Role::Agent,
                (role, Role::Agent) => role == Role::Admin,
                (role, needed) => role >= needed,
            };
            if !allowed {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "{} needs the {} role; token {name} is {}",
                        request.uri().path(),
                        needed.as_str(),
                        role.as_str()
                    ),
                )
                .into_response();
            }
            request.extensions_mut().insert(Caller {
                name,
                role,
                node_id,
                environments,
            });
            request.extensions_mut().insert(Presented(token));
            next.run(request).await
        }
        Ok(None) => ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "unknown token")
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The least role a route needs, from the one route table the OpenAPI document is built from
/// (`matched`: the route's template, e.g. `/api/v1/bots/{bot_id}`). A route missing from the
/// table needs admin.
fn required_role(method: &axum::http::Method, matched: &str) -> Role {
    let method = if method == axum::http::Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    crate::openapi::ROUTES
        .iter()
        .find(|r| r.method == method && r.path == matched)
        .and_then(|r| Role::parse(r.role))
        .unwrap_or(Role::Admin)
}

fn caller(request_ext: &axum::http::Extensions) -> Caller {
    request_ext.get::<Caller>().cloned().unwrap_or(Caller {
        name: "unknown".into(),
        role: Role::Agent,
        node_id: None,
        // Reaches nothing.
        environments: Some(Vec::new()),
    })
}

fn bot_type(name: &str) -> Result<BotType, ApiError> {
    name.parse::<BotType>()
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_bot_type", e.to_string()))
}

/// Validates a configuration on the blocking pool (a 4 MiB body is milliseconds of work the
/// async workers should not hold).
async fn validate(body: &Value) -> Result<config::ValidatedConfig, ApiError> {
    let body = body.clone();
    tokio::task::spawn_blocking(move || config::validate(&body))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "validation",
                format!("validating the configuration: {e}"),
            )
        })?
        .map_err(|errors| {
            let details: Vec<Value> = errors
                .iter()
                .map(|e| json!({"path": e.path, "message": e.message}))
                .collect();
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_config",
                format!("{} error(s) in the configuration", errors.len()),
            )
            .details(Value::Array(details))
        })
}

async fn health(State(state): State<Arc<AppState>>) -> ApiResult {
    state.store.ping().await?;
    Ok(axum::Json(HealthBody {
        status: "ok",
        database: "reachable",
    })
    .into_response())
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method (see /api/v1/openapi.json)",
    )
}

/// Largest request body (bytes); larger ones answer 413.
pub const MAX_BODY: usize = sniperforge_protocol::fleet::BODY_MAX;

/// Gives the extractors' own rejections (oversized body 413, bad query 400, …), which axum
/// answers in plain text, the same `{"error": {code, message, details}}` body as everything else.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        _ => "http_error",
    };
    let message = match (status, text.is_empty()) {
        (StatusCode::PAYLOAD_TOO_LARGE, _) => {
            format!("request body over the {MAX_BODY}-byte limit")
        }
        (_, true) => status.canonical_reason().unwrap_or("error").to_string(),
        (_, false) => text,
    };
    ApiError::new(status, code, message).into_response()
}

/// The document, built once (it is the same for the life of the process).
static OPENAPI: std::sync::LazyLock<axum::body::Bytes> = std::sync::LazyLock::new(|| {
    axum::body::Bytes::from(serde_json::to_vec(&crate::openapi::document()).unwrap_or_default())
});

async fn openapi() -> ApiResult {
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI.clone(),
    )
        .into_response())
}

/// The API router over `state` (tests call it with `tower::ServiceExt::oneshot`).
pub fn router(state: AppState) -> Router {
    let state = Arc::new(state);
    Router::new()
        .route("/api/v1/system/audit", get(audit))
        .route("/api/v1/system/emergency-stop", post(emergency_stop))
        .route("/api/v1/bots", get(list_bots).post(create_bot))
        .route(
            "/api/v1/bots/{bot_id}",
            get(get_bot).put(update_bot).delete(delete_bot),
        )
        .route("/api/v1/bots/{bot_id}/status", get(bot_status))
        .route("/api/v1/bots/{bot_id}/metrics", get(bot_metrics))
        .route("/api/v1/bots/{bot_id}/latency", get(bot_latency))
        .route("/api/v1/latency", get(latency_range))
        .route("/api/v1/trades", get(list_trades))
        .route("/api/v1/pnl", get(pnl))
        .route(
            "/api/v1/backtests",
            get(list_backtests).post(create_backtest),
        )
        .route(
            "/api/v1/backtests/{backtest_id}",
            get(get_backtest).delete(delete_backtest),
        )
        .route(
            "/api/v1/agent/backtests/{backtest_id}",
            post(backtest_result),
        )
        .route("/api/v1/system/metrics", get(system_metrics))
        .route("/metrics", get(prometheus))
        .route("/api/v1/auth/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/auth/users", get(list_users))
        .route("/api/v1/auth/me", get(me))
        .route(
            "/api/v1/auth/users/{name}",
            axum::routing::put(put_user).delete(delete_user),
        )
        .route(
            "/api/v1/auth/tokens/{name}",
            axum::routing::delete(revoke_token),
        )
        .route("/api/v1/ws/metrics", get(crate::streams::ws_metrics))
        .route("/api/v1/ws/logs", get(crate::streams::ws_logs))
        .route("/api/v1/system/logs/{bot_id}", get(bot_logs))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/alerts/rules", get(list_rules))
        .route(
            "/api/v1/alerts/rules/{rule_id}",
            axum::routing::put(put_rule),
        )
        .route("/api/v1/alerts/evaluate", post(evaluate_alerts))
        .route("/api/v1/bots/{bot_id}/{action}", post(bot_action))
        .route(
            "/api/v1/bots/{bot_id}/replicas",
            axum::routing::put(scale_bot),
        )
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/rollouts", get(list_rollouts).post(create_rollout))
        .route("/api/v1/rollouts/{rollout_id}", get(get_rollout))
        .route("/api/v1/rollouts/{rollout_id}/pause", post(pause_rollout))
        .route("/api/v1/rollouts/{rollout_id}/resume", post(resume_rollout))
        .route("/api/v1/rollouts/{rollout_id}/abort", post(abort_rollout))
        .route("/api/v1/agent/register", post(register))
        .route("/api/v1/agent/heartbeat", post(heartbeat))
        .route("/api/v1/agent/desired", get(desired))
        .route("/api/v1/agent/report", post(report))
        .route("/api/v1/configs", get(list_configs).post(create_config))
        .route("/api/v1/configs/validate", post(validate_config))
        .route("/api/v1/configs/templates/{bot_type}", get(template))
        .route("/api/v1/configs/schemas/{bot_type}", get(schema))
        .route(
            "/api/v1/configs/{config_id}",
            get(get_config).put(put_config),
        )
        .route("/api/v1/configs/{config_id}/rollback", post(rollback))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ))
        // After the auth layer: open to probes and load balancers (it reveals only liveness).
        .route("/api/v1/system/health", get(health))
        .route("/api/v1/auth/login", post(login))
        // The web UI: static files, no data.
        .route("/", get(crate::web::index))
        .route("/index.html", get(crate::web::index))
        .route("/assets/{*file}", get(crate::web::asset))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_labels_and_webhook_origins_hold_no_more_than_they_should() {
        assert_eq!(
            prometheus_label("a\"b\\c\nd} evil 1"),
            "a\\\"b\\\\c\\nd} evil 1"
        );
        assert_eq!(
            webhook_origin("https://user:pw@hooks.example.com:8443/T0/B1/secret?x=1"),
            "https://hooks.example.com:8443"
        );
        assert_eq!(webhook_origin("http://h"), "http://h");
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash_with_default_cost() {
        use argon2::password_hash::PasswordHash;
        let dummy = PasswordHash::new(DUMMY_PHC).expect("parses");
        let real_phc = hash_password("some password").unwrap();
        let real = PasswordHash::new(&real_phc).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(
            dummy.params, real.params,
            "same cost as a real verification"
        );
        assert!(!verify_password("", DUMMY_PHC));
        assert!(verify_password("some password", &real_phc));
        assert!(!verify_password("some password", "not a hash"));
    }
}
