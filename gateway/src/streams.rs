//! `GET /api/v1/ws/metrics`: a WebSocket on which a client subscribes to topics (`fleet`,
//! `bot:<bot_id>`, `node:<node_id>`, `rollouts`) and receives each topic's metrics (for
//! `rollouts`, the latest rollouts and their steps) at once and then every second. `GET /api/v1/ws/logs`: the same topics, and each log line agents report for a
//! subscribed bot or node (or any, for `fleet`) as `{"bot_id", "node_id", "at", "line"}`; a
//! client too slow to keep up gets `{"error": {"code": "lagged", …}}` with the count it missed.
//!
//! Client → server: `{"subscribe": ["fleet", "bot:b1"]}`, `{"unsubscribe": ["bot:b1"]}`.
//! Server → client: `{"topic", "at" (ms), "data"}` per topic per second, or
//! `{"error": {"code", "message"}}` for a bad message (the socket stays open).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::api::bodies::{
    BotData, FleetBotRow, FleetData, LogMessage, MetricsMessage, NodeData, StreamCommand,
    StreamError, StreamErrorBody, TopicData, TopicMessage,
};
use crate::api::{AppState, merged};
use crate::store::BotRow;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

/// Most topics one connection may hold.
pub const MAX_TOPICS: usize = 64;

/// Largest client message accepted (bytes).
const MAX_MESSAGE: usize = 16 * 1024;

/// A parsed topic.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Topic {
    Fleet,
    Rollouts,
    Bot(String),
    Node(String),
}

impl Topic {
    fn parse(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            None if s == "fleet" => Ok(Self::Fleet),
            None if s == "rollouts" => Ok(Self::Rollouts),
            Some(("bot", id)) if !id.is_empty() => Ok(Self::Bot(id.to_string())),
            Some(("node", id)) if !id.is_empty() => Ok(Self::Node(id.to_string())),
            _ => Err(format!(
                "topic {s:?}: expected \"fleet\", \"rollouts\", \"bot:<bot_id>\" or \"node:<node_id>\""
            )),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Fleet => "fleet".into(),
            Self::Rollouts => "rollouts".into(),
            Self::Bot(id) => format!("bot:{id}"),
            Self::Node(id) => format!("node:{id}"),
        }
    }
}

/// The metrics of one topic now, or why there are none (`bots`: the store's bots, read once per
/// push for every topic).
async fn metrics(
    state: &AppState,
    topic: &Topic,
    bots: &[BotRow],
    envs: &crate::store::EnvFilter,
) -> Result<TopicData, String> {
    // A scoped stream's nodes: those serving one of its environments.
    let node_seen =
        |n: &crate::store::NodeRow| envs.list().is_none_or(|l| l.iter().any(|e| n.serves(*e)));
    match topic {
        Topic::Rollouts => {
            let mut rollouts = state.store.rollouts().await.map_err(|e| e.to_string())?;
            if let Some(l) = envs.list() {
                rollouts.retain(|r| {
                    r.scope
                        .strip_prefix("env:")
                        .and_then(|e| e.parse().ok())
                        .is_some_and(|e| l.contains(&e))
                });
            }
            Ok(TopicData::Rollouts(crate::api::RolloutList { rollouts }))
        }
        Topic::Fleet => {
            let reports = state.store.bot_reports().await.map_err(|e| e.to_string())?;
            // One row per bot for the fleet table: what it is, what it reported, its latency.
            let bot_rows: Vec<FleetBotRow> = bots
                .iter()
                .map(|b| {
                    let r = reports.get(&b.bot_id);
                    let m = r.map(|r| &r.metrics);
                    FleetBotRow {
                        bot_id: b.bot_id.clone(),
                        bot_type: b.bot_type.clone(),
                        environment: b.environment,
                        cores: b.cores.clone(),
                        pending: b.pending.as_deref().map(|p| {
                            if envs.list().is_some() {
                                crate::placement::hide_holders(p)
                            } else {
                                p.to_string()
                            }
                        }),
                        replica_of: b.replica_of.clone(),
                        node_id: b.node_id.clone(),
                        desired_state: b.desired_state,
                        config_version: b.config_version,
                        status: r.map(|r| r.status.clone()),
                        reported_at: r.map(|r| r.reported_at),
                        trades_executed: m.and_then(|m| m["trades_executed"].as_u64()),
                        profit_usd: m.and_then(|m| m["profit_usd"].as_f64()),
                        latency_ns: merged(state, std::slice::from_ref(b), |_| true),
                    }
                })
                .collect();
            Ok(TopicData::Fleet(FleetData {
                bots: bots.len(),
                running: bots
                    .iter()
                    .filter(|b| {
                        b.desired_state == sniperforge_protocol::fleet::DesiredState::Running
                    })
                    .count(),
                nodes: state
                    .store
                    .nodes()
                    .await
                    .map_err(|e| e.to_string())?
                    .iter()
                    .filter(|n| node_seen(n))
                    .count(),
                latency_ns: merged(state, bots, |_| true),
                bot_rows,
            }))
        }
        Topic::Node(id) => {
            let nodes = state.store.nodes().await.map_err(|e| e.to_string())?;
            let node = nodes
                .into_iter()
                .find(|n| n.node_id == *id && node_seen(n))
                .ok_or_else(|| format!("no node {id}"))?;
            Ok(TopicData::Node(NodeData {
                node,
                bots: bots.iter().filter(|b| &b.node_id == id).count(),
                latency_ns: merged(state, bots, |b| &b.node_id == id),
            }))
        }
        Topic::Bot(id) => {
            let bot = bots
                .iter()
                .find(|b| &b.bot_id == id)
                .ok_or_else(|| format!("no bot {id}"))?;
            let reported = state
                .store
                .bot_report(id)
                .await
                .map_err(|e| e.to_string())?;
            Ok(TopicData::Bot(BotData {
                desired_state: bot.desired_state,
                reported,
                latency_ns: merged(state, bots, |b| &b.bot_id == id),
            }))
        }
    }
}

