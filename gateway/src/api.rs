//! The REST API (`/api/v1/…`): bots and their desired state, versioned configurations with
//! templates and schemas, system health and the emergency stop. Every route is authenticated;
//! mutating ones need the operator role (the emergency stop: admin) and are audited.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use sniperforge_bots::{BotType, changes, config};

use crate::store::{Role, Store, StoreError};

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
}

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

/// Bot id → bot type.
type BotTypes = std::collections::HashMap<String, String>;

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
    std::sync::LazyLock::new(|| sniperforge_engine::telemetry::latency_histogram().high());

/// Log lines kept per bot for `GET /api/v1/system/logs/{bot_id}`.
pub const LOG_LINES_KEPT: usize = 2_000;
/// Most log lines one report may carry per bot, and the longest line (bytes).
pub const LOG_LINES_PER_REPORT: usize = 1_000;
const LOG_LINE_MAX: usize = 8 * 1024;

/// One log line of a bot, as its agent reported it.
#[derive(Debug, Clone, serde::Serialize)]
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
        Ok(Self {
            store,
            index: tokio::sync::watch::Sender::new(current),
            latency: Arc::default(),
            windows: Arc::default(),
            minutes_kept_ms: crate::windows::MINUTES_KEPT_MS,
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
        })
    }

    /// The same state trusting the CA certificates in `ca` (PEM) for https:// webhooks, besides
    /// the system's.
    pub fn with_webhook_ca(self, ca: &std::path::Path) -> Result<Self, String> {
        Ok(self.with_webhooks(crate::alerts::Webhooks::new(ca)?))
    }

    /// The same state delivering alert webhooks through `webhooks`.
    pub fn with_webhooks(mut self, webhooks: crate::alerts::Webhooks) -> Self {
        self.webhooks = Arc::new(crate::alerts::WebhookQueue::start(webhooks));
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
    async fn bot_types(&self) -> Result<Arc<BotTypes>, StoreError> {
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
                .map(|b| (b.bot_id, b.bot_type))
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

    /// Evaluates the alert rules now (the gateway also does it every second).
    pub async fn evaluate_alerts(&self) -> Result<crate::alerts::Evaluation, StoreError> {
        let now = crate::store::now_ms();
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

/// The role a request was authenticated with (a viewer's when unknown).
pub(crate) fn caller_role(ext: &axum::http::Extensions) -> Role {
    ext.get::<Caller>().map_or(Role::Viewer, |c| c.role)
}

impl Caller {
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
        .find(|(m, p, _, _)| *m == method && *p == matched)
        .and_then(|(_, _, role, _)| Role::parse(role))
        .unwrap_or(Role::Admin)
}

fn caller(request_ext: &axum::http::Extensions) -> Caller {
    request_ext.get::<Caller>().cloned().unwrap_or(Caller {
        name: "unknown".into(),
        role: Role::Agent,
        node_id: None,
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
    Ok(axum::Json(json!({"status": "ok", "database": "reachable"})).into_response())
}

async fn list_bots(State(state): State<Arc<AppState>>) -> ApiResult {
    let index = *state.index.borrow();
    let cached = state.bots_body.lock().ok().and_then(|c| {
        c.as_ref()
            .filter(|(at, _)| *at == index)
            .map(|(_, body)| body.clone())
    });
    let body = match cached {
        Some(body) => body,
        None => {
            let body = axum::body::Bytes::from(
                serde_json::to_vec(&json!({"bots": state.store.bots().await?})).map_err(|e| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "encode", e.to_string())
                })?,
            );
            if let Ok(mut c) = state.bots_body.lock() {
                *c = Some((index, body.clone()));
            }
            body
        }
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBot {
    /// The bot's configuration (stored as a new version)…
    #[serde(default)]
    config: Option<Value>,
    /// …or the id of one stored with `POST /api/v1/configs`, run as it is.
    #[serde(default)]
    config_id: Option<String>,
    #[serde(default = "default_node")]
    node_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateConfig {
    config: Value,
}

/// `POST /api/v1/configs`: stores a validated configuration as version 1 under its `bot_id`,
/// with no bot yet (`POST /api/v1/bots` with `config_id` starts one on it; `PUT` versions it).
async fn create_config(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: CreateConfig = parse_body(&body)?;
    let valid = validate(&req.config).await?;
    let id = valid.config.bot_id.clone();
    let who = caller(&ext);
    let bot_type = valid.config.bot_type.as_str();
    if !state
        .store
        .create_config(&id, bot_type, &req.config, &who.name)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("config {id} already exists (PUT /api/v1/configs/{id} adds a version)"),
        ));
    }
    state
        .store
        .audit(
            &who.name,
            "config.create",
            &id,
            &json!({"bot_type": bot_type}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"config_id": id, "version": 1, "bot_type": bot_type})),
    )
        .into_response())
}

fn default_node() -> String {
    "local".into()
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("request body: {e}"),
        )
    })
}

async fn create_bot(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: CreateBot = parse_body(&body)?;
    if !sniperforge_bots::config::valid_node_id(&req.node_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "node_id: must be 1 to 64 letters, digits, '-', '_' or '.'",
        )
        .details(json!([{"path": "node_id"}])));
    }
    let (body, valid) = match (&req.config, &req.config_id) {
        (Some(config), None) => (Some(config), validate(config).await?),
        (None, Some(config_id)) => {
            let stored = state
                .store
                .config(config_id, None)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("config {config_id}")))?;
            (None, validate(&stored.body).await?)
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "request body: give either config (a configuration) or config_id (a stored one)",
            ));
        }
    };
    let id = valid.config.bot_id.clone();
    let who = caller(&ext);
    if !state
        .store
        .create_bot(
            &id,
            valid.config.bot_type.as_str(),
            &req.node_id,
            body,
            &who.name,
        )
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("bot {id} already exists"),
        ));
    }
    state
        .store
        .audit(
            &who.name,
            "bot.create",
            &id,
            &json!({"bot_type": valid.config.bot_type, "node_id": req.node_id}),
        )
        .await?;
    state.changed().await?;
    let bot = state.store.bot(&id).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({"bot": bot}))).into_response())
}

