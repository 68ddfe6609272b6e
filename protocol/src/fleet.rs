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
/// Longest host name a node may register, characters.
pub const HOSTNAME_MAX: usize = 255;
/// Most memory a node may register, MiB (2^40: an exbibyte).
pub const MEMORY_MB_MAX: u64 = 1 << 40;

/// `POST /api/v1/agent/register`: what an agent says about its node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeInfo {
    /// Node id.
    pub node_id: NodeId,
    /// Host name (at most [`HOSTNAME_MAX`] characters, no control, bidi or zero-width ones).
    #[cfg_attr(
        feature = "schema",
        schemars(
            length(max = 255),
            pattern(
                r"^[^\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
            )
        )
    )]
    pub hostname: String,
    /// CPU cores.
    pub cores: u32,
    /// Cores isolated for bots (from `/sys/devices/system/cpu/isolated`): at most
    /// [`MAX_CPU`](crate::cpus::MAX_CPU) of them, each below it.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(length(max = 1024), inner(range(max = 1023)))
    )]
    pub isolated_cores: Vec<u32>,
    /// Memory, MiB (at most [`MEMORY_MB_MAX`]).
    #[cfg_attr(feature = "schema", schemars(range(max = 1_099_511_627_776_u64)))]
    pub memory_mb: u64,
    /// Supervisor backend: systemd, nomad or process.
    #[cfg_attr(feature = "schema", schemars(extend("enum" = ["systemd", "nomad", "process"])))]
    pub backend: String,
    /// The environments the agent serves (`--environments`): the gateway places and sends
    /// it only bots of these (absent: all, as agents before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 3), extend("uniqueItems" = true))
    )]
    pub environments: Option<Vec<crate::Environment>>,
    /// Labels placement constraints match (`--labels region=ny,rack=3`): at most
    /// [`LABELS_MAX`], keys and values 1 to 64 of letters, digits, `.`, `_`, `-`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(
        feature = "schema",
        schemars(
            extend("maxProperties" = 32),
            extend("propertyNames" = {"pattern": "^[A-Za-z0-9_.-]{1,64}$"}),
            extend("additionalProperties" = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"})
        )
    )]
    pub labels: BTreeMap<String, String>,
    /// Whether the agent fences the bots that fail over (renews their lease; it stops them
    /// when it lapses): only such a node's bots are failed over (absent: an agent before it).
    #[serde(default)]
    pub fences: bool,
    /// How long the node may be silent before the gateway counts it lost and fails its bots
    /// over, s ([`FAILOVER_AFTER_S`]; `agent --failover-after-s`; absent: the gateway's
    /// `--failover-after-s`). Its agents' fencing lease is half of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 4, max = 3600)))]
    pub failover_after_s: Option<u32>,
    /// The build the agent runs (absent from agents before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<Build>,
    /// The build installed where the agent starts bots from (`--exe`): what a new instance
    /// runs, and what an agent that upgrades itself becomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<Build>,
}

/// The failover windows a node may ask for, s (`NodeInfo::failover_after_s`).
pub const FAILOVER_AFTER_S: std::ops::RangeInclusive<u32> = 4..=3600;

/// Longest build version, characters.
pub const BUILD_VERSION_MAX: usize = 64;
/// Longest build id, characters.
pub const BUILD_ID_MAX: usize = 128;

/// A build of SniperForge: the workspace version and the executable's build id (the GNU build
/// id its linker wrote, hex; `file-<size>-<mtime>` for a file without one).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Build {
    /// Version, e.g. `0.1.0` (letters, digits, `.`, `+`, `-`).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 64), pattern(r"^[0-9A-Za-z.+-]+$"))
    )]
    pub version: String,
    /// Build id (lowercase letters, digits, `-`).
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 1, max = 128), pattern(r"^[0-9a-z-]+$"))
    )]
    pub build_id: String,
}