/// How often a stream checks that its token still holds (not revoked, not expired, same role).
pub const REAUTH_EVERY: Duration = Duration::from_secs(1);

/// Who opened a stream: the token to check again, the role it had and the environments it
/// reaches.
struct Holder {
    token: crate::api::Presented,
    role: crate::store::Role,
    envs: crate::store::EnvFilter,
}

impl Holder {
    fn of(ext: &axum::http::Extensions) -> Self {
        Self {
            token: ext
                .get::<crate::api::Presented>()
                .cloned()
                .unwrap_or(crate::api::Presented(String::new())),
            role: crate::api::caller_role(ext),
            envs: crate::api::caller_envs(ext),
        }
    }

    /// Closes the stream, saying why, when its token no longer holds; `false` then.
    async fn holds(&self, state: &AppState, socket: &mut WebSocket) -> bool {
        if crate::api::still_valid(state, &self.token, self.role).await {
            return true;
        }
        let _ = socket
            .send(error(
                "unauthenticated",
                "the token of this stream was revoked, expired or changed role",
            ))
            .await;
        let _ = socket
            .send(Message::Close(Some(axum::extract::ws::CloseFrame {
                code: 1008,
                reason: "token no longer valid".into(),
            })))
            .await;
        false
    }
}

/// The upgrade handler (behind the viewer role like every GET).
pub async fn ws_metrics(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, &ext, ws, run)
}

/// Upgrades to a stream that holds one of the [`crate::api::STREAMS_MAX`] places (503 when
/// none is left) and checks its token while it runs.
fn upgrade<F, Fut>(
    state: Arc<AppState>,
    ext: &axum::http::Extensions,
    ws: WebSocketUpgrade,
    stream: F,
) -> Response
where
    F: FnOnce(Arc<AppState>, WebSocket, Holder) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let holder = Holder::of(ext);
    let Some(slot) = Arc::clone(&state.streams).try_acquire_owned().ok() else {
        return busy();
    };
    ws.max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            stream(state, socket, holder).await;
        })
}

fn busy() -> Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        [(axum::http::header::RETRY_AFTER, "5")],
        axum::Json(serde_json::json!({"error": {"code": "busy", "message": format!("{} streams are open already; retry later", crate::api::STREAMS_MAX), "details": null}})),
    )
        .into_response()
}

fn error(code: &str, message: &str) -> Message {
    let e = StreamError {
        error: StreamErrorBody {
            code: code.to_string(),
            message: message.to_string(),
        },
    };
    text(&MetricsMessage::Error(e))
}

/// A message as a text frame.
fn text(message: &impl serde::Serialize) -> Message {
    Message::Text(serde_json::to_string(message).unwrap_or_default().into())
}

/// Applies one client message to `topics`; answers the topics newly subscribed.
fn apply(text: &str, topics: &mut BTreeSet<Topic>) -> Result<Vec<Topic>, Message> {
    let cmd: StreamCommand =
        serde_json::from_str(text).map_err(|e| error("bad_message", &format!("message: {e}")))?;
    let parse = |list: &[String]| -> Result<Vec<Topic>, Message> {
        list.iter()
            .map(|t| Topic::parse(t).map_err(|e| error("bad_topic", &e)))
            .collect()
    };
    let (add, remove) = (parse(&cmd.subscribe)?, parse(&cmd.unsubscribe)?);
    for t in &remove {
        topics.remove(t);
    }
    let new: Vec<Topic> = add.into_iter().filter(|t| !topics.contains(t)).collect();
    if topics.len() + new.len() > MAX_TOPICS {
        return Err(error(
            "too_many_topics",
            &format!("at most {MAX_TOPICS} topics per connection"),
        ));
    }
    topics.extend(new.iter().cloned());
    Ok(new)
}

