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
    /// Whether this instance trades, waits to or has handed over ([`Lease`]).
    #[serde(default)]
    pub lease: Lease,
    /// The build this instance runs.
    pub build: crate::fleet::Build,
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
    /// The instance's trading lease (absent from bots of builds before it).
    #[serde(default)]
    pub lease: Option<Lease>,
    /// The build the instance runs (absent from bots of builds before it).
    #[serde(default)]
    pub build: Option<crate::fleet::Build>,
}

/// An instance's part in a warm handover. Two instances of one bot share its state directory;
/// only the one holding the trading lease there (an exclusive `flock` on `trading.lease`, let
/// go by the kernel when its process ends) takes decisions.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Loading: no market yet.
    #[default]
    Starting,
    /// Market loaded, feed connected, `/health` served; waiting for the lease, deciding nothing.
    Standby,
    /// Holds the lease and takes decisions.
    Trading,
    /// Handing over: takes no new decision, settles its orders in flight, persists its state.
    Draining,
    /// Handed over: the lease is let go; it decides nothing until asked to take over again.
    Released,
}

impl Role {
    /// `starting`, `standby`, `trading`, `draining` or `released`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Standby => "standby",
            Self::Trading => "trading",
            Self::Draining => "draining",
            Self::Released => "released",
        }
    }
}

/// The trading lease as an instance sees it; times are the node's `CLOCK_MONOTONIC` in ns (one
/// clock for every process of the node, so two instances' times compare), 0 when not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Lease {
    /// Its part.
    pub role: Role,
    /// When it last took the lease.
    pub taken_ns: u64,
    /// When it last let the lease go.
    pub released_ns: u64,
    /// The first update it decided on since it last took the lease.
    pub first_decision_ns: u64,
    /// The last update it decided on while it held the lease.
    pub last_decision_ns: u64,
    /// Updates it decided on while it held the lease (this process's total).
    pub decided: u64,
}

/// The answer to `POST /handover`: the lease let go after the instance's orders in flight were
/// settled and its state persisted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandedOver {
    /// The lease as it was let go.
    pub lease: Lease,
    /// From the request to the lease let go (closing, settling, persisting), ns.
    pub drain_ns: u64,
}

/// `GET /health` (HTTP 200 when healthy, else 503).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether everything is alive and fresh.
    pub healthy: bool,
    /// What is wrong, when anything is.
    pub reasons: Vec<String>,
    /// The instance's part in a handover (absent from bots of builds before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub role: Option<Role>,
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