async fn get_bot(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let bot = state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let config = state.store.config(&id, None).await?;
    Ok(axum::Json(json!({"bot": bot, "config": config})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    config: Value,
}

/// Stores a new version of `id`'s configuration; answers which changes apply hot.
/// The version a write is based on: `If-Match: <version>` (quotes allowed, as an ETag).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_matches('"'))
        .and_then(|s| s.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "If-Match: expected the config version the change is based on, e.g. If-Match: 3",
            )
        })
}

async fn new_version(
    state: &AppState,
    id: &str,
    body: &Value,
    who: &Caller,
    expected: Option<i64>,
) -> ApiResult {
    let valid = validate(body).await?;
    if valid.config.bot_id != id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "id_mismatch",
            format!("bot_id is {}, the path names {id}", valid.config.bot_id),
        ));
    }
    let previous = state
        .store
        .config(id, None)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("config {id}")))?;
    if previous.bot_type != valid.config.bot_type.as_str() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "type_change",
            format!(
                "bot {id} is {}; create a new bot to change type",
                previous.bot_type
            ),
        ));
    }
    let old = config::validate(&previous.body).map_err(|_| {
        ApiError::new(
            StatusCode::CONFLICT,
            "stored_config_invalid",
            "the stored configuration no longer validates",
        )
    })?;
    let diff = changes(&old, &valid);
    let version = state
        .store
        .add_config_version(
            id,
            valid.config.bot_type.as_str(),
            body,
            &who.name,
            expected,
        )
        .await?;
    let hot: Vec<&str> = diff
        .iter()
        .filter(|c| c.hot)
        .map(|c| c.path.as_str())
        .collect();
    let cold: Vec<&str> = diff
        .iter()
        .filter(|c| !c.hot)
        .map(|c| c.path.as_str())
        .collect();
    state
        .store
        .audit(
            &who.name,
            "config.update",
            id,
            &json!({"version": version, "hot": hot, "restart_required": cold}),
        )
        .await?;
    state.changed().await?;
    Ok(axum::Json(json!({"config_id": id, "version": version, "applied_hot": hot, "restart_required": cold, "needs_restart": !cold.is_empty()}))
        .into_response())
}

async fn update_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: String,
) -> ApiResult {
    let expected = if_match(&headers)?;
    let req: UpdateBody = parse_body(&body)?;
    state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    new_version(&state, &id, &req.config, &caller(&ext), expected).await
}

async fn delete_bot(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    if !state.store.delete_bot(&id).await? {
        return Err(ApiError::not_found(format!("bot {id}")));
    }
    state.forget_bot(&id);
    state
        .store
        .audit(&caller(&ext).name, "bot.delete", &id, &Value::Null)
        .await?;
    state.changed().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn bot_action(
    State(state): State<Arc<AppState>>,
    Path((id, action)): Path<(String, String)>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let bot = state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let target = match (action.as_str(), bot.desired_state.as_str()) {
        ("start", "stopped") | ("resume", "paused") | ("restart", _) => "running",
        ("stop", "running" | "paused") => "stopped",
        ("pause", "running") => "paused",
        ("start" | "stop" | "pause" | "resume", from) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "illegal_transition",
                format!("cannot {action} bot {id}: its desired state is {from}"),
            )
            .details(json!({"from": from, "action": action})));
        }
        _ => {
            return Err(ApiError::not_found(format!(
                "action {action}; expected start, stop, pause, resume or restart"
            )));
        }
    };
    if action == "restart" {
        state.store.request_restart(&id).await?;
    } else {
        state.store.set_desired_state(&id, target).await?;
    }
    state
        .store
        .audit(
            &caller(&ext).name,
            &format!("bot.{action}"),
            &id,
            &json!({"desired_state": target}),
        )
        .await?;
    state.changed().await?;
    Ok(
        axum::Json(json!({"bot_id": id, "desired_state": target, "restart": action == "restart"}))
            .into_response(),
    )
}

async fn list_configs(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(json!({"configs": state.store.configs().await?})).into_response())
}

#[derive(Debug, Deserialize)]
struct VersionQuery {
    version: Option<i64>,
}

async fn get_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult {
    let c = state
        .store
        .config(&id, q.version)
        .await?
        .ok_or_else(|| match q.version {
            Some(v) => ApiError::not_found(format!("config {id} version {v}")),
            None => ApiError::not_found(format!("config {id}")),
        })?;
    Ok(axum::Json(c).into_response())
}

async fn put_config(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
    body: String,
) -> ApiResult {
    let expected = if_match(&headers)?;
    let value: Value = parse_body(&body)?;
    new_version(&state, &id, &value, &caller(&ext), expected).await
}

async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
) -> ApiResult {
    let expected = if_match(&headers)?;
    let v = q.version.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "?version=N names the version to roll back to",
        )
    })?;
    let old = state
        .store
        .config(&id, Some(v))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("config {id} version {v}")))?;
    new_version(&state, &id, &old.body, &caller(&ext), expected).await
}

async fn template(Path(t): Path<String>) -> ApiResult {
    Ok(axum::Json(config::template(bot_type(&t)?)).into_response())
}

async fn schema(Path(t): Path<String>) -> ApiResult {
    Ok(axum::Json(config::schema(bot_type(&t)?)).into_response())
}

async fn emergency_stop(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let stopped = state.store.stop_all().await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            "system.emergency_stop",
            "fleet",
            &json!({"bots_stopped": stopped}),
        )
        .await?;
    state.changed().await?;
    Ok(axum::Json(json!({"bots_stopped": stopped})).into_response())
}

/// The audit trail; below admin, webhook URLs (entries older releases wrote whole) show as
/// their origin, and failed logins without the name tried (often a mistyped password).
async fn audit(State(state): State<Arc<AppState>>, ext: axum::http::Extensions) -> ApiResult {
    let mut entries = state.store.audit_log(200).await?;
    if caller(&ext).role < Role::Admin {
        for e in &mut entries {
            if let Some(url) = e["details"]["webhook"].as_str().map(str::to_string)
                && url.contains("://")
                && !url.ends_with("/…")
            {
                e["details"]["webhook"] = Value::String(webhook_origin(&url));
            }
            if e["action"] == "auth.login_failed" {
                e["target"] = Value::String("(hidden)".into());
            }
        }
    }
    Ok(axum::Json(json!({"audit": entries})).into_response())
}

