//! Backtests run by a node's agent: the job the gateway hands it (in its desired state) and
//! the result it posts back, with their bounds. The agent runs `sniperforge backtest` on a
//! recording it holds in `DATA/recordings/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::BotType;

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
pub const BACKTEST_TYPES: [BotType; 3] = [
    BotType::EnhancedArbitrage,
    BotType::TriangularArbitrage,
    BotType::FlashLoanArbitrage,
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

/// Most recordings a node lists (its newest).
pub const RECORDINGS_MAX: usize = 256;
/// Latest last-write time a listed recording may have, unix ms (the latest a JavaScript
/// `Date` holds: year 275760).
pub const RECORDING_TIME_MAX_MS: u64 = 8_640_000_000_000_000;
/// Largest size a listed recording may have, bytes (2^53 - 1: exact as a JavaScript number).
pub const RECORDING_BYTES_MAX: u64 = (1 << 53) - 1;

/// A recording a node holds in `DATA/recordings/`, as its agent lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RecordingFile {
    /// Its file name (what a backtest's `recording` names).
    #[cfg_attr(
        feature = "schema",
        schemars(pattern(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,121}\.sfrec$"))
    )]
    pub name: String,
    /// Its size, bytes (at most 2^53 - 1).
    #[cfg_attr(feature = "schema", schemars(range(max = 9_007_199_254_740_991_u64)))]
    pub bytes: u64,
    /// When it was last written, unix ms (at most 8.64e15, the latest a JavaScript `Date` holds).
    #[cfg_attr(feature = "schema", schemars(range(max = 8_640_000_000_000_000_u64)))]
    pub modified_ms: u64,
}