impl Build {
    /// Whether the version and id are within their lengths and characters.
    pub fn valid(&self) -> bool {
        let version_ok = !self.version.is_empty()
            && self.version.len() <= BUILD_VERSION_MAX
            && self
                .version
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
        let id_ok = !self.build_id.is_empty()
            && self.build_id.len() <= BUILD_ID_MAX
            && self
                .build_id
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || c == '-');
        version_ok && id_ok
    }
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short: String = self.build_id.chars().take(12).collect();
        write!(f, "{} ({short})", self.version)
    }
}

/// A field of a message outside its limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct InvalidField {
    /// The field.
    pub field: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// The supervisor backends an agent may name.
pub const BACKENDS: [&str; 3] = ["systemd", "nomad", "process"];

/// Control characters, and the invisible ones that reorder or hide text in a UI (bidi
/// overrides, zero-width characters, line separators, the BOM).
pub fn hidden_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

impl NodeInfo {
    /// Checks what the types do not: the host name's length and characters, the backend's
    /// name, the isolated cores' count and range.
    pub fn check(&self) -> Result<(), InvalidField> {
        let bad = |field, why: String| Err(InvalidField { field, why });
        if self.hostname.chars().count() > HOSTNAME_MAX || self.hostname.chars().any(hidden_char) {
            return bad(
                "hostname",
                format!(
                    "at most {HOSTNAME_MAX} characters, none of them control, bidi or zero-width"
                ),
            );
        }
        if self.memory_mb > MEMORY_MB_MAX {
            return bad("memory_mb", format!("at most {MEMORY_MB_MAX} MiB"));
        }
        if !BACKENDS.contains(&self.backend.as_str()) {
            return bad(
                "backend",
                format!("expected one of {}", BACKENDS.join(", ")),
            );
        }
        let max = crate::cpus::MAX_CPU;
        if self.isolated_cores.len() > max || self.isolated_cores.iter().any(|&c| c as usize >= max)
        {
            return bad(
                "isolated_cores",
                format!("at most {max} cores, each below {max}"),
            );
        }
        if let Some(envs) = &self.environments {
            let mut sorted = envs.clone();
            sorted.sort();
            sorted.dedup();
            if envs.is_empty() || sorted.len() != envs.len() {
                return bad(
                    "environments",
                    "name each environment served once, at least one (leave it out for all)".into(),
                );
            }
        }
        if let Err(why) = check_labels(&self.labels) {
            return bad("labels", why);
        }
        if let Some(s) = self.failover_after_s
            && !FAILOVER_AFTER_S.contains(&s)
        {
            return bad(
                "failover_after_s",
                format!(
                    "{} to {} s (got {s})",
                    FAILOVER_AFTER_S.start(),
                    FAILOVER_AFTER_S.end()
                ),
            );
        }
        for (field, build) in [("agent", &self.agent), ("installed", &self.installed)] {
            if build.as_ref().is_some_and(|b| !b.valid()) {
                return bad(
                    field,
                    format!(
                        "version: 1 to {BUILD_VERSION_MAX} of letters, digits, '.', '+', '-'; build_id: 1 to {BUILD_ID_MAX} of lowercase letters, digits, '-'"
                    ),
                );
            }
        }
        Ok(())
    }
}

/// Most labels a node may carry.
pub const LABELS_MAX: usize = 32;

/// A label key or value: 1 to 64 of letters, digits, `.`, `_`, `-`.
pub fn valid_label(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a label map: at most [`LABELS_MAX`] labels, each key and value [`valid_label`].
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.len() > LABELS_MAX {
        return Err(format!("at most {LABELS_MAX} labels"));
    }
    match labels
        .iter()
        .find(|(k, v)| !valid_label(k) || !valid_label(v))
    {
        Some((k, _)) => Err(format!(
            "label {:?}: keys and values are 1 to 64 of letters, digits, '.', '_', '-'",
            k.chars().take(64).collect::<String>()
        )),
        None => Ok(()),
    }
}

/// Reads `region=ny,rack=3` as labels (`--labels`).
pub fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?}: expected key=value"))?;
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    check_labels(&out)?;
    Ok(out)
}

/// `POST /api/v1/agent/heartbeat`: the node that is alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NodeRef {
    /// Node id.
    pub node_id: NodeId,
}