async fn register(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let node: crate::store::NodeInfo = parse_body(&body)?;
    if !sniperforge_bots::config::valid_node_id(&node.node_id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "node_id: must be 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    caller(&ext).for_node(&node.node_id)?;
    state.store.register_node(&node).await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            "node.register",
            &node.node_id,
            &json!({"backend": node.backend, "cores": node.cores}),
        )
        .await?;
    Ok(
        axum::Json(json!({"node_id": node.node_id, "desired_index": *state.index.borrow()}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeRef {
    node_id: String,
}

async fn heartbeat(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let node: NodeRef = parse_body(&body)?;
    caller(&ext).for_node(&node.node_id)?;
    if !state.store.heartbeat(&node.node_id).await? {
        return Err(ApiError::not_found(format!(
            "node {} (register first)",
            node.node_id
        )));
    }
    Ok(
        axum::Json(json!({"node_id": node.node_id, "desired_index": *state.index.borrow()}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
struct DesiredQuery {
    node_id: String,
    #[serde(default)]
    index: i64,
    #[serde(default)]
    wait_ms: u64,
}

/// The blocking query agents hold: answers at once when the desired-state index is past the
/// one the agent holds, else when it moves or after `wait_ms` (at most 60 s).
async fn desired(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    Query(q): Query<DesiredQuery>,
) -> ApiResult {
    caller(&ext).for_node(&q.node_id)?;
    let mut rx = state.index.subscribe();
    let wait = std::time::Duration::from_millis(q.wait_ms.min(60_000));
    if *rx.borrow_and_update() <= q.index && !wait.is_zero() {
        let waiting = Arc::clone(&state.desired_waiters)
            .try_acquire_owned()
            .ok()
            .zip(NodeWaiter::take(&state.desired_by_node, &q.node_id));
        let Some(_waiting) = waiting else {
            let mut resp = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "too many desired-state queries waiting (at most {DESIRED_WAITERS_PER_NODE} for a node, {DESIRED_WAITERS} in all); retry in 1 s"
                ),
            )
            .into_response();
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
            return Ok(resp);
        };
        let _ = tokio::time::timeout(wait, rx.wait_for(|i| *i > q.index)).await;
    }
    let index = *state.index.borrow();
    let mut bots = Vec::new();
    for b in state
        .store
        .bots()
        .await?
        .into_iter()
        .filter(|b| b.node_id == q.node_id)
    {
        let config = state.store.config(&b.bot_id, None).await?;
        bots.push(
            json!({"bot_id": b.bot_id, "bot_type": b.bot_type, "desired_state": b.desired_state,
            "restarts": b.restarts, "config_version": b.config_version, "config": config.map(|c| c.body)}),
        );
    }
    Ok(axum::Json(json!({"node_id": q.node_id, "index": index, "bots": bots})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BotReport {
    bot_id: String,
    status: Value,
    #[serde(default)]
    metrics: Value,
    /// Stage → interval histogram (HdrHistogram V2, base64), as the bot's `/hdr` gives it.
    #[serde(default)]
    hdr: std::collections::BTreeMap<String, String>,
    /// Log lines written since the last report, oldest first.
    #[serde(default)]
    logs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    node_id: String,
    bots: Vec<BotReport>,
}

async fn report(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let mut r: Report = parse_body(&body)?;
    caller(&ext).for_node(&r.node_id)?;
    check_report(&r)?;
    // Only the node's own bots are taken: a bot of another node is refused (the report whole);
    // one the gateway does not know (deleted since, or never created) is left out and named in
    // the answer, so nothing is kept for ids no configuration holds.
    let owners: std::collections::HashMap<String, String> = state
        .store
        .bots()
        .await?
        .into_iter()
        .map(|b| (b.bot_id, b.node_id))
        .collect();
    if let Some(b) = r
        .bots
        .iter()
        .find(|b| owners.get(&b.bot_id).is_some_and(|n| *n != r.node_id))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "bot {} belongs to node {}, not {}",
                b.bot_id, owners[&b.bot_id], r.node_id
            ),
        ));
    }
    let unknown: Vec<String> = r
        .bots
        .iter()
        .filter(|b| !owners.contains_key(&b.bot_id))
        .map(|b| b.bot_id.clone())
        .collect();
    r.bots.retain(|b| owners.contains_key(&b.bot_id));
    if !state.store.heartbeat(&r.node_id).await? {
        return Err(ApiError::not_found(format!(
            "node {} (register first)",
            r.node_id
        )));
    }
    // Check every snapshot before storing anything: a malformed one rejects the report whole.
    let mut decoded = Vec::new();
    for b in &r.bots {
        if b.logs.len() > LOG_LINES_PER_REPORT {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_logs",
                format!(
                    "bots[{}].logs: {} lines; at most {LOG_LINES_PER_REPORT} per report",
                    b.bot_id,
                    b.logs.len()
                ),
            ));
        }
        if let Some(i) = b.logs.iter().position(|l| l.len() > LOG_LINE_MAX) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_logs",
                format!(
                    "bots[{}].logs[{i}]: longer than {LOG_LINE_MAX} bytes",
                    b.bot_id
                ),
            ));
        }
        for (stage, b64) in &b.hdr {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_hdr",
                        format!("bots[{}].hdr.{stage}: not base64: {e}", b.bot_id),
                    )
                })?;
            // Checked whole here (nothing is stored unless every snapshot is good), in the one
            // walk over its bytes whose pairs feed the windows and the merged histogram below.
            let (pairs, total) = sniperforge_engine::telemetry::pairs_v2(&bytes, *LATENCY_MAX_NS)
                .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_hdr",
                    format!("bots[{}].hdr.{stage}: {e}", b.bot_id),
                )
            })?;
            decoded.push((b.bot_id.clone(), stage.clone(), pairs, total));
        }
    }
    let rows: Vec<(&str, &Value, &Value)> = r
        .bots
        .iter()
        .map(|b| (b.bot_id.as_str(), &b.status, &b.metrics))
        .collect();
    state.store.report_bots(&r.node_id, &rows).await?;
    // Each snapshot's pairs: into the latency windows, and merged into the bot's histogram with
    // its own p99 kept for the "p99 above a budget for N s" rules.
    let at = crate::store::now_ms();
    // The windows' scopes of each bot: itself, its type, its node, the fleet.
    let types = state.bot_types().await?;
    let scopes: std::collections::HashMap<&str, Vec<String>> = r
        .bots
        .iter()
        .map(|b| {
            let mut s = vec![
                "fleet".to_string(),
                format!("node:{}", r.node_id),
                format!("bot:{}", b.bot_id),
            ];
            if let Some(t) = types.get(&b.bot_id) {
                s.push(format!("type:{t}"));
            }
            (b.bot_id.as_str(), s)
        })
        .collect();
    if let Ok(mut windows) = state.windows.lock() {
        for (bot, stage, pairs, _) in &decoded {
            if let Some(s) = scopes.get(bot.as_str()) {
                windows.record(s, stage, at, pairs);
            }
        }
    }
    if let (Ok(mut latency), Ok(mut recent)) = (state.latency.lock(), state.recent_p99.lock()) {
        for (bot, stage, pairs, total) in decoded {
            let slot = latency
                .entry(bot.clone())
                .or_default()
                .entry(stage.clone())
                .or_insert_with(sniperforge_engine::telemetry::latency_histogram);
            // Checked above against the same bounds: cannot fail.
            let p99 = sniperforge_engine::telemetry::record_pairs(slot, &pairs, total, 0.99);
            if let Ok(Some(p)) = p99 {
                let samples = recent.entry((bot, stage)).or_default();
                while samples
                    .front()
                    .is_some_and(|(t, _)| *t < at - RECENT_P99_MS)
                {
                    samples.pop_front();
                }
                samples.push_back((at, p));
                // However often a node reports, a stage keeps a bounded history.
                while samples.len() > RECENT_P99_SAMPLES {
                    samples.pop_front();
                }
            }
        }
    }
    if let Ok(mut logs) = state.logs.lock() {
        for b in &r.bots {
            if b.logs.is_empty() {
                continue;
            }
            let kept = logs.entry(b.bot_id.clone()).or_default();
            for line in &b.logs {
                let line = Arc::new(LogLine {
                    bot_id: b.bot_id.clone(),
                    node_id: r.node_id.clone(),
                    at,
                    line: line.clone(),
                });
                if kept.len() == LOG_LINES_KEPT {
                    kept.pop_front();
                }
                kept.push_back(Arc::clone(&line));
                // No subscriber is not an error.
                let _ = state.log_lines.send(line);
            }
        }
    }
    Ok(axum::Json(json!({"accepted": r.bots.len(), "unknown": unknown})).into_response())
}

