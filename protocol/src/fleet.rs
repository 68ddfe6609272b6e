//! The node agents' protocol with the gateway: register, heartbeat, the blocking desired-state
//! query, and the reports with their limits (the gateway refuses a report past them; the agent
//! builds within them: a bot whose status or counters would pass them is reported without
//! them, with the reason).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{BotId, NodeId};
#[cfg(doc)]
use crate::wire::BotMetrics;
use crate::wire::BotStatus;

/// Most bots one report may carry.
pub const REPORT_BOTS_MAX: usize = 1_024;
/// Largest `status` or `metrics` object of one bot in a report (bytes of JSON).
pub const REPORT_OBJECT_MAX: usize = 64 * 1024;
/// Largest request body the gateway reads (a report included), bytes.
pub const BODY_MAX: usize = 4 << 20;
/// Deepest nesting of JSON values a report may carry (the gateway's parser stops at 128 levels
/// of the whole body; a bot's values sit a few levels down).
pub const REPORT_DEPTH_MAX: usize = 32;
/// Most log lines of one bot in one report.
pub const LOG_LINES_PER_REPORT: usize = 1_000;
/// Longest log line a report may carry, bytes (the agent cuts longer ones at a character
/// boundary).
pub const LOG_LINE_MAX: usize = 8 * 1024;
/// Longest wait a desired-state query may ask for, ms.
pub const DESIRED_WAIT_MAX_MS: u64 = 60_000;

/// `POST /api/v1/agent/register`: what an agent says about its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeInfo {
    /// Node id.
    pub node_id: NodeId,
    /// Host name.
    pub hostname: String,
    /// CPU cores.
    pub cores: u32,
    /// Cores isolated for bots (from `/sys/devices/system/cpu/isolated`).
    #[serde(default)]
    pub isolated_cores: Vec<u32>,
    /// Memory, MiB.
    pub memory_mb: u64,
    /// Supervisor backend: systemd, nomad or process.
    pub backend: String,
}

/// `POST /api/v1/agent/heartbeat`: the node that is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRef {
    /// Node id.
    pub node_id: NodeId,
}

/// The answer to a register or a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAck {
    /// Node id.
    pub node_id: NodeId,
    /// The gateway's desired-state index now.
    pub desired_index: i64,
}

/// `GET /api/v1/agent/desired?node_id=&index=&wait_ms=`: answers at once when the gateway's
/// index is past `index`, else when it moves or after `wait_ms` (at most
/// [`DESIRED_WAIT_MAX_MS`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredQuery {
    /// Node id.
    pub node_id: String,
    /// The index the agent holds.
    #[serde(default)]
    pub index: i64,
    /// How long to wait for a change, ms.
    #[serde(default)]
    pub wait_ms: u64,
}

/// What the gateway wants of a bot.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    /// Trading (or observing).
    Running,
    /// Alive, not trading.
    Paused,
    /// Not running.
    Stopped,
}

impl DesiredState {
    /// Every state, in the order the API lists them.
    pub const ALL: [DesiredState; 3] = [Self::Running, Self::Paused, Self::Stopped];

    /// The state's name (`running`, `paused`, `stopped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        }
    }

    /// Whether the node runs a process for the bot in this state.
    pub fn has_process(self) -> bool {
        matches!(self, Self::Running | Self::Paused)
    }

    /// The state `action` leads to from this one, or why it cannot apply. `restart` applies
    /// from any state and leads to `running` (with one restart).
    ///
    /// ```
    /// use sniperforge_protocol::fleet::{BotAction, DesiredState};
    /// assert_eq!(DesiredState::Running.after(BotAction::Pause), Ok(DesiredState::Paused));
    /// let refused = DesiredState::Stopped.after(BotAction::Pause).unwrap_err();
    /// assert_eq!(refused.to_string(), "cannot pause a bot whose desired state is stopped");
    /// ```
    pub fn after(self, action: BotAction) -> Result<DesiredState, IllegalAction> {
        use BotAction::*;
        use DesiredState::*;
        match (action, self) {
            (Start, Stopped) | (Resume, Paused) | (Restart, _) => Ok(Running),
            (Stop, Running | Paused) => Ok(Stopped),
            (Pause, Running) => Ok(Paused),
            (action, from) => Err(IllegalAction { action, from }),
        }
    }
}

impl std::fmt::Display for DesiredState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DesiredState {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownName::new("desired state", s, "running, paused or stopped"))
    }
}

/// What an operator may ask of a bot (`POST /api/v1/bots/{id}/{action}`).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotAction {
    /// Stopped → running.
    Start,
    /// Running or paused → stopped.
    Stop,
    /// Running → paused.
    Pause,
    /// Paused → running.
    Resume,
    /// Any → running, restarted once.
    Restart,
}

impl BotAction {
    /// Every action (in the order the UI shows them).
    pub const ALL: [BotAction; 5] = [
        Self::Start,
        Self::Pause,
        Self::Resume,
        Self::Stop,
        Self::Restart,
    ];

    /// The action's name, as in its path.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Restart => "restart",
        }
    }
}

impl std::fmt::Display for BotAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BotAction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName::new("action", s, "start, stop, pause, resume or restart"))
    }
}

/// An action the bot's desired state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a bot whose desired state is {from}")]
pub struct IllegalAction {
    /// The action.
    pub action: BotAction,
    /// The state it was asked in.
    pub from: DesiredState,
}

/// A name that is none of those expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {given:?}; expected {expected}")]
pub struct UnknownName {
    /// What was named.
    pub what: &'static str,
    /// The name, cut to 64 characters.
    pub given: String,
    /// The names expected, in words.
    pub expected: &'static str,
}

impl UnknownName {
    fn new(what: &'static str, given: &str, expected: &'static str) -> Self {
        Self {
            what,
            given: given.chars().take(64).collect(),
            expected,
        }
    }
}