/// The answer to a register or a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DesiredQuery {
    /// Node id.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^[A-Za-z0-9_.-]{1,64}$")))]
    pub node_id: String,
    /// The index the agent holds.
    #[serde(default)]
    pub index: i64,
    /// How long to wait for a change, ms (longer asks wait [`DESIRED_WAIT_MAX_MS`]).
    #[serde(default)]
    pub wait_ms: u64,
}

/// What the gateway wants of a bot.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DesiredBot {
    /// Bot id (checked as the answer is read).
    pub bot_id: BotId,
    /// Type name.
    pub bot_type: String,
    /// What the gateway wants of it.
    pub desired_state: DesiredState,
    /// Restart generation: a bump asks for one restart.
    #[serde(default)]
    pub restarts: i64,
    /// Latest configuration version.
    pub config_version: i64,
    /// That version's body (with the cores the gateway placed it on, for a bot that asked
    /// for some).
    pub config: Option<Value>,
    /// Whether the gateway moves it to another node when this one is lost: the agent then
    /// keeps its fencing lease renewed ([`Desired::fence_ms`]), and the bot stops when it
    /// lapses.
    #[serde(default)]
    pub failover: bool,
}

/// A node's desired state at an index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Desired {
    /// Node id.
    pub node_id: NodeId,
    /// The gateway's desired-state index.
    pub index: i64,
    /// The node's bots.
    pub bots: Vec<DesiredBot>,
    /// The build the node's agent is to run, while a rollout upgrades it: an agent on another
    /// build whose installed build (`--exe`) is this one executes it, keeping its bots running
    /// (the new agent adopts them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Build>,
    /// The fencing lease, ms (half the node's failover window): a bot that fails over stops
    /// once this long has passed since its agent sent the last report or heartbeat the gateway
    /// took, well before the gateway places it elsewhere.
    #[serde(default)]
    pub fence_ms: u64,
    /// Backtests queued for (or run by) the node, until their results are in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backtests: Vec<crate::backtests::BacktestJob>,
}

/// A bot as its node sees it: the lifecycle state, why, and where it runs. The gateway keeps
/// it as the bot's status; fields it does not name are ignored.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
    /// The bot's last warm handover on its node (absent before its first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub handover: Option<Handover>,
    /// Health checks (`/health`) failed in a row, when any have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub health_failures: Option<u32>,
    /// The build the bot's trading instance runs (absent from bots before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub build: Option<Build>,
    /// The restart generation its node has applied (each restart request bumps it; the agent
    /// takes it when it starts the restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub restart_generation: Option<i64>,
}

/// What called for a handover.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandoverTrigger {
    /// A configuration version with a cold change.
    Config,
    /// A restart request.
    Restart,
    /// Failed health checks (the agent's self-healing).
    Unhealthy,
}

/// How a warm handover ended.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HandoverOutcome {
    /// The new instance trades; the old one is stopped.
    Completed,
    /// The new instance was stopped; the old one trades on (the reason says why).
    RolledBack,
}

/// Longest cause or reason a [`Handover`] carries, characters.
pub const HANDOVER_TEXT_MAX: usize = 1_024;

/// A bot's warm handover: a new instance started beside the running one in standby (market
/// loaded, deciding nothing), the old one drained and its trading lease let go, the new one
/// trading, the old one stopped; or, when the new one is not healthy in time, stopped instead.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Handover {
    /// How it ended.
    pub outcome: HandoverOutcome,
    /// What called for it.
    pub trigger: HandoverTrigger,
    /// The same in words: which configuration fields, which restart generation, what the
    /// failed health checks said.
    #[cfg_attr(feature = "schema", schemars(length(max = 1024)))]
    pub cause: String,
    /// Why it was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    #[cfg_attr(feature = "schema", schemars(length(max = 1024)))]
    pub reason: Option<String>,
    /// When it ended (Unix ms).
    #[cfg_attr(test, ts(type = "number"))]
    pub at_ms: i64,
    /// From the old instance's last decision to the new one's first, ns (when both decided;
    /// negative would mean the two decided at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub gap_ns: Option<i64>,
    /// The old instance's drain (no new decision, orders in flight settled, state persisted,
    /// lease let go), ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional, type = "number"))]
    pub drain_ns: Option<u64>,
    /// The instance that trades after it (its pid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub pid: Option<u32>,
}