/// Most bots one report may carry.
pub const REPORT_BOTS_MAX: usize = 1_024;
/// Largest `status` or `metrics` object of one bot in a report (bytes of JSON).
pub const REPORT_OBJECT_MAX: usize = 64 * 1024;
/// The latency stages a bot reports (its runtime's, and the executor's).
pub const REPORT_STAGES: [&str; 4] = ["decoded", "detected", "decided", "executed"];

/// A report's shape, before anything in it is looked up or kept: bot ids as in configurations,
/// each once, known stage names, bounded sizes (the log limits are checked with the snapshots).
fn check_report(r: &Report) -> Result<(), ApiError> {
    let bad =
        |code: &'static str, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
    if r.bots.len() > REPORT_BOTS_MAX {
        return Err(bad(
            "bad_report",
            format!(
                "bots: {} entries; at most {REPORT_BOTS_MAX} per report",
                r.bots.len()
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, b) in r.bots.iter().enumerate() {
        if !sniperforge_bots::config::valid_bot_id(&b.bot_id) {
            return Err(bad(
                "bad_report",
                format!(
                    "bots[{i}].bot_id: must be 1 to 64 letters, digits, '-' or '_' (got {} bytes)",
                    b.bot_id.len()
                ),
            ));
        }
        if !seen.insert(b.bot_id.as_str()) {
            return Err(bad(
                "bad_report",
                format!("bots[{i}].bot_id: {} is listed twice", b.bot_id),
            ));
        }
        for (field, value) in [("status", &b.status), ("metrics", &b.metrics)] {
            if !(value.is_object() || value.is_null()) {
                return Err(bad(
                    "bad_report",
                    format!("bots[{i}].{field}: must be an object"),
                ));
            }
            let size = serde_json::to_vec(value).map_or(usize::MAX, |v| v.len());
            if size > REPORT_OBJECT_MAX {
                return Err(bad(
                    "bad_report",
                    format!("bots[{i}].{field}: {size} bytes; at most {REPORT_OBJECT_MAX}"),
                ));
            }
        }
        if let Some(stage) = b.hdr.keys().find(|k| !REPORT_STAGES.contains(&k.as_str())) {
            let shown: String = stage.chars().take(64).collect();
            return Err(bad(
                "bad_hdr",
                format!(
                    "bots[{i}].hdr: unknown stage {shown:?}; expected one of {}",
                    REPORT_STAGES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    /// Most lines to answer (the newest), default 200.
    #[serde(default)]
    tail: Option<usize>,
    /// Only lines containing this text.
    #[serde(default)]
    filter: Option<String>,
}

/// A bot's recent log lines (newest last), as its agent reported them.
async fn bot_logs(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult {
    state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let tail = q.tail.unwrap_or(200).min(LOG_LINES_KEPT);
    let lines: Vec<Arc<LogLine>> = state
        .logs
        .lock()
        .map(|logs| {
            let Some(kept) = logs.get(&id) else {
                return Vec::new();
            };
            let matching: Vec<&Arc<LogLine>> = kept
                .iter()
                .filter(|l| q.filter.as_deref().is_none_or(|f| l.line.contains(f)))
                .collect();
            matching[matching.len().saturating_sub(tail)..]
                .iter()
                .map(|l| Arc::clone(l))
                .collect()
        })
        .unwrap_or_default();
    Ok(axum::Json(json!({"bot_id": id, "lines": lines})).into_response())
}

async fn nodes(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(json!({"nodes": state.store.nodes().await?})).into_response())
}

async fn bot_status(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    let bot = state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let report = state.store.bot_report(&id).await?;
    Ok(
        axum::Json(json!({"bot_id": id, "desired_state": bot.desired_state, "reported": report}))
            .into_response(),
    )
}

/// A bot's last reported metrics (trades, profit, …) and when they were reported; `null`
/// metrics until its agent first reports.
async fn bot_metrics(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let report = state.store.bot_report(&id).await?;
    let field = |k: &str| report.as_ref().map_or(Value::Null, |r| r[k].clone());
    Ok(axum::Json(json!({
        "bot_id": id,
        "metrics": field("metrics"),
        "reported_at": field("reported_at"),
        "node_id": field("node_id"),
    }))
    .into_response())
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Value {
    let p = sniperforge_engine::telemetry::Percentiles::of(h);
    json!({"count": p.count, "p50": p.p50, "p90": p.p90, "p99": p.p99, "p999": p.p999, "max": p.max})
}

/// Merged latency per stage of one bot (ns from ingress).
async fn bot_latency(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult {
    state
        .store
        .bot(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("bot {id}")))?;
    let stages: serde_json::Map<String, Value> = state
        .latency
        .lock()
        .map(|l| {
            l.get(&id)
                .map(|s| s.iter().map(|(k, h)| (k.clone(), percentiles(h))).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    Ok(axum::Json(json!({"bot_id": id, "unit": "ns", "stages": stages})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeQuery {
    /// `fleet` (default), `bot:<id>`, `type:<bot_type>` or `node:<id>`.
    #[serde(default)]
    scope: Option<String>,
    /// Range start, unix ms (default: 5 min before `to`).
    #[serde(default)]
    from: Option<i64>,
    /// Range end, unix ms, exclusive (default: now).
    #[serde(default)]
    to: Option<i64>,
    /// Width of a point (ms): a multiple of the resolution, 1 s within the 1 s windows' reach,
    /// 1 min beyond it (default: the range in about 300 points).
    #[serde(default)]
    step_ms: Option<i64>,
}

/// Closed 1 min windows written to the store per flush (per second).
pub const MINUTES_PER_FLUSH: usize = 400;

/// `a / b` rounded up, for `a >= 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    a / b + i64::from(a % b != 0)
}

/// Most points a latency query may answer per stage.
pub const LATENCY_MAX_POINTS: i64 = 3_600;

/// Latency over a range: per stage, a point per step and the whole range merged.
async fn latency_range(
    State(state): State<Arc<AppState>>,
    Query(q): Query<RangeQuery>,
) -> ApiResult {
    let bad = |msg: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", msg);
    let scope = q.scope.unwrap_or_else(|| "fleet".into());
    let valid = scope == "fleet"
        || ["bot:", "node:"]
            .iter()
            .any(|p| scope.strip_prefix(p).is_some_and(|id| !id.is_empty()))
        || scope
            .strip_prefix("type:")
            .is_some_and(|t| t.parse::<BotType>().is_ok());
    if !valid {
        return Err(bad(format!(
            "scope {scope:?}: expected fleet, bot:<bot_id>, type:<bot_type> or node:<node_id>"
        )));
    }
    let now = crate::store::now_ms();
    let to = q.to.unwrap_or(now);
    let from = q.from.unwrap_or(to - 300_000);
    const LATEST: i64 = 1 << 50; // unix ms, year 37 648: keeps the arithmetic below in range
    if !(0..LATEST).contains(&from) || !(0..LATEST).contains(&to) {
        return Err(bad(format!(
            "from {from} / to {to}: unix milliseconds between 0 and {LATEST}"
        )));
    }
    if from >= to {
        return Err(bad(format!("from {from} is not before to {to}")));
    }
    // A range reaching a few seconds past the 1 s windows' reach (a "last N minutes" query at N
    // = the retention, sent a moment ago) still reads seconds; its oldest points are empty.
    let kept = state
        .windows
        .lock()
        .map_or(0, |w| w.seconds_kept_ms(&scope));
    let reach = now - kept - 10_000;
    let resolution = if from >= reach && q.step_ms.is_none_or(|s| s % 60_000 != 0) {
        1_000
    } else {
        60_000
    };
    let from = from - from.rem_euclid(resolution);
    let step = match q.step_ms {
        Some(s) if s <= 0 || s % resolution != 0 => {
            return Err(bad(format!(
                "step_ms {s}: must be a positive multiple of {resolution} for this range ({})",
                if resolution == 1_000 {
                    "1 s windows"
                } else {
                    "1 min windows: older than the 1 s windows reach, or a step of whole minutes"
                }
            )));
        }
        Some(s) => s,
        None => {
            let s = ceil_div(to - from, 300);
            (ceil_div(s, resolution) * resolution).max(resolution)
        }
    };
    let points = ceil_div(to - from, step);
    if points > LATENCY_MAX_POINTS {
        return Err(bad(format!(
            "{points} points of {step} ms: at most {LATENCY_MAX_POINTS}; use a larger step_ms"
        )));
    }
    let mut stages: std::collections::BTreeSet<String> = state
        .windows
        .lock()
        .map(|w| w.stages(&scope).into_iter().collect())
        .unwrap_or_default();
    let mut stored = std::collections::BTreeMap::new();
    if resolution == 60_000 {
        stages.extend(state.store.latency_stages(&scope).await?);
        for stage in &stages {
            stored.insert(
                stage.clone(),
                state.store.latency_minutes(&scope, stage, from, to).await?,
            );
        }
    }
    let mut out = serde_json::Map::new();
    let windows = state.windows.lock().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "poisoned",
            "latency windows",
        )
    })?;
    for stage in stages {
        let mut buckets = vec![crate::windows::Counts::new(); points as usize];
        if resolution == 1_000 {
            windows.seconds_into(&scope, &stage, from, to, step, &mut buckets);
        } else {
            for (start, data) in stored.get(&stage).into_iter().flatten() {
                if let Some(b) = buckets.get_mut(((start - from) / step) as usize) {
                    crate::windows::unpack_into(data, b).map_err(|e| {
                        ApiError::from(StoreError::Corrupt(format!(
                            "latency window {scope}/{stage} at {start}: {e}"
                        )))
                    })?;
                }
            }
            for (start, counts) in windows.open_minutes(&scope, &stage) {
                if start >= from
                    && start < to
                    && let Some(b) = buckets.get_mut(((start - from) / step) as usize)
                {
                    for (v, c) in counts {
                        crate::windows::add(b, v, c);
                    }
                }
            }
        }
        let mut total = crate::windows::Counts::new();
        let series: Vec<Value> = buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                for (&v, &c) in b {
                    crate::windows::add(&mut total, v, c);
                }
                let mut p = crate::windows::percentiles(b);
                p["t"] = json!(from + i as i64 * step);
                p
            })
            .collect();
        out.insert(
            stage,
            json!({"points": series, "total": crate::windows::percentiles(&total)}),
        );
    }
    Ok(axum::Json(json!({
        "scope": scope, "from": from, "to": to, "step_ms": step, "resolution_ms": resolution,
        "unit": "ns", "stages": out,
    }))
    .into_response())
}

/// Latency merged per stage across a group of bots: the fleet, a bot type or a node.
pub(crate) fn merged(
    state: &AppState,
    bots: &[crate::store::BotRow],
    keep: impl Fn(&crate::store::BotRow) -> bool,
) -> serde_json::Map<String, Value> {
    let mut out: std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>> =
        Default::default();
    if let Ok(l) = state.latency.lock() {
        for b in bots.iter().filter(|b| keep(b)) {
            for (stage, h) in l.get(&b.bot_id).into_iter().flatten() {
                let _ = out
                    .entry(stage.clone())
                    .or_insert_with(sniperforge_engine::telemetry::latency_histogram)
                    .add(h);
            }
        }
    }
    out.iter()
        .map(|(k, h)| (k.clone(), percentiles(h)))
        .collect()
}

#[derive(Debug, Deserialize)]
struct LatencyQuery {
    bot_type: Option<String>,
    node_id: Option<String>,
}

/// Fleet metrics: bots by desired state, nodes, and latency merged over the fleet (or one
/// bot type / node with `?bot_type=` / `?node_id=`).
async fn system_metrics(
    State(state): State<Arc<AppState>>,
    Query(q): Query<LatencyQuery>,
) -> ApiResult {
    let bots = state.store.bots().await?;
    let mut by_state = serde_json::Map::new();
    for b in &bots {
        let n = by_state
            .get(&b.desired_state)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        by_state.insert(b.desired_state.clone(), json!(n));
    }
    let latency = merged(&state, &bots, |b| {
        q.bot_type.as_ref().is_none_or(|t| &b.bot_type == t)
            && q.node_id.as_ref().is_none_or(|n| &b.node_id == n)
    });
    Ok(axum::Json(json!({
        "bots": bots.len(),
        "bots_by_desired_state": by_state,
        "nodes": state.store.nodes().await?.len(),
        "desired_index": *state.index.borrow(),
        "latency_ns": latency,
    }))
    .into_response())
}

/// Prometheus text: bots by desired state, nodes, each bot's reported trades and profit, and
/// fleet latency quantiles per stage.
async fn prometheus(State(state): State<Arc<AppState>>) -> ApiResult {
    use std::fmt::Write as _;
    let bots = state.store.bots().await?;
    let nodes = state.store.nodes().await?;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# HELP sniperforge_bots Bots by desired state.\n# TYPE sniperforge_bots gauge"
    );
    for desired in ["running", "paused", "stopped"] {
        let n = bots.iter().filter(|b| b.desired_state == desired).count();
        let _ = writeln!(text, "sniperforge_bots{{desired_state=\"{desired}\"}} {n}");
    }
    let _ = writeln!(
        text,
        "# HELP sniperforge_nodes Registered nodes.\n# TYPE sniperforge_nodes gauge\nsniperforge_nodes {}",
        nodes.len()
    );
    let _ = writeln!(
        text,
        "# HELP sniperforge_bot_trades_executed_total Trades a bot reported.\n# TYPE sniperforge_bot_trades_executed_total counter"
    );
    let mut profit = String::new();
    let reports = state.store.bot_reports().await?;
    for b in &bots {
        if let Some(report) = reports.get(&b.bot_id) {
            let m = &report["metrics"];
            let labels = format!(
                "bot_id=\"{}\",bot_type=\"{}\",node_id=\"{}\"",
                prometheus_label(&b.bot_id),
                prometheus_label(&b.bot_type),
                prometheus_label(&b.node_id)
            );
            let _ = writeln!(
                text,
                "sniperforge_bot_trades_executed_total{{{labels}}} {}",
                m["trades_executed"].as_u64().unwrap_or(0)
            );
            let _ = writeln!(
                profit,
                "sniperforge_bot_profit_usd{{{labels}}} {}",
                m["profit_usd"].as_f64().unwrap_or(0.0)
            );
        }
    }
    let _ = writeln!(
        text,
        "# HELP sniperforge_bot_profit_usd Profit a bot reported, USD.\n# TYPE sniperforge_bot_profit_usd gauge"
    );
    text.push_str(&profit);
    let _ = writeln!(
        text,
        "# HELP sniperforge_stage_latency_ns Fleet latency from ingress per stage.\n# TYPE sniperforge_stage_latency_ns gauge"
    );
    for (stage, p) in merged(&state, &bots, |_| true) {
        for (q, key) in [
            ("0.5", "p50"),
            ("0.9", "p90"),
            ("0.99", "p99"),
            ("0.999", "p999"),
            ("1", "max"),
        ] {
            let _ = writeln!(
                text,
                "sniperforge_stage_latency_ns{{stage=\"{}\",quantile=\"{q}\"}} {}",
                prometheus_label(&stage),
                p[key].as_u64().unwrap_or(0)
            );
        }
    }
    Ok(([("content-type", "text/plain; version=0.0.4")], text).into_response())
}

/// A label value as the Prometheus text format escapes it (`\\`, `\"`, `\n`): whatever a
/// store holds, it stays one label of one series.
fn prometheus_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

async fn list_alerts(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(json!({"alerts": state.store.alerts().await?})).into_response())
}

/// Alert rules; below admin, webhook URLs (which often carry a secret in their path or
/// query) show as their scheme and host only.
async fn list_rules(State(state): State<Arc<AppState>>, ext: axum::http::Extensions) -> ApiResult {
    let mut rules = state.store.rules().await?;
    if caller(&ext).role < Role::Admin {
        for rule in &mut rules {
            if !rule.webhook.is_empty() {
                rule.webhook = format!("{}/…", webhook_origin(&rule.webhook));
            }
        }
    }
    Ok(axum::Json(json!({"rules": rules})).into_response())
}

/// A webhook URL's scheme and host (and port), without user info, path or query: what is
/// shown to non-admins and kept in the audit trail.
fn webhook_origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

/// Longest webhook URL accepted.
const WEBHOOK_URL_MAX: usize = 2_048;

async fn put_rule(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let mut value: Value = parse_body(&body)?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("rule_id".into(), Value::String(id.clone()));
    }
    let rule: crate::alerts::Rule = serde_json::from_value(value).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_rule", format!("rule {id}: {e}"))
            .details(json!({"kinds": ["bot_down {after_s}", "bot_error", "node_lost {after_s}", "p99_above {stage, budget_ns, for_s?}", "daily_loss {limit_usd?}", "feed_stale {after_ms}"]}))
    })?;
    if let crate::alerts::RuleKind::P99Above {
        for_s: Some(for_s), ..
    } = rule.kind
        && (for_s == 0 || (for_s as i64) * 1000 > RECENT_P99_MS)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_rule",
            format!(
                "rule {id}: for_s {for_s}: 1 to {} seconds",
                RECENT_P99_MS / 1000
            ),
        )
        .details(json!([{"path": "for_s"}])));
    }
    if !rule.webhook.is_empty() {
        let bad = |why: String| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_rule",
                format!("rule {id}: webhook {why}"),
            )
            .details(json!([{"path": "webhook"}]))
        };
        if rule.webhook.len() > WEBHOOK_URL_MAX {
            return Err(bad(format!("is longer than {WEBHOOK_URL_MAX} bytes")));
        }
        // Control characters (CR/LF would inject headers), spaces and non-ASCII never reach
        // a request line.
        if rule.webhook.chars().any(|c| !c.is_ascii_graphic()) {
            return Err(bad(
                "may hold printable ASCII only (no spaces, control characters or CR/LF)".into(),
            ));
        }
        sniperforge_bots::net::Url::parse(&rule.webhook, &[("http", false), ("https", true)])
            .map_err(|e| bad(format!("must be an http:// or https:// URL: {e}")))?;
    }
    state.store.put_rule(&rule).await?;
    let mut audited = serde_json::to_value(&rule).unwrap_or_default();
    if !rule.webhook.is_empty() {
        audited["webhook"] = Value::String(webhook_origin(&rule.webhook));
    }
    state
        .store
        .audit(&caller(&ext).name, "alert_rule.put", &id, &audited)
        .await?;
    Ok(axum::Json(rule).into_response())
}