/// Sends the metrics of `topics`; false when the client has gone.
async fn push(
    state: &AppState,
    socket: &mut WebSocket,
    topics: &[Topic],
    envs: &crate::store::EnvFilter,
) -> bool {
    if topics.is_empty() {
        return true;
    }
    let bots = match state.store.bots_in(envs).await {
        Ok(b) => b,
        Err(e) => return socket.send(error("store", &e.to_string())).await.is_ok(),
    };
    for topic in topics {
        let msg = match metrics(state, topic, &bots, envs).await {
            Ok(data) => text(&MetricsMessage::Topic(Box::new(TopicMessage {
                topic: topic.name(),
                at: state.store.now_ms(),
                data,
            }))),
            Err(e) => error("topic_unavailable", &format!("{}: {e}", topic.name())),
        };
        if socket.send(msg).await.is_err() {
            return false;
        }
    }
    true
}

/// What a client's message did.
enum Inbound {
    /// The client has gone.
    Closed,
    /// Ping/pong (answered by the library).
    Ignored,
    /// A subscription change: the topics newly subscribed, or the error to send back.
    Applied(Result<Vec<Topic>, Message>),
}

fn client_message(
    msg: Option<Result<Message, axum::Error>>,
    topics: &mut BTreeSet<Topic>,
) -> Inbound {
    match msg {
        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => Inbound::Closed,
        Some(Ok(Message::Text(text))) => Inbound::Applied(apply(text.as_str(), topics)),
        Some(Ok(Message::Binary(_))) => {
            Inbound::Applied(Err(error("bad_message", "send JSON text messages")))
        }
        Some(Ok(_)) => Inbound::Ignored,
    }
}

async fn run(state: Arc<AppState>, mut socket: WebSocket, holder: Holder) {
    let mut topics: BTreeSet<Topic> = BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(REAUTH_EVERY));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !holder.holds(&state, &mut socket).await {
                    return;
                }
                let all: Vec<Topic> = topics.iter().cloned().collect();
                if !push(&state, &mut socket, &all, &holder.envs).await {
                    return;
                }
            }
            msg = socket.recv() => {
                let reply = match client_message(msg, &mut topics) {
                    Inbound::Closed => return,
                    Inbound::Ignored => continue,
                    Inbound::Applied(reply) => reply,
                };
                let ok = match reply {
                    Ok(new) => push(&state, &mut socket, &new, &holder.envs).await,
                    Err(e) => socket.send(e).await.is_ok(),
                };
                if !ok {
                    return;
                }
            }
        }
    }
}

/// `GET /api/v1/ws/logs`: live log lines of the subscribed topics.
pub async fn ws_logs(
    State(state): State<Arc<AppState>>,
    ext: axum::http::Extensions,
    ws: WebSocketUpgrade,
) -> Response {
    upgrade(state, &ext, ws, run_logs)
}

fn wants(
    topics: &BTreeSet<Topic>,
    line: &crate::api::LogLine,
    envs: &crate::store::EnvFilter,
    bots: &crate::api::BotTypes,
) -> bool {
    // A scoped stream: only lines of bots of its environments (a bot it cannot place, none).
    if envs.list().is_some()
        && !bots
            .get(&line.bot_id)
            .is_some_and(|(_, env)| envs.allows(*env))
    {
        return false;
    }
    topics.iter().any(|t| match t {
        Topic::Fleet => true,
        Topic::Bot(id) => *id == line.bot_id,
        Topic::Node(id) => *id == line.node_id,
        // No log lines of its own.
        Topic::Rollouts => false,
    })
}

async fn run_logs(state: Arc<AppState>, mut socket: WebSocket, holder: Holder) {
    let mut topics: BTreeSet<Topic> = BTreeSet::new();
    let mut lines = state.log_lines.subscribe();
    let mut reauth = tokio::time::interval(REAUTH_EVERY);
    reauth.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = reauth.tick() => {
                if !holder.holds(&state, &mut socket).await {
                    return;
                }
            }
            line = lines.recv() => {
                let msg = match line {
                    Ok(line) if wants(
                        &topics,
                        &line,
                        &holder.envs,
                        &state.bot_types().await.unwrap_or_default(),
                    ) => text(&LogMessage::Line(line)),
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        error("lagged", &format!("{n} log lines were dropped: this client read too slowly"))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                if socket.send(msg).await.is_err() {
                    return;
                }
            }
            msg = socket.recv() => {
                let reply = match client_message(msg, &mut topics) {
                    Inbound::Closed => return,
                    Inbound::Ignored => continue,
                    Inbound::Applied(reply) => reply,
                };
                if let Err(e) = reply
                    && socket.send(e).await.is_err()
                {
                    return;
                }
            }
        }
    }
}