impl NodeBotStatus {
    /// Control and invisible characters ([`hidden_char`]) in the state, the reason and the
    /// handover's texts as U+FFFD: what a bot says is stored and
    /// shown, and a NUL is refused by PostgreSQL while escape codes mislead terminals.
    pub fn replace_control_chars(&mut self) {
        let (cause, reason) = match &mut self.handover {
            Some(h) => (Some(&mut h.cause), h.reason.as_mut()),
            None => (None, None),
        };
        for text in [self.state.as_mut(), self.reason.as_mut(), cause, reason]
            .into_iter()
            .flatten()
        {
            if text.chars().any(hidden_char) {
                *text = text
                    .chars()
                    .map(|c| if hidden_char(c) { '\u{fffd}' } else { c })
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BotReport {
    /// Bot id.
    pub bot_id: BotId,
    /// Its status as the node sees it.
    #[serde(deserialize_with = "crate::strict::object")]
    pub status: NodeBotStatus,
    /// Its counters (a [`BotMetrics`] object as the bot wrote it, so an older or newer bot's
    /// counters pass through), `null` when it did not answer.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<serde_json::Map<String, Value>>")
    )]
    pub metrics: Value,
    /// Stage (one of [`REPORT_STAGES`](crate::control::REPORT_STAGES)) → interval histogram
    /// (HdrHistogram V2, base64), as the bot's `/hdr` gives it.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(extend("propertyNames" = {"enum": ["decoded", "detected", "decided", "executed"]})))]
    pub hdr: BTreeMap<String, String>,
    /// Log lines written since the last report, oldest first: at most
    /// [`LOG_LINES_PER_REPORT`], each at most [`LOG_LINE_MAX`] bytes.
    #[serde(default)]
    #[cfg_attr(
        feature = "schema",
        schemars(length(max = 1000), inner(length(max = 8192)))
    )]
    pub logs: Vec<String>,
    /// Fills the bot journaled since the last report the gateway took, oldest first (at most
    /// [`FILLS_PER_REPORT`]): the gateway stores each once, by the bot's sequence number.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(length(max = 1000)))]
    pub fills: Vec<TradeFill>,
}

/// A bot's fills journal, in its state directory (one JSON object a line).
pub const FILLS_JOURNAL: &str = "fills.jsonl";

/// Most fills one bot's report carries (the rest go in the next).
pub const FILLS_PER_REPORT: usize = 1000;
/// Longest token symbol a fill names.
pub const TOKEN_MAX: usize = 32;
/// Largest amount (or PnL, in magnitude) a fill may name: sums over many stay exact enough.
pub const FILL_AMOUNT_MAX: f64 = 1e15;

/// One fill a bot booked, as its journal (`fills.jsonl`) holds it and its agent reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TradeFill {
    /// The bot's sequence number of it, from 1, never reused.
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub seq: u64,
    /// Booked at, unix ms.
    pub at_ms: i64,
    /// The token the round trip started and ended in.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 32)))]
    pub token: String,
    /// The route (the strategy's cycle number).
    #[serde(default)]
    pub cycle: u32,
    /// Input, token units.
    pub amount_in: f64,
    /// Output, token units (`null`: the route failed at fill time).
    pub amount_out: Option<f64>,
    /// Output the programs quoted at decision time, token units.
    #[serde(default)]
    pub expected_out: f64,
    /// Profit, token units.
    pub pnl: f64,
    /// Profit, USD at the fill's reference prices.
    pub pnl_usd: f64,
    /// Newest slot among the route's pool states at decision time.
    #[serde(default)]
    pub slot: u64,
    /// Decision to fill, µs.
    #[serde(default)]
    pub latency_us: u64,
    /// The route cost booked against the profit (a flash loan's fee; pool fees are inside the
    /// amounts), token units.
    #[serde(default)]
    pub fee: f64,
    /// The fee in USD.
    #[serde(default)]
    pub fee_usd: f64,
    /// The input in USD at the fill's reference prices (the trade's volume; 0 for a route that failed).
    #[serde(default)]
    pub volume_usd: f64,
    /// The route's name (`SOL>USDC>SOL via raydium-v4,whirlpool`), when the bot named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 256)))]
    pub route: Option<String>,
    /// The live transaction's signature, base58 (absent for a paper fill).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "schema",
        schemars(length(min = 32, max = 88), pattern(r"^[1-9A-HJ-NP-Za-km-z]+$"))
    )]
    pub signature: Option<String>,
}