async fn evaluate_alerts(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(state.evaluate_alerts().await?).into_response())
}

async fn list_tokens(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(json!({"tokens": state.store.tokens().await?})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    role: String,
    /// The node an `agent` token is bound to (required for agents, refused for other roles).
    #[serde(default)]
    node_id: Option<String>,
}

/// Makes a token; the answer is the only time it is shown.
async fn create_token(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: NewToken = parse_body(&body)?;
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "bad_token", message);
    if !valid_name(&req.name) {
        return Err(bad(format!(
            "name {:?}: 1-64 characters of A-Z a-z 0-9 - _ . @",
            req.name
        ))
        .details(json!([{"path": "name"}])));
    }
    let role = crate::store::Role::parse(&req.role).ok_or_else(|| {
        bad(format!(
            "role {:?}: expected agent, viewer, operator or admin",
            req.role
        ))
        .details(json!([{"path": "role"}]))
    })?;
    match (role, &req.node_id) {
        (Role::Agent, Some(node)) if sniperforge_bots::config::valid_node_id(node) => {}
        (Role::Agent, _) => {
            return Err(bad(
                "node_id: an agent token is bound to one node: 1 to 64 letters, digits, '-', '_' or '.'"
                    .into(),
            )
            .details(json!([{"path": "node_id"}])));
        }
        (_, Some(_)) => {
            return Err(bad(format!(
                "node_id: only agent tokens are bound to a node, not {}",
                role.as_str()
            ))
            .details(json!([{"path": "node_id"}])));
        }
        (_, None) => {}
    }
    if state
        .store
        .tokens()
        .await?
        .iter()
        .any(|t| t["name"] == req.name.as_str())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "token_exists",
            format!("a token named {} exists; revoke it first", req.name),
        ));
    }
    let token = crate::store::new_token();
    match &req.node_id {
        Some(node) => state.store.add_agent_token(&token, &req.name, node).await?,
        None => state.store.add_token(&token, &req.name, role).await?,
    }
    state
        .store
        .audit(
            &caller(&ext).name,
            "token.create",
            &req.name,
            &json!({"role": role.as_str(), "node_id": req.node_id}),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"name": req.name, "role": role.as_str(), "node_id": req.node_id, "token": token})),
    )
        .into_response())
}

