//! Wire types shared by bots, agent and gateway: bot type, status (with its legal transitions),
//! configuration envelope and metrics. Serialised as JSON, snake_case.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The seven bot types.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BotType {
    /// Two-pool arbitrage across DEXes on configured pairs.
    EnhancedArbitrage,
    /// Cycles of 3 (up to 4) pools through base mints.
    TriangularArbitrage,
    /// Cycles sized without inventory, paying a flash-loan fee.
    FlashLoanArbitrage,
    /// Solana pool versus an external venue.
    CrossChainArbitrage,
    /// Market features, models and regime detection.
    MlAnalytics,
    /// Balances, PnL, exposure and rebalancing.
    PortfolioManager,
    /// Live market view.
    RealTimeDashboard,
}

impl BotType {
    /// Every type, in a fixed order.
    pub const ALL: [BotType; 7] = [
        Self::EnhancedArbitrage,
        Self::TriangularArbitrage,
        Self::FlashLoanArbitrage,
        Self::CrossChainArbitrage,
        Self::MlAnalytics,
        Self::PortfolioManager,
        Self::RealTimeDashboard,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnhancedArbitrage => "enhanced_arbitrage",
            Self::TriangularArbitrage => "triangular_arbitrage",
            Self::FlashLoanArbitrage => "flash_loan_arbitrage",
            Self::CrossChainArbitrage => "cross_chain_arbitrage",
            Self::MlAnalytics => "ml_analytics",
            Self::PortfolioManager => "portfolio_manager",
            Self::RealTimeDashboard => "real_time_dashboard",
        }
    }
}

impl fmt::Display for BotType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown bot type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown bot type {0:?}; expected one of enhanced_arbitrage, triangular_arbitrage, flash_loan_arbitrage, cross_chain_arbitrage, ml_analytics, portfolio_manager, real_time_dashboard"
)]
pub struct UnknownBotType(pub String);

impl FromStr for BotType {
    type Err = UnknownBotType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownBotType(s.to_string()))
    }
}

/// A bot's lifecycle state.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
pub enum BotStatus {
    /// Starting its threads and feed.
    Starting,
    /// Trading (or observing).
    Running,
    /// Alive, not trading.
    Paused,
    /// Shutting down.
    Stopping,
    /// Not running.
    Stopped,
    /// Stopped trading because of a fault or a risk limit; the reason says which.
    Error(String),
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("illegal status transition {from} -> {to}")]
pub struct TransitionError {
    /// Current state.
    pub from: String,
    /// Requested state.
    pub to: String,
}

impl BotStatus {
    /// The state's name (`error` for any error).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Error(_) => "error",
        }
    }

    /// Whether `next` may follow this state.
    pub fn can_become(&self, next: &BotStatus) -> bool {
        use BotStatus::*;
        matches!(
            (self, next),
            (Stopped, Starting)
                | (Starting, Running)
                | (Running, Paused)
                | (Paused, Running)
                | (Starting | Running | Paused | Error(_), Stopping)
                | (Stopping, Stopped)
                | (Starting | Running | Paused, Error(_))
                | (Error(_), Starting)
        )
    }

    /// Moves to `next`, or refuses with the pair named.
    pub fn transition(&mut self, next: BotStatus) -> Result<(), TransitionError> {
        if self.can_become(&next) {
            *self = next;
            Ok(())
        } else {
            Err(TransitionError {
                from: self.name().to_string(),
                to: next.name().to_string(),
            })
        }
    }
}

impl fmt::Display for BotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Error(reason) => write!(f, "error: {reason}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Deployment environment: a boundary. Only `prod` trades live; agents serve the environments
/// they declare; tokens and users may be scoped to some of them.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Development.
    #[default]
    Dev,
    /// Test.
    Test,
    /// Production.
    Prod,
}

impl Environment {
    /// Every environment, in order.
    pub const ALL: [Environment; 3] = [Self::Dev, Self::Test, Self::Prod];

    /// The name: `dev`, `test` or `prod`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Prod => "prod",
        }
    }

    /// A comma-separated list (`dev,prod`) read as a sorted set without repeats; the error
    /// names the first item that is not an environment.
    pub fn parse_list(list: &str) -> Result<Vec<Environment>, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim) {
            let env: Environment = item.parse()?;
            if !out.contains(&env) {
                out.push(env);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The names joined with commas (`dev,prod`).
    pub fn join(list: &[Environment]) -> String {
        list.iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Environment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dev" => Ok(Self::Dev),
            "test" => Ok(Self::Test),
            "prod" => Ok(Self::Prod),
            other => Err(format!(
                "{:?} is not an environment: expected dev, test or prod",
                other.chars().take(32).collect::<String>()
            )),
        }
    }
}

