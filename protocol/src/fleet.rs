//! The node agents' protocol with the gateway: register, heartbeat, the blocking desired-state
//! query, and the reports with their limits (the gateway refuses a report past them; the agent
//! builds within them: a bot whose status or counters would pass them is reported without
//! them, with the reason).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[cfg(doc)]
use crate::wire::BotMetrics;
use crate::wire::BotStatus;

/// Most bots one report may carry.
pub const REPORT_BOTS_MAX: usize = 1_024;
/// Largest `status` or `metrics` object of one bot in a report (bytes of JSON).
pub const REPORT_OBJECT_MAX: usize = 64 * 1024;
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
    pub node_id: String,
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
    pub node_id: String,
}

/// The answer to a register or a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAck {
    /// Node id.
    pub node_id: String,
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

/// One bot the gateway wants on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredBot {
    /// Bot id.
    pub bot_id: String,
    /// Type name.
    pub bot_type: String,
    /// `running`, `paused` or `stopped`.
    pub desired_state: String,
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
    /// Node id (absent from gateways before the protocol crate).
    #[serde(default)]
    pub node_id: String,
    /// The gateway's desired-state index.
    pub index: i64,
    /// The node's bots.
    pub bots: Vec<DesiredBot>,
}

/// A bot as its node sees it: the lifecycle state, why, and where it runs. The gateway keeps
/// it as the bot's status; fields it does not name are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NodeBotStatus {
    /// `starting`, `running`, `paused`, `stopping`, `stopped` or `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why, for `error` and some `starting` and `stopped` states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node's supervisor backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// The configuration version the node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<i64>,
    /// The bot's control port on the node's loopback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_port: Option<u16>,
    /// Process id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Restarts by the supervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u32>,
    /// What the bot publishes (the dashboard's market view).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}

impl NodeBotStatus {
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
    pub bot_id: String,
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
    pub fn of(bot_id: String, status: NodeBotStatus) -> Self {
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
    pub node_id: String,
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
    fn a_status_reads_what_it_names_and_writes_only_what_is_set() {
        let v = serde_json::json!({"state": "running", "pid": 7, "lag_ms": 3});
        let s: NodeBotStatus = serde_json::from_value(v).unwrap();
        assert_eq!(s.state.as_deref(), Some("running"));
        assert_eq!(s.pid, Some(7));
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"state": "running", "pid": 7})
        );
        let e = NodeBotStatus::from(&BotStatus::Error("rpc dead".into()));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"state": "error", "reason": "rpc dead"})
        );
    }
}