/// Revokes every token of a name; the last admin cannot be revoked.
async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    let tokens = state.store.tokens().await?;
    let mine: Vec<&Value> = tokens
        .iter()
        .filter(|t| t["name"] == name.as_str())
        .collect();
    if mine.is_empty() {
        return Err(ApiError::not_found(format!("token {name}")));
    }
    let admins_left = tokens
        .iter()
        .filter(|t| t["role"] == "admin" && t["name"] != name.as_str())
        .count();
    if admins_left == 0 && mine.iter().any(|t| t["role"] == "admin") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_admin",
            format!("{name} holds the last admin token; create another admin first"),
        ));
    }
    let revoked = state.store.revoke_tokens(&name).await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            "token.revoke",
            &name,
            &json!({"revoked": revoked}),
        )
        .await?;
    Ok(axum::Json(json!({"name": name, "revoked": revoked})).into_response())
}

/// An argon2id hash (default parameters) that no password matches, verified for unknown users.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c25pcGVyZm9yZ2UtZHVtbXk$2m2bWmtkZjAO8a1rq0dm8ZEn6f7lvrRjJAiRO7Ajc6E";

/// A token or user name: 1-64 of A-Z a-z 0-9 - _ . @ (so never a login's `session:…`).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hash", e.to_string()))
}