/// Resources a bot reserves on its node.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores to pin to (feed thread first, then strategy thread).
    #[cfg_attr(test, ts(type = "number[]"))]
    pub cores: Vec<usize>,
    /// Memory limit in MiB.
    #[cfg_attr(test, ts(type = "number"))]
    pub memory_mb: u64,
    /// CPU time the bot may use, percent of one core (200: two cores); `None`: no quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(test, ts(optional))]
    pub cpu_quota_percent: Option<u32>,
}

/// How the bot's agent checks its `/health` and when it replaces it (a warm handover).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPolicy {
    /// Checks failed in a row that replace the bot (0: never replaced; 0 to 100).
    pub failures: u32,
    /// Between two checks, ms (200 to 60,000).
    #[cfg_attr(test, ts(type = "number"))]
    pub interval_ms: u64,
}

impl HealthPolicy {
    /// Three failed checks a second apart.
    pub const DEFAULT: Self = Self {
        failures: 3,
        interval_ms: 1_000,
    };
    /// The accepted range of [`HealthPolicy::failures`].
    pub const FAILURES: std::ops::RangeInclusive<u64> = 0..=100;
    /// The accepted range of [`HealthPolicy::interval_ms`].
    pub const INTERVAL_MS: std::ops::RangeInclusive<u64> = 200..=60_000;

    fn is_default(&self) -> bool {
        *self == Self::DEFAULT
    }
}

impl Default for HealthPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The configuration envelope every bot file and API call carries.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// Unique id (letters, digits, '-' and '_').
    pub bot_id: String,
    /// Type.
    pub bot_type: BotType,
    /// Type-specific parameters (see the type's JSON Schema).
    #[cfg_attr(test, ts(type = "Record<string, Record<string, unknown>>"))]
    pub parameters: serde_json::Value,
    /// Environment.
    pub environment: Environment,
    /// Reserved resources.
    pub resources: Resources,
    /// Health checks and self-healing (3 failed checks 1 s apart when left out).
    #[serde(default, skip_serializing_if = "HealthPolicy::is_default")]
    #[cfg_attr(test, ts(as = "Option<HealthPolicy>", optional))]
    pub health: HealthPolicy,
}

/// Latency percentiles of one pipeline stage, in ns.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StageLatency {
    /// Median.
    #[cfg_attr(test, ts(type = "number"))]
    pub p50: u64,
    /// 99th percentile.
    #[cfg_attr(test, ts(type = "number"))]
    pub p99: u64,
    /// 99.9th percentile.
    #[cfg_attr(test, ts(type = "number"))]
    pub p999: u64,
    /// Largest.
    #[cfg_attr(test, ts(type = "number"))]
    pub max: u64,
}

/// What a bot reports (a field left out reads as zero or empty).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct BotMetrics {
    /// Trades executed (paper or live).
    #[cfg_attr(test, ts(type = "number"))]
    pub trades_executed: u64,
    /// Profit in USD.
    pub profit_usd: f64,
    /// Filled / executed.
    pub success_rate: f64,
    /// Seconds since start.
    #[cfg_attr(test, ts(type = "number"))]
    pub uptime_seconds: u64,
    /// CPU use, percent of one core: the bot's own figure is since its process started; the
    /// agent's report replaces it with the last report interval's, measured from `/proc/<pid>`.
    pub cpu_usage: f64,
    /// Resident memory, bytes.
    #[cfg_attr(test, ts(type = "number"))]
    pub memory_usage: u64,
    /// Type-specific numbers.
    pub custom_metrics: std::collections::BTreeMap<String, f64>,
    /// Per-stage latency (stage name → percentiles).
    pub latency: std::collections::BTreeMap<String, StageLatency>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_types_round_trip_in_snake_case() {
        for t in BotType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<BotType>(&json).unwrap(), t);
            assert_eq!(t.as_str().parse::<BotType>().unwrap(), t);
        }
        assert!("arbitrage".parse::<BotType>().is_err());
    }

    #[test]
    fn illegal_status_transitions_are_refused() {
        let mut s = BotStatus::Stopped;
        assert!(s.transition(BotStatus::Running).is_err());
        s.transition(BotStatus::Starting).unwrap();
        s.transition(BotStatus::Running).unwrap();
        s.transition(BotStatus::Paused).unwrap();
        let err = s.transition(BotStatus::Starting).unwrap_err();
        assert_eq!(
            err.to_string(),
            "illegal status transition paused -> starting"
        );
        s.transition(BotStatus::Error("daily loss limit reached".into()))
            .unwrap();
        assert!(
            s.transition(BotStatus::Running).is_err(),
            "an errored bot restarts, it does not resume"
        );
        s.transition(BotStatus::Stopping).unwrap();
        s.transition(BotStatus::Stopped).unwrap();
        assert_eq!(
            serde_json::to_value(BotStatus::Error("x".into())).unwrap(),
            serde_json::json!({"state": "error", "reason": "x"})
        );
    }
}
