//! Backtests run by a node's agent: the job the gateway hands it (in its desired state) and
//! the result it posts back, with their bounds. The agent runs `sniperforge backtest` on a
//! recording it holds in `DATA/recordings/`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest recording file name.
pub const RECORDING_NAME_MAX: usize = 128;
/// Most `--sweep` axes a job carries.
pub const SWEEP_AXES_MAX: usize = 4;
/// Longest `--sweep` argument.
pub const SWEEP_ARG_MAX: usize = 256;
/// Largest modelled latency a job may ask, µs.
pub const LATENCY_US_MAX: u64 = 1_000_000;
/// Largest report (report.json or sweep.json) a result carries, bytes.
pub const REPORT_MAX: usize = 1 << 20;
/// Largest Markdown report a result carries, bytes.
pub const REPORT_MD_MAX: usize = 256 * 1024;
/// Largest PnL chart (SVG) a result carries, bytes.
pub const SVG_MAX: usize = 512 * 1024;
/// Longest error a result carries.
pub const ERROR_MAX: usize = 4096;

/// The types a backtest runs: those that decide and fill on the market's accounts.
pub const BACKTEST_TYPES: [crate::BotType; 3] = [
    crate::BotType::EnhancedArbitrage,
    crate::BotType::TriangularArbitrage,
    crate::BotType::FlashLoanArbitrage,
];

/// Whether `name` is a recording's file name: letters, digits, `.`, `_` and `-`, not starting
/// with a dot, ending in `.sfrec`, at most [`RECORDING_NAME_MAX`] bytes (never a path).
pub fn valid_recording_name(name: &str) -> bool {
    name.len() <= RECORDING_NAME_MAX
        && name.len() > ".sfrec".len()
        && name.ends_with(".sfrec")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a `--sweep` argument's shape: `section.field=v1,v2,…`, printable ASCII, at most
/// [`SWEEP_ARG_MAX`] bytes (the values themselves are the CLI's to check).
pub fn valid_sweep(arg: &str) -> bool {
    let Some((path, values)) = arg.split_once('=') else {
        return false;
    };
    let Some((section, field)) = path.split_once('.') else {
        return false;
    };
    let ident = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    arg.len() <= SWEEP_ARG_MAX
        && ident(section)
        && ident(field)
        && !values.is_empty()
        && values.bytes().all(|b| b.is_ascii_graphic())
}

/// A backtest a node's agent is to run (in its desired state until the result is in).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BacktestJob {
    /// The gateway's id of it.
    #[cfg_attr(feature = "schema", schemars(pattern(r"^bt-[0-9a-f]{16}$")))]
    pub id: String,
    /// The bot configuration to run.
    pub config: Value,
    /// A recording in the node's `DATA/recordings/`.
    pub recording: String,
    /// The modelled decision-to-fill latency, µs (`None`: the configuration's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// `--sweep` arguments (none: one run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<String>,
}

/// Where a backtest stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BacktestState {
    /// Waiting for its node's agent.
    Queued,
    /// The agent runs it.
    Running,
    /// Finished: the report is in.
    Done,
    /// It could not run or failed: the error says why.
    Failed,
}

impl BacktestState {
    /// Its name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// `POST /api/v1/agent/backtests/{id}`: what the agent has of a backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BacktestResult {
    /// The node that ran it.
    pub node_id: crate::NodeId,
    /// `running` (started), `done` or `failed`.
    pub state: BacktestState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(max = 4096)))]
    pub error: Option<String>,
    /// `report.json` (one run) or `sweep.json` (a sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Value>,
    /// `report.md` or `sweep.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(max = 262_144)))]
    pub report_md: Option<String>,
    /// `pnl.svg` (one run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(length(max = 524_288)))]
    pub pnl_svg: Option<String>,
    /// `timing.json` (one run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Value>,
}

impl BacktestResult {
    /// Checks the bounds serde does not: each part's size, and a report only when done.
    pub fn check(&self) -> Result<(), String> {
        let size = |v: &Option<Value>| v.as_ref().map_or(0, |v| v.to_string().len());
        if self.error.as_ref().is_some_and(|e| e.len() > ERROR_MAX) {
            return Err(format!("error: at most {ERROR_MAX} bytes"));
        }
        if size(&self.report) > REPORT_MAX || size(&self.timing) > REPORT_MAX {
            return Err(format!(
                "report and timing: at most {REPORT_MAX} bytes each"
            ));
        }
        if self
            .report_md
            .as_ref()
            .is_some_and(|m| m.len() > REPORT_MD_MAX)
        {
            return Err(format!("report_md: at most {REPORT_MD_MAX} bytes"));
        }
        if self.pnl_svg.as_ref().is_some_and(|s| s.len() > SVG_MAX) {
            return Err(format!("pnl_svg: at most {SVG_MAX} bytes"));
        }
        if self.state != BacktestState::Done
            && (self.report.is_some() || self.report_md.is_some() || self.pnl_svg.is_some())
        {
            return Err("report, report_md, pnl_svg: only with state done".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_names_and_sweeps_are_checked() {
        for ok in ["m.sfrec", "node-1_2026.12.01.sfrec"] {
            assert!(valid_recording_name(ok), "{ok}");
        }
        for bad in [
            ".sfrec",
            ".x.sfrec",
            "../m.sfrec",
            "a/b.sfrec",
            "m.rec",
            "m .sfrec",
            "",
        ] {
            assert!(!valid_recording_name(bad), "{bad}");
        }
        assert!(valid_sweep("trading.min_profit_bps=10,20,50"));
        for bad in [
            "trading.min_profit_bps",
            "min_profit_bps=1",
            "a.b=",
            "a.b=1 2",
            "A.b=1",
            "a.b.c=1",
        ] {
            assert!(!valid_sweep(bad), "{bad}");
        }
    }
}