/// Verifies against a PHC string; a hash that does not parse never matches.
fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutUser {
    password: String,
    role: String,
}

/// Creates or replaces a user who can log in with a password (admin).
async fn put_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    let req: PutUser = parse_body(&body)?;
    let bad = |path: &str, message: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_user", message).details(json!([{"path": path}]))
    };
    if !valid_name(&name) {
        return Err(bad(
            "name",
            format!("user {name:?}: 1-64 characters of A-Z a-z 0-9 - _ . @"),
        ));
    }
    if req.password.chars().count() < MIN_PASSWORD || req.password.len() > 1024 {
        return Err(bad(
            "password",
            format!("password: {MIN_PASSWORD} to 1024 characters"),
        ));
    }
    let role = Role::parse(&req.role)
        .filter(|r| *r != Role::Agent)
        .ok_or_else(|| {
            bad(
                "role",
                format!("role {:?}: expected viewer, operator or admin", req.role),
            )
        })?;
    let password = req.password;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "hash", e.to_string()))??;
    let created = state.store.put_user(&name, &hash, role).await?;
    // A changed password or role ends the user's sessions.
    state
        .store
        .revoke_tokens(&format!("session:{name}"))
        .await?;
    state
        .store
        .audit(
            &caller(&ext).name,
            if created {
                "user.create"
            } else {
                "user.update"
            },
            &name,
            &json!({"role": role.as_str()}),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({"name": name, "role": role.as_str()})),
    )
        .into_response())
}