/// One bot the gateway wants on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredBot {
    /// Bot id.
    pub bot_id: String,
    /// Type name.
    pub bot_type: String,
    /// What the gateway wants of it.
    pub desired_state: DesiredState,
    /// Restart generation: a bump asks for one restart.
    #[serde(default)]
    pub restarts: i64,
    /// Latest configuration version.
    pub config_version: i64,
    /// That version's body.
    pub config: Option<Value>,
}

/// A node's desired state at an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// Node id.
    pub node_id: NodeId,
    /// The gateway's desired-state index.
    pub index: i64,
    /// The node's bots.
    pub bots: Vec<DesiredBot>,
}

/// A bot as its node sees it: the lifecycle state, why, and where it runs. The gateway keeps
/// it as the bot's status; fields it does not name are ignored.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeBotStatus {
    /// `starting`, `running`, `paused`, `stopping`, `stopped` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub state: Option<String>,
    /// Why, for `error` and some `starting` and `stopped` states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub reason: Option<String>,
    /// The node's supervisor backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub backend: Option<String>,
    /// The configuration version the node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub config_version: Option<i64>,
    /// The bot's control port on the node's loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub control_port: Option<u16>,
    /// Process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub pid: Option<u32>,
    /// Restarts by the supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub restarts: Option<u32>,
    /// What the bot publishes (the dashboard's market view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "Record<string, unknown>"))]
    pub outputs: Option<Value>,
}

impl NodeBotStatus {
    /// Control characters in the state and the reason as U+FFFD: what a bot says is stored and
    /// shown, and a NUL is refused by PostgreSQL while escape codes mislead terminals.
    pub fn replace_control_chars(&mut self) {
        for text in [&mut self.state, &mut self.reason].into_iter().flatten() {
            if text.chars().any(char::is_control) {
                *text = text
                    .chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c })
                    .collect();
            }
        }
    }

    /// A state with an optional reason.
    pub fn state(state: &str, reason: Option<String>) -> Self {
        Self {
            state: Some(state.to_string()),
            reason,
            ..Self::default()
        }
    }
}

impl From<&BotStatus> for NodeBotStatus {
    fn from(s: &BotStatus) -> Self {
        let reason = match s {
            BotStatus::Error(reason) => Some(reason.clone()),
            _ => None,
        };
        Self::state(s.name(), reason)
    }
}

/// One bot in a report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotReport {
    /// Bot id.
    pub bot_id: BotId,
    /// Its status as the node sees it.
    pub status: NodeBotStatus,
    /// Its counters (a [`BotMetrics`] object as the bot wrote it, so an older or newer bot's
    /// counters pass through), `null` when it did not answer.
    #[serde(default)]
    pub metrics: Value,
    /// Stage → interval histogram (HdrHistogram V2, base64), as the bot's `/hdr` gives it.
    #[serde(default)]
    pub hdr: BTreeMap<String, String>,
    /// Log lines written since the last report, oldest first.
    #[serde(default)]
    pub logs: Vec<String>,
}

impl BotReport {
    /// A bot with a status and nothing else (no counters, histograms or logs).
    pub fn of(bot_id: BotId, status: NodeBotStatus) -> Self {
        Self {
            bot_id,
            status,
            metrics: Value::Null,
            hdr: BTreeMap::new(),
            logs: Vec::new(),
        }
    }
}

/// `POST /api/v1/agent/report`: every bot of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Node id.
    pub node_id: NodeId,
    /// Its bots, each once.
    pub bots: Vec<BotReport>,
}

/// The answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// Bots taken.
    pub accepted: usize,
    /// Bots left out because the gateway does not know them.
    pub unknown: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_move_desired_states_as_the_lifecycle_allows() {
        use BotAction::*;
        use DesiredState::*;
        let table = [
            (Stopped, Start, Some(Running)),
            (Running, Start, None),
            (Paused, Resume, Some(Running)),
            (Running, Resume, None),
            (Running, Pause, Some(Paused)),
            (Paused, Pause, None),
            (Running, Stop, Some(Stopped)),
            (Paused, Stop, Some(Stopped)),
            (Stopped, Stop, None),
            (Stopped, Restart, Some(Running)),
            (Paused, Restart, Some(Running)),
        ];
        for (from, action, to) in table {
            assert_eq!(from.after(action).ok(), to, "{from} + {action}");
        }
        assert_eq!(
            Running.after(Start).unwrap_err().to_string(),
            "cannot start a bot whose desired state is running"
        );
        for d in DesiredState::ALL {
            assert_eq!(d.as_str().parse::<DesiredState>(), Ok(d));
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
        }
        for a in BotAction::ALL {
            assert_eq!(a.as_str().parse::<BotAction>(), Ok(a));
        }
        let e = "x".repeat(1000).parse::<BotAction>().unwrap_err();
        assert!(e.to_string().len() < 200, "{e}");
    }

    #[test]
    fn a_status_reads_what_it_names_and_writes_only_what_is_set() {
        let v = serde_json::json!({"state": "running", "pid": 7, "lag_ms": 3});
        let s: NodeBotStatus = serde_json::from_value(v).unwrap();
        assert_eq!(s.state.as_deref(), Some("running"));
        assert_eq!(s.pid, Some(7));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"state": "running", "pid": 7})
        );
        let mut dirty = NodeBotStatus::state("error", Some("rpc\u{0}dead\u{1b}".into()));
        dirty.replace_control_chars();
        assert_eq!(dirty.reason.as_deref(), Some("rpc\u{fffd}dead\u{fffd}"));
        let e = NodeBotStatus::from(&BotStatus::Error("rpc dead".into()));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"state": "error", "reason": "rpc dead"})
        );
    }
}