/// Checks a node's recordings list: at most [`RECORDINGS_MAX`], each a valid recording name
/// ([`valid_recording_name`]) listed once, its size and time within [`RECORDING_BYTES_MAX`]
/// and [`RECORDING_TIME_MAX_MS`]. The error names the entry (`[3].name: …`) or
/// the count (`: 300 entries; …`), to follow the list's own name.
pub fn check_recordings(list: &[RecordingFile]) -> Result<(), String> {
    if list.len() > RECORDINGS_MAX {
        return Err(format!(
            ": {} entries; at most {RECORDINGS_MAX}",
            list.len()
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in list.iter().enumerate() {
        if !valid_recording_name(&r.name) {
            return Err(format!(
                "[{i}].name: letters, digits, . _ -, ending in .sfrec, at most {RECORDING_NAME_MAX} bytes"
            ));
        }
        if !seen.insert(r.name.as_str()) {
            return Err(format!("[{i}].name: {} is listed twice", r.name));
        }
        if r.bytes > RECORDING_BYTES_MAX {
            return Err(format!("[{i}].bytes: at most {RECORDING_BYTES_MAX}"));
        }
        if r.modified_ms > RECORDING_TIME_MAX_MS {
            return Err(format!(
                "[{i}].modified_ms: at most {RECORDING_TIME_MAX_MS}"
            ));
        }
    }
    Ok(())
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

/// Most runs one sweep makes.
pub const SWEEP_RUNS_MAX: usize = 64;

/// `section.field=v1,v2,…` → the field and its values (JSON where they parse, text otherwise).
pub fn parse_sweep(arg: &str) -> Result<(String, Vec<Value>), String> {
    let (path, values) = arg
        .split_once('=')
        .ok_or_else(|| format!("--sweep {arg}: expected section.field=v1,v2,…"))?;
    let values: Vec<Value> = values
        .split(',')
        .map(|v| {
            serde_json::from_str(v.trim()).unwrap_or_else(|_| Value::String(v.trim().to_string()))
        })
        .collect();
    if path.is_empty() || values.iter().any(|v| v == &Value::String(String::new())) {
        return Err(format!(
            "--sweep {arg}: a parameter and at least one value, none empty"
        ));
    }
    Ok((path.to_string(), values))
}

/// Every combination of the swept values, in order (the last parameter varies fastest); at
/// most [`SWEEP_RUNS_MAX`], counted before any is built.
pub fn sweep_grid(axes: &[(String, Vec<Value>)]) -> Result<Vec<BTreeMap<String, Value>>, String> {
    let count = axes
        .iter()
        .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
        .filter(|n| *n <= SWEEP_RUNS_MAX)
        .ok_or_else(|| format!("--sweep: more than {SWEEP_RUNS_MAX} runs in the grid"))?;
    let mut runs = vec![BTreeMap::new()];
    for (path, values) in axes {
        if axes.iter().filter(|(p, _)| p == path).count() > 1 {
            return Err(format!("--sweep: {path} is swept twice"));
        }
        runs = runs
            .into_iter()
            .flat_map(|run| {
                values.iter().map(move |v| {
                    let mut r = run.clone();
                    r.insert(path.clone(), v.clone());
                    r
                })
            })
            .collect();
    }
    debug_assert_eq!(runs.len(), count);
    Ok(runs)
}

/// The spec's section holding `field` for `bot_type`.
pub fn section_of(bot_type: BotType, field: &str) -> Option<&'static str> {
    crate::spec::sections(bot_type)
        .iter()
        .find(|s| s.fields.iter().any(|f| f.name == field))
        .map(|s| s.name)
}

/// Sets parameter `path` (`section.field`, as `trading.min_profit_bps`) of `config` to
/// `value`; the section and field must be the type's.
pub fn set_param(config: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let bot_type: BotType = config["bot_type"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or("bot_type: not a bot type")?;
    let Some((section, field)) = path.split_once('.') else {
        return Err(format!(
            "{path}: expected section.field (as trading.min_profit_bps)"
        ));
    };
    let known = crate::spec::sections(bot_type)
        .iter()
        .any(|s| s.name == section && s.fields.iter().any(|f| f.name == field));
    if !known {
        return Err(format!("{path}: no such parameter of a {bot_type} bot"));
    }
    let params = config
        .as_object_mut()
        .ok_or("the configuration is not a JSON object")?
        .entry("parameters")
        .or_insert_with(|| Value::Object(Default::default()));
    let sec = params
        .as_object_mut()
        .ok_or("parameters: not an object")?
        .entry(section)
        .or_insert_with(|| Value::Object(Default::default()));
    sec.as_object_mut()
        .ok_or_else(|| format!("parameters.{section}: not an object"))?
        .insert(field.to_string(), value);
    Ok(())
}

/// The configuration one backtest run uses: `config` with the run's `params` set, paper
/// trading whatever it says, no cores of its own and no busy-polling (a backtest shares the
/// node with its bots and never takes a bot's reserved cores), and the modelled latency when
/// given. Refuses a type a backtest does not run, a latency given twice (`latency_us` and a
/// swept `paper_latency_us`), and a configuration that does not validate (each error named).
pub fn run_config(
    config: &Value,
    params: &BTreeMap<String, Value>,
    latency_us: Option<u64>,
) -> Result<crate::config::ValidatedConfig, String> {
    let mut config = config.clone();
    let bot_type: BotType = config["bot_type"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .ok_or("bot_type: not a bot type")?;
    if !BACKTEST_TYPES.contains(&bot_type) {
        return Err(format!(
            "bot_type {bot_type}: a backtest runs the types that trade on the recorded accounts ({})",
            BACKTEST_TYPES.map(|t| t.as_str()).join(", ")
        ));
    }
    for (path, value) in params {
        // What a backtest forces cannot be swept (the report would name values that never ran).
        if [".simulation_mode", ".spin"]
            .iter()
            .any(|f| path.ends_with(f))
        {
            return Err(format!(
                "{path}: a backtest always trades on paper without spinning; it is not swept"
            ));
        }
        set_param(&mut config, path, value.clone())?;
    }
    if let Some(section) = section_of(bot_type, "simulation_mode") {
        set_param(
            &mut config,
            &format!("{section}.simulation_mode"),
            Value::Bool(true),
        )?;
    }
    if let Some(section) = section_of(bot_type, "spin") {
        set_param(&mut config, &format!("{section}.spin"), Value::Bool(false))?;
    }
    if let Some(resources) = config.get_mut("resources").and_then(Value::as_object_mut) {
        resources.insert("cores".into(), Value::Array(Vec::new()));
    }
    if let Some(us) = latency_us {
        if params.keys().any(|p| p.ends_with(".paper_latency_us")) {
            return Err("latency_us and a swept paper_latency_us: give one".into());
        }
        if let Some(section) = section_of(bot_type, "paper_latency_us") {
            set_param(
                &mut config,
                &format!("{section}.paper_latency_us"),
                us.into(),
            )?;
        }
    }
    crate::config::validate(&config).map_err(|errors| {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// One run of a backtest: the parameters a sweep set, and the configuration it runs.
pub type BacktestRun = (BTreeMap<String, Value>, crate::config::ValidatedConfig);

/// Every run of a backtest (one, or a sweep's grid) with its parameters and configuration,
/// each checked before any runs.
pub fn backtest_runs(
    config: &Value,
    latency_us: Option<u64>,
    sweep: &[String],
) -> Result<Vec<BacktestRun>, String> {
    let axes: Vec<(String, Vec<Value>)> = sweep
        .iter()
        .map(|s| parse_sweep(s))
        .collect::<Result<_, _>>()?;
    sweep_grid(&axes)?
        .into_iter()
        .map(|params| {
            let valid = run_config(config, &params, latency_us).map_err(|e| {
                if params.is_empty() {
                    e
                } else {
                    let at: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    format!("the run with {}: {e}", at.join(", "))
                }
            })?;
            Ok((params, valid))
        })
        .collect()
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
        // No NUL in stored text (PostgreSQL refuses it).
        if [&self.error, &self.report_md, &self.pnl_svg]
            .iter()
            .any(|t| t.as_ref().is_some_and(|t| t.contains('\0')))
        {
            return Err("error, report_md, pnl_svg: no NUL characters".into());
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
    fn a_run_pays_no_cores_and_no_live_mode_and_says_what_is_wrong() {
        let mut c = crate::config::template(BotType::TriangularArbitrage);
        c["resources"]["cores"] = serde_json::json!([2, 3]);
        c["parameters"]["execution"]["spin"] = true.into();
        c["parameters"]["execution"]["simulation_mode"] = false.into();
        let v = run_config(&c, &BTreeMap::new(), Some(7)).unwrap();
        assert!(v.config.resources.cores.is_empty());
        assert_eq!(v.config.parameters["execution"]["spin"], false);
        assert_eq!(v.config.parameters["execution"]["simulation_mode"], true);
        assert_eq!(v.config.parameters["execution"]["paper_latency_us"], 7);
        let runs = backtest_runs(&c, None, &["trading.min_profit_bps=10,-5".into()]).unwrap_err();
        assert!(
            runs.starts_with("the run with trading.min_profit_bps=-5: trading.min_profit_bps"),
            "{runs}"
        );
        let forced = backtest_runs(&c, None, &["execution.spin=true,false".into()]).unwrap_err();
        assert!(forced.contains("not swept"), "{forced}");
        let twice =
            backtest_runs(&c, Some(1), &["execution.paper_latency_us=0,400".into()]).unwrap_err();
        assert!(twice.contains("give one"), "{twice}");
        let mut ml = crate::config::template(BotType::MlAnalytics);
        ml["bot_id"] = "m".into();
        assert!(
            run_config(&ml, &BTreeMap::new(), None)
                .unwrap_err()
                .contains("a backtest runs")
        );
        let mut p = c.clone();
        assert!(set_param(&mut p, "trading.nope", 1.into()).is_err());
        assert!(set_param(&mut p, "min_profit_bps", 1.into()).is_err());
    }

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
        let a = parse_sweep("trading.min_profit_bps=10,20").unwrap();
        let b = parse_sweep("execution.paper_latency_us=100, 400 ,x").unwrap();
        assert_eq!(
            b.1,
            vec![Value::from(100), Value::from(400), Value::from("x")]
        );
        let g = sweep_grid(&[a.clone(), b]).unwrap();
        assert_eq!(g.len(), 6);
        assert_eq!(g[1]["execution.paper_latency_us"], 400);
        assert_eq!(g[1]["trading.min_profit_bps"], 10);
        // Counted before anything is built: 126^4 runs are refused at once.
        let wide = ("a.b".to_string(), vec![Value::from(1); 126]);
        let huge: Vec<_> = (0..4)
            .map(|i| (format!("a.b{i}"), wide.1.clone()))
            .collect();
        assert!(sweep_grid(&huge).is_err());
        assert!(
            sweep_grid(&[a.clone(), a]).is_err(),
            "the same parameter twice"
        );
        for bad in ["trading.min_profit_bps", "=1", "a.b=1,,2"] {
            assert!(parse_sweep(bad).is_err(), "{bad}");
        }
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