async fn list_users(State(state): State<Arc<AppState>>) -> ApiResult {
    Ok(axum::Json(json!({"users": state.store.users().await?})).into_response())
}

async fn delete_user(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    ext: axum::http::Extensions,
) -> ApiResult {
    if !state.store.delete_user(&name).await? {
        return Err(ApiError::not_found(format!("user {name}")));
    }
    state
        .store
        .audit(&caller(&ext).name, "user.delete", &name, &Value::Null)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    name: String,
    password: String,
}

/// Password login: a session token for the user's role, valid for 12 h. Wrong credentials
/// answer one 401 whatever was wrong (logged and audited). Every attempt counts as a failure
/// from before its verification until it succeeds: a client with 5 (or a user name with 10)
/// in the last minute gets 429, however many it sends at once; at most 4 verifications run at
/// a time across the gateway.
async fn login(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    body: String,
) -> ApiResult {
    // An IPv6 client is its /64 (one host holds a whole prefix).
    let client = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(
            || "unknown".to_string(),
            |c| match c.0.ip() {
                std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.to_string(),
                    None => {
                        let s = v6.segments();
                        format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                    }
                },
                ip => ip.to_string(),
            },
        );
    let req: Login = parse_body(&body)?;
    // The limiter's key for the user: names no user can have share one.
    let user_key = if valid_name(&req.name) {
        req.name.clone()
    } else {
        "(invalid name)".to_string()
    };
    let limited = |wait: std::time::Duration, why: String| {
        let secs = wait.as_secs().max(1);
        let mut resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", why)
            .details(json!({"retry_after_s": secs}))
            .into_response();
        if let Ok(v) = secs.to_string().parse() {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        resp
    };
    // Counted before anything is verified: a burst of parallel attempts gets its allowance,
    // and 429 for the rest.
    let now = std::time::Instant::now();
    let wait = state
        .login_failures
        .lock()
        .map_or(Some(LOGIN_WINDOW), |mut f| f.admit(&client, &user_key, now));
    if let Some(wait) = wait {
        let secs = wait.as_secs().max(1);
        return Ok(limited(
            wait,
            format!("too many failed logins from {client} or for this user; try again in {secs} s"),
        ));
    }
    // A few verifications at a time, whoever asks.
    let Ok(Ok(_slot)) = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        Arc::clone(&state.login_slots).acquire_owned(),
    )
    .await
    else {
        if let Ok(mut f) = state.login_failures.lock() {
            f.succeeded(&client, &user_key, now);
        }
        return Ok(limited(
            std::time::Duration::from_secs(1),
            "too many logins in progress; try again in 1 s".into(),
        ));
    };
    let user = state.store.user(&req.name).await?;
    // Unknown users cost the same hash as known ones: the answer's time says nothing.
    let (phc, role) = user
        .clone()
        .unwrap_or_else(|| (DUMMY_PHC.to_string(), Role::Viewer));
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
        && user.is_some();
    if !ok {
        tracing::warn!(user = %user_key, %client, "failed login");
        state
            .store
            .audit(
                "anonymous",
                "auth.login_failed",
                &user_key,
                &json!({"client": client}),
            )
            .await?;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong user name or password",
        ));
    }
    if let Ok(mut f) = state.login_failures.lock() {
        f.succeeded(&client, &user_key, now);
    }
    let token = crate::store::new_token();
    let expires_at = crate::store::now_ms() + SESSION_TTL_MS;
    state
        .store
        .add_session(&token, &req.name, role, expires_at)
        .await?;
    state
        .store
        .audit(
            &req.name,
            "auth.login",
            &req.name,
            &json!({"client": client}),
        )
        .await?;
    Ok(axum::Json(
        json!({"token": token, "name": req.name, "role": role.as_str(), "expires_at": expires_at}),
    )
    .into_response())
}

/// Who the token belongs to and its role (the UI hides what the role may not do).
async fn me(ext: axum::http::Extensions) -> ApiResult {
    let c = caller(&ext);
    Ok(axum::Json(json!({"name": c.name, "role": c.role.as_str()})).into_response())
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
pub const MAX_BODY: usize = 4 << 20;

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

async fn openapi() -> ApiResult {
    Ok(axum::Json(crate::openapi::document()).into_response())
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
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/agent/register", post(register))
        .route("/api/v1/agent/heartbeat", post(heartbeat))
        .route("/api/v1/agent/desired", get(desired))
        .route("/api/v1/agent/report", post(report))
        .route("/api/v1/configs", get(list_configs).post(create_config))
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
