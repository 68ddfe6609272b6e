//! The bodies of a bot's control endpoint, as the bot writes them and the agent and tools read
//! them: `GET /status`, `GET /health` and `GET /hdr`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wire::{BotConfig, BotMetrics, BotStatus, BotType};

/// The stages the bot runtime stamps, in order: account decoded, opportunity detected, order
/// decided (latency from ingress, ns).
pub const STAGES: [&str; 3] = ["decoded", "detected", "decided"];

/// Every stage a bot's `/hdr` and a node's report may carry: the runtime's, then the
/// executor's (`executed`: the order sent or paper-filled).
pub const REPORT_STAGES: [&str; 4] = ["decoded", "detected", "decided", "executed"];

/// `GET /status`: who the bot is, its state and numbers, the configuration it runs and what it
/// publishes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusBody {
    /// Bot id.
    pub bot_id: String,
    /// Type.
    pub bot_type: BotType,
    /// Lifecycle state (`{"state": …, "reason": …}`).
    pub status: BotStatus,
    /// Process id.
    pub pid: u32,
    /// Seconds since the bot started.
    pub uptime_seconds: u64,
    /// Counters and latency percentiles.
    pub metrics: BotMetrics,
    /// The configuration last accepted.
    pub config: BotConfig,
    /// What the bot publishes for others (the dashboard's market view); `null` when nothing.
    #[serde(default)]
    pub outputs: Value,
}

/// What a supervisor reads of `GET /status`: the same body, leniently (the configuration is
/// not read, the counters are kept as the bot wrote them), so an agent reads bots of an older
/// or newer build alike.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusSummary {
    /// Lifecycle state (`{"state": …, "reason": …}`).
    pub status: crate::fleet::NodeBotStatus,
    /// Process id.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Seconds since the bot started.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Counters and latency percentiles ([`BotMetrics`] as the bot wrote them).
    #[serde(default)]
    pub metrics: Value,
    /// What the bot publishes; `null` when nothing.
    #[serde(default)]
    pub outputs: Value,
}

/// `GET /health` (HTTP 200 when healthy, else 503).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether everything is alive and fresh.
    pub healthy: bool,
    /// What is wrong, when anything is.
    pub reasons: Vec<String>,
    /// How the runtime runs (layout, cores, spin or park) and what it could not honour (a
    /// configured core the machine lacks, fewer cores than threads): worth knowing, not a fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(test, ts(as = "Option<Vec<String>>", optional))]
    pub details: Vec<String>,
}

/// The format [`HdrBody`] names.
pub const HDR_FORMAT: &str = "HdrHistogram V2, base64";
/// The unit [`HdrBody`] names.
pub const HDR_UNIT: &str = "ns from ingress";

/// `GET /hdr`: each stage's histogram since the previous call (the call resets them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HdrBody {
    /// [`HDR_FORMAT`].
    pub format: String,
    /// [`HDR_UNIT`].
    pub unit: String,
    /// Stage name (one of [`REPORT_STAGES`]) → HdrHistogram V2 bytes, base64.
    pub stages: BTreeMap<String, String>,
}

/// The answer to `PUT /config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConfigApplied {
    /// Fields that took effect at once.
    pub applied_hot: Vec<String>,
    /// Changed fields that take effect only after a restart.
    pub restart_required: Vec<String>,
}