/// Longest route name a fill carries.
pub const ROUTE_MAX: usize = 256;

impl TradeFill {
    /// Checks what the types do not: a sequence number (1 to 2^63 − 1), amounts of at most
    /// [`FILL_AMOUNT_MAX`] in magnitude, a short printable token.
    pub fn check(&self) -> Result<(), String> {
        if self.seq == 0 || i64::try_from(self.seq).is_err() {
            return Err("seq: 1 to 2^63 - 1".into());
        }
        if i64::try_from(self.slot).is_err() || i64::try_from(self.latency_us).is_err() {
            return Err("slot and latency_us: at most 2^63 - 1".into());
        }
        if self.token.is_empty()
            || self.token.chars().count() > TOKEN_MAX
            || self.token.chars().any(hidden_char)
        {
            return Err(format!(
                "token: 1 to {TOKEN_MAX} characters, none of them control, bidi or zero-width"
            ));
        }
        if let Some(r) = &self.route
            && (r.is_empty() || r.chars().count() > ROUTE_MAX || r.chars().any(hidden_char))
        {
            return Err(format!(
                "route: 1 to {ROUTE_MAX} characters, none of them control, bidi or zero-width"
            ));
        }
        if let Some(sig) = &self.signature
            && !((32..=88).contains(&sig.len())
                && sig
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l')))
        {
            return Err("signature: 32 to 88 base58 characters".into());
        }
        let numbers = [
            ("amount_in", self.amount_in),
            ("amount_out", self.amount_out.unwrap_or(0.0)),
            ("expected_out", self.expected_out),
            ("pnl", self.pnl),
            ("pnl_usd", self.pnl_usd),
            ("fee", self.fee),
            ("fee_usd", self.fee_usd),
            ("volume_usd", self.volume_usd),
        ];
        if let Some((name, _)) = numbers
            .iter()
            .find(|(_, v)| !v.is_finite() || v.abs() > FILL_AMOUNT_MAX)
        {
            return Err(format!(
                "{name}: a finite number of at most {FILL_AMOUNT_MAX:e} in magnitude"
            ));
        }
        Ok(())
    }
}

impl BotReport {
    /// A bot with a status and nothing else (no counters, histograms, logs or fills).
    pub fn of(bot_id: BotId, status: NodeBotStatus) -> Self {
        Self {
            bot_id,
            status,
            metrics: Value::Null,
            hdr: BTreeMap::new(),
            logs: Vec::new(),
            fills: Vec::new(),
        }
    }
}

/// `POST /api/v1/agent/report`: every bot of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Report {
    /// Node id.
    pub node_id: NodeId,
    /// Its bots, each once (at most [`REPORT_BOTS_MAX`]).
    #[cfg_attr(feature = "schema", schemars(length(max = 1024)))]
    #[serde(deserialize_with = "crate::strict::objects")]
    pub bots: Vec<BotReport>,
    /// The recordings the node holds for backtests, its newest first (at most
    /// [`RECORDINGS_MAX`](crate::backtests::RECORDINGS_MAX)): sent when they changed and once
    /// a minute (absent: unchanged since, or an agent before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(max = 256)))]
    pub recordings: Option<Vec<crate::backtests::RecordingFile>>,
}

/// The answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
